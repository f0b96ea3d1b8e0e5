"""The transaction queue's private route on one chain: which transactions take it, and one
private attempt through the chain's Flashbots-style relay.

A transaction goes private when one of its intents is marked `private`, or when what its
intents move (`TxIntent.moves`, plus any ETH its calls carry) is worth more than the chain's
`flashbots.private_above_wei` in ETH, valued on the chain's Chainlink price feeds
(`floor.chain.prices`, every moved token and `value_token` in one Multicall3 batch) against
`value_token`'s price (WETH: one ETH). A move nobody can price (no feed, a feed that cannot
answer, or a stale answer) is kept private: the relay costs nothing when it is not needed,
a sandwich costs the treasury.

An attempt is the signed transaction offered for `target_blocks` blocks from the next one,
simulated first with `eth_callBundle` (mode "bundle"), or offered with
`eth_sendPrivateTransaction` until `maxBlockNumber`. Whatever the relay answers, the attempt
is reported with the last block it targets: until that block is mined the transaction may
still land privately, so the queue sends nothing else at its nonce before then.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import SecretStr
from web3 import Web3

from floor.chain.flashbots import (
    BundleReverted,
    FlashbotsClient,
    RelayRefused,
    RelayUnavailable,
    eth_equivalent,
    private_reason,
)
from floor.chain.multicall import MulticallReader
from floor.chain.prices import plan_prices, price_results
from floor.config import ChainConfig, ConfigError
from floor.logging import get_logger
from floor.models import Price
from floor.readplan import ReadPlan
from floor.txqueue import PlannedTx, PreparedTx, PrivateSent, SignedTx

log = get_logger()


class PrivateRoute:
    def __init__(self, chain: ChainConfig, w3: Web3, reader: MulticallReader, reputation_key: str | SecretStr | None):
        if chain.flashbots.relay_url is None:
            raise ConfigError(f"chains[{chain.id}].flashbots", ["relay_url is not set"])
        if reputation_key is None:
            raise ConfigError(
                f"chains[{chain.id}].flashbots", ["a relay needs a reputation key: set FLOOR_FLASHBOTS_REPUTATION_KEY"]
            )
        self.chain, self.w3, self.reader = chain, w3, reader
        self.config = chain.flashbots
        self.client = FlashbotsClient(str(self.config.relay_url), reputation_key)

    # -- which transactions go private ---------------------------------------------------
    def mark(self, plans: Sequence[PlannedTx], prepared: Sequence[PreparedTx]) -> None:
        """Set each prepared transaction's `private` reason (empty: public)."""
        live = [(plan, prep) for plan, prep in zip(plans, prepared, strict=True) if prep.intents]
        moved_tokens = {s for plan, _ in live for i in plan.intents for s in i.moves}
        prices = self._prices(moved_tokens) if moved_tokens else {}
        decimals = {t.symbol: t.decimals for t in self.chain.tokens}
        for plan, prep in live:
            intents = [i for i in plan.intents if i.id in prep.intents]
            moves: dict[str, int] = {}
            for intent in intents:
                for symbol, amount in intent.moves.items():
                    moves[symbol] = moves.get(symbol, 0) + amount
            moved = eth_equivalent(moves, decimals, prices, self.config.value_token) if moves else 0
            if moved is not None:
                moved += sum(c.value for i in intents for c in i.calls)  # ETH the calls carry
            prep.private = private_reason([i.id for i in intents if i.private], moved, self.config.private_above_wei)
            if prep.private:
                log.info("sending privately", chain_id=self.chain.id, intents=prep.intents, reason=prep.private)

    def _prices(self, symbols: set[str]) -> dict[str, Price]:
        """The moved tokens' and the reference's prices, in one batch, all at one scale; a
        token without a usable price is left out (its move is then kept private)."""
        wanted = sorted(symbols | {self.config.value_token})
        with_feed = [s for s in wanted if s in self.chain.price_feeds]
        if len(with_feed) < len(wanted):
            missing = sorted(set(wanted) - set(with_feed))
            log.warning("tokens without a price feed", chain_id=self.chain.id, tokens=missing)
        if not with_feed:
            return {}
        plan = ReadPlan()
        plan_prices(plan, self.chain, with_feed)
        batch = self.reader.read(plan.calls)
        prices = {}
        for symbol, found in price_results(self.chain, with_feed, plan.results(batch.results), batch).items():
            if isinstance(found, Price):
                prices[symbol] = found
            else:
                log.warning("a token has no usable price", chain_id=self.chain.id, error=str(found))
        return _one_scale(prices)

    # -- one attempt ---------------------------------------------------------------------
    def send(self, tx: SignedTx) -> PrivateSent:
        head = self.w3.eth.block_number
        first, last = head + 1, head + self.config.target_blocks
        try:
            if self.config.mode == "bundle":
                self.client.call_bundle([tx.raw], first)
                self.client.send_bundle_for_blocks([tx.raw], first, self.config.target_blocks)
            else:
                self.client.send_private_transaction(tx.raw, last)
        except (RelayRefused, BundleReverted) as exc:
            # Refused outright: nothing is live at the relay, the window is closed at once.
            log.warning("private attempt refused", chain_id=self.chain.id, nonce=tx.nonce, error=str(exc))
            return PrivateSent(
                nonce=tx.nonce, hash=tx.hash, first_block=first, last_block=head, ok=False,
                error=type(exc).__name__, message=str(exc),
            )  # fmt: skip
        except RelayUnavailable as exc:
            # The relay may have it: wait out the blocks it could target before anything else.
            log.warning("relay unavailable", chain_id=self.chain.id, nonce=tx.nonce, error=str(exc))
            return PrivateSent(
                nonce=tx.nonce, hash=tx.hash, first_block=first, last_block=last, ok=False,
                error="RelayUnavailable", message=str(exc),
            )  # fmt: skip
        return PrivateSent(nonce=tx.nonce, hash=tx.hash, first_block=first, last_block=last)


def _one_scale(prices: dict[str, Price]) -> dict[str, Price]:
    """The prices with one number of decimals (the largest among them), exactly: feeds may
    answer with different decimals, and `eth_equivalent` divides one price by another."""
    if not prices:
        return prices
    top = max(p.decimals for p in prices.values())
    return {
        s: p.model_copy(update={"price": p.price * 10 ** (top - p.decimals), "decimals": top})
        for s, p in prices.items()
    }
