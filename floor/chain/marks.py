"""The store's chain marks (`chain_mark`: a final block and the genesis per chain) against the
chains now, for the reads that must not report a chain the engine no longer knows: the
reconciliation, and the CLI's `floor positions` and `floor status`. The comparison itself is
`floor.chain.identity.mismatch`, which the transaction queue uses on its own mark too.

A mark is always a final block (the chain's `finalized` tag, or a depth where it has none),
never the head: a reorg within finality is the chain's right and must not read as a reset.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from web3 import Web3

from floor.chain.identity import ChainRewritten, final_block, mark_at, mismatch
from floor.chain.rpc import connect
from floor.config import Settings
from floor.txqueue import ChainMark

if TYPE_CHECKING:  # the store (sqlalchemy) is imported only where a mark is read or written
    from floor.store import ChainMarkRow, Store

__all__ = [
    "ChainRewritten",
    "chain_problems",
    "check_chain",
    "final_block",
    "record_final_mark",
    "remembered",
    "stored_marks",
]


def remembered(row: ChainMarkRow) -> ChainMark:
    """A store row (`ChainMarkRow`) as the mark the comparison takes."""
    return ChainMark(number=row.block_number, hash=row.block_hash.lower(), genesis=row.genesis_hash.lower())


def check_chain(w3: Web3, chain_id: int, row: ChainMarkRow | None) -> str | None:
    """Why the chain `w3` serves is not the one the stored mark (a `ChainMarkRow`, or None: no
    mark yet, nothing to compare) was taken on, in one line; None when it is."""
    return None if row is None else mismatch(w3, chain_id, remembered(row))


def record_final_mark(
    store: Store, w3: Web3, chain_id: int, final: int, at: datetime, note: str, *, force: bool = False
) -> ChainMark | None:
    """Remember block `final` (a final block, `final_block`) of the chain, with its hash and the
    genesis'. None when nothing is final yet."""
    mark = mark_at(w3, final) if final >= 0 else None
    if mark is not None:
        store.record_chain_mark(chain_id, mark.number, mark.hash, mark.genesis, at, note=note, force=force)
    return mark


def store_exists(settings: Settings) -> bool:
    """False for a SQLite store whose file was never made (a CLI run on a fresh checkout)."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.store.url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).is_file()
    return True


def stored_marks(settings: Settings) -> dict[int, ChainMarkRow]:
    """The store's marks per chain; none when the store cannot be read (a CLI run where no
    store was ever made, or one not migrated yet): the reads then go on unchecked."""
    if not store_exists(settings):  # do not create an empty store by looking
        return {}
    from sqlalchemy.exc import SQLAlchemyError

    from floor.store import Store

    try:
        with Store.from_settings(settings) as store:
            return store.chain_marks()
    except SQLAlchemyError:
        return {}


def chain_problems(settings: Settings, web3s: Mapping[int, Web3] | None = None) -> list[str]:
    """Every configured chain whose state does not match its stored mark, one line each."""
    marks = stored_marks(settings)
    problems = []
    for chain in settings.chains:
        if chain.id not in marks:
            continue
        w3 = (web3s or {}).get(chain.id) or connect(chain.rpc_urls, chain.rpc_timeout_s, chain_id=chain.id)
        problem = check_chain(w3, chain.id, marks[chain.id])
        if problem:
            problems.append(problem)
    return problems
