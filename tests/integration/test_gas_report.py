"""The predictor measured on the live chain: `floor gas` over anvil's recent blocks."""

from __future__ import annotations

from cli import outputs
from floor.chain.gas_report import chain_gas_report
from tests.integration.helpers import mint
from tests.json_schema import cli_json


def test_the_predictor_is_measured_on_the_chain_it_runs_against(settings, web3s):
    w3, chain = web3s[1], settings.chain(1)
    for i in range(40):  # blocks with some load, so the base fee moves both ways
        if i % 3:
            mint(w3, chain.token("USDC").address, chain.executor, 1)
        else:
            w3.provider.make_request("evm_mine", [])
    report = chain_gas_report(w3, chain)
    assert report.next_base_fee_wei == w3.eth.get_block("pending")["baseFeePerGas"]
    by_h = {h.horizon: h for h in report.horizons}
    assert by_h[1].measured_over > 0 and by_h[1].mae_wei is not None
    assert all(h.low_wei <= h.point_wei <= h.high_wei for h in report.horizons)


async def test_floor_gas_prints_each_chain(settings, cli):
    cli.use(settings)
    ran = await cli("gas", "--json")
    assert ran.code == 0, ran.err
    chains = {c["chain_id"]: c for c in cli_json(ran, outputs.GasOutput)["chains"]}  # wei as strings
    assert set(chains) == {1, 42161} and all(len(c["horizons"]) == 3 for c in chains.values())
