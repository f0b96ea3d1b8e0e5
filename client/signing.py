"""Signing commands for the engine (floor.access.commands), as every door that sends one does:
the engine's command domain from the config, a command key from an encrypted keystore, and a
signed command with a fresh random nonce and a short deadline. Used by `floor sign`, and by
any service or test that holds its own key.

Every problem is a SigningError: one line naming what is wrong (never a password or a key).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from pydantic import SecretStr, ValidationError

from floor.access.commands import MAX_AHEAD_S, STRUCTS, Command, CommandDomain, SignedCommand, sign_command
from floor.access.roles import Kind
from floor.chain.signer import SignerError, decrypt_keystore
from floor.config import Settings
from floor.validation import one_line

DEFAULT_TTL_S = 600
SIGNER_CHOSEN = ("nonce", "deadline")  # every struct's first fields: `signed` chooses them


class SigningError(ValueError):
    """A command that cannot be signed as asked: one line naming what is wrong."""


def command_domain(settings: Settings) -> CommandDomain:
    """The domain this engine's commands are signed for: `access.chain_id`'s executor, else the
    first chain with an executor, and the engine's id (`settings.engine_id`)."""
    chains = [c for c in settings.chains if c.executor is not None]
    if settings.access.chain_id is not None:  # the config checked it has an executor
        chains = [settings.chain(settings.access.chain_id)]
    if not chains or chains[0].executor is None:
        raise SigningError("no chain has an executor: commands are signed for one (set chains.executor)")
    return CommandDomain(chain_id=chains[0].id, executor=chains[0].executor, engine=settings.engine_id)


def load_key(path: str | Path, password: str | SecretStr) -> LocalAccount:
    """The command key in an encrypted keystore file (Web3 Secret Storage, version 3: what
    `Account.encrypt` and geth write)."""
    try:
        return decrypt_keystore(path, password)
    except SignerError as exc:
        raise SigningError(str(exc)) from None


def kind_of(name: str) -> Kind:
    try:
        return Kind(name)
    except ValueError:
        raise SigningError(f"unknown command kind {name!r} (known: {', '.join(k.value for k in Kind)})") from None


def signed(
    settings: Settings,
    kind: Kind | str,
    fields: Mapping[str, Any],
    key: LocalAccount,
    *,
    now: int,
    ttl_s: int = DEFAULT_TTL_S,
) -> SignedCommand:
    """`kind`'s command with its own `fields` (camelCase, as in its EIP-712 struct; JSON values),
    signed by `key` for this engine, with a random 64-bit nonce and the deadline `now + ttl_s`
    (seconds since 1970; at most MAX_AHEAD_S ahead, as the engine requires)."""
    kind = kind_of(kind) if isinstance(kind, str) else kind
    command = new_command(kind, fields, now=now, ttl_s=ttl_s)
    return sign_command(kind, command, key, command_domain(settings))


def new_command(kind: Kind, fields: Mapping[str, Any], *, now: int, ttl_s: int = DEFAULT_TTL_S) -> Command:
    """`kind`'s struct of `fields`, with a random 64-bit nonce and the deadline `now + ttl_s`:
    what `signed` signs (a caller checks its input with it before a keystore's slow decryption)."""
    if not 1 <= ttl_s <= MAX_AHEAD_S:
        raise SigningError(f"ttl {ttl_s} s: must be 1 to {MAX_AHEAD_S} s (the engine refuses a later deadline)")
    own = [name for name in STRUCTS[kind].model_fields if name not in SIGNER_CHOSEN]
    for name in fields:
        if name in SIGNER_CHOSEN:
            raise SigningError(f"field {name!r} is chosen by the signer: give only {kind.value}'s own fields")
        if name not in own:
            raise SigningError(f"unknown field {name!r} of {kind.value} (its fields: {', '.join(own) or 'none'})")
    message = {**fields, "nonce": secrets.randbits(64), "deadline": now + ttl_s}
    try:
        return STRUCTS[kind].model_validate(message)
    except ValidationError as exc:
        raise SigningError(f"not a valid {kind.value} command: {one_line(exc)}") from None
