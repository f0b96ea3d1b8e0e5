"""Curve's adapter, pure: the calls it builds for both kinds of pool (mainnet's selectors),
the min-out it puts in the pool's own argument, its refusals before anything is sent, its
config, and the invariant math the tests check the stand-ins against."""

from __future__ import annotations

import pytest
from eth_abi import decode, encode
from pydantic import TypeAdapter, ValidationError

from floor.adapters.base import Asset, Deposit, PositionReading, RawWrites, Withdraw, WithdrawAll
from floor.calls import ReadResult, selector
from floor.chain.executor import named_revert
from floor.config import MarketConfig
from floor.errors import InsufficientBalance, InsufficientLiquidity, InvalidAmount
from floor.guards import Expected
from floor.models import AdapterKey
from floor.permissions import spenders_of
from floor.protocols import protocol
from floor.protocols.curve import CurveAdapter, CurveMarketConfig
from floor.protocols.curve.adapter import fair_value, fee_margin
from floor.protocols.curve.errors import CoinNotInPool, NoGauge, PositionChanged, SlippageExceeded
from tests import curve_math

USDC = Asset("USDC", "0x" + "aa" * 20, 6)
POOL, LP, GAUGE, MINTER, CRV, ME = ("0x" + c * 20 for c in ("bb", "cc", "dd", "ee", "ff", "11"))
OLD = CurveAdapter(
    key=AdapterKey(chain_id=1, protocol="curve", market="3pool"),
    asset=USDC,
    pool=POOL,
    lp_token=LP,
    kind="old",
    n_coins=3,
    coin_index=1,
    gauge=GAUGE,
    minter=MINTER,
    crv=CRV,
)
NG = CurveAdapter(
    key=AdapterKey(chain_id=1, protocol="curve", market="crvUSD-USDC"),
    asset=USDC,
    pool=POOL,
    lp_token=POOL,
    kind="ng",
    n_coins=2,
    coin_index=0,
)


def ok(*values, types=None):
    return ReadResult(True, encode(types or ["uint256"] * len(values), list(values)))


VP = ok(10**18)  # the virtual price every quote reads last


def sel(c) -> str:
    return c.data[2:10]


def args(c, types):
    return decode(types, bytes.fromhex(c.data[10:]))


# ---------------------------------------------------------------------------- calls


def test_each_kind_takes_its_own_array_type_with_mainnets_selectors():
    assert selector(OLD.add_liquidity_sig).hex() == "4515cef3"  # 3pool's add_liquidity(uint256[3],uint256)
    assert selector(NG.add_liquidity_sig).hex() == "b72df5de"  # NG's add_liquidity(uint256[],uint256)
    assert selector(OLD.calc_token_amount_sig).hex() == "3883e119"
    assert selector(OLD.remove_liquidity_sig).hex() == "ecb586a5"
    assert selector(NG.remove_liquidity_sig).hex() == "d40ddb8c"
    quote = [Expected(USDC.address, -1_000), Expected(LP, 10**15)]
    old = OLD.protected_calls(Deposit(1_000), ME, quote, 50)
    assert args(old[1], ["uint256[3]", "uint256"]) == ((0, 1_000, 0), 10**15 - 5 * 10**12)
    ng = NG.protected_calls(Deposit(1_000), ME, [Expected(USDC.address, -1_000), Expected(POOL, 10**15)], 50)
    assert args(ng[1], ["uint256[]", "uint256"]) == ((1_000, 0), 10**15 - 5 * 10**12)


def test_a_deposit_is_approve_add_approve_zero_then_the_min_out_staked():
    quote = [Expected(USDC.address, -1_000), Expected(LP, 10_001)]
    calls = OLD.protected_calls(Deposit(1_000), ME, quote, 10)
    assert [(c.target, sel(c)) for c in calls] == [
        (USDC.address, "095ea7b3"),
        (POOL, "4515cef3"),
        (USDC.address, "095ea7b3"),
        (LP, "095ea7b3"),
        (GAUGE, "b6b55f25"),
        (LP, "095ea7b3"),
    ]
    min_mint = 10_001 - 11  # 10 bps of 10,001, rounded up
    assert args(calls[0], ["address", "uint256"])[1] == 1_000 and args(calls[2], ["address", "uint256"])[1] == 0
    assert args(calls[1], ["uint256[3]", "uint256"])[1] == min_mint
    assert args(calls[3], ["address", "uint256"])[1] == min_mint == args(calls[4], ["uint256"])[0]
    assert args(calls[5], ["address", "uint256"])[1] == 0
    assert all(c.value == 0 for c in calls)
    # No gauge: the LP tokens stay in the executor.
    assert len(NG.protected_calls(Deposit(1_000), ME, [Expected(POOL, 10_001)], 10)) == 3


