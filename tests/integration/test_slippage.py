"""Slippage protection through the engine: a capital request whose one-coin exit from a Curve
pool would lose more than the per-operation limit against fair value is refused before
anything is sent, with the figures and the largest chunk that stays under the limit; that
chunk, requested next, is delivered, its pool's min-out enforcing the bound on chain."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

import pytest
from temporalio.client import WorkflowFailureError

from activities.deps import Deps
from client import engine_status, ensure_engine
from floor.chain.report import read_report
from floor.config import Settings
from floor.devnet.context import Deployer
from floor.engine import Operation
from tests.integration.engine_helpers import access_config, commander, key, pending_nonces, run_operation, wait_for
from tests.integration.helpers import balance, contract, mint, positions_now
from workers.temporal import build_worker

USDC = 10**6
DAI = 10**18
THREE_POOL = key(1, "curve", "3pool")
DAI_IN = 9_000_000 * DAI  # leaves the pool about 3M USDC of its 12M: USDC is scarce and dear


def swap(w3, pool: str, token: str, i: int, j: int, dx: int) -> None:
    """Another participant trades `dx` of coin i (`token`) for coin j on the pool (3pool: DAI 0,
    USDC 1, USDT 2); DAI is minted to it first."""
    d = Deployer(w3)
    curve = w3.eth.contract(
        address=pool,
        abi=[
            {
                "name": "exchange",
                "type": "function",
                "stateMutability": "nonpayable",
                "inputs": [
                    {"name": "i", "type": "int128"},
                    {"name": "j", "type": "int128"},
                    {"name": "dx", "type": "uint256"},
                    {"name": "min_dy", "type": "uint256"},
                ],
                "outputs": [],
            }
        ],
    )
    if i == 0:
        mint(w3, token, d.participant, dx)
    d.send(contract(w3, "TestERC20", token).functions.approve(pool, dx), d.participant)
    d.send(curve.functions.exchange(i, j, dx, 0), d.participant)


async def test_an_exit_beyond_the_slippage_limit_is_refused_and_its_offered_chunk_works(
    temporal_env, stack, web3s, signer, task_queue
):
    settings = Settings(
        chains=stack.chain_configs(),
        temporal={"task_queue": task_queue},
        strategy={
            "targets": [{"chain_id": 1, "protocol": "curve", "market": "3pool", "weight_bps": 10_000}],
            "max_slippage_bps": 50,
            "score_caps": False,  # a pool may take the whole floor here: the test is about its exit
            "cluster_limit_bps": 0,
        },
        engine={"workflow_id": f"engine-slippage-{uuid.uuid4().hex[:8]}"},
        access=access_config(),
    )
    client = temporal_env.client
    w3 = web3s[1]
    chain = settings.chain(1)
    usdc = chain.token("USDC").address
    dai = chain.token("DAI").address
    pool = chain.market("curve", "3pool").pool
    treasury = chain.destinations[0]
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
        await ensure_engine(client, settings)
        mint(w3, usdc, chain.executor, 2_000_000 * USDC)
        allocate = {"by": "test", "amounts": [{"chain_id": 1, "asset": "USDC", "amount": str(2_000_000 * USDC)}]}
        placed = await run_operation(client, settings, Operation.ALLOCATE, allocate)
        assert placed.status == "done", placed.summary
        position = positions_now(settings, web3s, [THREE_POOL])[THREE_POOL].amount
        assert position > 1_990_000 * USDC, placed  # a single-sided deposit into a balanced pool loses little

        assert exit_slippage(settings, web3s) <= 10  # leaving a balanced pool whole costs little

        swap(w3, pool, dai, 0, 1, DAI_IN)  # someone buys most of the pool's USDC
        assert exit_slippage(settings, web3s) > 50  # the report shows what leaving now would cost
        try:
            nonces = pending_nonces(web3s, signer.address)
            idle = balance(w3, usdc, chain.executor)  # a capital request takes idle funds first
            request = {
                "chain_id": 1,
                "asset": "USDC",
                "amount": str(idle + 1_900_000 * USDC),
                "destination": treasury,
                "by": "treasury-ops",
                "reason": "redemption",
            }
            started = await commander(client, settings).ask(Operation.REQUEST_CAPITAL, request)
            with pytest.raises(WorkflowFailureError) as caught:
                await client.get_workflow_handle(started.workflow_id).result()
            cause = caught.value.cause
            while getattr(cause, "cause", None) is not None and getattr(cause, "type", None) != "SlippageTooHigh":
                cause = cause.cause
            assert cause.type == "SlippageTooHigh", caught.value
            message = cause.message
            assert "1:curve:3pool: withdraw 1,900,000 USDC would lose" in message
            assert "the limit is 50 bps per operation" in message
            lost = int(re.search(r"would lose (\d+) bps", message).group(1))
            assert lost > 50
            found = re.search(r"; ([\d,.]+) USDC at a time stay under it \((-?\d+) bps\)", message)
            chunk = int(Decimal(found.group(1).replace(",", "")) * USDC)
            chunk_bps = int(found.group(2))
            assert 0 < chunk < 1_900_000 * USDC and chunk_bps <= 50
            await wait_for(lambda: _idle(client, settings.engine_id), what="the refusal recorded by the engine")
            # Nothing was sent, nothing moved.
            assert pending_nonces(web3s, signer.address) == nonces
            assert positions_now(settings, web3s, [THREE_POOL])[THREE_POOL].amount >= position

            # The offered chunk goes through, bounded on chain by the pool's min_amount.
            paid_before = balance(w3, usdc, treasury)
            chunk_request = dict(request, amount=str(idle + chunk))
            delivered = await run_operation(client, settings, Operation.REQUEST_CAPITAL, chunk_request)
            assert delivered.status == "done", delivered.summary
            assert balance(w3, usdc, treasury) - paid_before == idle + chunk
            assert [(p.market, p.amount) for p in delivered.plan if p.kind == "instant"] == [(str(THREE_POOL), chunk)]
        finally:
            # Trade the pool back, so the session's other tests find it as they expect.
            got = balance(w3, usdc, Deployer(w3).participant)
            swap(w3, pool, usdc, 1, 0, got)


async def _idle(client, engine_id: str) -> bool:
    return (await engine_status(client, engine_id)).operation is None


def exit_slippage(settings, web3s) -> int:
    (row,) = [r for r in read_report(settings, web3s, window_s=None, exit_quotes=True) if r.market == "3pool"]
    return row.exit_slippage_bps
