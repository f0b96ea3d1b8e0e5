"""Circuit breakers on the engine: a vault drained on the local chain trips its protocol's
breaker at the next risk check, the engine stops sending to it, a capital request routes
around it, and only an operator's half-open and a clean probe close a breaker again; every
change is in the store with an alert. Operations that fail trip the engine's own breaker as
they end."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import WorkflowFailureError

from activities.deps import Deps
from client import Refused, engine_breakers, engine_status, ensure_engine
from floor.adapters.registry import executor_setup
from floor.config import ChainConfig, Settings
from floor.devnet.context import Deployer
from floor.devnet.deploy import configure_executor
from floor.engine import EngineState, Operation
from floor.protocols.erc4626.deploy import seed
from floor.risk.breakers import BreakerState, Trigger
from tests.integration.engine_helpers import (
    access_config,
    commander,
    current_details,
    engine_settings,
    finished,
    key,
    run_operation,
    wait_for,
)
from tests.integration.helpers import advance_time, balance, mint, positions_now
from tests.integration.test_cli import one_line
from tests.integration.test_reconcile import with_store
from workers.temporal import build_worker

USDC = 10**6
AAVE = key(1, "aave-v3", "USDC")
RISKY = key(1, "riskvault", "riskUSDC")


def drainable_vault(stack, web3s) -> tuple[list[dict], str]:
    """A fresh vault of its own protocol on chain 1 (so draining it touches no other test),
    with another participant's 2M USDC in it, allowed by the executor."""
    w3 = web3s[1]
    d = Deployer(w3)
    chains = stack.chain_configs()
    chain = next(c for c in chains if c["id"] == 1)
    usdc = next(t for t in chain["tokens"] if t["symbol"] == "USDC")["address"]
    vault = d.deploy("ERC4626Vault", usdc, "riskUSDC", "riskUSDC", d.admin)
    seed(d, d.at("TestERC20", usdc), vault, 2_000_000 * USDC, 1_000 * USDC)
    market = {"protocol": "riskvault", "adapter": "erc4626", "market": "riskUSDC", "asset": "USDC"}
    chain["markets"] = [*chain["markets"], {**market, "vault": vault.address}]
    configure_executor(w3, chain["executor"], executor_setup(ChainConfig.model_validate(chain)))
    return chains, vault.address


async def stored(store, engine_id: str, count: int) -> list:
    async def enough():
        rows = store.breaker_events(engine_id)
        return rows if len(rows) >= count else None

    return await wait_for(enough, what=f"{count} breaker events in the store")


def drain(w3, token: str, vault: str, fraction_bps: int) -> None:
    """An exploit: the vault's tokens leave it for an attacker's address."""
    attacker = "0x000000000000000000000000000000000000dEaD"
    amount = balance(w3, token, vault) * fraction_bps // 10_000
    w3.provider.make_request("anvil_impersonateAccount", [vault])
    w3.provider.make_request("anvil_setBalance", [vault, hex(10**18)])
    data = w3.codec.encode(["address", "uint256"], [attacker, amount])
    tx = w3.eth.send_transaction({"from": vault, "to": token, "data": "0xa9059cbb" + data.hex()})
    w3.eth.wait_for_transaction_receipt(tx)
    w3.provider.make_request("anvil_stopImpersonatingAccount", [vault])


