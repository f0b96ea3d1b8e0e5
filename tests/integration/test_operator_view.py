"""What an operator reads, from the `floor` CLI (a real process) and the Web UI's current details:
every `--json` output fits its schema in docs/cli-json.md (amounts as strings), positions with
idle balances and a total, summaries in token units, the queue's and the operation's details,
and a stale price feed on chain 1 that opens its breaker without stopping what needs no price:
a capital request paid from idle funds, `floor risk liquidity`; `floor status` names the open
breaker and who paused the engine, why and since when."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from activities.deps import Deps
from cli import outputs
from cli.render import status_lines
from client import ensure_engine
from floor.txqueue import queue_id
from tests.integration.engine_helpers import commander, engine_settings, wait_for
from tests.integration.engine_helpers import current_details as details
from tests.integration.helpers import advance_time, mint
from tests.integration.test_reconcile import with_store
from tests.json_schema import cli_json as fits
from workers.temporal import build_worker

USDC = 10**6


async def test_what_the_operator_reads_and_a_stale_feed(temporal_env, stack, web3s, signer, task_queue, cli, tmp_path):
    settings, store = with_store(engine_settings(stack, task_queue), tmp_path)
    cli.use(settings)
    client, w3, chain = temporal_env.client, web3s[1], settings.chain(1)
    mint(w3, chain.token("USDC").address, chain.executor, 1_000 * USDC)  # idle, in no market
    async with build_worker(client, task_queue, Deps(settings, signer, web3s, store=store)):
        positions, _ = await asyncio.gather(cli("positions", "--json"), ensure_engine(client, settings))
        data = fits(positions, outputs.PositionsOutput)
        idle = {(r["chain_id"], r["asset"]): r for r in data["idle"]}
        assert idle[(1, "USDC")]["amount"] == str(1_000 * USDC) and idle[(1, "USDC")]["decimals"] == 6
        values = [Decimal(r["value"]) for r in data["positions"] + data["idle"]]
        assert Decimal(data["total_value"]) == sum(values) >= Decimal(1_000)

        # Two hours without a new round: chain 1's WETH feed (1 h heartbeat) is stale and the
        # risk check opens the chain's breaker. USDC's feed (1 day) is fresh.
        advance_time(w3, 2 * 3600, keep_feeds_fresh=False)
        checked = await commander(client, settings).check_risk()
        assert [(e.scope, e.trigger.value) for e in checked.events] == [("chain:1", "price")], checked
        liquidity = await cli("risk", "liquidity", "--json")  # needs no price
        assert liquidity.code == 0, liquidity.err
        assert {r["chain_id"] for r in fits(liquidity, outputs.LiquidityOutput)["liquidity"]} == {1, 42161}

        # 100 USDC from idle funds: no market, no price needed: delivered, in token units.
        treasury = chain.destinations[0]
        ran = await cli(
            "request-capital", "--chain", "1", "--asset", "USDC", "--amount", "100", "--to", treasury, "--json"
        )
        assert ran.code == 0, ran.err
        result = fits(ran, outputs.CapitalOutput)
        assert result["summary"].startswith(f"delivered 100 USDC to {treasury} on chain 1 (100 USDC from idle funds")
        assert (await details(client, result["workflow_id"])).startswith("**done**: delivered 100 USDC")
        queue = await wait_for(
            lambda: _details_with(client, queue_id(1, signer.address), "last inclusion: nonce"),
            what="the queue's details after the transfer",
        )
        assert queue.startswith("**sending**") and "pending 0, in flight 0, next nonce " in queue, queue

        # Paused, by whom, why and since when: in the status, the engine's and the queue's details.
        ran = await cli("pause", "--reason", "feed incident", "--by", "oncall", keyless=True)
        assert ran.code == 0, ran.err
        status_json, history, breakers = await asyncio.gather(
            cli("status", "--json"), cli("history", "--json"), cli("risk", "breakers", "--json")
        )
        status_data = fits(status_json, outputs.StatusOutput)
        assert (status_data["state"], status_data["paused_by"], status_data["pause_reason"]) == (
            "PAUSED",
            "oncall",
            "feed incident",
        )
        assert status_data["paused_at"] and [b["scope"] for b in status_data["breakers"]] == ["chain:1"]
        lines = "\n".join(status_lines(status_data))  # what `floor status` prints of it
        assert "Paused     by oncall since " in lines and "feed incident" in lines, lines
        assert "Breaker    [red]chain:1 OPEN[/] since " in lines and "(price, by risk-check)" in lines, lines
        assert fits(history, outputs.HistoryOutput)["operations"][-1]["summary"].startswith("delivered 100 USDC")
        assert [b["trigger"] for b in fits(breakers, outputs.BreakersOutput)["breakers"]] == ["price"]
        engine = await details(client, settings.engine_id)
        assert engine.startswith("**PAUSED** by oncall since ") and "feed incident" in engine, engine
        assert "breaker chain:1 OPEN since " in engine, engine
        queue = await details(client, queue_id(1, signer.address))
        assert queue.startswith("**held** since ") and "paused by oncall: feed incident" in queue, queue


async def _details_with(client, workflow_id: str, text: str) -> str | None:
    found = await details(client, workflow_id)
    return found if text in found else None