def test_an_exit_unstakes_what_the_executor_lacks_and_burns_with_the_pools_min_out():
    # 120 LP tokens in the executor, the rest staked: burn 300, unstake 180.
    quote = [Expected(USDC.address, 1_000), Expected(LP, 180 - 300), Expected(GAUGE, -180)]
    withdraw, burn = OLD.protected_calls(Withdraw(1_000), ME, quote, 50)
    assert (withdraw.target, sel(withdraw), args(withdraw, ["uint256"])) == (GAUGE, "2e1a7d4d", (180,))
    assert (burn.target, sel(burn)) == (POOL, "1a4d01d2")
    assert args(burn, ["uint256", "int128", "uint256"]) == (300, 1, 995)
    # All of it in the executor: no gauge call.
    (only,) = OLD.protected_calls(Withdraw(1_000), ME, [Expected(USDC.address, 1_000), Expected(LP, -300)], 0)
    assert args(only, ["uint256", "int128", "uint256"]) == (300, 1, 1_000)


def test_writes_are_built_only_from_a_quote():
    assert not isinstance(OLD, RawWrites)  # every write carries the pool's min-out
    with pytest.raises(InvalidAmount):
        OLD.quote_reads(Deposit(0), ME)
    with pytest.raises(InvalidAmount):
        OLD.deposit_with_min(1_000, 0)  # a zero min-out is no bound
    with pytest.raises(InvalidAmount):
        OLD.exit_one_coin(100, 101, 1)
    with pytest.raises(NoGauge):
        NG.claim_calls(ME)
    with pytest.raises(NoGauge):
        NG.stake_calls(1)


def test_the_executor_rules_scope_approvals_to_the_pool_and_the_gauge():
    perms = OLD.permissions()
    pairs = {(p.target.lower(), p.signature) for p in perms.rules}
    assert (POOL, "remove_liquidity_one_coin(uint256,int128,uint256)") in pairs
    assert (GAUGE, "deposit(uint256)") in pairs and (MINTER, "mint(address)") in pairs
    members = {(m.list, m.member.lower()) for m in perms.members}
    assert members == {(spenders_of(USDC.address), POOL), (spenders_of(LP), GAUGE)}
    for c in OLD.protected_calls(Deposit(1_000), ME, [Expected(LP, 10_001)], 10) + OLD.claim_calls(ME):
        assert perms.refusal(c, ME) is None
    assert not any(p.target.lower() == GAUGE for p in NG.permissions().rules)


# ---------------------------------------------------------------------------- quotes


def test_the_deposit_quote_checks_the_coin_and_takes_the_old_pools_fee_off():
    results = [ok(USDC.address, types=["address"]), ok(1_000_000), ok(10**18), VP]
    assert OLD.decode_quote(Deposit(10**6), results) == [
        Expected(USDC.address, -(10**6)),
        Expected(LP, 10**18 - 10**14),
    ]
    assert NG.decode_quote(Deposit(10**6), results)[1] == Expected(POOL, 10**18)  # NG's quote has the fee in it
    wrong = [ok("0x" + "99" * 20, types=["address"]), *results[1:]]
    with pytest.raises(CoinNotInPool, match="coin 1"):
        OLD.decode_quote(Deposit(10**6), wrong)
    with pytest.raises(InvalidAmount, match="mints no LP"):
        NG.decode_quote(Deposit(1), [results[0], results[1], ok(0), VP])


# Lopsided pools (more of USDC than of the others, the virtual price above 1), as the chain holds them.
OLD_POOL = curve_math.Pool(
    balances=(9 * 10**24, 14 * 10**12, 8 * 10**12),
    decimals=(18, 6, 6),
    amp=2_000,
    fee=1_000_000,
    supply=30 * 10**24,
    ng=False,
)
NG_POOL = curve_math.Pool(
    balances=(7 * 10**12, 3 * 10**24),
    decimals=(6, 18),
    amp=1_000,
    fee=1_000_000,
    supply=98 * 10**23,
    ng=True,
    offpeg_fee_multiplier=5 * 10**10,
)


