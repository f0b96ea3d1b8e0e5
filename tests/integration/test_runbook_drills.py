"""Each runbook of docs/runbooks/ as a drill on the local stack: the incident is made as it
happens (an engine paused, funds moved behind the engine's back, a protocol drained, a feed
gone stale, the signer short of gas, no worker, the store gone, an RPC down, a nonce gap, a
transaction priced out, a chain rewritten), then the page's ```console block is run as written
(tests/integration/runbook_helpers.py) and the outcome checked: the engine back to IDLE, the
alert's condition gone, the funds where they should be. A page whose commands break fails here.
"""

from __future__ import annotations

import uuid

from activities.deps import Deps
from client import engine_breakers, engine_status, ensure_engine
from floor.config import Settings
from floor.devnet.context import refresh_feeds
from floor.engine import EngineState, Operation
from scripts.bench.queue_driver import QueueDriver
from tests.integration.engine_helpers import (
    access_config,
    commander,
    engine_settings,
    run_operation,
    start_allocated,
    temporal_cli,
    wait_for,
)
from tests.integration.helpers import advance_time, balance, mint
from tests.integration.queue_helpers import approve_intent
from tests.integration.rpc_proxy import RpcProxy
from tests.integration.runbook_helpers import RUNBOOKS, follow, recovery
from tests.integration.test_breakers import drain, drainable_vault
from tests.integration.test_reconcile import take_behind_the_engines_back, with_store
from workers.temporal import build_worker
from workflows.txqueue import TxQueueWorkflow

TICKET = "INC-7"
DRILLED = {
    "engine-paused.md",
    "reconciliation-discrepancy.md",
    "protocol-exploit.md",
    "oracle-failure.md",
    "low-signer-gas.md",
    "temporal-outage.md",
    "rpc-outage.md",
    "nonce-gap.md",
    "stuck-transaction.md",
    "chain-reset.md",
}


def test_every_runbook_has_a_recovery_and_a_drill():
    pages = {p.name for p in RUNBOOKS.glob("*.md")} - {"README.md"}
    assert pages >= DRILLED, DRILLED - pages
    for page in pages & DRILLED:
        assert recovery(page), page


def run(cli, temporal_env, page: str, values: dict, manual: dict | None = None):
    return follow(
        page,
        {"ticket": TICKET, **values},
        floor=cli,
        temporal=lambda *args: temporal_cli(temporal_env.client, *args),
        manual=manual,
    )


async def state_of(client, settings: Settings) -> EngineState:
    return (await engine_status(client, settings.engine_id)).state


async def idle(client, settings: Settings) -> None:
    async def check():
        return await state_of(client, settings) == EngineState.IDLE

    await wait_for(check, what="the engine back to IDLE")


async def test_engine_paused(temporal_env, stack, web3s, signer, task_queue, cli):
    settings = engine_settings(stack, task_queue)
    cli.use(settings)
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
        await ensure_engine(client, settings)
        await commander(client, settings).pause(f"{TICKET}: drill")
        assert await state_of(client, settings) == EngineState.PAUSED
        ran = await run(cli, temporal_env, "engine-paused.md", {"cause": "the drill's pause"})
        assert f"{TICKET}: drill" in ran[0][2]  # `floor status` said why
        await idle(client, settings)


async def test_reconciliation_discrepancy(temporal_env, stack, web3s, signer, task_queue, tmp_path, cli):
    settings, store = with_store(engine_settings(stack, task_queue), tmp_path)
    cli.use(settings)
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, web3s, store=store)):
        await start_allocated(client, settings, web3s)
        take_behind_the_engines_back(web3s[1], settings, 10)  # funds moved behind the engine's back
        found = await cli("reconcile")
        assert found.code == 1, found

        async def paused():
            return await state_of(client, settings) == EngineState.PAUSED

        await wait_for(paused, what="the discrepancy's breaker to pause the engine")
        (discrepancy,) = store.open_discrepancies()
        await run(
            cli,
            temporal_env,
            "reconciliation-discrepancy.md",
            {"id": str(discrepancy.id), "what-moved-the-funds": "a tenth of steakUSDC moved out"},
        )
        await idle(client, settings)
        assert not store.open_discrepancies()
        assert not [a for a in store.open_alerts() if a.kind == "discrepancy"]
        assert await engine_breakers(client, settings.engine_id) == []


