"""Prices from the Chainlink feed stand-ins on the local stack: every token of a chain in one
request, as deployed; an updated answer read back; a feed left past its heartbeat (anvil's
clock moved on) named as stale; a zero or negative answer and a feed with no round named as no
price; a report valuing every strategy position in ONE request per chain; the private route
valuing moves on the same feeds."""

from __future__ import annotations

from decimal import Decimal

import pytest
from eth_account import Account
from web3.exceptions import ContractLogicError

from floor.adapters.registry import AdapterRegistry
from floor.chain.multicall import MulticallReader
from floor.chain.prices import plan_prices, price_results, read_prices
from floor.chain.private import PrivateRoute
from floor.chain.report import read_report
from floor.chain.rpc import connect, request_counts
from floor.config import Settings
from floor.devnet.context import PRICES, USD_UNIT, Deployer, deploy_feed
from floor.devnet.deploy import HEARTBEATS
from floor.errors import PriceStale, PriceUnavailable
from floor.models import Price, value_of
from floor.readplan import ReadPlan
from tests.integration.helpers import advance_time, contract

pytestmark = pytest.mark.integration


def feed_of(w3, settings, chain_id: int, symbol: str):
    return contract(w3, "ChainlinkAggregator", settings.chain(chain_id).price_feeds[symbol].feed)


def test_every_token_priced_in_one_request_per_chain(stack, settings):
    for chain_id, chain in stack.chains.items():
        config = settings.chain(chain_id)
        assert set(config.price_feeds) == {t.symbol for t in config.tokens}
        w3 = connect([chain.rpc_url])  # a fresh connection, so the count is this test's alone
        prices = read_prices(MulticallReader(w3), config)
        assert request_counts(w3) == {"eth_call": 1}, dict(request_counts(w3))
        assert {s: p.price for s, p in prices.items()} == {t.symbol: PRICES[t.symbol] for t in config.tokens}
        assert {p.decimals for p in prices.values()} == {8}  # read from each feed, none configured
        assert len({p.block_number for p in prices.values()}) == 1
        assert {s: p.feed for s, p in prices.items()} == {s: f.feed for s, f in config.price_feeds.items()}
        assert {s: f.heartbeat_s for s, f in config.price_feeds.items()} == HEARTBEATS[chain_id]
        assert value_of(2 * 10**18, 18, prices["WETH"]) == 6_000 * USD_UNIT


def test_an_updated_answer_reads_back_as_a_new_round(stack, settings, web3s):
    w3 = web3s[42161]
    feed = feed_of(w3, settings, 42161, "WETH")
    assert (feed.functions.description().call(), feed.functions.version().call()) == ("ETH / USD", 4)
    assert feed.functions.decimals().call() == 8
    first = feed.functions.latestRoundData().call()
    Deployer(w3).send(feed.functions.updateAnswer(2_345_67890123))  # $2,345.67890123
    price = read_prices(MulticallReader(w3), settings.chain(42161), ["WETH"])["WETH"]
    assert price.price == 2_345_67890123 and price.round_id == first[0] + 1
    assert price.updated_at == w3.eth.get_block(price.block_number)["timestamp"]
    # The earlier round is kept; a round id beyond uint32 is "No data present"; V2's views agree.
    assert feed.functions.getRoundData(first[0]).call() == first
    assert feed.functions.latestAnswer().call() == 2_345_67890123 == feed.functions.getAnswer(first[0] + 1).call()
    with pytest.raises(ContractLogicError, match="No data present"):
        feed.functions.getRoundData(2**32).call()
    # Only the owner answers, and never outside the feed's bounds (an answer of 0 is refused).
    participant = stack.chains[42161].deployed.participant
    with pytest.raises(ContractLogicError):
        feed.functions.updateAnswer(1).transact({"from": participant})
    with pytest.raises(ContractLogicError, match="median is out of min-max range"):
        feed.functions.updateAnswer(0).call({"from": Deployer(w3).admin})


