"""Multicall3 reads: N contract reads in one `aggregate3` eth_call per chunk.

Each chunk also reads the block number and timestamp, so every result carries the block it
was read at; later chunks are pinned to the first chunk's block, so one batch is one
consistent snapshot of the chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi import decode
from eth_utils import to_checksum_address
from web3 import Web3

from floor.calls import ReadCall, ReadResult, encode_call, selector

MULTICALL3_ADDRESS = "0xcA11bde05977b3631167028862bE2a173976CA11"

_AGGREGATE3 = "aggregate3((address,bool,bytes)[])"
_GET_BLOCK_NUMBER = selector("getBlockNumber()")
_GET_TIMESTAMP = selector("getCurrentBlockTimestamp()")


@dataclass(frozen=True)
class ReadBatch:
    results: list[ReadResult]
    block_number: int
    timestamp: int
    eth_calls: int  # how many eth_call requests the batch took


class MulticallReader:
    """Reads through Multicall3 on one chain.

    Chunks are bounded by count and by gas: each read is budgeted `gas_per_read`, and a chunk
    stays under the node's eth_call gas cap (geth: 50M), so a large read set never fails on
    the cap; the eth_call itself is sent with `gas=gas_cap`.
    """

    def __init__(
        self,
        w3: Web3,
        address: str = MULTICALL3_ADDRESS,
        *,
        gas_cap: int = 50_000_000,
        gas_per_read: int = 200_000,
        max_reads_per_call: int = 500,
    ):
        self.w3 = w3
        self.address = to_checksum_address(address)
        self.gas_cap = gas_cap
        # Two of every chunk's slots go to the block number and timestamp reads.
        self.chunk_size = max(1, min(max_reads_per_call, gas_cap // gas_per_read - 2))

    def read(self, calls: Sequence[ReadCall], block: int | str = "latest") -> ReadBatch:
        results: list[ReadResult] = []
        block_number = timestamp = 0
        pinned: int | str = block
        chunks = [calls[i : i + self.chunk_size] for i in range(0, len(calls), self.chunk_size)] or [[]]
        for chunk in chunks:
            chunk_results, number, ts = self._aggregate3(chunk, pinned)
            if pinned == block:
                pinned, block_number, timestamp = number, number, ts
            results.extend(chunk_results)
        return ReadBatch(results, block_number, timestamp, eth_calls=len(chunks))

    def _aggregate3(self, chunk: Sequence[ReadCall], block: int | str) -> tuple[list[ReadResult], int, int]:
        triples = [(self.address, False, _GET_BLOCK_NUMBER), (self.address, False, _GET_TIMESTAMP)]
        triples += [(to_checksum_address(c.target), c.allow_failure, c.data) for c in chunk]
        calldata = encode_call(_AGGREGATE3, triples)
        raw = self.w3.eth.call({"to": self.address, "data": calldata, "gas": self.gas_cap}, block)
        (decoded,) = decode(["(bool,bytes)[]"], raw)
        number = decode(["uint256"], decoded[0][1])[0]
        timestamp = decode(["uint256"], decoded[1][1])[0]
        return [ReadResult(ok, data) for ok, data in decoded[2:]], number, timestamp