async def test_low_signer_gas(temporal_env, stack, web3s, signer, task_queue, tmp_path, cli):
    settings, store = with_store(engine_settings(stack, task_queue), tmp_path)
    cli.use(settings)
    w3 = web3s[1]
    w3.provider.make_request("anvil_setBalance", [signer.address, hex(5 * 10**16)])  # 0.05 ETH: below 0.1

    def top_up():
        funder = w3.eth.accounts[0]
        tx = w3.eth.send_transaction({"from": funder, "to": signer.address, "value": 10**18})
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1

    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, web3s, store=store)):
        await ensure_engine(client, settings)
        ran = await run(
            cli, temporal_env, "low-signer-gas.md", {"signer": signer.address, "chain": "1"}, {"top up": top_up}
        )
    assert "signer's gas low on chains [1]" in ran[0][2], ran[0]
    assert "gas low" not in ran[1][2], ran[1]
    assert w3.eth.get_balance(signer.address) == 105 * 10**16
    assert [a for a in store.alerts_of(["low_gas"]) if a.resolved_at is not None]  # raised, then resolved
    assert not [a for a in store.open_alerts() if a.kind == "low_gas"]


async def breaker_drill(temporal_env, stack, web3s, signer, task_queue, tmp_path, cli, page: str, incident):
    """A breaker opened by the risk check (`incident(settings)` makes the fault and returns its
    scope and the repair), the page's probe run, the breaker closed."""
    chains, vault = drainable_vault(stack, web3s)
    settings, store = with_store(
        Settings(
            chains=chains,
            temporal={"task_queue": task_queue},
            strategy={
                "targets": [
                    {"chain_id": 1, "protocol": "aave-v3", "market": "USDC", "weight_bps": 5_000},
                    {"chain_id": 1, "protocol": "riskvault", "market": "riskUSDC", "weight_bps": 5_000},
                ],
                "weights_of": "token",
            },
            engine={"workflow_id": f"engine-drill-{uuid.uuid4().hex[:8]}"},
            access=access_config(),
        ),
        tmp_path,
    )
    cli.use(settings)
    client = temporal_env.client
    usdc = settings.chain(1).token("USDC").address
    async with build_worker(client, task_queue, Deps(settings, signer, web3s, store=store)):
        await ensure_engine(client, settings)
        mint(web3s[1], usdc, settings.chain(1).executor, 1_000_000 * 10**6)
        allocate = {"by": "drill", "amounts": [{"chain_id": 1, "asset": "USDC", "amount": str(1_000_000 * 10**6)}]}
        await run_operation(client, settings, Operation.ALLOCATE, allocate)
        assert (await commander(client, settings).check_risk()).breakers == []
        scope, repair = incident(settings, vault)
        tripped = await commander(client, settings).check_risk()
        assert scope in [b.scope for b in tripped.breakers], tripped
        repair()
        ran = await run(cli, temporal_env, page, {"scope": scope, "chain": "1", "protocol": "riskvault"})
        assert scope in ran[0][2]  # `floor risk breakers` named it
        assert await engine_breakers(client, settings.engine_id) == []
        assert not [a for a in store.open_alerts() if a.kind == "circuit_breaker"]
        assert await state_of(client, settings) == EngineState.IDLE


