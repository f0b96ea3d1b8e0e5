"""Convex's adapter, pure: CVX's cliff schedule, the Booster calls around Curve's (mainnet's
selectors), the executor rules (getReward pays only the executor), the pool-info refusals,
and the config."""

from __future__ import annotations

import pytest
from eth_abi import decode, encode
from pydantic import ValidationError

from floor.adapters.base import Asset, Deposit, Withdraw
from floor.calls import ReadResult, call
from floor.guards import Expected
from floor.models import AdapterKey
from floor.protocols import protocol
from floor.protocols.convex import ConvexAdapter, ConvexMarketConfig
from floor.protocols.convex.adapter import cvx_minted
from floor.protocols.convex.errors import PoolMismatch, PoolShutdown

USDC = Asset("USDC", "0x" + "aa" * 20, 6)
POOL, BOOSTER, REWARDS, CRV, CVX, ME, OTHER = ("0x" + c * 20 for c in ("bb", "cc", "dd", "ee", "ff", "11", "22"))
CONVEX = ConvexAdapter(
    key=AdapterKey(chain_id=1, protocol="convex", market="crvUSD-USDC"),
    asset=USDC,
    pool=POOL,
    lp_token=POOL,
    kind="ng",
    n_coins=2,
    coin_index=0,
    crv=CRV,
    booster=BOOSTER,
    pid=7,
    reward_pool=REWARDS,
    cvx=CVX,
)
WAD = 10**18
PER_CLIFF, CLIFFS, MAX = 100_000 * WAD, 1000, 100_000_000 * WAD


def ok(*values, types=None):
    return ReadResult(True, encode(types or ["uint256"] * len(values), list(values)))


def test_cvx_is_minted_per_crv_by_the_cliff_the_supply_is_in():
    assert cvx_minted(1_000 * WAD, 1, PER_CLIFF, CLIFFS, MAX) == 1_000 * WAD  # cliff 0: 1 CVX per CRV
    assert cvx_minted(1_000 * WAD, 50_000_000 * WAD, PER_CLIFF, CLIFFS, MAX) == 500 * WAD  # cliff 500: half
    assert cvx_minted(1_000 * WAD, 50_099_999 * WAD, PER_CLIFF, CLIFFS, MAX) == 500 * WAD  # same cliff
    assert cvx_minted(1_000 * WAD, 50_100_000 * WAD, PER_CLIFF, CLIFFS, MAX) == 499 * WAD  # the next one
    assert cvx_minted(1_000 * WAD, 99_950_000 * WAD, PER_CLIFF, CLIFFS, MAX) == WAD  # last cliff: 1/1000
    assert cvx_minted(10**9 * WAD, 99_950_000 * WAD, PER_CLIFF, CLIFFS, MAX) == 50_000 * WAD  # capped at maxSupply
    assert cvx_minted(1_000 * WAD, MAX, PER_CLIFF, CLIFFS, MAX) == 0  # past the last cliff
    assert cvx_minted(3, 50_000_000 * WAD, PER_CLIFF, CLIFFS, MAX) == 1  # rounds down


def test_a_deposit_goes_through_the_booster_with_stake_true():
    quote = [Expected(USDC.address, -1_000), Expected(POOL, 10_001)]
    calls = CONVEX.protected_calls(Deposit(1_000), ME, quote, 10)
    assert [(c.target, c.data[2:10]) for c in calls] == [
        (USDC.address, "095ea7b3"),
        (POOL, "b72df5de"),  # NG's add_liquidity(uint256[],uint256)
        (USDC.address, "095ea7b3"),
        (POOL, "095ea7b3"),
        (BOOSTER, "43a0d066"),  # deposit(uint256,uint256,bool)
        (POOL, "095ea7b3"),
    ]
    assert decode(["uint256", "uint256", "bool"], bytes.fromhex(calls[4].data[10:])) == (7, 10_001 - 11, True)
    assert decode(["address", "uint256"], bytes.fromhex(calls[5].data[10:]))[1] == 0


