"""A leaked operator key, tried at random: batches of allowed calls with adversarial arguments
(outsiders' addresses, unlisted ids, extreme amounts, min-outs of 0, and the attacker's own
markets on the treasury's contracts: a Morpho market pricing its collateral sky-high, one with
no interest rate model, a Uniswap pool of a reward against the attacker's token, that token as
an asset anywhere) never move anything out of the treasury, and what they lose inside stays
within the executor's per-batch bound and its window's budget, valued off chain over every
asset (so a rule that forgot an asset shows)."""

from __future__ import annotations

import pytest
from eth_abi.grammar import TupleType, parse
from eth_account import Account
from eth_utils import is_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from floor.adapters.base import Deposit
from floor.adapters.registry import AdapterRegistry, executor_setup
from floor.calls import call, decode_result, read
from floor.chain.errors import ExecutionReverted
from floor.chain.executor import ExecutorClient
from floor.chain.multicall import MulticallReader
from floor.devnet.context import Deployer
from floor.models import Call
from floor.permissions import BALANCE, ZERO_ADDRESS
from floor.protocols.morpho_blue.adapter import market_id
from tests.integration.helpers import contract, mint, protected_calls

OUTSIDERS = [Account.create().address for _ in range(2)]
# Amounts the treasury holds (1,000 tokens of 6 or 18 decimals per market) are likely, so
# calls that could move funds get the chance to.
AMOUNTS = st.one_of(st.sampled_from([1, 10**6, 10**18, 2**256 - 1]), st.integers(0, 10**21))


def _calls(
    rules, executor: str, addresses: list[str], ids: list[bytes] = (), tuples: dict[str, list[tuple]] | None = None
) -> st.SearchStrategy[Call]:
    """Any allowed (target, selector) with any arguments, or plain ETH to any address. Half
    the address arguments are the executor or an outsider, where a drain would need them.
    `tuples`: whole values of a tuple type (a Morpho market's params) drawn as often as ones
    built field by field, which would almost never name a real market."""
    tuples = tuples or {}
    address = st.one_of(st.sampled_from([executor, *OUTSIDERS]), st.sampled_from(addresses))
    by_type = {
        "address": address,
        "uint256": AMOUNTS,
        "uint16": st.integers(0, 2**16 - 1),
        "bool": st.booleans(),
        "bytes32": st.one_of(st.binary(min_size=32, max_size=32), st.sampled_from(ids)),  # pool ids, roots
        "int128": st.integers(-2, 8),  # a Curve pool's coin index (in range or not)
        "uint24": st.sampled_from([100, 500, 3000, 10_000, 1]),  # a Uniswap fee tier (or none)
        "uint160": st.sampled_from([0, 1, 2**96]),  # a swap's sqrtPriceLimitX96
    }

    def value(t) -> st.SearchStrategy:
        """Any value of an ABI type: arrays (Lido's request amounts and ids) and tuples too."""
        if t.is_array:
            fixed = t.arrlist[-1]  # (3,) for Curve's uint256[3], () for a dynamic array
            size = {"min_size": fixed[0], "max_size": fixed[0]} if fixed else {"max_size": 3}
            return st.lists(value(t.item_type), **size)
        if isinstance(t, TupleType):
            fields = st.tuples(*(value(c) for c in t.components))
            known = tuples.get(t.to_type_str())
            return st.one_of(st.sampled_from(known), fields) if known else fields
        if t.to_type_str() == "bytes":
            return st.binary(max_size=64)
        return by_type[t.to_type_str()]

    options = []
    for rule in rules:
        arguments = rule.signature[rule.signature.index("(") :]
        types = parse(arguments).components if arguments != "()" else ()  # deposit() takes none
        args = st.tuples(*(value(c) for c in types))
        # A rule that lets a call carry ETH (a stake, a wrap) is tried with ETH.
        eth = AMOUNTS if rule.carries_value else st.just(0)
        options.append(st.tuples(args, eth).map(lambda a, r=rule: call(r.target, r.signature, *a[0], value=a[1])))
    plain = st.builds(lambda to, v: Call(target=to, value=v, data="0x"), address, AMOUNTS)
    return st.one_of(*options, plain)


@pytest.fixture
def treasury(settings, web3s, signer):
    """The executor on chain 1 with tokens, ETH and a position in every market."""
    chain, w3 = settings.chain(1), web3s[1]
    client = ExecutorClient(w3, 1, chain.executor, signer)
    w3.provider.make_request("anvil_setBalance", [chain.executor, hex(10**18)])
    adapters = AdapterRegistry.from_settings(settings).on_chain(1)
    for adapter in adapters:
        if adapter.key.protocol == "native-eth":
            continue  # 32 ETH per validator, with the operator's deposit data: none on the devnet
        amount = 1_000 * 10**adapter.asset.decimals
        mint(w3, adapter.asset.address, chain.executor, 2 * amount)
        client.execute(protected_calls(w3, adapter, Deposit(amount), chain.executor))
    # What the executor may hold besides the tokens: each market's claim, where it is a token.
    claims = ("a_token", "vault", "comet", "steth", "reth")
    holdings = [t.address for t in chain.tokens] + [
        getattr(a, f) for a in adapters for f in claims if getattr(a, f, None)
    ]
    # Every contract a market calls (pools, vaults, Comets, Morpho, queues, deposit pools, ...).
    markets = sorted(
        {v for a in adapters for k, v in vars(a).items() if k != "asset" and isinstance(v, str) and is_address(v)}
    )
    return chain, w3, client, holdings, markets


MARKET_PARAMS = "(address,address,address,address,uint256)"


