"""Commands that change what the engine does, signed by a person's or service's own key
(floor/access, client/signing.py) and sent to the engine's update of the same name.

- `send`: a payload already made (a signed command's JSON; a pause's unsigned `{"reason", "by"}`;
  a configuration's `{"command", "config"}`) to the update named by its kind; `Refused` with the
  engine's one-line reason (or `NotRunning`).
- `Commander`: signs each command with its key (now from the local clock, valid DEFAULT_TTL_S)
  and sends it: the operations, pause and resume, the breakers, configure, and roles.
- `command_fields`: a request as the doors took it (`floor.operations`' request models, as
  JSON) mapped to its signed struct's fields: pure.

The workflows are not imported: an update is named by its kind (`floor.access.roles.Kind`,
named as the engine's updates are), its answer read as the model the update returns.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from eth_account.signers.local import LocalAccount
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.service import RPCError, RPCStatusCode

from client.engine import NotRunning, Refused, engine_config, ensure_engine, not_running
from client.signing import DEFAULT_TTL_S, signed
from floor.access.audit import AuditEntry, AuditRow
from floor.access.commands import STRUCTS, SignedCommand, config_hash, digest
from floor.access.roles import Kind, Role
from floor.catalogue import ConfigChange, config_change, engine_input
from floor.config import Settings
from floor.engine import Operation
from floor.operations import EngineConfig, OperationStarted
from floor.risk.breakers import BreakerEvent, RiskCheckResult

# What each update answers (none listed: its JSON as decoded).
ANSWERS: dict[Kind, type] = {
    Kind.ALLOCATE: OperationStarted,
    Kind.REBALANCE: OperationStarted,
    Kind.HARVEST: OperationStarted,
    Kind.REQUEST_CAPITAL: OperationStarted,
    Kind.PANIC_EXIT: OperationStarted,
    Kind.PAUSE: str,
    Kind.RESUME: str,
    Kind.CHECK_RISK: RiskCheckResult,
    Kind.TRIP_BREAKER: BreakerEvent,
    Kind.HALF_OPEN_BREAKER: BreakerEvent,
    Kind.ACCEPT_RECONCILIATION: BreakerEvent,
}
OPERATION_KINDS = {
    Operation.ALLOCATE: Kind.ALLOCATE,
    Operation.REBALANCE: Kind.REBALANCE,
    Operation.HARVEST: Kind.HARVEST,
    Operation.REQUEST_CAPITAL: Kind.REQUEST_CAPITAL,
    Operation.PANIC_EXIT: Kind.PANIC_EXIT,
}
NOTHING_TO_CHANGE = "nothing to change"  # the engine's answer to a configuration it already runs


def update_refusal(exc: WorkflowUpdateFailedError) -> str:
    """The engine's reason for refusing an update: its validator's one line."""
    cause = exc.cause
    return getattr(cause, "message", None) or str(cause or exc)


async def send(
    client: Client, engine_id: str, kind: Kind | str, payload: Mapping[str, Any], *, accept_s: float | None = None
) -> Any:
    """`payload` to the engine's update named by `kind`; its answer. `Refused` with the engine's
    reason; `NotRunning` when no engine runs at `engine_id`. With `accept_s`, a `TimeoutError`
    when no worker accepts the update within it: nothing was applied (Temporal may still hand
    the update to the next worker)."""
    kind = Kind(kind)
    handle = client.get_workflow_handle(engine_id)
    try:
        accepting = handle.start_update(
            kind.value, dict(payload), wait_for_stage=WorkflowUpdateStage.ACCEPTED, result_type=ANSWERS.get(kind)
        )
        accepted = await (asyncio.wait_for(accepting, accept_s) if accept_s is not None else accepting)
        return await accepted.result()
    except WorkflowUpdateFailedError as exc:
        raise Refused(update_refusal(exc)) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise NotRunning(not_running(engine_id)) from None
        raise


# ---------------------------------------------------------------------------- requests as struct fields


def command_fields(kind: Kind | str, request: Mapping[str, Any]) -> dict[str, Any]:
    """A request as the doors took it (snake_case, as `floor.operations`' and
    `floor.risk.breakers`' models read it) as `kind`'s signed struct's own fields (camelCase;
    `floor.access.commands.STRUCTS`). `by` is dropped: the signer is who asks. A capital
    request's ISO `deadline` becomes `deliverBy` (seconds since 1970; 0: none)."""
    kind = Kind(kind)
    reason = str(request.get("reason") or "")
    if kind == Kind.ALLOCATE:
        amounts = [
            {"chainId": int(a["chain_id"]), "asset": a["asset"], "amount": str(a["amount"])}
            for a in request.get("amounts", [])
        ]
        return {"amounts": amounts, "reason": reason}
    if kind == Kind.REQUEST_CAPITAL:
        return {
            "chainId": int(request["chain_id"]),
            "asset": request["asset"],
            "amount": str(request["amount"]),
            "destination": request["destination"],
            "deliverBy": seconds(request.get("deadline")),
            "partial": bool(request.get("partial", False)),
            "exitPollSeconds": int(request.get("exit_poll_s", 3600)),
            "reason": reason,
        }
    if kind in (Kind.TRIP_BREAKER, Kind.HALF_OPEN_BREAKER, Kind.ACCEPT_RECONCILIATION):
        return {"scope": request["scope"], "reason": reason}
    if kind in (Kind.PAUSE, Kind.RESUME, Kind.REBALANCE, Kind.HARVEST, Kind.CHECK_RISK, Kind.PANIC_EXIT):
        return {"reason": reason}
    raise ValueError(f"{kind.value} is not made from a request: sign its fields")


