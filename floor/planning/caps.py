"""The caps on what sits in markets, each in bps of the floor's total value: one set of models
for the engine's catalogue (`floor.operations.Catalogue`), the operations' inputs and the
total-value planner (`floor.planning.total`). Their JSON is what the engine's input, the doors
and recorded histories carry. The config's TOML shape (`floor.config.StrategyCapsConfig`) is
turned into these by the catalogue."""

from __future__ import annotations

from pydantic import Field, StrictInt

from floor.models import AdapterKey, ChainId, FrozenModel


class MarketCapBps(FrozenModel):
    key: AdapterKey
    max_bps: StrictInt = Field(ge=0, le=10_000)


# (No docstrings on the caps' parts: a docstring is their JSON schema's description.)
class ProtocolCapBps(FrozenModel):  # a protocol's markets on every chain together
    protocol: str
    max_bps: StrictInt = Field(ge=0, le=10_000)
    source: str = "config"  # "config", or "score" (the protocol's risk score set the lower cap)


class ChainCapBps(FrozenModel):  # what is deployed in markets on one chain (idle balances do not count)
    chain_id: ChainId
    max_bps: StrictInt = Field(ge=0, le=10_000)


class ClusterCapBps(FrozenModel):  # markets whose risks move together (one oracle, one collateral, one curator)
    name: str
    keys: list[AdapterKey] = Field(min_length=1)
    max_bps: StrictInt = Field(ge=0, le=10_000)


class PlanCaps(FrozenModel):
    """The allocation planner's caps (`floor.planning.total`), each in bps of the floor's total
    value, as the engine's catalogue carries them: the config's `strategy.caps`, each
    protocol's lowered to its risk score's `max_weight_bps` when `strategy.score_caps`
    (computed by `engine_input`, outside any workflow)."""

    markets: list[MarketCapBps] = []
    protocols: list[ProtocolCapBps] = []
    chains: list[ChainCapBps] = []
    clusters: list[ClusterCapBps] = []  # correlated targets (`strategy.cluster_limit_bps`)
