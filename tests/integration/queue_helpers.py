"""Helpers for the transaction queue's tests: intents (sending them: `scripts.bench.queue_driver`;
reading back what the signer really sent: `floor.devnet.stack.sent_by`)."""

from __future__ import annotations

from floor.calls import call
from floor.config import Settings
from floor.models import Priority
from floor.txqueue import TxIntent


def approve_intent(settings: Settings, intent_id: str, chain_id: int = 1, amount: int = 0, **fields) -> TxIntent:
    """A cheap, allowed executor call: approve(amount) of USDC to the first market's pool."""
    chain = settings.chain(chain_id)
    pool = next(m.pool for m in chain.markets if m.pool)
    approve = call(chain.token("USDC").address, "approve(address,uint256)", pool, amount)
    return TxIntent(id=intent_id, chain_id=chain_id, groups=[[approve]], **fields)


def transfer_intent(settings: Settings, intent_id: str, amount: int, chain_id: int = 1, **fields) -> TxIntent:
    """`amount` USDC from the executor to the treasury's own address."""
    chain = settings.chain(chain_id)
    transfer = call(chain.token("USDC").address, "transfer(address,uint256)", chain.destinations[0], amount)
    return TxIntent(id=intent_id, chain_id=chain_id, groups=[[transfer]], **fields)


__all__ = ["Priority", "approve_intent", "transfer_intent"]
