"""The executors on chain, for when the engine cannot be reached or trusted: each executor's
`paused` flag, read over plain JSON-RPC (no web3 to import: `floor status` stays quick), and
the guardian's `pause()` of every executor (`floor pause --onchain`).

A paused executor refuses every `execute`: nothing the operator key signs moves funds, whatever
the engine, its worker or a leaked key does. Only the owner unpauses (docs/security.md).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from floor.config import ChainConfig, Settings

PAUSED = "0x5c975abb"  # paused(): the executor's public flag
READ_TIMEOUT_S = 2.0  # per RPC URL, for `floor status`


class RpcReadError(Exception):
    """No RPC URL of the chain answered the read."""


def rpc_batch(chain: ChainConfig, calls: list[tuple[str, list]], timeout_s: float) -> list[Any]:
    """The results of `calls` (method, params) as one JSON-RPC batch, from the first of the
    chain's RPC URLs that answers all of them. URLs are never named (they may hold API keys)."""
    body = json.dumps(
        [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
    ).encode()
    failures = []
    for n, url in enumerate(chain.rpc_urls, 1):
        request = urllib.request.Request(  # noqa: S310 (rpc_urls are validated http(s) URLs)
            str(url), data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (rpc_urls are validated http(s) URLs)
                answers = json.loads(response.read())
            by_id = {a["id"]: a for a in answers}
            errors = [by_id[i]["error"] for i in range(len(calls)) if "error" in by_id[i]]
            if errors:
                raise RpcReadError(str(errors[0].get("message", errors[0]))[:200])
            return [by_id[i]["result"] for i in range(len(calls))]
        except (OSError, ValueError, KeyError, TypeError, RpcReadError) as exc:  # URLError and timeouts are OSError
            failures.append(f"URL {n}: {_reason(exc)}")
    raise RpcReadError(f"chain {chain.id}: no RPC URL answered ({'; '.join(failures)})")


def _reason(exc: Exception) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return str(exc.reason)
    return f"{type(exc).__name__}: {exc}"[:200]


def executor_flags(settings: Settings, timeout_s: float = READ_TIMEOUT_S) -> list[dict]:
    """Each configured executor's `paused` flag now, the chains read in parallel: chain_id,
    executor, paused (None when it could not be read, with `error`)."""
    chains = [c for c in settings.chains if c.executor is not None]
    if not chains:
        return []
    with ThreadPoolExecutor(max_workers=len(chains)) as pool:
        return list(pool.map(lambda c: executor_flag(c, min(c.rpc_timeout_s, timeout_s)), chains))


def executor_flag(chain: ChainConfig, timeout_s: float) -> dict:
    row: dict[str, Any] = {"chain_id": chain.id, "executor": chain.executor, "paused": None}
    try:
        served, word = rpc_batch(
            chain, [("eth_chainId", []), ("eth_call", [{"to": chain.executor, "data": PAUSED}, "latest"])], timeout_s
        )
        if int(served, 16) != chain.id:
            row["error"] = f"the RPC serves chain {int(served, 16)}, not {chain.id}"
        elif word in ("0x", None):
            row["error"] = f"no executor at {chain.executor} (empty answer to paused())"
        else:
            row["paused"] = int(word, 16) != 0
    except (RpcReadError, ValueError, TypeError) as exc:
        row["error"] = str(exc)
    return row


class JsonRpcChain:
    """What floor.chain.identity asks of a Web3 (`provider.make_request`, `eth.block_number`),
    over plain JSON-RPC: a failure is an `error` answer, which identity reports as RpcUnavailable."""

    def __init__(self, chain: ChainConfig, timeout_s: float):
        self.chain, self.timeout_s = chain, timeout_s
        self.provider = self.eth = self

    def make_request(self, method: str, params: list) -> dict:
        try:
            return {"result": rpc_batch(self.chain, [(method, params)], self.timeout_s)[0]}
        except RpcReadError as exc:
            return {"error": str(exc)}

    @property
    def block_number(self) -> int:
        return int(rpc_batch(self.chain, [("eth_blockNumber", [])], self.timeout_s)[0], 16)


def chain_problems(settings: Settings, timeout_s: float = READ_TIMEOUT_S) -> list[str]:
    """floor.chain.marks.chain_problems (every chain whose state does not match its stored mark,
    one line each) for `floor status`: a SQLite store's marks read with sqlite3 and the chains
    with plain JSON-RPC, so neither the store's ORM nor web3 is imported. Another store: its
    own reader. `RpcUnavailable` when a chain cannot be asked."""
    marks = sqlite_marks(settings)
    if marks is None:
        from floor.chain.marks import chain_problems as with_the_store

        return with_the_store(settings)
    from floor.chain.identity import mismatch

    problems = []
    for chain in settings.chains:
        if chain.id in marks:
            problem = mismatch(JsonRpcChain(chain, min(chain.rpc_timeout_s, timeout_s)), chain.id, marks[chain.id])
            if problem:
                problems.append(problem)
    return problems


def sqlite_marks(settings: Settings) -> dict | None:
    """The chain marks (ChainMark by chain id) of a SQLite store, read-only; none when the file or
    its table does not exist (as floor.chain.marks.stored_marks); None for another store."""
    import sqlite3
    from pathlib import Path

    from floor.txqueue import ChainMark

    url = settings.store.url
    if not url.startswith("sqlite:"):
        return None
    database = url.split("///", 1)[1].split("?", 1)[0] if "///" in url else ""
    if not database or database == ":memory:" or not Path(database).is_file():
        return {}
    try:
        db = sqlite3.connect(Path(database).resolve().as_uri() + "?mode=ro", uri=True, timeout=2)
        try:
            rows = db.execute("SELECT chain_id, block_number, block_hash, genesis_hash FROM chain_mark").fetchall()
        finally:
            db.close()
    except sqlite3.Error:  # not migrated yet, or unreadable: the reads go on unchecked
        return {}
    return {c: ChainMark(number=n, hash=h.lower(), genesis=g.lower()) for c, n, h, g in rows}


def executor_line(row: dict) -> str:
    """One line per executor for `floor status` (plain text, no markup)."""
    where = f"chain {row['chain_id']} {row['executor']}"
    if row.get("paused") is None:
        return f"{where}: not read ({row.get('error', 'unknown')})"
    return f"{where}: {'PAUSED on chain (execute refused)' if row['paused'] else 'not paused'}"


def pause_executors(settings: Settings) -> list[dict]:
    """The guardian's `pause()` on every configured executor, the chains in parallel, each
    waited for until mined (`watchdog.pause_timeout_s`): chain_id, executor, outcome ("paused"
    with tx_hash and block, "already_paused", or "failed" with error). The guardian key comes
    from `watchdog.guardian`, as the watchdog's does."""
    from floor.chain.signer import signer_from_config

    guardian_config = settings.watchdog.guardian
    if guardian_config is None:
        from cli.engine import CliError

        raise CliError(
            "--onchain needs the guardian key: set FLOOR_WATCHDOG__GUARDIAN__PRIVATE_KEY (or"
            " watchdog.guardian.keystore_path with FLOOR_WATCHDOG__GUARDIAN__KEYSTORE_PASSWORD)"
        )
    guardian = signer_from_config(guardian_config)
    chains = [c for c in settings.chains if c.executor is not None]
    if not chains:
        from cli.engine import CliError

        raise CliError("no chain in the config has an executor to pause")
    timeout_s = settings.watchdog.pause_timeout_s
    with ThreadPoolExecutor(max_workers=len(chains)) as pool:
        rows = list(pool.map(lambda c: _pause_one(c, guardian, timeout_s), chains))
    for row in rows:
        row["guardian"] = guardian.address
    return rows


def _pause_one(chain: ChainConfig, guardian, timeout_s: float) -> dict:
    from floor.chain.rpc import connect
    from floor.watchdog import EXECUTOR_ABI, pause_executor

    row: dict[str, Any] = {"chain_id": chain.id, "executor": chain.executor}
    try:
        w3 = connect(chain.rpc_urls, chain.rpc_timeout_s, chain_id=chain.id)
        executor = w3.eth.contract(address=w3.to_checksum_address(chain.executor), abi=EXECUTOR_ABI)
        if executor.functions.paused().call():
            return row | {"outcome": "already_paused"}
        tx_hash, block = pause_executor(w3, chain, guardian, timeout_s)
        return row | {"outcome": "paused", "tx_hash": tx_hash, "block": block}
    except Exception as exc:  # one chain's failure must not stop the others' pauses
        return row | {"outcome": "failed", "error": f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:300]}


def pause_line(row: dict) -> str:
    where = f"chain {row['chain_id']}: executor {row['executor']}"
    if row["outcome"] == "paused":
        return f"{where} paused by the guardian {row['guardian']}: transaction {row['tx_hash']} (block {row['block']})"
    if row["outcome"] == "already_paused":
        return f"{where} was already paused: nothing sent"
    return f"{where} NOT paused: {row['error']}"
