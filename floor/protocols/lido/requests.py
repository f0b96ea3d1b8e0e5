"""The executor's pending Lido withdrawal requests: amounts, finalised and claimed flags, and
the ETH each finalised request can claim now.

Three rounds of reads, each one Multicall3 batch (each round's arguments come from the one
before): the owner's request ids with the queue's last finalised id and last checkpoint index;
the requests' status (`getWithdrawalStatus`) and the checkpoint hints of the finalised ones
(`findCheckpointHints(ids, 1, lastCheckpointIndex)`); the ETH they can claim
(`getClaimableEther(ids, hints)`). The encoders and decoders are pure; `read_requests` runs
the rounds through any reader with the MulticallReader's `read(calls)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from floor.calls import ReadCall, ReadResult, decode_result, read
from floor.protocols.lido.adapter import LidoAdapter

if TYPE_CHECKING:
    from floor.chain.multicall import ReadBatch

STATUS = "(uint256,uint256,address,uint256,bool,bool)[]"  # WithdrawalRequestStatus[]


@dataclass(frozen=True)
class WithdrawalRequest:
    id: int
    amount: int  # stETH requested (wei)
    shares: int
    finalized: bool
    claimed: bool
    claimable: int = 0  # ETH a claim pays now (0 until finalised)
    hint: int = 0  # the checkpoint to claim it with (0 until finalised)


@dataclass(frozen=True)
class Queue:
    ids: list[int]  # the owner's unclaimed requests, ascending
    last_finalized: int
    last_checkpoint: int

    @property
    def finalized(self) -> list[int]:
        """Finalisation goes in id order: every id up to the last finalised one."""
        return [i for i in self.ids if i <= self.last_finalized]


def queue_reads(adapter: LidoAdapter, account: str) -> list[ReadCall]:
    q = adapter.withdrawal_queue
    return [
        read(q, "getWithdrawalRequests(address)", account),
        read(q, "getLastFinalizedRequestId()"),
        read(q, "getLastCheckpointIndex()"),
    ]


def decode_queue(adapter: LidoAdapter, results: Sequence[ReadResult]) -> Queue:
    what = f"{adapter.key} withdrawalQueue"
    (ids,) = decode_result(["uint256[]"], results[0], f"{what}.getWithdrawalRequests")
    (last_finalized,) = decode_result(["uint256"], results[1], f"{what}.getLastFinalizedRequestId")
    (last_checkpoint,) = decode_result(["uint256"], results[2], f"{what}.getLastCheckpointIndex")
    # The owner's set is unordered once a request is claimed; hints need ascending ids.
    return Queue(sorted(ids), last_finalized, last_checkpoint)


def status_reads(adapter: LidoAdapter, queue: Queue) -> list[ReadCall]:
    reads = [read(adapter.withdrawal_queue, "getWithdrawalStatus(uint256[])", queue.ids)]
    if queue.finalized:
        reads.append(
            read(
                adapter.withdrawal_queue,
                "findCheckpointHints(uint256[],uint256,uint256)",
                queue.finalized,
                1,
                queue.last_checkpoint,
            )
        )
    return reads


def decode_status(adapter: LidoAdapter, queue: Queue, results: Sequence[ReadResult]) -> list[WithdrawalRequest]:
    what = f"{adapter.key} withdrawalQueue"
    (statuses,) = decode_result([STATUS], results[0], f"{what}.getWithdrawalStatus")
    hints: dict[int, int] = {}
    if queue.finalized:
        (found,) = decode_result(["uint256[]"], results[1], f"{what}.findCheckpointHints")
        hints = dict(zip(queue.finalized, found, strict=True))
    return [
        WithdrawalRequest(
            id=i, amount=s[0], shares=s[1], finalized=s[4], claimed=s[5], hint=hints.get(i, 0) if s[4] else 0
        )
        for i, s in zip(queue.ids, statuses, strict=True)
    ]


def claimable_reads(adapter: LidoAdapter, requests: Sequence[WithdrawalRequest]) -> list[ReadCall]:
    ready = [r for r in requests if r.finalized and not r.claimed]
    if not ready:
        return []
    return [
        read(
            adapter.withdrawal_queue,
            "getClaimableEther(uint256[],uint256[])",
            [r.id for r in ready],
            [r.hint for r in ready],
        )
    ]


def decode_claimable(
    adapter: LidoAdapter, requests: Sequence[WithdrawalRequest], results: Sequence[ReadResult]
) -> list[WithdrawalRequest]:
    ready = [r for r in requests if r.finalized and not r.claimed]
    if not ready:
        return list(requests)
    (amounts,) = decode_result(["uint256[]"], results[0], f"{adapter.key} withdrawalQueue.getClaimableEther")
    claimable = dict(zip((r.id for r in ready), amounts, strict=True))
    return [
        WithdrawalRequest(r.id, r.amount, r.shares, r.finalized, r.claimed, claimable.get(r.id, 0), r.hint)
        for r in requests
    ]


class Reader(Protocol):
    def read(self, calls: list[ReadCall]) -> ReadBatch: ...


def read_requests(reader: Reader, adapter: LidoAdapter, account: str) -> list[WithdrawalRequest]:
    """`account`'s unclaimed requests, ascending, with what each finalised one can claim now."""
    queue = decode_queue(adapter, reader.read(queue_reads(adapter, account)).results)
    if not queue.ids:
        return []
    requests = decode_status(adapter, queue, reader.read(status_reads(adapter, queue)).results)
    reads = claimable_reads(adapter, requests)
    return decode_claimable(adapter, requests, reader.read(reads).results if reads else [])
