"""Issue 12: nothing one alert says may stick in a price series and break other alerts.

A bar opening in the future (beyond 5 minutes of clock skew) is never stored, and one stored
by an older version does not halt the bot after a restart; an interval that is not a real bar
length up to one month is a `400` naming the field and, behind the door, never an internal
error; series are per bot, so another bot's bars never change my strategy's decisions (SPEC §5).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from tortoise import Tortoise
from tortoise.exceptions import IntegrityError

from db.models import PriceBar, TradingBot
from db.stores import sql_stores
from tests.conftest import World, now_iso
from tests.processes import POSTGRES_ADMIN, postgres_or_skip
from trading.alerts import Alert, build_alert
from trading.backtest.history import load_chart
from trading.series import (
    MAX_FUTURE,
    Bar,
    PriceSeries,
    bar_end,
    floor_time,
    interval_seconds,
    is_interval,
    normalize_interval,
)
from trading.strategy_runner import StrategyRunner

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 6, 11, 13, 37, 21, tzinfo=UTC)
MONTH = timedelta(days=31)
T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=500)
FALLING = [100 - i for i in range(15)]  # RSI(14) is 0 on the 15th bar: an rsi bot buys


def hour(i: int) -> str:
    return (T0 + timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- intervals: strict and total

VALID = sorted(
    {normalize_interval(f"{n}") for n in range(1, 1441)}
    | {f"{n}S" for n in range(1, 60)}
    | {f"{n}D" for n in range(1, 32)}
    | {f"{n}W" for n in range(1, 5)}
    | {"1M"}
)
interval_like = st.from_regex(
    r"\s?[+-]?[0-9]{0,40}(\.[0-9]{1,3})?(S|s|M|m|MIN|min|H|h|D|d|W|w|T|R|ſ)?\s?", fullmatch=True
)
anything = st.one_of(
    interval_like,
    st.text(max_size=12),
    st.integers(),
    st.integers(min_value=10**50, max_value=10**400),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.binary(max_size=8),
)


@settings(max_examples=400, deadline=None)
@given(raw=anything)
def test_any_interval_normalizes_to_a_bar_of_at_most_a_month_or_is_a_value_error(raw: Any) -> None:
    try:
        normal = normalize_interval(raw)
    except ValueError as exc:
        assert "must be a TradingView bar length up to one month" in str(exc)
        assert len(str(exc)) < 300  # a 5,000-digit input is not echoed back
        return
    assert is_interval(normal) and normalize_interval(normal) == normal
    assert normal in VALID and len(normal) <= 4
    seconds = interval_seconds(normal)
    assert (seconds is None) == (normal == "1M")
    assert seconds is None or 1 <= seconds <= MONTH.total_seconds()
    opened = floor_time(NOW, normal)
    assert opened <= NOW < bar_end(opened, normal) <= opened + MONTH


@settings(max_examples=200, deadline=None)
@example(interval="4W", at=datetime(1, 1, 2, tzinfo=UTC))  # opens before year 1
@example(interval="1D", at=datetime(9999, 12, 31, 12, tzinfo=UTC))  # closes after 9999
@given(
    interval=st.sampled_from(VALID),
    at=st.datetimes(
        min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
    ),
)
def test_bar_arithmetic_at_the_edges_of_time_is_a_value_error_or_right(
    interval: str, at: datetime
) -> None:
    try:
        opened = floor_time(at, interval)
    except ValueError:
        return  # the bar would open before year 1
    assert opened <= at
    try:
        assert bar_end(opened, interval) > at
    except ValueError:
        assert at.year == 9999  # the bar would close after year 9999


# ---------------------------------------------------------------- bars in the future


def clock() -> datetime:
    return NOW


@settings(max_examples=200, deadline=None)
@given(
    interval=st.sampled_from(VALID),
    ahead=st.timedeltas(min_value=MAX_FUTURE + timedelta(microseconds=1), max_value=MONTH * 12),
    history=st.integers(min_value=0, max_value=4),
)
def test_a_bar_opening_beyond_now_plus_the_skew_is_never_taken(
    interval: str, ahead: timedelta, history: int
) -> None:
    series = PriceSeries("BTCUSDT", interval, capacity=10, clock=clock)
    past = [Bar(NOW - timedelta(days=40 * (history - i)), D(1), D(1), D(1), D(1))
            for i in range(history)]  # fmt: skip
    series.load(past)
    before = (series.bars, series.forming, series.closes.tolist())
    future = NOW + ahead
    event, _ = series.close_bar(future, D(5))
    assert event == "future"
    expected = "future" if floor_time(future, interval) > NOW + MAX_FUTURE else None
    event, _ = series.update_forming(D(5), future)
    if expected:
        assert event == "future"
        assert (series.bars, series.forming, series.closes.tolist()) == before
    poisoned = Bar(future, D(9), D(9), D(9), D(9))
    series.load([*past, poisoned])
    assert series.bars == past
    assert series.extend([poisoned]) == [] and series.bars == past
    # A bar within the skew is a real bar (a sender's clock a little ahead).
    assert series.close_bar(NOW + MAX_FUTURE, D(7))[0] == "closed"


def test_a_series_only_exists_for_a_real_interval() -> None:
    for bad in ("99999999999M", "1" * 30, "3M", "1h", ""):
        with pytest.raises(ValueError):
            PriceSeries("BTCUSDT", bad)


# ---------------------------------------------------------------- through the door


async def feed(world: World, bot: str, prices: list[int], start: int = 0, **extra: Any) -> list:
    answers = []
    for i, price in enumerate(prices):
        status, answer = await world.send_alert(
            bot,
            action="tick",
            price=str(price),
            interval="60",
            bar_time=hour(start + i),
            time=now_iso(),
            **extra,
        )
        assert status == 200, answer
        answers.append(answer)
    return answers


async def test_future_bar_times_and_bogus_intervals_are_400_and_everything_goes_on(
    world: World,
) -> None:
    await world.add_bot("a", strategy="rsi", size="1", direction="long", interval="60")
    await world.add_bot("b", strategy="rsi", size="1", direction="long")  # trades what it gets
    far = datetime.now(UTC) + timedelta(minutes=6)
    for bar_time in ("9999-12-31T00:00:00Z", far.strftime("%Y-%m-%dT%H:%M:%SZ")):
        status, answer = await world.send_alert(
            "b", action="tick", price="100", interval="60", bar_time=bar_time, time=now_iso()
        )
        assert (status, answer.get("field")) == (400, "bar_time"), answer
    for interval in ("99999999999M", "1" * 30, "3M", "1T", "0"):
        status, answer = await world.send_alert(
            "b", action="tick", price="100", interval=interval, bar_time=hour(0), time=now_iso()
        )
        assert (status, answer.get("field")) == (400, "interval"), answer
        assert "must be a TradingView bar length up to one month" in answer["reason"]
    # Later alerts of the same bot, with or without an interval, are answered normally.
    status, answer = await world.send_alert(
        "b", action="tick", price="100", bar_time=hour(0), time=now_iso()
    )
    assert (status, answer["status"]) == (200, "ignored"), answer
    # Both bots still trade on that symbol: the 15th falling bar buys.
    for bot in ("a", "b"):
        answers = await feed(world, bot, FALLING)
        assert [a["status"] for a in answers] == ["ignored"] * 14 + ["executed"], answers
        assert not any("late" in a["reason"] for a in answers)
    limit = datetime.now(UTC) + MAX_FUTURE
    assert not await PriceBar.filter(open_time__gt=limit).exists()
    assert {row.interval for row in await PriceBar.all()} == {"60"}


async def test_a_future_bar_stored_by_an_older_version_does_not_halt_the_bot(
    start_world: Callable[..., Any],
) -> None:
    first: World = await start_world()
    bot = await first.add_bot("r", strategy="rsi", size="1", direction="long", interval="60")
    await feed(first, "r", FALLING[:10])
    await first.http.close()
    await first.server.close()
    # What one tick with bar_time 9999-12-31 left in `price_bars` before this fix.
    path = first.settings.database_url.removeprefix("sqlite://")
    with sqlite3.connect(path) as db:
        [(stamp,)] = db.execute("SELECT max(open_time) FROM price_bars").fetchall()
        poison = "9999-12-31" + stamp[10:]  # the stored format of a time
        for owner in (bot.id, None):
            db.execute(
                "INSERT INTO price_bars (bot_id, symbol, interval, open_time, open, high, low, "
                "close, volume, closed, source) VALUES (?, 'BTCUSDT', '60', ?, 1, 1, 1, 1, 0, 1, "
                "'alert')",
                (owner, poison),
            )

    second: World = await start_world()  # a restart: series are loaded from the table
    second.bots["r"] = bot
    answers = await feed(second, "r", FALLING[10:], start=10)
    assert not any("late" in a["reason"] for a in answers), answers
    assert answers[-1]["status"] == "executed"  # bar 15 is judged on the 14 before it
    assert not await PriceBar.filter(open_time__gt=datetime.now(UTC)).exists()  # deleted


# ---------------------------------------------------------------- behind the door


def construct(**fields: Any) -> Alert:
    """An alert as the runner might get one from a caller that skipped the door's checks."""
    fields.setdefault("action", "tick")
    fields.setdefault("symbol", "BTCUSDT")
    return Alert.model_construct(**fields)