def test_an_exit_unwraps_from_the_reward_pool_then_burns_with_the_min_out():
    quote = [Expected(USDC.address, 1_000), Expected(POOL, -50), Expected(REWARDS, -250)]
    unwrap, burn = CONVEX.protected_calls(Withdraw(1_000), ME, quote, 50)
    assert (unwrap.target, unwrap.data[2:10]) == (REWARDS, "c32e7202")
    assert decode(["uint256", "bool"], bytes.fromhex(unwrap.data[10:])) == (250, False)
    assert decode(["uint256", "int128", "uint256"], bytes.fromhex(burn.data[10:])) == (300, 0, 995)


def test_the_executor_rules_let_get_reward_pay_only_the_executor():
    perms = CONVEX.permissions()
    (claim,) = CONVEX.claim_calls(ME)
    assert claim.target == REWARDS and claim.data[2:10] == "7050ccd9"  # getReward(address,bool)
    assert perms.refusal(claim, ME) is None
    assert "not an allowed address" in perms.refusal(call(REWARDS, "getReward(address,bool)", OTHER, True), ME)
    for c in CONVEX.protected_calls(Deposit(1_000), ME, [Expected(POOL, 10_001)], 10):
        assert perms.refusal(c, ME) is None
    assert perms.refusal(call(BOOSTER, "withdraw(uint256,uint256)", 7, 1), ME) is not None  # not a rule


def test_the_deposit_quote_checks_the_boosters_pool_info():
    curve = [ok(USDC.address, types=["address"]), ok(1_000_000), ok(10**18), ok(10**18)]  # ..., virtual price
    info = ["address", "address", "address", "address", "address", "bool"]
    good = ok(POOL, OTHER, OTHER, REWARDS, "0x" + "00" * 20, False, types=info)
    assert CONVEX.decode_quote(Deposit(10**6), [*curve, good, ok(False, types=["bool"])])[1] == Expected(POOL, 10**18)
    assert CONVEX.slippage(Deposit(10**6), [*curve, good, ok(False, types=["bool"])]).quoted == 10**6
    moved = ok(POOL, OTHER, OTHER, OTHER, "0x" + "00" * 20, False, types=info)
    with pytest.raises(PoolMismatch, match="pid 7"):
        CONVEX.decode_quote(Deposit(10**6), [*curve, moved, ok(False, types=["bool"])])
    with pytest.raises(PoolMismatch, match="pid 7"):
        CONVEX.slippage(Deposit(10**6), [*curve, moved, ok(False, types=["bool"])])
    closed = ok(POOL, OTHER, OTHER, REWARDS, "0x" + "00" * 20, True, types=info)
    with pytest.raises(PoolShutdown):
        CONVEX.decode_quote(Deposit(10**6), [*curve, closed, ok(False, types=["bool"])])
    with pytest.raises(PoolShutdown):
        CONVEX.decode_quote(Deposit(10**6), [*curve, good, ok(True, types=["bool"])])


def test_rewards_decode_crv_earned_and_the_cvx_it_mints():
    got = CONVEX.convex_rewards([ok(1_000 * WAD), ok(50_000_000 * WAD), ok(PER_CLIFF), ok(CLIFFS), ok(MAX)])
    assert (got.crv, got.cvx) == (1_000 * WAD, 500 * WAD)


def test_market_config():
    market = {
        "protocol": "convex",
        "adapter": "convex",
        "market": "crvUSD-USDC",
        "asset": "USDC",
        "pool": POOL,
        "lp_token": POOL,
        "kind": "ng",
        "n_coins": 2,
        "coin_index": 0,
        "booster": BOOSTER,
        "pid": 7,
        "reward_pool": REWARDS,
        "crv": CRV,
        "cvx": CVX,
    }
    config = ConvexMarketConfig.model_validate(market)
    adapter = protocol("convex").adapter_for(CONVEX.key, USDC, config)
    assert adapter.pid == 7 and adapter.staking == adapter.reward_pool and adapter.gauge is None
    assert [x.lower() for x in (adapter.booster, adapter.reward_pool, adapter.cvx)] == [BOOSTER, REWARDS, CVX]
    with pytest.raises(ValidationError, match="coin_index"):
        ConvexMarketConfig.model_validate({**market, "coin_index": 2})
    with pytest.raises(ValidationError, match="pid"):
        ConvexMarketConfig.model_validate({**market, "pid": -1})
