"""AllocateWorkflow on a real Temporal dev server against the anvil chains."""

from __future__ import annotations

import asyncio
import re

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer

from activities.deps import Deps
from floor.adapters.registry import AdapterRegistry, executor_setup
from floor.config import Settings
from floor.devnet.context import Deployer
from floor.devnet.deploy import configure_executor
from floor.errors import BadInput
from floor.messages import AllocateInput, AllocateResult
from floor.models import AdapterKey
from floor.operations import Signal
from floor.planning.allocation import AllocationLeg, AllocationTarget
from floor.store import Store
from tests.integration.engine_helpers import EngineStandIn, GatedActivities, own_engine, start_operation
from tests.integration.helpers import balance, check_deposit_position, innermost, mint, positions_now
from workers.temporal import build_worker
from workflows.allocate import AllocateWorkflow


async def start_allocation(client, task_queue: str, settings: Settings, input: AllocateInput) -> WorkflowHandle:
    """An allocation started as the engine starts one: the child of an `EngineStandIn` at
    `settings.engine_id` (the worker's, under `extra_workflows=[EngineStandIn]`)."""
    return await start_operation(
        client, task_queue, "AllocateWorkflow", "allocate", input, settings.engine_id, AllocateResult
    )


def target(chain_id: int, protocol: str, market: str, weight_bps: int) -> AllocationTarget:
    return AllocationTarget(key=AdapterKey(chain_id=chain_id, protocol=protocol, market=market), weight_bps=weight_bps)


def demo_input() -> AllocateInput:
    return AllocateInput(
        legs=[
            AllocationLeg(
                chain_id=1,
                asset="USDC",
                amount=600_000 * 10**6,
                targets=[
                    target(1, "aave-v3", "USDC", 4_000),
                    target(1, "metamorpho", "steakUSDC", 4_000),
                    target(1, "spark", "USDC", 2_000),
                ],
            ),
            AllocationLeg(
                chain_id=1,
                asset="WETH",
                amount=300 * 10**18,
                targets=[target(1, "aave-v3", "WETH", 6_000), target(1, "metamorpho", "gtWETH", 4_000)],
            ),
            AllocationLeg(
                chain_id=42161,
                asset="USDC",
                amount=400_000 * 10**6 + 1,
                targets=[target(42161, "aave-v3", "USDC", 1), target(42161, "metamorpho", "gtUSDC", 2)],
            ),
        ]
    )


def fund_treasury(settings, web3s, input: AllocateInput) -> None:
    for leg in input.legs:
        chain = settings.chain(leg.chain_id)
        mint(web3s[leg.chain_id], chain.token(leg.asset).address, chain.executor, leg.amount)


async def test_allocate_moves_funds_and_reads_them_back(temporal_env, settings, web3s, signer, task_queue):
    settings = own_engine(settings)
    input = demo_input()
    fund_treasury(settings, web3s, input)
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, web3s), extra_workflows=[EngineStandIn]):
        handle = await start_allocation(client, task_queue, settings, input)
        result = await handle.result()

    assert result.status == "done" and [c.status for c in result.chains] == ["done", "done"]
    assert result.retry is None
    # The planned split is exact to the base unit and adds up to each leg's amount...
    assert sum(d.amount for d in result.planned if d.key.chain_id == 42161) == 400_000 * 10**6 + 1
    assert {d.key: d.amount for d in result.planned}[
        AdapterKey(chain_id=1, protocol="spark", market="USDC")
    ] == 120_000 * 10**6
    # ...and what the chain holds afterwards is what was planned, to the base unit by each
    # protocol's own rounding rules.
    after = positions_now(settings, web3s, [d.key for d in result.planned])
    for deposit in result.planned:
        position = after[deposit.key]
        assert result.positions[str(deposit.key)] == position.amount  # the result's read-back
        adapter = AdapterRegistry.from_settings(settings).get(deposit.key)
        check_deposit_position(web3s[deposit.key.chain_id], adapter, position, deposit.amount)
    assert [(o.key, o.planned) for o in result.outcomes] == [(d.key, d.amount) for d in result.planned]
    # Aave: exact or a unit either way (index rounding); a vault: under one share's worth
    # (about 1 unit here) plus the final floor, so at most 2.
    assert all(-1 <= o.shortfall <= 2 for o in result.outcomes)
    assert [t.chain_id for t in result.transactions] == [1, 42161] and all(t.status == 1 for t in result.transactions)
    for leg in input.legs:
        chain = settings.chain(leg.chain_id)
        assert balance(web3s[leg.chain_id], chain.token(leg.asset).address, chain.executor) == 0

    history = await handle.fetch_history()
    await Replayer(workflows=[AllocateWorkflow], data_converter=pydantic_data_converter).replay_workflow(history)


