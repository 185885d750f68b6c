"""Whose prices move whose stops (SPEC §5, issue 12): an alert's price moves the stops, targets
and trailing stops of its own bot only; the exchange's prices move every bot's. A key that one
signal provider knows never closes a position that belongs to another bot, whichever way the
price travels: the monitor in the process that took the alert, the rows another process's
monitor polls, a monitor's start-up, trailing peaks, a paused or approval-bound bot's alerts.

Paper fee 10 bps, no slippage: a stop that a price gaps through fills at that price.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import ClientError, ClientSession
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.monitor_runtime import MONITOR
from db.models import CurrentPosition, TradeHistory, TradingBot, WebhookLog
from db.paper_ledger import SqlPaperLedger
from db.stores import sql_stores
from tests.conftest import World
from tests.examples import run_examples
from tests.processes import POSTGRES_ADMIN, free_port, postgres_or_skip, run_cli
from tests.waiting import eventually
from trading.bots import BotConfig
from trading.brokers.paper import PaperBroker
from trading.events import EventBus
from trading.levels import Level
from trading.monitor import Monitor, MonitorConfig
from trading.records import EXCHANGE_SOURCE
from trading.service import TradingService
from trading.trigger_index import TriggerIndex, Watch, trail_stop_price

T = TypeVar("T")
STOP_REASONS = {"stop_loss", "take_profit", "trailing_stop"}


class FeedBroker(PaperBroker):
    """The paper broker with the exchange's tickers (TRADEBOT_PRICE_FEED=ccxt): what it quotes is
    the market's price, for every bot."""

    def __init__(self) -> None:
        # cash for every example's bogus fills (a long bought at a million, sold at a cent)
        super().__init__(SqlPaperLedger(), initial_balance=D(10**15))
        self.quotes: dict[str, D] = {}

    async def fetch_tickers(self, symbols: list[str]) -> dict[str, D]:
        return {symbol: self.quotes[symbol] for symbol in symbols if symbol in self.quotes}


async def position_of(bot: BotConfig, symbol: str) -> CurrentPosition | None:
    return await CurrentPosition.get_or_none(bot_id=bot.id, symbol=symbol)


async def alerts_done(bot: BotConfig) -> bool:
    return not await WebhookLog.filter(bot_id=bot.id, status__in=["received", "accepted"]).exists()


async def passes_later(monitor: Monitor, count: int = 2) -> None:
    """Wait until the monitor's loop has made `count` more passes (its polls of the database
    and of the tickers included)."""
    target = monitor.passes + count
    await eventually(lambda: _passed(monitor, target))


async def _passed(monitor: Monitor, target: int) -> bool:
    return monitor.passes >= target


# ---------------------------------------------------------------- the property


@dataclass(frozen=True)
class Case:
    a_side: str  # bot A's position
    a_sl: str | None
    a_tp: str | None
    a_trail: str | None
    b_side: str | None  # bot B's position, if any (with its own 2 % stop)
    b_mode: str  # auto | paused | manual (approval)
    action: str  # what B's alert says
    bar: bool  # B's alert closes a bar (interval + bar_time)
    price: D  # the price B's alert carries; then A's own alert or the exchange
    finisher: str  # own | exchange


def _level(base: D, text: str | None, sign: int) -> D | None:
    """The price of a percentage level away from `base` (sign -1: below)."""
    if text is None:
        return None
    return base * (1 + sign * D(text.rstrip("%")) / 100)


def fires(case: Case) -> bool:
    """Whether `price` reaches one of A's levels (opened at 100, best price 100 so far)."""
    long = case.a_side == "long"
    sign = 1 if long else -1
    stops = [
        _level(D(100), level, -sign) for level in (case.a_sl, case.a_trail) if level is not None
    ]
    target = _level(D(100), case.a_tp, sign)
    p = case.price
    hit_stop = any(p <= s if long else p >= s for s in stops)  # type: ignore[operator]
    hit_target = target is not None and (p >= target if long else p <= target)
    return hit_stop or hit_target


