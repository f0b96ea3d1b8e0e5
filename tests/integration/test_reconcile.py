"""Reconciliation on the anvil chains with a real store (SQLite here; the store's own tests
run it on PostgreSQL too): interest is accrual, a transfer out of the executor behind the
engine's back is a discrepancy of its size that opens a circuit breaker of its own (one per
market, however many runs find it) and holds the engine paused, an operator's acceptance
(through the CLI) closes it and makes the cache follow the chain, and every chain's positions
cost one eth_call per chunk."""

from __future__ import annotations

import pytest

from activities.deps import Deps
from activities.reconcile import ReconcileActivities
from cli import outputs
from cli.engine import breakers_and_acceptances
from cli.render import history_tables
from client import Refused, engine_breakers, engine_status, ensure_engine, reconcile
from floor.chain.rpc import request_counts
from floor.devnet.context import Deployer
from floor.engine import EngineState, Operation
from floor.reconcile import ReconcileChainInput, tx_key
from floor.store import Store
from floor.txqueue import queue_id
from tests.integration.engine_helpers import (
    ADMIN,
    commander,
    engine_settings,
    fund,
    key,
    run_operation,
    start_allocated,
    wait_for,
)
from tests.integration.helpers import advance_time, balance, contract, own_anvil
from tests.integration.test_cli import one_line
from tests.json_schema import cli_json
from workers.temporal import build_worker

STEAK = key(1, "metamorpho", "steakUSDC")


def with_store(settings, tmp_path):
    store_url = f"sqlite:///{tmp_path / 'floor.db'}"
    settings = settings.model_copy(update={"store": settings.store.model_copy(update={"url": store_url})})
    store = Store.from_settings(settings)
    store.migrate()
    return settings, store


def take_behind_the_engines_back(w3, settings, fraction: int) -> int:
    """1/`fraction` of the executor's vault shares moved out by someone holding it (anvil
    impersonation); returns the shares taken."""
    chain = settings.chain(1)
    vault = contract(w3, "ERC4626Vault", chain.market("metamorpho", "steakUSDC").vault)
    shares = vault.functions.balanceOf(chain.executor).call() // fraction
    thief = w3.eth.accounts[5]
    w3.provider.make_request("anvil_impersonateAccount", [chain.executor])
    w3.provider.make_request("anvil_setBalance", [chain.executor, hex(10**18)])
    try:
        Deployer(w3).send(vault.functions.transfer(thief, shares), sender=chain.executor)
    finally:
        w3.provider.make_request("anvil_stopImpersonatingAccount", [chain.executor])
    return vault.functions.convertToAssets(shares).call()


