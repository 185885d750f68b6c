"""Token buckets refill at their rate up to the burst and say how long to wait; in Redis the
budget is shared by every process."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.processes import redis_or_skip
from trading.ratelimit import TokenBuckets


def test_burst_then_refill_at_the_rate() -> None:
    buckets = TokenBuckets()
    take = buckets.take_now
    assert [take("k", 2.0, 3, now=0.0) for _ in range(3)] == [None, None, None]
    assert take("k", 2.0, 3, now=0.0) == 0.5  # one token takes 1/rate seconds
    assert take("k", 2.0, 3, now=0.5) is None
    assert take("other", 2.0, 3, now=0.5) is None  # keys do not share a bucket
    assert take("k", 2.0, 3, now=100.0) is None  # refill is capped at the burst
    assert [take("k", 2.0, 3, now=100.0) for _ in range(3)][-1] == 0.5


@pytest.mark.services
async def test_redis_buckets_are_one_budget_for_every_process() -> None:
    """Two limiters (two processes) on one Redis spend one bucket: the burst is shared, and
    concurrent takes never overspend it."""
    from db.limits import RedisBuckets

    first, second = await redis_or_skip(), await redis_or_skip()
    try:
        a, b = RedisBuckets(first), RedisBuckets(second)
        key = uuid.uuid4().hex
        results = await asyncio.gather(
            *[(a if i % 2 else b).take("key", key, 0.001, 10) for i in range(30)]
        )
        assert sum(result is None for result in results) == 10
        assert all(result is not None and result > 100 for result in results if result)
        assert await b.take("key", uuid.uuid4().hex, 0.001, 10) is None  # other keys unaffected
    finally:
        await first.aclose()
        await second.aclose()


async def test_redis_down_lets_requests_through_and_counts_it() -> None:
    from redis.asyncio import Redis

    from db.limits import RedisBuckets

    errors: list[int] = []
    client = Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.5)
    try:
        limiter = RedisBuckets(client, on_error=lambda: errors.append(1))
        assert await limiter.take("ip", "203.0.113.9", 1.0, 1) is None
        assert errors == [1]
    finally:
        await client.aclose()


async def test_a_store_that_failed_is_not_asked_again_for_a_while() -> None:
    """A hanging Redis would cost each webhook one timeout per bucket (up to 3 s, past
    TradingView's patience): after a failure the store is left alone for COOL_OFF seconds."""
    from redis.asyncio import Redis

    from db.limits import COOL_OFF, RedisBuckets

    errors: list[int] = []
    client = Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.5)
    try:
        limiter = RedisBuckets(client, on_error=lambda: errors.append(1))
        assert COOL_OFF > 0
        for _ in range(5):
            assert await limiter.take("ip", "203.0.113.9", 1.0, 1) is None
        assert errors == [1]  # one try; the next four let through without asking
        limiter._retry_at = 0.0  # the cool-off over: the store is asked again
        assert await limiter.take("ip", "203.0.113.9", 1.0, 1) is None
        assert errors == [1, 1]
    finally:
        await client.aclose()