PRICES = st.decimals(min_value=D("0.000001"), max_value=D(1_000_000), places=6)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    a_side = draw(st.sampled_from(["long", "short"]))
    sl, tp, trail = draw(
        st.tuples(
            st.sampled_from([None, "2%", "5%"]),
            st.sampled_from([None, "4%"]),
            st.sampled_from([None, "1%", "3%"]),
        ).filter(lambda levels: any(levels))
    )
    sign = 1 if a_side == "long" else -1
    crossing = []
    for level in (sl, trail):
        if level is not None:  # beyond the stop, up to 99.9 % away
            stop = _level(D(100), level, -sign)
            assert stop is not None
            far = stop * (1 - sign * D("0.999")) if sign > 0 else stop * 10
            low, high = sorted((stop, far))
            crossing.append(st.decimals(min_value=low, max_value=high, places=6))
    if tp is not None:
        target = _level(D(100), tp, sign)
        assert target is not None
        low, high = sorted((target, target * 3 if sign > 0 else target / 3))
        crossing.append(st.decimals(min_value=low, max_value=high, places=6))
    price = draw(st.one_of(*crossing, PRICES))
    return Case(
        a_side=a_side,
        a_sl=sl,
        a_tp=tp,
        a_trail=trail,
        b_side=draw(st.sampled_from([None, "long", "short"])),
        b_mode=draw(st.sampled_from(["auto", "paused", "manual"])),
        action=draw(st.sampled_from(["tick", "buy", "sell", "close", "close_long", "close_short"])),
        bar=draw(st.booleans()),
        price=price,
        finisher=draw(st.sampled_from(["own", "exchange"])),
    )


def _plain(value: D) -> str:
    return f"{value.normalize():f}"


async def test_another_bots_alert_never_closes_my_position_but_my_own_or_the_exchange_does(
    start_world: Callable[..., Any],
) -> None:
    feed = FeedBroker()
    world: World = await start_world(broker=feed, monitor_interval=0.02, price_max_age=3600)
    monitor = world.server.app[MONITOR]
    numbers = itertools.count(1)
    seen = {"fired": 0, "held": 0, "exchange": 0}

    async def check(case: Case) -> None:
        n = next(numbers)
        symbol = f"P{n}USDT"
        a = await world.add_bot(f"a{n}", symbols=[symbol], max_lag_seconds=3600)
        b = await world.add_bot(f"b{n}", symbols=[symbol], max_lag_seconds=3600)
        levels = {"sl": case.a_sl, "tp": case.a_tp, "trail": case.a_trail}
        opening = "buy" if case.a_side == "long" else "sell"
        _, opened = await world.send_alert(
            a,
            action=opening,
            symbol=symbol,
            price="100",
            qty="1",
            **{name: value for name, value in levels.items() if value is not None},
        )
        assert opened["status"] == "executed", opened
        if case.b_side is not None:
            side = "buy" if case.b_side == "long" else "sell"
            _, b_opened = await world.send_alert(
                b, action=side, symbol=symbol, price="100", qty="1", sl="2%"
            )
            assert b_opened["status"] == "executed", b_opened
        if case.b_mode == "paused":
            await sql_stores().bots.set_paused(b.name, True)
        elif case.b_mode == "manual":
            await TradingBot.filter(id=b.id).update(approval="manual")
        before = await position_of(a, symbol)
        assert before is not None

        fields: dict[str, Any] = {"action": case.action, "symbol": symbol}
        fields["price"] = _plain(case.price)
        if case.bar:
            now = datetime.now(UTC)
            fields.update(interval="1", bar_time=now.strftime("%Y-%m-%dT%H:%M:00Z"))
        status, answer = await world.send_alert(b, **fields)
        assert status in (200, 202), (status, answer)
        await eventually(lambda: alerts_done(b))
        await passes_later(monitor)  # the stored prices polled, nothing else in flight

        after = await position_of(a, symbol)
        assert after is not None, f"{case}: bot B's alert closed bot A's position"
        assert (after.qty, after.version) == (before.qty, before.version), case
        assert not await TradeHistory.filter(bot_id=a.id).exists(), case

        # the same price, from A's own alert or from the exchange, acts on A's levels
        if case.finisher == "own":
            await world.send_alert(a, action="tick", symbol=symbol, price=_plain(case.price))
            await eventually(lambda: alerts_done(a))
        else:
            feed.quotes[symbol] = case.price
            seen["exchange"] += 1
        if fires(case):
            trade = await eventually(lambda: TradeHistory.get_or_none(bot_id=a.id))
            assert trade.reason in STOP_REASONS and trade.exit_price == case.price, case
            assert await position_of(a, symbol) is None
            seen["fired"] += 1
        else:
            await passes_later(monitor)
            assert await position_of(a, symbol) is not None, case
            seen["held"] += 1
        feed.quotes.pop(symbol, None)

    await asyncio.to_thread(
        run_examples, asyncio.get_running_loop(), cases(), check, max_examples=60
    )
    # the examples did both: fire A's levels, and leave them alone
    assert seen["fired"] >= 10 and seen["held"] >= 3 and seen["exchange"] >= 10, seen


