"""Multicall3 reads: N contract reads in one `aggregate3` eth_call per chunk, and a batch that
fits one chunk is ONE request to the node.

The block is read inside the same eth_call as the reads, so the reads and the block they ran
at come from one execution, with no header request before it: the first chunk carries three
reads of its own, Multicall3's `getCurrentBlockTimestamp()` and `getBlockNumber()` and
Arbitrum's ArbSys `arbBlockNumber()` (the precompile at 0x64). On Arbitrum `block.number`
(and so `getBlockNumber()`) is an L1 block number, so the L2 block number comes from ArbSys;
on any other chain 0x64 holds no code, the call returns no data, and `getBlockNumber()` is
the block's own number (Ethereum, OP Stack). `block.timestamp` is the L2 block's own time on
every one of them. The first chunk runs at the block asked for ("latest", or a number); a
batch too large for one chunk (the node's eth_call gas cap) sends its other chunks pinned to
the block number the first one read, so one batch is still one consistent snapshot.

`read_pinned` names the block by its hash instead (EIP-1898; one header request first): every
chunk reads that very block, and the batch carries its hash, so whoever keeps the reads can
tell later whether a reorg replaced the block they came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from eth_abi.exceptions import DecodingError
from eth_typing import HexStr
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.types import BlockParams

from floor.calls import ReadCall, ReadFailed, ReadResult, decode_result, encode_call, selector

MULTICALL3_ADDRESS = "0xcA11bde05977b3631167028862bE2a173976CA11"
ARB_SYS = "0x0000000000000000000000000000000000000064"  # Arbitrum's ArbSys precompile

_AGGREGATE3 = "aggregate3((address,bool,bytes)[])"


class MulticallMissing(ReadFailed):
    """Multicall3 has no code at the block read: a reset chain (a restarted anvil), the wrong
    address in the config, or a block before it was deployed. Another try reads the same."""

    retryable = False


class MulticallUndecodable(ReadFailed):
    """aggregate3 answered data that does not decode (a node answering badly): worth another
    try."""


@dataclass(frozen=True)
class ReadBatch:
    results: list[ReadResult]
    block_number: int
    timestamp: int
    eth_calls: int  # how many eth_call requests the batch took (all its requests)
    block_hash: str | None = None  # the block's hash, when the batch was read at it (`read_pinned`)


class MulticallReader:
    """Reads through Multicall3 on one chain.

    Chunks are bounded by count and by gas: each read is budgeted `gas_per_read`, and a chunk
    stays under the node's eth_call gas cap (geth: 50M), so a large read set never fails on
    the cap; the eth_call itself is sent with `gas=gas_cap`. The first chunk's three block
    reads count against its budget.
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
        self._block_reads = [
            ReadCall(self.address, encode_call("getCurrentBlockTimestamp()"), allow_failure=False),
            ReadCall(self.address, encode_call("getBlockNumber()"), allow_failure=False),
            ReadCall(ARB_SYS, encode_call("arbBlockNumber()"), allow_failure=True),
        ]

    def read(self, calls: Sequence[ReadCall], block: int | BlockParams | HexStr = "latest") -> ReadBatch:
        """Reads `calls` at `block` ("latest", a number or a block hash): one eth_call for the
        first chunk (with the block's number and timestamp), then one per further chunk at that
        number (or that hash)."""
        first_size = max(1, self.chunk_size - len(self._block_reads))
        head, rest = list(calls[:first_size]), calls[first_size:]
        found = self._aggregate3([*self._block_reads, *head], block)
        n = len(self._block_reads)
        (timestamp,) = decode_result(["uint256"], found[0], "Multicall3.getCurrentBlockTimestamp")
        number = _block_number(found[1], found[2])
        if isinstance(block, int) and number != block:
            raise ValueError(f"asked for block {block}, the eth_call ran at block {number}")
        results = found[n:]
        chunks = [rest[i : i + self.chunk_size] for i in range(0, len(rest), self.chunk_size)]
        at = block if _is_hash(block) else number
        for chunk in chunks:
            results += self._aggregate3(chunk, at)
        return ReadBatch(results, number, timestamp, eth_calls=1 + len(chunks))

    def read_pinned(self, calls: Sequence[ReadCall]) -> ReadBatch:
        """Reads `calls` at the head's block named by its hash, with the hash in the batch. A
        reorg between the header and the read makes the read fail (the block is unknown), never
        answer from another block than the hash names."""
        head = self.w3.eth.get_block("latest")
        block_hash = HexStr("0x" + bytes(head["hash"]).hex())
        return replace(self.read(calls, block_hash), block_hash=block_hash)

    def _aggregate3(self, chunk: Sequence[ReadCall], block: int | BlockParams | HexStr) -> list[ReadResult]:
        calldata = encode_aggregate3(chunk)
        raw = self.w3.eth.call({"to": self.address, "data": calldata, "gas": self.gas_cap}, block)
        try:
            return decode_aggregate3_results(raw, len(chunk))
        except DecodingError as exc:
            raise self._undecodable(raw, block, len(chunk), exc) from None

    def _undecodable(self, raw: bytes, block: int | BlockParams | HexStr, reads: int, exc: DecodingError) -> ReadFailed:
        """The named error for an answer that does not decode: no code at the address (no
        data at all, as a call to an empty account answers) or a garbled answer."""
        where = f"on chain {self.w3.eth.chain_id} at block {block}"
        if not raw and not self.w3.eth.get_code(self.address, block):
            return MulticallMissing(f"Multicall3 at {self.address} has no code {where} (a reset chain?)")
        return MulticallUndecodable(f"Multicall3.aggregate3 of {reads} reads at {self.address} {where}: {exc}")


