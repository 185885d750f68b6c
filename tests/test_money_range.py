"""Every money computation works for every value the NUMERIC(38,12) columns can hold (issue 12,
item 3): quantities and prices from 1e-12 to 10^26 − 1e-12, amounts of either sign.

Pure functions get many Hypothesis examples (unrealized PnL, closing any position, the paper
broker's fee and price, what the chat and the read API write); the real product gets a few
extreme positions and trades stored straight into its SQLite database: `GET /positions` and
`/trades` answer 200 with decimal strings, `/positions`, `/status`, `/pnl`, `/trades` answer in the
chat, and every position closes, from the chat or `TradingService.close_position`, with its trade
recorded (a PnL too large for the column saturated at its limit, never refused)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tortoise import Tortoise

from db import sql
from db.models import CurrentPosition, Instrument, TradeHistory
from db.stores import sql_stores
from handlers.telegram.formatting.figures import money, price, qty
from handlers.telegram.formatting.positions import format_positions, format_trades
from handlers.telegram.formatting.reports import format_pnl
from handlers.web.keys import TRADING
from tests.conftest import OWNER_ID, World
from tests.processes import migrated_postgres
from tests.telegram_helpers import Chat
from tests.test_properties_telegram import CRASH_MARKS, telegram_html_problem
from trading import money as rule
from trading.brokers.paper import PaperBroker
from trading.equity import Equity
from trading.figures import CurrencyFigures, PeriodFigures, Stats, performance, totals
from trading.positions import Fill, OrderPlan, PositionState, apply_fill, plan_order
from trading.records import ClosedTradeRow
from trading.views import PositionView, TradeView

LIMIT = rule.LIMIT  # 99999999999999999999999999.999999999999
FLOOR = rule.FLOOR  # exactly −LIMIT (the expression `-LIMIT` rounds to -1E+26 by default)
TINY = Decimal("1e-12")
EXTREMES = [
    TINY,
    Decimal("0.000000000002"),
    Decimal(1),
    Decimal(65000),
    Decimal(99999999999999),  # the issue's quantity
    Decimal("12345678901234567890.123456789012"),  # 32 digits: more than the default 28
    Decimal("1e25"),
    Decimal("99999999999999999999999999.999999999998"),  # LIMIT − 1e-12
    LIMIT,
]
T0 = datetime(2026, 11, 1, tzinfo=UTC)

PROPERTIES = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def _scaled(draw: st.DrawFn) -> Decimal:
    """A positive column value of any size, log-uniformly: 1 to 38 digits, 12 decimals at most."""
    digits = draw(st.integers(1, 38))
    mantissa = draw(st.integers(10 ** (digits - 1), 10**digits - 1))
    exponent = draw(st.integers(-12, 26 - digits))
    return Decimal(f"{mantissa}E{exponent}")


stored = st.one_of(
    st.sampled_from(EXTREMES),
    _scaled(),
    st.decimals(min_value=TINY, max_value=LIMIT, places=12, allow_nan=False, allow_infinity=False),
)
prices = st.one_of(st.just(Decimal(0)), stored)  # a zero price fits the column too
signed_stored = st.one_of(st.just(Decimal(0)), stored, stored.map(Decimal.copy_negate))
sides = st.sampled_from(["long", "short"])


def round12(value: Fraction) -> Decimal:
    """The exact rational rounded half-even to 12 places (an oracle independent of `decimal`)."""
    return Decimal(f"{round(value * 10**12)}E-12")


def fits_column(value: Decimal) -> bool:
    return value.is_finite() and FLOOR <= value <= LIMIT and value == round12(Fraction(value))


def state(side: str, qty: Decimal, avg: Decimal, realized: Decimal, fees: Decimal) -> PositionState:
    return PositionState(
        side=side,  # type: ignore[arg-type]
        qty=qty,
        avg_price=avg,
        entries=1,
        opened_qty=qty,
        opened_at=T0,
        realized_pnl=realized,
        fees=fees,
    )


# ---------------------------------------------------------------- the arithmetic


@PROPERTIES
@given(sides, stored, prices, prices)
def test_unrealized_pnl_is_exact_for_any_stored_position_and_price(
    side: str, quantity: Decimal, avg: Decimal, last: Decimal
) -> None:
    pnl = state(side, quantity, avg, Decimal(0), Decimal(0)).unrealized_pnl(last)
    sign = 1 if side == "long" else -1
    assert pnl == round12((Fraction(last) - Fraction(avg)) * Fraction(quantity) * sign)


@PROPERTIES
@given(sides, stored, prices, signed_stored, stored, prices, st.sampled_from(["0", "10", "25"]))
def test_any_stored_position_closes_and_every_stored_figure_fits_its_column(
    side: str,
    quantity: Decimal,
    avg: Decimal,
    realized: Decimal,
    fees: Decimal,
    last: Decimal,
    slippage_bps: str,
) -> None:
    position = state(side, quantity, avg, realized, fees)
    plan = plan_order(
        position, "close", qty=None, default_qty=None, direction="both", max_entries=1
    )
    assert isinstance(plan, OrderPlan)
    # the whole quantity, to the last of its 38 digits: no dust left open
    assert (plan.intent, plan.qty, plan.close_qty, plan.open_qty) == (
        "close",
        quantity,
        quantity,
        0,
    )
    broker = PaperBroker(None, fee_bps=Decimal(10), slippage_bps=Decimal(slippage_bps))  # type: ignore[arg-type]
    fill_price = broker.fill_price(plan.side, last)
    fee = broker.fee(plan.qty, fill_price)
    assert fits_column(fill_price) and fits_column(fee) and fee >= 0

    outcome = apply_fill(position, Fill(plan.side, plan.qty, fill_price, fee, T0))
    assert outcome.position is None and outcome.closed is not None
    trade = outcome.closed
    stored_values = [trade.qty, trade.entry_price, trade.exit_price, trade.pnl, trade.fees]
    for leg in outcome.legs:
        stored_values += [leg.qty, leg.price, leg.fee, leg.gross_pnl]
    assert all(fits_column(v) for v in stored_values), stored_values
    assert (trade.qty, trade.entry_price, trade.exit_price) == (quantity, avg, fill_price)

    sign = 1 if side == "long" else -1
    gross = round12((Fraction(fill_price) - Fraction(avg)) * Fraction(quantity) * sign)
    exact = Fraction(realized) + Fraction(gross) - Fraction(fee)
    if abs(exact) <= LIMIT:
        assert trade.pnl == round12(exact)
    else:  # too large for the column: saturated, with its sign, and still closed
        assert trade.pnl == (LIMIT if exact > 0 else FLOOR) and rule.at_limit(trade.pnl)


@PROPERTIES
@given(sides, stored, stored, stored)
def test_an_entry_that_would_not_fit_is_refused_and_a_reversal_still_closes(
    side: str, quantity: Decimal, avg: Decimal, order: Decimal
) -> None:
    position = state(side, quantity, avg, Decimal(0), Decimal(0))
    same, opposite = ("buy", "sell") if side == "long" else ("sell", "buy")
    add = plan_order(position, same, qty=order, default_qty=None, direction="both", max_entries=9)
    if Fraction(quantity) + Fraction(order) > LIMIT:
        assert not isinstance(add, OrderPlan) and "too large to store" in add.reason
    else:
        assert isinstance(add, OrderPlan) and add.qty == order
    with rule.wide():
        beyond = quantity + LIMIT
    reverse = plan_order(
        position, opposite, qty=beyond, default_qty=None, direction="both", max_entries=1
    )
    assert isinstance(reverse, OrderPlan) and reverse.close_qty == quantity
    assert reverse.open_qty <= LIMIT


@PROPERTIES
@given(
    st.one_of(
        signed_stored, signed_stored.map(lambda v: v * v), signed_stored.map(lambda v: v * 100)
    )
)
def test_chat_figures_are_short_for_any_value(value: Decimal) -> None:
    for text in (money(value), money(value, 6, signed=True), qty(value), price(value.copy_abs())):
        assert 0 < len(text) <= 40, text
    if rule.at_limit(value) and value.copy_abs() == LIMIT:
        assert money(value).startswith(("≥", "≤"))  # saturated: "at least this much"


@PROPERTIES
@given(sides, stored, prices, signed_stored, stored, st.one_of(st.none(), prices))
def test_views_and_chat_show_any_stored_position(
    side: str, quantity: Decimal, avg: Decimal, realized: Decimal, fees: Decimal, last: Any
) -> None:
    position = state(side, quantity, avg, realized, fees)
    view = PositionView(
        id=1, bot="b", symbol="BTCUSDT", side=side, qty=quantity, avg_price=avg, entries=1,
        opened_at=T0, sl=TINY, tp=LIMIT, trail=None, realized_pnl=realized, fees=fees,
        last_price=last, unrealized_pnl=None if last is None else position.unrealized_pnl(last),
        quote="USDT",
    )  # fmt: skip
    dumped = view.model_dump(mode="json")
    for name in ("qty", "avg_price", "sl", "tp", "realized_pnl", "fees", "unrealized_pnl"):
        value = getattr(view, name)
        text = dumped[name]
        if value is None:
            assert text is None
            continue
        # a plain decimal string, every digit kept
        assert re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text) and Decimal(text) == value, text
    chat = format_positions([view] * 25, now=T0 + timedelta(hours=1))
    assert telegram_html_problem(chat) is None
    assert "cannot be shown" not in chat


@PROPERTIES
@given(st.lists(st.tuples(signed_stored, stored, stored), min_size=1, max_size=6))
def test_reports_add_up_exactly_whatever_the_trades(rows: list[tuple[Decimal, ...]]) -> None:
    trades = [
        ClosedTradeRow(
            bot=f"b{n % 2}", symbol="BTCUSDT", quote="USDT", side="long", qty=quantity, pnl=pnl,
            fees=fees, opened_at=T0, closed_at=T0 + timedelta(minutes=n), reason="signal",
        )
        for n, (pnl, quantity, fees) in enumerate(rows)
    ]  # fmt: skip
    summary = totals(trades)
    assert summary.pnl["USDT"] == sum((Fraction(t.pnl) for t in trades), Fraction(0))
    assert summary.fees["USDT"] == sum((Fraction(t.fees) for t in trades), Fraction(0))
    for bot in performance(trades):
        assert bot.pnl == sum((Fraction(t.pnl) for t in trades if t.bot == bot.bot), Fraction(0))
    realized, fees = summary.pnl["USDT"], summary.fees["USDT"]
    equity = Equity("USDT", LIMIT, realized, LIMIT**2, 1, LIMIT)
    period = PeriodFigures("all", None, realized, LIMIT**2, None, len(trades), 0, fees)
    figures = CurrencyFigures("USDT", equity, FLOOR, LIMIT, {"all": period})
    text = format_pnl(Stats(T0, 0, {"USDT": figures}, performance(trades)))
    assert telegram_html_problem(text) is None
    views = [
        TradeView(
            id=n, bot=t.bot, symbol=t.symbol, side="long", qty=t.qty, entry_price=LIMIT,
            exit_price=TINY, pnl=t.pnl, fees=t.fees, entries=1, opened_at=t.opened_at,
            closed_at=t.closed_at, reason="manual", quote="USDT",
        )
        for n, t in enumerate(trades)
    ]  # fmt: skip
    assert telegram_html_problem(format_trades(views, now=T0 + timedelta(days=1))) is None


def test_fit_saturates_what_no_column_holds_and_keeps_what_one_does() -> None:
    assert rule.fit(Decimal("1e30")) == LIMIT and rule.fit(Decimal("-1e30")) == FLOOR
    assert rule.fit(LIMIT) == LIMIT and rule.fit(Decimal("1.0000000000005")) == Decimal(1)
    assert rule.q12(Decimal("1e200")) == Decimal("1e200")  # too large to round: kept
    assert rule.ratio(Decimal(1), Decimal(0)) is None and rule.percent(LIMIT, TINY) is not None
    assert rule.plain(Decimal("-0E-12")) == "0" and rule.plain(LIMIT) == str(LIMIT)
    assert money(LIMIT) == "≥1.00e+26" and money(FLOOR, signed=True) == "≤−1.00e+26"


# ---------------------------------------------------------------- the product, end to end

# (bot, symbol, side, qty, avg price, last price): the issue's position, then the corners
CASES = [
    ("issue", "BTCUSDT", "long", "99999999999999", "0.000000000001", None),  # ticked at 65000
    ("huge", "HUGEUSDT", "long", str(LIMIT), "0.000000000001", str(LIMIT)),
    ("tiny", "TINYUSDT", "long", "0.000000000001", str(LIMIT), "0.000000000001"),
    ("short", "SHORTUSDT", "short", str(LIMIT), str(LIMIT), "0.000000000001"),
    ("digits", "DIGUSDT", "long", "12345678901234567890.123456789012",
     "98765432109876.543210987654", "1.000000000001"),
]  # fmt: skip


async def store(model: type[Any], **values: Any) -> None:
    """Insert a row as a migration, the CLI or a hand edit could have: straight into the table
    (the lean SQL path), not through a model instance."""
    batch = sql.Batch()
    batch.insert(model, values)
    await sql.run(batch)


async def extreme_world(start_world: Callable[..., Any], **settings: Any) -> tuple[World, Chat]:
    world: World = await start_world(telegram=True, **settings)
    assert world.telegram is not None
    # an ordinary bot (opened first: the extreme rows leave the paper account no cash), whose
    # views must not suffer from theirs
    await world.add_bot("demo", symbols=["ETHUSDT"])
    status, answer = await world.send_alert("demo", action="buy", symbol="ETHUSDT", price="2000")
    assert status == 200 and answer["status"] == "executed", answer
    for name, symbol, side, quantity, avg, last in CASES:
        bot = await world.add_bot(name, symbols=[symbol])
        await store(
            CurrentPosition, bot_id=bot.id, symbol=symbol, quote="USDT", side=side,
            qty=Decimal(quantity), avg_price=Decimal(avg), opened_qty=Decimal(quantity),
            opened_at=T0, realized_pnl=FLOOR if name == "short" else Decimal(0),
            sl=TINY if name == "digits" else None, tp=LIMIT if name == "digits" else None,
        )  # fmt: skip
        base = {"base": symbol[:-4], "quote": "USDT"}
        await Instrument.get_or_create(symbol=symbol, defaults=base)
        if last is not None:
            await Instrument.filter(symbol=symbol).update(last_price=Decimal(last))
    for n, (pnl, fees, qty_, entry, exit_) in enumerate(
        [(LIMIT, LIMIT, LIMIT, TINY, LIMIT), (FLOOR, TINY, TINY, LIMIT, TINY)], start=1
    ):
        await store(
            TradeHistory, position_id=1000 + n, bot_id=world.bots["huge"].id, symbol="HUGEUSDT",
            quote="USDT", side="long", qty=qty_, entry_price=entry, exit_price=exit_, pnl=pnl,
            fees=fees, entries=1, opened_at=T0,
            closed_at=datetime.now(UTC) - timedelta(minutes=n), reason="signal",
        )  # fmt: skip
    # the issue: a tick at 65000 after the absurd buy
    status, answer = await world.send_alert("issue", action="tick", price="65000")
    assert status == 200, answer
    await world.telegram.wait_for("setMyCommands")
    return world, Chat(world.telegram, OWNER_ID)


def expected_unrealized(side: str, quantity: str, avg: str, last: str) -> Decimal:
    sign = 1 if side == "long" else -1
    return round12((Fraction(last) - Fraction(avg)) * Fraction(quantity) * sign)


async def test_extreme_stored_positions_are_listed_shown_and_closed(
    start_world: Callable[..., Any],
) -> None:
    world, owner = await extreme_world(start_world)

    status, positions = await world.get("/positions")
    assert status == 200, positions
    by_bot = {p["bot"]: p for p in positions}
    assert set(by_bot) == {case[0] for case in CASES} | {"demo"}
    assert (by_bot["demo"]["qty"], by_bot["demo"]["unrealized_pnl"]) == ("1", "0")
    for name, _symbol, side, quantity, avg, last in CASES:
        shown = by_bot[name]
        assert Decimal(shown["qty"]) == Decimal(quantity) and "E" not in shown["qty"]
        assert Decimal(shown["avg_price"]) == Decimal(avg)
        pnl = expected_unrealized(side, quantity, avg, last or "65000")
        assert shown["unrealized_pnl"] == rule.plain(pnl)
    assert by_bot["digits"]["tp"] == str(LIMIT) and by_bot["short"]["realized_pnl"] == f"-{LIMIT}"
    status, trades = await world.get("/trades")
    assert status == 200 and {t["pnl"] for t in trades} == {str(LIMIT), f"-{LIMIT}"}

    replies = [
        await owner.say("/positions", "Open positions (6)"),
        await owner.say("/status", "Open positions 6"),
        await owner.say("/pnl", "PnL after fees"),
        await owner.say("/trades", "Last 2 trade(s)"),
        await owner.say("/performance", "Performance by bot"),
    ]
    for reply in replies:
        assert telegram_html_problem(reply) is None, reply
        assert not any(mark in reply for mark in CRASH_MARKS) and "cannot be shown" not in reply
    assert "ETHUSDT" in replies[0] and "1 @ 2,000.00 → 2,000.00" in replies[0]
    assert "≥1.00e+26" in replies[3] and "≤−1.00e+26" in replies[3]  # saturated, marked

    # close the issue's position from the chat, every other one through the service
    issue = await CurrentPosition.get(symbol="BTCUSDT")
    closed = await owner.say(f"/close {issue.id}", "Closed")
    assert "BTCUSDT" in closed and "PnL" in closed, closed
    trading = world.server.app[TRADING]
    for name, symbol, *_ in CASES[1:]:
        result = await trading.close_position(world.bots[name], symbol, reason="manual")
        assert result.status == "executed", (name, result)
    assert [p.symbol for p in await CurrentPosition.all()] == ["ETHUSDT"]

    recorded = {t.symbol: t for t in await TradeHistory.filter(reason="manual")}
    assert set(recorded) == {case[1] for case in CASES}
    for trade in recorded.values():
        assert all(fits_column(v) for v in (trade.qty, trade.pnl, trade.fees, trade.exit_price))
    assert recorded["BTCUSDT"].qty == Decimal(99999999999999)
    assert recorded["HUGEUSDT"].pnl == LIMIT  # ~1e52 of profit: saturated, not refused
    assert recorded["SHORTUSDT"].pnl == LIMIT  # −LIMIT realized + ~1e52 gross
    assert recorded["TINYUSDT"].pnl == round12(
        (Fraction(TINY) - Fraction(LIMIT)) * Fraction(TINY)
    )  # about −1e14; the fee rounds to 0
    assert recorded["DIGUSDT"].qty == Decimal("12345678901234567890.123456789012")

    status, trades = await world.get("/trades?limit=50")
    assert status == 200 and len(trades) == 2 + len(CASES)
    pnl = await owner.say("/pnl", "PnL after fees")
    assert telegram_html_problem(pnl) is None and "All time" in pnl


async def test_one_unreadable_row_degrades_that_row_only(start_world: Callable[..., Any]) -> None:
    """A value no column type allows (written by hand on SQLite) leaves its own row out of the
    lists, logged; every other bot's position and trade is still listed and shown."""
    world, owner = await extreme_world(start_world)
    broken = await CurrentPosition.get(symbol="TINYUSDT")
    connection = Tortoise.get_connection("default")
    await connection.execute_query(
        'UPDATE "current_positions" SET "qty" = ? WHERE "id" = ?', ["not a number", broken.id]
    )
    await connection.execute_query('UPDATE "trade_history" SET "pnl" = ? WHERE "id" = 1', ["x"])
    status, positions = await world.get("/positions")
    listed = {p["bot"] for p in positions}
    assert status == 200 and listed == {c[0] for c in CASES} - {"tiny"} | {"demo"}
    status, trades = await world.get("/trades")
    assert status == 200 and len(trades) == 1
    for command, expect in (
        ("/positions", "Open positions (5)"),
        ("/status", "Open positions 5"),
        ("/pnl", "PnL after fees"),
        ("/trades", "Last 1 trade(s)"),
    ):
        reply = await owner.say(command, expect)
        assert not any(mark in reply for mark in CRASH_MARKS), reply
    # entries in that currency are refused saying why (never an internal error): by the risk
    # check when a rule is in force (no limit can be checked), else by the paper broker (no
    # balance can be read); exits go on
    _, body = await world.send_alert("demo", symbol="ETHUSDT", action="close", price="100")
    assert body["status"] == "executed", body
    _, body = await world.send_alert("demo", symbol="ETHUSDT", action="buy", qty="1", price="100")
    assert body["status"] == "rejected"
    assert body["reason"].startswith("the paper account's USDT balance cannot be read")
    await sql_stores().risk.save_account_rules({"max_open_positions": "50"})
    _, body = await world.send_alert("demo", symbol="ETHUSDT", action="buy", qty="1", price="100")
    assert body["status"] == "rejected"
    assert body["reason"].startswith("risk: the account's USDT figures cannot be read")