async def test_accrual_is_not_a_discrepancy_a_transfer_out_is_and_trips_the_breaker(
    temporal_env, stack, web3s, signer, task_queue, tmp_path, cli
):
    settings, store = with_store(engine_settings(stack, task_queue), tmp_path)
    cli.use(settings)
    cli.key = ADMIN  # the engine's breaker events name who signed the acceptance
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, web3s, store=store)):
        await start_allocated(client, settings, web3s)
        assert store.transactions_of(f"{settings.engine_id}/allocate-1")  # journalled, with effects
        for w3 in web3s.values():
            advance_time(w3, 30 * 86_400)
        web3s[1].provider.make_request("anvil_setBalance", [signer.address, hex(5 * 10**16)])  # 0.05 ETH
        clean = await reconcile(client, settings)
        assert clean.status == "clean" and not clean.tripped, clean.summary
        gas = {part.chain_id: part.low_gas for part in clean.chains}
        assert gas == {1: True, 42161: False}  # below 0.1 ETH on chain 1; no minimum set on 42161
        assert [a.subject for a in store.open_alerts() if a.kind == "low_gas"] == [f"1:{signer.address}"]
        kinds = {k for part in clean.chains for k in part.kinds}
        assert "accrual" in kinds and "discrepancy" not in kinds  # a month of interest, explained

        taken = take_behind_the_engines_back(web3s[1], settings, 10)  # a tenth of the vault position
        found = await reconcile(client, settings)
        assert found.status == "discrepancy" and found.tripped
        (d,) = [d for part in found.chains for d in part.discrepancies]
        assert d.market == str(STEAK) and 990 <= d.relative_bps <= 1_010
        assert abs(int(d.expected) - int(d.actual) - taken) <= 10**6  # its size, to interest of seconds

        async def paused_by_breaker():
            status = await engine_status(client, settings.engine_id)
            return status if status.state == EngineState.PAUSED else None

        status = await wait_for(paused_by_breaker, what="the circuit breaker to pause the engine")
        assert f"discrepancy #{d.id} on {STEAK}" in status.pause_reason
        assert [a.subject for a in store.open_alerts() if a.kind == "discrepancy"] == [str(STEAK)]

        # A second run finds the market short again: the same discrepancy (updated), one breaker,
        # listed once; the engine's breaker book has it, and a resume is refused naming it.
        second = await reconcile(client, settings)
        (d2,) = [x for part in second.chains for x in part.discrepancies]
        scope = f"reconcile:{STEAK}"
        assert d2.id == d.id and second.breakers == [scope], second
        assert [r.id for r in store.open_discrepancies()] == [d.id]
        (listed,) = await engine_breakers(client, settings.engine_id)  # what `floor risk breakers` lists
        assert (listed.scope, listed.state) == (scope, "OPEN") and f"discrepancy #{d.id}" in listed.reason, listed
        opened = await cli("reconcile", "--open")
        assert opened.code == 0 and one_line(opened.out).startswith(f"#{d.id} chain 1 {STEAK}: holds "), opened
        (open_row,) = cli_json(await cli("reconcile", "--open", "--json"), outputs.OpenDiscrepanciesOutput)["open"]
        assert (open_row["id"], open_row["actual"]) == (d.id, d2.actual), open_row  # exact, a string
        resume = await cli("resume", "--reason", "looks fine to me")
        assert resume.code == 1 and f"{scope} is OPEN" in resume.err and f"discrepancy #{d.id}" in resume.err, resume
        with pytest.raises(Refused, match="closes when what the reconciliation found is accepted"):
            await commander(client, settings).half_open(scope, "probe it")

        refused = await cli("reconcile", "--accept", str(d.id))
        assert refused.code == 2 and "--accept needs --reason" in refused.err
        accepted = await cli(
            "reconcile", "--accept", str(d.id), "--reason", "INC-42: key rotated", "--by", "alice", "--json"
        )
        said = cli_json(accepted, outputs.AcceptedDiscrepancyOutput)
        assert accepted.code == 0 and said["engine"].startswith(f"{scope}: OPEN -> CLOSED"), accepted
        assert (said["accepted_by"], said["expected"]) == ("alice", d2.expected), said
        (row,) = [r for r in store.discrepancies() if r.id == d.id]
        assert (row.status, row.accepted_by, row.accepted_reason) == ("accepted", "alice", "INC-42: key rotated")
        assert not [a for a in store.open_alerts() if a.kind == "discrepancy"]
        resumed = await commander(client, settings, ADMIN).resume("INC-42 closed")
        assert resumed == f"resumed by {ADMIN.address}: INC-42 closed"  # the signer (no name in the book)
        again = await reconcile(client, settings)
        assert again.status == "clean", again.summary  # the cache follows the chain now

        # `floor history` has both breaker changes and the acceptance (who, why, when).
        await wait_for(lambda: _stored(store, settings.engine_id, 2), what="the breaker events in the store")
        history = breakers_and_acceptances(settings, 20)
        shown = history_tables({"transitions": [], "operations": [], **history})
        assert [t.title for t in shown][-2:] == ["Circuit breakers", "Discrepancies accepted"]
        assert [(e["scope"], e["to_state"], e["actor"].split("/")[0]) for e in history["breaker_events"]] == [
            (scope, "OPEN", f"reconciliation {settings.engine_id}"),  # by the run that found it
            (scope, "CLOSED", ADMIN.address),  # the engine names who signed the acceptance
        ]
        (acceptance,) = history["acceptances"]
        assert (acceptance["id"], acceptance["accepted_by"], acceptance["accepted_reason"]) == (
            d.id,
            "alice",
            "INC-42: key rotated",
        )


