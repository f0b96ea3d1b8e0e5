"""Prices from the Aave V3 oracle stand-in: every token of a chain in one batch, as deployed;
a changed price read back; a token without a price named in the error."""

from __future__ import annotations

import pytest
from eth_account import Account
from web3.exceptions import ContractLogicError

from floor.chain.multicall import MulticallReader
from floor.chain.prices import read_prices
from floor.chain.rpc import connect, request_counts
from floor.config import TokenConfig
from floor.devnet.deploy import PRICES, USD, USD_UNIT, Deployer
from floor.errors import PriceUnavailable
from floor.models import value_of
from tests.integration.helpers import contract


def test_every_token_priced_in_one_batch_per_chain(stack, settings):
    for chain_id, chain in stack.chains.items():
        config = settings.chain(chain_id)
        w3 = connect([chain.rpc_url])  # a fresh connection, so the count is this test's alone
        prices = read_prices(MulticallReader(w3), config.price_oracle, config.tokens)
        assert request_counts(w3) == {"eth_getBlockByNumber": 1, "eth_call": 1}, dict(request_counts(w3))
        assert {s: p.price for s, p in prices.items()} == {t.symbol: PRICES[t.symbol] for t in config.tokens}
        assert {p.unit for p in prices.values()} == {USD_UNIT}
        assert len({p.block_number for p in prices.values()}) == 1
        assert value_of(2 * 10**18, 18, prices["WETH"]) == 6_000 * USD_UNIT


def test_a_changed_price_reads_back(stack, settings, web3s):
    config = settings.chain(42161)
    w3 = web3s[42161]
    oracle = contract(w3, "AaveOracle", config.price_oracle)
    weth = config.token("WETH")
    Deployer(w3).send(oracle.functions.setAssetPrice(weth.address, 2_345_67890123))  # $2,345.67890123
    prices = read_prices(MulticallReader(w3), config.price_oracle, config.tokens)
    assert prices["WETH"].price == 2_345_67890123 and prices["USDC"].price == PRICES["USDC"]
    # Aave's array view agrees, and the base currency (USD: address zero) is one unit of itself.
    assert oracle.functions.getAssetsPrices([t.address for t in config.tokens]).call() == [
        prices[t.symbol].price for t in config.tokens
    ]
    assert oracle.functions.BASE_CURRENCY().call() == USD
    assert oracle.functions.getAssetPrice(USD).call() == USD_UNIT
    # Only the owner sets prices.
    with pytest.raises(ContractLogicError):
        oracle.functions.setAssetPrice(weth.address, 1).transact({"from": stack.chains[42161].deployed.participant})


def test_an_unpriced_token_is_named(stack, settings, web3s):
    config = settings.chain(1)
    w3 = web3s[1]
    stranger = TokenConfig(symbol="STRANGER", address=Account.create().address, decimals=18)
    with pytest.raises(PriceUnavailable, match="STRANGER") as raised:
        read_prices(MulticallReader(w3), config.price_oracle, [*config.tokens, stranger])
    assert config.price_oracle in str(raised.value) and stranger.address in str(raised.value)

    # A price set back to 0 is no price either (as a Chainlink answer <= 0 with no fallback).
    dai = config.token("DAI")
    Deployer(w3).send(contract(w3, "AaveOracle", config.price_oracle).functions.setAssetPrice(dai.address, 0))
    with pytest.raises(PriceUnavailable, match="DAI"):
        read_prices(MulticallReader(w3), config.price_oracle, config.tokens)