def test_a_feed_past_its_heartbeat_is_stale_by_name(stack, settings, web3s):
    """Ethereum's ETH/USD heartbeat is an hour, USDC/USD's a day: an hour and a second later
    WETH's answer is stale and USDC's is not."""
    config, w3 = settings.chain(1), web3s[1]
    advance_time(w3, 3_601, keep_feeds_fresh=False)
    with pytest.raises(PriceStale) as raised:
        read_prices(MulticallReader(w3), config)
    text = str(raised.value)
    assert config.price_feeds["WETH"].feed in text and "WETH" in text and "heartbeat of 3600 s" in text
    assert "DAI" in text  # DAI/USD is hourly too: both named in the one error
    plan = ReadPlan()
    symbols = plan_prices(plan, config, ["USDC", "WETH"])
    batch = MulticallReader(w3).read(plan.calls)
    found = price_results(config, symbols, plan.results(batch.results), batch)
    assert isinstance(found["USDC"], Price) and isinstance(found["WETH"], PriceStale)
    age = batch.timestamp - feed_of(w3, settings, 1, "WETH").functions.latestRoundData().call()[3]
    assert age > 3_600 and f"{age} s old" in str(found["WETH"])

    # A new round makes it current again; a round stamped over an hour back is stale at once.
    d = Deployer(w3)
    d.send(feed_of(w3, settings, 1, "WETH").functions.updateAnswer(3_100 * USD_UNIT))
    assert read_prices(MulticallReader(w3), config, ["WETH"])["WETH"].price == 3_100 * USD_UNIT
    now = w3.eth.get_block("latest")["timestamp"]
    d.send(feed_of(w3, settings, 1, "WETH").functions.setAnswer(3_200 * USD_UNIT, now - 3_700))
    with pytest.raises(PriceStale, match="WETH"):
        read_prices(MulticallReader(w3), config, ["WETH"])


def test_no_round_zero_and_negative_answers_are_no_price(stack, settings, web3s):
    """A feed whose bounds allow them (some do, e.g. rate feeds): zero and negative answers
    are refused by name, and a feed with no round yet (all zeros) too, never valued at 0."""
    w3 = web3s[1]
    d = Deployer(w3)
    signed = deploy_feed(d, "DAI / USD", USD_UNIT, min_answer=-(10**18))
    config = settings.chain(1).model_copy(
        update={
            "price_feeds": {"DAI": settings.chain(1).price_feeds["DAI"].model_copy(update={"feed": signed.address})}
        }
    )
    assert read_prices(MulticallReader(w3), config)["DAI"].price == USD_UNIT
    for answer in (0, -1):
        d.send(signed.functions.updateAnswer(answer))
        with pytest.raises(PriceUnavailable, match=f"answered {answer}") as raised:
            read_prices(MulticallReader(w3), config)
        assert signed.address in str(raised.value) and "DAI" in str(raised.value)

    empty = d.deploy("ChainlinkAggregator", d.admin, 8, "DAI / USD", 1, 10**30)
    assert empty.functions.latestRoundData().call() == [0, 0, 0, 0, 0]  # as OCR: no revert before a round
    config = config.model_copy(
        update={"price_feeds": {"DAI": config.price_feeds["DAI"].model_copy(update={"feed": empty.address})}}
    )
    with pytest.raises(PriceUnavailable, match="no round yet"):
        read_prices(MulticallReader(w3), config)

    nowhere = Account.create().address  # no contract there: the call returns no data
    config = config.model_copy(
        update={"price_feeds": {"DAI": config.price_feeds["DAI"].model_copy(update={"feed": nowhere})}}
    )
    with pytest.raises(PriceUnavailable, match="no contract at that address") as raised:
        read_prices(MulticallReader(w3), config)
    assert nowhere in str(raised.value)


def strategy_settings(stack) -> Settings:
    """Every market the stack deployed, on both chains, as the strategy; the account read is
    the other participants' (they hold a position in every market), in the executor's place."""
    chains = stack.chain_configs()
    for config, chain in zip(chains, stack.chains.values(), strict=True):
        config["executor"] = chain.deployed.participant
    targets = [
        {"chain_id": c["id"], "protocol": m["protocol"], "market": m["market"], "weight_bps": 0}
        for c in chains
        for m in c["markets"]
    ]
    return Settings(chains=chains, strategy={"targets": targets})


