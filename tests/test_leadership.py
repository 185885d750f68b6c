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


async def test_the_lock_session_ends_itself_when_its_holder_goes_quiet() -> None:
    """A holder cut off without dying: the server ends its idle session, freeing the lock."""
    with postgres_database("tradebot_leader") as url:
        lock = AdvisoryLock(url, interval=0.5)
        try:
            assert await lock.try_acquire()
            assert lock._connection is not None
            timeout = await lock._connection.fetchval("SHOW idle_session_timeout")
            assert timeout == "5s"  # four intervals, at least five seconds
        finally:
            await lock.release()


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
            await eventually(lambda: _is(second, LEADER), timeout=30)
            assert other == ["start monitor"]
        finally:
            await first.stop()
            await second.stop()
        assert other == ["start monitor", "stop monitor"]


async def _is(leadership: Leadership, role: str) -> bool:
    return leadership.role == role


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
        await asyncio.sleep(0)
        assert log == ["start monitor"]
    finally:
        await sole.stop()
        await never.stop()
    assert log == ["start monitor", "stop monitor"]