def tick(price: int, i: int, interval: str | None = "60") -> Alert:
    data = {"action": "tick", "symbol": "BTCUSDT", "price": str(price), "bar_time": hour(i)}
    if interval:
        data["interval"] = interval
    return build_alert(data)


async def test_the_runner_turns_what_the_door_refuses_into_notes_and_forgets_it(
    world: World,
) -> None:
    bot = await world.add_bot("r", strategy="rsi", size="1")  # no interval of its own
    runner = StrategyRunner(series=sql_stores().series)
    bad = [
        construct(price=D(100), interval="99999999999M", bar_time=T0),
        construct(price=D(100), interval="1" * 30, bar_time=T0),
        construct(price=D(100), interval="12M", bar_time=T0),
        construct(price=D(100), interval="60", bar_time=datetime(9999, 12, 31, tzinfo=UTC)),
        construct(price=D(100), interval="60", time=datetime(9999, 12, 31, tzinfo=UTC)),
        construct(price=D(100), interval="4W", bar_time=datetime(1, 1, 2, tzinfo=UTC)),
    ]
    for alert in bad:
        decision = await runner.decide(bot, alert, None)
        assert decision.signal is None and decision.reason, alert
    assert all(is_interval(interval) for _, _, interval in runner._series)
    assert all(is_interval(interval) for interval in runner._bot_intervals.values())
    assert not await PriceBar.filter(open_time__gt=datetime.now(UTC) + MAX_FUTURE).exists()
    # The same bot's next alerts work; one without an interval trades the one it last got.
    for i, price in enumerate(FALLING):
        decision = await runner.decide(bot, tick(price, i), None)
    assert decision.signal == "buy", decision
    decision = await runner.decide(bot, build_alert({"action": "buy", "symbol": "BTCUSDT"}), None)
    assert decision.signal == "buy", decision  # RSI 0 on its 60-minute series


