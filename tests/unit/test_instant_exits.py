"""Instant exits through a Curve ETH pool, pure: the quote's reads and checks (the pool's coins,
the balance held, a zero quote, the discount limit), min_dy, the exit batch (exact approval,
`exchange(1, 0, amount, min_dy)`, a wrap of min_dy, approval reset, guards), the rest wrapped
from the swap's event, the executor's rules, the markets' optional pool, and the ladder of what
the pool pays now."""

from __future__ import annotations

import pytest
from eth_abi import decode, encode
from pydantic import ValidationError

from floor.adapters.base import Asset
from floor.calls import ReadResult, call, selector
from floor.errors import BadInput, InsufficientBalance, InvalidAmount, SlippageTooHigh
from floor.guards import ETH
from floor.models import AdapterKey, Call
from floor.protocols.lido import PROTOCOL as LIDO
from floor.protocols.lido import LidoAdapter, LidoMarketConfig
from floor.protocols.lido.instant_exit import (
    ETH_COIN,
    EXCHANGE,
    TOKEN_EXCHANGE_TOPIC,
    CurveEthExit,
    InstantExitPoolMismatch,
    InstantExitQuote,
    instant_withdrawable,
    ladder_sizes,
    min_out,
    paid_by_exchange,
)
from floor.protocols.rocket_pool import PROTOCOL as ROCKET
from floor.protocols.rocket_pool import RocketPoolAdapter, RocketPoolMarketConfig
from floor.protocols.rocket_pool.instant_exit import RethCurveExit

ETH_WEI = 10**18
WETH = Asset("WETH", "0x" + "aa" * 20, 18)
STETH, QUEUE, POOL, ME, OTHER = ("0x" + b * 20 for b in ("bb", "cc", "dd", "ee", "11"))
RETH, STORAGE, DEPOSIT_POOL = "0x" + "22" * 20, "0x" + "33" * 20, "0x" + "44" * 20
LIDO_KEY = AdapterKey(chain_id=1, protocol="lido", market="stETH")
ROCKET_KEY = AdapterKey(chain_id=1, protocol="rocket-pool", market="rETH")

lido = LidoAdapter(key=LIDO_KEY, asset=WETH, steth=STETH, withdrawal_queue=QUEUE, instant_exit_pool=POOL)
plain_lido = LidoAdapter(key=LIDO_KEY, asset=WETH, steth=STETH, withdrawal_queue=QUEUE)
rocket = RocketPoolAdapter(
    key=ROCKET_KEY, asset=WETH, rocket_storage=STORAGE, deposit_pool=DEPOSIT_POOL, reth=RETH, instant_exit_pool=POOL
)


def ok(value, kind: str = "uint256") -> ReadResult:
    return ReadResult(True, encode([kind], [value]))


def steth_results(quoted: int, held: int, coin0: str = ETH_COIN, coin1: str = STETH) -> list[ReadResult]:
    return [ok(coin0, "address"), ok(coin1, "address"), ok(quoted), ok(held)]


def args(c: Call, types: list[str]):
    return decode(types, bytes.fromhex(c.data[10:]))


def sig(c: Call) -> bytes:
    return bytes.fromhex(c.data[2:10])


# ------------------------------------------------------------------------------ quotes


def test_the_quote_reads_the_pools_coins_its_get_dy_and_the_balance_in_one_batch():
    reads = lido.instant_exit_quote_reads(5 * ETH_WEI, ME)
    assert [r.target for r in reads] == [POOL, POOL, POOL, STETH]
    get_dy = reads[2]
    assert get_dy.data[:4] == selector("get_dy(int128,int128,uint256)")
    assert decode(["int128", "int128", "uint256"], get_dy.data[4:]) == (1, 0, 5 * ETH_WEI)
    # rETH's fair value is getEthValue(amount), read in the same batch.
    reth_reads = rocket.instant_exit_quote_reads(5 * ETH_WEI, ME)
    assert len(reth_reads) == 5 and reth_reads[-1].target == RETH
    assert reth_reads[-1].data[:4] == selector("getEthValue(uint256)")


@pytest.mark.parametrize("amount", [0, -1])
def test_a_non_positive_amount_is_refused_before_any_read(amount):
    with pytest.raises(InvalidAmount):
        lido.instant_exit_quote_reads(amount, ME)


def test_a_steth_quote_is_priced_against_lido_one_to_one_with_its_min_dy():
    amount, quoted = 40 * ETH_WEI, 39_912_000_000_000_000_000
    quote = lido.decode_instant_exit_quote(amount, steth_results(quoted, 50 * ETH_WEI), slippage_bps=30)
    assert (quote.amount, quote.quoted, quote.fair) == (amount, quoted, amount)
    assert quote.min_out == quoted * 9_970 // 10_000
    assert quote.discount_bps == 22  # 0.22% under ETH, rounded up
    assert quote.rest == quoted - quote.min_out


