"""The engine's errors, named for what went wrong and classified by what retrying can do.

Every error the engine raises on purpose is a `FloorError`; its `retryable` flag is the one
place that decides whether a Temporal activity retries it. Bad input (an unknown market, an
amount the treasury does not hold) is never worth retrying; a transport fault or a response
that does not decode is. Anything that is not a `FloorError` is an unexpected fault (a web3
value error from a garbled response, a proxy's HTML page): it is retried, never treated as
the caller's mistake. Pure: workflows import this module.
"""

from __future__ import annotations


class FloorError(Exception):
    """Base of every error the engine raises on purpose."""

    retryable = False


class BadInput(FloorError):
    """The request itself is wrong: the same request would fail again."""


class UnknownChain(BadInput):
    """A chain id the configuration does not have."""


class UnknownMarket(BadInput):
    """A (chain, protocol, market) the configuration does not have."""


class UnknownToken(BadInput):
    """A token symbol or address the chain's configuration does not have."""


class InvalidAmount(BadInput):
    """An amount that is not a positive integer in base units, or not one the operation takes."""


class InsufficientBalance(BadInput):
    """The executor holds less of a token than an operation needs."""


class BatchTooLarge(BadInput):
    """One indivisible group of calls exceeds what one executor transaction can carry."""


class InsufficientLiquidity(BadInput):
    """A market lets the executor take less now than an operation needs from it."""


class SlippageTooHigh(BadInput):
    """An action's quote against its fair value loses more than the per-operation limit
    (`strategy.max_slippage_bps`); the message carries the figures and the largest chunk that
    stays under the limit, when one does."""


class MarketRefused(BadInput):
    """A market refuses the action in its present state (paused, frozen, at its supply cap):
    the same request fails until the market's governance changes that state. Each protocol
    names its own cases (`floor.protocols.<name>.errors`)."""


class PriceUnavailable(FloorError):
    """A token has no usable price: no feed configured for it, or its feed reverts, has no
    round yet, or answers <= 0. Another try will not change that; the feed's owner (or the
    config) must. Names the token and the feed."""

    retryable = False


class PriceStale(FloorError):
    """A feed's latest answer is older than its heartbeat at the block read: its oracles have
    stopped updating it, and a value from it would be a guess. Names the feed, the token and
    the answer's age. Not retried: the feed, not the engine, has to move."""

    retryable = False
