"""The swap venue's pure parts: min-out, quote reads and swap calls (SwapRouter02's and
QuoterV2's real ABIs, Curve's exchange), the executor rules they need, the routes' config,
the harvest plan (dust, one sale per token and base asset), and every rewarding adapter's
claimable rewards in the one common shape."""

from __future__ import annotations

import pytest
from eth_abi import decode, encode
from pydantic import ValidationError

from floor.adapters.base import Asset, RewardClaimable
from floor.calls import ReadResult, call, selector
from floor.config import ChainConfig
from floor.errors import InvalidAmount
from floor.models import AdapterKey
from floor.permissions import APPROVE
from floor.protocols.aave_v3.adapter import AaveV3Adapter
from floor.protocols.compound_v3.adapter import CompoundV3Adapter
from floor.protocols.convex.adapter import ConvexAdapter
from floor.protocols.curve.adapter import CurveAdapter
from floor.swaps.config import SwapRouteConfig, SwapsConfig
from floor.swaps.errors import SwapNotConfigured, SwapPaysNothing, SwapQuoteFailed
from floor.swaps.harvest import MarketRewards, RewardLine, sale_amounts, worth_claiming
from floor.swaps.venue import (
    CURVE_EXCHANGE,
    CURVE_GET_DY,
    EXACT_INPUT_SINGLE,
    QUOTE_EXACT_INPUT_SINGLE,
    decode_quote,
    min_out,
    permissions,
    quote_read,
    swap_calls,
)


def addr(n: int) -> str:
    from eth_utils import to_checksum_address

    return to_checksum_address("0x" + f"{n:02x}" * 20)


ME, OTHER = addr(0xE0), addr(0xE1)
ROUTER, QUOTER, NG = addr(0x10), addr(0x11), addr(0x12)
USDC, CRV, CVX, CRVUSD, COMP = addr(0x01), addr(0x02), addr(0x03), addr(0x04), addr(0x05)
FEED = {"feed": addr(0xF0), "heartbeat_s": 86_400}
TOKENS = {"USDC": USDC}
SWAPS = SwapsConfig(
    router=ROUTER,
    quoter=QUOTER,
    routes=[
        {"token": CRV, "symbol": "CRV", "to": "USDC", "fee": 3000, "dust": 10**15, "price_feed": FEED},
        {"token": CVX, "symbol": "CVX", "to": "USDC", "fee": 10_000, "price_feed": FEED},
        {
            "token": CRVUSD,
            "symbol": "crvUSD",
            "to": "USDC",
            "curve_pool": NG,
            "curve_i": 1,
            "curve_j": 0,
            "price_feed": FEED,
        },
        {"token": COMP, "symbol": "COMP", "to": "USDC"},  # known, no venue: kept idle
    ],
)
CRV_ROUTE, CVX_ROUTE, CRVUSD_ROUTE, COMP_ROUTE = SWAPS.routes


def words(data: str) -> list[bytes]:
    raw = bytes.fromhex(data.removeprefix("0x"))[4:]
    return [raw[i : i + 32] for i in range(0, len(raw), 32)]


def test_min_out_is_the_quote_less_the_tolerance_rounded_down():
    assert min_out(1_000_000, 50) == 995_000
    assert min_out(999, 50) == 994  # 994.005 rounds down: never above what the quote allows
    assert min_out(1_000, 0) == 1_000
    assert min_out(1, 1) == 0
    for bad in (-1, 10_000, 1.5):
        with pytest.raises(InvalidAmount):
            min_out(1_000, bad)
    with pytest.raises(InvalidAmount):
        min_out(-5, 50)


