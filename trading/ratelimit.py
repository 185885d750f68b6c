"""Token buckets for webhook abuse limits (per key and per sender IP).

In-process: each process enforces its own buckets, so N processes allow up to N times the rate.
Sharing them through Redis is part of the scale-out work.
"""

from __future__ import annotations

import time
from collections import OrderedDict

MAX_BUCKETS = 50_000  # bounded memory: the least recently seen keys are forgotten first


class TokenBuckets:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, now: float | None = None) -> float | None:
        """Spend one token: None when allowed, else the seconds until one is available."""
        now = time.monotonic() if now is None else now
        tokens, seen = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - seen) * self.rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            allowed = None
        else:
            self._buckets[key] = (tokens, now)
            allowed = (1 - tokens) / self.rate
        while len(self._buckets) > MAX_BUCKETS:
            self._buckets.popitem(last=False)
        return allowed