@pytest.fixture
async def postgres_url(tmp_path: Path) -> AsyncIterator[str]:
    """A migrated PostgreSQL database of its own (NUMERIC(38,12) refuses what does not fit)."""
    async with migrated_postgres("tradebot_money", tmp_path) as url:
        yield url


async def test_on_postgres_extreme_positions_are_listed_and_closed(
    start_world: Callable[..., Any], postgres_url: str
) -> None:
    """PostgreSQL refuses a value that does not fit NUMERIC(38,12) (SQLite keeps any text): the
    saturated PnL is what lets these closes be stored at all."""
    world, owner = await extreme_world(start_world, database_url=postgres_url)
    status, positions = await world.get("/positions")
    assert status == 200 and len(positions) == len(CASES) + 1
    assert "Open positions (6)" in await owner.say("/positions", "Open positions")
    trading = world.server.app[TRADING]
    for name, symbol, *_ in CASES:
        result = await trading.close_position(world.bots[name], symbol, reason="manual")
        assert result.status == "executed", (name, result)
    recorded = {t.symbol: t.pnl for t in await TradeHistory.filter(reason="manual")}
    assert recorded["HUGEUSDT"] == recorded["SHORTUSDT"] == LIMIT
    status, trades = await world.get("/trades?limit=50")
    assert status == 200 and len(trades) == 2 + len(CASES)
    assert "PnL after fees" in await owner.say("/pnl", "PnL after fees")