def test_an_reth_quote_is_priced_against_get_eth_value():
    amount, quoted, fair = 10 * ETH_WEI, 10_970_000_000_000_000_000, 11 * ETH_WEI
    results = [ok(ETH_COIN, "address"), ok(RETH, "address"), ok(quoted), ok(amount), ok(fair)]
    quote = rocket.decode_instant_exit_quote(amount, results, slippage_bps=0)
    assert (quote.fair, quote.min_out, quote.discount_bps) == (fair, quoted, 28)


@pytest.mark.parametrize(
    ("coin0", "coin1"), [(STETH, ETH_COIN), (ETH_COIN, OTHER), (OTHER, STETH)], ids=["reversed", "other", "no-eth"]
)
def test_a_pool_that_is_not_eth_against_the_token_is_refused_by_name(coin0, coin1):
    with pytest.raises(InstantExitPoolMismatch, match="not native ETH against stETH"):
        lido.decode_instant_exit_quote(ETH_WEI, steth_results(ETH_WEI, ETH_WEI, coin0, coin1), slippage_bps=10)


def test_selling_more_than_is_held_is_refused_with_the_figures():
    with pytest.raises(InsufficientBalance, match=r"selling 2000000000000000000 wei of stETH, the executor holds 1"):
        lido.decode_instant_exit_quote(2 * ETH_WEI, steth_results(ETH_WEI, 10**18), slippage_bps=10)


def test_a_pool_paying_nothing_is_refused():
    with pytest.raises(InvalidAmount, match="pays no ETH"):
        lido.decode_instant_exit_quote(10, steth_results(0, 10), slippage_bps=10)


