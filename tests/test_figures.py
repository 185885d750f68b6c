"""Account figures (SPEC §6a, trading/figures.py through `ReportService`): calendar periods from
the account's `daily_reset_hour`, realized / unrealized / equity change per period and currency,
and performance per bot and symbol, all checked against arithmetic done by hand, to the cent and
beyond (exact Decimal sums)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tests.fakes.memory_risk import MemoryRiskStore, OpenPositionRow, snapshot
from tests.fakes.memory_stores import MemoryReportStore, memory_stores
from trading.account_book import AccountBook
from trading.figures import by_day, by_week, parse_period, period_start, period_starts
from trading.records import ClosedTradeRow
from trading.reports import ReportService

D = Decimal


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# ---------------------------------------------------------------- periods


@pytest.mark.parametrize(
    ("now", "hour", "day", "week", "month"),
    [
        # a Wednesday afternoon, midnight reset
        ("2026-11-25 15:00", 0, "2026-11-25 00:00", "2026-11-23 00:00", "2026-11-01 00:00"),
        # reset at 20:00: today's day has not started yet, so it started yesterday at 20:00
        ("2026-11-25 15:00", 20, "2026-11-24 20:00", "2026-11-23 20:00", "2026-11-01 20:00"),
        # Monday before the reset hour: still last week's (and Sunday's) period
        ("2026-11-30 03:00", 5, "2026-11-29 05:00", "2026-11-23 05:00", "2026-11-01 05:00"),
        # Monday at the reset hour: a new day and a new week
        ("2026-11-30 05:00", 5, "2026-11-30 05:00", "2026-11-30 05:00", "2026-11-01 05:00"),
        # the 1st one second before the reset hour: still November's month
        ("2026-12-01 04:59:59", 5, "2026-11-30 05:00", "2026-11-30 05:00", "2026-11-01 05:00"),
        ("2026-12-01 05:00", 5, "2026-12-01 05:00", "2026-11-30 05:00", "2026-12-01 05:00"),
        # New Year's night before the reset hour: last year's December
        ("2027-01-01 02:00", 5, "2026-12-31 05:00", "2026-12-28 05:00", "2026-12-01 05:00"),
    ],
)
def test_periods_start_at_the_reset_hour(
    now: str, hour: int, day: str, week: str, month: str
) -> None:
    moment = at(now)
    assert period_start("day", moment, hour) == at(day)
    assert period_start("week", moment, hour) == at(week)
    assert period_start("month", moment, hour) == at(month)
    assert period_start("all", moment, hour) is None
    assert period_starts(moment, hour) == {
        "day": at(day), "week": at(week), "month": at(month), "all": None,
    }  # fmt: skip


def test_periods_are_utc_whatever_the_clock_zone() -> None:
    local = datetime(2026, 12, 1, 6, 30, tzinfo=timezone(timedelta(hours=2)))  # 04:30 UTC
    assert period_start("day", local, 5) == at("2026-11-30 05:00")
    assert period_start("month", local, 5) == at("2026-11-01 05:00")
    assert parse_period(" Week ") == "week"
    with pytest.raises(ValueError, match="day, week, month, all"):
        parse_period("year")


def trade(
    pnl: str,
    closed: str,
    *,
    bot: str = "demo",
    symbol: str = "BTCUSDT",
    quote: str = "USDT",
    fees: str = "0.2",
    held: timedelta = timedelta(hours=1),
) -> ClosedTradeRow:
    closed_at = at(closed)
    return ClosedTradeRow(
        bot=bot, symbol=symbol, quote=quote, side="long", qty=D(1), pnl=D(pnl), fees=D(fees),
        opened_at=closed_at - held, closed_at=closed_at, reason="signal",
    )  # fmt: skip


def test_days_and_weeks_are_buckets_from_the_reset_hour() -> None:
    now = at("2026-11-25 15:00")  # Wednesday
    trades = [
        trade("10", "2026-11-25 05:00"),  # today's first second (reset 05:00)
        trade("-4", "2026-11-25 04:59:59"),  # yesterday's last second
        trade("7", "2026-11-23 05:00"),  # Monday 05:00: this week
        trade("5", "2026-11-23 04:59"),  # Monday before 05:00: last week (Sunday's day)
    ]
    days = by_day(trades, 4, now, reset_hour=5)
    assert [d.start for d in days] == [at(f"2026-11-{n} 05:00") for n in (25, 24, 23, 22)]
    assert [d.totals.pnl.get("USDT") for d in days] == [D(10), D(-4), D(7), D(5)]
    weeks = by_week(trades, 2, now, reset_hour=5)
    assert [w.start for w in weeks] == [at("2026-11-23 05:00"), at("2026-11-16 05:00")]
    assert weeks[0].totals.pnl == {"USDT": D(13)} and weeks[0].totals.trades == 3
    assert weeks[1].totals.pnl == {"USDT": D(5)}
    # with a midnight reset the same trades fall elsewhere
    midnight = by_day(trades, 3, now)
    assert [d.totals.pnl.get("USDT") for d in midnight] == [D(6), None, D(12)]


# ---------------------------------------------------------------- the account, by hand

NOW = at("2026-11-25 15:00")  # Wednesday; reset hour 05:00 below
TRADES = [
    trade("12.345678", "2026-11-25 07:30", fees="0.123", held=timedelta(seconds=5400)),  # day
    trade("-2.50", "2026-11-25 04:59", held=timedelta(seconds=7140)),  # yesterday, this week
    trade("-1.005", "2026-11-23 05:00", fees="0.1", held=timedelta(hours=1)),  # week start
    trade("3.00", "2026-11-23 04:59:59", bot="other", symbol="ETHUSDT", fees="0.3",
          held=timedelta(days=1)),  # last week, this month
    trade("0.01", "2026-11-01 05:00", fees="0.01", held=timedelta(days=1)),  # month start
    trade("-7.00", "2026-11-01 04:00", fees="0.5", held=timedelta(days=2)),  # October's
    trade("0", "2026-10-01 00:00", held=timedelta(seconds=60)),  # breakeven: neither won nor lost
    trade("0.00012345", "2026-11-25 10:00", bot="btcbot", symbol="ETHBTC", quote="BTC",
          fees="0.000001"),
]  # fmt: skip
POSITIONS = {
    "USDT": [
        # long 0.5 from 60000 at 60123.45: +61.725, 1.25 realized by a partial close
        OpenPositionRow(1, "BTCUSDT", "long", D("0.5"), D(60000), D("1.25"), D("60123.45")),
        # short 2 from 3000 at 3010.5: −21, −0.4 realized
        OpenPositionRow(2, "ETHUSDT", "short", D(2), D(3000), D("-0.4"), D("3010.5")),
    ]
}
SNAPSHOTS = [
    snapshot("USDT", at("2026-10-01 00:00"), "10000"),
    snapshot("USDT", at("2026-11-01 05:00"), "10100"),  # at the month's start: counts
    snapshot("USDT", at("2026-11-20 12:00"), "10150"),  # the peak
    snapshot("USDT", at("2026-11-23 04:00"), "10010"),  # last before the week's start
    snapshot("USDT", at("2026-11-25 05:00"), "10030"),  # at the day's start: counts
    snapshot("USDT", at("2026-11-25 06:00"), "10040"),  # after it: not the day's start
]


async def starting_balance(quote: str) -> Decimal:
    return {"USDT": D(10000), "BTC": D(1)}[quote]


def service(trades: list[ClosedTradeRow] | None = None) -> tuple[ReportService, MemoryRiskStore]:
    reports = MemoryReportStore(TRADES if trades is None else trades)
    risk = MemoryRiskStore(
        reports, rules={"daily_reset_hour": "5"}, positions=POSITIONS, snapshots=SNAPSHOTS
    )
    stores = dataclasses.replace(memory_stores(reports=reports), risk=risk)  # type: ignore[arg-type]
    book = AccountBook(risk, starting_balance)
    return ReportService(stores=stores, book=book, clock=lambda: NOW), risk


async def test_equity_drawdown_and_periods_per_currency_by_hand() -> None:
    reports, _risk = service()
    stats = await reports.stats()
    assert stats.at == NOW and stats.reset_hour == 5
    assert list(stats.currencies) == ["BTC", "USDT"]  # never added together
    usdt = stats.currencies["USDT"]
    # 10000 + closed 4.850678 + open positions' realized 0.85 + unrealized 40.725
    assert usdt.now == D("10046.425678")
    assert usdt.equity.unrealized == D("40.725") and usdt.open_realized == D("0.85")
    assert usdt.peak == D(10150) and usdt.drawdown == D("103.574322")
    day, week, month, ever = (usdt.periods[p] for p in ("day", "week", "month", "all"))
    assert (day.start, week.start, month.start, ever.start) == (
        at("2026-11-25 05:00"), at("2026-11-23 05:00"), at("2026-11-01 05:00"), None,
    )  # fmt: skip
    assert [p.realized for p in (day, week, month, ever)] == [
        D("12.345678"), D("8.840678"), D("11.850678"), D("4.850678"),
    ]  # fmt: skip
    assert [p.trades for p in (day, week, month, ever)] == [1, 3, 5, 7]
    assert [p.wins for p in (day, week, month, ever)] == [1, 1, 3, 3]
    assert [p.fees for p in (day, week, month, ever)] == [
        D("0.123"), D("0.423"), D("0.733"), D("1.433"),
    ]  # fmt: skip
    assert {p.unrealized for p in (day, week, month, ever)} == {D("40.725")}
    assert [p.equity_change for p in (day, week, month, ever)] == [
        D("16.425678"),  # − 10030 (the snapshot at 05:00 today)
        D("36.425678"),  # − 10010 (Monday 04:00, the last before Monday 05:00)
        D("-53.574322"),  # − 10100 (the 1st at 05:00)
        D("46.425678"),  # − the starting balance 10000
    ]
    btc = stats.currencies["BTC"]  # no snapshot yet: the starting balance is the broker's
    assert btc.now == D("1.00012345") and btc.peak == btc.now and btc.drawdown == 0
    assert btc.periods["day"].realized == D("0.00012345")
    assert btc.periods["day"].equity_change is None  # nothing sampled at the day's start
    assert btc.periods["all"].equity_change == D("0.00012345")

    data = stats.to_json()["currencies"]["USDT"]
    assert data["equity"] == "10046.425678" and data["peak"] == "10150"
    assert data["drawdown"] == "1.02"  # 103.574322 / 10150 = 1.0204...%
    assert data["drawdown_amount"] == "103.574322"
    assert data["periods"]["day"] == {
        "start": "2026-11-25T05:00:00+00:00", "realized": "12.345678", "unrealized": "40.725",
        "equity_change": "16.425678", "trades": 1, "wins": 1, "fees": "0.123",
    }  # fmt: skip
    assert data["periods"]["all"]["start"] is None
    assert stats.to_json()["currencies"]["BTC"]["periods"]["week"]["equity_change"] is None


async def test_performance_per_bot_and_symbol_by_hand() -> None:
    reports, _risk = service()
    stats = await reports.stats()
    other, demo, btc = stats.performance  # best PnL first
    assert (other.bot, other.symbol, other.quote, other.pnl) == ("other", "ETHUSDT", "USDT", D(3))
    assert (btc.bot, btc.symbol, btc.quote) == ("btcbot", "ETHBTC", "BTC")
    assert (demo.bot, demo.symbol, demo.trades, demo.wins, demo.losses) == (
        "demo", "BTCUSDT", 6, 2, 3,
    )  # fmt: skip
    # 12.345678 − 2.50 − 1.005 + 0.01 − 7.00 + 0
    assert demo.pnl == D("1.850678") and demo.fees == D("1.133")
    assert demo.gross_profit == D("12.355678") and demo.gross_loss == D("10.505")
    assert demo.avg_win == D("6.177839")  # 12.355678 / 2
    assert demo.avg_loss is not None and demo.avg_loss.quantize(D("1e-12")) == D(
        "-3.501666666667"
    )  # 10.505 / 3
    assert (demo.best, demo.worst) == (D("12.345678"), D(-7))
    # 5400 + 7140 + 3600 + 86400 + 172800 + 60 seconds over 6 trades
    assert demo.avg_duration_seconds == 45900
    assert demo.max_drawdown == D("10.495")  # 0 → −7 → −6.99 → −7.995 → −10.495 → +1.85
    assert demo.win_rate.quantize(D("0.01")) == D("33.33")
    assert other.profit_factor is None and other.avg_loss is None and other.win_rate == 100

    [_, row, _] = stats.to_json()["performance"]
    assert row == {
        "bot": "demo", "symbol": "BTCUSDT", "quote": "USDT", "trades": 6, "wins": 2, "losses": 3,
        "win_rate": "33.33", "profit_factor": "1.1762",  # 12.355678 / 10.505 = 1.17617...
        "avg_win": "6.177839", "avg_loss": "-3.501666666667", "best": "12.345678",
        "worst": "-7", "avg_duration_seconds": 45900, "pnl": "1.850678", "fees": "1.133",
        "max_drawdown": "10.495",
    }  # fmt: skip


async def test_one_period_scopes_performance_to_its_trades() -> None:
    reports, _risk = service()
    week = await reports.pnl("week")
    assert list(week.currencies["USDT"].periods) == ["week"]
    assert week.scope == "week" and week.to_json()["performance_period"] == "week"
    [demo, btc] = week.performance  # `other` closed last week
    assert (demo.bot, demo.trades, demo.pnl) == ("demo", 3, D("8.840678"))
    assert btc.quote == "BTC"
    today = await reports.performance("day")
    assert [(p.bot, p.pnl) for p in today] == [
        ("demo", D("12.345678")),
        ("btcbot", D("0.00012345")),
    ]
    assert [p.bot for p in await reports.performance()] == ["other", "demo", "btcbot"]


async def test_daily_and_weekly_follow_the_account_reset_hour() -> None:
    reports, risk = service()
    days = await reports.daily(3)
    assert [d.start for d in days] == [at(f"2026-11-{n} 05:00") for n in (25, 24, 23)]
    assert days[0].totals.pnl == {"USDT": D("12.345678"), "BTC": D("0.00012345")}
    assert days[1].totals.pnl == {"USDT": D("-2.50")}
    weeks = await reports.weekly(2)
    assert weeks[0].start == at("2026-11-23 05:00") and weeks[0].totals.trades == 4
    risk.set_rules(daily_reset_hour="0")
    days = await reports.daily(1)
    assert days[0].start == at("2026-11-25 00:00")
    assert days[0].totals.pnl == {"USDT": D("9.845678"), "BTC": D("0.00012345")}


async def test_the_equity_curve_has_the_running_peak_and_ends_now() -> None:
    reports, _risk = service()
    [curve] = await reports.equity_curve("USDT", since=at("2026-11-20 00:00"))
    assert [p.equity for p in curve.points] == [
        D(10150), D(10010), D(10030), D(10040), D("10046.425678"),
    ]  # fmt: skip
    assert {p.peak for p in curve.points} == {D(10150)}
    assert curve.points[1].drawdown_pct.quantize(D("0.0001")) == D("1.3793")  # 140 / 10150
    assert curve.points[-1].at == NOW
    btc, usdt = await reports.equity_curve()
    assert (btc.quote, len(btc.points), len(usdt.points)) == ("BTC", 1, 7)
    assert usdt.points[0].peak == D(10000) and usdt.points[1].peak == D(10100)


async def test_nothing_yet_is_empty_not_an_error() -> None:
    reports = MemoryReportStore([])
    risk = MemoryRiskStore(reports)
    stores = dataclasses.replace(memory_stores(reports=reports), risk=risk)  # type: ignore[arg-type]
    service_ = ReportService(stores=stores, book=AccountBook(risk, starting_balance))
    stats = await service_.stats()
    assert stats.empty and stats.to_json()["currencies"] == {}
    assert await service_.equity_curve() == []
    assert await service_.performance() == []
