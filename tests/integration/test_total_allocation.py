"""Strategy weights as fractions of the floor's TOTAL value, through the engine on the anvil
chains: an allocation on two chains and two tokens valued by the Chainlink feed stand-ins
(read in the same batch as the holdings), a protocol cap from the config cutting a target
(the cut stays idle, noted), a rebalance after a feed's answer moves, and a stale price that
stops an allocation before anything is sent.

The floor (tests/unit/test_total_weights.py has the same numbers, planned in pure code):
chain 1 holds 800,000 USDC and 200 WETH ($3,000 each), chain 42161 600,000 USDC, so
T = $2,000,000; the targets add up to 8,000 bps, so 20% stays idle. Score caps are off here
(they depend on the date; tests/unit/test_total_weights.py pins one), the config's caps on.
"""

from __future__ import annotations

import uuid

import pytest

from activities.deps import Deps
from client import engine_status, ensure_engine
from floor.adapters.registry import AdapterRegistry
from floor.config import Settings
from floor.devnet.context import PRICES, USD_UNIT, Deployer
from floor.engine import EngineState, Operation
from tests.integration.engine_helpers import access_config, allocate_request, commander, fund, run_operation, wait_for
from tests.integration.helpers import advance_time, balance, check_deposit_position, contract, positions_now
from tests.unit.test_total_weights import EXPECTED, IDLE, MARKETS
from workers.temporal import build_worker

pytestmark = pytest.mark.integration


def total_settings(stack, task_queue: str, **strategy) -> Settings:
    return Settings(
        chains=stack.chain_configs(),
        temporal={"task_queue": task_queue},
        strategy={
            "targets": [{"chain_id": c, "protocol": p, "market": m, "weight_bps": w} for c, p, m, _, _, w in MARKETS],
            "weights_of": "total",
            "score_caps": False,
            "cluster_limit_bps": 0,  # the hand-computed figures use no caps but the test's own
            **strategy,
        },
        engine={"workflow_id": f"engine-total-{uuid.uuid4().hex[:8]}"},
        access=access_config(),
    )


def feed(settings: Settings, web3s, chain_id: int, symbol: str):
    return contract(web3s[chain_id], "ChainlinkAggregator", settings.chain(chain_id).price_feeds[symbol].feed)


def fresh_feeds(settings: Settings, web3s) -> None:
    """A new round on every feed, at the deployed prices: anvil's clock may have moved past a
    heartbeat in an earlier test."""
    for chain_id, w3 in web3s.items():
        for symbol in settings.chain(chain_id).price_feeds:
            Deployer(w3).send(feed(settings, web3s, chain_id, symbol).functions.updateAnswer(PRICES[symbol]))


def idle_now(settings: Settings, web3s) -> dict[tuple[int, str], int]:
    out = {}
    for chain_id, asset in IDLE:
        chain = settings.chain(chain_id)
        out[(chain_id, asset)] = balance(web3s[chain_id], chain.token(asset).address, chain.executor)
    return out


def deployed(amounts: dict) -> dict[tuple[int, str], int]:
    asset = {(c, p, m): a for c, p, m, a, _, _ in MARKETS}
    out: dict[tuple[int, str], int] = {}
    for k, n in amounts.items():
        leg = (k.chain_id, asset[(k.chain_id, k.protocol, k.market)])
        out[leg] = out.get(leg, 0) + n
    return out


async def allocated(client, settings: Settings, web3s):
    await ensure_engine(client, settings)
    fresh_feeds(settings, web3s)
    fund(settings, web3s, IDLE)
    return await run_operation(client, settings, Operation.ALLOCATE, allocate_request(IDLE))


async def test_targets_are_fractions_of_the_total_usd_value_on_two_chains_and_two_tokens(
    temporal_env, stack, web3s, signer, task_queue
):
    settings = total_settings(stack, task_queue)
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
        result = await allocated(client, settings, web3s)
    assert result.status == "done", result.summary
    assert "$2,000,000" in result.summary and result.notes == []
    # Hand-computed from the feeds' prices: weight x $2,000,000 / price, to the base unit.
    assert {d.key: d.amount for d in result.planned} == EXPECTED
    assert sorted(t.chain_id for t in result.transactions) == [1, 42161]  # one atomic batch per chain
    after = positions_now(settings, web3s, list(EXPECTED))
    registry = AdapterRegistry.from_settings(settings)
    for k, amount in EXPECTED.items():
        check_deposit_position(web3s[k.chain_id], registry.get(k), after[k], amount)
        assert result.positions[str(k)] == after[k].amount
    # 20% of the value stays idle, exactly what was not deposited (not all of each token, as
    # per-token weights would have put it).
    idle = {leg: IDLE[leg] - deployed(EXPECTED).get(leg, 0) for leg in IDLE}
    assert idle == {
        (1, "USDC"): 200_000 * 10**6,
        (1, "WETH"): 33_333_333_333_333_333_334,
        (42161, "USDC"): 100_000 * 10**6,
    }
    assert idle_now(settings, web3s) == idle
    assert result.idle == {f"{c}:{a}": n for (c, a), n in idle.items()}


