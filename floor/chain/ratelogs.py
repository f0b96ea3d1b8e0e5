"""The events a quoted rate is computed from, read before the chain's Multicall3 batch.

Lido and Rocket Pool keep only the latest figures of their oracle reports in storage; the
rate between the last two reports is in their events (Lido's `TokenRebased`, Rocket Pool's
`BalancesUpdated`), which no eth_call can read. So, as native ETH's beacon view does for the
consensus layer, `with_rate_logs` gives each adapter that asks (`Adapter.rate_logs`) its last
events, found by eth_getLogs backwards from the latest block in windows of `CHUNK_BLOCKS`, at
most `MAX_BLOCKS` back (two weeks of Ethereum blocks: a protocol silent longer quotes
nothing), and returns the adapters carrying them (`Adapter.with_rate_logs`). A node that
refuses the query leaves the adapter as it was: its APY is then measured, as before.

I/O: the report (`floor.chain.report.read_report`) calls it; adapters stay pure.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_abi.abi import decode
from eth_abi.exceptions import DecodingError
from eth_typing import HexStr
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.exceptions import Web3Exception

from floor.adapters.base import Adapter, EventLog, LogQuery
from floor.logging import get_logger

CHUNK_BLOCKS = 10_000
MAX_BLOCKS = 100_000

log = get_logger(component="ratelogs")


def with_rate_logs(w3: Web3, adapters: Sequence[Adapter], latest: int | None = None) -> list[Adapter]:
    """`adapters`, each one whose quoted rate needs events carrying its last ones (oldest
    first); the others as they are."""
    out = []
    for adapter in adapters:
        query = adapter.rate_logs()
        if query is not None:
            try:
                head = w3.eth.block_number if latest is None else latest
                adapter = adapter.with_rate_logs(last_logs(w3, query, head))
            except (Web3Exception, ValueError, OSError, DecodingError) as exc:
                log.warning("rate events not read; the APY is measured", market=str(adapter.key), error=str(exc))
        out.append(adapter)
    return out


def last_logs(
    w3: Web3, query: LogQuery, latest: int, chunk: int = CHUNK_BLOCKS, max_blocks: int = MAX_BLOCKS
) -> list[EventLog]:
    """The last `query.count` events the query names, at or before block `latest`, oldest first."""
    address = query.address or _resolve(w3, query)
    found: list[EventLog] = []
    end, stop = latest, max(latest - max_blocks + 1, 0)
    while end >= stop and len(found) < query.count:
        start = max(end - chunk + 1, stop)
        logs = w3.eth.get_logs(
            {
                "address": to_checksum_address(address),
                "topics": ["0x" + query.topic0.hex()],
                "fromBlock": start,
                "toBlock": end,
            }
        )
        found = [
            EventLog(int(e["blockNumber"]), tuple(bytes(t) for t in e["topics"]), bytes(e["data"])) for e in logs
        ] + found
        end = start - 1
    return found[-query.count :]


def _resolve(w3: Web3, query: LogQuery) -> str:
    if query.resolve is None:
        raise ValueError("a log query names neither its contract nor a read of its address")
    data = w3.eth.call(
        {"to": to_checksum_address(query.resolve.target), "data": HexStr("0x" + query.resolve.data.hex())}
    )
    address: str = decode(["address"], bytes(data))[0]
    return address
