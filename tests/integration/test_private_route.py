"""The transaction queue's private route on the session's chain 1, through the local relay:
a large transfer goes private and a small one public by the threshold; a private attempt the
relay never includes falls back by the chain's policy (public once, or a higher tip privately,
or a public cancel once every private attempt is spent), with no nonce used twice."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import pytest
from temporalio.client import WorkflowUpdateFailedError

from activities.deps import Deps
from floor.config import Settings
from floor.devnet.relay import LocalRelay
from floor.devnet.stack import sent_by
from scripts.bench.queue_driver import QueueDriver
from tests.integration.helpers import mint
from tests.integration.queue_helpers import transfer_intent
from workers.temporal import build_worker
from workflows.txqueue import TxQueueWorkflow

pytestmark = pytest.mark.integration

USDC = 10**6
LARGE = 50_000 * USDC  # $50,000 at $1: about 16.7 ETH at $3,000, above the 10 ETH threshold
SMALL = 100 * USDC  # about 0.03 ETH


@pytest.fixture
def relay(stack) -> Iterator[LocalRelay]:
    with LocalRelay(stack.chains[1].rpc_url) as running:
        yield running


def private_settings(stack, task_queue: str, relay: LocalRelay, tx: dict | None = None, **flashbots) -> Settings:
    chains = stack.chain_configs()
    chains[0]["flashbots"] = {"relay_url": relay.url, "target_blocks": 2, **flashbots}
    chains[0]["tx"] = tx or {}
    return Settings(
        chains=chains,
        temporal={"task_queue": task_queue},
        flashbots_reputation_key="0x" + secrets.token_hex(32),
    )


async def mine_until(w3, done: asyncio.Future) -> None:
    """Blocks keep coming, as on a live chain, so a private window closes."""
    while not done.done():
        w3.provider.make_request("evm_mine", [])
        await asyncio.sleep(0.3)


async def settle_while_mining(driver: QueueDriver, w3, intent_ids: list[str]):
    outcomes = asyncio.ensure_future(driver.outcomes(intent_ids, timeout_s=60))
    miner = asyncio.ensure_future(mine_until(w3, outcomes))
    try:
        return await outcomes
    finally:
        await miner


async def declined_once(temporal_env, settings, web3s, signer, task_queue, relay, name: str):
    """A large transfer whose first private attempt the relay declines, followed to its end
    while blocks keep coming: (outcome, the queue's status, the first block it could be in)."""
    w3, chain = web3s[1], settings.chain(1)
    mint(w3, chain.token("USDC").address, chain.executor, LARGE)
    start = w3.eth.block_number + 1
    relay.decline_next(1)
    async with build_worker(temporal_env.client, task_queue, Deps(settings, signer, web3s)):
        driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address)
        intent = transfer_intent(settings, f"private/{name}", LARGE, moves={"USDC": LARGE})
        assert (await driver.send(intent)).accepted
        outcome = (await settle_while_mining(driver, w3, [intent.id]))[intent.id]
        status = await driver.handle.query(TxQueueWorkflow.status)
    return outcome, status, start


def mined_once_each(w3, signer: str, from_block: int, relay: LocalRelay) -> list[dict]:
    with relay.still():  # a late bundle simulation mines a block and takes it back
        txs = sent_by(w3, signer, from_block)
    nonces = [t["nonce"] for t in txs]
    assert nonces == list(range(nonces[0], nonces[0] + len(nonces))), nonces  # contiguous, none twice
    return txs


async def test_large_transfer_goes_private_and_small_one_public(temporal_env, stack, web3s, signer, task_queue, relay):
    settings = private_settings(stack, task_queue, relay)
    w3, chain = web3s[1], settings.chain(1)
    mint(w3, chain.token("USDC").address, chain.executor, LARGE + SMALL)
    start = w3.eth.block_number + 1
    async with build_worker(temporal_env.client, task_queue, Deps(settings, signer, web3s)):
        driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address)
        large = transfer_intent(settings, "private/large", LARGE, moves={"USDC": LARGE})
        small = transfer_intent(settings, "private/small", SMALL, moves={"USDC": SMALL})
        assert (await driver.send(large)).accepted
        first = await driver.outcome(large.id)
        assert (await driver.send(small)).accepted
        second = await driver.outcome(small.id)
        status = await driver.handle.query(TxQueueWorkflow.status)

    assert first.ok and first.route == "private", first
    assert second.ok and second.route == "public", second
    included = [h.lower() for bundle in relay.included for h in bundle.tx_hashes]
    assert first.transaction.tx_hash.lower() in included
    assert second.transaction.tx_hash.lower() not in included  # never offered to the relay
    assert status.private.sent == 1 and status.private.included == 1
    assert status.private.blocks_to_inclusion == [1]  # in the first block it targeted
    assert len(mined_once_each(w3, signer.address, start, relay)) == 2