def test_quoter_v2_and_curve_quotes_read_the_real_signatures():
    q = quote_read(SWAPS, CRV_ROUTE, USDC, 7 * 10**18)
    assert q.target == QUOTER and q.data[:4] == selector(QUOTE_EXACT_INPUT_SINGLE)
    # QuoteExactInputSingleParams: (tokenIn, tokenOut, amountIn, fee, sqrtPriceLimitX96)
    assert decode(["(address,address,uint256,uint24,uint160)"], q.data[4:])[0] == (
        CRV.lower(),
        USDC.lower(),
        7 * 10**18,
        3000,
        0,
    )
    answer = ReadResult(True, encode(["uint256", "uint160", "uint32", "uint256"], [3_500_000, 2**96, 0, 90_000]))
    assert decode_quote(CRV_ROUTE, answer) == 3_500_000
    with pytest.raises(SwapQuoteFailed, match="fee 3000"):
        decode_quote(CRV_ROUTE, ReadResult(False, b""))
    c = quote_read(SWAPS, CRVUSD_ROUTE, USDC, 10**18)
    assert c.target == NG and c.data[:4] == selector(CURVE_GET_DY)
    assert decode(["int128", "int128", "uint256"], c.data[4:]) == (1, 0, 10**18)
    assert decode_quote(CRVUSD_ROUTE, ReadResult(True, encode(["uint256"], [999_900]))) == 999_900
    with pytest.raises(InvalidAmount):
        quote_read(SWAPS, CRV_ROUTE, USDC, 0)
    with pytest.raises(SwapNotConfigured):
        quote_read(SWAPS, COMP_ROUTE, USDC, 10)
    with pytest.raises(SwapNotConfigured):
        quote_read(None, CRV_ROUTE, USDC, 10)


def test_a_swap_is_approve_exact_input_single_paying_the_executor_approve_zero():
    approve, swap, reset = swap_calls(SWAPS, CRV_ROUTE, USDC, 5 * 10**18, 2_400_000, ME)
    assert (approve.target, approve.data) == (CRV, call(CRV, APPROVE, ROUTER, 5 * 10**18).data)
    assert (reset.target, reset.data) == (CRV, call(CRV, APPROVE, ROUTER, 0).data)
    assert swap.target == ROUTER and swap.data[:10] == "0x" + selector(EXACT_INPUT_SINGLE).hex()
    # SwapRouter02's ExactInputSingleParams has no deadline: 7 static words, recipient the 4th.
    assert selector(EXACT_INPUT_SINGLE).hex() == "04e45aaf"
    w = words(swap.data)
    assert len(w) == 7
    assert decode(["(address,address,uint24,address,uint256,uint256,uint160)"], b"".join(w))[0] == (
        CRV.lower(),
        USDC.lower(),
        3000,
        ME.lower(),
        5 * 10**18,
        2_400_000,
        0,
    )
    rules = permissions(SWAPS, TOKENS)
    assert all(rules.refusal(c, ME) is None for c in (approve, swap, reset))
    stranger = swap_calls(SWAPS, CRV_ROUTE, USDC, 5 * 10**18, 2_400_000, OTHER)[1]
    assert "argument 3" in rules.refusal(stranger, ME)  # a sale paying anyone but the executor
    assert "argument 0" in rules.refusal(call(CRV, APPROVE, OTHER, 1), ME)
    assert "not allowed" in rules.refusal(call(COMP, APPROVE, ROUTER, 1), ME)  # no route, no approval
    # The route is pinned: another output token (an attacker's) or fee tier (its pool) is refused.
    attacker_token = swap_calls(SWAPS, CRV_ROUTE, OTHER, 5 * 10**18, 1, ME)[1]
    assert "not an allowed id" in rules.refusal(attacker_token, ME)
    other_tier = call(ROUTER, EXACT_INPUT_SINGLE, (CRV, USDC, 500, ME, 5 * 10**18, 1, 0))
    assert "not an allowed id" in rules.refusal(other_tier, ME)