def withdraw_results(a: CurveAdapter, pool: curve_math.Pool, amount: int, wallet: int, staked: int, vp=None):
    """What the chain answers `a.quote_reads(Withdraw(amount))` with when the pool is `pool`:
    the pool's own views from Curve's math (tests/curve_math.py)."""

    def cwoc(burn):
        if burn >= pool.supply:
            return ReadResult(False, b"")
        return ok(curve_math.calc_withdraw_one_coin(pool, burn, a.coin_index)[0])

    xp = pool.xp
    after = list(pool.balances)
    after[a.coin_index] -= amount
    d0 = curve_math.get_D(xp, pool.amp_used, pool.ng)
    d1 = curve_math.get_D(curve_math.Pool(**{**pool.__dict__, "balances": tuple(after)}).xp, pool.amp_used, pool.ng)
    needed = (d0 - d1) * pool.supply // d0  # calc_token_amount without the fee (the old pools')
    scaled = amount * 10**12
    held = [ok(wallet), ok(staked)] if a.staking else [ok(wallet)]
    results = [
        *held,
        ok(pool.fee),
        ok(needed),
        *(ok(b) for b in pool.balances),
        ok(pool.amp_used),
        ok(pool.supply),
        cwoc(scaled),
        cwoc(scaled // 2),
    ]
    if a.kind == "ng":
        results += [ok(pool.offpeg_fee_multiplier), ok(pool.rates, types=["uint256[]"])]
    else:
        unit = 10**a.asset.decimals
        results += [ok(curve_math.get_dy(pool, a.coin_index, k, unit)) for k in range(pool.n) if k != a.coin_index]
    return [*results, ok(curve_math.virtual_price(pool) if vp is None else vp)], needed


@pytest.mark.parametrize(("a", "pool"), [(OLD, OLD_POOL), (NG, NG_POOL)], ids=["old", "ng"])
def test_the_withdrawal_quote_burns_the_fewest_lp_tokens_that_pay_the_amount(a, pool):
    amount = 250_000 * 10**6
    wallet, staked = (10**20, 10**24) if a.staking else (10**24, 0)  # NG here has no gauge
    results, _ = withdraw_results(a, pool, amount, wallet, staked)
    assert len(results) == len(a.quote_reads(Withdraw(amount), ME))
    quote = a.decode_quote(Withdraw(amount), results)
    burn = curve_math.min_burn(pool, amount, a.coin_index)
    paid = curve_math.calc_withdraw_one_coin(pool, burn, a.coin_index)[0]
    if a.staking:  # the executor's own LP tokens first, then the gauge's
        assert quote == [Expected(USDC.address, paid), Expected(LP, -wallet), Expected(GAUGE, -(burn - wallet))]
    else:
        assert quote == [Expected(USDC.address, paid), Expected(a.lp_token, -burn)]
    assert paid >= amount > curve_math.calc_withdraw_one_coin(pool, burn - 1, a.coin_index)[0]
    # The engine's slippage is that exit's: its payout against the burn's fair value.
    s = a.slippage(Withdraw(amount), results)
    assert (s.quoted, s.fair) == (paid, fair_value(burn, curve_math.virtual_price(pool), 6))
    # Only just less held than that burn (but what calc_token_amount says): all of it is
    # burnt and the quote says what it pays, less than the amount.
    short, _ = (
        withdraw_results(a, pool, amount, 0, burn - 1) if a.staking else withdraw_results(a, pool, amount, burn - 1, 0)
    )
    capped = a.decode_quote(Withdraw(amount), short)
    assert capped[0] == Expected(USDC.address, curve_math.calc_withdraw_one_coin(pool, burn - 1, a.coin_index)[0])
    assert -sum(e.delta for e in capped[1:]) == burn - 1


def test_a_pool_the_port_does_not_reproduce_is_quoted_as_before_and_refusals():
    amount = 250_000 * 10**6
    # The virtual price the pool reads is not the port's (another variant of the math): the
    # quote's LP tokens plus the whole fee and a unit, quoting the amount.
    results, needed = withdraw_results(OLD, OLD_POOL, amount, 10**20, 10**24, vp=10**18)
    burn = needed + fee_margin(needed, OLD_POOL.fee) + 1
    quote = OLD.decode_quote(Withdraw(amount), results)
    assert quote == [Expected(USDC.address, amount), Expected(LP, -(10**20)), Expected(GAUGE, -(burn - 10**20))]
    failed = [*results[:-4], ReadResult(False, b""), *results[-3:]]  # a probe that should not revert did
    assert OLD.decode_quote(Withdraw(amount), failed) == quote
    with pytest.raises(InsufficientBalance, match="burns about"):
        OLD.decode_quote(Withdraw(amount), withdraw_results(OLD, OLD_POOL, amount, 0, needed - 1)[0])
    with pytest.raises(InsufficientLiquidity, match="the pool holds"):
        OLD.decode_quote(Withdraw(14 * 10**12), withdraw_results(OLD, OLD_POOL, 10**6, 10**20, 10**24)[0])


def test_the_withdraw_all_quote_needs_the_position_it_read():
    position = PositionReading(amount=1_000, shares=300)
    assert OLD.decode_quote(WithdrawAll(position), [ok(100), ok(200), ok(990), VP]) == [
        Expected(USDC.address, 990),
        Expected(LP, -100),
        Expected(GAUGE, -200),
    ]
    with pytest.raises(PositionChanged):
        OLD.decode_quote(WithdrawAll(position), [ok(100), ok(199), ok(990), VP])
    with pytest.raises(InsufficientBalance):
        OLD.decode_quote(WithdrawAll(PositionReading(amount=0, shares=0)), [ok(0), ok(0), ok(0), VP])


def test_position_and_rate_read_the_virtual_price():
    price = 1_020_000_000_000_000_000  # 1.02
    position = OLD.decode_position([ok(10**18), ok(2 * 10**18), ok(price)])
    assert position == PositionReading(amount=3_060_000, shares=3 * 10**18)  # USDC base units
    assert NG.decode_position([ok(10**18), ok(price)]) == PositionReading(amount=1_020_000, shares=10**18)
    assert OLD.decode_position([ok(0), ok(0), ReadResult(False, b"")]) == PositionReading(0, 0)
    assert OLD.decode_rate([ok(price)], 7).growth_index == price * 10**9
    liquidity = OLD.decode_liquidity([ok(10**18), ok(0), ok(price), ok(500_000)])
    assert (liquidity.position, liquidity.withdrawable, liquidity.market_available) == (1_020_000, 500_000, 500_000)
    assert "pool holds 500000" in liquidity.reason
    assert fair_value(10**18, 10**18, 18) == 10**18 and fair_value(10**18 - 1, 10**18, 6) == 999_999


def test_balanced_exit_quotes_each_coins_share_and_bounds_it():
    results = [ok(3 * 10**24), ok(2 * 10**12), ok(10**12), ok(6 * 10**24)]
    quoted = OLD.decode_balanced_quote(6 * 10**21, results)
    assert quoted == [3 * 10**21, 2 * 10**9, 10**9]
    calls = OLD.balanced_exit_calls(6 * 10**21, 10**21, quoted, 100)
    assert [sel(c) for c in calls] == ["2e1a7d4d", "ecb586a5"]
    assert args(calls[1], ["uint256", "uint256[3]"]) == (
        6 * 10**21,
        (3 * 10**21 * 99 // 100, 1_980_000_000, 990_000_000),
    )
    with pytest.raises(InsufficientBalance):
        OLD.decode_balanced_quote(7 * 10**24, results)


def test_the_pools_revert_strings_are_named():
    for code in (
        "Slippage screwed you",
        "Not enough coins removed",
        "Withdrawal resulted in fewer coins than expected",
    ):
        data = "0x" + (selector("Error(string)") + encode(["string"], [code])).hex()
        named = named_revert(data)
        assert named is not None and named.error is SlippageExceeded


# ---------------------------------------------------------------------------- config


def market(**over):
    base = {
        "protocol": "curve",
        "adapter": "curve",
        "market": "3pool",
        "asset": "USDC",
        "pool": POOL,
        "lp_token": LP,
        "kind": "old",
        "n_coins": 3,
        "coin_index": 1,
        "gauge": GAUGE,
        "minter": MINTER,
        "crv": CRV,
    }
    return {**base, **over}


def test_market_config_loads_through_the_union_and_checks_itself():
    loaded = TypeAdapter(MarketConfig).validate_python(market())
    assert isinstance(loaded, CurveMarketConfig) and protocol("curve").market_config is CurveMarketConfig
    adapter = protocol("curve").adapter_for(AdapterKey(chain_id=1, protocol="curve", market="3pool"), USDC, loaded)
    assert adapter.add_liquidity_sig == "add_liquidity(uint256[3],uint256)"
    for bad, field in [
        (market(coin_index=3), "coin_index"),
        (market(minter=None), "minter"),
        (market(gauge=None), "gauge"),
        (market(kind="old", n_coins=5), "n_coins"),
        (market(kind="v2"), "kind"),
    ]:
        with pytest.raises(ValidationError, match=field):
            CurveMarketConfig.model_validate(bad)


# ---------------------------------------------------------------------------- the invariant


def test_the_invariant_holds_the_peg_and_charges_the_fee():
    balanced = curve_math.Pool(
        balances=(10**24, 10**12, 10**12), decimals=(18, 6, 6), amp=2_000, fee=1_000_000, supply=3 * 10**24, ng=False
    )
    assert curve_math.virtual_price(balanced) == 10**18
    dy = curve_math.get_dy(balanced, 1, 2, 1_000 * 10**6)
    assert 1_000 * 10**6 * 9_998 // 10_000 < dy < 1_000 * 10**6  # 1:1 less the 1 bp fee
    ng = curve_math.Pool(
        balances=(10**12, 10**24),
        decimals=(6, 18),
        amp=1_000,
        fee=1_000_000,
        supply=2 * 10**24,
        ng=True,
        offpeg_fee_multiplier=5 * 10**10,
    )
    assert curve_math.dynamic_fee(10**24, 10**24, 500_000, 5 * 10**10) == 500_000  # at peg: the base fee
    assert curve_math.dynamic_fee(10**24, 10**23, 500_000, 5 * 10**10) > 500_000  # off peg: more
    small, _ = curve_math.calc_withdraw_one_coin(ng, 10**18, 0)
    assert 999_000 < small < 10**6


def test_gauge_rewards_read_crv_and_each_reward_token_and_claim_both():
    token = "0x" + "77" * 20
    with_rewards = CurveAdapter(**{**OLD.__dict__, "reward_tokens": (token,)})
    reads = with_rewards.reward_reads(ME)
    assert [r.data[:4].hex() for r in reads] == ["33134583", selector("claimable_reward(address,address)").hex()]
    got = with_rewards.curve_rewards([ok(5 * 10**18), ok(7)])
    assert (got.crv, got.tokens) == (5 * 10**18, ((token, 7),))
    assert OLD.curve_rewards([ok(3)]).tokens == ()
    mint, claim = with_rewards.claim_calls(ME)
    assert (mint.target, sel(mint), args(mint, ["address"])) == (MINTER, "6a627842", (GAUGE,))
    assert (claim.target, sel(claim)) == (GAUGE, selector("claim_rewards()").hex())
    assert with_rewards.permissions().refusal(claim, ME) is None
    assert len(OLD.claim_calls(ME)) == 1  # no reward tokens: the Minter alone
    with pytest.raises(ValidationError, match="gauge"):
        CurveMarketConfig.model_validate(market(gauge=None, minter=None, crv=None, reward_tokens=[token]))


def test_slippage_is_the_quote_against_fair_value_at_the_virtual_price():
    price = ok(1_010_000_000_000_000_000)  # 1.01
    deposit = [ok(USDC.address, types=["address"]), ok(0), ok(990 * 10**18), price]
    # 1,000 USDC mints 990 LP tokens worth 999.9 USDC: 1 bp lost.
    assert NG.quote_reads(Deposit(1_000 * 10**6), ME)[-1].data.hex() == "bb7b8b80"
    s = NG.slippage(Deposit(1_000 * 10**6), deposit)
    assert (s.quoted, s.fair, s.bps) == (999_900_000, 1_000_000_000, 1)
    # Everything out: 300 LP tokens worth 303 USDC pay 290: 430 bps, rounded up.
    out = OLD.slippage(
        WithdrawAll(PositionReading(amount=0, shares=300 * 10**18)),
        [ok(100 * 10**18), ok(200 * 10**18), ok(290 * 10**6), price],
    )
    assert (out.quoted, out.fair, out.bps) == (290 * 10**6, 303 * 10**6, 430)
    with pytest.raises(CoinNotInPool):  # the same refusals as the quote
        NG.slippage(Deposit(1), [ok(LP, types=["address"]), ok(0), ok(1), price])