@pytest.fixture
def attacker(settings, web3s):
    """The attacker's own markets on the treasury's contracts, made with its own account: a
    token of its own, a Morpho market of the treasury's loan token whose oracle prices the
    collateral sky-high and one with no interest rate model (params and ids), and a Uniswap pool
    of the reward token against its token."""
    chain, w3 = settings.chain(1), web3s[1]
    d = Deployer(w3)
    junk = d.deploy("TestERC20", "Attacker", "ATK", 18).address
    morpho = next(a for a in AdapterRegistry.from_settings(settings).on_chain(1) if a.key.protocol == "morpho-blue")
    oracle = d.deploy("MorphoFixedPriceOracle", d.participant, 10**60).address
    sky_high = (morpho.asset.address, morpho.collateral_token, oracle, morpho.irm, morpho.lltv)
    no_irm = (morpho.asset.address, morpho.collateral_token, morpho.oracle, "0x" + "00" * 20, morpho.lltv)
    d.send(contract(w3, "Morpho", morpho.morpho).functions.createMarket(sky_high), d.participant)
    route = next(r for r in chain.swaps.routes if r.venue == "uniswap")
    router = contract(w3, "UniswapSwapRouter02", chain.swaps.router)
    factory = contract(w3, "UniswapV3Factory", router.functions.factory().call())
    d.send(factory.functions.createPool(route.token, junk, route.fee), d.participant)
    params = [morpho.params, sky_high, no_irm]
    return {"addresses": [junk, oracle], "ids": [market_id(p) for p in params], "tuples": {MARKET_PARAMS: params}}


BALANCE_OF = "balanceOf(address)"
MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11"


def _uints(w3, reads) -> list[int]:
    """Many uint256 views in one Multicall3 request (the property reads ~100 per batch tried)."""
    return [decode_result(["uint256"], r, "read")[0] for r in MulticallReader(w3).read(reads).results]


def _held(token: str, who: str):
    return read(MULTICALL3, "getEthBalance(address)", who) if token == ZERO_ADDRESS else read(token, BALANCE_OF, who)


def _treasury_value(w3, chain, setup, units: dict[bytes, int]) -> tuple[int, dict[bytes, int]]:
    """Every asset the executor values, as it values them (valueOf), plus what the treasury's
    destinations hold of the tokens and ETH (released, not lost), at `units` (USD, 18
    decimals, per base unit, filled in on the first reading): USD with 18 decimals."""
    assets = setup.permissions.assets
    tokens = [a for a in assets if a.kind == BALANCE]
    reads = [read(chain.executor, "valueOf(bytes32)", a.id) for a in assets]
    for a in tokens:
        reads += [_held(a.token, chain.executor), *(_held(a.token, d) for d in chain.destinations)]
    got = iter(_uints(w3, reads))
    values = {a.id: next(got) for a in assets}
    released = 0
    for a in tokens:
        mine, theirs = next(got), sum(next(got) for _ in chain.destinations)
        units.setdefault(a.id, values[a.id] // max(mine, 1))
        released += theirs * units[a.id]
    return released, values


def test_random_batches_from_the_operator_never_pay_an_outsider_nor_lose_past_the_bound(treasury, attacker):
    chain, w3, client, holdings, markets = treasury
    addresses = [chain.executor, *chain.destinations, *OUTSIDERS, *markets, *holdings, *attacker["addresses"]]
    setup = executor_setup(chain)
    bound = setup.bound
    # Listed ids, so conditions can pass, and the attacker's.
    ids = [m.word for m in setup.permissions.members] + attacker["ids"]
    executor = contract(w3, "FloorExecutor", chain.executor)

    outside_reads = (
        [read(t, BALANCE_OF, o) for t in holdings for o in OUTSIDERS]
        + [read(t, "allowance(address,address)", chain.executor, o) for t in holdings for o in OUTSIDERS]
        + [_held(ZERO_ADDRESS, o) for o in OUTSIDERS]
    )

    def outside() -> list[int]:
        """What the outsiders hold and may take: balances, allowances from the executor, ETH."""
        return _uints(w3, outside_reads)

    assert not any(outside())
    executed, tried_theirs = [], []
    calls = _calls(setup.permissions.rules, chain.executor, addresses, ids, attacker["tuples"])

    @settings(
        max_examples=200,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.lists(calls, min_size=1, max_size=4))
    def attack(calls: list[Call]):
        theirs = [a[2:].lower() for a in attacker["addresses"]] + [i.hex() for i in attacker["ids"]]
        tried_theirs.extend(c for c in calls if any(t in c.data.lower() for t in theirs))
        snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
        try:
            units: dict[bytes, int] = {}
            released_before, before = _treasury_value(w3, chain, setup, units)
            try:
                client.execute(calls)  # one batch: the executor's bound is per batch
                executed.append(calls)
            except ExecutionReverted:
                return
            assert not any(outside()), calls
            released_after, after = _treasury_value(w3, chain, setup, units)
            moved = sum(max(0, before[k] - after[k]) for k in before)
            loss = sum(before.values()) + released_before - sum(after.values()) - released_after
            usd = 10**18
            # Rounding of the valuation (a unit per asset) aside, within the bound and the budget.
            slack = len(before)
            assert loss <= max(bound.max_loss_bps * moved // 10_000, bound.floor_usd * usd) + slack, calls
            assert executor.functions.windowLoss().call() <= bound.window_budget_usd * usd
        finally:
            w3.provider.make_request("evm_revert", [snapshot])

    attack()
    # The property was tried against batches that really ran, not only against refusals.
    assert len(executed) >= 5
    # ... and with the attacker's markets among the arguments.
    assert len(tried_theirs) >= 20
