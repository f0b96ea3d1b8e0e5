"""Every `floor ...` example in the README's tables, run as the installed command against a
stack set up as `make demo` sets up its own (scripts/demo.py): the same deployment, the demo's
strategy over every protocol (a 32 ETH validator with its deposit data, a Beacon API stand-in
and the deposit attester), the demo treasury allocated through the engine. Each example must
exit as the README says (0 unless it says otherwise), once on the fresh demo and once after
the chains have run for a day (the suite runs the reads a day later, `make drills`
(FLOOR_README_FULL=1) every example).

What differs from the demo: the rebalance and harvest cooldowns are 0, since Temporal's clock
cannot move with the chains' (the second pass's `floor rebalance` and `floor harvest` would be
refused for the first pass's, exit 1, as the README says); chain 1's large moves take the
public route (the demo's local relay has tests of its own: test_private_route.py); the worker
runs in this process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading

from temporalio.service import RPCError

from activities.deps import Deps
from client import ensure_engine
from floor.adapters.registry import AdapterRegistry
from floor.config import Settings, SignerConfig
from floor.devnet.alertmanager import Destinations, render_config, start_alertmanager
from floor.devnet.beacon import BeaconStandIn, Chain, serve
from floor.devnet.deploy import configure_executor
from floor.devnet.deploy import fund as fund_executor
from floor.devnet.processes import free_port
from floor.devnet.stack import GUARDIAN_ACCOUNT, anvil_account_key
from floor.engine import Operation
from floor.models import AdapterKey
from floor.protocols.native_eth import deposit_data as dd
from floor.store import Store
from scripts.demo import DEMO_VALIDATOR_KEY, STRATEGY, TREASURY
from tests.integration.conftest import ENV, FLOOR, Ran
from tests.integration.engine_helpers import access_config, allocate_request, run_operation
from tests.integration.helpers import advance_time
from tests.readme import Example, floor_examples
from workers.attester import Attester
from workers.attester import serve as serve_attester
from workers.temporal import build_worker

DAY_S = 86_400
HOUR_S = 3_600


async def floor(*args: str) -> Ran:
    proc = await asyncio.create_subprocess_exec(
        str(FLOOR), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=ENV
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return Ran(proc.returncode, out.decode(), err.decode())


def serving(server) -> None:
    threading.Thread(target=server.serve_forever, daemon=True).start()


def demo_settings(
    stack, task_queue: str, tmp_path, beacon_url: str, attester_url: str, alertmanager_url: str
) -> Settings:
    """scripts/demo.py's `write_config` on the test stack, with its validator's deposit data."""
    chains = stack.chain_configs()
    executor = chains[0]["executor"]
    market = next(m for m in chains[0]["markets"] if m["adapter"] == "native_eth")
    market["deposit_data"] = str(dd.write(tmp_path / "deposit_data-demo.json", [dd.make(DEMO_VALIDATOR_KEY, executor)]))
    market["beacon_api_url"] = beacon_url
    return Settings(
        engine_name=f"readme-{task_queue}",
        chains=chains,
        temporal={"task_queue": task_queue},
        store={"url": f"sqlite:///{tmp_path / 'floor.db'}"},
        attester={"url": attester_url},
        metrics={"alertmanager_url": alertmanager_url},
        strategy={
            "targets": [{"chain_id": c, "protocol": p, "market": m, "weight_bps": w} for c, p, m, w in STRATEGY],
            "min_rebalance_interval_s": 0,
        },
        engine={"harvest_cooldown_s": 0},
        access=access_config(),
    )


# Examples that change nothing: they run beside the others (two at a time), which keep the
# README's order; each is still run against the demo of its pass.
READS = {("status",), ("positions",), ("history",), ("gas",), ("--help",), ("reconcile", "--open")}
READS |= {("risk", "scores"), ("risk", "liquidity"), ("risk", "breakers"), ("alerts", "list")}


def reads_only(example: Example) -> bool:
    return tuple(example.args[:1]) in READS or tuple(example.args[:2]) in READS


async def run_examples(cli, when: str, only_reads: bool = False) -> None:
    slots = asyncio.Semaphore(2)

    async def run(example: Example) -> str | None:
        async with slots:
            # `floor --help` has no command to take --config; `floor deploy` reads its network's file.
            own_config = example.args[0].startswith("-") or example.args[0] == "deploy"
            ran = await (floor(*example.args) if own_config else cli(*example.args))
        if ran.code == example.exit_code:
            return None
        return f"{example.text} exited {ran.code}, the README says {example.exit_code}:\n{ran.err}{ran.out}"

    examples = [e for e in floor_examples() if reads_only(e) or not only_reads]
    reads = asyncio.gather(*(run(e) for e in examples if reads_only(e)))
    failed = [await run(e) for e in examples if not reads_only(e)] + list(await reads)
    assert not any(failed), f"{when}:\n" + "\n".join(f for f in failed if f)


async def test_every_readme_example_works_on_the_demo_fresh_and_a_day_later(
    temporal_env, stack, web3s, signer, task_queue, tmp_path, cli
):
    beacon_port, attester_port = free_port(), free_port()
    beacon = serve(BeaconStandIn(Chain(stack.chains[1].rpc_url)), beacon_port)
    # The demo's Alertmanager (`floor alerts`), its receivers pointing nowhere: nothing fires here.
    nowhere = f"http://127.0.0.1:{free_port()}"
    receivers = Destinations.loopback(smtp_port=free_port(), slack_url=nowhere, pagerduty_url=nowhere)
    alertmanager = start_alertmanager(render_config(receivers), free_port(), tmp_path / "am", tmp_path / "logs")
    settings = demo_settings(
        stack,
        task_queue,
        tmp_path,
        f"http://127.0.0.1:{beacon_port}",
        f"http://127.0.0.1:{attester_port}",
        alertmanager.url,
    )
    # floor-attester, with the demo's attester key (the guardian's); the worker asks it at attester.url.
    key = SignerConfig(private_key=anvil_account_key(GUARDIAN_ACCOUNT))
    keyed = settings.model_copy(update={"attester": settings.attester.model_copy(update={"key": key})})
    attester = serve_attester(Attester(keyed), "127.0.0.1", attester_port)
    for server in (beacon, attester):
        serving(server)
    try:
        native = AdapterRegistry.from_settings(settings).get(
            AdapterKey(chain_id=1, protocol="native-eth", market="validators")
        )
        configure_executor(web3s[1], settings.chain(1).executor, native.permissions())  # the owner registers it
        treasury = {}
        for (chain_id, symbol), whole in TREASURY.items():
            units = whole * 10 ** settings.chain(chain_id).token(symbol).decimals
            fund_executor(
                web3s[chain_id], stack.chains[chain_id].deployed, settings.chain(chain_id).executor, {symbol: units}
            )
            treasury[(chain_id, symbol)] = units
        cli.use(settings)
        store = Store.from_settings(settings)
        store.migrate()
        client = temporal_env.client
        async with build_worker(client, task_queue, Deps(settings, signer, web3s, store=store)):
            await ensure_engine(client, settings)
            result = await run_operation(client, settings, Operation.ALLOCATE, allocate_request(treasury))
            assert result.status == "done", result.summary
            # The demo's validator active, as it is once the demo has run an hour (the Beacon
            # stand-in activates a deposit 6 to 7 epochs on): `floor panic-exit` can request its exit.
            advance_time(web3s[1], HOUR_S, keep_feeds_fresh=True)
            try:
                await run_examples(cli, "on the fresh demo")
                for w3 in web3s.values():
                    advance_time(w3, DAY_S, keep_feeds_fresh=True)
                # What a day changes is what the reads see (measured APYs, feeds, the look-back):
                # the suite runs those a day later; `make drills` runs every example again.
                await run_examples(cli, "a day later", only_reads=not os.environ.get("FLOOR_README_FULL"))
            finally:
                for schedule in (
                    "rebalance-check",
                    "harvest-check",
                    "reconcile-check",
                    "risk-check",
                    "exit-drill-check",
                ):
                    with contextlib.suppress(RPCError):  # `floor schedules apply` made them
                        await client.get_schedule_handle(f"{settings.engine_id}/{schedule}").delete()
    finally:
        for server in (beacon, attester):
            server.shutdown()
            server.server_close()
        alertmanager.stop()
