"""Crash safety (issue 6): a server killed with SIGKILL in the middle of a burst of alerts loses
nothing and doubles nothing once restarted. Alerts it stored but never finished are settled at
start-up (trading/recovery.py): from their order when they reached one, executed when still fresh,
rejected as interrupted otherwise, each exactly once even with two processes recovering at once."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tortoise import Tortoise

from db.config import tortoise_config
from db.models import CurrentPosition, Order, PositionEntry, WebhookLog
from db.paper_ledger import SqlPaperLedger
from db.stores import sql_stores
from handlers.web.keys import INTAKE
from tests.conftest import OWNER_ID, World
from tests.processes import free_port
from tests.telegram_helpers import Chat
from trading.alerts import parse_alert
from trading.approvals import ApprovalService
from trading.bots import BotConfig, BotSpec
from trading.brokers.base import OrderFill, OrderRequest
from trading.brokers.paper import PaperBroker
from trading.events import Event, EventBus, LateExecution
from trading.records import Claim, NewOrder
from trading.recovery import RECOVERING, UNFINISHED, AlertRecovery
from trading.service import TradingService

UNSETTLED = [*UNFINISHED, RECOVERING]

# ---------------------------------------------------------------- a real server, killed


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no answer (the connection dropped or was refused)
    body: dict[str, Any]

    @property
    def outcome(self) -> str | None:
        return self.body.get("status") if self.status == 200 else None


class Server:
    """`python -m bot serve` in a subprocess, its output in a file."""

    def __init__(self, db_url: str, workdir: Path, name: str) -> None:
        self.port = free_port()
        self.log_path = workdir / f"{name}.log"
        self.env = {
            **os.environ,
            "TRADEBOT_DATABASE_URL": db_url,
            "TRADEBOT_HOST": "127.0.0.1",
            "TRADEBOT_PORT": str(self.port),
            "TRADEBOT_WEBHOOK_RATE_PER_KEY": "1000000",
            "TRADEBOT_WEBHOOK_BURST_PER_KEY": "1000000",
            "TRADEBOT_WEBHOOK_RATE_PER_IP": "1000000",
            "TRADEBOT_WEBHOOK_BURST_PER_IP": "1000000",
        }
        for variable in ("TRADEBOT_TELEGRAM_TOKEN", "TRADEBOT_PUBLIC_URL", "TRADEBOT_REDIS_URL"):
            self.env.pop(variable, None)
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self) -> subprocess.Popen[bytes]:
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "serve"],
                cwd=self.workdir,  # no .env from the repository
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self.process

    async def start(self, http: aiohttp.ClientSession, timeout: float = 180.0) -> None:
        """Spawn it and wait until /health answers."""
        process = self.spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert process.poll() is None, f"server exited:\n{self.output()}"
            try:
                async with http.get(f"{self.base}/health") as response:
                    await response.read()
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
        raise AssertionError(f"server not up after {timeout} s:\n{self.output()}")

    def kill(self) -> None:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)

    def stop(self) -> None:
        """SIGINT (a clean shutdown), SIGKILL if it does not end in time."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    async def wait_output(self, text: str, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.output().count(text) < count:
            assert time.monotonic() < deadline, f"{count} x {text!r} not logged:\n{self.output()}"
            await asyncio.sleep(0.1)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass(frozen=True)
class Sent:
    alert_id: str
    bot: str
    key: str
    body: str


# `hodl` allows 8 s of lag: what the crash interrupts of it is stale by the time recovery may
# take it (10 s after it was received), so it is rejected, not executed late.
BOTS: dict[str, dict[str, Any]] = {
    "swing": {"symbols": ["BTCUSDT", "ETHUSDT"], "direction": "both", "max_entries": 4,
              "max_lag_seconds": 600},
    "scalp": {"symbols": ["BTCUSDT"], "direction": "both", "max_entries": 3,
              "max_lag_seconds": 600},
    "hodl": {"symbols": ["SOLUSDT"], "direction": "long", "max_entries": 5, "max_lag_seconds": 8},
}  # fmt: skip
STALE_BOT = "hodl"


