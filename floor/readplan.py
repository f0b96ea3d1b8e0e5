"""A read plan: the reads of several decoders, sent as one Multicall3 batch, and each
decoder's own results handed back by name.

Callers name each segment (`"balance"`, `("quote", i)`, `(key, "rate")`) instead of counting
reads to slice the batch's results. A read that several segments need (same target, calldata
and failure mode) is sent once, and each of them gets its result.

    plan = ReadPlan()
    plan.add("balance", [read(token, "balanceOf(address)", account)])
    for adapter in adapters:
        plan.add(adapter.key, adapter.position_reads(account))
    batch = reader.read(plan.calls)
    results = plan.results(batch.results)
    adapter.decode_position(results[adapter.key])

Pure: it only arranges reads and results.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping, Sequence

from floor.calls import ReadCall, ReadResult


class ReadPlan:
    def __init__(self) -> None:
        self._calls: list[ReadCall] = []
        self._slot: dict[tuple[str, bytes, bool], int] = {}
        self._segments: dict[Hashable, list[int]] = {}

    def add(self, name: Hashable, reads: Sequence[ReadCall]) -> None:
        """Plan `reads` as the segment `name` (each name once)."""
        if name in self._segments:
            raise ValueError(f"read segment {name!r} is planned twice")
        slots = []
        for r in reads:
            same = (r.target.lower(), r.data, r.allow_failure)
            if same not in self._slot:
                self._slot[same] = len(self._calls)
                self._calls.append(r)
            slots.append(self._slot[same])
        self._segments[name] = slots

    @property
    def calls(self) -> list[ReadCall]:
        """The reads to send, each once, in the order first planned."""
        return list(self._calls)

    def results(self, results: Sequence[ReadResult]) -> PlanResults:
        """Each segment's results, from the batch's results for `calls`."""
        if len(results) != len(self._calls):
            raise ValueError(f"{len(results)} results for a plan of {len(self._calls)} reads")
        return PlanResults({name: [results[i] for i in slots] for name, slots in self._segments.items()})

    def __len__(self) -> int:
        return len(self._calls)


class PlanResults(Mapping[Hashable, list[ReadResult]]):
    """Each planned segment's results, in the order its reads were planned."""

    def __init__(self, segments: dict[Hashable, list[ReadResult]]):
        self._segments = segments

    def __getitem__(self, name: Hashable) -> list[ReadResult]:
        try:
            return self._segments[name]
        except KeyError:
            raise KeyError(f"no read segment {name!r} was planned") from None

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._segments)

    def __len__(self) -> int:
        return len(self._segments)
