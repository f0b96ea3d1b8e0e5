"""The engine's door to Temporal: what the CLI, the demo, services and the engine's own
activities use to start the engine, ask it for operations, and keep its schedules.

- `engine_input(settings)`: the treasury's catalogue and policy from the config.
- `ensure_engine`: start the EngineWorkflow at its fixed id, or send a changed config to the
  running one.
- `ask`: an operation by update; a refusal comes back as `Refused` with the validator's reason.
- `apply_schedules`: the rebalance and harvest checks as Temporal Schedules, created or
  updated from the config, paused when the engine is.
- `EngineDoor`: activities the engine's workflows run (hold the queues, pause the schedules,
  ask the engine from a schedule's check).
"""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

from temporalio import activity
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.txqueue import queue_input
from floor.config import Settings
from floor.engine import EnginePolicy, EngineState, Operation
from floor.models import AdapterKey
from floor.operations import (
    Catalogue,
    ChainCapBps,
    ChainCatalogue,
    ClusterCapBps,
    EngineInput,
    EngineStatus,
    MarketCapBps,
    OperationStarted,
    PlanCaps,
    ProtocolCapBps,
    StrategyTarget,
)
from floor.reconcile import ReconcileInput, ReconcileResult
from floor.risk.breakers import Breaker, BreakerEvent, RiskCheckResult
from floor.txqueue import QueueHold, queue_id

CHECKS = (Operation.REBALANCE, Operation.HARVEST)
RISK_CHECK = "risk"  # the circuit breakers' check: a schedule of its own, never paused


class Refused(Exception):
    """The engine refused a request; the message is its validator's reason."""


def plan_caps(settings: Settings, today: dt.date | None = None) -> PlanCaps:
    """The planner's caps from the config (`strategy.caps`) and, with `strategy.score_caps`,
    each strategy protocol's risk-score cap: the packaged data (floor/risk/protocol_data.py)
    scored as of `today` (default: today, UTC) with no TVL observations (the tvl part neutral,
    50), on every chain where the strategy has a market of it; the lowest `max_weight_bps`
    of those chains caps the protocol on all of them (a protocol cap spans every chain). A
    protocol absent from the data gets no score cap. With both, the lower cap wins. Computed
    here, when the engine's input is built, never inside a workflow."""
    strategy = settings.strategy
    markets = []
    for c in strategy.caps.markets:
        settings.chain(c.chain_id).market(c.protocol, c.market)  # a cap on no market is refused by name
        markets.append(
            MarketCapBps(key=AdapterKey(chain_id=c.chain_id, protocol=c.protocol, market=c.market), max_bps=c.max_bps)
        )
    for chain_id in strategy.caps.chains:
        settings.chain(chain_id)
    protocols: dict[str, tuple[int, str]] = {p: (bps, "config") for p, bps in strategy.caps.protocols.items()}
    if strategy.score_caps and strategy.targets:
        from floor.risk.protocol_data import load_protocol_data
        from floor.risk.scores import score

        data = load_protocol_data()
        known = {p.id: p for p in data.protocols}
        as_of = today or dt.datetime.now(dt.UTC).date()
        for t in strategy.targets:
            if t.protocol not in known:
                continue
            bps = score(known[t.protocol], (), as_of, chain_id=t.chain_id).max_weight_bps
            if t.protocol not in protocols or bps < protocols[t.protocol][0]:
                protocols[t.protocol] = (bps, "score")
    return PlanCaps(
        markets=markets,
        protocols=[ProtocolCapBps(protocol=p, max_bps=b, source=src) for p, (b, src) in sorted(protocols.items())],
        chains=[ChainCapBps(chain_id=c, max_bps=b) for c, b in sorted(strategy.caps.chains.items())],
        clusters=cluster_caps(settings),
    )


def cluster_caps(settings: Settings) -> list[ClusterCapBps]:
    """The strategy's targets grouped by correlation (floor/risk/correlation.py, the packaged
    dependency graph: correlation >= 1/2, single linkage), each group capped at
    `strategy.cluster_limit_bps` of the total value. A target whose protocol the graph does
    not know is left out of every cluster (and named in none)."""
    from floor.risk.correlation import DEFAULT_THRESHOLD, DependencyGraph, Position, clusters_from_matrix
    from floor.risk.protocol_data import load_protocol_data

    strategy = settings.strategy
    if not strategy.cluster_limit_bps or not strategy.targets:
        return []
    graph = DependencyGraph.from_data(load_protocol_data())
    known, keys, weights = [], [], []
    for t in strategy.targets:
        position = Position(
            protocol=t.protocol,
            chain_id=t.chain_id,
            asset=settings.chain(t.chain_id).market(t.protocol, t.market).asset,
        )
        try:
            graph.dependencies(position)
        except KeyError:
            continue
        known.append(position)
        keys.append(AdapterKey(chain_id=t.chain_id, protocol=t.protocol, market=t.market))
        weights.append(t.weight_bps)
    if not known:
        return []
    clusters = clusters_from_matrix(known, weights, graph.matrix(known), DEFAULT_THRESHOLD, strategy.cluster_limit_bps)
    out = []
    for n, cluster in enumerate(clusters, 1):  # heaviest first
        members = [keys[i] for i, p in enumerate(known) if p in cluster.positions]
        name = f"correlated-{n}:" + "+".join(sorted({k.protocol for k in members}))
        out.append(ClusterCapBps(name=name, keys=members, max_bps=strategy.cluster_limit_bps))
    return out


