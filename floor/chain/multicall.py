"""Multicall3 reads: N contract reads in one `aggregate3` eth_call per chunk.

A batch first asks the node for the block's header (number and timestamp), then pins every
chunk's eth_call to that block number, so one batch is one consistent snapshot of the chain.
The block comes from the node, not from Multicall3's `getBlockNumber()`: on Arbitrum that
returns the L1 block number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi import decode
from eth_utils import to_checksum_address
from web3 import Web3

from floor.calls import ReadCall, ReadResult, encode_call

MULTICALL3_ADDRESS = "0xcA11bde05977b3631167028862bE2a173976CA11"

_AGGREGATE3 = "aggregate3((address,bool,bytes)[])"


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
        self.chunk_size = max(1, min(max_reads_per_call, gas_cap // gas_per_read))

    def read(self, calls: Sequence[ReadCall], block: int | str = "latest") -> ReadBatch:
        """Reads `calls` at `block` ("latest", or a number): one eth_getBlockByNumber, then one
        eth_call per chunk, every chunk at that block's number."""
        header = self.w3.eth.get_block(block, full_transactions=False)
        number = header["number"]
        chunks = [calls[i : i + self.chunk_size] for i in range(0, len(calls), self.chunk_size)] or [[]]
        results = [result for chunk in chunks for result in self._aggregate3(chunk, number)]
        return ReadBatch(results, number, header["timestamp"], eth_calls=len(chunks))

    def _aggregate3(self, chunk: Sequence[ReadCall], block_number: int) -> list[ReadResult]:
        triples = [(to_checksum_address(c.target), c.allow_failure, c.data) for c in chunk]
        calldata = encode_call(_AGGREGATE3, triples)
        raw = self.w3.eth.call({"to": self.address, "data": calldata, "gas": self.gas_cap}, block_number)
        (decoded,) = decode(["(bool,bytes)[]"], raw)
        return [ReadResult(ok, data) for ok, data in decoded]