async def test_declined_bundle_falls_back_to_the_public_mempool_once(
    temporal_env, stack, web3s, signer, task_queue, relay
):
    settings = private_settings(stack, task_queue, relay, on_missed="public")
    outcome, status, start = await declined_once(temporal_env, settings, web3s, signer, task_queue, relay, "declined")
    w3 = web3s[1]

    assert outcome.ok and outcome.route == "fallback", outcome
    assert not relay.included  # the relay never put it in a block
    (mined,) = mined_once_each(w3, signer.address, start, relay)
    assert "0x" + mined["hash"].hex().removeprefix("0x") == outcome.transaction.tx_hash  # the same signed bytes
    assert (status.private.sent, status.private.fallbacks, status.private.included) == (1, 1, 0)


async def test_declined_bundle_is_retried_privately_with_a_higher_tip(
    temporal_env, stack, web3s, signer, task_queue, relay
):
    settings = private_settings(stack, task_queue, relay, on_missed="retry_higher_tip", max_attempts=3)
    outcome, status, start = await declined_once(temporal_env, settings, web3s, signer, task_queue, relay, "retried")
    w3, chain = web3s[1], settings.chain(1)

    assert outcome.ok and outcome.route == "private", outcome
    (mined,) = mined_once_each(w3, signer.address, start, relay)
    included = [h.lower() for bundle in relay.included for h in bundle.tx_hashes]
    assert included == [outcome.transaction.tx_hash.lower()]  # the second version, privately
    assert (status.private.sent, status.private.retries, status.private.included) == (1, 1, 1)
    assert mined["maxPriorityFeePerGas"] > chain.tx.tip_floor_wei  # bumped above the first tip


async def test_private_attempts_spent_cancel_the_nonce_without_leaking_it(
    temporal_env, stack, web3s, signer, task_queue, relay
):
    settings = private_settings(stack, task_queue, relay, on_missed="retry_higher_tip", max_attempts=1)
    outcome, status, start = await declined_once(temporal_env, settings, web3s, signer, task_queue, relay, "given-up")
    w3 = web3s[1]

    assert not outcome.ok and outcome.error == "Cancelled", outcome
    assert "not included privately after 1 attempts" in outcome.message
    (mined,) = mined_once_each(w3, signer.address, start, relay)
    assert mined["to"] == signer.address and mined["value"] == 0 and mined["input"] in (b"", "0x")  # a cancel
    assert status.private.given_up == 1


async def test_a_private_intent_on_a_chain_without_a_relay_is_refused(
    temporal_env, settings, web3s, signer, task_queue
):
    async with build_worker(temporal_env.client, task_queue, Deps(settings, signer, web3s)):
        driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await driver.send(transfer_intent(settings, "private/no-relay", SMALL, private=True))
    assert "has no private relay configured" in str(refused.value.cause)


async def test_a_cancel_reached_through_the_queues_own_limit_goes_public(
    temporal_env, stack, web3s, signer, task_queue, relay
):
    """The queue's own attempt limit (1 here) comes before the private policy's (3): the
    replacement it makes is a cancel, and a cancel is sent publicly, never to the relay."""
    settings = private_settings(
        stack, task_queue, relay, tx={"max_attempts": 1}, on_missed="retry_higher_tip", max_attempts=3
    )
    outcome, _status, start = await declined_once(
        temporal_env, settings, web3s, signer, task_queue, relay, "queue-limit"
    )
    w3 = web3s[1]

    assert not outcome.ok and outcome.error == "Cancelled" and outcome.route == "fallback", outcome
    assert not relay.included  # neither the transfer nor the cancel went through the relay
    (mined,) = mined_once_each(w3, signer.address, start, relay)
    assert mined["to"] == signer.address and mined["value"] == 0  # the public cancel
