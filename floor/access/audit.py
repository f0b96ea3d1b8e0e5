"""The audit log's hash chain: every command the engine accepted or refused is a row whose hash
covers its fields and the row before's hash, so an edited, deleted, reordered or inserted row
breaks the chain at that row. Pure: rows come in, hashes and the first bad row come out.

A row's canonical encoding is its JSON with keys sorted, no spaces, ASCII only, `hash` left
out; its hash is SHA-256 of that, as 0x-hex (SHA-256: any language and Postgres' own
`sha256()` recompute it). The first row's `prev` is GENESIS (or the last hash of the chain it
continues). A chain alone cannot show its last rows were cut: keep the head hash elsewhere
(the engine's memory) and pass it as `head`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Literal, NamedTuple

from pydantic import Field, StrictInt

from floor.models import FrozenModel

GENESIS = "0x" + "00" * 32


class AuditRow(FrozenModel):
    seq: StrictInt = Field(default=0, ge=0)  # 1, 2, 3... set by chain_rows
    at: StrictInt = Field(ge=0)  # seconds since 1970, the workflow's time
    workflow_id: str = Field(max_length=300)
    signer: str = Field(default="", max_length=42)  # "" for an unsigned pause or an unreadable command
    role: str = Field(default="", max_length=20)  # the signer's role then, "" for none
    kind: str = Field(max_length=40)
    digest: str = Field(default="", max_length=66)  # the EIP-712 digest, "" when none was computed
    outcome: Literal["accepted", "refused"]
    reason: str = Field(default="", max_length=1000)  # the refusal, or the command's own reason
    prev: str = ""  # the hash of the row before
    hash: str = ""


def canonical(row: AuditRow) -> bytes:
    fields = row.model_dump(mode="json", exclude={"hash"})
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def row_hash(row: AuditRow) -> str:
    return "0x" + hashlib.sha256(canonical(row)).hexdigest()


class AuditEntry(FrozenModel):
    """A row to append, with an id its writer chooses (e.g. the workflow id and the update's id):
    the store appends an id once, so a retried activity writes nothing twice. The id is not
    hashed: it names the append, not the row."""

    id: str = Field(min_length=1, max_length=300)
    row: AuditRow


class ChainEnd(NamedTuple):
    """Where a chain ends: its last row's seq and hash (0 and GENESIS before the first row)."""

    seq: int
    hash: str


def chain_rows(rows: Iterable[AuditRow], after: AuditRow | ChainEnd | None = None) -> list[AuditRow]:
    """`rows` numbered and linked, continuing the chain whose last row is `after` (none: a new
    chain from GENESIS)."""
    prev, seq = (after.hash, after.seq) if after else (GENESIS, 0)
    chained = []
    for row in rows:
        seq += 1
        linked = row.model_copy(update={"seq": seq, "prev": prev, "hash": ""})
        linked = linked.model_copy(update={"hash": row_hash(linked)})
        chained.append(linked)
        prev = linked.hash
    return chained


class BadRow(NamedTuple):
    row: int  # its index in the list given (len(rows) when the chain's end does not match `head`)
    why: str


def verify_chain(
    rows: list[AuditRow], after: AuditRow | ChainEnd | None = None, head: str | None = None
) -> BadRow | None:
    """The first row that breaks the chain, with why; None when every row is as chained. `after`:
    the last row before these (a chain read in pages); `head`: the last hash the engine kept."""
    prev, seq = (after.hash, after.seq) if after else (GENESIS, 0)
    for index, row in enumerate(rows):
        if row.hash != row_hash(row):
            return BadRow(index, f"row {row.seq}: its fields do not match its hash (edited)")
        if row.prev != prev:
            return BadRow(index, f"row {row.seq}: does not follow the row before (a row deleted, inserted or moved)")
        if row.seq != seq + 1:
            return BadRow(index, f"row {row.seq}: expected row {seq + 1} here (a row deleted, inserted or moved)")
        prev, seq = row.hash, row.seq
    if head is not None and prev != head:
        return BadRow(len(rows), f"the chain ends at {prev}, not at the head {head} (rows cut from the end)")
    return None