async def test_a_bot_whose_stored_interval_is_no_longer_valid_is_told_so(world: World) -> None:
    bot = await world.add_bot("r", strategy="rsi", size="1", interval="60")
    follower = await world.add_bot("s", strategy="signal", size="1", interval="60")
    await TradingBot.filter(id__in=[bot.id, follower.id]).update(interval="3M")  # valid before
    for action in ("tick", "buy"):
        status, answer = await world.send_alert(
            "r", action=action, price="100", interval="60", bar_time=hour(0), time=now_iso()
        )
        assert (status, answer["status"]) == (200, "ignored"), answer
        assert "the bot's interval 3M is not valid any more" in answer["reason"]
        assert "give it a new one" in answer["reason"]
    # A bot that does what its alerts say needs no series: it still trades.
    status, answer = await world.send_alert("s", action="buy", price="100", time=now_iso())
    assert (status, answer["status"]) == (200, "executed"), answer
    # The bars its alerts brought still draw.
    chart = await load_chart(sql_stores().series, "BTCUSDT", bot="r")
    assert chart.interval == "60" and chart.bars


async def test_a_failed_store_leaves_no_half_updated_series(world: World) -> None:
    bot = await world.add_bot("r", strategy="rsi", size="1", interval="60")
    runner = StrategyRunner(series=sql_stores().series)
    for i in range(3):
        await runner.decide(bot, tick(FALLING[i], i), None)
    connection = Tortoise.get_connection("default")
    await connection.execute_script(
        "CREATE TRIGGER no_bars BEFORE INSERT ON price_bars "
        "BEGIN SELECT RAISE(ABORT, 'disk says no'); END;"
    )
    with pytest.raises(IntegrityError):
        await runner.decide(bot, tick(50, 3), None)
    await connection.execute_script("DROP TRIGGER no_bars;")
    # Memory never runs ahead of the table: the bar that was not stored is not in the series.
    series = await runner.series(bot.id, "BTCUSDT", "60")
    assert series.closes.tolist() == [100.0, 99.0, 98.0]
    for i in range(3, 15):
        decision = await runner.decide(bot, tick(FALLING[i], i), None)
    assert decision.signal == "buy"
    stored = await sql_stores().series.load_bars(bot.id, "BTCUSDT", "60", 100)
    assert [float(b.close) for b in stored] == [float(p) for p in FALLING]


