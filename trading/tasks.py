"""Small asyncio helpers shared by the background workers."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def finish_task(task: asyncio.Task[Any], timeout: float) -> None:
    """Let a background task finish what it is doing for up to `timeout` seconds, then cancel
    it. The wait itself may be cancelled without cancelling the task."""
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Busy:
    """How many pieces of work are under way, and a wait for none (an update being handled, a
    Bot API call in flight): `with busy:` around each piece, `await busy.wait_idle(timeout)`."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def __enter__(self) -> None:
        self.count += 1
        self._idle.clear()

    def __exit__(self, *_exc: object) -> None:
        self.count -= 1
        if not self.count:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        """True once nothing is under way; False after `timeout` seconds of waiting."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True