async def test_protocol_exploit(temporal_env, stack, web3s, signer, task_queue, tmp_path, cli):
    w3 = web3s[1]

    def exploit(settings, vault):
        usdc = settings.chain(1).token("USDC").address
        before = balance(w3, usdc, vault)
        drain(w3, usdc, vault, 8_000)  # 80% of the vault leaves for an attacker
        return "protocol:riskvault", lambda: mint(w3, usdc, vault, before - balance(w3, usdc, vault))

    await breaker_drill(temporal_env, stack, web3s, signer, task_queue, tmp_path, cli, "protocol-exploit.md", exploit)


async def test_oracle_failure(temporal_env, stack, web3s, signer, task_queue, tmp_path, cli):
    w3 = web3s[1]

    def stale_feed(settings, vault):
        advance_time(w3, 2 * 86_400, keep_feeds_fresh=False)  # no round for two days: past every heartbeat
        return "chain:1", lambda: refresh_feeds(w3)

    await breaker_drill(temporal_env, stack, web3s, signer, task_queue, tmp_path, cli, "oracle-failure.md", stale_feed)


async def test_temporal_outage(temporal_env, stack, web3s, signer, task_queue, cli):
    """No worker polls the engine's task queue (the worker down, or Temporal back without it)."""
    settings = engine_settings(stack, task_queue)
    cli.use(settings)
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
        await ensure_engine(client, settings)
    worker = None

    async def start_worker():
        nonlocal worker
        worker = build_worker(client, task_queue, Deps(settings, signer, web3s))
        await worker.__aenter__()
        await wait_for(lambda: engine_status(client, settings.engine_id), what="the worker to answer")

    try:
        ran = await run(
            cli,
            temporal_env,
            "temporal-outage.md",
            {"engine-id": settings.engine_id},
            {"start the worker": start_worker},
        )
    finally:
        if worker is not None:
            await worker.__aexit__(None, None, None)
    assert "the worker is not answering" in ran[0][2]
    assert "State" in ran[2][2] and "IDLE" in ran[2][2], ran[2]


async def test_rpc_outage(temporal_env, stack, web3s, signer, task_queue, cli):
    with RpcProxy(stack.chains[42161].rpc_url) as proxy:
        chains = [
            c if c.id != 42161 else c.model_copy(update={"rpc_urls": [proxy.url("/")]})
            for c in engine_settings(stack, task_queue).chains
        ]
        settings = engine_settings(stack, task_queue).model_copy(update={"chains": chains})
        cli.use(settings)
        client = temporal_env.client
        async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
            await ensure_engine(client, settings)
            proxy.misbehave("bad_gateway", times=None)  # the provider answers 502 to everything
            ran = await run(cli, temporal_env, "rpc-outage.md", {}, {"provider back": proxy.reset})
            assert await state_of(client, settings) == EngineState.IDLE
    assert f"every RPC URL failed ({proxy.url('/').rstrip('/')}" in ran[1][2], ran[1]


async def test_stuck_transaction(temporal_env, stack, web3s, signer, task_queue, cli):
    """A base fee far above the transaction's max fee: blocks go by without it, the queue signs
    replacements with bumped fees; once the fee falls back it is mined, at the same nonce."""
    settings = engine_settings(stack, task_queue)
    cli.use(settings)
    w3 = web3s[1]
    client = temporal_env.client
    nonce = w3.eth.get_transaction_count(signer.address)
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
            await ensure_engine(client, settings)
            driver = QueueDriver(client, task_queue, settings, signer.address, stuck_after_s=2)
            intent = approve_intent(settings, "drill/stuck")
            assert (await driver.send(intent)).accepted

            async def pending():
                return w3.provider.make_request("txpool_content", [])["result"]["pending"]

            await wait_for(pending, what="the transaction in the node's pool")
            (sent,) = [tx for txs in (await pending()).values() for tx in txs.values()]
            w3.provider.make_request("anvil_setNextBlockBaseFeePerGas", [hex(4 * int(sent["maxFeePerGas"], 16))])
            w3.provider.make_request("evm_mine", [])
            assert w3.eth.get_transaction_count(signer.address) == nonce  # priced out

            async def replaced():
                status = await driver.handle.query(TxQueueWorkflow.status)
                return status.inflight and len(status.inflight[0].hashes) >= 2

            await wait_for(replaced, what="a replacement with bumped fees")
            ran = await run(cli, temporal_env, "stuck-transaction.md", {"chain": "1", "signer": signer.address.lower()})
            assert f'"nonce":{nonce}' in ran[1][2], ran[1][2]  # the queue's status names the nonce
            w3.provider.make_request("evm_mine", [])  # the base fee falls back under the bumped max fee
            outcome = await driver.outcome(intent.id, timeout_s=30)
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    assert outcome.ok and outcome.transaction.nonce == nonce, outcome


