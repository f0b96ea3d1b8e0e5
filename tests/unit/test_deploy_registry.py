"""The executor's rules in canonical form (floor/deploy/registry.py): the code's declaration,
its JSON and hash, the differences between two sets one line each, the owner's transactions
from one to another (removals included), and the registry file."""

from __future__ import annotations

import json

import pytest
from eth_abi.abi import decode

from floor.calls import selector
from floor.deploy.registry import Entry, RegistryError, Rules, load_registry, registry_path
from floor.permissions import (
    SET_LISTED,
    SET_LOSS_BOUND,
    SET_RULES,
    ExecutorSetup,
    Feed,
    LossBound,
    PermissionSet,
    approval,
    to_self,
    token_asset,
    transfers,
)

EXECUTOR = "0x" + "ee" * 20
USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
VAULT = "0x" + "11" * 20
TREASURY, OTHER = "0x" + "44" * 20, "0x" + "55" * 20
FEED = "0x" + "fe" * 20


def setup(destinations=(TREASURY,), bps=150, deposit=True) -> ExecutorSetup:
    usdc = token_asset(USDC, "USDC", 6)
    sets = [transfers([USDC], destinations), approval(USDC, VAULT)]
    if deposit:
        sets.append(to_self(VAULT, "deposit(uint256,address)", 1, assets=[usdc]))
    return ExecutorSetup(
        PermissionSet.union(sets), {"USDC": Feed(FEED, 86_400)}, LossBound(max_loss_bps=bps), {USDC: ("USDC", 6)}
    )


def test_json_round_trip_and_an_order_free_hash():
    rules = Rules.declared(setup())
    again = Rules.from_json(json.loads(json.dumps(rules.as_json())))
    assert again == rules and again.digest == rules.digest
    assert (
        Rules.declared(setup(destinations=(OTHER, TREASURY))).digest
        == Rules.declared(setup(destinations=(TREASURY, OTHER))).digest
    )
    assert Rules.declared(setup(bps=100)).digest != rules.digest


def test_each_difference_is_one_line():
    chain, code = Rules.declared(setup()), Rules.declared(setup(destinations=(TREASURY, OTHER), bps=100, deposit=False))
    lines = chain.differences(code, ours="the chain", theirs="the code")
    assert all("\n" not in line for line in lines)
    assert any(
        line.startswith("rule deposit(uint256,address) on") and "allowed on the chain, not by the code" in line
        for line in lines
    )
    assert any(f"{OTHER[:6]}" in line.lower() and "missing on the chain, the code lists it" in line for line in lines)
    assert "loss bound: maxLossBps 150 on the chain, 100 by the code" in lines
    assert not chain.differences(chain, ours="a", theirs="b")


def test_the_transition_adds_changes_and_removes():
    old, new = Rules.declared(setup()), Rules.declared(setup(destinations=(OTHER,), bps=100, deposit=False))
    calls = old.transition(EXECUTOR, new)
    kinds = [c.data[:10] for c, _ in calls]
    assert kinds.count("0x" + selector(SET_LISTED).hex()) == 2  # OTHER added, TREASURY removed
    assert "0x" + selector(SET_LOSS_BOUND).hex() in kinds
    (rules_call,) = [c for c, _ in calls if c.data.startswith("0x" + selector(SET_RULES).hex())]
    targets, _selectors, structs = decode(
        [
            "address[]",
            "bytes4[]",
            "(bool,bool,bool,(uint256,uint256,uint8,uint256,bytes32)[],bytes32[],uint256,uint256)[]",
        ],
        bytes.fromhex(rules_call.data[10:]),
    )
    assert [t.lower() for t in targets] == [VAULT] and structs[0][0] is False  # the deposit rule removed
    assert any("removed" in what for _, what in calls)
    assert not new.transition(EXECUTOR, new)
    # From nothing: everything the code declares, assets first.
    fresh = Rules().transition(EXECUTOR, Rules.declared(setup()))
    assert fresh[0][1].startswith("setAssets") and fresh[-1][1].startswith("setLossBound")


def entry(rules: Rules, action="deploy") -> Entry:
    return Entry(
        action,
        EXECUTOR,
        "0x" + "00" * 32,
        rules.digest,
        "sha256:x",
        1,
        None,
        1,
        "0.1.0",
        TREASURY,
        OTHER,
        OTHER,
        rules.as_json(),
        "2026-01-01T00:00:00+00:00",
    )


def test_the_registry_file_keeps_every_entry_newest_last(tmp_path):
    registry = load_registry("testnet", 11155111, tmp_path)
    assert registry.path == registry_path("testnet", tmp_path) and registry.latest is None
    with pytest.raises(RegistryError, match="no deployment of testnet"):
        registry.current()
    first, second = Rules.declared(setup()), Rules.declared(setup(bps=100))
    registry.record(entry(first))
    registry.record(entry(second, "update"))
    again = load_registry("testnet", 11155111, tmp_path)
    assert [e.action for e in again.entries] == ["deploy", "update"]
    assert again.previous_rules().rules_hash == first.digest
    assert again.current().declared == second
    with pytest.raises(RegistryError, match="records chain 11155111"):
        load_registry("testnet", 1, tmp_path)
