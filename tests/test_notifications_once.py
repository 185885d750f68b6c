"""Three `serve` processes on one PostgreSQL: whichever process handles an alert, each Telegram
notification is sent once, by the leader, and an approval card asked for through one process and
approved through another is edited once (SPEC §11, issue 16).

Real processes, a real database, the fake Telegram Bot API in this test's loop (webhook mode, so
an update can be posted to the process of our choice). Nothing waits on elapsed time: the checks
wait for conditions (the outbox drained, a message seen) with deadlines. Once every outbox row is
marked sent, every message the relay sends for them has been sent: counting then is final.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from tortoise import Tortoise

from db.config import tortoise_config
from db.models import Notification
from db.notifications import SqlApprovalCards, SqlOutbox
from handlers.telegram.notifier import MAX_NETWORK_RETRIES, TelegramNotifier
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.processes import (
    REDIS_URL,
    free_port,
    migrated_postgres,
    psql,
    redis_or_skip,
    run_cli,
    stop_processes,
)
from tests.telegram_helpers import WEBHOOK_PATH, post_update
from tests.waiting import until
from trading.access import Destination
from trading.control_events import ApprovalRequested, ApprovalResolved
from trading.events import ErrorEvent, Event, OrderFinished
from trading.outbox import NotificationRelay, OutboxWriter

OWNER = 111
SECRET = "notify-secret-0123456789"
READY_DEADLINE = 180.0  # a loaded machine starts Python slowly
DEADLINE = 60.0
TAKEOVER = 10.0  # SPEC §11: a dead leader is replaced within 10 s


async def _psql(url: str, sql: str) -> str:
    return await asyncio.to_thread(psql, url, sql)


class Cluster:
    def __init__(self, tmp: Path, env: dict[str, str], url: str, fake: FakeTelegramAPI) -> None:
        self.tmp, self.env, self.url, self.fake = tmp, env, url, fake
        self.servers: dict[str, asyncio.subprocess.Process] = {}
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        self.bots: dict[str, dict[str, Any]] = {}

    async def start(self, count: int) -> None:
        for index in range(count):
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            log = (self.tmp / f"server{index}.log").open("wb")
            self.servers[base] = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "serve", cwd=self.tmp,
                env={**self.env, "TRADEBOT_PORT": str(port)},
                stdout=log, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            log.close()
        for base in self.servers:
            await until(lambda b=base: self.health(b), f"{base} healthy", READY_DEADLINE)

    async def health(self, base: str) -> dict[str, Any] | None:
        server = self.servers[base]
        if server.returncode is not None:
            raise AssertionError(f"{base} exited with {server.returncode}:\n{self.logs()}")
        try:
            async with self.http.get(f"{base}/health") as response:
                return await response.json() if response.status == 200 else None
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def leader(self, among: list[str] | None = None) -> str:
        """The one process that says it leads (waited for)."""

        async def one() -> str | None:
            leading = []
            for base in among or list(self.servers):
                health = await self.health(base)
                if health and health["checks"]["leader"]["role"] == "leader":
                    leading.append(base)
            return leading[0] if len(leading) == 1 else None

        return await until(one, "one leader", READY_DEADLINE)

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.tmp.glob("server*.log"))
        )

    async def alert(self, base: str, bot: str, alert_id: str, action: str = "buy") -> Any:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"action": action, "symbol": "BTCUSDT", "price": "100", "qty": "1",
                "id": alert_id, "time": now}  # fmt: skip
        key = self.bots[bot]["webhook_key"]
        async with self.http.post(f"{base}/webhook/{key}", json=body) as response:
            assert response.status in (200, 202), await response.text()
            return await response.json()

    async def drained(self) -> None:
        """Every notification written so far is sent (and marked)."""

        async def empty() -> bool:
            return await _psql(self.url, "SELECT count(*) FROM notifications "
                                         "WHERE sent_at IS NULL") == "0"  # fmt: skip

        await until(empty, "the outbox drained")

    def texts(self, contains: str) -> list[str]:
        return [p["text"] for p in self.fake.sent_messages(OWNER) if contains in p["text"]]

    async def stop(self) -> None:
        await stop_processes(self.servers.values())
        await self.http.close()


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    client = await redis_or_skip()
    await client.aclose()
    async with FakeTelegramAPI() as fake, migrated_postgres("tradebot_notify", tmp_path) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBOT_")}
        env.update(
            TRADEBOT_DATABASE_URL=url,
            TRADEBOT_REDIS_URL=REDIS_URL,
            TRADEBOT_HOST="127.0.0.1",
            TRADEBOT_TELEGRAM_TOKEN="42:TEST-TOKEN",
            TRADEBOT_TELEGRAM_API_URL=fake.url,
            TRADEBOT_TELEGRAM_ADMINS=str(OWNER),
            TRADEBOT_TELEGRAM_MODE="webhook",
            TRADEBOT_TELEGRAM_WEBHOOK_SECRET=SECRET,
            TRADEBOT_PUBLIC_URL="https://bot.example.com",
        )  # fmt: skip
        world = Cluster(tmp_path, env, url, fake)
        try:
            for name, extra in (("main", []), ("manual", ["--approval", "manual"])):
                out = await run_cli(
                    env, tmp_path, "bots", "add", "--name", name, "--symbol", "BTCUSDT",
                    "--strategy", "signal", "--qty", "1", "--max-entries", "100",
                    "--max-alerts-per-minute", "0", "--max-lag", "300", *extra, "--json",
                )  # fmt: skip
                world.bots[name] = json.loads(out)
            yield world
        finally:
            await world.stop()


@pytest.mark.services
async def test_three_processes_send_each_notification_once_and_edit_cards_from_any(
    cluster: Cluster,
) -> None:
    url, fake = cluster.url, cluster.fake
    # Left by an earlier leader: a row sent two days ago (kept a day), a row nobody sent for two
    # days (too old to tell now) and one written just before: the first leader sends that one.
    await _psql(url, """
        INSERT INTO notifications (created_at, type, payload, origin, sent_at) VALUES
        (now() - interval '2 days', 'ErrorEvent',
         '{"at": "2026-01-01T00:00:00Z", "where": "old", "message": "sent long ago"}', 'x:1',
         now() - interval '2 days'),
        (now() - interval '2 days', 'ErrorEvent',
         '{"at": "2026-01-01T00:00:00Z", "where": "old", "message": "never sent"}', 'x:1', NULL),
        (now(), 'ErrorEvent',
         '{"at": "2026-01-01T00:00:00Z", "where": "queue", "message": "left unsent"}', 'x:1', NULL)
    """)  # fmt: skip
    await cluster.start(3)
    leader = await cluster.leader()
    standbys = [base for base in cluster.servers if base != leader]
    await cluster.drained()
    assert len(cluster.texts("left unsent")) == 1
    assert not cluster.texts("never sent")
    assert await _psql(url, "SELECT count(*) FROM notifications WHERE payload->>'message' "
                            "= 'sent long ago'") == "0"  # fmt: skip
    # Three processes started; one says so, naming itself as the leader.
    [started] = cluster.texts("Tradebot started")
    assert "leads" in started

    # Alerts to the processes that do not lead: each fill is told once.
    for index in range(6):
        answer = await cluster.alert(standbys[index % 2], "main", f"n-{index}")
        assert answer["status"] == "executed", answer
    # The answer comes before the event is written: wait for the messages, then for quiet.
    await until(lambda: len(cluster.texts("Added to long BTCUSDT · main")) >= 5, "5 adds told")
    await cluster.drained()
    assert len(cluster.texts("Opened long BTCUSDT · main")) == 1
    added = cluster.texts("Added to long BTCUSDT · main")
    assert sorted(text.rsplit("entry ", 1)[1] for text in added) == ["2", "3", "4", "5", "6"]

    # An approval card asked for through one standby, approved through the other: one card,
    # edited once, and the fill it led to told once.
    a, b = standbys
    answer = await cluster.alert(a, "manual", "card-1")
    assert answer["status"] == "accepted", answer
    [card] = await fake.wait_for("sendMessage", lambda p: "Approve?" in p["text"])
    log_id = int(await _psql(url, "SELECT id FROM webhook_logs WHERE alert_id = 'card-1'"))
    cards = f"SELECT count(*) FROM approval_cards WHERE webhook_log_id = {log_id}"
    assert await _psql(url, cards) == "1"
    update = fake.push_callback(OWNER, f"apr:ok:{log_id}", card.result["message_id"])
    assert await post_update(cluster.http, f"{b}{WEBHOOK_PATH}", update, SECRET) == 200
    [pressed] = await fake.wait_for("answerCallbackQuery")
    assert pressed.params["text"] == "Approved: executed"
    await fake.wait_for("editMessageText", lambda p: "Approved by" in p["text"])
    await fake.wait_for("sendMessage", lambda p: "Opened long BTCUSDT · manual" in p["text"])
    await cluster.drained()
    edits = [c for c in fake.calls_of("editMessageText") if "Approved by" in c.params["text"]]
    assert [(c.params["chat_id"], c.params["message_id"]) for c in edits] == [
        (OWNER, card.result["message_id"])
    ]
    assert len(cluster.texts("Approve?")) == 1
    assert len(cluster.texts("Opened long BTCUSDT · manual")) == 1
    assert await _psql(url, "SELECT count(*) FROM approval_cards") == "0"

    # The leader dies: another leads within 10 s and sends what was written meanwhile, once.
    cluster.servers[leader].send_signal(signal.SIGKILL)
    await cluster.servers[leader].wait()
    killed_at = asyncio.get_running_loop().time()
    answer = await cluster.alert(standbys[0], "main", "after-kill")
    assert answer["status"] == "executed", answer
    await cluster.leader(standbys)
    assert asyncio.get_running_loop().time() - killed_at < TAKEOVER + 5  # a loaded machine
    await cluster.drained()
    assert len(cluster.texts("entry 7")) == 1
    notices = cluster.texts("Tradebot started")
    assert len(notices) == 2 and notices[0] != notices[1]
    rows = await _psql(url, "SELECT count(*), count(DISTINCT origin) FROM notifications")
    total, origins = (int(x) for x in rows.split("|"))
    assert total >= 9 and origins >= 2  # written by the processes that handled the alerts


# ---------------------------------------------------------------- one process's parts, on SQLite


async def _owner(event: Event) -> list[Destination]:
    return [Destination(OWNER)]


@pytest.fixture
async def parts(db_url: str) -> AsyncIterator[tuple[FakeTelegramAPI, list[TelegramNotifier]]]:
    """The database, the fake Bot API, and notifiers on it (two: two processes) once started."""
    await Tortoise.init(config=tortoise_config(db_url))
    notifiers: list[TelegramNotifier] = []
    async with FakeTelegramAPI() as fake:
        telegram = Bot(
            "42:TEST-TOKEN",
            session=AiohttpSession(api=fake.api_server),
            default=DefaultBotProperties(parse_mode="HTML"),
        )
        for _ in range(2):
            notifiers.append(TelegramNotifier(telegram, _owner, cards=SqlApprovalCards()))
        try:
            yield fake, notifiers
        finally:
            for notifier in notifiers:
                await notifier.stop()
            await telegram.session.close()
            await Tortoise.close_connections()


async def test_a_new_relay_continues_from_the_first_unsent_row(
    parts: tuple[FakeTelegramAPI, list[TelegramNotifier]],
) -> None:
    fake, (notifier, _) = parts
    outbox = SqlOutbox()
    writer = OutboxWriter(outbox, origin="web-1:11")
    await writer.start()
    for n in range(3):
        writer.publish(ErrorEvent(where="feed", message=f"first #{n}"))
    writer.publish(OrderFinished(bot="demo", symbol="BTCUSDT", status="filled", intent="open"))
    await writer.stop()  # what is queued is written before it stops
    assert [row.type for row in await outbox.unsent(10)] == ["ErrorEvent"] * 3  # no message

    # The leader's sender is not running: nothing is marked sent, nothing is lost.
    relay = NotificationRelay(outbox, notifier, origin="web-1:11", poll=0.05)
    await relay.start()
    await relay.stop(timeout=1)
    assert len(await outbox.unsent(10)) == 3

    await notifier.start()
    relay = NotificationRelay(outbox, notifier, origin="web-1:11", poll=0.05)
    await relay.start()
    await fake.wait_for("sendMessage", lambda p: "first #2" in p["text"])
    await relay.stop()
    [stopping] = await fake.wait_for("sendMessage", lambda p: "stopping" in p["text"])
    assert "web-1:11 stops leading" in stopping.params["text"]

    writer = OutboxWriter(outbox, origin="web-2:22")
    await writer.start()
    writer.publish(ErrorEvent(where="feed", message="second"))
    await writer.stop()
    relay = NotificationRelay(outbox, notifier, origin="web-2:22", poll=0.05)
    await relay.start()
    await fake.wait_for("sendMessage", lambda p: "second" in p["text"])
    await relay.stop()
    texts = [p["text"] for p in fake.sent_messages(OWNER)]
    assert [t for t in texts if "Error in feed" in t] == [
        "❗ Error in feed: first #0", "❗ Error in feed: first #1", "❗ Error in feed: first #2",
        "❗ Error in feed: second",
    ]  # fmt: skip
    assert [t.split(" · ")[1] for t in texts if "Tradebot started" in t] == [
        "web-1:11 leads", "web-2:22 leads",
    ]  # fmt: skip
    assert await outbox.unsent(10) == []


async def test_sent_rows_are_kept_a_day_and_stale_ones_are_not_sent_late(
    parts: tuple[FakeTelegramAPI, list[TelegramNotifier]],
) -> None:
    fake, (notifier, _) = parts
    outbox = SqlOutbox()
    await outbox.append("web-1:11", [("ErrorEvent", {"where": "x", "message": "old"})] * 2)
    await outbox.append("web-1:11", [("ErrorEvent", {"where": "x", "message": "fresh"})])
    await outbox.append("web-1:11", [("NoLongerAnEvent", {"what": "renamed"})])
    old = await outbox.unsent(2)
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    await Notification.filter(id=old[0].id).update(created_at=two_days_ago, sent_at=two_days_ago)
    await Notification.filter(id=old[1].id).update(created_at=two_days_ago)
    await notifier.start()
    relay = NotificationRelay(outbox, notifier, origin="web-1:11", poll=0.05)
    await relay.start()
    await fake.wait_for("sendMessage", lambda p: "fresh" in p["text"])

    async def all_marked() -> bool:  # the unreadable row too: skipped with a log line
        return not await outbox.unsent(10)

    await until(all_marked, "every row marked")
    await relay.stop()
    assert [p["text"] for p in fake.sent_messages(OWNER) if "Error in" in p["text"]] == [
        "❗ Error in x: fresh"
    ]
    remaining = await Notification.all().order_by("id").values_list("payload", flat=True)
    assert [row.get("message", row.get("what")) for row in remaining] == [
        "old",
        "fresh",
        "renamed",
    ]  # fmt: skip
    # the row sent two days ago is gone; the stale one was marked, not sent, and is kept a day


async def test_an_approval_card_sent_by_one_process_is_edited_by_another_once(
    parts: tuple[FakeTelegramAPI, list[TelegramNotifier]],
) -> None:
    """`serve --no-monitor` asks (its notifier sends the card), `tradebot monitor` expires it:
    both on one SQLite database, each sending its own events (SPEC §11)."""
    fake, (asking, expiring) = parts
    await asking.start()
    await expiring.start()
    requested = ApprovalRequested(
        bot="demo", bot_id=1, symbol="BTCUSDT", webhook_log_id=42, action="buy",
        qty=Decimal(1), price=Decimal(100), market_position=None, position_size=None,
        expires_at=datetime.now(UTC) + timedelta(minutes=5),
    )  # fmt: skip
    assert await asking.deliver(requested)
    [card] = fake.calls_of("sendMessage")
    resolved = ApprovalResolved(
        bot="demo", symbol="BTCUSDT", webhook_log_id=42, outcome="expired", by="system"
    )
    assert await expiring.deliver(resolved)
    assert await asking.deliver(resolved)  # told twice: the card is edited once
    [edit] = fake.calls_of("editMessageText")
    assert edit.params["message_id"] == card.result["message_id"]
    assert "Expired" in edit.params["text"]
    assert await SqlApprovalCards().take(42) == []


async def test_a_row_telegram_could_not_take_stays_unsent_and_goes_out_once_it_can(
    parts: tuple[FakeTelegramAPI, list[TelegramNotifier]],
) -> None:
    """A Telegram outage longer than the notifier's retries: the row is not marked sent (the
    outbox is what makes it lossless), and it goes out once, when Telegram answers again."""
    fake, (notifier, _) = parts
    notifier.retry_base = 0.001  # the real backoff sums to about 50 s
    outbox = SqlOutbox()
    writer = OutboxWriter(outbox, origin="web-1:11")
    await writer.start()
    writer.publish(ErrorEvent(where="feed", message="through the outage"))
    await writer.stop()
    await notifier.start()
    fake.fail_next("sendMessage", status=502, count=10_000)  # down until the test says
    relay = NotificationRelay(outbox, notifier, origin="web-1:11", poll=0.05)
    await relay.start()
    # The announcement and then the row gave up (every retry failed): nothing marked.
    await until(lambda: len(fake.failed_calls) >= 3 * (MAX_NETWORK_RETRIES + 1), "the outage")
    assert [row.type for row in await outbox.unsent(10)] == ["ErrorEvent"]
    assert fake.sent_messages(OWNER) == []
    fake._faults.clear()  # Telegram answers again
    await fake.wait_for("sendMessage", lambda p: "through the outage" in p["text"])
    await until(lambda: _all_sent(outbox), "the row marked sent")
    await relay.stop()
    texts = [p["text"] for p in fake.sent_messages(OWNER)]
    assert len([t for t in texts if "through the outage" in t]) == 1


async def _all_sent(outbox: SqlOutbox) -> bool:
    return await outbox.unsent(10) == []
