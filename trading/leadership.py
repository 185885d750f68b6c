"""Which process leads (SPEC §11): one process at a time runs the work that must run once (the
position monitor, the price feed, periodic jobs, Telegram polling, the notification relay).

The lock is a port (`LeaderLock`): a PostgreSQL advisory lock held on a connection of its own
(`db.leader_lock`), so a process that dies, or loses that connection, lets go at once; on SQLite
there is no election (`SoleLock`: every process leads in what it runs, as one process does).

`Leadership` tries the lock every `interval` seconds while it stands by, and while it leads it
checks every `interval` seconds that the lock is still held; when it is not (the connection
broke), it stops its duties at once. A duty is anything with `start()` and `stop()`; duties start
in the order they were added and stop in reverse, and one that fails to start is reported
without keeping the others from running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, Protocol

from trading.events import ErrorEvent, EventBus

log = logging.getLogger(__name__)

LEADER = "leader"
STANDBY = "standby"
FAILURES_TOLD = 3  # tries of the lock in a row that raised before /health says so


class LeaderLock(Protocol):
    """One holder at a time, across every process of one database."""

    what: str  # for logs and /health, e.g. "PostgreSQL advisory lock"

    async def try_acquire(self) -> bool:
        """Take the lock if it is free (never waits); whether this process holds it now."""
        ...

    async def held(self) -> bool:
        """Whether this process still holds it (False, or raising, when it was lost)."""
        ...

    async def release(self) -> None: ...


class Duty(Protocol):
    """Work only the leader does."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class SoleLock:
    """No election: this process leads (SQLite, where one process runs the product)."""

    what = "one process (SQLite: no election)"

    async def try_acquire(self) -> bool:
        return True

    async def held(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class TaskDuty:
    """A duty that is one coroutine run as a task while leading (a periodic job)."""

    def __init__(self, name: str, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.name = name
        self._work = work
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._work(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class CallDuty:
    """A duty made of two calls (a component that has its own start and stop)."""

    def __init__(
        self,
        name: str,
        start: Callable[[], Awaitable[None]],
        stop: Callable[[], Awaitable[None]],
    ) -> None:
        self.name = name
        self._start = start
        self._stop = stop

    async def start(self) -> None:
        await self._start()

    async def stop(self) -> None:
        await self._stop()


class Leadership:
    """This process's role. `lock=None`: this process never leads (`serve --no-monitor` on
    PostgreSQL)."""

    def __init__(
        self,
        lock: LeaderLock | None,
        *,
        events: EventBus,
        interval: float = 2.0,
        why_not: str = "",
    ) -> None:
        self.lock = lock
        self.events = events
        self.interval = interval
        self.why_not = why_not  # why this process never leads, for /health
        self.duties: list[Duty] = []
        self.leading = False
        self.since: datetime | None = None
        self.failures = 0  # tries of the lock in a row that raised
        self.last_error = ""
        self._running: list[Duty] = []
        self._task: asyncio.Task[None] | None = None
        self._step_task: asyncio.Task[None] | None = None

    @property
    def role(self) -> str:
        return LEADER if self.leading else STANDBY

    def add(self, duty: Duty) -> None:
        self.duties.append(duty)

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Try once now (so one process, or the first of several, leads before it serves), then
        keep trying or checking in the background."""
        if self.lock is None:
            log.info("leadership: this process never leads (%s)", self.why_not)
            return
        await self._step()
        self._task = asyncio.create_task(self._loop(), name="leadership")

    async def stop(self) -> None:
        """Stop trying; a step under way (duties starting or stopping) is let finish, then every
        running duty is stopped and the lock let go (a standby's connection too)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._step_task is not None:
            with contextlib.suppress(Exception):
                await self._step_task
            self._step_task = None
        if self.leading or self._running:
            await self._step_down("shutting down")
        elif self.lock is not None:
            with contextlib.suppress(Exception):
                await self.lock.release()

    # ------------------------------------------------------------ the election

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            # Shielded: stopping the loop never cuts a step-down short (its duties would be left
            # running with the lock let go); `stop` waits for the step instead.
            self._step_task = asyncio.create_task(self._step(), name="leadership-step")
            await asyncio.shield(self._step_task)
            self._step_task = None

    async def _step(self) -> None:
        assert self.lock is not None
        if self.leading:
            try:
                still = await self.lock.held()
            except Exception as exc:
                still = False
                log.warning("leadership: lock check failed: %s", type(exc).__name__)
            if not still:
                await self._step_down("the lock was lost")
            return
        try:
            won = await self.lock.try_acquire()
        except Exception as exc:  # the database is away: stand by and try again
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"[:200]
            if self.failures == 1 or self.failures % 30 == 0:
                log.warning("leadership: cannot try the lock (%d): %s", self.failures, exc)
            return
        if self.failures:
            log.info("leadership: the lock can be tried again after %d failures", self.failures)
        self.failures, self.last_error = 0, ""
        if won:
            await self._lead()

    async def _lead(self) -> None:
        self.leading = True
        self.since = datetime.now(UTC)
        log.info("leadership: this process leads (%s)", self.lock.what if self.lock else "")
        for duty in self.duties:
            try:
                await duty.start()
            except Exception as exc:
                log.exception("leader duty failed to start duty=%s", duty.name)
                self.events.publish(
                    ErrorEvent(where=f"leader duty {duty.name}", message=type(exc).__name__)
                )
                continue
            self._running.append(duty)

    async def _step_down(self, why: str) -> None:
        """Stop the duties (in reverse), then let the lock go: while they stop, no other
        process may start its own."""
        level = logging.INFO if why == "shutting down" else logging.WARNING
        log.log(level, "leadership: stepping down (%s)", why)
        self.leading = False
        self.since = datetime.now(UTC)
        while self._running:
            duty = self._running[-1]
            try:
                await duty.stop()
            except Exception:
                log.exception("leader duty failed to stop duty=%s", duty.name)
            self._running.pop()
        if self.lock is not None:
            with contextlib.suppress(Exception):
                await self.lock.release()

    # ------------------------------------------------------------ health

    def health(self) -> dict[str, Any]:
        """`/health`'s `leader` check. A standby is healthy: status ok either way."""
        report: dict[str, Any] = {"status": "ok", "role": self.role}
        if self.failures >= FAILURES_TOLD:  # no process may be leading: nothing watches stops
            report["status"] = "degraded"
            report["detail"] = f"cannot try the leader lock: {self.last_error}"
            return report
        if self.lock is None:
            report["detail"] = f"never leads: {self.why_not}"
            return report
        report["lock"] = self.lock.what
        if self.since is not None:
            report["since"] = self.since.isoformat(timespec="seconds")
        duties = ", ".join(d.name for d in self._running) or "none"
        report["detail"] = (
            f"leads: {duties}" if self.leading else "standing by: another process leads"
        )
        return report
