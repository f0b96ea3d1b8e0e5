"""The panic exit on the local stack: an allocation across the stack's protocols on both
chains, the engine paused, then `panic_exit`: every position read back empty on chain (Lido's
stETH sold through the Curve pool as far as it pays within the slippage limit, the rest as
withdrawal requests the executor owns), the engine still PAUSED, the transactions let through
the paused queues; an unsigned command and a non-ADMIN key refused before anything. Once the
stand-in's oracle finalises the requests, the panic's claim phase claims them into the executor."""

from __future__ import annotations

import asyncio
import json
import os
import uuid

import pytest
from eth_account import Account
from eth_utils.crypto import keccak
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from activities.deps import Deps
from client import Refused, engine_status, ensure_engine
from client.commands import send
from floor.access.roles import Kind, Role
from floor.adapters.registry import AdapterRegistry
from floor.chain.multicall import MulticallReader
from floor.chain.positions import read_positions
from floor.config import Settings
from floor.engine import EngineState, Operation
from floor.models import AdapterKey
from floor.panic import PanicExitResult
from floor.protocols.lido.requests import read_requests
from tests.integration.engine_helpers import (
    access_config,
    allocate_request,
    commander,
    fund,
    run_operation,
    wait_for,
)
from tests.integration.helpers import advance_time, contract
from tests.integration.test_recorded_histories import HISTORIES, INDEX
from workers.temporal import WORKFLOWS, build_worker

USDC, ETH = 10**6, 10**18
STRATEGY = [  # bps of the floor; each (chain, token) leg splits by them, relatively
    (1, "aave-v3", "USDC", 1_200),
    (1, "compound-v3", "cUSDCv3", 800),
    (1, "metamorpho", "steakUSDC", 800),
    (1, "curve", "3pool", 800),
    (1, "balancer-v2", "USDC-DAI stable", 400),
    (1, "aave-v3", "WETH", 1_200),
    (1, "lido", "stETH", 2_000),
    (1, "rocket-pool", "rETH", 800),
    (42161, "aave-v3", "USDC", 2_000),
]
# 200 ETH of stETH: more than the stand-in's Curve pool (300 ETH a side) takes within 50 bps.
TREASURY = {(1, "USDC"): 300_000 * USDC, (1, "WETH"): 400 * ETH, (42161, "USDC"): 50_000 * USDC}
LIDO = AdapterKey(chain_id=1, protocol="lido", market="stETH")
OPERATOR = Account.from_key(keccak(text="floor-test-panic-operator"))


def panic_settings(stack, task_queue: str) -> Settings:
    return Settings(
        chains=stack.chain_configs(),
        temporal={"task_queue": task_queue},
        strategy={
            "targets": [{"chain_id": c, "protocol": p, "market": m, "weight_bps": w} for c, p, m, w in STRATEGY],
            "weights_of": "token",
        },
        engine={"workflow_id": f"engine-panic-{uuid.uuid4().hex[:8]}"},
        access=access_config(),
    )


def on_chain(settings: Settings, web3s) -> dict[AdapterKey, int]:
    registry = AdapterRegistry.from_settings(settings)
    out = {}
    for chain in settings.chains:
        keys = [AdapterKey(chain_id=c, protocol=p, market=m) for c, p, m, _ in STRATEGY if c == chain.id]
        adapters = [registry.get(k) for k in keys]
        for p in read_positions(MulticallReader(web3s[chain.id]), adapters, chain.executor):
            out[p.key] = p.amount
    return out


