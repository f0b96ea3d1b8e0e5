"""Signed commands through the API: who proves to have signed one (for the rate limit: a
claimed signer costs nobody but the one whose key signed), and the audit row of a command the
engine refused (the engine records only what it accepts or refuses in its own validators'
history; a refusal never reaches its memory)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from client.commands import refusal_entry
from floor.access.audit import AuditEntry, AuditRow
from floor.access.commands import STRUCTS, SignedCommand, digest, recover
from floor.access.roles import Kind

# The engine's updates that take a command (floor.access.roles.Kind, named as the updates are).
UPDATES = [k.value for k in Kind if k not in (Kind.READ, Kind.APPLY_SCHEDULES)]
MAX_BODY_BYTES = 1_000_000  # a configuration's JSON rides with its command


def signed_part(kind: str, payload: Mapping[str, Any]) -> SignedCommand | None:
    """The signed command in a payload (a configuration's is under "command"); None if none."""
    raw = payload.get("command") if kind == Kind.CONFIGURE else payload
    try:
        return SignedCommand.model_validate(raw)
    except ValueError:
        return None


def proven_signer(command: SignedCommand | None) -> str | None:
    """The claimed signer, when the signature recovers to it over the domain the command claims
    (the engine checks its own domain, role and nonce); None for anything else."""
    if command is None or command.signer is None or command.signature is None:
        return None
    try:
        kind = Kind(command.kind)
        hashed = digest(kind, STRUCTS[kind].model_validate(command.message), command.domain)
        recovered = recover(command.signature, hashed)
    except ValueError:  # not a kind or fields the verifier reads, or a malformed signature
        return None
    return command.signer if recovered == bytes.fromhex(command.signer[2:]) else None


def refused_entry(engine_id: str, kind: str, command: SignedCommand | None, reason: str, now: int) -> AuditEntry:
    """The audit row of a refused command: the signed command's (client.commands.refusal_entry),
    or for a payload that is none, one naming the update it was sent to, unsigned."""
    if command is not None:
        return refusal_entry(engine_id, command, reason, now)
    row = AuditRow(
        at=now, workflow_id=engine_id, signer="", kind=kind, digest="", outcome="refused", reason=reason[:1000]
    )
    return AuditEntry(id=f"api-refusal-{uuid.uuid4().hex}", row=row)