def test_a_report_values_every_position_in_one_request_per_chain(stack, web3s):
    settings = strategy_settings(stack)
    registry = AdapterRegistry.from_settings(settings)
    fresh = {cid: c.web3() for cid, c in stack.chains.items()}  # counters of their own
    rows = read_report(settings, fresh, window_s=None)
    for chain_id, w3 in fresh.items():
        assert request_counts(w3) == {"eth_call": 1}, (chain_id, dict(request_counts(w3)))
    assert len(rows) == len(registry) == sum(len(c.markets) for c in settings.chains)
    prices = {cid: read_prices(MulticallReader(web3s[cid]), settings.chain(cid)) for cid in fresh}
    for row in rows:
        price = prices[row.chain_id][row.asset]
        assert row.value == Decimal(value_of(row.amount, row.decimals, price)).scaleb(-8), row
        assert row.value <= Decimal(row.amount).scaleb(-row.decimals) * Decimal(price.price).scaleb(-8)
    valued = {r.protocol for r in rows if r.amount > 0 and r.value > 0}  # the participants' positions
    assert valued >= {"aave-v3", "metamorpho", "compound-v3", "morpho-blue", "lido", "rocket-pool"}, rows
    # Staked ETH is valued on WETH's feed (its amount is already ETH, at the protocol's rate).
    staked = [r for r in rows if r.protocol in ("lido", "rocket-pool")]
    assert {r.asset for r in staked} <= {"WETH"}


def test_a_report_with_a_missing_or_stale_feed_fails_by_name(stack, web3s):
    settings = strategy_settings(stack)
    chains = [c.model_dump(mode="json") for c in settings.chains]
    del chains[1]["price_feeds"]["USDC"]  # chain 42161's USDC markets cannot be valued
    fresh = {cid: c.web3() for cid, c in stack.chains.items()}
    unpriced = Settings(chains=chains, strategy=settings.strategy)
    with pytest.raises(PriceUnavailable, match="no price feed for token 'USDC'"):
        read_report(unpriced, fresh, window_s=None)
    assert request_counts(fresh[42161]) == {}  # refused before anything was sent there

    advance_time(web3s[1], 3_601, keep_feeds_fresh=False)
    with pytest.raises(PriceStale, match="WETH"):
        read_report(settings, web3s, window_s=None)


def test_the_private_route_values_moves_on_the_feeds(stack, web3s):
    chains = stack.chain_configs()
    chains[0]["flashbots"] = {"relay_url": "http://127.0.0.1:9"}  # never contacted here
    settings = Settings(chains=chains)
    chain, w3 = settings.chain(1), web3s[1]
    route = PrivateRoute(chain, w3, MulticallReader(w3), "0x" + "12" * 32)
    prices = route._prices({"USDC"})
    assert {s: (p.price, p.decimals) for s, p in prices.items()} == {
        "USDC": (PRICES["USDC"], 8),
        "WETH": (PRICES["WETH"], 8),
    }
    advance_time(w3, 3_601, keep_feeds_fresh=False)  # WETH's answer goes stale: no reference, so every move is unpriced
    assert set(route._prices({"USDC"})) == {"USDC"}


def test_the_generated_config_carries_the_feeds_through_toml(stack, tmp_path):
    """The demo writes the stack's chain configs as TOML (scripts/demo.py `write_config`); the
    feeds come back from the file as deployed."""
    import tomli_w

    from floor.config import load_settings

    path = tmp_path / "floor.toml"
    path.write_text(tomli_w.dumps({"chains": stack.chain_configs()}))
    loaded = load_settings(path)
    for chain_id, local in stack.chains.items():
        assert {s: (f.feed, f.heartbeat_s, f.decimals) for s, f in loaded.chain(chain_id).price_feeds.items()} == {
            s: (f["feed"], HEARTBEATS[chain_id][s], None) for s, f in local.deployed.price_feeds.items()
        }