def test_a_curve_sale_is_exchange_with_min_dy_between_approvals():
    approve, swap, reset = swap_calls(SWAPS, CRVUSD_ROUTE, USDC, 10**18, 990_000, ME)
    assert approve.target == reset.target == CRVUSD and swap.target == NG
    assert swap.data[:10] == "0x" + selector(CURVE_EXCHANGE).hex()
    assert decode(["int128", "int128", "uint256", "uint256"], bytes.fromhex(swap.data[10:])) == (1, 0, 10**18, 990_000)
    assert permissions(SWAPS, TOKENS).refusal(swap, ME) is None
    reverse = call(NG, CURVE_EXCHANGE, 0, 1, 10**6, 1)  # USDC for crvUSD: not the route
    assert "argument 0" in permissions(SWAPS, TOKENS).refusal(reverse, ME)


def test_swaps_are_refused_by_name_before_anything_is_built():
    with pytest.raises(SwapPaysNothing):
        swap_calls(SWAPS, CRV_ROUTE, USDC, 10**18, 0, ME)  # a zero min-out bounds nothing
    with pytest.raises(InvalidAmount):
        swap_calls(SWAPS, CRV_ROUTE, USDC, 0, 1, ME)
    with pytest.raises(InvalidAmount):
        swap_calls(SWAPS, CRV_ROUTE, USDC, True, 1, ME)
    with pytest.raises(SwapNotConfigured):
        swap_calls(SWAPS, COMP_ROUTE, USDC, 10**18, 1, ME)
    assert permissions(None, TOKENS).rules == ()


def test_routes_config_is_checked():
    with pytest.raises(ValidationError, match="not both"):
        SwapRouteConfig(token=CRV, symbol="CRV", to="USDC", fee=3000, curve_pool=NG, curve_i=0, curve_j=1)
    with pytest.raises(ValidationError, match="fee tier"):
        SwapRouteConfig(token=CRV, symbol="CRV", to="USDC", fee=2500)
    with pytest.raises(ValidationError, match="two different coin indexes"):
        SwapRouteConfig(token=CRV, symbol="CRV", to="USDC", curve_pool=NG, curve_i=0, curve_j=0)
    with pytest.raises(ValidationError, match="without a Curve pool"):
        SwapRouteConfig(token=CRV, symbol="CRV", to="USDC", curve_i=0)
    with pytest.raises(ValidationError, match="needs swaps.router and swaps.quoter"):
        SwapsConfig(routes=[{"token": CRV, "symbol": "CRV", "to": "USDC", "fee": 3000}])
    with pytest.raises(ValidationError, match="a second route of CRV to USDC"):
        SwapsConfig(router=ROUTER, quoter=QUOTER, routes=[CRV_ROUTE.model_dump(), CRV_ROUTE.model_dump()])
    chain = {
        "id": 1,
        "name": "ethereum",
        "rpc_urls": ["http://127.0.0.1:8545"],
        "tokens": [{"symbol": "USDC", "address": USDC, "decimals": 6}],
        "swaps": SWAPS.model_dump(),
    }
    assert ChainConfig.model_validate(chain).swaps.route(CRV.lower(), "USDC") == CRV_ROUTE
    assert ChainConfig.model_validate(chain).swaps.route(CRV, "DAI") is None
    with pytest.raises(ValidationError, match=r"swaps.routes.0.to: route of CRV: no token 'DAI'"):
        ChainConfig.model_validate(
            {**chain, "swaps": {**SWAPS.model_dump(), "routes": [{**CRV_ROUTE.model_dump(), "to": "DAI"}]}}
        )


def market(name: str, asset: str, *rewards: tuple[str, int]) -> MarketRewards:
    key = AdapterKey(chain_id=1, protocol="p", market=name)
    return MarketRewards(key=key, asset=asset, rewards=[RewardLine(token=t, amount=a) for t, a in rewards])