# ---------------------------------------------------------------- series are per bot


async def test_another_bots_bars_never_change_my_strategy(world: World) -> None:
    """Bot b closes the same bars at other prices, and bot c a bar far ahead of mine: bot a
    trades exactly as if it were alone (SPEC §5: an alert's price moves its own bot's strategy).
    """
    for name in "abc":
        await world.add_bot(name, strategy="rsi", size="1", direction="long", interval="60")
    await feed(world, "c", [300], start=450)
    mine: list[dict] = []
    for i, price in enumerate(FALLING):
        mine += await feed(world, "a", [price], start=i)
        await feed(world, "b", [200 + 5 * i], start=i)  # the same bar, closed at another price
    assert [a["status"] for a in mine] == ["ignored"] * 14 + ["executed"], mine
    assert not any("late" in a["reason"] for a in mine)
    counts = {name: await PriceBar.filter(bot_id=world.bots[name].id).count() for name in "abc"}
    assert counts == {"a": 15, "b": 15, "c": 1}
    chart = await load_chart(sql_stores().series, "BTCUSDT", bot="a")
    assert [float(bar.close) for bar in chart.bars] == [float(p) for p in FALLING]
    assert [(f.kind, f.bot) for f in chart.fills] == [("open", "a")]
    chart = await load_chart(sql_stores().series, "BTCUSDT", bot="b")
    assert float(chart.bars[-1].close) == 270 and not chart.fills


async def test_the_series_cache_is_bounded_and_reloads_from_the_table(world: World) -> None:
    bots = [await world.add_bot(name, strategy="rsi", size="1", interval="60") for name in "abc"]
    runner = StrategyRunner(series=sql_stores().series, max_series=2)
    decisions: dict[int, list[str | None]] = {bot.id: [] for bot in bots}
    for i, price in enumerate(FALLING):
        for bot in bots:
            decision = await runner.decide(bot, tick(price, i), None)
            decisions[bot.id].append(decision.signal)
    assert len(runner._series) <= 2
    for signals in decisions.values():
        assert signals == [None] * 14 + ["buy"]


# ---------------------------------------------------------------- the upgrade