class RefusingDoor(Deps):
    """A worker whose queue door cannot build chain 42161's queue input: that chain's door
    refuses, non-retryably, before anything reaches a queue."""

    def queue_input(self, chain_id: int):
        if chain_id == 42161:
            raise BadInput("chain 42161: no queue input (the test's refusal)")
        return super().queue_input(chain_id)


async def test_one_chains_refused_door_leaves_the_other_chains_moves_done_and_journalled(
    temporal_env, settings, web3s, signer, task_queue, tmp_path
):
    settings = own_engine(settings)
    input = demo_input()
    fund_treasury(settings, web3s, input)
    client = temporal_env.client
    arbitrum_nonce = web3s[42161].eth.get_transaction_count(signer.address)
    with Store(f"sqlite:///{tmp_path}/floor.db") as store:
        store.migrate()
        deps = RefusingDoor(settings, signer, web3s, store=store)
        async with build_worker(client, task_queue, deps, extra_workflows=[EngineStandIn]):
            handle = await start_allocation(client, task_queue, settings, input)
            result = await handle.result()
        journal = store.transactions_of(handle.id)

    assert result.status == "partial", result.summary
    assert [(c.chain_id, c.status) for c in result.chains] == [(1, "done"), (42161, "failed")]
    (arbitrum,) = [c for c in result.chains if c.chain_id == 42161]
    assert "BadInput: chain 42161: no queue input (the test's refusal)" in arbitrum.error
    assert "chains [42161] failed" in result.summary
    assert web3s[42161].eth.get_transaction_count(signer.address) == arbitrum_nonce  # nothing sent there
    mined = [t for t in result.transactions if t.chain_id == 1]
    assert mined and all(t.status == 1 for t in mined) and len(mined) == len(result.transactions)
    assert sorted(j.tx_hash for j in journal) == sorted(t.tx_hash for t in mined)  # what moved is journalled
    history = await handle.fetch_history()
    await Replayer(workflows=[AllocateWorkflow], data_converter=pydantic_data_converter).replay_workflow(history)


async def test_insufficient_funds_fails_before_anything_moves(temporal_env, settings, web3s, signer, task_queue):
    settings = own_engine(settings)
    input = demo_input()  # the executors hold nothing
    client = temporal_env.client
    nonces = {cid: w3.eth.get_transaction_count(signer.address) for cid, w3 in web3s.items()}
    async with build_worker(client, task_queue, Deps(settings, signer, web3s), extra_workflows=[EngineStandIn]):
        with pytest.raises(WorkflowFailureError) as caught:
            await (await start_allocation(client, task_queue, settings, input)).result()
    cause = innermost(caught.value)
    assert isinstance(cause, ApplicationError) and cause.type == "InsufficientBalance" and cause.non_retryable
    # Every chain's part is checked at once; whichever refusal comes first names its token.
    assert re.search(r"holds 0 (USDC|WETH), the allocation needs [\d,.]+ (USDC|WETH)", cause.message), cause.message
    assert {cid: w3.eth.get_transaction_count(signer.address) for cid, w3 in web3s.items()} == nonces


async def test_paused_allocation_waits_then_resumes(temporal_env, settings, web3s, signer, task_queue):
    settings = own_engine(settings)
    input = AllocateInput(legs=demo_input().legs[:1])
    fund_treasury(settings, web3s, input)
    client = temporal_env.client
    nonce = web3s[1].eth.get_transaction_count(signer.address)
    gated = GatedActivities(Deps(settings, signer, web3s))
    gated.gate.clear()
    async with build_worker(client, task_queue, gated.deps, chain_activities=gated, extra_workflows=[EngineStandIn]):
        # Paused while its first step's read is held at the gate, so no later step can run
        # before the pause lands.
        handle = await start_allocation(client, task_queue, settings, input)
        await gated.wait_arrived()
        await handle.signal(AllocateWorkflow.pause_engine, Signal(reason="incident drill", by="test"))
        for _ in range(50):
            if (await handle.query(AllocateWorkflow.status)).endswith("(paused)"):
                break
            await asyncio.sleep(0.1)
        assert await handle.query(AllocateWorkflow.status) == "reading positions (paused)"
        gated.gate.set()
        await asyncio.sleep(0.5)
        assert web3s[1].eth.get_transaction_count(signer.address) == nonce  # nothing sent while paused
        await handle.signal(AllocateWorkflow.resume_engine, Signal(reason="drill over", by="test"))
        result = await handle.result()
    assert web3s[1].eth.get_transaction_count(signer.address) == nonce + 1
    after = positions_now(settings, web3s, [d.key for d in result.planned])
    for deposit in result.planned:
        position = after[deposit.key]
        check_deposit_position(
            web3s[1], AdapterRegistry.from_settings(settings).get(deposit.key), position, deposit.amount
        )


