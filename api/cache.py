"""What the reads serve: each answer kept for its time to live, loaded by one caller at a time
(the others wait for that load), so a burst of requests costs one Temporal query or chain read
per key per period, never one per request. A failed load is not kept: it is raised to the
callers waiting for it, and the next request after it tries again."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

MAX_KEYS = 256  # distinct audit filters kept; the least recently used goes first


@dataclass
class Entry:
    value: Any
    loaded_at: float


class Cache:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.entries: OrderedDict[Hashable, Entry] = OrderedDict()
        self.locks: dict[Hashable, asyncio.Lock] = {}
        self.loads = 0  # how many loads ran: the tests count them

    async def get(self, key: Hashable, ttl_s: float, load: Callable[[], Awaitable[Any]]) -> Any:
        entry = self.fresh(key, ttl_s)
        if entry is not None:
            return entry.value
        lock = self.locks.setdefault(key, asyncio.Lock())
        async with lock:
            entry = self.fresh(key, ttl_s)  # loaded while this caller waited
            if entry is not None:
                return entry.value
            self.loads += 1
            value = await load()
            self.entries[key] = Entry(value, self.clock())
            self.entries.move_to_end(key)
            while len(self.entries) > MAX_KEYS:
                old, _ = self.entries.popitem(last=False)
                self.locks.pop(old, None)
            return value

    def fresh(self, key: Hashable, ttl_s: float) -> Entry | None:
        entry = self.entries.get(key)
        if entry is None or self.clock() - entry.loaded_at >= ttl_s:
            return None
        return entry
