"""AllocateWorkflow on a real Temporal dev server against the anvil chains."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer

from activities.chain import ChainActivities
from floor.messages import AllocateInput, EngineSignal
from floor.models import AdapterKey
from floor.risk.allocation import AllocationLeg, AllocationTarget
from tests.integration.helpers import balance, contract, mint
from workers.temporal import build_worker
from workflows.allocate import AllocateWorkflow

HISTORY = Path(__file__).parents[1] / "histories" / "allocate.json"


def target(chain_id: int, protocol: str, market: str, weight_bps: int) -> AllocationTarget:
    return AllocationTarget(key=AdapterKey(chain_id=chain_id, protocol=protocol, market=market), weight_bps=weight_bps)


def demo_input() -> AllocateInput:
    return AllocateInput(
        legs=[
            AllocationLeg(chain_id=1, asset="USDC", amount=600_000 * 10**6, targets=[
                target(1, "aave-v3", "USDC", 4_000), target(1, "metamorpho", "steakUSDC", 4_000), target(1, "spark", "USDC", 2_000)]),
            AllocationLeg(chain_id=1, asset="WETH", amount=300 * 10**18, targets=[
                target(1, "aave-v3", "WETH", 6_000), target(1, "metamorpho", "gtWETH", 4_000)]),
            AllocationLeg(chain_id=42161, asset="USDC", amount=400_000 * 10**6 + 1, targets=[
                target(42161, "aave-v3", "USDC", 1), target(42161, "metamorpho", "gtUSDC", 2)]),
        ]
    )


def fund_treasury(settings, web3s, input: AllocateInput) -> None:
    for leg in input.legs:
        chain = settings.chain(leg.chain_id)
        mint(web3s[leg.chain_id], chain.token(leg.asset).address, chain.executor, leg.amount)


async def test_allocate_moves_funds_and_reads_them_back(temporal_env, settings, web3s, signer, task_queue):
    input = demo_input()
    fund_treasury(settings, web3s, input)
    client = temporal_env.client
    async with build_worker(client, task_queue, ChainActivities(settings, signer, web3s)):
        handle = await client.start_workflow(AllocateWorkflow.run, input, id=f"allocate-{uuid.uuid4()}", task_queue=task_queue)
        result = await handle.result()

    assert all(p.amount == 0 for p in result.positions_before)
    # The planned split is exact to the base unit and adds up to each leg's amount...
    assert sum(d.amount for d in result.planned if d.key.chain_id == 42161) == 400_000 * 10**6 + 1
    assert {d.key: d.amount for d in result.planned}[AdapterKey(chain_id=1, protocol="spark", market="USDC")] == 120_000 * 10**6
    # ...and what the chain holds afterwards is what was planned: exactly in Aave; in a vault
    # exactly the vault's own value of the shares minted, which ERC-4626 rounds down (its
    # favour), so at most one base unit under the deposit.
    for deposit in result.planned:
        position = next(p for p in result.positions_after if p.key == deposit.key)
        if position.shares is None:
            assert position.amount == deposit.amount, deposit.key
        else:
            vault = contract(web3s[deposit.key.chain_id], "ERC4626Vault", settings.chain(deposit.key.chain_id).market(deposit.key.protocol, deposit.key.market).vault)
            assert position.amount == vault.functions.convertToAssets(position.shares).call(block_identifier=position.block_number)
            assert deposit.amount - 1 <= position.amount <= deposit.amount, deposit.key
    assert [t.chain_id for t in result.transactions] == [1, 42161] and all(t.status == 1 for t in result.transactions)
    for leg in input.legs:
        chain = settings.chain(leg.chain_id)
        assert balance(web3s[leg.chain_id], chain.token(leg.asset).address, chain.executor) == 0

    history = await handle.fetch_history()
    await Replayer(workflows=[AllocateWorkflow], data_converter=pydantic_data_converter).replay_workflow(history)
    if os.environ.get("FLOOR_RECORD_HISTORIES"):
        HISTORY.write_text(history.to_json())


async def test_insufficient_funds_fails_before_anything_moves(temporal_env, settings, web3s, signer, task_queue):
    input = demo_input()  # the executors hold nothing
    client = temporal_env.client
    nonces = {cid: w3.eth.get_transaction_count(signer.address) for cid, w3 in web3s.items()}
    async with build_worker(client, task_queue, ChainActivities(settings, signer, web3s)):
        with pytest.raises(WorkflowFailureError) as caught:
            await client.execute_workflow(AllocateWorkflow.run, input, id=f"allocate-{uuid.uuid4()}", task_queue=task_queue)
    cause = caught.value.cause.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InsufficientFunds"
    assert "holds 0 base units of USDC (6 decimals), the allocation needs 600000000000" in cause.message
    assert {cid: w3.eth.get_transaction_count(signer.address) for cid, w3 in web3s.items()} == nonces


async def test_paused_allocation_waits_then_resumes(temporal_env, settings, web3s, signer, task_queue):
    input = AllocateInput(legs=demo_input().legs[:1])
    fund_treasury(settings, web3s, input)
    client = temporal_env.client
    nonce = web3s[1].eth.get_transaction_count(signer.address)
    async with build_worker(client, task_queue, ChainActivities(settings, signer, web3s)):
        # Started paused (signal-with-start), so no step can run before the pause lands.
        handle = await client.start_workflow(
            AllocateWorkflow.run, input, id=f"allocate-{uuid.uuid4()}", task_queue=task_queue,
            start_signal="pause_engine", start_signal_args=[EngineSignal(reason="incident drill", by="test")],
        )
        for _ in range(50):
            if (await handle.query(AllocateWorkflow.status)).endswith("(paused)"):
                break
            await asyncio.sleep(0.1)
        assert await handle.query(AllocateWorkflow.status) == "reading positions (paused)"
        await asyncio.sleep(0.5)
        assert web3s[1].eth.get_transaction_count(signer.address) == nonce  # nothing sent while paused
        await handle.signal(AllocateWorkflow.resume_engine, EngineSignal(reason="drill over", by="test"))
        result = await handle.result()
    assert web3s[1].eth.get_transaction_count(signer.address) == nonce + 1
    assert sum(p.amount for p in result.positions_after) == input.legs[0].amount
