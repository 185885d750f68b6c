"""Rate-limit buckets shared by every process through Redis (`TRADEBOT_REDIS_URL`).

One Lua script refills and spends a bucket atomically on the Redis server with the server's clock,
so two processes never both spend the last token and their clocks do not matter. When Redis cannot
be reached the request is let through (abuse limits must not stop trading) and the failure is
counted by the caller's `on_error`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

PREFIX = "tradebot:bucket:"
COOL_OFF = 2.0  # seconds a store that just failed is not tried: requests go through at once

# KEYS[1] bucket; ARGV rate (tokens/s), burst. Returns the wait in seconds as a string ("0" = ok).
TAKE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 't', 's')
local tokens = tonumber(state[1]) or burst
local seen = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - seen) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 's', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisBuckets:
    """`namespace` keeps deployments that share a Redis apart (bot ids repeat across databases)."""

    def __init__(
        self, redis: Redis, on_error: Callable[[], None] | None = None, namespace: str = ""
    ) -> None:
        self.redis = redis
        self.on_error = on_error
        self.prefix = f"{PREFIX}{namespace}:" if namespace else PREFIX
        self._take = redis.register_script(TAKE)
        self._retry_at = 0.0
        self._down = False

    async def take(self, scope: str, key: str, rate: float, burst: float) -> float | None:
        """A hanging Redis costs one timeout (1 s), then nothing for COOL_OFF seconds: each
        webhook would otherwise wait it out for every bucket (ip, key, bot: up to 3 s)."""
        if time.monotonic() < self._retry_at:
            return None
        try:
            wait = float(await self._take(keys=[f"{self.prefix}{scope}:{key}"], args=[rate, burst]))
        except (RedisError, OSError) as exc:
            self._retry_at = time.monotonic() + COOL_OFF
            if not self._down:
                self._down = True
                log.warning(
                    "rate limit store unavailable, requests let through: %s", type(exc).__name__
                )
            if self.on_error is not None:
                self.on_error()
            return None
        if self._down:
            self._down = False
            log.info("rate limit store answers again")
        return wait if wait > 0 else None

    async def close(self) -> None:
        await self.redis.aclose()
