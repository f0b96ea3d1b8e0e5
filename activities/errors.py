"""How errors leave an activity: as an ApplicationError named for the failure.

A `FloorError` keeps its own verdict (bad input, a revert found by gas estimation, a mined
transaction that failed, a nonce taken by someone else: non-retryable; a transport fault:
retryable); any other exception is an unexpected fault and is retried. Messages are scrubbed
of registered secrets (RPC URLs' keys) before they enter Temporal's history. Every failed
attempt is also counted in the store (`floor_engine_errors_total`, by its error type).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, FailureError

from floor.errors import FloorError
from floor.logging import get_logger, scrub
from floor.metrics import ERRORS
from floor.models import AdapterKey


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
        except FailureError as exc:  # Temporal's own (a cancellation, an ApplicationError): as they are
            if isinstance(exc, ApplicationError):
                count_failure(args, exc.type or type(exc).__name__)
            raise
        except FloorError as exc:
            count_failure(args, type(exc).__name__)
            raise ApplicationError(scrub(str(exc)), type=type(exc).__name__, non_retryable=not exc.retryable) from None
        except Exception as exc:
            get_logger(activity=fn.__name__).warning("activity failed; it will be retried", exc_info=True)
            count_failure(args, type(exc).__name__)
            raise ApplicationError(scrub(f"{type(exc).__name__}: {exc}"), type=type(exc).__name__) from None

    return wrapper


def count_failure(args: tuple, error_type: str) -> None:
    """One failed attempt as a `floor_engine_errors_total` event in the store of the activity's
    class (`args[0]`), keyed by the attempt (`<workflow run id>/<activity id>/<attempt>`: written
    again, it counts once), with the chain and protocol its input names. Best effort: a worker
    without a store, or a call outside an activity, records nothing, and a store that fails is
    logged, never raised over the activity's own error."""
    store = _store_of(args[0]) if args else None
    if store is None or not activity.in_activity():
        return
    try:
        info = activity.info()
        chain, protocol = failure_labels(args[1] if len(args) > 1 else None)
        store.record_metric_events(
            [
                ERRORS.event_row(
                    1,
                    f"{info.workflow_run_id}/{info.activity_id}/{info.attempt}",
                    datetime.now(UTC),
                    chain=chain,
                    protocol=protocol,
                    type=error_type,
                )
            ]
        )
    except Exception:
        get_logger(error_type=error_type).warning("the failed attempt was not counted in the store", exc_info=True)


def _store_of(instance: object) -> Any:
    """The store an activity class writes to: its `deps.store`, or a `store` it was handed
    (never a property that raises without one)."""
    deps = getattr(instance, "deps", None)
    if deps is not None:
        return getattr(deps, "store", None)
    return vars(instance).get("store") if hasattr(instance, "__dict__") else None


def failure_labels(input: object) -> tuple[str, str]:
    """(chain, protocol) an activity's input names: its `chain_id` (or a bare chain id), else
    the one chain of the markets it names; the protocol when every market it names is of one.
    "" where it names none, or several."""
    keys = _keys_in(input)
    chains = {k.chain_id for k in keys}
    protocols = {k.protocol for k in keys}
    chain_id = getattr(input, "chain_id", None)
    if isinstance(input, int) and not isinstance(input, bool):
        chain_id = input
    elif isinstance(input, dict):
        chain_id = input.get("chain_id")
    if not isinstance(chain_id, int) or isinstance(chain_id, bool):
        chain_id = next(iter(chains)) if len(chains) == 1 else None
    return ("" if chain_id is None else str(chain_id)), (next(iter(protocols)) if len(protocols) == 1 else "")


def _keys_in(input: object) -> list[AdapterKey]:
    """The markets an input names: a `key` field, or lists of markets (or of items with a `key`)."""
    fields = getattr(type(input), "model_fields", None)
    if not fields:
        return []
    found: list[AdapterKey] = []
    for name in fields:
        value = getattr(input, name, None)
        for item in value if isinstance(value, list) else [value]:
            key = item if isinstance(item, AdapterKey) else getattr(item, "key", None)
            if isinstance(key, AdapterKey):
                found.append(key)
    return found
