"""Pure pieces of the money path: balance-guard bounds, permission sets, batch packing."""

import functools
import operator

import pytest
from eth_abi import decode

from floor.batching import MAX_CALLS, pack_batches
from floor.calls import call, selector
from floor.errors import BatchTooLarge
from floor.guards import Expected, guarded, min_delta
from floor.permissions import (
    DESTINATIONS,
    IS_SELF,
    SET_KEYED_ASSETS,
    SET_LISTED,
    SET_LOSS_BOUND,
    SET_RULES,
    ExecutorSetup,
    Feed,
    Permission,
    PermissionSet,
    approval,
    is_self,
    owner_calls,
    spenders_of,
    to_self,
    token_asset,
    transfers,
    word_of,
)

TOKEN, POOL, EXECUTOR, TREASURY, ATTACKER = ("0x" + c * 40 for c in "12345")


def test_min_delta_gives_way_by_the_slippage_rounded_to_a_whole_unit():
    assert min_delta(10_000, 50) == 9_950
    assert min_delta(1_001, 50) == 1_001 - 6  # 5.005 rounds up to 6
    assert min_delta(-10_000, 50) == -10_050  # a payment may exceed its quote by as much
    assert min_delta(10_000, 0) == 10_000
    with pytest.raises(ValueError, match="slippage"):
        min_delta(1, 10_001)


def test_guarded_snapshots_before_and_checks_after():
    action = [call(POOL, "ok()")]
    wrapped = guarded(EXECUTOR, action, [Expected(TOKEN, 100), Expected(POOL, -7)], 100)
    assert [c.data[:10] for c in wrapped] == [
        "0x" + selector("guardStart(address)").hex(),
        "0x" + selector("guardStart(address)").hex(),
        action[0].data,
        "0x" + selector("guardCheck(address,int256)").hex(),
        "0x" + selector("guardCheck(address,int256)").hex(),
    ]
    assert decode(["address", "int256"], bytes.fromhex(wrapped[3].data[10:]))[1] == 99
    assert decode(["address", "int256"], bytes.fromhex(wrapped[4].data[10:]))[1] == -8
    assert guarded(EXECUTOR, action, [], 50) == action


def test_union_dedupes_and_refuses_two_rules_for_one_call():
    union = PermissionSet.union([approval(TOKEN, POOL), approval(TOKEN, ATTACKER), approval(TOKEN, POOL)])
    assert len(union.rules) == 1 and len(union.members) == 2
    with pytest.raises(ValueError, match="two different rules for supply"):
        PermissionSet.union([to_self(POOL, "supply(uint256,address)", 1), to_self(POOL, "supply(uint256,address)", 0)])


def test_refusal_mirrors_the_contract_rules():
    rules = PermissionSet.union(
        [approval(TOKEN, POOL), to_self(POOL, "deposit(uint256,address)", 1), transfers([TOKEN], [TREASURY])]
    )
    assert rules.refusal(call(TOKEN, "approve(address,uint256)", POOL, 5), EXECUTOR) is None
    assert "not an allowed address" in rules.refusal(call(TOKEN, "approve(address,uint256)", ATTACKER, 5), EXECUTOR)
    assert rules.refusal(call(POOL, "deposit(uint256,address)", 5, EXECUTOR), EXECUTOR) is None
    assert "argument 1 is" in rules.refusal(call(POOL, "deposit(uint256,address)", 5, ATTACKER), EXECUTOR)
    assert rules.refusal(call(TOKEN, "transfer(address,uint256)", TREASURY, 5), EXECUTOR) is None
    assert rules.refusal(call(TOKEN, "transfer(address,uint256)", ATTACKER, 5), EXECUTOR) is not None
    assert "not allowed" in rules.refusal(
        call(TOKEN, "transferFrom(address,address,uint256)", EXECUTOR, POOL, 5), EXECUTOR
    )
    assert "may not carry ETH" in rules.refusal(call(POOL, "deposit(uint256,address)", 5, EXECUTOR, value=1), EXECUTOR)
    assert "missing" in rules.refusal(
        call(POOL, "deposit(uint256)", 5).model_copy(
            update={"data": "0x" + selector("deposit(uint256,address)").hex() + "00" * 32}
        ),
        EXECUTOR,
    )
    plain = call(TREASURY, "ok()").model_copy(update={"data": "0x", "value": 1})
    assert rules.refusal(plain, EXECUTOR) is None
    assert "not a destination" in rules.refusal(plain.model_copy(update={"target": ATTACKER}), EXECUTOR)


