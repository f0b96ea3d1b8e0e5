"""Rate limits (the `limits` package, a sliding window counter per minute: O(1) a hit): reads per session, commands
per proven signer, logins per IP. In memory by default; with api.redis_url in Redis, shared by
every API process. Over the limit: ApiError 429 with Retry-After (whole seconds).

And the backoff for callers whose commands are refused (`Backoff`: floor.access.ratelimit's
strikes, counted here because the engine's validators cannot change its state)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

from api.errors import ApiError
from floor.access.ratelimit import LimiterState, record_refusal
from floor.config import ApiConfig
from floor.logging import get_logger

log = get_logger()


class Limits:
    def __init__(self, config: ApiConfig) -> None:
        storage = storage_from_string(config.redis_url or "memory://")
        self.limiter = SlidingWindowCounterRateLimiter(storage)
        self.items = {
            "read": RateLimitItemPerMinute(config.reads_per_minute, namespace="floor-api-read"),
            "command": RateLimitItemPerMinute(config.commands_per_minute, namespace="floor-api-command"),
            "login": RateLimitItemPerMinute(config.logins_per_minute, namespace="floor-api-login"),
        }

    def hit(self, what: str, who: str) -> None:
        item = self.items[what]
        if self.limiter.hit(item, who):
            return
        reset_at, _ = self.limiter.get_window_stats(item, who)
        retry_s = max(1, math.ceil(reset_at - time.time()))
        raise ApiError(
            429, "rate_limited", f"too many {what}s: retry in {retry_s} s", headers={"Retry-After": str(retry_s)}
        )


class Backoff:
    """floor.access.ratelimit's capped exponential backoff per caller ("signer:<address>" when
    the signature proves it, else "ip:<host>"): a strike for each refused command; a caller
    backed off is refused here (429) and never reaches the engine. Kept in this process's memory,
    with api.redis_url set too: each API process backs off on its own strikes, which is enough
    to spare the engine (an attacker gets FREE_REFUSALS more per process)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock  # seconds since the epoch
        self.state = LimiterState()
        self.lock = threading.Lock()

    def check(self, caller: str) -> None:
        """ApiError 429 with Retry-After (the backoff's remaining seconds) while `caller` is backed off."""
        now = int(self.clock())
        with self.lock:
            strikes = self.state.strikes.get(caller)
        if strikes is None or strikes.until <= now:
            return
        retry_s = strikes.until - now
        log.warning("api: command refused, caller backed off", caller=caller, strikes=strikes.count, retry_s=retry_s)
        message = f"backed off after {strikes.count} refused commands: retry in {retry_s} s"
        raise ApiError(429, "rate_limited", message, headers={"Retry-After": str(retry_s)})

    def strike(self, caller: str) -> None:
        """A refused command, blamed on `caller`."""
        now = int(self.clock())
        with self.lock:
            self.state = record_refusal(self.state, caller, now)
