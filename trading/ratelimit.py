"""Token buckets for webhook abuse limits: per key, per sender IP and per bot (alerts per minute).

A `Limiter` answers "may this one pass, and if not, how long until it may". `TokenBuckets` keeps
the buckets in this process; `db.limits.RedisBuckets` keeps them in Redis so that several processes
share one budget (chosen when `TRADEBOT_REDIS_URL` is set).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol

MAX_BUCKETS = 50_000  # bounded memory: the least recently seen keys are forgotten first


class Limiter(Protocol):
    async def take(self, scope: str, key: str, rate: float, burst: float) -> float | None:
        """Spend one token of bucket (scope, key): None when allowed, else seconds to wait."""
        ...


def refill(tokens: float, seen: float, now: float, rate: float, burst: float) -> float:
    return min(burst, tokens + max(0.0, now - seen) * rate)


class TokenBuckets:
    """In-process buckets. With several processes each enforces its own budget."""

    def __init__(self) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take_now(
        self, name: str, rate: float, burst: float, now: float | None = None
    ) -> float | None:
        now = time.monotonic() if now is None else now
        tokens, seen = self._buckets.pop(name, (burst, now))
        tokens = refill(tokens, seen, now, rate, burst)
        if tokens >= 1:
            self._buckets[name] = (tokens - 1, now)
            wait = None
        else:
            self._buckets[name] = (tokens, now)
            wait = (1 - tokens) / rate
        while len(self._buckets) > MAX_BUCKETS:
            self._buckets.popitem(last=False)
        return wait

    async def take(self, scope: str, key: str, rate: float, burst: float) -> float | None:
        return self.take_now(f"{scope}:{key}", rate, burst)
