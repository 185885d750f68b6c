"""The leader lock and the role it gives (SPEC §11), on a real PostgreSQL: one holder at a time,
a holder whose connection goes lets go, and the duties follow the role.

The failover of whole processes (three `serve`, the leader killed) is in
tests/test_leader_failover.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from db.leader_lock import AdvisoryLock, asyncpg_dsn
from tests.processes import postgres_database
from tests.waiting import eventually
from trading.events import ErrorEvent, Event, EventBus
from trading.leadership import LEADER, STANDBY, Leadership, SoleLock

pytestmark = pytest.mark.services


class Recorder:
    """Duties that write down when they start and stop."""

    def __init__(self, name: str, log: list[str], *, fails: bool = False) -> None:
        self.name = name
        self.log = log
        self.fails = fails

    async def start(self) -> None:
        if self.fails:
            raise RuntimeError("cannot start")
        self.log.append(f"start {self.name}")

    async def stop(self) -> None:
        self.log.append(f"stop {self.name}")


class Events:
    def __init__(self) -> None:
        self.seen: list[Event] = []

    def publish(self, event: Event) -> None:
        self.seen.append(event)


async def _terminate(url: str, lock: AdvisoryLock) -> None:
    """End the lock's session from the server's side, as a broken connection would."""
    assert lock._connection is not None
    pid = lock._connection.get_server_pid()
    admin = await asyncpg.connect(asyncpg_dsn(url))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


async def test_one_holder_and_a_lost_connection_lets_the_other_take_over() -> None:
    with postgres_database("tradebot_leader") as url:
        first = AdvisoryLock(url, interval=0.5)
        second = AdvisoryLock(url, interval=0.5)
        try:
            assert await first.try_acquire()
            assert not await second.try_acquire()  # taken: no waiting, no second holder
            assert await first.held()
            await _terminate(url, first)
            assert not await first.held()  # the holder notices it lost the lock
            assert await second.try_acquire()
            assert not await first.try_acquire()  # and cannot take it back
        finally:
            await first.release()
            await second.release()


async def test_the_lock_session_is_ended_by_the_server_when_its_holder_goes_quiet() -> None:
    """A holder cut off without dying: the server ends its idle session (here shortened),
    freeing the lock for another process."""
    with postgres_database("tradebot_leader") as url:
        quiet = AdvisoryLock(url, interval=0.5)
        other = AdvisoryLock(url, interval=0.5)
        try:
            assert await quiet.try_acquire()
            assert quiet._connection is not None
            timeout = await quiet._connection.fetchval("SHOW idle_session_timeout")
            assert timeout == "30s"  # the product's: duties start and stop well within it
            await quiet._connection.execute("SET idle_session_timeout = 300")  # milliseconds
            assert await eventually(lambda: other.try_acquire(), timeout=30)
        finally:
            await quiet.release()
            await other.release()


async def test_duties_follow_the_role_in_order_and_reverse(tmp_path: Path) -> None:
    with postgres_database("tradebot_leader") as url:
        log: list[str] = []
        events = Events()
        first = Leadership(
            AdvisoryLock(url, interval=0.2), events=events, interval=0.2  # type: ignore[arg-type]
        )
        second = Leadership(
            AdvisoryLock(url, interval=0.2), events=EventBus(), interval=0.2
        )
        for name in ("monitor", "broken", "polling"):
            first.add(Recorder(name, log, fails=name == "broken"))
        other: list[str] = []
        second.add(Recorder("monitor", other))
        try:
            await first.start()
            await second.start()
            assert (first.role, second.role) == (LEADER, STANDBY)
            # The duty that failed is reported and the others run.
            assert log == ["start monitor", "start polling"]
            assert [e.where for e in events.seen if isinstance(e, ErrorEvent)] == [
                "leader duty broken"
            ]
            assert first.health()["detail"] == "leads: monitor, polling"
            assert second.health() | {"since": None} == {
                "status": "ok",
                "role": STANDBY,
                "lock": "PostgreSQL advisory lock",
                "detail": "standing by: another process leads",
                "since": None,
            }
            assert first.lock is not None
            await _terminate(url, first.lock)  # type: ignore[arg-type]
            await eventually(lambda: _is(first, STANDBY), timeout=30)
            assert log[2:] == ["stop polling", "stop monitor"]
            # The lock is free: one of the two takes it, never both.
            await eventually(lambda: _any_leads(first, second), timeout=30)
            assert [first.role, second.role].count(LEADER) == 1
            assert other == ["start monitor"] or log[4:] == ["start monitor", "start polling"]
        finally:
            await first.stop()
            await second.stop()
        assert other == ["start monitor", "stop monitor"]


async def _is(leadership: Leadership, role: str) -> bool:
    return leadership.role == role


async def _any_leads(*processes: Leadership) -> bool:
    return any(p.role == LEADER for p in processes)


async def test_sqlite_has_no_election_and_a_process_that_never_leads_stays_standby() -> None:
    log: list[str] = []
    sole = Leadership(SoleLock(), events=EventBus(), interval=0.2)
    sole.add(Recorder("monitor", log))
    never = Leadership(None, events=EventBus(), why_not="serve --no-monitor")
    never.add(Recorder("polling", log))
    await sole.start()
    await never.start()
    try:
        assert (sole.role, never.role) == (LEADER, STANDBY)
        assert never.health()["detail"] == "never leads: serve --no-monitor"
        assert log == ["start monitor"]
    finally:
        await sole.stop()
        await never.stop()
    assert log == ["start monitor", "stop monitor"]


class FakeLock:
    """A lock whose answers the test sets: held or not, hanging checks, failing tries."""

    what = "fake lock"

    def __init__(self) -> None:
        self.free = True
        self.holding = False
        self.check: asyncio.Event | None = None  # set: held() waits for it
        self.fails: Exception | None = None
        self.released = 0

    async def try_acquire(self) -> bool:
        if self.fails is not None:
            raise self.fails
        self.holding = self.free
        self.free = False
        return self.holding

    async def held(self) -> bool:
        if self.check is not None:
            await self.check.wait()
            return False
        return self.holding

    async def release(self) -> None:
        self.released += 1
        if self.holding:
            self.free, self.holding = True, False


class SlowStop(Recorder):
    """A duty whose stop takes until the test lets it finish."""

    def __init__(self, name: str, log: list[str], gate: asyncio.Event) -> None:
        super().__init__(name, log)
        self.gate = gate

    async def stop(self) -> None:
        self.log.append(f"stopping {self.name}")
        await self.gate.wait()
        await super().stop()


async def test_the_lock_is_let_go_only_after_the_duties_stopped() -> None:
    """A failed check steps down: duties stop first, the lock is released after (else another
    process could lead while this one's monitor is still closing)."""
    lock, log, gate = FakeLock(), [], asyncio.Event()
    leadership = Leadership(lock, events=EventBus(), interval=0.01)  # type: ignore[arg-type]
    leadership.add(SlowStop("monitor", log, gate))
    await leadership.start()
    assert leadership.role == LEADER
    lock.holding = False  # the next check finds the lock gone
    await eventually(lambda: _logged(log, "stopping monitor"))
    assert lock.released == 0 and not lock.free  # still held while the duty stops
    gate.set()
    await eventually(lambda: _released(lock))
    assert log == ["start monitor", "stopping monitor", "stop monitor"]
    await leadership.stop()


async def test_stopping_during_a_step_down_lets_it_finish_and_leaves_nothing_running() -> None:
    lock, log, gate = FakeLock(), [], asyncio.Event()
    leadership = Leadership(lock, events=EventBus(), interval=0.01)  # type: ignore[arg-type]
    leadership.add(Recorder("relay", log))
    leadership.add(SlowStop("monitor", log, gate))
    await leadership.start()
    lock.holding = False
    await eventually(lambda: _logged(log, "stopping monitor"))
    stopping = asyncio.create_task(leadership.stop())  # shutdown arrives mid step-down
    await eventually(lambda: _loop_stopped(leadership))  # stop() now waits for the step
    assert not stopping.done()
    gate.set()
    await stopping
    assert log == ["start relay", "start monitor", "stopping monitor", "stop monitor", "stop relay"]
    assert leadership._running == []


async def test_a_lock_that_cannot_be_tried_makes_health_degraded_and_a_standby_lets_go() -> None:
    """No process may be leading (e.g. the database refuses the lock's connection): /health
    says so instead of 'another process leads'."""
    lock = FakeLock()
    lock.free = False  # another process holds it
    lock.fails = OSError("connection refused")
    leadership = Leadership(lock, events=EventBus(), interval=0.01)  # type: ignore[arg-type]
    await leadership.start()
    await eventually(lambda: _degraded(leadership))
    assert leadership.health()["detail"] == (
        "cannot try the leader lock: OSError: connection refused"
    )
    lock.fails = None
    await eventually(lambda: _healthy(leadership))
    assert leadership.role == STANDBY
    await leadership.stop()
    assert lock.released == 1  # the standby's connection is closed too


async def _logged(log: list[str], line: str) -> bool:
    return line in log


async def _loop_stopped(leadership: Leadership) -> bool:
    return leadership._task is None


async def _released(lock: FakeLock) -> bool:
    return lock.released > 0


async def _degraded(leadership: Leadership) -> bool:
    return leadership.health()["status"] == "degraded"


async def _healthy(leadership: Leadership) -> bool:
    return leadership.health()["status"] == "ok"


def test_the_lock_connects_with_the_urls_ssl_settings_and_without_tortoises_pool_ones() -> None:
    dsn = asyncpg_dsn(
        "postgres://u:p@db.example:5432/trade?minsize=2&maxsize=20&sslmode=verify-full"
        "&sslrootcert=%2Fetc%2Fca.pem"
    )
    assert dsn == (
        "postgresql://u:p@db.example:5432/trade?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem"
    )
