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
