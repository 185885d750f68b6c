"""Helpers for tests that wait on background work or hold the database from outside."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 30.0) -> Any:
    """Wait (bounded) for a background task's effect: `check` returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@contextmanager
def writer_lock(db_url: str) -> Iterator[sqlite3.Connection]:
    """SQLite's write lock, held by another connection (another process, as SQLite sees it)."""
    outside = sqlite3.connect(db_url.removeprefix("sqlite://"), isolation_level=None)
    outside.execute("BEGIN IMMEDIATE")
    try:
        yield outside
    finally:
        if outside.in_transaction:
            outside.execute("COMMIT")
        outside.close()


async def answering(
    http: Any, base: str, process: asyncio.subprocess.Process | None = None, timeout: float = 60.0
) -> None:
    """Wait (bounded; a busy machine starts a server slowly) until the server at `base` answers
    /health at all (200 or 503); fail at once if its `process` has exited."""

    async def answers() -> bool:
        if process is not None and process.returncode is not None:
            raise AssertionError(f"the server exited with {process.returncode}")
        try:
            async with http.get(f"{base}/health") as response:
                return response.status in (200, 503)
        except OSError:
            return False

    await eventually(answers, timeout)


async def until(check: Callable[[], Any], what: str, deadline: float = 60.0) -> Any:
    """Wait for `check()` (sync or async) to be truthy; fail naming `what` after `deadline` s
    (generous: the tests that use it start processes on a machine busy with other work)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + deadline
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > give_up:
            raise AssertionError(f"{what}: not within {deadline:g} s")
        await asyncio.sleep(0.05)