def seconds(deadline: str | datetime | None) -> int:
    """An ISO 8601 time with its zone (or a datetime) in whole seconds since 1970; None: 0."""
    if deadline is None or deadline == "":
        return 0
    at = deadline if isinstance(deadline, datetime) else datetime.fromisoformat(str(deadline).replace("Z", "+00:00"))
    if at.tzinfo is None:
        raise ValueError(f"deadline {deadline} has no time zone")
    return int(at.timestamp())


def refusal_entry(engine_id: str, command: SignedCommand, reason: str, now: int) -> AuditEntry:
    """The audit log's row for a signed command the engine refused, as its sender records it
    (the engine's own rows come from the engine): who signed, what kind, its digest, why; an
    entry id of its own (random: each refusal is appended once)."""
    try:
        kind = Kind(command.kind)
        hashed = "0x" + digest(kind, STRUCTS[kind].model_validate(command.message), command.domain).hex()
    except ValueError:  # not a kind or fields the verifier reads: no digest to record
        hashed = ""
    row = AuditRow(
        at=now,
        workflow_id=engine_id,
        signer=command.signer or "",
        kind=command.kind,
        digest=hashed,
        outcome="refused",
        reason=reason[:1000],
    )
    return AuditEntry(id=f"client-refusal-{uuid.uuid4().hex}", row=row)


# ---------------------------------------------------------------------------- the commander


class Commander:
    """One key's commands to one engine: each signed (`now` from the local clock, valid
    `ttl_s`), then sent. Refusals come back as `Refused` with the engine's reason."""

    def __init__(self, client: Client, settings: Settings, key: LocalAccount, *, ttl_s: int = DEFAULT_TTL_S):
        self.client, self.settings, self.key, self.ttl_s = client, settings, key, ttl_s

    @property
    def signer(self) -> str:
        return self.key.address

    def sign(self, kind: Kind | str, fields: Mapping[str, Any]) -> SignedCommand:
        return signed(self.settings, kind, fields, self.key, now=int(time.time()), ttl_s=self.ttl_s)

    async def command(self, kind: Kind | str, fields: Mapping[str, Any], *, accept_s: float | None = None) -> Any:
        """`kind`'s command with its own `fields`, signed and sent; the engine's answer. A
        refusal carries the command refused (`Refused.command`)."""
        command = self.sign(kind, fields)
        try:
            return await send(
                self.client, self.settings.engine_id, kind, command.model_dump(mode="json"), accept_s=accept_s
            )
        except NotRunning:
            raise
        except Refused as exc:
            raise Refused(str(exc), command) from None

    async def ask(self, kind: Operation, request: Mapping[str, Any]) -> OperationStarted:
        """An operation (allocate, rebalance, harvest, request-capital, panic-exit), from its request."""
        command = OPERATION_KINDS[kind]
        return await self.command(command, command_fields(command, request))

    async def pause(self, reason: str, *, accept_s: float | None = None) -> str:
        return await self.command(Kind.PAUSE, {"reason": reason}, accept_s=accept_s)

    async def resume(self, reason: str, *, accept_s: float | None = None) -> str:
        return await self.command(Kind.RESUME, {"reason": reason}, accept_s=accept_s)

    async def check_risk(self, reason: str = "") -> RiskCheckResult:
        return await self.command(Kind.CHECK_RISK, {"reason": reason})

    async def trip(self, scope: str, reason: str) -> BreakerEvent:
        return await self.command(Kind.TRIP_BREAKER, {"scope": scope, "reason": reason})

    async def half_open(self, scope: str, reason: str) -> BreakerEvent:
        return await self.command(Kind.HALF_OPEN_BREAKER, {"scope": scope, "reason": reason})

    async def accept_reconciliation(self, scope: str, reason: str) -> BreakerEvent:
        return await self.command(Kind.ACCEPT_RECONCILIATION, {"scope": scope, "reason": reason})

    async def grant(self, account: str, role: Role | str, name: str = "", reason: str = "") -> Any:
        role_name = role.name if isinstance(role, Role) else role
        fields = {"account": account, "role": role_name, "name": name, "reason": reason}
        return await self.command(Kind.GRANT_ROLE, fields)

    async def revoke(self, account: str, reason: str = "") -> Any:
        return await self.command(Kind.REVOKE_ROLE, {"account": account, "reason": reason})

    async def configure(self, reason: str = "", wanted: EngineConfig | None = None) -> ConfigChange:
        """Send the config's catalogue and policy (or `wanted`) to the engine, signed; what
        changed, against the configuration it ran with. An engine not running is started first
        (its first run takes the worker's configuration: this one is sent if it differs).
        `Refused` when the engine refuses it."""
        settings = self.settings
        input = engine_input(settings)
        wanted = wanted or EngineConfig(catalogue=input.catalogue, policy=input.policy)
        running = await engine_config(self.client, settings.engine_id)
        started = running is None
        if started:  # a signed command needs the engine's role book: a running engine
            await ensure_engine(self.client, settings)
            running = await engine_config(self.client, settings.engine_id)
        change = config_change(running, wanted)
        if change.changed:
            config = wanted.model_dump(mode="json")
            command = self.sign(Kind.CONFIGURE, {"configHash": config_hash(config), "reason": reason})
            try:
                await send(
                    self.client,
                    settings.engine_id,
                    Kind.CONFIGURE,
                    {"command": command.model_dump(mode="json"), "config": config},
                )
            except NotRunning:
                raise
            except Refused as exc:
                if str(exc) != NOTHING_TO_CHANGE:  # not unchanged: a config the engine refuses
                    raise Refused(f"the engine refused the configuration: {exc}", command) from None
        if started:
            return config_change(None, wanted).model_copy(update={"started": True})
        return change