def engine_input(settings: Settings, today: dt.date | None = None) -> EngineInput:
    targets = []
    for t in settings.strategy.targets:
        market = settings.chain(t.chain_id).market(t.protocol, t.market)
        targets.append(
            StrategyTarget(
                key=AdapterKey(chain_id=t.chain_id, protocol=t.protocol, market=t.market),
                asset=market.asset,
                weight_bps=t.weight_bps,
                lot=market.lot,
            )
        )
    catalogue = Catalogue(
        chains=[
            ChainCatalogue(
                chain_id=c.id, tokens={t.symbol: t.decimals for t in c.tokens}, destinations=list(c.destinations)
            )
            for c in settings.chains
        ],
        targets=targets,
        rebalance_drift_bps=settings.strategy.rebalance_drift_bps,
        weights_of=settings.strategy.weights_of,
        caps=plan_caps(settings, today) if settings.strategy.weights_of == "total" else PlanCaps(),
        min_trade_value=settings.strategy.min_trade_usd if settings.strategy.weights_of == "total" else 0,
    )
    policy = EnginePolicy(
        rebalance_cooldown_s=settings.strategy.min_rebalance_interval_s,
        harvest_cooldown_s=settings.engine.harvest_cooldown_s,
        breakers=settings.risk.breakers,
    )
    return EngineInput(catalogue=catalogue, policy=policy)


def schedule_id(engine_id: str, kind: Operation | str) -> str:
    return f"{engine_id}/{getattr(kind, 'value', kind)}-check"


def reconcile_input(settings: Settings) -> ReconcileInput:
    return ReconcileInput(
        chains=[c.id for c in settings.chains if c.executor],
        engine_id=settings.engine_id,
        trip_above_bps=settings.reconcile.trip_above_bps,
    )


async def ensure_engine(client: Client, settings: Settings) -> str:
    """Start the engine if it is not running; else send it the config's catalogue and policy
    (refused, and left out of its history, when nothing changed). Returns its workflow id."""
    from workflows.engine import EngineWorkflow

    input = engine_input(settings)
    payload = input.model_dump(mode="json", exclude={"memory"})
    start = WithStartWorkflowOperation(
        EngineWorkflow.run,
        input.model_dump(mode="json"),
        id=settings.engine_id,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        task_queue=settings.temporal.task_queue,
        static_summary=f"Floor Engine {settings.engine_name}",
    )
    try:
        await client.execute_update_with_start_workflow(
            EngineWorkflow.configure, payload, start_workflow_operation=start
        )
    except WorkflowUpdateFailedError as exc:
        if _reason(exc) != "nothing to change":  # not unchanged: a config the engine refuses
            raise Refused(f"the engine refused the configuration: {_reason(exc)}") from None
    return settings.engine_id


async def ask(client: Client, engine_id: str, kind: Operation, request: dict) -> OperationStarted:
    """Request an operation; `Refused` carries the engine's reason."""
    from workflows.engine import EngineWorkflow

    update = {
        Operation.ALLOCATE: EngineWorkflow.allocate,
        Operation.REBALANCE: EngineWorkflow.rebalance,
        Operation.HARVEST: EngineWorkflow.harvest,
        Operation.REQUEST_CAPITAL: EngineWorkflow.request_capital,
    }[kind]
    try:
        return await client.get_workflow_handle(engine_id).execute_update(update, request)
    except WorkflowUpdateFailedError as exc:
        raise Refused(_reason(exc)) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise Refused(f"the engine {engine_id} is not running (start it with `floor schedules apply`)") from None
        raise


