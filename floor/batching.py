"""Packing call groups into executor batches, pure (workflows use it).

A group is the calls of one action (a guarded deposit: snapshot, approve, deposit, reset,
check): it must land whole, so groups are never split. Groups fill batches in order, each
batch within FloorExecutor.vy's bounds; a plan larger than one batch becomes several
transactions instead of being refused.
"""

from __future__ import annotations

from collections.abc import Sequence

from floor.errors import BatchTooLarge, InvalidAmount
from floor.models import Call

# FloorExecutor.vy's bounds (MAX_CALLS, MAX_DATA): a batch beyond them reverts without a
# reason, so the engine refuses it first with one that names the call.
MAX_CALLS = 64
MAX_CALL_DATA = 1024


def call_size(c: Call) -> int:
    return len(c.data.removeprefix("0x")) // 2


def check_batch(calls: Sequence[Call], max_calls: int = MAX_CALLS) -> None:
    if not calls:
        raise InvalidAmount("an execute batch needs at least one call")
    if len(calls) > max_calls:
        raise BatchTooLarge(f"the batch has {len(calls)} calls; the executor takes at most {max_calls}: split it")
    for index, c in enumerate(calls):
        if call_size(c) > MAX_CALL_DATA:
            raise BatchTooLarge(
                f"call {index} to {c.target} has {call_size(c)} bytes of calldata; "
                f"the executor takes at most {MAX_CALL_DATA}"
            )


def pack_batches(groups: Sequence[Sequence[Call]], max_calls: int = MAX_CALLS) -> list[list[list[Call]]]:
    """Groups in order, as few batches as that order allows, no group split across two. Each
    batch is its list of groups (one transaction's calls, still grouped)."""
    batches: list[list[list[Call]]] = []
    for group in groups:
        check_batch(group, max_calls)
        if batches and sum(map(len, batches[-1])) + len(group) <= max_calls:
            batches[-1].append(list(group))
        else:
            batches.append([list(group)])
    return batches