def burst_of(bots: dict[str, BotConfig], count: int, seed: int) -> list[Sent]:
    """Alerts over every bot and symbol: opens, adds, partial and full closes, reversals."""
    rng = random.Random(seed)
    pairs = [(name, symbol) for name, bot in bots.items() for symbol in bot.symbols]
    fired = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    alerts = []
    for n in range(count):
        name, symbol = pairs[n % len(pairs)]
        action = rng.choice(["buy", "buy", "sell", "sell", "close", "close_long", "close_short"])
        fields = {
            "action": action,
            "symbol": f"BINANCE:{symbol}",
            "price": f"{100 + rng.randint(-300, 300) / 100}",
            "id": f"burst-{seed}-{n}",
            "time": fired,
        }
        if action != "close" or rng.random() < 0.5:
            fields["qty"] = str(rng.choice([1, 1, 2, 3]))
        alerts.append(Sent(fields["id"], name, bots[name].webhook_key, json.dumps(fields)))
    return alerts


async def fire(
    http: aiohttp.ClientSession,
    server: Server,
    alerts: Iterable[Sent],
    *,
    concurrency: int = 32,
    kill_after: int | None = None,
) -> dict[str, Answer]:
    """Post every alert, `concurrency` at a time, as TradingView does (text/plain), recording
    every answer; with `kill_after`, SIGKILL the server once that many answers came back."""
    answers: dict[str, Answer] = {}
    gate = asyncio.Semaphore(concurrency)
    answered = 0

    async def one(sent: Sent) -> None:
        nonlocal answered
        async with gate:
            try:
                async with http.post(
                    f"{server.base}/webhook/{sent.key}",
                    data=sent.body.encode(),
                    headers={"Content-Type": "text/plain; charset=utf-8"},
                ) as response:
                    text = await response.text()
                    answers[sent.alert_id] = Answer(response.status, json.loads(text))
            except (aiohttp.ClientError, TimeoutError) as exc:
                answers[sent.alert_id] = Answer(None, {"error": type(exc).__name__})
                return
            answered += 1
            if answered == kill_after:
                server.kill()

    await asyncio.gather(*(one(sent) for sent in alerts))
    return answers


async def unsettled() -> tuple[int, int]:
    """(log rows not finished, orders pending)."""
    rows = await WebhookLog.filter(status__in=UNSETTLED, finished_at__isnull=True).count()
    return rows, await Order.filter(status="pending").count()


async def wait_settled(timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await unsettled() == (0, 0):
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"still unsettled after {timeout} s: {await unsettled()}")


def signed(side: str, qty: Decimal) -> Decimal:
    return qty if side in ("buy", "long") else -qty


