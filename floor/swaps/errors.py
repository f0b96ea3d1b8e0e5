"""Named refusals of the swap venue's encoders, raised before anything is sent."""

from __future__ import annotations

from floor.errors import BadInput


class SwapNotConfigured(BadInput):
    """The chain has no swap venue, or the route needs a router or quoter it does not name."""


class SwapQuoteFailed(BadInput):
    """The venue's quote reverted (no pool for the route's tokens and fee, an empty pool):
    the route's configuration is wrong, and retrying will not fix it."""


class SwapPaysNothing(BadInput):
    """The quote of a swap is zero (or its min-out would be): a swap with no bound is not sent."""
