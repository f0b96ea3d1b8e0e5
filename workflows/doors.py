"""The doors of every workflow: raw JSON in, a refusal in one line out.

Every workflow input, update and signal is typed `Any` in its handler (with a default, so a
request sent with no input at all reads as null), so the SDK never fails decoding it: a
decoding failure would be an update refused with pages of pydantic text, a signal dropped
silently, or a start whose first workflow task retries forever. The handler's validator
parses the raw value with `floor.validation.parse` and refuses with `bad_input` (the value
does not fit: type "BadInput") or `refused` (it fits, and the engine says no now: type
"Refused"). Both are non-retryable ApplicationErrors whose message is the reason itself, on
one line: what the floor CLI, Temporal's CLI (`retryable: false`), the Web UI and a service's
`err.cause.message` show. A refused update never enters history. A start with bad input
fails the workflow at once with the same error (`validated`).
"""

from __future__ import annotations

from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from floor.validation import BadRequest, flat, parse

M = TypeVar("M", bound=BaseModel)


def bad_input(reason: str) -> ApplicationError:
    """The input does not fit its door: the same input is refused again."""
    return ApplicationError(flat(reason), type="BadInput", non_retryable=True)


def refused(reason: str) -> ApplicationError:
    """The input fits, and the workflow's state says no (a cooldown, a pause, nothing to change)."""
    return ApplicationError(flat(reason), type="Refused", non_retryable=True)


def validated(model: type[M], raw: Any, what: str, *, null_ok: bool = False, example: str = "") -> M:
    """`raw` as `model`, or `bad_input` naming the problem: in a validator the update is
    refused; in a workflow's run the workflow fails at once (never a workflow task retried
    forever on input that cannot change)."""
    try:
        return parse(model, raw, what, null_ok=null_ok, example=example)
    except BadRequest as exc:
        raise bad_input(str(exc)) from None
