"""Token buckets refill at their rate up to the burst, and say how long to wait."""

from __future__ import annotations

from trading.ratelimit import TokenBuckets


def test_burst_then_refill_at_the_rate() -> None:
    buckets = TokenBuckets(rate=2.0, burst=3)
    assert [buckets.take("k", now=0.0) for _ in range(3)] == [None, None, None]
    assert buckets.take("k", now=0.0) == 0.5  # one token takes 1/rate seconds
    assert buckets.take("k", now=0.5) is None
    assert buckets.take("other", now=0.5) is None  # keys do not share a bucket
    assert buckets.take("k", now=100.0) is None  # refill is capped at the burst
    assert [buckets.take("k", now=100.0) for _ in range(3)][-1] == 0.5
