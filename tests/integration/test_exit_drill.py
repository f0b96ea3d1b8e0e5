"""The exit drill on the local stack: an allocation across lending, pool and queue markets on both
chains, then two planted failures (Comet's withdrawals paused by its governor, Curve's 3pool
drained of its USDC), then `floor exit-drill`: the planted exits are reported failed with the
market's reasons, every other position ok with its slippage and time until out; the drills are
in the store and in an exporter scrape; the real chains are as they were (positions, balances,
blocks, the signer's nonce); the runbook's recovery runs as written."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from activities.deps import Deps
from cli.outputs import ExitDrillOutput, schema
from client import ensure_engine
from floor.adapters.registry import AdapterRegistry
from floor.chain.fork import ForkFailed, anvil_fork
from floor.chain.multicall import MulticallReader
from floor.chain.positions import read_positions
from floor.config import Settings
from floor.devnet.context import Deployer
from floor.devnet.processes import free_port
from floor.engine import Operation
from floor.exit_drill import ExitDrillResult
from floor.models import AdapterKey
from floor.protocols.lido.adapter import EXIT_WAIT_S
from tests.integration.engine_helpers import access_config, allocate_request, fund, run_operation, temporal_cli
from tests.integration.helpers import balance, contract
from tests.integration.runbook_helpers import follow
from tests.integration.test_breakers import drain
from tests.integration.test_exporter import scrape, value
from tests.integration.test_panic_exit import replayed_and_recorded
from tests.integration.test_reconcile import with_store
from tests.json_schema import problems
from workers.exporter import serve
from workers.temporal import build_worker

USDC, ETH = 10**6, 10**18
STRATEGY = [  # bps of the floor; each (chain, token) leg splits by them, relatively
    (1, "aave-v3", "USDC", 1_500),
    (1, "compound-v3", "cUSDCv3", 1_000),
    (1, "curve", "3pool", 1_000),
    (1, "balancer-v2", "USDC-DAI stable", 500),
    (1, "lido", "stETH", 3_000),
    (42161, "aave-v3", "USDC", 3_000),
]
TREASURY = {(1, "USDC"): 200_000 * USDC, (1, "WETH"): 20 * ETH, (42161, "USDC"): 30_000 * USDC}
PLANTED = {"1:compound-v3:cUSDCv3", "1:curve:3pool"}


def drill_settings(stack, task_queue: str, tmp_path):
    return with_store(
        Settings(
            chains=stack.chain_configs(),
            temporal={"task_queue": task_queue},
            strategy={
                "targets": [{"chain_id": c, "protocol": p, "market": m, "weight_bps": w} for c, p, m, w in STRATEGY],
                "weights_of": "token",
            },
            engine={"workflow_id": f"engine-drill-{uuid.uuid4().hex[:8]}"},
            access=access_config(),
        ),
        tmp_path,
    )


def real_state(settings: Settings, web3s, signer: str) -> dict:
    """What the drill must not change: every position, the executors' token balances, each
    chain's block and the signer's nonce."""
    registry = AdapterRegistry.from_settings(settings)
    state: dict = {}
    for chain in settings.chains:
        w3 = web3s[chain.id]
        keys = [AdapterKey(chain_id=c, protocol=p, market=m) for c, p, m, _ in STRATEGY if c == chain.id]
        for p in read_positions(MulticallReader(w3), [registry.get(k) for k in keys], chain.executor):
            state[str(p.key)] = p.amount
        for token in chain.tokens:
            state[f"{chain.id}:{token.symbol}"] = balance(w3, token.address, chain.executor)
        state[f"{chain.id}:block"] = w3.eth.block_number
        state[f"{chain.id}:nonce"] = w3.eth.get_transaction_count(signer, "pending")
    return state


def plant_failures(settings: Settings, web3s) -> None:
    """Comet's governor pauses withdrawals; an attacker takes every USDC the 3pool holds (its
    books still count them, so the quote holds and the payout cannot)."""
    w3, chain = web3s[1], settings.chain(1)
    comet = contract(w3, "Comet", chain.market("compound-v3", "cUSDCv3").comet)
    Deployer(w3).send(comet.functions.pause(False, False, True, False, False))
    drain(w3, chain.token("USDC").address, chain.market("curve", "3pool").pool, 10_000)


async def test_an_exit_drill_reports_the_planted_failures_and_the_cost_of_every_exit(
    temporal_env, stack, web3s, signer, task_queue, tmp_path, cli
):
    client = temporal_env.client
    settings, store = drill_settings(stack, task_queue, tmp_path)
    cli.use(settings)
    async with build_worker(client, task_queue, Deps(settings, signer, web3s, store=store)):
        await ensure_engine(client, settings)
        fund(settings, web3s, TREASURY)
        allocated = await run_operation(client, settings, Operation.ALLOCATE, allocate_request(TREASURY))
        assert allocated.status == "done", allocated.summary
        plant_failures(settings, web3s)
        before = real_state(settings, web3s, signer.address)

        ran = await cli("exit-drill", "--json")
        assert ran.code == 1, ran.err
        output = ran.json()
        assert problems(output, schema(ExitDrillOutput)) == []
        result = ExitDrillResult.model_validate(output)
        assert real_state(settings, web3s, signer.address) == before  # the drill ran on forks only

        run_id = result.chains[0].run_id
        history = await client.get_workflow_handle(run_id).fetch_history()

        # The runbook's recovery, as written: the latest drill, liquidity, the protocol's breaker
        # tripped, the drill again (still failing while the market refuses the exit).
        ran_book = await follow(
            "exit-drill-failed.md",
            {"ticket": "INC-9", "protocol": "curve", "chain": "1"},
            floor=cli,
            temporal=lambda *args: temporal_cli(client, *args),
        )
        assert "CallFailed" in ran_book[0][2] and "FAILED" in ran_book[-1][2], ran_book
    await replayed_and_recorded(history, "exit-drill.json", run_id)

    by_chain = {c.chain_id: c for c in result.chains}
    assert result.status == "failed" and set(by_chain) == {1, 42161} and not any(c.error for c in result.chains)
    steps = [e for c in result.chains for e in c.exits]
    assert {e.market for e in steps} == {f"{c}:{p}:{m}" for c, p, m, _ in STRATEGY}, steps
    exits = {e.market: e for e in steps if e.market in PLANTED}
    comet, curve = exits["1:compound-v3:cUSDCv3"], exits["1:curve:3pool"]
    # The plan leaves it (nothing can leave); tried on the fork anyway, the Comet's refusal is named.
    assert comet.status == "failed" and comet.mode == "left" and "WithdrawPaused" in comet.reason, comet
    assert curve.status == "failed" and "ERC20InsufficientBalance" in curve.reason, curve
    assert curve.slippage_bps is None and curve.quoted > 0  # the quote held; the payout could not
    limit = by_chain[1].limit_bps
    for e in steps:
        if e.market in PLANTED:
            continue
        assert e.status == "ok" and e.left == 0, e  # out, nothing stays
        assert e.slippage_bps is not None and -5 <= e.slippage_bps <= limit, e
        assert e.realised >= e.min_out > 0 and e.gas_used > 0, e
        assert e.wait_s == (EXIT_WAIT_S if e.mode == "queued" else 0), e
        if e.protocol == "aave-v3":  # a lending pool pays it all back, interest included
            assert e.realised >= e.position, e
    (balancer,) = [e for e in steps if e.protocol == "balancer-v2"]
    assert balancer.slippage_bps > 0 and balancer.mode == "instant"  # a pool exit pays the pool's fee
    lido = [e for e in steps if e.protocol == "lido"]  # sold through the stETH pool, the queue the rest
    assert sum(e.realised for e in lido) >= lido[0].position * (10_000 - limit) // 10_000, lido

    stored = {d.chain_id: d for d in store.latest_exit_drills()}
    assert stored[42161] == by_chain[42161]
    assert stored[1].run_id != run_id  # the runbook's drill of chain 1 is the latest
    assert [(e.market, e.action, e.status) for e in stored[1].exits] == [
        (e.market, e.action, e.status) for e in by_chain[1].exits
    ]

    assert not forks_of(stack), "a fork outlived its drill"

    port = free_port()
    poller, server = serve(settings, port, "127.0.0.1", store)
    try:
        samples = scrape(port)
    finally:
        server.shutdown()
        poller.stop()
    ok = {p: value(samples, "floor_engine_exit_drill_ok", chain="1", protocol=p) for p in ("curve", "compound-v3")}
    assert ok == {"curve": 0, "compound-v3": 0}
    for protocol in ("aave-v3", "balancer-v2", "lido"):
        assert value(samples, "floor_engine_exit_drill_ok", chain="1", protocol=protocol) == 1, protocol
    assert value(samples, "floor_engine_exit_drill_ok", chain="42161", protocol="aave-v3") == 1
    balancer = value(samples, "floor_engine_exit_drill_slippage_bps", chain="1", protocol="balancer-v2")
    assert balancer == max(e.slippage_bps for e in stored[1].exits if e.protocol == "balancer-v2")
    assert value(samples, "floor_engine_exit_drill_limit_bps", chain="1") == limit
    assert 0 <= value(samples, "floor_engine_exit_drill_age_seconds", chain="42161") < 600


def forks_of(stack) -> list[str]:
    """The command lines of anvil forks of the stack's chains still running."""
    urls = {chain.rpc_url for chain in stack.chains.values()}
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:  # gone meanwhile
            continue
        words = [a.decode(errors="replace") for a in args]
        if "--fork-url" in words and words[words.index("--fork-url") + 1] in urls:
            found.append(" ".join(words))
    return found


def test_a_fork_is_stopped_when_its_work_fails_and_a_dead_rpc_is_named_without_its_url(stack, tmp_path):
    chain = stack.chains[42161]
    with pytest.raises(RuntimeError, match="the drill broke"), anvil_fork([chain.rpc_url], 42161, tmp_path) as fork:
        assert fork.w3.eth.chain_id == 42161 and fork.w3.eth.block_number == chain.web3().eth.block_number
        raise RuntimeError("the drill broke")
    assert fork.process.poll() is not None and not forks_of(stack)
    secret = f"http://127.0.0.1:{free_port()}/key-s3cr3t"
    with pytest.raises(ForkFailed, match=r"RPC URL #1: StackError") as failed, anvil_fork([secret], 42161, tmp_path):
        pass
    assert "s3cr3t" not in str(failed.value)
