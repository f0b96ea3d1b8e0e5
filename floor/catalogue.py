"""The engine's catalogue and policy from the config, pure (no Temporal, no I/O beyond the
packaged risk data): what the engine is started and configured with, and what changed
between two configurations in words (`floor configure`, the worker's start).

- `engine_input(settings)`: the treasury's catalogue and policy from the config.
- `plan_caps`, `cluster_caps`: the planner's caps, from the config and the risk data.
- `reconcile_input(settings)`: what a reconciliation run reads.
- `queue_input(settings, chain_id, signer)`: a transaction queue's start input.
- `config_change(before, after)`: a running engine's configuration against the config's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict

from floor.adapters.registry import executor_permissions
from floor.config import Settings
from floor.engine import EnginePolicy
from floor.errors import UnknownChain
from floor.models import AdapterKey
from floor.operations import Catalogue, ChainCatalogue, EngineConfig, EngineInput, StrategyTarget
from floor.planning.caps import ChainCapBps, ClusterCapBps, MarketCapBps, PlanCaps, ProtocolCapBps
from floor.reconcile import ReconcileInput
from floor.txqueue import QueueInput, pair_key


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


def reconcile_input(settings: Settings) -> ReconcileInput:
    return ReconcileInput(
        chains=[c.id for c in settings.chains if c.executor],
        engine_id=settings.engine_id,
        trip_above_bps=settings.reconcile.trip_above_bps,
    )


# ---------------------------------------------------------------------------- what changed


class TargetWeight(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str  # chain:protocol:market
    weight_bps: int


class Reweighted(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    from_bps: int
    to_bps: int


class FieldChange(BaseModel):
    """One setting of the catalogue or the policy, by its path (e.g. `caps.protocols.aave-v3.max_bps`,
    `policy.rebalance_cooldown_s`), with its value before and after (null: absent)."""

    model_config = ConfigDict(frozen=True)

    field: str
    before: Any = None
    after: Any = None


class ConfigChange(BaseModel):
    """What configuring the engine changed: targets added, removed or reweighted, and every
    other setting (caps, chains, the policy) that differs. `started`: the engine was not
    running and was started with the config (its targets are all `added`)."""

    model_config = ConfigDict(frozen=True)

    started: bool = False
    added: list[TargetWeight] = []
    removed: list[TargetWeight] = []
    reweighted: list[Reweighted] = []
    fields: list[FieldChange] = []

    @property
    def changed(self) -> bool:
        return bool(self.started or self.added or self.removed or self.reweighted or self.fields)

    def lines(self) -> list[str]:
        """In words, one line each; "nothing to change" when nothing did."""
        if self.started:
            return [f"the engine was not running: started with the config ({len(self.added)} targets)"]
        if not self.changed:
            return ["nothing to change"]
        lines = [f"target {t.key} added at {t.weight_bps} bps" for t in self.added]
        lines += [f"target {t.key} removed (was {t.weight_bps} bps)" for t in self.removed]
        lines += [f"target {t.key} reweighted: {t.from_bps} -> {t.to_bps} bps" for t in self.reweighted]
        lines += [f"{f.field}: {_shown(f.before)} -> {_shown(f.after)}" for f in self.fields]
        return lines


def config_change(before: EngineConfig | None, after: EngineConfig) -> ConfigChange:
    """`after` against `before` (None: no configuration yet, so every target is added)."""
    if before is None:
        return ConfigChange(
            added=[TargetWeight(key=str(t.key), weight_bps=t.weight_bps) for t in after.catalogue.targets]
        )
    old, new = _targets(before), _targets(after)
    added = [TargetWeight(key=k, weight_bps=t.weight_bps) for k, t in new.items() if k not in old]
    removed = [TargetWeight(key=k, weight_bps=t.weight_bps) for k, t in old.items() if k not in new]
    reweighted = [
        Reweighted(key=k, from_bps=old[k].weight_bps, to_bps=t.weight_bps)
        for k, t in new.items()
        if k in old and old[k].weight_bps != t.weight_bps
    ]
    fields = []
    for k in sorted(old.keys() & new.keys()):  # a target kept, changed otherwise than by its weight (its lot)
        then, now = _target_fields(old[k]), _target_fields(new[k])
        fields += [
            FieldChange(field=f"targets.{k}.{name}", before=then[name], after=now[name])
            for name in then
            if then[name] != now[name]
        ]
    was, now = _settings_of(before), _settings_of(after)
    fields += [
        FieldChange(field=path, before=was.get(path), after=now.get(path))
        for path in sorted(was.keys() | now.keys())
        if was.get(path) != now.get(path)
    ]
    return ConfigChange(added=added, removed=removed, reweighted=reweighted, fields=fields)


def _targets(config: EngineConfig) -> dict[str, StrategyTarget]:
    return {str(t.key): t for t in config.catalogue.targets}


def _target_fields(target: StrategyTarget) -> dict[str, Any]:
    return target.model_dump(mode="json", exclude={"key", "weight_bps"})


def _settings_of(config: EngineConfig) -> dict[str, Any]:
    """The configuration but its targets as flat `path: value` pairs; the entries of a list
    keyed by what they are (a chain by its id, a market cap by its market, a protocol cap by
    its protocol, a cluster by its name), so a change names the entry, not its position."""
    catalogue = config.catalogue
    caps = catalogue.caps
    tree = {
        "rebalance_drift_bps": catalogue.rebalance_drift_bps,
        "weights_of": catalogue.weights_of,
        "min_trade_value": catalogue.min_trade_value,
        "chains": {
            str(c.chain_id): {"tokens": c.tokens, "destinations": sorted(c.destinations)} for c in catalogue.chains
        },
        "caps": {
            "markets": {str(m.key): m.max_bps for m in caps.markets},
            "protocols": {p.protocol: p.model_dump(mode="json", exclude={"protocol"}) for p in caps.protocols},
            "chains": {str(c.chain_id): c.max_bps for c in caps.chains},
            "clusters": {c.name: {"max_bps": c.max_bps, "keys": sorted(str(k) for k in c.keys)} for c in caps.clusters},
        },
        "policy": config.policy.model_dump(mode="json"),
    }
    flat: dict[str, Any] = {}
    _flatten(tree, "", flat)
    return flat


def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _flatten(v, f"{path}.{k}" if path else str(k), out)
    elif value != {}:
        out[path] = value


def _shown(value: Any) -> str:
    return "(none)" if value is None else str(value)


def queue_input(settings: Settings, chain_id: int, signer: str, **overrides: Any) -> QueueInput:
    """A queue's start input from the configuration: its chain's executor, depth, policy and
    the (target, selector) pairs the executor allows."""
    chain = settings.chain(chain_id)
    if chain.executor is None:
        raise UnknownChain(f"chain {chain_id} has no executor address configured")
    allowed = sorted({pair_key(p.target, "0x" + p.selector.hex()) for p in executor_permissions(chain).rules})
    fields: dict[str, Any] = {
        "chain_id": chain_id,
        "signer": signer,
        "executor": chain.executor,
        "confirmations": chain.confirmations,
        "allowed": allowed,
        "max_in_flight": chain.tx.max_in_flight,
        "send_batch": chain.tx.send_batch,
        "stuck_after_s": chain.tx.stuck_after_s,
        "max_attempts": chain.tx.max_attempts,
        "private_relay": chain.flashbots.relay_url is not None,
        "private_on_missed": chain.flashbots.on_missed,
        "private_max_attempts": chain.flashbots.max_attempts,
        "finality": chain.finality,
        "finality_poll_s": chain.finality_poll_s,
    }
    return QueueInput(**(fields | overrides))