# ---------------------------------------------------------------- the index alone


@dataclass
class _Held:
    watch: Watch
    peak: D | None


def _scan(held: dict[int, _Held], symbol: str, price: D, bot_id: int | None) -> set[int]:
    """What a scan of every position finds: the positions of `bot_id` (of every bot for None)
    whose levels `price` reaches; the peaks of the others it looks at follow the price."""
    fired = set()
    for pid, h in list(held.items()):
        w = h.watch
        if w.symbol != symbol or (bot_id is not None and w.bot_id != bot_id):
            continue
        long = w.side == "long"
        levels = [w.sl] if w.sl is not None else []
        if w.trail is not None and h.peak is not None:
            levels.append(trail_stop_price(h.peak, w.trail, w.side))
        stop = any(price <= s if long else price >= s for s in levels)
        target = w.tp is not None and (price >= w.tp if long else price <= w.tp)
        if stop or target:
            fired.add(pid)
            del held[pid]
        elif h.peak is not None:
            h.peak = max(h.peak, price) if long else min(h.peak, price)
    return fired


@settings(max_examples=100, deadline=None)
@given(st.randoms(use_true_random=False))
def test_the_index_fires_and_ratchets_only_the_positions_of_the_prices_owner(rng: Any) -> None:
    index, held = TriggerIndex(), {}
    for pid in range(1, 41):
        side = rng.choice(["long", "short"])
        sign = 1 if side == "long" else -1
        sl = D(100) - sign * rng.randint(1, 20) if rng.random() < 0.6 else None
        tp = D(100) + sign * rng.randint(1, 20) if rng.random() < 0.4 else None
        trail = Level.parse(f"{rng.randint(1, 10)}%") if rng.random() < 0.5 or sl is None else None
        watch = Watch(pid, 0, rng.choice([1, 2, 3]), "X", side, sl, tp, None, trail, D(100))
        index.add(watch)
        held[pid] = _Held(watch, D(100) if trail else None)
    for _ in range(60):
        price = D(rng.randint(70, 130))
        owner = rng.choice([1, 2, 3, None])
        triggers = index.check("X", price, owner)
        fired = {t.watch.position_id for t in triggers}
        assert fired == _scan(held, "X", price, owner), (price, owner)
        assert owner is None or all(t.watch.bot_id == owner for t in triggers)
        for pid, h in held.items():
            if h.peak is not None:
                assert index.trail_peak(pid) == h.peak, (pid, owner)
        for _symbol, whose, _side, _peak in index.ratchets:
            assert whose == owner
        index.ratchets.clear()


# ---------------------------------------------------------------- trailing peaks


async def test_another_bots_price_does_not_raise_my_trailing_peak(world: World) -> None:
    a = world.bots["demo"]
    b = await world.add_bot("other")
    await world.send_alert(a, action="buy", price="100", qty="1", trail="2%")
    await world.send_alert(b, action="buy", price="100", qty="1", trail="2%")
    await world.send_alert(b, action="tick", price="1000")  # B's peak: 1000 (stop 980)

    async def b_peak_stored() -> bool:
        row = await position_of(b, "BTCUSDT")
        return row is not None and row.trail_peak == 1000

    await eventually(b_peak_stored)  # written behind the ticks, B's only
    a_row = await position_of(a, "BTCUSDT")
    assert a_row is not None and a_row.trail_peak in (None, 100)

    await world.send_alert(a, action="tick", price="105")  # A's peak: 105 (stop 102.9)
    assert await position_of(a, "BTCUSDT") is not None
    assert await TradeHistory.filter(bot_id=a.id).count() == 0
    await world.send_alert(a, action="tick", price="102.8")
    trade = await TradeHistory.get(bot_id=a.id)
    assert (trade.reason, trade.exit_price) == ("trailing_stop", D("102.8"))
    # B's own peak stands: its next price below 980 fires B
    await world.send_alert(b, action="tick", price="979")
    b_trade = await TradeHistory.get(bot_id=b.id)
    assert (b_trade.reason, b_trade.exit_price) == ("trailing_stop", 979)