async def check_books(sent: list[Sent], answers: dict[str, Answer]) -> dict[str, str]:
    """Every invariant the crash must not break; returns alert id -> the row's final status."""
    assert await unsettled() == (0, 0)
    relabelled = await WebhookLog.filter(status__in=UNSETTLED, finished_at__isnull=False)
    assert relabelled == [], "finished rows whose outcome was overwritten: " + ", ".join(
        f"#{row.id} {row.status} (finished {row.reason}, order {row.order_id})"
        for row in relabelled
    )
    rows = {row.alert_id: row for row in await WebhookLog.filter(dedup_key__isnull=False)}
    orders = await Order.all()
    by_log: dict[int, list[Order]] = defaultdict(list)
    for order in orders:
        assert order.webhook_log_id is not None, "an order no alert asked for"
        by_log[order.webhook_log_id].append(order)
    doubled = {log_id: len(found) for log_id, found in by_log.items() if len(found) > 1}
    assert doubled == {}, f"alerts with more than one order: {doubled}"
    assert set(by_log) <= {row.id for row in rows.values()}

    for row in rows.values():
        filled = [o for o in by_log.get(row.id, []) if o.status == "filled"]
        if row.status == "executed":
            assert [o.id for o in filled] == [row.order_id], row.alert_id
        else:
            assert row.status in ("ignored", "rejected"), (row.alert_id, row.status)
            assert filled == [], (row.alert_id, row.status, row.reason)

    for alert in sent:
        answer, row = answers[alert.alert_id], rows.get(alert.alert_id)
        if answer.status == 200 and answer.outcome in ("executed", "ignored", "rejected"):
            if row is None:  # refused before it was stored (stale): nothing to trade
                assert answer.outcome == "rejected", (alert.alert_id, answer)
                continue
            assert row.status == answer.outcome, (alert.alert_id, answer)
            if answer.outcome == "executed":
                assert row.order_id == answer.body["order"]["id"]
        elif answer.status == 202:
            assert row is not None, alert.alert_id  # accepted: stored, then finished once
        else:
            assert answer.status is None or answer.status == 503, (alert.alert_id, answer)

    # Positions match the fills, and the fills' entries match the orders.
    expected: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    entries = await PositionEntry.all()
    by_order: dict[int, list[PositionEntry]] = defaultdict(list)
    for entry in entries:
        assert entry.order_id is not None  # type: ignore[attr-defined]
        by_order[entry.order_id].append(entry)  # type: ignore[attr-defined]
    for order in orders:
        legs = by_order.get(order.id, [])
        if order.status != "filled":
            assert legs == [], f"entries for order {order.id} ({order.status})"
            continue
        expected[(order.bot_id, order.symbol)] += signed(order.side, order.filled_qty)  # type: ignore[attr-defined]
        assert sum(leg.qty for leg in legs) == order.filled_qty, order.id
        assert {leg.side for leg in legs} == {order.side}
    actual: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for position in await CurrentPosition.all():
        actual[(position.bot_id, position.symbol)] = signed(position.side, position.qty)  # type: ignore[attr-defined]
        own = [e for e in entries if e.position_id == position.id]
        opened = sum(e.qty for e in own if e.kind in ("open", "add"))
        closed = sum(e.qty for e in own if e.kind in ("reduce", "close"))
        assert opened - closed == position.qty, position.id
    assert {k: v for k, v in expected.items() if v} == {k: v for k, v in actual.items() if v}
    return {alert_id: row.status for alert_id, row in rows.items()}


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[str]:
    await Tortoise.init(config=tortoise_config(db_url))
    try:
        yield db_url
    finally:
        await Tortoise.close_connections()


async def make_bots() -> dict[str, BotConfig]:
    return {
        name: await sql_stores().bots.create_bot(
            BotSpec(name=name, strategy="signal", size="1", max_alerts_per_minute=0, **spec)
        )
        for name, spec in BOTS.items()
    }


@pytest.mark.parametrize("kill_after", [40, 120])
async def test_sigkill_in_a_burst_loses_and_doubles_nothing(
    database: str, tmp_path: Path, kill_after: int
) -> None:
    bots = await make_bots()
    alerts = burst_of(bots, 300, seed=kill_after)
    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(
        timeout=timeout, connector=aiohttp.TCPConnector(limit=64)
    ) as http:
        first = Server(database, tmp_path, "first")
        second = Server(database, tmp_path, "second")
        try:
            await first.start(http)
            answers = await fire(http, first, alerts, kill_after=kill_after)
            assert first.process is not None
            assert first.process.wait(timeout=10) == -signal.SIGKILL
            interrupted, pending = await unsettled()
            got = sum(a.status is not None for a in answers.values())
            assert kill_after <= got < len(alerts), "the kill did not land in the burst"
            assert interrupted > 0, "the kill left no alert half-done"
            assert all(a.status in (None, 200, 202, 503) for a in answers.values()), {
                a.status for a in answers.values()
            }

            # Restart on the same database: recovery settles what the crash left.
            await second.start(http)
            await wait_settled()
            first_outcomes = await check_books(alerts, answers)
            # One log line per interrupted alert, no more.
            await second.wait_output("alert recovered ", interrupted)
            assert second.output().count("alert recovered ") == interrupted

            # TradingView retries what got no 200: stored ones are duplicates, the rest run now.
            retried = [a for a in alerts if answers[a.alert_id].status != 200]
            again = await fire(http, second, retried)
            for sent in retried:
                answer = again[sent.alert_id]
                if sent.bot == STALE_BOT:  # the retry itself is too late now
                    assert answer.outcome == "rejected", (sent.alert_id, answer)
                    assert answer.body["reason"].startswith("stale"), answer
                elif sent.alert_id in first_outcomes:
                    assert answer.outcome == "duplicate", (sent.alert_id, answer)
                else:  # never stored: it runs now (202 when the queue makes it wait > 2 s)
                    assert answer.status in (200, 202), (sent.alert_id, answer)
                    answers[sent.alert_id] = answer
            await wait_settled()
            await check_books(alerts, answers)

            # And the whole burst once more: duplicates (or too late), nothing moves.
            before = await Order.all().count(), await PositionEntry.all().count()
            replay = await fire(http, second, alerts)
            for sent in alerts:
                expected = "rejected" if sent.bot == STALE_BOT else "duplicate"
                assert replay[sent.alert_id].outcome == expected, replay[sent.alert_id]
            assert (await Order.all().count(), await PositionEntry.all().count()) == before
            await check_books(alerts, answers)
        finally:
            first.stop()
            second.stop()
    for server in (first, second):
        assert "Traceback" not in server.output(), server.output()[-3000:]
    print(
        f"\nkilled after {kill_after} answers: {got} answered, {interrupted} alerts and "
        f"{pending} orders left unfinished, {len(retried)} retried"
    )


