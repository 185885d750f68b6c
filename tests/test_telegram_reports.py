"""/pnl (and /pnl chart), /daily, /weekly, /performance from the account figures (SPEC §6a:
periods from the account's daily_reset_hour); /trades, /balance, /risk, /alerts, /status,
/health."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from db.models import TradeHistory
from db.stores import sql_stores
from handlers.telegram.formatting.figures import money
from tests.conftest import OWNER_ID, World
from tests.fakes.memory_risk import snapshot
from tests.telegram_helpers import Chat
from trading.figures import equity_at, period_starts

RESET_HOUR = 5


async def reports_world(
    start_world: Callable[..., Any], *, reset_hour: int = RESET_HOUR
) -> tuple[World, Chat, datetime]:
    """Four closed trades (12 USDT in all) and two equity snapshots; `now` as the product saw it."""
    world: World = await start_world(telegram=True)
    bot = await world.add_bot("demo")
    eth = await world.add_bot("eth", symbols=["ETHUSDT"])
    stores = sql_stores()
    await stores.risk.save_account_rules({"daily_reset_hour": str(reset_hour)})
    now = datetime.now(UTC)
    starts = period_starts(now, reset_hour)
    day, month = starts["day"], starts["month"]
    assert day is not None and month is not None
    history = [
        (bot.id, "BTCUSDT", "12.50", max(now - timedelta(minutes=5), day)),  # today
        (bot.id, "BTCUSDT", "-2.50", day - timedelta(seconds=1)),  # the day before
        # last month, and more than 7 days ago
        (eth.id, "ETHUSDT", "3.00", min(month - timedelta(seconds=1), now - timedelta(days=8))),
        (eth.id, "ETHUSDT", "-1.00", now - timedelta(days=40)),
    ]
    for n, (bot_id, symbol, pnl, closed) in enumerate(history, start=1):
        await TradeHistory.create(
            position_id=n, bot_id=bot_id, symbol=symbol, quote="USDT", side="long",
            qty=Decimal(1), entry_price=Decimal(100), exit_price=Decimal(110),
            pnl=Decimal(pnl), fees=Decimal("0.2"), entries=1,
            opened_at=closed - timedelta(hours=1), closed_at=closed, reason="signal",
        )  # fmt: skip
    for moment, equity in (
        (now - timedelta(days=60), "10000"),
        (day - timedelta(minutes=1), "10005"),
    ):
        await stores.risk.add_snapshot(snapshot("USDT", moment, equity))
    assert world.telegram is not None
    await world.telegram.wait_for("setMyCommands")
    return world, Chat(world.telegram, OWNER_ID), now


def row_cells(text: str, label: str) -> list[str]:
    """The cells of the table row that starts with `label` (tags removed)."""
    for line in re.sub(r"<[^>]+>", "", text).split("\n"):
        if line.startswith(label):
            return line[len(label) :].split()
    raise AssertionError(f"no row {label!r} in {text!r}")


async def test_pnl_shows_each_period_with_realized_unrealized_and_equity(
    start_world: Callable[..., Any],
) -> None:
    _world, owner, now = await reports_world(start_world)
    text = await owner.say("/pnl", "PnL")
    assert f"days from {RESET_HOUR:02d}:00 UTC" in text
    # equity = 10000 + 12 realized; the peak is the equity now (above both snapshots)
    assert "<b>USDT</b> equity 10,012.00 · peak 10,012.00 · drawdown 0.00%" in text
    history = await sql_stores().reports.closed_trades()
    trades = [(t.pnl, t.closed_at) for t in history]
    snaps = await sql_stores().risk.snapshots("USDT")
    starts = period_starts(now, RESET_HOUR)
    for period, label in (("day", "Today"), ("week", "Week"), ("month", "Month"), ("all", "All")):
        start = starts[period]  # type: ignore[index]
        inside = [pnl for pnl, closed in trades if start is None or closed >= start]
        realized, unrealized, change, count = row_cells(text, label)[-4:]
        assert realized == money(sum(inside, Decimal(0)), signed=True), (label, text)
        assert unrealized == "+0.00" and count == str(len(inside))
        before = Decimal(10000) if start is None else equity_at(snaps, start)
        assert change == ("–" if before is None else money(Decimal(10012) - before, signed=True))
    assert row_cells(text, "Today")[:3] == ["+12.50", "+0.00", "+7.00"]  # 10012 − 10005
    assert row_cells(text, "All time") == ["+12.00", "+0.00", "+12.00", "4"]
    assert "usage: /pnl" in await owner.say("/pnl yesterday", "⚠️")


async def test_pnl_chart_sends_the_equity_curve_as_a_picture(
    start_world: Callable[..., Any],
) -> None:
    _world, owner, _now = await reports_world(start_world)
    owner.fake.push_message(OWNER_ID, "/pnl chart")
    [photo] = await owner.fake.wait_for("sendPhoto", timeout=20)
    assert photo.params["chat_id"] == OWNER_ID
    assert photo.params["photo"].data.startswith(b"\x89PNG") and photo.params["photo"].size > 10_000
    caption = photo.params["caption"]
    assert "Equity and drawdown" in caption
    assert "USDT: 10,000.00 → 10,012.00 · max drawdown 0.00%" in caption


async def test_nothing_yet_is_said_politely(start_world: Callable[..., Any]) -> None:
    world: World = await start_world(telegram=True)
    assert world.telegram is not None
    await world.telegram.wait_for("setMyCommands")
    owner = Chat(world.telegram, OWNER_ID)
    assert "No PnL yet" in await owner.say("/pnl", "💰")
    assert "No equity history yet" in await owner.say("/pnl chart", "📈")
    assert "No closed trades yet" in await owner.say("/performance", "🏆")
    assert "0 trade(s)" in await owner.say("/daily", "Last 7 days")


async def test_daily_weekly_performance_in_the_chat(start_world: Callable[..., Any]) -> None:
    _world, owner, now = await reports_world(start_world)
    daily = await owner.say("/daily", "Last 7 days")
    # today and the day before (both within 7 days from 05:00 UTC)
    assert "2 trade(s) · +10.00 USDT · from 05:00 UTC" in daily
    today = now.astimezone(UTC) - timedelta(hours=RESET_HOUR)
    assert row_cells(daily, today.strftime("%a %d %b"))[:3] == ["1", "tr", "100%"]
    assert "Last 3 days" in await owner.say("/daily 3", "Last 3 days")
    assert "give a number" in await owner.say("/daily 999", "⚠️")
    weekly = await owner.say("/weekly", "Last 4 weeks")
    assert "trade(s)" in weekly and "from 05:00 UTC" in weekly

    perf = await owner.say("/performance", "Performance by bot and symbol")
    assert perf.index("demo") < perf.index("eth")  # best first
    assert "<b>demo</b> BTCUSDT +10.00 USDT · 2 trades · 50% won" in perf
    assert "avg win +12.50 · avg loss −2.50 · PF 5.00" in perf
    assert "best +12.50 · worst −2.50 · fees 0.40 · held 1h 00m" in perf
    assert "<b>eth</b> ETHUSDT +2.00 USDT · 2 trades · 50% won" in perf
    assert "PF 3.00" in perf
    today_only = await owner.say("/performance day", "Performance by bot and symbol")
    assert "demo" in today_only and "eth" not in today_only and "today" in today_only
    assert "day, week, month, all" in await owner.say("/performance year", "⚠️")


async def test_trades_balance_risk_and_alerts(start_world: Callable[..., Any]) -> None:
    world, owner, _now = await reports_world(start_world)
    trades = await owner.say("/trades 2", "Last 2 trade(s)")
    assert "+12.50" in trades and "−2.50" in trades and "m ago" in trades
    assert "give a number" in await owner.say("/trades many", "⚠️")
    balance = await owner.say("/balance", "Balance")
    assert "USDT  10,012.00  10,012.00" in balance  # 10,000 + realized 12
    risk = await owner.say("/risk", "Risk rules")  # tests/test_risk_front_ends.py: the rest
    assert "<b>daily_reset_hour</b> 05:00 UTC" in risk and "Kill switch off" in risk
    await world.send_alert(action="buy", price="100")
    for _ in range(3):  # one sender's identical refusals: one row that says how many
        await world.post("x" * 20, "buy BTCUSDT")
    alerts = await owner.say("/alerts", "webhook request")
    assert "🚫" in alerts and "refused ×3 · unknown webhook key" in alerts
    assert "✅" in alerts and "demo buy BTCUSDT" in alerts


async def test_status_and_health(start_world: Callable[..., Any]) -> None:
    world, owner, _now = await reports_world(start_world)
    await world.send_alert(action="buy", price="100")
    status = await owner.say("/status", "Tradebot")
    assert "Bots 2 · paused 0 · broker paper" in status
    assert "Open positions 1" in status and "polling as @tradebot_test_bot" in status
    health = await owner.say("/health", "Health")
    assert "Health: ok" in health and "db" in health and "broker" in health
