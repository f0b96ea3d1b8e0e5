"""The console in an incident (`floor` run as a real process): with the worker stopped, a pause
is signalled in seconds and takes effect when a worker returns, with nothing sent in between;
`floor status` says the worker is not answering and shows the pause waiting; an operation
fails in one line; `floor pause --onchain` pauses every executor with the guardian key."""

from __future__ import annotations

import asyncio
import tomllib

import pytest
import tomli_w

from activities.deps import Deps
from cli.outputs import PauseOutput, StatusNoWorkerOutput, StatusOutput
from client import engine_status, ensure_engine
from floor.calls import call
from floor.chain.errors import ExecutionReverted
from floor.chain.executor import ExecutorClient
from floor.devnet.stack import GUARDIAN_ACCOUNT, anvil_account_key
from floor.engine import EngineState
from tests.integration.engine_helpers import commander, engine_settings
from tests.integration.helpers import contract
from tests.json_schema import cli_json
from workers.temporal import build_worker

SIGNALLED = "no worker answered within 3 s: pause signalled; it takes effect when a worker runs"


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


async def quiet(handle) -> None:
    """Until the workflow has nothing in progress (its start's audit entries in the store): a
    worker stopped now leaves no task behind that a signal could ride in on."""
    for _ in range(200):
        description = (await handle.describe()).raw_description
        if not description.pending_activities and not description.HasField("pending_workflow_task"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id} still busy: {description}")


def nonces(web3s, address: str) -> dict[int, int]:
    return {chain_id: w3.eth.get_transaction_count(address) for chain_id, w3 in web3s.items()}


async def test_pause_with_the_worker_down_takes_effect_when_a_worker_returns(
    temporal_env, stack, web3s, signer, task_queue, cli
):
    settings = engine_settings(stack, task_queue)
    cli.use(settings)
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
        await ensure_engine(client, settings)  # the engine runs, IDLE
        await quiet(client.get_workflow_handle(settings.engine_id))
    before = nonces(web3s, signer.address)

    # The worker is down: the pause is signalled, in one line, within the CLI's few seconds.
    ran = await cli("pause", "--reason", "worker down drill", "--by", "oncall", "--json", keyless=True)
    assert ran.code == 0, ran
    paused = cli_json(ran, PauseOutput)
    assert paused["note"] == SIGNALLED and paused["applied"] is False, paused

    # `status` says so, with what Temporal recorded: the state, the pause waiting, the executors;
    # an operation fails in one line, naming the problem, instead of waiting for a worker.
    ran, refused = await asyncio.gather(cli("status", "--json"), cli("rebalance", "--reason", "drill"))
    assert ran.code == 1 and "the worker is not answering" in one_line(ran.err), ran
    status = cli_json(ran, StatusNoWorkerOutput)
    assert (status["state"], status["worker"]) == ("IDLE", "not answering"), status
    assert [(s["signal"], s["input"]) for s in status["pending_signals"]] == [
        ("pause_engine", {"reason": "worker down drill", "by": "oncall"})
    ]
    assert [(e["chain_id"], e["paused"]) for e in status["executors"]] == [(1, False), (42161, False)]
    assert refused.code == 1 and refused.out == "", refused
    assert one_line(refused.err).startswith("error: no worker answered the engine"), refused
    assert "is the worker running?" in refused.err

    # A worker returns: the engine applies the pause first, and nothing was sent in between.
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
        for _ in range(300):
            current = await engine_status(client, settings.engine_id)
            if current.state == EngineState.PAUSED:
                break
            await asyncio.sleep(0.1)
        assert (current.state, current.pause_reason) == (EngineState.PAUSED, "worker down drill"), current
        # Answered once the signal's pause has held the queues and paused the schedules.
        again = await commander(client, settings).pause("again")
        assert again.startswith("already paused since ") and again.endswith(" by oncall: worker down drill"), again
    assert nonces(web3s, signer.address) == before


async def test_pause_onchain_pauses_every_executor_with_the_guardian_key(
    temporal_env, stack, web3s, signer, task_queue, cli
):
    settings = engine_settings(stack, task_queue)
    cli.use(settings)
    ran = await cli("pause", "--onchain", "--reason", "key leak")
    assert ran.code == 1 and one_line(ran.err).startswith("error: --onchain needs the guardian key"), ran
    config = tomllib.loads(cli.config.read_text())  # the guardian, as the watchdog holds it (anvil account 3)
    config["watchdog"] = {"guardian": {"private_key": anvil_account_key(GUARDIAN_ACCOUNT)}}
    cli.config.write_text(tomli_w.dumps(config))

    async with build_worker(temporal_env.client, task_queue, Deps(settings, signer, web3s)):
        ran = await cli("pause", "--onchain", "--reason", "key leak", "--by", "oncall", keyless=True)
        assert ran.code == 0, ran
        lines = ran.out.strip().splitlines()
        assert len(lines) == 3 and lines[-1] == "paused by oncall: key leak", ran
        for line, chain_id in zip(lines, (1, 42161), strict=False):
            executor = settings.chain(chain_id).executor
            assert line.startswith(f"chain {chain_id}: executor {executor} paused by the guardian "), line
            assert " transaction 0x" in line
        status = cli_json(await cli("status", "--json"), StatusOutput)
        assert [(e["chain_id"], e["paused"]) for e in status["executors"]] == [(1, True), (42161, True)]

    for chain_id, w3 in web3s.items():
        chain = settings.chain(chain_id)
        assert contract(w3, "FloorExecutor", chain.executor).functions.paused().call()
        pool = next(m.pool for m in chain.markets if getattr(m, "pool", None))
        approve = call(chain.token("USDC").address, "approve(address,uint256)", pool, 0)
        with pytest.raises(ExecutionReverted, match="ExecutorPaused"):  # the operator's execute is refused
            ExecutorClient(w3, chain_id, chain.executor, signer).execute([approve])
