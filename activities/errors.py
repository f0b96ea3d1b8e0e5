"""How errors leave an activity: as an ApplicationError named for the failure.

A `FloorError` keeps its own verdict (bad input, a revert found by gas estimation, a mined
transaction that failed, a nonce taken by someone else: non-retryable; a transport fault:
retryable); any other exception is an unexpected fault and is retried. Messages are scrubbed
of registered secrets (RPC URLs' keys) before they enter Temporal's history.
"""

from __future__ import annotations

import functools

from temporalio.exceptions import ApplicationError, FailureError

from floor.errors import FloorError
from floor.logging import get_logger, scrub


class NoStore(FloorError):
    """The activity needs the store (reconciliation's cache, the risk check's observations)."""


def named_errors(fn):
    """Map errors to Temporal errors named for the failure, retryable as the failure means.

    `from None`: the original exception's text (which may quote a URL) stays out of the
    history; its traceback goes to the worker's log, where secrets are scrubbed.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except FailureError:  # Temporal's own (a cancellation, an ApplicationError): as they are
            raise
        except FloorError as exc:
            raise ApplicationError(scrub(str(exc)), type=type(exc).__name__, non_retryable=not exc.retryable) from None
        except Exception as exc:
            get_logger(activity=fn.__name__).warning("activity failed; it will be retried", exc_info=True)
            raise ApplicationError(scrub(f"{type(exc).__name__}: {exc}"), type=type(exc).__name__) from None

    return wrapper