async def test_logs_are_json_with_context_and_never_the_key(
    temporal_env, settings, web3s, signer, operator_key, task_queue
):
    import io
    import json

    from floor.logging import configure_logging

    stream = io.StringIO()
    configure_logging("INFO", json=True, stream=stream)
    try:
        settings = own_engine(settings)
        input = AllocateInput(legs=demo_input().legs[2:])
        fund_treasury(settings, web3s, input)
        client = temporal_env.client
        async with build_worker(client, task_queue, Deps(settings, signer, web3s), extra_workflows=[EngineStandIn]):
            handle = await start_allocation(client, task_queue, settings, input)
            await handle.result()
    finally:
        configure_logging("INFO", json=False)
    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    confirmed = [line for line in lines if line.get("event") == "transaction confirmed"]
    assert len(confirmed) == 1
    # Confirmed by the signer's transaction queue, naming the allocation's intent.
    assert confirmed[0]["intents"] == [f"{handle.id}/chain-42161/batch-1"] and confirmed[0]["chain_id"] == 42161
    assert confirmed[0]["tx_hash"].startswith("0x") and len(confirmed[0]["tx_hash"]) == 66
    key_hex = operator_key.removeprefix("0x").lower()
    assert key_hex not in text.lower()


async def test_unknown_market_fails_naming_it_and_sends_nothing(temporal_env, settings, web3s, signer, task_queue):
    settings = own_engine(settings)
    input = AllocateInput(
        legs=[AllocationLeg(chain_id=1, asset="USDC", amount=10**6, targets=[target(1, "compound-v3", "USDC", 1)])]
    )
    fund_treasury(settings, web3s, input)
    nonce = web3s[1].eth.get_transaction_count(signer.address)
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, web3s), extra_workflows=[EngineStandIn]):
        with pytest.raises(WorkflowFailureError) as caught:
            await (await start_allocation(client, task_queue, settings, input)).result()
    cause = innermost(caught.value)
    assert (
        cause.type == "UnknownMarket"
        and cause.non_retryable
        and cause.message.startswith("no adapter for 1:compound-v3:USDC; configured: 1:aave-v3:DAI")
    )
    assert web3s[1].eth.get_transaction_count(signer.address) == nonce
    assert balance(web3s[1], settings.chain(1).token("USDC").address, settings.chain(1).executor) == 10**6


async def test_forty_deposits_on_one_chain_complete_in_several_batches(temporal_env, stack, web3s, signer, task_queue):
    """Forty guarded deposits (5 calls each) exceed one executor batch (64 calls): the workflow
    packs them into four transactions, each deposit whole within one."""
    w3 = web3s[1]
    d = Deployer(w3)
    config = stack.chains[1].deployed.chain_config(stack.chains[1].rpc_url)
    usdc = next(t for t in config["tokens"] if t["symbol"] == "USDC")["address"]
    names = [f"vault{i:02d}" for i in range(40)]
    config["markets"] += [
        {
            "protocol": "metamorpho",
            "adapter": "erc4626",
            "market": name,
            "asset": "USDC",
            "vault": d.deploy("ERC4626Vault", usdc, name, name, d.admin).address,
        }
        for name in names
    ]
    many = own_engine(Settings(chains=[config]))
    chain = many.chain(1)
    configure_executor(w3, chain.executor, executor_setup(chain))
    each = 1_000 * 10**6
    input = AllocateInput(
        legs=[
            AllocationLeg(
                chain_id=1,
                asset="USDC",
                amount=40 * each,
                targets=[target(1, "metamorpho", name, 1) for name in names],
            )
        ]
    )
    mint(w3, usdc, chain.executor, 40 * each)
    nonce = w3.eth.get_transaction_count(signer.address)
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(many, signer, {1: w3}), extra_workflows=[EngineStandIn]):
        result = await (await start_allocation(client, task_queue, many, input)).result()

    assert [t.calls for t in result.transactions] == [60, 60, 60, 20]
    assert all(t.status == 1 for t in result.transactions)
    assert w3.eth.get_transaction_count(signer.address) == nonce + 4
    # Fresh, empty vaults mint shares 1:1, so every position is exactly its deposit.
    assert sorted(result.positions.values()) == [each] * 40
    assert sorted((o.key.market, o.realised) for o in result.outcomes) == [(name, each) for name in names]
    assert balance(w3, usdc, chain.executor) == 0