async def test_nonce_gap(temporal_env, stack, web3s, signer, task_queue, tmp_path, cli, monkeypatch):
    from web3 import Web3

    from floor.chain.txsender import TxSender
    from tests.integration.test_txqueue_finality import RefusingProvider

    settings, store = with_store(engine_settings(stack, task_queue), tmp_path)
    cli.use(settings)
    w3 = web3s[1]
    nonce = w3.eth.get_transaction_count(signer.address)
    provider = RefusingProvider([stack.chains[1].rpc_url], chain_id=1)
    provider.check_chain_ids()
    engine_w3 = Web3(provider)
    engine_w3.middleware_onion.remove("validation")
    sign = TxSender.sign

    def refuse_the_first(self, tx):  # the node refuses nonce N's first broadcast: N+1 waits behind a gap
        signed = sign(self, tx)
        if tx.nonce == nonce and not getattr(refuse_the_first, "done", False):
            refuse_the_first.done = True
            provider.refuse.add(signed.raw)
        return signed

    monkeypatch.setattr(TxSender, "sign", refuse_the_first)
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, {**web3s, 1: engine_w3}, store=store)):
        await ensure_engine(client, settings)
        driver = QueueDriver(client, task_queue, settings, signer.address, finality_poll_s=0.3, stuck_after_s=2)
        first, second = approve_intent(settings, "drill/gap-1", amount=1), approve_intent(settings, "drill/gap-2")
        await driver.send_many([first, second])
        assert not (await driver.outcome(first.id)).ok
        behind = await driver.outcome(second.id, timeout_s=30)
        await run(cli, temporal_env, "nonce-gap.md", {"chain": "1", "signer": signer.address.lower()})
    assert behind.ok and behind.transaction.nonce == nonce + 1, behind
    assert w3.eth.get_transaction_count(signer.address) == nonce + 2  # the gap filled: nothing waits


async def test_chain_reset(temporal_env, stack, web3s, signer, task_queue, tmp_path, cli):
    """Chain 42161 rewritten under the engine past the block it remembered as final (a reset
    node, a reorg past finality): status and reconcile name it; the page's acceptance ends it."""
    settings, store = with_store(engine_settings(stack, task_queue), tmp_path)
    cli.use(settings)
    w3 = web3s[42161]
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, web3s, store=store)):
        await ensure_engine(client, settings)
        before = w3.provider.make_request("evm_snapshot", [])["result"]
        w3.provider.make_request("anvil_mine", [hex(80)])
        assert (await cli("reconcile")).code == 0  # remembers a final block of the chain
        mark = store.chain_marks()[42161]
        assert w3.provider.make_request("evm_revert", [before])["result"]
        latest = w3.eth.get_block("latest")["timestamp"]
        w3.provider.make_request("evm_setNextBlockTimestamp", [latest + 1_000])  # other blocks at the same heights
        w3.provider.make_request("anvil_mine", [hex(80)])
        assert w3.eth.get_block(mark.block_number)["hash"].hex() != mark.block_hash.removeprefix("0x")
        await run(cli, temporal_env, "chain-reset.md", {"chain": "42161"})
        assert not [a for a in store.open_alerts() if a.kind == "chain_state"]
        await idle(client, settings)
        assert await engine_breakers(client, settings.engine_id) == []