def test_dust_decides_which_markets_are_claimed():
    dusty = market("a", "USDC", (CRV, 10**15))  # at the threshold: not worth it
    worth = market("b", "USDC", (CRV, 10**15 + 1))
    other = market("c", "USDC", (CVX, 1))  # CVX's dust is 0
    unknown = market("d", "USDC", (addr(0x66), 1))  # no route: dust 0, claimed and kept
    none = market("e", "USDC", (CVX, 0))
    assert worth_claiming([dusty, worth, other, unknown, none], SWAPS) == [worth, other, unknown]
    assert worth_claiming([dusty], None) == [dusty]


def test_one_sale_per_token_and_base_with_the_executors_balance_swept_into_the_first():
    claim = [
        market("convex", "USDC", (CRV, 100), (CVX, 50)),
        market("curve", "USDC", (CRV, 30), (CRVUSD, 7)),
        market("dai", "DAI", (CRV, 5)),
    ]
    got = sale_amounts(claim, {CRV.lower(): 1_000, CVX: 0})
    assert [(t, base, amount) for t, _, base, amount in got] == [
        (CRV, "DAI", 5 + 1_000),  # the executor's CRV goes with the first pair of CRV only
        (CRV, "USDC", 130),
        (CVX, "USDC", 50),
        (CRVUSD, "USDC", 7),
    ]


def test_every_rewarding_adapter_decodes_into_the_common_list():
    usdc = Asset("USDC", USDC, 6)

    def ok(*types_values):
        types = [t for t, _ in types_values]
        return ReadResult(True, encode(types, [v for _, v in types_values]))

    comet = CompoundV3Adapter(
        key=AdapterKey(chain_id=1, protocol="compound-v3", market="c"), asset=usdc, comet=addr(0x20), rewards=addr(0x21)
    )
    got = comet.decode_rewards([ok(("(address,uint256)", (COMP, 12)))])
    assert got == [RewardClaimable(token=COMP, amount=12)]
    bare = CompoundV3Adapter(key=comet.key, asset=usdc, comet=addr(0x20))
    assert bare.reward_reads(ME) == [] and bare.decode_rewards([]) == []
    curve = CurveAdapter(
        key=AdapterKey(chain_id=1, protocol="curve", market="ng"),
        asset=usdc,
        pool=NG,
        lp_token=NG,
        kind="ng",
        n_coins=2,
        coin_index=0,
        gauge=addr(0x22),
        minter=addr(0x23),
        crv=CRV,
        reward_tokens=(CRVUSD,),
    )
    assert len(curve.reward_reads(ME)) == 2
    assert curve.decode_rewards([ok(("uint256", 5)), ok(("uint256", 7))]) == [
        RewardClaimable(token=CRV, amount=5, symbol="CRV"),
        RewardClaimable(token=CRVUSD, amount=7),
    ]
    no_gauge = CurveAdapter(**{**curve.__dict__, "gauge": None, "minter": None, "crv": None, "reward_tokens": ()})
    assert no_gauge.reward_reads(ME) == [] and no_gauge.decode_rewards([]) == []
    convex = ConvexAdapter(
        **{**curve.__dict__, "gauge": None, "minter": None, "reward_tokens": ()},
        booster=addr(0x24),
        pid=0,
        reward_pool=addr(0x25),
        cvx=CVX,
    )
    schedule = [
        ok(("uint256", 50_000_000 * 10**18)),
        ok(("uint256", 10**23)),
        ok(("uint256", 1000)),
        ok(("uint256", 10**26)),
    ]
    assert convex.decode_rewards([ok(("uint256", 1_000)), *schedule]) == [
        RewardClaimable(token=CRV, amount=1_000, symbol="CRV"),
        RewardClaimable(token=CVX, amount=500, symbol="CVX"),
    ]
    aave = AaveV3Adapter.__new__(AaveV3Adapter)  # a market that pays no reward token: the defaults
    assert aave.reward_reads(ME) == [] and aave.decode_rewards([]) == [] and aave.claim_calls(ME) == []