class LockingBroker(PaperBroker):
    """Another process's write, seen from the app: as the fill comes back, SQLite's write lock is
    taken from outside for `hold` seconds, so the fill's transaction (which also writes the
    alert's outcome) is still waiting when the 202 answer is decided."""

    def __init__(self, path: str, hold: float) -> None:
        super().__init__(SqlPaperLedger())
        self.path = path
        self.hold = hold

    async def place_order(self, request: OrderRequest) -> OrderFill:
        fill = await super().place_order(request)
        connection = sqlite3.connect(self.path, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")

        def release() -> None:
            connection.execute("COMMIT")
            connection.close()

        asyncio.get_running_loop().call_later(self.hold, release)
        return fill


async def test_an_alert_finishing_as_its_answer_times_out_keeps_its_outcome(
    start_world: Callable[..., Any], db_url: str
) -> None:
    broker = LockingBroker(db_url.removeprefix("sqlite://"), hold=0.8)
    world: World = await start_world(broker=broker, webhook_answer_timeout=0.3)
    await world.add_bot("demo")
    status, body = await world.send_alert(action="buy", price="100", qty="1", id="edge")
    assert (status, body["status"]) == (202, "accepted")
    await world.server.app[INTAKE].drain()
    row = await WebhookLog.get(alert_id="edge")
    order = await Order.get(webhook_log_id=row.id)
    assert (order.status, row.order_id) == ("filled", order.id)
    # The sender was answered 202; the row says what became of the alert, and is finished.
    assert (row.status, row.http_status, row.reason) == ("executed", 202, "open")
    assert row.finished_at is not None


# ---------------------------------------------------------------- recovery, step by step


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish(self, event: Event) -> None:
        self.events.append(event)

    def late(self) -> dict[int, LateExecution]:
        return {e.webhook_log_id: e for e in self.events if isinstance(e, LateExecution)}


class FilledSomewhere(PaperBroker):
    """A paper broker that also knows orders filled before the crash but never stored."""

    def __init__(self, filled: dict[str, OrderFill]) -> None:
        super().__init__(SqlPaperLedger())
        self.filled = filled

    async def fetch_order(self, client_order_id: str) -> OrderFill | None:
        return self.filled.get(client_order_id)


def service(broker: PaperBroker | None = None) -> tuple[TradingService, Recorder]:
    events = EventBus()
    recorder = Recorder()
    events.subscribe(recorder)
    return TradingService(
        broker or PaperBroker(SqlPaperLedger()), events, stores=sql_stores()
    ), recorder


def alert_recovery(trading: TradingService, **options: Any) -> AlertRecovery:
    """Start-up recovery as the assembly builds it: over the stores, with the approvals."""
    stores = sql_stores()
    approvals = ApprovalService(trading, trading.events, stores=stores)
    return AlertRecovery(trading, trading.events, stores=stores, approvals=approvals, **options)


async def stored_alert(
    bot: BotConfig,
    alert_id: str,
    *,
    status: str = "received",
    age: float = 30.0,
    **fields: Any,
) -> int:
    """A webhook-log row as the intake leaves it when the process dies before finishing."""
    received = datetime.now(UTC) - timedelta(seconds=age)
    fields.setdefault("action", "buy")
    fields.setdefault("symbol", "BTCUSDT")
    fields.setdefault("price", "100")
    alert = {"id": alert_id, "passphrase": "***", **fields}
    return await sql_stores().alerts.insert_webhook_log(
        bot_id=bot.id,
        body=json.dumps(alert),
        alert=alert,
        alert_id=alert_id,
        symbol=fields["symbol"],
        action=fields["action"],
        dedup_key=f"{bot.id}:{alert_id}",
        status=status,
        http_status=202 if status == "accepted" else 0,
        received_at=received,
    )


async def pending_order(bot: BotConfig, log_id: int, client_order_id: str, age: float) -> int:
    """The order row an execution writes before calling the broker."""
    order_id = await sql_stores().orders.create_order(NewOrder(
        client_order_id=client_order_id, bot_id=bot.id, symbol="BTCUSDT", side="buy",
        qty=Decimal(2), price=Decimal(100), broker="paper", intent="open", reason="signal",
        webhook_log_id=log_id,
    ))  # fmt: skip
    await Order.filter(id=order_id).update(created_at=datetime.now(UTC) - timedelta(seconds=age))
    return order_id


async def signal_bot(name: str = "demo", **spec: Any) -> BotConfig:
    values: dict[str, Any] = {"symbols": ["BTCUSDT"], "strategy": "signal", "size": "1",
                              "direction": "both", "max_entries": 3}  # fmt: skip
    values.update(spec)
    return await sql_stores().bots.create_bot(BotSpec(name=name, **values))


async def test_recovery_executes_fresh_alerts_follows_orders_and_rejects_stale_ones(
    database: str,
) -> None:
    bot = await signal_bot(symbols=["BTCUSDT", "ETHUSDT"])
    paused = await signal_bot("sleepy", symbols=["ETHUSDT"])
    await sql_stores().bots.set_paused("sleepy", True)
    fresh = await stored_alert(
        bot, "fresh", symbol="ETHUSDT", sl="2%", tp="4%", tp1="1%", tp1_share="50"
    )
    accepted = await stored_alert(bot, "slow", status="accepted", qty="2")
    never_sent = await pending_order(bot, accepted, "tb-never-sent", age=60)
    filled_log = await stored_alert(bot, "filled", qty="3", age=20)
    await pending_order(bot, filled_log, "tb-filled-unstored", age=60)
    fired = datetime.now(UTC) - timedelta(seconds=400)
    stale = await stored_alert(bot, "stale", age=400, time=f"{fired:%Y-%m-%dT%H:%M:%SZ}")
    asleep = await stored_alert(paused, "asleep", symbol="ETHUSDT")
    young = await stored_alert(bot, "young", age=1)
    finished = await stored_alert(bot, "done")
    await sql_stores().alerts.update_webhook_log(
        finished, status="executed", finished_at=datetime.now(UTC)
    )

    fill = OrderFill("tb-filled-unstored", "ex-9", Decimal(3), Decimal(101), Decimal("0.3"),
                     "USDT", datetime.now(UTC))  # fmt: skip
    trading, recorder = service(FilledSomewhere({"tb-filled-unstored": fill}))
    recovery = alert_recovery(trading, grace=timedelta(seconds=10))
    report = await recovery.run_once()

    rows = {row.id: row for row in await WebhookLog.all()}
    orders = {o.webhook_log_id: o for o in await Order.all()}
    # Fresh, no order: executed now, through the service, with its stored levels.
    assert rows[fresh].status == "executed", rows[fresh].reason
    assert rows[fresh].reason == "open (recovered after a restart)"
    assert rows[fresh].order_id == orders[fresh].id and orders[fresh].status == "filled"
    # A pending order the broker never got: failed, and the alert is not executed again.
    assert (await Order.get(id=never_sent)).status == "failed"
    assert rows[accepted].status == "rejected" and rows[accepted].order_id is None
    assert "never reached the broker" in (rows[accepted].reason or "")
    # A pending order the broker did fill: stored by reconciliation, the alert follows it.
    assert orders[filled_log].status == "filled"
    assert rows[filled_log].status == "executed"
    assert rows[filled_log].order_id == orders[filled_log].id
    # Stale and paused: rejected as interrupted, nothing traded, owners told.
    assert rows[stale].status == "rejected"
    assert (rows[stale].reason or "").startswith("interrupted by a restart; stale after 4")
    assert rows[asleep].status == "rejected"
    assert rows[asleep].reason == "interrupted by a restart; bot sleepy is paused"
    assert stale not in orders and asleep not in orders
    # Too young to be sure no live process holds it: left for a later pass.
    assert rows[young].status == "received" and report.waiting == {young: report.retry_at}
    assert rows[finished].status == "executed" and finished not in orders
    for log_id in (fresh, accepted, filled_log, stale, asleep):
        assert rows[log_id].finished_at is not None
    assert set(recorder.late()) == {fresh, accepted, filled_log, stale, asleep}
    assert recorder.late()[stale].status == "rejected"

    # The fresh alert's buy (the bot's size, the alert's stops) and the fill found at the broker.
    positions = {p.symbol: p for p in await sql_stores().positions.list_positions()}
    assert (positions["ETHUSDT"].qty, positions["ETHUSDT"].sl) == (Decimal(1), Decimal(98))
    stored = await sql_stores().positions.load_position(bot.id, "ETHUSDT")
    assert stored is not None and len(stored.take_profits) == 1
    assert (positions["BTCUSDT"].side, positions["BTCUSDT"].qty) == ("long", Decimal(3))

    # A second pass (a later start) finds nothing more to do.
    again = await alert_recovery(trading, grace=timedelta(seconds=10)).run_once()
    assert again.recovered == [] and list(again.waiting) == [young]
    assert await Order.all().count() == 3


async def test_an_alert_of_a_bot_deleted_before_the_restart_is_not_executed(
    database: str,
) -> None:

    bot = await signal_bot("gone")
    log_id = await stored_alert(bot, "orphan")
    assert await sql_stores().bots.soft_delete_bot(bot.id)
    trading, _ = service()
    await alert_recovery(trading, grace=timedelta(seconds=10)).run_once()
    row = await WebhookLog.get(id=log_id)
    assert row.status == "rejected" and "its bot no longer exists" in (row.reason or "")
    assert await Order.all().count() == 0


async def test_an_interrupted_close_is_settled_before_other_alerts_on_its_position(
    database: str,
) -> None:
    bot = await signal_bot()
    trading, _ = service()
    opened = await trading.execute_alert(bot, parse_alert(b"buy BTCUSDT qty=2 price=100"))
    assert opened.status == "executed"
    reduce = await stored_alert(bot, "reduce", action="sell", qty="1")  # arrived first
    close = await stored_alert(bot, "close", action="close")
    # The crash came while the close was at the broker: its order pending, the position claimed.
    stored = await sql_stores().positions.load_position(bot.id, "BTCUSDT")
    assert stored is not None
    claim = Claim(stored.committed_id, stored.version, "tb-closing", datetime.now(UTC), 60)
    closing = await sql_stores().orders.create_order(NewOrder(
        client_order_id="tb-closing", bot_id=bot.id, symbol="BTCUSDT", side="sell",
        qty=Decimal(2), price=Decimal(100), broker="paper", intent="close", reason="signal",
        webhook_log_id=close,
    ), claim=claim)  # fmt: skip
    recovery = alert_recovery(trading, grace=timedelta(seconds=10))

    # Too recent to tell whether the broker has it: both wait (the reduce is not refused as
    # "already being closed").
    report = await recovery.run_once()
    assert set(report.waiting) == {reduce, close}
    assert {row.status for row in await WebhookLog.all()} == {"received"}
    assert await Order.all().count() == 2

    await Order.filter(id=closing).update(created_at=datetime.now(UTC) - timedelta(seconds=30))
    report = await recovery.run_once()
    assert report.waiting == {}
    assert (await Order.get(id=closing)).status == "failed"
    assert (await WebhookLog.get(id=close)).status == "rejected"
    assert (await WebhookLog.get(id=reduce)).status == "executed"
    [position] = await sql_stores().positions.list_positions()
    assert (position.side, position.qty) == ("long", Decimal(1))


async def test_start_up_settles_what_the_last_run_left_and_tells_the_owner(
    start_world: Callable[..., Any], db_url: str
) -> None:
    await Tortoise.init(config=tortoise_config(db_url))
    bot = await signal_bot()
    fresh = await stored_alert(bot, "fresh", age=20, qty="2")
    stale = await stored_alert(bot, "stale", age=90, qty="5")
    await Tortoise.close_connections()

    world: World = await start_world(telegram=True)
    assert world.telegram is not None
    owner = Chat(world.telegram, OWNER_ID)
    # Settled before the first request is served.
    _, positions = await world.get("/positions")
    assert [(p["side"], p["qty"]) for p in positions] == [("long", "2")]
    assert (await WebhookLog.get(id=fresh)).status == "executed"
    assert (await WebhookLog.get(id=stale)).status == "rejected"
    text = (await owner.wait_message(f"Alert #{stale}")).params["text"]
    assert re.search(r"interrupted by a restart; stale after 9\d s \(max_lag 60 s\)", text), text
    text = (await owner.wait_message(f"Alert #{fresh}")).params["text"]
    assert "executed: open (recovered after a restart)" in text
    # TradingView's retry of either is a duplicate.
    status, body = await world.post(bot.webhook_key, '{"action": "buy", "symbol": "BTCUSDT", '
                                    '"price": "100", "qty": "2", "id": "fresh"}')  # fmt: skip
    assert (status, body["status"]) == (200, "duplicate")


async def test_the_later_pass_takes_young_rows_once_they_are_old_enough(database: str) -> None:
    bot = await signal_bot()
    young = await stored_alert(bot, "young", age=0.2)
    trading, recorder = service()
    recovery = alert_recovery(trading, grace=timedelta(seconds=1))
    report = await recovery.start()
    assert list(report.waiting) == [young]
    deadline = time.monotonic() + 60
    while (await WebhookLog.get(id=young)).status != "executed":
        assert time.monotonic() < deadline, "the later pass never ran"
        await asyncio.sleep(0.05)
    await recovery.stop()
    assert set(recorder.late()) == {young}
    assert await Order.filter(status="filled").count() == 1


async def test_a_row_received_after_the_start_belongs_to_this_process(database: str) -> None:
    bot = await signal_bot()
    trading, _ = service()
    recovery = alert_recovery(
        trading, grace=timedelta(0), started_at=datetime.now(UTC) - timedelta(60)
    )
    mine = await stored_alert(bot, "mine", age=10)
    report = await recovery.run_once()
    assert report.recovered == [] and report.waiting == {}
    assert (await WebhookLog.get(id=mine)).status == "received"


async def test_two_recoveries_at_once_execute_an_alert_once(database: str) -> None:
    bot = await signal_bot(max_entries=100)
    log_ids = [await stored_alert(bot, f"a{n}", qty="1") for n in range(20)]
    # Two processes: their own services, locks and brokers, one database.
    one, events_one = service()
    two, events_two = service()
    reports = await asyncio.gather(alert_recovery(one).run_once(), alert_recovery(two).run_once())
    recovered = [r.log_id for report in reports for r in report.recovered]
    assert sorted(recovered) == log_ids  # each row by exactly one of them
    assert set(events_one.late()).isdisjoint(events_two.late())
    assert await Order.filter(status="filled").count() == 20
    for log_id in log_ids:
        assert await Order.filter(webhook_log_id=log_id).count() == 1
        assert (await WebhookLog.get(id=log_id)).status == "executed"
    [position] = await sql_stores().positions.list_positions()
    assert (position.qty, position.entries) == (Decimal(20), 20)