OLDER_SCHEMA = """
import asyncio, sys
from aerich import Command
from db.config import tortoise_config

async def main(url, location):
    async with Command(tortoise_config(url), app="models", location=location) as command:
        await command.init()
        await command.upgrade(run_in_transaction=True)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def _upgrade_to(url: str, versions: int | None, tmp: Path) -> None:
    """Apply the first `versions` shipped migrations (the schema an older version ran), or all
    of them (`tradebot migrate`); in a process of its own, as Tortoise keeps one dialect's SQL
    per process."""
    env = {**os.environ, "TRADEBOT_DATABASE_URL": url}
    if versions is None:
        command = [sys.executable, "-m", "bot", "migrate"]
    else:
        dialect = "sqlite" if url.startswith("sqlite") else "postgres"
        folder = tmp / dialect / "models"
        folder.mkdir(parents=True)
        for path in sorted((ROOT / "db/migrations" / dialect / "models").glob("*.py"))[:versions]:
            shutil.copy(path, folder)
        command = [sys.executable, "-c", OLDER_SCHEMA, url, str(tmp / dialect)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


OLD_ROW = (
    "INSERT INTO price_bars (symbol, interval, open_time, open, high, low, close, volume, "
    "closed, source) VALUES ('BTCUSDT', '60', '2024-01-01 00:00:00+00:00', 1, 2, 1, 2, 0, "
    "{true}, 'alert')"
)
TWO_BOTS = (
    "INSERT INTO price_bars (bot_id, symbol, interval, open_time, open, high, low, close, "
    "volume, closed, source) VALUES "
    "(1, 'BTCUSDT', '60', '2024-01-01 00:00:00+00:00', 1, 1, 1, 1, 0, {true}, 'alert'), "
    "(2, 'BTCUSDT', '60', '2024-01-01 00:00:00+00:00', 2, 2, 2, 2, 0, {true}, 'alert')"
)


def test_upgrading_sqlite_keeps_the_old_bars_as_shared_history(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    url = f"sqlite://{path}"
    _upgrade_to(url, 2, tmp_path / "old")
    with sqlite3.connect(path) as db:
        db.execute(OLD_ROW.format(true=1))
    _upgrade_to(url, None, tmp_path)
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT bot_id, symbol, interval, close FROM price_bars").fetchall()
        assert rows == [(None, "BTCUSDT", "60", "2")]
        db.execute(TWO_BOTS.format(true=1))  # two bots close the same bar: two rows
        with pytest.raises(sqlite3.IntegrityError):
            db.execute(TWO_BOTS.format(true=1))
        assert db.execute("SELECT count(*) FROM price_bars").fetchone()[0] == 3


def test_upgrading_postgres_keeps_the_old_bars_as_shared_history(tmp_path: Path) -> None:
    postgres_or_skip()
    name = f"tradebot_series_{uuid.uuid4().hex[:8]}"
    admin = ["psql", POSTGRES_ADMIN, "-q", "-c"]
    subprocess.run([*admin, f'CREATE DATABASE "{name}"'], check=True, timeout=30)
    psql = ["psql", f"postgresql://postgres@127.0.0.1:5432/{name}", "-At", "-v", "ON_ERROR_STOP=1"]
    try:
        url = f"postgres://postgres@127.0.0.1:5432/{name}"
        _upgrade_to(url, 2, tmp_path / "old")
        subprocess.run([*psql, "-c", OLD_ROW.format(true="true")], check=True, timeout=30)
        _upgrade_to(url, None, tmp_path)
        rows = subprocess.run(
            [*psql, "-c", "SELECT bot_id, symbol, interval, close FROM price_bars"],
            capture_output=True, text=True, check=True, timeout=30,
        )  # fmt: skip
        assert rows.stdout.split() == ["|BTCUSDT|60|2.000000000000"]
        subprocess.run([*psql, "-c", TWO_BOTS.format(true="true")], check=True, timeout=30)
        again = subprocess.run(
            [*psql, "-c", TWO_BOTS.format(true="true")], capture_output=True, timeout=30
        )
        assert again.returncode != 0 and b"duplicate key" in again.stderr
    finally:
        subprocess.run([*admin, f'DROP DATABASE IF EXISTS "{name}"'], timeout=30)