async def test_a_protocol_cap_from_the_config_cuts_a_target_and_the_cut_stays_idle(
    temporal_env, stack, web3s, signer, task_queue
):
    settings = total_settings(stack, task_queue, caps={"protocols": {"spark": 500}})
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
        result = await allocated(client, settings, web3s)
    assert result.status == "done", result.summary
    spark = next(k for k in EXPECTED if k.protocol == "spark")
    planned = {d.key: d.amount for d in result.planned}
    assert planned[spark] == 100_000 * 10**6  # 500 bps of $2,000,000, not 1,000
    assert {k: v for k, v in planned.items() if k != spark} == {k: v for k, v in EXPECTED.items() if k != spark}
    (note,) = result.notes
    assert note.startswith("protocol_cap: ") and "spark" in note and "$100,000.00" in note, note
    assert idle_now(settings, web3s)[(1, "USDC")] == 300_000 * 10**6  # 200,000 + the cut 100,000


async def test_a_rebalance_after_a_price_move_restores_fractions_of_the_new_total(
    temporal_env, stack, web3s, signer, task_queue
):
    settings = total_settings(stack, task_queue, rebalance_drift_bps=100)
    client = temporal_env.client
    weth = settings.chain(1).token("WETH").address
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
        await allocated(client, settings, web3s)
        # Within the threshold: nothing moves.
        calm = await run_operation(client, settings, Operation.REBALANCE, {"by": "test"})
        assert calm.status == "skipped" and calm.drift_before_bps <= 1, calm.summary
        # ETH goes from $3,000 to $4,500: T = 800,000 + 200 x 4,500 + 600,000 = $2,300,000.
        Deployer(web3s[1]).send(feed(settings, web3s, 1, "WETH").functions.updateAnswer(4_500 * USD_UNIT))
        weth_idle = balance(web3s[1], weth, settings.chain(1).executor)
        result = await run_operation(client, settings, Operation.REBALANCE, {"by": "test", "reason": "ETH up"})
    assert result.status == "done", result.summary
    # aave-v3 WETH holds 100 WETH = $450,000 against 15% of $2,300,000 = $345,000: 456 bps.
    assert result.drift_before_bps == 456, result.summary
    assert result.projected_drift_bps == 0 and result.drift_after_bps <= 1, result.summary
    expected = {  # hand-computed, before a few seconds of interest
        ("aave-v3", "WETH"): -(100 * 10**18 - 345_000 * 10**18 // 4_500),
        ("metamorpho", "gtWETH"): -(66_666_666_666_666_666_666 - 230_000 * 10**18 // 4_500),
        ("aave-v3", "USDC", 1): 60_000 * 10**6,
        ("spark", "USDC"): 30_000 * 10**6,
        ("aave-v3", "USDC", 42161): 30_000 * 10**6,
        ("metamorpho", "gtUSDC"): 45_000 * 10**6,
    }
    planned = {}
    for m in result.moves:
        name = (m.key.protocol, m.key.market) + (
            (m.key.chain_id,) if m.key.protocol == "aave-v3" and m.key.market == "USDC" else ()
        )
        planned[name] = m.planned
        assert abs(m.realised - m.planned) <= 2 + abs(m.planned) // 100_000, m  # rounding and interest
    assert planned.keys() == expected.keys()
    for name, amount in expected.items():
        assert abs(planned[name] - amount) <= abs(amount) // 100_000, (name, planned[name], amount)
    # WETH left its markets for the executor (it is not swapped); idle USDC went in.
    withdrawn = -sum(v for k, v in planned.items() if k[1] in ("WETH", "gtWETH"))
    assert balance(web3s[1], weth, settings.chain(1).executor) == weth_idle + withdrawn


async def test_a_stale_price_stops_the_allocation_before_anything_is_sent(
    temporal_env, stack, web3s, signer, task_queue
):
    settings = total_settings(stack, task_queue)
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
        await ensure_engine(client, settings)
        fresh_feeds(settings, web3s)
        fund(settings, web3s, IDLE)
        advance_time(web3s[1], 3_601, keep_feeds_fresh=False)  # past the ETH / USD feed's hour on chain 1
        nonces = {cid: w3.eth.get_transaction_count(signer.address) for cid, w3 in web3s.items()}
        await commander(client, settings).ask(Operation.ALLOCATE, allocate_request(IDLE))

        async def ended():
            status = await engine_status(client, settings.engine_id)
            return status if status.operation is None and status.last is not None else None

        status = await wait_for(ended, 60, "the allocation's end")
    assert status.state == EngineState.IDLE and status.last.status == "failed"
    assert status.last.summary.startswith("PriceStale: ") and "WETH" in status.last.summary, status.last.summary
    assert {cid: w3.eth.get_transaction_count(signer.address) for cid, w3 in web3s.items()} == nonces
    assert idle_now(settings, web3s) == IDLE
