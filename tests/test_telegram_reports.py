"""/pnl, /daily, /weekly, /performance computed from trade_history; /trades, /balance, /risk,
/alerts, /status, /health."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from db.models import TradeHistory
from tests.conftest import OWNER_ID, World
from tests.telegram_helpers import Chat
from trading.records import ClosedTradeRow
from trading.reports import by_day, by_week, performance

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # a Wednesday


def row(pnl: str, closed: datetime, bot: str = "demo", quote: str = "USDT") -> ClosedTradeRow:
    return ClosedTradeRow(
        bot=bot,
        symbol="BTCUSDT",
        quote=quote,
        side="long",
        qty=Decimal(1),
        pnl=Decimal(pnl),
        fees=Decimal("0.2"),
        opened_at=closed - timedelta(hours=2),
        closed_at=closed,
        reason="signal",
    )


def test_days_and_weeks_are_utc_calendar_buckets() -> None:
    trades = [
        row("10", NOW - timedelta(hours=1)),
        row("-4", NOW.replace(hour=0, minute=0)),  # today, first second
        row("5", NOW.replace(hour=0) - timedelta(seconds=1)),  # yesterday, last second
        row("7", NOW - timedelta(days=3)),  # Sunday: last week
    ]
    days = by_day(trades, 7, NOW)
    assert [d.totals.pnl.get("USDT") for d in days[:4]] == [
        Decimal(6), Decimal(5), None, Decimal(7),
    ]  # fmt: skip
    assert days[0].totals.trades == 2 and days[0].totals.win_rate == Decimal(50)
    weeks = by_week(trades, 2, NOW)
    assert weeks[0].start == datetime(2026, 11, 23, tzinfo=UTC)
    assert weeks[0].totals.pnl == {"USDT": Decimal(11)}
    assert weeks[1].totals.pnl == {"USDT": Decimal(7)}


def test_performance_per_bot_with_drawdown_and_profit_factor() -> None:
    trades = [
        row("10", NOW - timedelta(hours=5)),
        row("-6", NOW - timedelta(hours=4)),
        row("-2", NOW - timedelta(hours=3)),
        row("4", NOW - timedelta(hours=2)),
        row("1", NOW - timedelta(hours=1), bot="eth"),
    ]
    demo, eth = performance(trades)
    assert (demo.bot, demo.trades, demo.wins, demo.pnl) == ("demo", 4, 2, Decimal(6))
    assert demo.profit_factor == Decimal(14) / Decimal(8)
    assert demo.max_drawdown == Decimal(8)
    assert (demo.best, demo.worst) == (Decimal(10), Decimal(-6))
    assert eth.profit_factor is None and eth.win_rate == Decimal(100)


async def reports_world(start_world: Callable[..., Any]) -> tuple[World, Chat]:
    world: World = await start_world(telegram=True)
    bot = await world.add_bot("demo")
    eth = await world.add_bot("eth", symbols=["ETHUSDT"])
    now = datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    history = [
        (bot.id, "12.50", max(now - timedelta(minutes=5), today)),
        (bot.id, "-2.50", now - timedelta(days=1, minutes=1)),
        (eth.id, "3.00", now - timedelta(days=10)),
        (eth.id, "-1.00", now - timedelta(days=40)),
    ]
    for n, (bot_id, pnl, closed) in enumerate(history, start=1):
        await TradeHistory.create(
            position_id=n, bot_id=bot_id, symbol="BTCUSDT", quote="USDT", side="long",
            qty=Decimal(1), entry_price=Decimal(100), exit_price=Decimal(110),
            pnl=Decimal(pnl), fees=Decimal("0.2"), entries=1,
            opened_at=closed - timedelta(hours=1), closed_at=closed, reason="signal",
        )  # fmt: skip
    assert world.telegram is not None
    await world.telegram.wait_for("setMyCommands")
    return world, Chat(world.telegram, OWNER_ID)


async def test_pnl_daily_weekly_performance_in_the_chat(start_world: Callable[..., Any]) -> None:
    _world, owner = await reports_world(start_world)
    pnl = await owner.say("/pnl", "PnL after fees")
    lines = re.sub(r"<[^>]+>", "", pnl).split("\n")
    assert any(line.startswith("Today") and "+12.50 USDT" in line for line in lines)
    assert any(line.startswith("7 days") and "+10.00 USDT" in line for line in lines)
    assert any(line.startswith("30 days") and "+13.00 USDT" in line for line in lines)
    assert any("All time" in line and "+12.00 USDT" in line and "4 tr" in line for line in lines)

    daily = await owner.say("/daily", "Last 7 days")
    assert "2 trade(s) · +10.00 USDT" in daily
    assert "Last 3 days" in await owner.say("/daily 3", "Last 3 days")
    assert "give a number" in await owner.say("/daily 999", "⚠️")
    weekly = await owner.say("/weekly", "Last 4 weeks")
    assert "trade(s)" in weekly

    perf = await owner.say("/performance", "Performance by bot")
    assert perf.index("demo") < perf.index("eth")  # best first
    assert "<b>demo</b> +10.00 USDT · 2 trades · 50% won" in perf
    assert "PF 5.00" in perf


async def test_trades_balance_risk_and_alerts(start_world: Callable[..., Any]) -> None:
    world, owner = await reports_world(start_world)
    trades = await owner.say("/trades 2", "Last 2 trade(s)")
    assert "+12.50" in trades and "−2.50" in trades and "m ago" in trades
    assert "give a number" in await owner.say("/trades many", "⚠️")
    balance = await owner.say("/balance", "Balance")
    assert "USDT  10,012.00  10,012.00" in balance  # 10,000 + realized 12
    risk = await owner.say("/risk", "Risk limits")
    assert "max entries 3" in risk and "not configured yet" in risk
    await world.send_alert(action="buy", price="100")
    for _ in range(3):  # one sender's identical refusals: one row that says how many
        await world.post("x" * 20, "buy BTCUSDT")
    alerts = await owner.say("/alerts", "webhook request")
    assert "🚫" in alerts and "refused ×3 · unknown webhook key" in alerts
    assert "✅" in alerts and "demo buy BTCUSDT" in alerts


async def test_status_and_health(start_world: Callable[..., Any]) -> None:
    world, owner = await reports_world(start_world)
    await world.send_alert(action="buy", price="100")
    status = await owner.say("/status", "Tradebot")
    assert "Bots 2 · paused 0 · broker paper" in status
    assert "Open positions 1" in status and "polling as @tradebot_test_bot" in status
    health = await owner.say("/health", "Health")
    assert "Health: ok" in health and "db" in health and "broker" in health
