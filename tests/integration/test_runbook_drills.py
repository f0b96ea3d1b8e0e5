"""Each runbook of docs/runbooks/ as a drill on the local stack: the incident is made as it
happens (an engine paused, funds moved behind the engine's back, a protocol drained, a feed
gone stale, the signer short of gas, no worker, the store gone, an RPC down, a nonce gap, a
transaction priced out, a chain rewritten), then the page's ```console block is run as written
(tests/integration/runbook_helpers.py) and the outcome checked: the engine back to IDLE, the
alert's condition gone, the funds where they should be. A page whose commands break fails here.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from psycopg import sql
from temporalio import activity
from temporalio.service import RPCError

from activities.chain import ChainActivities
from activities.deps import Deps
from client import engine_breakers, engine_status, ensure_engine
from floor.chain.executor import ExecutionReverted, ExecutorClient
from floor.chain.signer import signer_from_config
from floor.config import Settings, SignerConfig, StoreConfig
from floor.deploy.apply import Keys, deploy
from floor.deploy.network import load_network
from floor.deploy.registry import load_registry
from floor.deploy.verify import refuse_mismatched_executors
from floor.devnet.context import anvil_account_key, refresh_feeds
from floor.devnet.faultproxy import RpcProxy
from floor.devnet.owner import LOCAL_SAFE, OWNER_ACCOUNTS, THRESHOLD
from floor.devnet.stack import GUARDIAN_ACCOUNT, fund_signer, new_operator_key, sent_by
from floor.devnet.strategy import STRATEGY
from floor.engine import EngineState, Operation
from floor.messages import Holdings, ReadHoldingsInput
from floor.store import Store
from floor.txqueue import queue_id
from scripts.bench.queue_driver import QueueDriver
from tests.integration.conftest import ENV, FLOOR, Ran
from tests.integration.engine_helpers import (
    access_config,
    allocate_request,
    commander,
    engine_settings,
    finished,
    fund,
    run_operation,
    start_allocated,
    temporal_cli,
    wait_for,
)
from tests.integration.helpers import advance_time, balance, mint
from tests.integration.queue_helpers import approve_intent
from tests.integration.runbook_helpers import RUNBOOKS, follow, recovery
from tests.integration.tcp_proxy import TcpProxy
from tests.integration.test_breakers import drain, drainable_vault
from tests.integration.test_reconcile import take_behind_the_engines_back, with_store
from tests.integration.test_watchdog import foreign_execute, watching
from tests.store.conftest import postgres  # noqa: F401 (the fixture: a throwaway PostgreSQL database)
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
    "operator-key-compromise.md",
    "database-outage.md",
    "panic-exit.md",
    "exit-drill-failed.md",  # its drill: tests/integration/test_exit_drill.py
}


def test_every_runbook_has_a_recovery_and_a_drill():
    pages = {p.name for p in RUNBOOKS.glob("*.md")} - {"README.md"}
    assert pages >= DRILLED, DRILLED - pages
    for page in pages & DRILLED:
        assert recovery(page), page


def run(cli, temporal_env, page: str, values: dict, manual: dict | None = None, floor=None):
    return follow(
        page,
        {"ticket": TICKET, **values},
        floor=floor or cli,
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


def one_chain_settings(stack, task_queue: str) -> Settings:
    """The engine on chain 1 alone, its USDC over three markets: a quick operation."""
    targets = [(p, m, w) for c, p, m, w in STRATEGY if c == 1 and "USDC" in m]
    return Settings(
        chains=[c for c in stack.chain_configs() if c["id"] == 1],
        temporal={"task_queue": task_queue},
        strategy={
            "targets": [{"chain_id": 1, "protocol": p, "market": m, "weight_bps": w} for p, m, w in targets],
            "weights_of": "token",
        },
        engine={"workflow_id": f"engine-drill-{uuid.uuid4().hex[:8]}"},
        access=access_config(),
    )


USDC_1 = {(1, "USDC"): 100_000 * 10**6}


def stack_network(tmp_path: Path, config: Path, stack, settings: Settings, operator: str) -> Path:
    """The stack's chain 1 as a deploy network: its executor (deployed by the stack, not by
    `floor deploy`) named in the network file, recorded once in a registry of the test's own
    (`floor deploy <network>`: the rules on chain are the declared ones, nothing is sent)."""
    w3 = stack.chains[1].web3()
    path = tmp_path / "stack.toml"
    network = {
        "name": "stack",
        "chain_id": 1,
        "rpc_url": stack.chains[1].rpc_url,
        "config": str(config),
        "owner": LOCAL_SAFE,
        "operator": operator,
        "guardian": w3.eth.accounts[GUARDIAN_ACCOUNT],
        "executor": settings.chain(1).executor,
    }
    path.write_text(tomli_w.dumps(network))
    registry = load_registry("stack", 1, tmp_path / "deployments")
    adopted = deploy(w3, load_network(str(path)), registry, Keys(w3.eth.accounts[0]))
    assert adopted.entry is not None and adopted.entry.action == "adopt", adopted.steps
    return path


def with_deploy(cli, registry: Path):
    """The drill's `floor`: `floor deploy ...` as the Safe's owners run it (the network file is
    its config; the owners' keys and the registry's directory in the environment), every other
    command through the test's CLI."""

    async def floor(*args: str) -> Ran:
        if args[0] != "deploy":
            return await cli(*args)
        owners = ",".join(anvil_account_key(i) for i in OWNER_ACCOUNTS[:THRESHOLD])
        env = ENV | {"FLOOR_DEPLOY_REGISTRY_DIR": str(registry), "FLOOR_SAFE_OWNER_KEYS": owners}
        proc = await asyncio.create_subprocess_exec(
            str(FLOOR), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        return Ran(proc.returncode, out.decode(), err.decode())

    return floor


async def test_operator_key_compromise(temporal_env, stack, web3s, signer, task_queue, tmp_path, cli):
    """The operator key used outside the engine: the watchdog sees the foreign execute and the
    guardian pauses the executor; the page's recovery rotates the operator through the owner
    Safe and the worker runs on a new key; the old key executes nothing."""
    settings, store = with_store(one_chain_settings(stack, task_queue), tmp_path)
    cli.use(settings)
    w3, client = web3s[1], temporal_env.client
    network = stack_network(tmp_path, cli.config, stack, settings, signer.address)
    new_key = new_operator_key()
    rekeyed = settings.model_copy(update={"signer": SignerConfig(private_key=new_key)})
    new = signer_from_config(rekeyed.signer)
    dog = watching(settings, web3s, store)
    dog.poll_once()  # watching from the head
    worker: Any = build_worker(client, task_queue, Deps(settings, signer, web3s, store=store))
    await worker.__aenter__()

    async def stop_and_rekey():
        nonlocal worker
        await worker.__aexit__(None, None, None)
        worker = None
        fund_signer(w3, new.address)
        with pytest.raises(SystemExit, match=f"operator: the chain has {signer.address}, expected {new.address}"):
            refuse_mismatched_executors(rekeyed, enabled=True)  # the new key's worker would not start yet

    async def start_worker():
        nonlocal worker
        refuse_mismatched_executors(rekeyed, enabled=True)  # floor-worker's start-up check passes now
        worker = build_worker(client, task_queue, Deps(rekeyed, new, web3s, store=store))
        await worker.__aenter__()

    try:
        await ensure_engine(client, settings)
        w3.provider.make_request("evm_mine", [])  # a next block's base fee set earlier (anvil keeps it) is spent
        attack = foreign_execute(settings, web3s, signer)  # the leaked key at work
        (finding,) = dog.poll_once()
        assert (finding.suspect.tx_hash, finding.outcome) == (attack, "paused")
        ran = await run(
            cli,
            temporal_env,
            "operator-key-compromise.md",
            {"network": str(network), "new-operator": new.address},
            {"stop the worker": stop_and_rekey, "start the worker": start_worker},
            floor=with_deploy(cli, tmp_path / "deployments"),
        )
        assert f"chain 1 {settings.chain(1).executor}: PAUSED on chain" in ran[1][2], ran[1]
        assert f"recorded: set-operator at block {w3.eth.block_number}, operator {new.address}" in ran[2][2]
        assert "matches the registry and the code" in ran[3][2]
        await idle(client, settings)

        fund(settings, web3s, USDC_1)
        sent_before = w3.eth.get_transaction_count(new.address)
        await run_operation(client, settings, Operation.ALLOCATE, allocate_request(USDC_1))
        assert w3.eth.get_transaction_count(new.address) > sent_before  # the engine's batches: the new key's
        usdc = settings.chain(1).token("USDC").address
        assert balance(w3, usdc, settings.chain(1).executor) < USDC_1[(1, "USDC")]  # allocated
        with pytest.raises(ExecutionReverted, match="NotOperator"):
            ExecutorClient(w3, 1, settings.chain(1).executor, signer).execute(approve_intent(settings, "x").calls)
    finally:
        if worker is not None:
            await worker.__aexit__(None, None, None)
        with contextlib.suppress(RPCError):  # the new key's queue: the chain it counted nonces on is reverted
            await client.get_workflow_handle(queue_id(1, new.address)).terminate("test over")


async def test_database_outage(temporal_env, stack, web3s, signer, task_queue, cli, postgres, log_text):  # noqa: F811
    """The store (PostgreSQL, behind a proxy the drill stops) gone while the engine allocates:
    the queue's signing retries and nothing is broadcast; `floor status` names the store; back,
    the transactions go out once each, are journalled, and the reconciliation is clean.
    (`log_text`: failures logged as the worker logs them, plain tracebacks; structlog's default
    renders each retry's traceback with its locals, seconds a time, longer than the heartbeat.)"""
    schema = f"drill_{uuid.uuid4().hex[:8]}"
    postgres.conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        with TcpProxy("127.0.0.1", 5432) as proxy:
            url = f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/{postgres.database}?options=-csearch_path%3D{schema}"
            settings = one_chain_settings(stack, task_queue).model_copy(update={"store": StoreConfig(url=url)})
            cli.use(settings)
            w3, client = web3s[1], temporal_env.client
            with Store(url) as store:
                store.migrate()
                deps = Deps(settings, signer, web3s, store=store)
                reads = StoreGoesAfterTheRead(deps, proxy)
                async with build_worker(client, task_queue, deps, chain_activities=reads):
                    await ensure_engine(client, settings)
                    fund(settings, web3s, USDC_1)
                    nonce, start = w3.eth.get_transaction_count(signer.address), w3.eth.block_number
                    reads.armed.set()
                    started = await commander(client, settings).ask(Operation.ALLOCATE, allocate_request(USDC_1))
                    refused = f"port {proxy.port} failed: Connection refused"
                    await wait_for(
                        lambda: retried_on(client, queue_id(1, signer.address), refused),
                        what="the queue's signing to fail on the store and be retried",
                    )
                    assert w3.eth.get_transaction_count(signer.address) == nonce  # nothing broadcast

                    async def back():
                        proxy.start()
                        await finished(client, settings.engine_id, Operation.ALLOCATE, started.workflow_id)

                    ran = await run(cli, temporal_env, "database-outage.md", {}, {"bring the database back": back})
                    journal = store.transactions_of(started.workflow_id)
                    assert (await engine_status(client, settings.engine_id)).last.status == "done"
            assert "warning: the store is unreachable: connection failed: connection to server at" in ran[0][2]
            assert "ALLOCATING" in ran[0][2], ran[0]  # the engine answers, its operation waiting
            assert f"port {proxy.port} failed: Connection refused" in ran[1][2] and "the store failed" in ran[1][2]
            assert "unreachable" not in ran[2][2] and "IDLE" in ran[2][2], ran[2]
            assert "no open discrepancy" in ran[3][2]
        sent = sent_by(w3, signer.address, start)
        assert [t["nonce"] for t in sent] == list(range(nonce, nonce + len(sent))) and sent  # each once, no gap
        assert sorted("0x" + bytes(t["hash"]).hex() for t in sent) == sorted(j.tx_hash.lower() for j in journal)
    finally:
        postgres.conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


class StoreGoesAfterTheRead(ChainActivities):
    """`read_holdings`, after which (once armed) the database goes away: the operation has read
    the chain and stored its snapshot; its transactions are still to be signed."""

    def __init__(self, deps: Deps, proxy: TcpProxy):
        super().__init__(deps)
        self.proxy, self.armed = proxy, threading.Event()

    @activity.defn(name="read_holdings")
    def read_holdings(self, input: ReadHoldingsInput) -> Holdings:
        holdings = super().read_holdings(input)
        if self.armed.is_set():
            self.armed.clear()
            self.proxy.stop()
        return holdings


async def retried_on(client, workflow_id: str, failure: str):
    """The workflow's pending activity retried after a failure that says `failure`, else None."""
    with contextlib.suppress(RPCError):  # not started yet
        description = await client.get_workflow_handle(workflow_id).describe()
        for a in description.raw_description.pending_activities:
            if a.attempt >= 2 and failure in a.last_failure.message:
                return a
    return None


async def test_panic_exit(temporal_env, stack, web3s, signer, task_queue, cli):
    """The floor unwound by an ADMIN's panic exit while paused: everything liquid out, stETH
    sold as far as the Curve pool pays within the limit and the rest queued; the queue's
    requests finalised days later and claimed into the executor; the engine PAUSED throughout."""
    from floor.adapters.registry import AdapterRegistry
    from floor.chain.multicall import MulticallReader
    from floor.panic import PanicExitResult
    from floor.protocols.lido.requests import read_requests
    from tests.integration.helpers import contract
    from tests.integration.test_panic_exit import LIDO, TREASURY, on_chain, panic_settings

    settings = panic_settings(stack, task_queue)
    cli.use(settings)
    client = temporal_env.client
    lido = AdapterRegistry.from_settings(settings).get(LIDO)

    async def claim_id() -> str:
        panic = (await engine_status(client, settings.engine_id)).last
        result = await client.get_workflow_handle(panic.workflow_id, result_type=PanicExitResult).result()
        (queued,) = [q for c in result.panic for q in c.queued if q.claim_workflow_id]
        return queued.claim_workflow_id

    def finalised() -> None:
        advance_time(web3s[1], 5 * 86_400, keep_feeds_fresh=True)
        steth = contract(web3s[1], "LidoStETH", lido.steth)
        tx = steth.functions.oracleReport(10**18).transact({"from": stack.chains[1].deployed.admin})
        assert web3s[1].eth.wait_for_transaction_receipt(tx, timeout=30)["status"] == 1

    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
        await ensure_engine(client, settings)
        fund(settings, web3s, TREASURY)
        allocated = await run_operation(client, settings, Operation.ALLOCATE, allocate_request(TREASURY))
        assert allocated.status == "done", allocated.summary
        values = {"what-happened": "drill", "claim-id": claim_id}
        ran = await run(cli, temporal_env, "panic-exit.md", values, {"finalised": finalised})
        panic_out = ran[1][2]
        assert "through its instant-exit pool" in panic_out and "queued" in panic_out, panic_out
        claim = client.get_workflow_handle(await claim_id(), result_type=PanicExitResult)
        claimed = await asyncio.wait_for(claim.result(), 60)
        assert claimed.status == "done" and claimed.panic[0].out["WETH"] > 0, claimed.summary
        assert await state_of(client, settings) == EngineState.PAUSED
    assert not read_requests(MulticallReader(web3s[1]), lido, settings.chain(1).executor)
    assert all(amount <= 4 for amount in on_chain(settings, web3s).values())