async def pause_or_resume(
    client: Client, engine_id: str, pause: bool, reason: str, by: str, *, accept_s: float | None = None
) -> str:
    """The engine's note on the pause or resume; `Refused` with its reason. With `accept_s`, a
    `TimeoutError` when no worker accepts the update within it: nothing was applied (Temporal
    may still hand the update to the next worker; a pause then answers "already paused")."""
    import asyncio

    from temporalio.client import WorkflowUpdateStage

    from workflows.engine import EngineWorkflow

    update = EngineWorkflow.pause if pause else EngineWorkflow.resume
    handle = client.get_workflow_handle(engine_id)
    try:
        accepting = handle.start_update(
            update, {"reason": reason, "by": by}, wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        accepted = await (asyncio.wait_for(accepting, accept_s) if accept_s is not None else accepting)
        return await accepted.result()
    except WorkflowUpdateFailedError as exc:
        raise Refused(_reason(exc)) from None


async def signal_pause(client: Client, settings: Settings, reason: str, by: str) -> None:
    """Pause the engine by its `pause_engine` signal: Temporal records it whether or not a worker
    runs, and the engine pauses when one does (holding its queues before anything else is
    sent). An engine not running is started with it (signal-with-start), paused from its first
    step."""
    from workflows.engine import EngineWorkflow

    await client.start_workflow(
        EngineWorkflow.run,
        engine_input(settings).model_dump(mode="json"),
        id=settings.engine_id,
        task_queue=settings.temporal.task_queue,
        static_summary=f"Floor Engine {settings.engine_name}",
        start_signal="pause_engine",
        start_signal_args=[{"reason": reason, "by": by}],
    )


async def check_risk(client: Client, engine_id: str) -> RiskCheckResult:
    """Run a risk check now: the breakers it opened or closed, and every one not CLOSED."""
    from workflows.engine import EngineWorkflow

    try:
        return await client.get_workflow_handle(engine_id).execute_update(EngineWorkflow.check_risk, {})
    except WorkflowUpdateFailedError as exc:
        raise Refused(_reason(exc)) from None


async def change_breaker(client: Client, engine_id: str, action: str, scope: str, by: str, reason: str) -> BreakerEvent:
    """`half_open` (ask for a probe of an open breaker) or `trip` (open one by hand)."""
    from workflows.engine import EngineWorkflow

    update = {"half_open": EngineWorkflow.half_open_breaker, "trip": EngineWorkflow.trip_breaker}[action]
    try:
        return await client.get_workflow_handle(engine_id).execute_update(
            update, {"scope": scope, "by": by, "reason": reason}
        )
    except WorkflowUpdateFailedError as exc:
        raise Refused(_reason(exc)) from None


async def engine_breakers(client: Client, engine_id: str) -> list[Breaker]:
    from workflows.engine import EngineWorkflow

    raw = await client.get_workflow_handle(engine_id).query(EngineWorkflow.breakers)
    return [Breaker.model_validate(b) for b in raw]


async def engine_status(client: Client, engine_id: str) -> EngineStatus:
    from workflows.engine import EngineWorkflow

    return await client.get_workflow_handle(engine_id).query(EngineWorkflow.status)


def _reason(exc: WorkflowUpdateFailedError) -> str:
    cause = exc.cause
    return getattr(cause, "message", None) or str(cause or exc)


async def apply_schedules(client: Client, settings: Settings) -> list[str]:
    """Create or update the rebalance and harvest checks from the config; paused when the
    engine is. Running it twice changes nothing. Returns the schedule ids."""
    from workflows.engine import EngineCheckWorkflow

    engine_id = settings.engine_id
    paused = False
    try:
        paused = (await engine_status(client, engine_id)).state == EngineState.PAUSED
    except RPCError:
        pass
    every = {
        Operation.REBALANCE: settings.engine.rebalance_check_every_s,
        Operation.HARVEST: settings.engine.harvest_check_every_s,
    }
    ids = []
    for kind in CHECKS:
        sid = schedule_id(engine_id, kind)
        schedule = Schedule(
            action=ScheduleActionStartWorkflow(
                EngineCheckWorkflow.run,
                {"engine_id": engine_id, "kind": kind.value},
                id=f"{engine_id}/{kind.value}-check",
                task_queue=settings.temporal.task_queue,
            ),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=every[kind]))]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
            state=ScheduleState(paused=paused, note="the engine is paused" if paused else ""),
        )
        try:
            await client.create_schedule(sid, schedule)
        except ScheduleAlreadyRunningError:

            def keep_pause(current, schedule=schedule):
                schedule.state = current.description.schedule.state  # paused or not, as the engine left it
                return ScheduleUpdate(schedule=schedule)

            await client.get_schedule_handle(sid).update(keep_pause)
        ids.append(sid)
    ids.append(await _apply_reconcile_schedule(client, settings))
    ids.append(await _apply_risk_schedule(client, settings))
    return ids


async def _apply_reconcile_schedule(client: Client, settings: Settings) -> str:
    """Reconciliation reads only, so it keeps running while the engine is paused: that is
    when an operator most wants to know what the chain holds."""
    from workflows.reconcile import ReconcileWorkflow

    action = ScheduleActionStartWorkflow(
        ReconcileWorkflow.run,
        reconcile_input(settings).model_dump(mode="json"),
        id=f"{settings.engine_id}/reconcile",
        task_queue=settings.temporal.task_queue,
    )
    return await _apply_unpaused(
        client, schedule_id(settings.engine_id, "reconcile"), action, settings.reconcile.every_s
    )


