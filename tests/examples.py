"""Hypothesis over a running product: one started world serves every example."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

T = TypeVar("T")


def run_examples(
    loop: asyncio.AbstractEventLoop,
    strategy: st.SearchStrategy[T],
    check: Callable[[T], Awaitable[None]],
    *,
    max_examples: int,
) -> None:
    """Run a hypothesis test whose examples are checked on `loop` (the world's loop).

    Hypothesis drives a plain function; this runs in a worker thread (`asyncio.to_thread`) and
    hands every example to the running loop, so one started world serves every example.
    `derandomize` keeps the examples the same from run to run; the per-example deadline only
    catches a hang."""

    @settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(strategy)
    def run(example: T) -> None:
        asyncio.run_coroutine_threadsafe(check(example), loop).result(timeout=120)

    run()
