"""Three `tradebot serve` processes on one PostgreSQL and Redis, started at once on an empty
database, behave as one product with one leader (SPEC §11), and a killed leader is replaced.

Checked as the issue states it: one leader in `/health`; a stop-loss that fires once whichever
process saw the price; the leader killed (SIGKILL) and a new one in charge within 10 s; Telegram
polled by one process only (the fake Bot API answers a second concurrent poll with 409, as
Telegram does, and counts it); one notification per event.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
import pytest

from tests.fakes.telegram_api import FakeTelegramAPI
from tests.processes import (
    REDIS_URL,
    distinct_ports,
    postgres_database,
    psql,
    redis_or_skip,
    run_cli,
    stop_processes,
    tail,
)
from tests.test_scale_out import READY_DEADLINE
from tests.waiting import until

pytestmark = pytest.mark.services

ADMIN = 4242 + os.getpid() % 10_000  # dialogue keys of its own in the shared Redis
TAKEOVER = 10.0  # seconds: SPEC §11
SETTLE = 120.0  # seconds for background work on a loaded machine


class Cluster:
    def __init__(self, tmp: Path, env: dict[str, str], url: str, fake: FakeTelegramAPI) -> None:
        self.tmp = tmp
        self.env = env
        self.url = url  # psql's URL
        self.fake = fake
        self.bases: list[str] = []
        self.servers: list[asyncio.subprocess.Process] = []
        self.logs: list[Path] = []
        self.outputs: list[BinaryIO] = []
        self.http = aiohttp.ClientSession()
        self.guard_key = ""

    async def start(self, count: int) -> None:
        """`count` servers at once, none migrated first: each migrates, as on a first start."""
        for index, port in enumerate(distinct_ports(count)):
            log = self.tmp / f"server{index}.log"
            self.logs.append(log)
            output = log.open("wb")
            self.outputs.append(output)
            self.servers.append(
                await asyncio.create_subprocess_exec(
                    *(sys.executable, "-m", "bot", "serve"),
                    cwd=self.tmp,
                    env={**self.env, "TRADEBOT_PORT": str(port)},
                    stdout=output,
                    stderr=asyncio.subprocess.STDOUT,
                )
            )
            self.bases.append(f"http://127.0.0.1:{port}")
        for index in range(count):
            await until(
                lambda i=index: self.healthy(i), deadline=READY_DEADLINE, what=f"server {index} up"
            )

    async def health(self, index: int) -> dict[str, Any] | None:
        try:
            timeout = aiohttp.ClientTimeout(total=5)
            async with self.http.get(f"{self.bases[index]}/health", timeout=timeout) as response:
                return await response.json() if response.status == 200 else None
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def healthy(self, index: int) -> bool:
        server = self.servers[index]
        if server.returncode is not None:
            raise AssertionError(f"server {index} exited:\n{tail(self.logs[index])}")
        return await self.health(index) is not None

    async def roles(self, alive: list[int]) -> dict[int, str]:
        found = {}
        for index in alive:
            health = await self.health(index)
            found[index] = health["role"] if health else "unanswered"
        return found

    async def post(self, index: int, key: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.bases[index]}/webhook/{key}"
        async with self.http.post(url, data=json.dumps(body)) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    def sql(self, query: str) -> str:
        return psql(self.url, query)

    async def close(self) -> None:
        await stop_processes(self.servers)
        await self.http.close()
        for output in self.outputs:
            output.close()


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    client = await redis_or_skip()  # shared with other tests: nothing is flushed
    await client.aclose()
    with postgres_database("tradebot_failover") as tortoise_url:
        async with FakeTelegramAPI(max_poll_wait=1.0) as fake:
            env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBOT_")}
            env.update(
                TRADEBOT_DATABASE_URL=tortoise_url,
                TRADEBOT_REDIS_URL=REDIS_URL,
                TRADEBOT_HOST="127.0.0.1",
                TRADEBOT_TELEGRAM_TOKEN="123456:failover-test-token",
                TRADEBOT_TELEGRAM_API_URL=fake.url,
                TRADEBOT_TELEGRAM_ADMINS=str(ADMIN),
                TRADEBOT_MONITOR_INTERVAL="0.2",
                TRADEBOT_MONITOR_RESYNC_INTERVAL="0.5",
                TRADEBOT_LOG_LEVEL="INFO",
            )
            url = tortoise_url.replace("postgres://", "postgresql://", 1)
            cluster = Cluster(tmp_path, env, url, fake)
            try:
                yield cluster
            finally:
                await cluster.close()


def _alert(alert_id: str, action: str, price: str) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"action": action, "symbol": "BTCUSDT", "price": price, "id": alert_id, "time": now}


def _sent(fake: FakeTelegramAPI, piece: str) -> list[str]:
    return [m["text"] for m in fake.sent_messages(ADMIN) if piece in m["text"]]


async def _open_and_cross(cluster: Cluster, opener: int, pricer: int, run: str) -> float:
    """A position opened through one process, a price past its stop-loss sent to another;
    when the price was stored."""
    key = cluster.guard_key
    answer = await cluster.post(opener, key, _alert(f"open-{run}", "buy", "100"))
    assert answer["status"] == "executed", answer
    tick = {"action": "tick", "symbol": "BTCUSDT", "price": "90"}
    assert (await cluster.post(pricer, key, tick))["status"] in ("ignored", "executed")
    return time.monotonic()


def _closed(cluster: Cluster) -> bool:
    return cluster.sql("SELECT count(*) FROM current_positions") == "0"


async def _stop_fires_once(cluster: Cluster, opener: int, pricer: int, run: str) -> None:
    """The leader closes the position whichever process saw the price, once."""
    await _open_and_cross(cluster, opener, pricer, run)
    await until(lambda: _closed(cluster), deadline=SETTLE, what=f"the stop-loss of run {run} fired")


async def _chat_answers(cluster: Cluster, already: int) -> None:
    """A command sent in the chat gets one answer: one process polls."""
    cluster.fake.push_message(ADMIN, "/status")
    answers = "Open positions"
    await until(
        lambda: len(_sent(cluster.fake, answers)) > already,
        deadline=SETTLE,
        what="/status answered",
    )


async def test_three_processes_one_leader_and_a_killed_leader_is_replaced(
    cluster: Cluster,
) -> None:
    await cluster.start(3)
    # One schema, one demo bot, however the three first starts raced.
    assert cluster.sql("SELECT count(*) FROM trading_bots WHERE name = 'demo'") == "1"
    roles = await cluster.roles([0, 1, 2])
    assert sorted(roles.values()) == ["leader", "standby", "standby"], roles
    leader = next(i for i, role in roles.items() if role == "leader")
    standbys = [i for i in (0, 1, 2) if i != leader]
    leader_health = await cluster.health(leader)
    assert leader_health is not None
    assert leader_health["status"] == "ok"
    for index in standbys:  # a standby is healthy
        health = await cluster.health(index)
        assert health is not None and health["status"] == "ok", health
        assert health["checks"]["leader"]["role"] == "standby"

    out = await run_cli(
        cluster.env, cluster.tmp, "bots", "add", "--name", "guard", "--symbol", "BTCUSDT",
        "--strategy", "signal", "--qty", "1", "--direction", "long", "--sl", "5%",
        "--max-alerts-per-minute", "0", "--json",
    )  # fmt: skip
    cluster.guard_key = json.loads(out)["webhook_key"]

    await _chat_answers(cluster, 0)
    await _stop_fires_once(cluster, standbys[0], standbys[1], "first")

    # Told once each (the leader has sent them and marked them sent: a leader killed between
    # Telegram's answer and that mark, a millisecond, would have the next leader send it again).
    await until(
        lambda: (
            len(_sent(cluster.fake, "Stop-loss hit")) == 1
            and cluster.sql("SELECT count(*) FROM notifications WHERE sent_at IS NULL") == "0"
        ),
        deadline=SETTLE,
        what="the first run's notifications sent",
    )

    # The leader dies without a word; while no one leads, a position's stop is crossed.
    killed = cluster.servers[leader]
    killed.send_signal(signal.SIGKILL)
    await killed.wait()
    died = time.monotonic()
    crossed = await _open_and_cross(cluster, standbys[0], standbys[1], "orphan")

    async def new_leader() -> list[int]:
        roles = await cluster.roles(standbys)
        leaders = [i for i, role in roles.items() if role == "leader"]
        assert len(leaders) <= 1, roles
        return leaders

    [successor] = await until(new_leader, deadline=TAKEOVER * 3, what="a new leader")
    took = time.monotonic() - died
    assert took <= TAKEOVER, f"a new leader after {took:.1f} s"
    # The new leader fires the stop no claim holds, within 10 s of taking over.
    await until(lambda: _closed(cluster), deadline=SETTLE, what="the orphaned stop fired")
    fired = time.monotonic() - max(crossed, died + took)
    assert fired <= TAKEOVER, f"the orphaned stop fired {fired:.1f} s after the takeover"
    other = next(i for i in standbys if i != successor)

    await _chat_answers(cluster, 1)
    await _stop_fires_once(cluster, other, other, "second")

    # Every order once, every position closed by its stop, every notification once.
    trades = cluster.sql(
        "SELECT reason, count(*) FROM trade_history GROUP BY reason ORDER BY reason"
    )
    assert trades == "stop_loss|3"
    assert cluster.sql("SELECT count(*) FROM orders WHERE status = 'filled'") == "6"
    expected = {"Opened long BTCUSDT · guard": 3, "Stop-loss hit": 3, "Open positions": 2}
    try:
        await until(
            lambda: all(len(_sent(cluster.fake, k)) >= n for k, n in expected.items()),
            deadline=SETTLE,
            what=f"the notifications {expected}",
        )
    except AssertionError as exc:
        outbox = cluster.sql("SELECT id, type, origin, sent_at FROM notifications ORDER BY id")
        sent = [m["text"][:40] for m in cluster.fake.sent_messages(ADMIN)]
        raise AssertionError(f"{exc}\noutbox:\n{outbox}\nsent: {sent}") from None
    # Once each: nothing sent twice by two processes, or again by the new leader.
    assert {k: len(_sent(cluster.fake, k)) for k in expected} == expected
    assert cluster.fake.poll_conflicts == 0  # never two pollers at once