async def _stored(store, engine_id: str, count: int):
    return len(store.breaker_events(engine_id)) >= count


async def test_two_hundred_positions_cost_one_eth_call_per_chunk_per_chain(stack, web3s, tmp_path, signer):
    """100 vault markets on each chain: positions, growth indexes and the gas balance of a
    chain read in one Multicall3 batch (one eth_call per chunk), plus the chain's final block
    remembered (its number from the `finalized` tag, its hash and the genesis': three header
    reads, whatever the number of markets)."""
    from floor.chain.report import read_idle_report, read_report
    from floor.config import Settings

    configs = []
    for chain_id in (1, 42161):
        chain = stack.chains[chain_id]
        config = chain.deployed.chain_config(chain.rpc_url)
        usdc = next(t for t in config["tokens"] if t["symbol"] == "USDC")["address"]
        d = Deployer(web3s[chain_id])
        config["markets"] = [
            {
                "protocol": "metamorpho",
                "adapter": "erc4626",
                "market": f"v{i:03d}",
                "asset": "USDC",
                "vault": d.deploy("ERC4626Vault", usdc, f"v{i}", f"v{i}", d.admin).address,
            }
            for i in range(100)
        ]
        configs.append(config)
    settings, store = with_store(Settings(chains=configs), tmp_path)
    fresh = {cid: stack.chains[cid].web3() for cid in (1, 42161)}  # counters of their own
    activities = ReconcileActivities(Deps(settings, signer, fresh, store=store))
    for chain_id, w3 in fresh.items():
        before = dict(request_counts(w3))
        result = activities.reconcile_chain(ReconcileChainInput(run_id="count", chain_id=chain_id))
        used = {m: n - before.get(m, 0) for m, n in request_counts(w3).items() if n - before.get(m, 0)}
        assert result.markets == 100
        # The metrics' marks are `floor positions`' own reads of the reconciliation's block
        # (its batch, and a day-earlier growth index for measured APYs): counted on their own.
        before, at = dict(request_counts(w3)), {chain_id: result.block_number}
        read_report(settings, fresh, exit_quotes=True, chains=[chain_id], blocks=at)
        read_idle_report(settings, fresh, chains=[chain_id], blocks=at)
        marks = {m: n - before.get(m, 0) for m, n in request_counts(w3).items()}
        own = {m: n - marks.get(m, 0) for m, n in used.items() if n - marks.get(m, 0)}
        # 501 reads and the block's 3, in chunks of 250; the chain's mark: three headers
        assert own == {"eth_call": 3, "eth_getBlockByNumber": 3}, (used, marks)


async def test_a_journalled_transaction_after_the_snapshot_counts_in_the_cache(
    temporal_env, stack, web3s, signer, task_queue, tmp_path
):
    """The cache is the last snapshot plus the planned effects of transactions mined after it:
    a deposit the journal holds but the chain does not is missing money, found as such. (The
    row says the transaction was found final already: the journal's own check, which would
    name it missing, is the reorged delivery's test.)"""
    from datetime import UTC, datetime

    from floor.store.tables import TxJournal, encode_effects

    settings, store = with_store(engine_settings(stack, task_queue), tmp_path)
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, web3s, store=store)):
        await start_allocated(client, settings, web3s)
        aave = str(key(1, "aave-v3", "USDC"))
        claimed = 5_000 * 10**6
        store.record_transactions(
            [
                TxJournal(
                    operation_id="elsewhere",
                    intent_id="elsewhere/chain-1/batch-1",
                    chain_id=1,
                    tx_hash="0x" + "77" * 32,
                    nonce=99,
                    status=1,
                    block_number=web3s[1].eth.block_number + 1,  # after the allocation's read-back
                    gas_used=1,
                    effective_gas_price=1,
                    calls=1,
                    recorded_at=datetime.now(UTC),
                    effects=encode_effects({aave: claimed}),
                    chain_state="final",
                )
            ]
        )
        web3s[1].provider.make_request("evm_mine", [])
        no_breaker = settings.model_copy(
            update={"reconcile": settings.reconcile.model_copy(update={"trip_above_bps": 10_000})}
        )
        found = await reconcile(client, no_breaker)
    assert not found.tripped
    (d,) = [d for part in found.chains for d in part.discrepancies]
    assert d.market == aave and int(d.expected) - int(d.actual) in range(claimed, claimed + 10**4)


