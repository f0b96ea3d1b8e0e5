"""Reconciliation on the anvil chains with a real store (SQLite here; the store's own tests
run it on PostgreSQL too): interest is accrual, a transfer out of the executor behind the
engine's back is a discrepancy of its size that trips the circuit breaker, an operator's
acceptance (through the CLI) makes the cache follow the chain, and every chain's positions
cost one eth_call per chunk."""

from __future__ import annotations

from activities.chain import ChainActivities
from activities.engine import engine_status, reconcile
from floor.chain.rpc import request_counts
from floor.devnet.deploy import Deployer
from floor.engine import EngineState
from floor.store import Store
from tests.integration.engine_helpers import engine_settings, key, start_allocated, wait_for
from tests.integration.helpers import advance_time, contract
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
    client = temporal_env.client
    async with build_worker(client, task_queue, ChainActivities(settings, signer, web3s, store=store)):
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

        refused = await cli("reconcile", "--accept", str(d.id))
        assert refused.code == 2 and "--accept needs --reason" in refused.err
        accepted = await cli("reconcile", "--accept", str(d.id), "--reason", "INC-42: key rotated", "--by", "alice")
        assert accepted.code == 0, accepted.err
        (row,) = [r for r in store.discrepancies() if r.id == d.id]
        assert (row.status, row.accepted_by, row.accepted_reason) == ("accepted", "alice", "INC-42: key rotated")
        assert not [a for a in store.open_alerts() if a.kind == "discrepancy"]
        again = await reconcile(client, settings)
        assert again.status == "clean", again.summary  # the cache follows the chain now


async def test_two_hundred_positions_cost_one_eth_call_per_chunk_per_chain(stack, web3s, tmp_path, signer):
    """100 vault markets on each chain: positions, growth indexes and the gas balance of a
    chain read in one Multicall3 batch (a header read, then one eth_call per chunk)."""
    from activities.reconcile import ReconcileActivities
    from floor.config import Settings
    from floor.reconcile import ReconcileChainInput

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
    activities = ReconcileActivities(ChainActivities(settings, signer, fresh, store=store))
    for chain_id, w3 in fresh.items():
        before = dict(request_counts(w3))
        result = activities.reconcile_chain(ReconcileChainInput(run_id="count", chain_id=chain_id))
        used = {m: n - before.get(m, 0) for m, n in request_counts(w3).items() if n - before.get(m, 0)}
        assert result.markets == 100
        assert used == {"eth_call": 3}, used  # 501 reads and the block's 3, in chunks of 250


async def test_a_journalled_transaction_after_the_snapshot_counts_in_the_cache(
    temporal_env, stack, web3s, signer, task_queue, tmp_path
):
    """The cache is the last snapshot plus the planned effects of transactions mined after it:
    a deposit the journal holds but the chain does not is missing money, found as such."""
    from datetime import UTC, datetime

    from floor.store.tables import TxJournal, encode_effects

    settings, store = with_store(engine_settings(stack, task_queue), tmp_path)
    client = temporal_env.client
    async with build_worker(client, task_queue, ChainActivities(settings, signer, web3s, store=store)):
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
                )
            ]
        )
        web3s[1].provider.make_request("evm_mine", [])
        no_breaker = settings.model_copy(
            update={"reconcile": settings.reconcile.model_copy(update={"trip_above_bps": 10**6})}
        )
        found = await reconcile(client, no_breaker)
    assert not found.tripped
    (d,) = [d for part in found.chains for d in part.discrepancies]
    assert d.market == aave and int(d.expected) - int(d.actual) in range(claimed, claimed + 10**4)
