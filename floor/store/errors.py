"""The store's errors. None is worth retrying: the same write or request would fail again."""

from __future__ import annotations

from floor.errors import BadInput

__all__ = ["DiscrepancyAlreadyAccepted", "StoreError", "UnknownDiscrepancy", "UnstorableValue"]


class StoreError(BadInput):
    """Base of the store's errors."""


class UnstorableValue(StoreError, ValueError):
    """A value its column cannot hold exactly: a uint256 below 0 or from 2**256 on, a
    timestamp without a time zone, a value of the wrong type."""


class UnknownDiscrepancy(StoreError, LookupError):
    """No discrepancy has that id."""


class DiscrepancyAlreadyAccepted(StoreError):
    """The discrepancy was accepted before (by whom and when is in the message)."""