async def test_a_delivery_reorged_out_after_it_settled_is_found_with_its_amount_and_trips_the_breaker(
    temporal_env, stack, web3s, signer, task_queue, tmp_path, cli
):
    """A capital request served from idle funds (80,000 USDC to the treasury) settles and ends;
    then a reorg deeper than the confirmation depth takes its transaction out, and another
    transaction of the signer takes its nonce. No market changed, but `floor reconcile` finds
    the journalled delivery missing: a discrepancy of its amount that trips the breaker (and
    the USDC back in the executor is an inflow, not a second alarm).
    Isolation from the queue (which may follow settled transactions and send them again): its
    workflow is terminated before the reorg, and the reorg fills the nonce with another
    transaction, so nothing can mine the delivery again."""

    settings, store = with_store(engine_settings(stack, task_queue), tmp_path)
    cli.use(settings)
    client, w3, chain = temporal_env.client, web3s[1], settings.chain(1)
    usdc, treasury, amount = chain.token("USDC").address, chain.destinations[0], 80_000 * 10**6
    async with build_worker(client, task_queue, Deps(settings, signer, web3s, store=store)):
        await ensure_engine(client, settings)
        fund(settings, web3s, {(1, "USDC"): 100_000 * 10**6})
        request = {"chain_id": 1, "asset": "USDC", "amount": str(amount), "destination": treasury}
        delivered = await run_operation(client, settings, Operation.REQUEST_CAPITAL, request)
        assert delivered.status == "done" and delivered.delivered == amount, delivered.summary
        (sent,) = list(store.journal_to_check(1, 10))
        assert sent.effect_amounts() == {"1:idle:USDC": -amount, f"1:delivery:USDC:{treasury}": amount}

        await client.get_workflow_handle(queue_id(1, signer.address)).terminate("the test reorgs its transaction")
        w3.provider.make_request("evm_mine", [])  # one block on top: deeper than confirmations=1
        depth = w3.eth.block_number - sent.block_number + 1
        fee = 2 * w3.eth.gas_price
        other = signer.sign_transaction(
            {"chainId": 1, "nonce": sent.nonce, "to": signer.address, "value": 0, "gas": 21_000}
            | {"maxFeePerGas": fee, "maxPriorityFeePerGas": fee // 2}
        )
        reorged = w3.provider.make_request("anvil_reorg", [depth, [["0x" + other.raw.hex(), 0]]])
        assert "error" not in reorged, reorged
        assert balance(w3, usdc, treasury) == 0 and balance(w3, usdc, chain.executor) == 100_000 * 10**6

        ran = await cli("reconcile", "--json")
        assert ran.code == 1, ran.err
        found = cli_json(ran, outputs.ReconcileOutput)  # fits docs/cli-json.md
        assert found["status"] == "discrepancy" and found["tripped"], found["summary"]
        (part,) = [p for p in found["chains"] if p["chain_id"] == 1]
        (d,) = part["discrepancies"]
        assert d["market"] == tx_key(1, sent.tx_hash) and (d["expected"], d["actual"]) == (str(amount), "0")
        assert d["asset"] == "USDC" and d["relative_bps"] == 10_000
        assert f"delivered 80,000 USDC to {treasury}" in d["detail"], d["detail"]
        assert sent.operation_id in d["detail"] and "no receipt on the canonical chain" in d["detail"]
        assert part["kinds"].get("inflow") == 1  # the USDC stayed idle: explained, not a second alarm

        status = await wait_for(lambda: paused(client, settings.engine_id), what="the breaker to pause the engine")
        assert f"discrepancy #{d['id']} on {d['market']}" in status.pause_reason

        accepted = await cli("reconcile", "--accept", str(d["id"]), "--reason", "INC-7: reorged out, re-sent by hand")
        assert accepted.code == 0, accepted.err
        assert store.journal_to_check(1, 10) == []  # gone: the journal no longer counts on it
        assert (await reconcile(client, settings)).status == "clean"


async def test_a_reset_chain_is_said_in_one_line_by_positions_reconcile_and_status(
    temporal_env, stack, web3s, signer, task_queue, tmp_path, tmp_path_factory, cli
):
    """A reconciliation remembers a final block of chain 42161; then the chain is reset (here:
    its URL now serves a fresh anvil of the same id, as a restarted one would). `floor
    positions`, `floor reconcile` and `floor status` say so in one line and exit 1, no
    traceback. Once an operator accepts the chain as it is, the read that finds no Multicall3
    on it says that in one line too."""

    settings, store = with_store(engine_settings(stack, task_queue), tmp_path)
    ReconcileActivities(Deps(settings, signer, web3s, store=store)).reconcile_chain(
        ReconcileChainInput(run_id="before-the-reset", chain_id=42161)
    )
    mark = store.chain_marks()[42161]
    said = f"chain 42161 state does not match what the engine knew at block {mark.block_number}"
    with own_anvil(tmp_path_factory, 42161, "reset") as url:
        chains = [c if c.id != 42161 else c.model_copy(update={"rpc_urls": [url]}) for c in settings.chains]
        reset = settings.model_copy(update={"chains": chains})
        cli.use(reset)
        ran = await cli("positions")
        assert ran.code == 1 and ran.out == "" and one_line(ran.err).startswith(f"error: {said}"), ran

        deps = Deps(reset, signer, {1: web3s[1]}, store=store)
        async with build_worker(temporal_env.client, task_queue, deps):
            await ensure_engine(temporal_env.client, reset)
            ran = await cli("reconcile")
            assert ran.code == 1 and "Traceback" not in ran.out + ran.err, ran
            assert next(line for line in ran.out.splitlines() if said in line).startswith(f"mismatch: {said}")
            await wait_for(lambda: paused(temporal_env.client, reset.engine_id), what="the breaker")  # nothing moves
            ran = await cli("status")
            assert ran.code == 1 and one_line(ran.err).startswith(f"error: {said}"), ran
            assert "State      PAUSED" in ran.out and said in ran.out  # the pause's reason names it

            # An operator accepts the chain as it is (the queue there, started by the pause's
            # hold, had sent nothing on it: it says so): then the read itself finds no Multicall3.
            ran = await cli("reconcile", "--accept-chain", "42161", "--reason", "anvil restarted", "--by", "bob")
            assert ran.code == 0 and "chain 42161: remembered at block 0: accepted by bob: anvil restarted" in ran.out
            assert "not changed: nothing to accept" in ran.out
            assert "engine: reconcile:chain:42161: OPEN -> CLOSED" in ran.out  # the mismatch's own breaker
        ran = await cli("positions")
        assert ran.code == 1, ran
        assert "Multicall3 at 0xcA11bde05977b3631167028862bE2a173976CA11 has no code on chain 42161" in one_line(
            ran.err
        )


async def paused(client, engine_id: str):
    """The engine's status once PAUSED, else None."""
    status = await engine_status(client, engine_id)
    return status if status.state == EngineState.PAUSED else None