async def test_a_drained_vault_trips_its_breaker_and_capital_routes_around_it(
    temporal_env, stack, web3s, signer, task_queue, tmp_path
):
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
                "weights_of": "token",  # this test's amounts are per-leg splits (no prices, no caps)
            },
            engine={"workflow_id": f"engine-breakers-{uuid.uuid4().hex[:8]}"},
            access=access_config(),
        ),
        tmp_path,
    )
    engine_id = settings.engine_id
    chain = settings.chain(1)
    usdc = chain.token("USDC").address
    client = temporal_env.client
    w3 = web3s[1]
    async with build_worker(client, task_queue, Deps(settings, signer, web3s, store=store)):
        await ensure_engine(client, settings)
        mint(w3, usdc, chain.executor, 1_000_000 * USDC)
        allocate = {"by": "test", "amounts": [{"chain_id": 1, "asset": "USDC", "amount": str(1_000_000 * USDC)}]}
        await run_operation(client, settings, Operation.ALLOCATE, allocate)

        first = await commander(client, settings).check_risk()
        assert first.events == [] and first.breakers == []

        drain(w3, usdc, vault, 8_000)  # 80% of what the vault holds leaves it
        tripped = await commander(client, settings).check_risk()
        (event,) = tripped.events
        assert (event.scope, event.from_state, event.to_state) == (
            "protocol:riskvault",
            BreakerState.CLOSED,
            BreakerState.OPEN,
        )
        assert event.trigger == Trigger.TVL_FALL and "1:riskvault:riskUSDC: TVL" in event.reason
        assert "limit 3000 bps" in event.reason and "lost" in event.reason  # the drawdown is named too
        rows = await stored(store, engine_id, 1)  # the engine journals its events off the check's path
        assert [(r.scope, r.to_state, r.trigger) for r in rows] == [("protocol:riskvault", "OPEN", "tvl_fall")]
        assert [a.subject for a in store.open_alerts() if a.kind == "circuit_breaker"] == ["protocol:riskvault"]
        again = await commander(client, settings).check_risk()
        assert again.events == []  # already open: nothing new, the first reason stands

        # New capital goes only where no breaker stands.
        before = positions_now(settings, web3s, [AAVE, RISKY])
        mint(w3, usdc, chain.executor, 100_000 * USDC)
        allocate["amounts"][0]["amount"] = str(100_000 * USDC)
        result = await run_operation(client, settings, Operation.ALLOCATE, allocate)
        assert result.status == "done", result.summary
        after = positions_now(settings, web3s, [AAVE, RISKY])
        assert after[RISKY].shares == before[RISKY].shares
        assert after[AAVE].amount - before[AAVE].amount >= 100_000 * USDC - 2

        # A capital request is served from the markets no breaker guards.
        treasury = chain.destinations[0]
        paid_before = balance(w3, usdc, treasury)
        request = {
            "chain_id": 1,
            "asset": "USDC",
            "amount": str(50_000 * USDC),
            "destination": treasury,
            "by": "treasury-ops",
            "reason": "payroll",
        }
        delivered = await run_operation(client, settings, Operation.REQUEST_CAPITAL, request)
        assert balance(w3, usdc, treasury) - paid_before == 50_000 * USDC
        assert str(RISKY) not in {p.market for p in delivered.plan}
        assert positions_now(settings, web3s, [RISKY])[RISKY].shares == before[RISKY].shares

        # An operator opens the chain's breaker: every USDC market on it is behind one now.
        await commander(client, settings).trip("chain:1", "RPC provider incident")
        # A capital request is not refused at the door (idle funds need no market): it plans
        # around the breaker, and fails saying so when idle funds cannot cover it.
        refused_by_plan = await commander(client, settings).ask(Operation.REQUEST_CAPITAL, request)
        with pytest.raises(WorkflowFailureError) as caught:
            await client.get_workflow_handle(refused_by_plan.workflow_id).result()
        assert caught.value.cause.type == "InsufficientLiquidity", caught.value
        assert caught.value.cause.message.startswith("cannot deliver 50,000 USDC on chain 1: ")
        assert "markets behind circuit breakers are left out (chain:1 is OPEN: RPC provider incident)" in (
            caught.value.cause.message
        )
        await wait_for(lambda: _idle(client, engine_id), what="the failed request recorded by the engine")
        failed = await current_details(client, refused_by_plan.workflow_id)  # the Web UI: how it ended
        assert failed.startswith("**failed**: InsufficientLiquidity: cannot deliver 50,000 USDC"), failed
        with pytest.raises(Refused, match=r"already OPEN: RPC provider incident"):
            await commander(client, settings).trip("chain:1", "again")
        with pytest.raises(Refused, match=r"'chain:one' is not a breaker scope"):
            await commander(client, settings).half_open("chain:one", "typo")
        with pytest.raises(Refused, match=r"reason"):  # a breaker changes with a reason
            await commander(client, settings).half_open("chain:1", "")
        with pytest.raises(Refused, match=r"only an OPEN breaker can be half-opened"):
            await commander(client, settings).half_open("protocol:aave-v3", "nothing open")

        # Half-open both; one probe passes (the chain is healthy), the other fails (the TVL is
        # still far below its day's high) and the breaker opens again.
        await commander(client, settings).half_open("chain:1", "provider recovered")
        await commander(client, settings).half_open("protocol:riskvault", "maybe fine?")
        probed = await commander(client, settings).check_risk()
        changes = {(e.scope, e.from_state, e.to_state) for e in probed.events}
        assert changes == {
            ("chain:1", BreakerState.HALF_OPEN, BreakerState.CLOSED),
            ("protocol:riskvault", BreakerState.HALF_OPEN, BreakerState.OPEN),
        }
        assert [b.scope for b in await engine_breakers(client, engine_id)] == ["protocol:riskvault"]
        probe_failed = next(e for e in probed.events if e.scope == "protocol:riskvault")
        assert probe_failed.reason.startswith("probe failed: ") and probe_failed.trigger == Trigger.PROBE
        # The request the chain's breaker refused goes through now, around the vault.
        started = await commander(client, settings).ask(Operation.REQUEST_CAPITAL, request)
        await finished(client, engine_id, Operation.REQUEST_CAPITAL, started.workflow_id)
        assert balance(w3, usdc, treasury) - paid_before == 100_000 * USDC
        assert [(r.scope, r.to_state) for r in await stored(store, engine_id, 6)] == [
            ("protocol:riskvault", "OPEN"),  # the drain
            ("chain:1", "OPEN"),  # by hand
            ("chain:1", "HALF_OPEN"),
            ("protocol:riskvault", "HALF_OPEN"),
            ("protocol:riskvault", "OPEN"),  # its probe failed
            ("chain:1", "CLOSED"),  # its probe passed
        ]
        assert {a.subject for a in store.open_alerts() if a.kind == "circuit_breaker"} == {"protocol:riskvault"}

        # Two hours pass with no new round on chain 1's feeds: ETH/USD (1 h heartbeat) is stale,
        # read in the check's own batch, and the chain's breaker opens on it.
        advance_time(w3, 2 * 3600, keep_feeds_fresh=False)
        stale = await commander(client, settings).check_risk()
        (event,) = [e for e in stale.events if e.scope == "chain:1"]
        assert (
            event.trigger == Trigger.PRICE and "of WETH" in event.reason and "past the feed's heartbeat" in event.reason
        )