# ---------------------------------------------------------------------------- the ABI, by hand
# aggregate3's argument and result are the ABI's plainest dynamic layout; written out here
# (the same bytes as eth_abi's, tested against it) because eth_abi's general codec costs more
# than the node's whole eth_call for a batch of a hundred reads.

_WORD = 32


def _word(n: int) -> bytes:
    return n.to_bytes(_WORD, "big")


def encode_aggregate3(calls: Sequence[ReadCall]) -> bytes:
    """`aggregate3((address,bool,bytes)[])` calldata for `calls`."""
    heads, tails, offset = [], [], _WORD * len(calls)
    for c in calls:
        target = c.target[2:] if c.target[:2] in ("0x", "0X") else c.target
        if len(target) != 40:
            raise ValueError(f"not an address: {c.target!r}")
        data = bytes(c.data)
        tail = b"".join(
            (
                bytes(12) + bytes.fromhex(target),
                _word(1 if c.allow_failure else 0),
                _word(3 * _WORD),  # the bytes' offset within the tuple
                _word(len(data)),
                data,
                bytes(-len(data) % _WORD),
            )
        )
        heads.append(_word(offset))
        tails.append(tail)
        offset += len(tail)
    return b"".join((selector(_AGGREGATE3), _word(_WORD), _word(len(calls)), *heads, *tails))


def decode_aggregate3_results(raw: bytes, expected: int) -> list[ReadResult]:
    """aggregate3's `(bool success, bytes returnData)[]`, checked as strictly as eth_abi: every
    offset and length within the data, booleans 0 or 1, `expected` results."""
    raw = bytes(raw)

    def word(at: int) -> int:
        if at < 0 or at + _WORD > len(raw):
            raise DecodingError(f"aggregate3 result: a word at {at} is past the end ({len(raw)} bytes)")
        return int.from_bytes(raw[at : at + _WORD], "big")

    start = word(0)
    count = word(start)
    if count != expected:
        raise DecodingError(f"aggregate3 result: {count} results for {expected} reads")
    base = start + _WORD
    out = []
    for i in range(count):
        at = base + word(base + i * _WORD)
        ok = word(at)
        if ok > 1:
            raise DecodingError(f"aggregate3 result {i}: success is {ok}, not a bool")
        data_at = at + word(at + _WORD)
        length = word(data_at)
        if data_at + _WORD + length > len(raw):
            raise DecodingError(f"aggregate3 result {i}: {length} bytes of return data past the end")
        out.append(ReadResult(bool(ok), raw[data_at + _WORD : data_at + _WORD + length]))
    return out


def _is_hash(block: object) -> bool:
    return isinstance(block, str) and len(block) == 66 and block.startswith("0x")


def _block_number(block_number: ReadResult, arb_block_number: ReadResult) -> int:
    """ArbSys' L2 block number where the precompile answered (Arbitrum), else block.number."""
    if arb_block_number.success and len(arb_block_number.data) == 32:
        return int.from_bytes(arb_block_number.data, "big")
    number: int = decode_result(["uint256"], block_number, "Multicall3.getBlockNumber")[0]
    return number