async def _apply_risk_schedule(client: Client, settings: Settings) -> str:
    """The risk check reads only, and must watch while the engine is paused (a drain does not
    wait), so it is never paused with the engine."""
    from workflows.engine import EngineCheckWorkflow

    action = ScheduleActionStartWorkflow(
        EngineCheckWorkflow.run,
        {"engine_id": settings.engine_id, "kind": RISK_CHECK},
        id=f"{settings.engine_id}/{RISK_CHECK}-check",
        task_queue=settings.temporal.task_queue,
    )
    return await _apply_unpaused(
        client, schedule_id(settings.engine_id, RISK_CHECK), action, settings.risk.check_every_s
    )


async def _apply_unpaused(client: Client, sid: str, action: ScheduleActionStartWorkflow, every_s: int) -> str:
    """Create or update a schedule the engine's pause does not touch."""
    schedule = Schedule(
        action=action,
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=every_s))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(sid, schedule)
    except ScheduleAlreadyRunningError:
        await client.get_schedule_handle(sid).update(lambda _: ScheduleUpdate(schedule=schedule))
    return sid


async def reconcile(client: Client, settings: Settings, wait: bool = True):
    """Run a reconciliation now (`floor reconcile`); its result, or its handle."""
    from datetime import UTC, datetime

    from workflows.reconcile import ReconcileWorkflow

    workflow_id = f"{settings.engine_id}/reconcile-now-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    handle = await client.start_workflow(
        ReconcileWorkflow.run,
        reconcile_input(settings).model_dump(mode="json"),
        id=workflow_id,
        task_queue=settings.temporal.task_queue,
        result_type=ReconcileResult,
    )
    return await handle.result() if wait else handle


class EngineDoor:
    """Activities through which the engine's workflows reach Temporal itself."""

    def __init__(self, client: Client, task_queue: str, settings: Settings, signer: str | None):
        self.client, self.task_queue, self.settings, self.signer = client, task_queue, settings, signer

    @activity.defn
    async def hold_queues(self, raw: dict) -> list[str]:
        """Hold or release the signer's queue on every chain; a queue not running yet starts
        held, so nothing slips out while the engine is paused."""
        from workflows.txqueue import TxQueueWorkflow

        hold = QueueHold.model_validate(raw)
        if self.signer is None:
            return []
        done = []
        for chain in self.settings.chains:
            if chain.executor is None:
                continue
            qid = queue_id(chain.id, self.signer)
            start = WithStartWorkflowOperation(
                TxQueueWorkflow.run,
                queue_input(self.settings, chain.id, self.signer),
                id=qid,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                task_queue=self.task_queue,
            )
            await self.client.execute_update_with_start_workflow(
                TxQueueWorkflow.hold, hold.model_dump(), start_workflow_operation=start
            )
            done.append(qid)
        return done

    @activity.defn
    async def pause_schedules(self, raw: dict) -> list[str]:
        engine_id, paused, note = raw["engine_id"], bool(raw["paused"]), str(raw.get("note", ""))
        done = []
        for kind in CHECKS:
            handle = self.client.get_schedule_handle(schedule_id(engine_id, kind))
            try:
                if paused:
                    await handle.pause(note=note)
                else:
                    await handle.unpause(note=note)
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:  # schedules not applied: nothing to pause
                    continue
                raise
            done.append(handle.id)
        return done

    @activity.defn
    async def engine_request(self, raw: dict) -> str:
        """A schedule's check: ask the engine for the operation. A refusal (a cooldown, an
        operation running, the engine paused) is an answer, not a failure. The risk check's
        answer is what it changed."""
        if raw["kind"] == RISK_CHECK:
            try:
                result = await check_risk(self.client, raw["engine_id"])
            except Refused as exc:
                return f"refused: {exc}"
            except RPCError as exc:
                raise ApplicationError(f"engine unreachable: {exc}") from None
            changes = [f"{e.scope} {e.from_state.value}->{e.to_state.value}: {e.reason}" for e in result.events]
            return "; ".join(changes) or f"nothing tripped ({len(result.breakers)} breakers not closed)"
        kind = Operation(raw["kind"])
        try:
            started = await ask(
                self.client, raw["engine_id"], kind, {"by": "schedule", "reason": f"{kind.value} check"}
            )
        except Refused as exc:
            return f"refused: {exc}"
        except RPCError as exc:
            raise ApplicationError(f"engine unreachable: {exc}") from None
        return f"started {started.workflow_id}"

    def all(self) -> list:
        return [self.hold_queues, self.pause_schedules, self.engine_request]
