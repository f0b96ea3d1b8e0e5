"""What configuring the engine changes, in words (floor/catalogue.py's `config_change`): targets
added, removed and reweighted by their market, every other setting by its path, and nothing
when nothing differs."""

from __future__ import annotations

from floor.catalogue import config_change
from floor.engine import EnginePolicy
from floor.operations import EngineConfig

TREASURY = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"


def target(protocol: str, weight_bps: int, market: str = "USDC", lot: int = 1) -> dict:
    key = {"chain_id": 1, "protocol": protocol, "market": market}
    return {"key": key, "asset": "USDC", "weight_bps": weight_bps, "lot": str(lot)}


def config(targets: list[dict], caps: dict | None = None, **policy) -> EngineConfig:
    catalogue = {
        "chains": [{"chain_id": 1, "tokens": {"USDC": 6}, "destinations": [TREASURY]}],
        "targets": targets,
        "weights_of": "total",
        "caps": caps or {},
    }
    return EngineConfig.model_validate({"catalogue": catalogue, "policy": EnginePolicy(**policy).model_dump()})


def test_the_same_configuration_changes_nothing():
    same = config([target("aave-v3", 6_000), target("spark", 4_000)])
    change = config_change(same, same)
    assert not change.changed and change.lines() == ["nothing to change"]


def test_targets_added_removed_and_reweighted_by_their_market():
    before = config([target("aave-v3", 6_000), target("spark", 4_000)])
    after = config([target("aave-v3", 5_000), target("compound-v3", 5_000, market="cUSDCv3")])
    change = config_change(before, after)
    assert change.lines() == [
        "target 1:compound-v3:cUSDCv3 added at 5000 bps",
        "target 1:spark:USDC removed (was 4000 bps)",
        "target 1:aave-v3:USDC reweighted: 6000 -> 5000 bps",
    ]
    assert change.fields == []


def test_caps_policy_and_a_targets_lot_by_their_path():
    before = config([target("aave-v3", 10_000)], {"protocols": [{"protocol": "aave-v3", "max_bps": 5_000}]})
    after = config(
        [target("aave-v3", 10_000, lot=32)],
        {"protocols": [{"protocol": "aave-v3", "max_bps": 4_000}], "chains": [{"chain_id": 1, "max_bps": 9_000}]},
        rebalance_cooldown_s=600,
    )
    assert config_change(before, after).lines() == [
        "targets.1:aave-v3:USDC.lot: 1 -> 32",
        "caps.chains.1: (none) -> 9000",
        "caps.protocols.aave-v3.max_bps: 5000 -> 4000",
        "policy.rebalance_cooldown_s: 3600 -> 600",
    ]


def test_no_configuration_before_adds_every_target():
    after = config([target("aave-v3", 6_000), target("spark", 4_000)])
    change = config_change(None, after)
    assert [t.key for t in change.added] == ["1:aave-v3:USDC", "1:spark:USDC"] and change.changed
    started = change.model_copy(update={"started": True})
    assert started.lines() == ["the engine was not running: started with the config (2 targets)"]
