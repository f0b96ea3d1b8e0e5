"""The dashboard's controls: which a role sees, the typed data a wallet signs for one (the
engine's own EIP-712 types, `floor.access.commands.typed_data`, for the engine's domain), and
the same command in plain words, shown before signing. The engine decides: a control shown is
no permission, and the engine refuses what a role may not send whatever the page showed."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from api.errors import ApiError
from client.signing import SigningError, command_domain, new_command
from floor.access.commands import Command, CommandDomain, typed_data
from floor.access.roles import NEEDS, Kind, Role
from floor.config import Settings

TTL_S = 300  # a command prepared here is signed and sent within minutes
# What the dashboard offers, in the order shown; each needs the role the engine's table says.
CONTROLS = (
    Kind.PAUSE,
    Kind.RESUME,
    Kind.REBALANCE,
    Kind.HARVEST,
    Kind.REQUEST_CAPITAL,
    Kind.TRIP_BREAKER,
    Kind.HALF_OPEN_BREAKER,
)
SHOWN_FROM = {Kind.PAUSE: Role.OPERATOR}  # open to anyone in the engine, offered to operators


def controls_for(role: Role | None) -> list[str]:
    """The controls `role` sees: none for a VIEWER."""
    if role is None:
        return []
    out = []
    for kind in CONTROLS:
        needed = SHOWN_FROM.get(kind) or NEEDS[kind] or Role.OPERATOR
        if role >= needed:
            out.append(kind.value)
    return out


def prepare(settings: Settings, kind_name: str, fields: dict[str, Any], now: int) -> dict[str, Any]:
    """The command the wallet signs (typed data), as the API takes it once signed (`command`,
    without signer and signature), and in plain words."""
    try:
        kind = Kind(kind_name)
    except ValueError:
        raise ApiError(404, "not_found", f"no command {kind_name!r}") from None
    if kind not in CONTROLS:
        raise ApiError(404, "not_found", f"the dashboard does not send {kind.value}")
    chosen = {k: v for k, v in fields.items() if k not in ("nonce", "deadline")}
    try:
        command = new_command(kind, chosen, now=now, ttl_s=TTL_S)
        domain = command_domain(settings)
    except SigningError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    command = command.model_copy(update={"nonce": secrets.randbits(64)})
    return {
        "typed_data": typed_data(kind, command, domain),
        "command": {
            "kind": kind.value,
            "domain": domain.model_dump(mode="json"),
            "message": command.model_dump(mode="json"),
        },
        "plain": plain_words(settings, kind, command, domain),
    }


def plain_words(settings: Settings, kind: Kind, command: Command, domain: CommandDomain) -> list[str]:
    """What signing `command` does, in a few sentences a person reads before signing."""
    f = command.model_dump()
    engine = domain.engine
    what = {
        Kind.PAUSE: f"Pause the engine {engine}: no operation starts until it is resumed; a running one stops at its next step.",
        Kind.RESUME: f"Resume the engine {engine}: it returns to the state it was paused from.",
        Kind.REBALANCE: f"Rebalance engine {engine} now: move funds between markets towards the strategy's targets.",
        Kind.HARVEST: f"Harvest now: claim and account the yield of engine {engine}'s positions.",
        Kind.TRIP_BREAKER: f"Trip the circuit breaker {f.get('scope')}: engine {engine} stops putting funds there.",
        Kind.HALF_OPEN_BREAKER: f"Half-open the circuit breaker {f.get('scope')}: the next risk check probes it.",
    }.get(kind)
    if kind == Kind.REQUEST_CAPITAL:
        what = capital_words(settings, f)
    lines = [what or kind.value]
    if f.get("reason"):
        lines.append(f"Reason: {f['reason']}")
    deadline = datetime.fromtimestamp(command.deadline, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines.append(
        f"Signed for engine {engine} on chain {domain.chain_id} (executor {domain.executor}); "
        f"valid until {deadline}; nonce {command.nonce}. The engine checks your role and may refuse it."
    )
    return lines


def capital_words(settings: Settings, f: dict[str, Any]) -> str:
    chain_id, asset, amount = f["chainId"], f["asset"], int(f["amount"])
    decimals = next(
        (t.decimals for c in settings.chains if c.id == chain_id for t in c.tokens if t.symbol == asset), None
    )
    whole = f"{amount / 10**decimals:,.{min(decimals, 6)}f} {asset}" if decimals is not None else f"{amount} {asset}"
    by = f" by {datetime.fromtimestamp(f['deliverBy'], UTC):%Y-%m-%d %H:%M UTC}" if f.get("deliverBy") else ""
    partial = "a part is delivered if the whole cannot be" if f.get("partial") else "all of it or nothing"
    return (
        f"Send {whole} ({amount} base units) on chain {chain_id} to {f['destination']}{by}, leaving positions "
        f"as needed ({partial}; exits polled every {f['exitPollSeconds']} s)."
    )