async def test_panic_exit_empties_every_position_and_keeps_the_engine_paused(
    temporal_env, stack, web3s, signer, task_queue
):
    client, settings = temporal_env.client, panic_settings(stack, task_queue)
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
        await ensure_engine(client, settings)
        fund(settings, web3s, TREASURY)
        allocated = await run_operation(client, settings, Operation.ALLOCATE, allocate_request(TREASURY))
        assert allocated.status == "done", allocated.summary
        before = on_chain(settings, web3s)
        assert all(amount > 0 for amount in before.values()), before
        admin = commander(client, settings)
        await admin.grant(OPERATOR.address, Role.OPERATOR, "oncall", "panic drill")
        await admin.pause("exploit drill")

        nonces = {c: web3s[c].eth.get_transaction_count(signer.address, "pending") for c in (1, 42161)}
        with pytest.raises(Refused, match="not a signed command"):
            await send(client, settings.engine_id, Kind.PANIC_EXIT, {"reason": "unsigned"})
        with pytest.raises(Refused, match="panic_exit needs ADMIN"):
            await commander(client, settings, OPERATOR).ask(Operation.PANIC_EXIT, {"reason": "not mine"})
        assert {c: web3s[c].eth.get_transaction_count(signer.address, "pending") for c in nonces} == nonces

        started = await commander(client, settings).ask(Operation.PANIC_EXIT, {"reason": "exploit drill"})
        assert started.workflow_id == f"{settings.engine_id}/panic-exit-2"
        with pytest.raises(Refused, match="a panic exit is running"):
            await commander(client, settings).resume("too early")
        handle = client.get_workflow_handle(started.workflow_id, result_type=PanicExitResult)
        result = await asyncio.wait_for(handle.result(), 120)

        async def recorded() -> bool:
            status = await engine_status(client, settings.engine_id)
            return status.last is not None and status.last.workflow_id == started.workflow_id

        await wait_for(recorded, what="the engine recording the panic exit")
        status = await engine_status(client, settings.engine_id)
        history = await handle.fetch_history()
    await replayed_and_recorded(history, "panic-exit.json", started.workflow_id)

    assert status.state == EngineState.PAUSED and status.last.kind == Operation.PANIC_EXIT
    assert result.status == "done", result.summary
    after = on_chain(settings, web3s)
    assert all(after[k] <= 4 for k in after), {k: v for k, v in after.items() if v}  # a wei or two of rounding
    by_chain = {c.chain_id: c for c in result.panic}
    assert not by_chain[1].left and not by_chain[42161].left
    assert by_chain[1].out["USDC"] >= before_usdc(before) * 995 // 1000
    assert by_chain[42161].out["USDC"] >= before[AdapterKey(chain_id=42161, protocol="aave-v3", market="USDC")] - 2
    (sale,) = [e for e in by_chain[1].exited if e.market == str(LIDO)]
    assert 0 < sale.sold < before[LIDO] and sale.slippage_bps <= 50 and sale.quoted >= sale.min_out
    (queued,) = by_chain[1].queued
    assert queued.market == str(LIDO) and queued.ids and "the queue the rest" in queued.reason
    assert sale.sold + queued.amount >= before[LIDO] - 4
    lido = AdapterRegistry.from_settings(settings).get(LIDO)
    requests = read_requests(MulticallReader(web3s[1]), lido, settings.chain(1).executor)
    assert sorted(r.id for r in requests) == sorted(queued.ids) and not any(r.finalized for r in requests)
    assert all(len(c.transactions) == 1 for c in result.panic)  # each chain's exit in one transaction
    assert "the engine stays PAUSED" in result.summary

    # Finalised days later, the requests are claimed into the executor by the panic's claim phase.
    assert queued.claim_workflow_id == f"{settings.engine_id}/panic-claim-2-1-lido"
    weth = contract(web3s[1], "TestWETH", settings.chain(1).token("WETH").address)
    idle = weth.functions.balanceOf(settings.chain(1).executor).call()
    advance_time(web3s[1], 5 * 86_400, keep_feeds_fresh=True)
    admin_key = stack.chains[1].deployed.admin  # the stand-in's oracle
    steth = contract(web3s[1], "LidoStETH", lido.steth)
    tx = steth.functions.oracleReport(ETH).transact({"from": admin_key})
    assert web3s[1].eth.wait_for_transaction_receipt(tx, timeout=30)["status"] == 1
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
        claim = client.get_workflow_handle(queued.claim_workflow_id, result_type=PanicExitResult)
        await claim.signal("check_exits")
        claimed = await asyncio.wait_for(claim.result(), 120)
        assert (await engine_status(client, settings.engine_id)).state == EngineState.PAUSED
    assert claimed.status == "done" and claimed.panic[0].out["WETH"] >= queued.amount - 2, claimed.summary
    assert not read_requests(MulticallReader(web3s[1]), lido, settings.chain(1).executor)
    assert weth.functions.balanceOf(settings.chain(1).executor).call() == idle + claimed.panic[0].out["WETH"]


async def replayed_and_recorded(history, name: str, workflow_id: str) -> None:
    """The run's history replays with the current code; with FLOOR_RECORD_HISTORIES=1 it is
    written to tests/histories/ (the unit replay test replays it on every run)."""
    replay = await Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert replay.replay_failure is None, replay.replay_failure
    if os.environ.get("FLOOR_RECORD_HISTORIES"):
        (HISTORIES / name).write_text(history.to_json())
        index = json.loads(INDEX.read_text())
        INDEX.write_text(json.dumps(index | {name: workflow_id}, indent=2, sort_keys=True) + "\n")


def before_usdc(before: dict[AdapterKey, int]) -> int:
    return sum(
        v
        for k, v in before.items()
        if k.chain_id == 1 and k.market in ("USDC", "cUSDCv3", "steakUSDC", "3pool", "USDC-DAI stable")
    )