def test_owner_calls_encode_every_rule_list_and_the_loss_bound():
    rules = PermissionSet.union([approval(TOKEN, POOL), to_self(POOL, "deposit(uint256,address)", 1)])
    set_rules, set_listed, set_bound = owner_calls(EXECUTOR, rules)
    targets, selectors, encoded = decode(
        [
            "address[]",
            "bytes4[]",
            "(bool,bool,bool,(uint256,uint256,uint8,uint256,bytes32)[],bytes32[],uint256,uint256)[]",
        ],
        bytes.fromhex(set_rules.data[10:]),
    )
    by_target = dict(zip(targets, zip(selectors, encoded, strict=True), strict=True))
    approve_rule = (True, False, False, ((0, 0, 1, 0, spenders_of(TOKEN)),), (), 0, 1)
    assert by_target[TOKEN] == (selector("approve(address,uint256)"), approve_rule)
    deposit_rule = (True, False, False, ((1, 0, IS_SELF, 0, bytes(32)),), (), 0, 1)
    assert by_target[POOL] == (selector("deposit(uint256,address)"), deposit_rule)
    assert set_rules.data[:10] == "0x" + selector(SET_RULES).hex()
    assert set_listed.data[:10] == "0x" + selector(SET_LISTED).hex()
    assert decode(["bytes32", "bytes32[]", "bool"], bytes.fromhex(set_listed.data[10:])) == (
        spenders_of(TOKEN),
        (word_of(POOL),),
        True,
    )
    assert set_bound.data[:10] == "0x" + selector(SET_LOSS_BOUND).hex()
    assert spenders_of(TOKEN) != spenders_of(POOL) != DESTINATIONS
    assert Permission(POOL, "x()", (is_self(0),)).as_rule() == (
        True,
        False,
        False,
        [(0, 0, IS_SELF, 0, bytes(32))],
        [],
        0,
        1,
    )


def test_markets_sharing_a_pool_share_its_rule_and_key_their_own_assets():
    """Two Aave reserves on one pool: one supply rule keyed by the reserve (word 0), each key
    valuing its own asset and aToken; the owner's setKeyedAssets names them."""
    other = "0x" + "6" * 40
    sets = [
        to_self(
            POOL,
            "supply(address,uint256,address,uint16)",
            2,
            key=(1, 1),
            keyed={word_of(t): [token_asset(t, "USDC", 6)]},
        )
        for t in (TOKEN, other)
    ]
    rules = PermissionSet.union(sets)
    (rule,) = rules.rules
    assert (rule.key_word, rule.key_span, rule.assets) == (1, 1, ())
    assert {(k.key, k.assets) for k in rules.keyed} == {
        (word_of(TOKEN), (word_of(TOKEN),)),
        (word_of(other), (word_of(other),)),
    }
    with pytest.raises(ValueError, match="two different rules"):
        PermissionSet.union([sets[0], to_self(POOL, "supply(address,uint256,address,uint16)", 2)])
    keyed = [
        c
        for c in owner_calls(EXECUTOR, ExecutorSetup(rules, {"USDC": Feed(TREASURY, 86_400)}))
        if c.data.startswith("0x" + selector(SET_KEYED_ASSETS).hex())
    ]
    (only,) = keyed
    target, keys, _assets = decode(["address", "bytes32[]", "bytes32[][]"], bytes.fromhex(only.data[10:]))
    assert target.lower() == POOL.lower() and set(keys) == {word_of(TOKEN), word_of(other)}


def test_groups_fill_batches_in_order_and_are_never_split():
    group = [call(POOL, "ok()")] * 5
    batches = pack_batches([group] * 40)
    assert [len(b) for b in batches] == [12, 12, 12, 4]  # 12 groups of 5 per 64-call batch
    assert functools.reduce(operator.iadd, batches, []) == [group] * 40
    assert pack_batches([[call(POOL, "a()")] * 40, [call(POOL, "b()")] * 30]) == [
        [[call(POOL, "a()")] * 40],
        [[call(POOL, "b()")] * 30],
    ]
    with pytest.raises(BatchTooLarge, match=f"65 calls; the executor takes at most {MAX_CALLS}"):
        pack_batches([[call(POOL, "ok()")] * (MAX_CALLS + 1)])