async def test_a_paused_bots_price_moves_its_own_stop_only(world: World) -> None:
    a = world.bots["demo"]
    b = await world.add_bot("other")
    await world.send_alert(a, action="buy", price="100", qty="1", sl="2%")
    await world.send_alert(b, action="buy", price="100", qty="1", sl="2%")
    await sql_stores().bots.set_paused(b.name, True)
    _, answer = await world.send_alert(b, action="tick", price="0.1")
    assert answer["status"] == "rejected" and "paused" in answer["reason"]
    b_trade = await TradeHistory.get(bot_id=b.id)  # the kill switch keeps B's stop working
    assert (b_trade.reason, b_trade.exit_price) == ("stop_loss", D("0.1"))
    assert await position_of(a, "BTCUSDT") is not None
    assert await TradeHistory.filter(bot_id=a.id).count() == 0


async def test_another_bots_fresh_prices_do_not_hide_that_mine_are_stale(
    start_world: Callable[..., Any],
) -> None:
    world: World = await start_world(price_max_age=5, monitor_interval=0.05)
    a = await world.add_bot("mine", max_lag_seconds=3600)
    b = await world.add_bot("other", max_lag_seconds=3600)
    long_ago = (datetime.now(UTC) - timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    await world.send_alert(a, action="buy", price="100", qty="1", sl="2%", time=long_ago)
    await world.send_alert(b, action="tick", price="100")  # fresh, but not for A's stop
    _, health = await world.get("/health")
    monitor = health["checks"]["monitor"]
    assert monitor["status"] == "degraded" and monitor["stale"] == ["BTCUSDT"], monitor
    assert await position_of(a, "BTCUSDT") is not None
    await world.send_alert(a, action="tick", price="99")  # A's own fresh price
    _, health = await world.get("/health")
    assert health["checks"]["monitor"]["status"] == "ok", health


# ---------------------------------------------------------------- other processes


async def test_a_monitor_in_another_process_moves_each_bots_stops_on_its_own_prices(
    start_world: Callable[..., Any],
) -> None:
    """The web process takes the alerts and stores their prices; the monitor of another process
    (its own service, locks and broker) polls them: at its start-up, then every pass."""
    world: World = await start_world(monitor_enabled=False)
    a = await world.add_bot("mine")
    b = await world.add_bot("other")
    await world.send_alert(a, action="buy", price="100", qty="1", sl="2%")
    await world.send_alert(b, action="sell", price="100", qty="1", tp="4%")
    # bot B's key, a price 99.9 % below the market: stored with B's alert, before any monitor
    await world.send_alert(b, action="tick", price="0.1")

    async with another_monitor(name="other-process") as other:
        # at start-up it acts on B's stored price for B (its target), not for A
        b_trade = await eventually(lambda: TradeHistory.get_or_none(bot_id=b.id))
        assert (b_trade.reason, b_trade.exit_price) == ("take_profit", D("0.1"))
        await passes_later(other, 3)
        assert await position_of(a, "BTCUSDT") is not None

        # B keeps sending prices under A's stop; the monitor polls them: A stays open
        await world.send_alert(b, action="buy", price="100", qty="1", sl="2%")
        await eventually(lambda: _watching(other, 2))
        await world.send_alert(b, action="tick", price="50")
        b_closed = await eventually(lambda: _trade(b, "stop_loss"))
        assert b_closed.exit_price == 50
        await passes_later(other, 3)
        assert await position_of(a, "BTCUSDT") is not None
        assert await TradeHistory.filter(bot_id=a.id).count() == 0

        # A's own price, stored by the web process, fires A's stop in the other process
        await world.send_alert(a, action="tick", price="97")
        a_trade = await eventually(lambda: TradeHistory.get_or_none(bot_id=a.id))
        assert (a_trade.reason, a_trade.exit_price) == ("stop_loss", 97)


@contextlib.asynccontextmanager
async def another_monitor(**named: Any) -> AsyncIterator[Monitor]:
    """A monitor running as another process would run it: its own services over the same
    database, polling every 20 ms."""
    events = EventBus()
    other = Monitor(
        TradingService(PaperBroker(SqlPaperLedger()), events, stores=sql_stores()),
        events,
        MonitorConfig(interval=0.02, resync_interval=0.02, price_max_age=3600),
        stores=sql_stores(),
        **named,
    )
    runner = asyncio.create_task(other.run())
    try:
        yield other
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        await other.close()


async def _trade(bot: BotConfig, reason: str) -> TradeHistory | None:
    return await TradeHistory.get_or_none(bot_id=bot.id, reason=reason)


async def _watching(monitor: Monitor, count: int) -> bool:
    return len(monitor.index) == count


async def test_exchange_prices_from_another_process_move_every_bots_stops(
    start_world: Callable[..., Any],
) -> None:
    """A ticker price stored in `instruments` by the monitor that polls the exchange is acted on
    by another monitor for every bot; an alert's price stored there is not."""
    world: World = await start_world(monitor_enabled=False)
    a = await world.add_bot("mine")
    b = await world.add_bot("other")
    await world.send_alert(a, action="buy", price="100", qty="1", sl="2%")
    await world.send_alert(b, action="buy", price="100", qty="1", sl="2%")
    async with another_monitor() as other:
        await eventually(lambda: _watching(other, 2))
        prices = sql_stores().prices
        await prices.record_price("BTCUSDT", D("0.1"), datetime.now(UTC), "alert")  # no bot's
        await passes_later(other, 3)
        assert await CurrentPosition.all().count() == 2
        await prices.record_prices({"BTCUSDT": (D("97"), datetime.now(UTC))}, EXCHANGE_SOURCE)
        await eventually(lambda: _trades(2))
        trades = await TradeHistory.all()
        assert {(t.bot_id, t.reason, t.exit_price) for t in trades} == {  # type: ignore[attr-defined]
            (a.id, "stop_loss", 97),
            (b.id, "stop_loss", 97),
        }


async def _trades(count: int) -> bool:
    return await TradeHistory.all().count() >= count


# ---------------------------------------------------------------- PostgreSQL, real processes


async def _postgres(url: str, statement: str, *args: Any) -> list[Any]:
    """Rows of a query (`args`), or none of a statement run as it is (CREATE DATABASE)."""
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        if args:
            return await connection.fetch(statement, *args)
        await connection.execute(statement)
        return []
    finally:
        await connection.close()


async def _started(
    env: dict[str, str], cwd: Path, log: Path, *args: str
) -> asyncio.subprocess.Process:
    with log.open("wb") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", *args, cwd=cwd, env=env, stdout=out, stderr=out
        )