def test_a_discount_above_the_limit_is_refused_before_sending_and_one_at_it_passes():
    amount = 100 * ETH_WEI
    at_limit = steth_results(amount - amount * 50 // 10_000, amount)
    assert lido.decode_instant_exit_quote(amount, at_limit, 10, max_discount_bps=50).discount_bps == 50
    deeper = steth_results(amount - amount * 50 // 10_000 - 1, amount)
    with pytest.raises(SlippageTooHigh, match="51 bps under fair value, above the limit of 50 bps"):
        lido.decode_instant_exit_quote(amount, deeper, 10, max_discount_bps=50)


def test_min_out_rounds_down_and_takes_only_a_slippage_under_100_percent():
    assert min_out(10_001, 1) == 9_999  # 10001 * 9999 / 10000 = 9999.9999, rounded down
    assert min_out(10**18, 50) == 995 * 10**15
    assert min_out(7, 0) == 7
    for bad in (-1, 10_000):
        with pytest.raises(InvalidAmount):
            min_out(10**18, bad)


# ------------------------------------------------------------------------------ writes


def test_the_exit_batch_approves_exactly_swaps_with_min_dy_wraps_min_dy_and_resets_between_guards():
    quote = InstantExitQuote(
        amount=40 * ETH_WEI, quoted=39 * ETH_WEI, fair=40 * ETH_WEI, min_out=38 * ETH_WEI, slippage_bps=0
    )
    calls = lido.instant_exit_calls(quote, ME)
    starts, body, checks = calls[:2], calls[2:6], calls[6:]
    assert [c.target for c in starts + checks] == [ME] * 4
    assert [args(c, ["address"])[0] for c in starts] == [WETH.address, ETH]
    assert [args(c, ["address", "int256"]) for c in checks] == [(WETH.address, 38 * ETH_WEI), (ETH, 0)]
    approve, exchange, wrap, reset = body
    assert (approve.target, args(approve, ["address", "uint256"])) == (STETH, (POOL, 40 * ETH_WEI))
    assert sig(exchange) == selector(EXCHANGE) and exchange.target == POOL and exchange.value == 0
    assert args(exchange, ["int128", "int128", "uint256", "uint256"]) == (1, 0, 40 * ETH_WEI, 38 * ETH_WEI)
    assert (wrap.target, wrap.value, wrap.data) == (WETH.address, 38 * ETH_WEI, "0x" + selector("deposit()").hex())
    assert (reset.target, args(reset, ["address", "uint256"])) == (STETH, (POOL, 0))


def test_the_rest_the_swap_paid_above_min_dy_is_wrapped_exactly():
    exit_ = lido.instant_exit
    quote = InstantExitQuote(amount=10, quoted=1_000, fair=1_010, min_out=990, slippage_bps=100)
    (wrap,) = exit_.wrap_rest_calls(quote, 1_000)
    assert (wrap.target, wrap.value) == (WETH.address, 10)
    assert exit_.wrap_rest_calls(quote, 990) == []
    with pytest.raises(InvalidAmount, match="under its min_out"):
        exit_.wrap_rest_calls(quote, 989)


def test_what_the_swap_paid_is_read_from_its_token_exchange_event():
    buyer_topic = "0x" + "00" * 12 + ME[2:]
    sold = {
        "address": POOL,
        "topics": [TOKEN_EXCHANGE_TOPIC, buyer_topic],
        "data": encode(["int128", "uint256", "int128", "uint256"], [1, 5, 0, 4_990]),
    }
    other_pool = dict(sold, address=OTHER)
    other_buyer = dict(sold, topics=[TOKEN_EXCHANGE_TOPIC, "0x" + "00" * 12 + OTHER[2:]])
    bought = dict(sold, data=encode(["int128", "uint256", "int128", "uint256"], [0, 5, 1, 7]))
    assert paid_by_exchange([other_pool, other_buyer, bought, sold], POOL, ME) == 4_990
    with pytest.raises(LookupError, match="no TokenExchange"):
        paid_by_exchange([other_pool, bought], POOL, ME)


def test_without_a_pool_there_is_no_instant_exit_and_no_pool_rule():
    assert plain_lido.instant_exit is None
    with pytest.raises(BadInput, match="no instant-exit pool"):
        plain_lido.instant_exit_quote_reads(ETH_WEI, ME)
    assert all(p.target.lower() != POOL for p in plain_lido.permissions().rules)


def test_the_executor_rules_allow_the_pool_exchange_and_its_approval_only():
    rules = lido.permissions()
    quote = InstantExitQuote(amount=5, quoted=5, fair=5, min_out=4, slippage_bps=0)
    for c in lido.instant_exit_calls(quote, ME):
        if c.target != ME:  # the guards run in the executor itself
            assert rules.refusal(c, ME) is None, c
    # Approving stETH to anyone else, or an exchange carrying ETH, is refused before signing.
    assert "not an allowed address" in rules.refusal(call(STETH, "approve(address,uint256)", OTHER, 5), ME)
    assert "may not carry ETH" in rules.refusal(call(POOL, EXCHANGE, 0, 1, 5, 0, value=5), ME)
    assert rocket.permissions().refusal(call(POOL, EXCHANGE, 1, 0, 5, 0), ME) is None
    assert plain_lido.permissions().refusal(call(POOL, EXCHANGE, 1, 0, 5, 0), ME) is not None


# --------------------------------------------------------------------- config, ladder


def test_the_markets_take_an_optional_instant_exit_pool_with_its_kind():
    base = {"protocol": "lido", "adapter": "lido", "market": "stETH", "asset": "WETH", "steth": STETH}
    market = LidoMarketConfig.model_validate(base | {"withdrawal_queue": QUEUE, "instant_exit_pool": {"address": POOL}})
    assert market.instant_exit_pool.kind == "curve_stableswap_eth"
    adapter = LIDO.adapter_for(LIDO_KEY, WETH, market)
    assert adapter.instant_exit_pool == market.instant_exit_pool.address and adapter.exit == "queued"
    assert (
        LIDO.adapter_for(
            LIDO_KEY, WETH, LidoMarketConfig.model_validate(base | {"withdrawal_queue": QUEUE})
        ).instant_exit
        is None
    )
    with pytest.raises(ValidationError, match="kind"):
        LidoMarketConfig.model_validate(
            base | {"withdrawal_queue": QUEUE, "instant_exit_pool": {"address": POOL, "kind": "uniswap"}}
        )
    with pytest.raises(ValidationError):
        LidoMarketConfig.model_validate(base | {"withdrawal_queue": QUEUE, "instant_exit_pool": {"address": "0x12"}})
    rp = RocketPoolMarketConfig.model_validate(
        {
            "protocol": "rocket-pool",
            "adapter": "rocket_pool",
            "market": "rETH",
            "asset": "WETH",
            "rocket_storage": STORAGE,
            "deposit_pool": DEPOSIT_POOL,
            "reth": RETH,
            "instant_exit_pool": {"address": POOL, "kind": "curve_stableswap_eth"},
        }
    )
    assert isinstance(ROCKET.adapter_for(ROCKET_KEY, WETH, rp).instant_exit, RethCurveExit)


def test_the_ladder_quotes_the_position_and_its_halvings_and_picks_the_largest_within_the_limit():
    assert ladder_sizes(800) == [100, 200, 400, 800]
    assert ladder_sizes(3) == [1, 3]
    assert ladder_sizes(0) == []
    exit_ = CurveEthExit(key=LIDO_KEY, pool=POOL, token=STETH, weth=WETH.address)
    assert len(exit_.ladder_reads(800)) == 4
    ladder = exit_.decode_ladder(800, [ok(99), ok(197), ok(390), ok(760)])
    assert [q.discount_bps for q in ladder] == [100, 150, 250, 500]
    assert instant_withdrawable(ladder, 250).amount == 400
    assert instant_withdrawable(ladder, 99) is None
    # rETH's rungs each read their own getEthValue.
    reth_exit = rocket.instant_exit
    assert len(reth_exit.ladder_reads(800)) == 8
    rungs = reth_exit.decode_ladder(800, [ok(109), ok(218), ok(430), ok(850), ok(110), ok(220), ok(440), ok(880)])
    assert [q.fair for q in rungs] == [110, 220, 440, 880]
