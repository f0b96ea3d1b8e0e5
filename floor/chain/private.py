"""The transaction queue's private route on one chain: which transactions take it, and one
private attempt through the chain's Flashbots-style relay.

A transaction goes private when one of its intents is marked `private`, or when what its
intents move (`TxIntent.moves`, plus any ETH its calls carry) is worth more than the chain's
`flashbots.private_above_wei` in ETH, valued on the chain's price oracle in one Multicall3
batch. A move nobody can price is kept private: the relay costs nothing when it is not needed,
a sandwich costs the treasury.

An attempt is the signed transaction offered for `target_blocks` blocks from the next one,
simulated first with `eth_callBundle` (mode "bundle"), or offered with
`eth_sendPrivateTransaction` until `maxBlockNumber`. Whatever the relay answers, the attempt
is reported with the last block it targets: until that block is mined the transaction may
still land privately, so the queue sends nothing else at its nonce before then.
"""

from __future__ import annotations

from collections.abc import Sequence

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
from floor.chain.prices import read_prices
from floor.config import ChainConfig, ConfigError
from floor.errors import PriceUnavailable
from floor.logging import get_logger
from floor.txqueue import PlannedTx, PreparedTx, PrivateSent, SignedTx

log = get_logger()


class PrivateRoute:
    def __init__(self, chain: ChainConfig, w3: Web3, reader: MulticallReader, reputation_key):
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
        prices = self._prices() if any(i.moves for plan, _ in live for i in plan.intents) else {}
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

    def _prices(self) -> dict:
        if self.chain.price_oracle is None:
            return {}
        try:
            return read_prices(self.reader, self.chain.price_oracle, self.chain.tokens)
        except PriceUnavailable as exc:  # one token unpriced: price them one by one
            log.warning("a token has no price; valuing the others", chain_id=self.chain.id, error=str(exc))
            prices = {}
            for token in self.chain.tokens:
                try:
                    prices |= read_prices(self.reader, self.chain.price_oracle, [token])
                except PriceUnavailable:
                    continue
            return prices

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