async def _health(http: ClientSession, port: int) -> dict[str, Any] | None:
    try:
        async with http.get(f"http://127.0.0.1:{port}/health") as response:
            return await response.json()
    except ClientError:
        return None


@pytest.mark.services
async def test_on_postgres_a_monitor_process_moves_each_bots_stops_on_its_own_prices(
    tmp_path: Path,
) -> None:
    """`serve --no-monitor` takes the alerts; `tradebot monitor` beside it acts on the prices
    they stored, on PostgreSQL: bot B's price moves B's stops, never A's."""
    postgres_or_skip()
    name = f"tradebot_prices_{uuid.uuid4().hex[:8]}"
    admin = POSTGRES_ADMIN
    await _postgres(admin, f'CREATE DATABASE "{name}"')
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    web_port, monitor_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBOT_")}
    env.update(
        TRADEBOT_DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{name}",
        TRADEBOT_HOST="127.0.0.1",
        TRADEBOT_PRICE_MAX_AGE="3600",
        TRADEBOT_MONITOR_INTERVAL="0.05",
        TRADEBOT_MONITOR_RESYNC_INTERVAL="0.05",
    )
    processes: list[asyncio.subprocess.Process] = []

    async def trade(bot: str) -> Any:
        rows = await _postgres(
            url,
            "SELECT t.reason, t.exit_price FROM trade_history t "
            "JOIN trading_bots b ON b.id = t.bot_id WHERE b.name = $1",
            bot,
        )
        return rows[0] if rows else None

    try:
        await run_cli(env, tmp_path, "migrate")
        keys = {}
        for bot in ("mine", "other"):
            out = await run_cli(
                env, tmp_path, "bots", "add", "--name", bot, "--symbol", "BTCUSDT",
                "--strategy", "signal", "--qty", "1", "--direction", "both",
                "--max-alerts-per-minute", "0", "--json",
            )  # fmt: skip
            keys[bot] = json.loads(out)["webhook_key"]
        web = {**env, "TRADEBOT_PORT": str(web_port)}
        processes.append(
            await _started(web, tmp_path, tmp_path / "web.log", "serve", "--no-monitor")
        )
        async with ClientSession() as http:
            await eventually(lambda: _health(http, web_port), timeout=60)

            async def send(bot: str, **fields: str) -> None:
                body = json.dumps({"symbol": "BTCUSDT", **fields})
                url = f"http://127.0.0.1:{web_port}/webhook/{keys[bot]}"
                async with http.post(url, data=body) as response:
                    assert response.status == 200, await response.text()

            await send("mine", action="buy", price="100", qty="1", sl="2%")
            await send("other", action="sell", price="100", qty="1", tp="4%")
            await send("other", action="tick", price="0.1")  # bot B's key, 99.9 % below

            monitor = {**env, "TRADEBOT_PORT": str(monitor_port)}
            processes.append(await _started(monitor, tmp_path, tmp_path / "monitor.log", "monitor"))
            other = await eventually(lambda: trade("other"), timeout=60)
            assert (other["reason"], other["exit_price"]) == ("take_profit", D("0.1"))

            async def passes() -> int:
                health = await _health(http, monitor_port)
                return 0 if health is None else health["checks"]["monitor"]["passes"]

            later = await passes() + 5
            await eventually(lambda: _at_least(passes, later), timeout=30)
            assert await trade("mine") is None

            await send("mine", action="tick", price="97")
            mine = await eventually(lambda: trade("mine"), timeout=30)
            assert (mine["reason"], mine["exit_price"]) == ("stop_loss", 97)
    finally:
        for process in processes:
            if process.returncode is None:
                process.terminate()
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), timeout=30)
            except TimeoutError:
                process.kill()
                await process.wait()
        await _postgres(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _at_least(count: Callable[[], Awaitable[int]], target: int) -> bool:
    return await count() >= target


async def test_another_bots_price_never_prices_my_order_without_a_price(world: World) -> None:
    """A close (or any order) that names no price fills at my bot's own last price or the
    exchange's, never at the last price another bot's alert carried."""
    a = world.bots["demo"]
    b = await world.add_bot("other")
    await world.send_alert(a, action="buy", price="100", qty="1")
    await world.send_alert(b, action="tick", price="0.1")
    _, answer = await world.send_alert(a, action="close")
    assert answer["status"] == "executed", answer
    trade = await TradeHistory.get(bot_id=a.id)
    assert trade.exit_price == D(100)


async def test_another_bots_alert_neither_hides_the_exchange_price_nor_values_my_position(
    world: World,
) -> None:
    """With an exchange price known, another bot's alert at a bogus price changes nothing of
    mine: my order without a price fills at the exchange's, my position is valued at it, and
    every monitor still sees the exchange's price."""
    a = await world.add_bot("alpha")
    b = await world.add_bot("beta")
    await sql_stores().prices.ensure_instrument("BTCUSDT")
    seen = datetime.now(UTC) - timedelta(seconds=3)
    await sql_stores().prices.record_prices({"BTCUSDT": (D(60000), seen)}, EXCHANGE_SOURCE)
    await world.send_alert(a, action="tick", price="1")
    _, answer = await world.send_alert(b, action="buy", qty="0.1")
    assert answer["status"] == "executed" and D(answer["order"]["price"]) == 60000, answer
    _, positions = await world.get("/positions?bot=beta")
    assert [D(p["unrealized_pnl"]) > -100 for p in positions] == [True], positions
    exchange, own = await sql_stores().prices.stored_prices(["BTCUSDT"])
    assert exchange["BTCUSDT"][0] == 60000 and own[(a.id, "BTCUSDT")][0] == 1


async def test_a_price_an_alert_left_in_the_shared_row_before_the_upgrade_never_beats_my_own(
    world: World,
) -> None:
    """Before prices were kept per bot, alerts wrote the symbol's row: such a row (another
    bot's price, frozen since) prices my orders only when nothing of mine or the exchange's is
    known, however new it is."""
    a = world.bots["demo"]
    await world.send_alert(a, action="tick", price="100")
    prices = sql_stores().prices
    await prices.ensure_instrument("BTCUSDT")
    from db.models import Instrument

    await Instrument.filter(symbol="BTCUSDT").update(
        last_price=D(5), last_price_at=datetime.now(UTC) + timedelta(minutes=1),
        last_price_source="alert",
    )  # fmt: skip
    assert await prices.last_price("BTCUSDT", a.id) == 100
    other = await world.add_bot("fresh")
    assert await prices.last_price("BTCUSDT", other.id) == 5  # nothing else known: the last resort
    _, positions = await world.get("/positions")
    assert positions == []