async def test_four_failed_operations_trip_the_engine_breaker_as_the_fourth_ends(
    temporal_env, stack, web3s, signer, task_queue, tmp_path, cli
):
    """Capital requests the planner refuses (nothing to deliver from): each fails. With no risk
    check in between, the fourth failure opens the engine's breaker (3 of the last 4 is the
    limit) and pauses the engine; a resume is refused while it is open. An operator names only
    the strategy's scopes: `protocol:nope`, `chain:999` and the engine are refused by name."""
    settings, store = with_store(engine_settings(stack, task_queue), tmp_path)
    cli.use(settings)
    engine_id, client = settings.engine_id, temporal_env.client
    request = {
        "chain_id": 1,
        "asset": "USDC",
        "amount": str(10**9 * USDC),  # a billion: far more than the (empty) executor can deliver
        "destination": settings.chain(1).destinations[0],
        "by": "treasury-ops",
        "reason": "payroll",
    }
    async with build_worker(client, task_queue, Deps(settings, signer, web3s, store=store)):
        await ensure_engine(client, settings)
        for n in range(4):
            failed = await commander(client, settings).ask(Operation.REQUEST_CAPITAL, request)

            async def recorded(workflow_id=failed.workflow_id):
                status = await engine_status(client, engine_id)
                return status.last if status.last and status.last.workflow_id == workflow_id else None

            last = await wait_for(recorded, what=f"the engine to record {failed.workflow_id}")
            assert last.status == "failed" and last.summary.startswith("InsufficientLiquidity: "), last
            if n < 3:
                assert await engine_breakers(client, engine_id) == []  # the window is not full yet

        async def paused():
            status = await engine_status(client, engine_id)
            return status if status.state == EngineState.PAUSED else None

        status = await wait_for(paused, what="the error rate to pause the engine")
        assert status.pause_reason == "4 of the engine's last 4 operations failed (limit 3)"
        (breaker,) = await engine_breakers(client, engine_id)
        assert (breaker.scope, breaker.state, breaker.trigger, breaker.by) == (
            "engine",
            BreakerState.OPEN,
            Trigger.ERROR_RATE,
            "engine",
        )
        with pytest.raises(Refused, match=r"the engine's circuit breaker is OPEN \(4 of the engine's last 4"):
            await commander(client, settings).resume("try again")
        rows = await stored(store, engine_id, 1)
        assert [(r.scope, r.to_state, r.trigger) for r in rows] == [("engine", "OPEN", "error_rate")]

        for scope in ("protocol:nope", "chain:999"):
            with pytest.raises(Refused, match=rf"'{scope}' is not a breaker scope of this engine: use one of chain:1"):
                await commander(client, settings).trip(scope, "typo")
        with pytest.raises(Refused, match=r"use one of engine, chain:1, chain:42161, protocol:aave-v3"):
            await commander(client, settings).half_open("protocol:nope", "typo")
        ran = await cli("risk", "trip", "engine", "--reason", "stop it all")
        assert ran.code == 1 and "`floor pause` stops the whole engine" in one_line(ran.err), ran


async def _idle(client, engine_id: str) -> bool:
    return (await engine_status(client, engine_id)).operation is None
