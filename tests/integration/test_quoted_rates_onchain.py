"""Quoted APYs on the session's chains: on a fresh stack the report quotes every market whose
protocol keeps a rate in its state (Aave's, Compound's, Morpho's IRM and utilisation, with no
history needed), Morpho's exactly as its IRM's borrowRateView gives it; the others say why
they are measured. After a day and a second oracle report, Lido's and Rocket Pool's are
quoted from their last two reports, as each protocol computes its rate."""

from __future__ import annotations

import pytest

from floor.adapters.base import RAY, SECONDS_PER_YEAR
from floor.adapters.registry import AdapterRegistry
from floor.chain.multicall import MulticallReader
from floor.chain.report import read_report
from floor.models import AdapterKey
from floor.protocols.aave_v3.adapter import AaveV3Adapter
from floor.protocols.compound_v3.adapter import CompoundV3Adapter
from floor.protocols.morpho_blue.adapter import MorphoBlueAdapter, supply_apy
from tests.integration.helpers import advance_time, contract
from tests.integration.test_prices_onchain import strategy_settings
from tests.integration.test_staking_protocols_onchain import network_balances, send, submit_balances

DAY = 86_400
QUOTING = (AaveV3Adapter, CompoundV3Adapter, MorphoBlueAdapter)  # a rate in their state, no history needed


def rows_by_key(settings, web3s):
    """The report as `floor positions` reads it: with a look-back, so history (the oracle
    reports' events) is read too."""
    return {(r.chain_id, r.protocol, r.market): r for r in read_report(settings, web3s, window_s=DAY)}


def test_a_fresh_stack_quotes_every_market_whose_protocol_keeps_a_rate(stack, web3s):
    settings = strategy_settings(stack)
    registry = AdapterRegistry.from_settings(settings)
    rows = rows_by_key(settings, web3s)
    quoting = [
        k for k in rows if isinstance(registry.get(AdapterKey(chain_id=k[0], protocol=k[1], market=k[2])), QUOTING)
    ]
    assert {k[1] for k in quoting} >= {"aave-v3", "compound-v3", "morpho-blue"}
    for key in quoting:
        assert rows[key].apy_source == "quoted" and rows[key].apy is not None and rows[key].apy_note is None, key
    for key, row in rows.items():  # the others (minutes of history: nothing measured yet) say why not
        if key not in quoting:
            assert row.apy_source is None and row.apy_note, row

    # Morpho: the IRM's borrowRateView for the market accrued to the report's block, in a
    # second read, gives the same rate the report computed from the IRM's state in its one.
    (key,) = [k for k in quoting if k[1] == "morpho-blue"]
    morpho = registry.get(AdapterKey(chain_id=key[0], protocol=key[1], market=key[2]))
    reader = MulticallReader(web3s[key[0]])
    block = rows[key].block_number
    market = morpho._market(reader.read(morpho.tvl_reads(), block).results)
    rate = morpho.decode_borrow_rate(reader.read(morpho.borrow_rate_reads(market), block).results)
    assert rate > 0 and market.total_borrow_assets > 0
    assert rows[key].apy == supply_apy(rate, market) / 10**18 > 0


def test_lido_and_rocket_pool_quote_their_last_two_oracle_reports(stack, web3s):
    settings = strategy_settings(stack)
    registry = AdapterRegistry.from_settings(settings)
    w3, oracle = web3s[1], stack.chains[1].deployed.admin  # Lido's oracle and Rocket Pool's guardian
    lido = registry.get(AdapterKey(chain_id=1, protocol="lido", market="stETH"))
    rocket = registry.get(AdapterKey(chain_id=1, protocol="rocket-pool", market="rETH"))
    before = rows_by_key(settings, web3s)
    assert (
        before[1, "lido", "stETH"].apy_source is None
        and "one Lido oracle report" in before[1, "lido", "stETH"].apy_note
    )
    assert "1 Rocket Pool balances update" in before[1, "rocket-pool", "rETH"].apy_note

    advance_time(w3, DAY)
    steth = contract(w3, "LidoStETH", lido.steth)
    pre = steth.functions.getPooledEthByShares(RAY).call()
    send(w3, steth.functions.oracleReport(steth.functions.getTotalPooledEther().call() // 10_000), oracle)
    post = steth.functions.getPooledEthByShares(RAY).call()
    total_eth, supply = network_balances(w3, rocket)
    submit_balances(w3, rocket.rocket_storage, oracle, total_eth + total_eth // 5_000, supply)

    after = rows_by_key(settings, web3s)
    staked = after[1, "lido", "stETH"], after[1, "rocket-pool", "rETH"]
    assert [r.apy_source for r in staked] == ["quoted", "quoted"] and [r.apy_note for r in staked] == [None, None]
    # Lido: the share rate's growth in the report (rewards less the 10% fee), over the day since
    # the deployment's report (the stand-in dates a report by the previous one's timestamp).
    reports = steth.events.TokenRebased.get_logs(from_block=0)
    elapsed = reports[-1].args.reportTimestamp - reports[-2].args.reportTimestamp
    assert DAY <= elapsed < DAY + 120
    assert staked[0].apy == pytest.approx((post / pre) ** (SECONDS_PER_YEAR / elapsed) - 1, rel=1e-6)
    assert 0.03 < staked[0].apy < 0.04  # +0.01% less the fee in a day
    # Rocket Pool: +0.02% in a day between the two submissions' slots.
    assert 0.07 < staked[1].apy < 0.08
