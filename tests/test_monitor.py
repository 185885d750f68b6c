"""Stops, targets and trailing stops, told as price paths sent through the running server.

Every figure is checked by hand: paper fee 10 bps of each fill's notional, no slippage, so a
stop that a tick gaps through fills at the tick's price.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

from db.models import AuditLog, CurrentPosition, Order, TradeHistory, TradingBot
from db.paper_ledger import SqlPaperLedger
from db.stores import sql_stores
from tests.conftest import World
from tests.waiting import eventually
from trading.brokers.base import OrderFill, OrderRequest
from trading.brokers.paper import PaperBroker
from trading.errors import BrokerRefusal
from trading.events import EventBus
from trading.monitor import Monitor, MonitorConfig
from trading.records import NewOrder
from trading.service import TradingService

FEE = D("0.001")


class GateBroker(PaperBroker):
    """A paper broker whose fills wait while its gate is closed; it counts the orders it got."""

    instant_fills = False  # stands for an exchange: the order is out while it waits

    def __init__(self) -> None:
        super().__init__(SqlPaperLedger())
        self.gate = asyncio.Event()
        self.gate.set()
        self.requests: list[OrderRequest] = []

    async def place_order(self, request: OrderRequest) -> OrderFill:
        self.requests.append(request)
        await self.gate.wait()
        return await super().place_order(request)


async def closing_orders() -> list[Order]:
    return await Order.filter(intent__in=["close", "reduce"]).order_by("id")


def ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(predicate: str) -> Callable[[dict[str, Any]], bool]:
    return lambda params: predicate in params["text"]


# ---------------------------------------------------------------- stops, targets, trailing


async def test_a_gap_through_the_stop_closes_once_at_the_tick_price(start_world) -> None:
    world: World = await start_world(telegram=True)
    await world.add_bot("demo")
    _, opened = await world.send_alert(action="buy", price="100", qty="1", sl="2%")
    assert opened["status"] == "executed"

    status, _ = await world.send_alert(action="tick", price="99")
    assert status == 200 and await TradeHistory.all().count() == 0  # above the 98 stop

    status, _ = await world.send_alert(action="tick", price="97")  # gaps through 98
    assert status == 200
    # closed before the webhook answered
    [trade] = await TradeHistory.all()
    assert (trade.reason, trade.side, trade.qty) == ("stop_loss", "long", 1)
    assert (trade.entry_price, trade.exit_price) == (100, 97)
    assert trade.fees == D(100) * FEE + D(97) * FEE
    assert trade.pnl == D(-3) - trade.fees == D("-3.197")
    assert await CurrentPosition.all().count() == 0
    [close] = await closing_orders()
    assert (close.side, close.qty, close.price, close.reason, close.status) == (
        "sell",
        1,
        97,
        "stop_loss",
        "filled",
    )

    await world.send_alert(action="tick", price="96")
    await world.send_alert(action="tick", price="95")
    assert await TradeHistory.all().count() == 1 and len(await closing_orders()) == 1

    fake = world.telegram
    assert fake is not None
    [hit] = await fake.wait_for("sendMessage", _text("Stop-loss hit"))
    assert "🔴 Stop-loss hit · BTCUSDT long · demo" in hit.params["text"]
    assert "1 @ 97.00" in hit.params["text"] and "−3.20 USDT" in hit.params["text"]
    await world.send_alert(action="buy", price="95", qty="1")
    await fake.wait_for("sendMessage", _text("Opened long"), count=2)
    assert len([m for m in fake.sent_messages() if "Stop-loss hit" in m["text"]]) == 1


async def test_a_trailing_stop_ratchets_up_then_fires(world: World) -> None:
    await world.send_alert(action="buy", price="100", qty="1", trail="2%")
    for price in ("105", "110", "108"):
        await world.send_alert(action="tick", price=price)
    assert await TradeHistory.all().count() == 0

    async def stored_peak() -> bool:
        row = await CurrentPosition.get()
        return row.trail_peak == 110

    await eventually(stored_peak)  # the ratchet is written behind the ticks
    row = await CurrentPosition.get()
    assert row.trail_stop == D("107.8")

    await world.send_alert(action="tick", price="107.9")
    assert await TradeHistory.all().count() == 0
    await world.send_alert(action="tick", price="107.5")
    [trade] = await TradeHistory.all()
    assert (trade.reason, trade.exit_price) == ("trailing_stop", D("107.5"))
    assert trade.pnl == D("7.5") - D("0.1") - D("0.1075")


async def test_shorts_take_profit_trail_and_stop_the_other_way(world: World) -> None:
    await world.send_alert(action="sell", price="100", qty="1", sl="2%", tp="4%")
    await world.send_alert(action="tick", price="101")  # against the short, below its 102 stop
    await world.send_alert(action="tick", price="95")  # gaps through the 96 target
    [target] = await TradeHistory.all()
    assert (target.side, target.reason, target.exit_price) == ("short", "take_profit", 95)
    assert target.pnl == D(5) - D("0.1") - D("0.095")

    await world.send_alert(action="sell", price="100", qty="1", trail="1%")
    await world.send_alert(action="tick", price="95")  # the trough: stop 95.95
    await world.send_alert(action="tick", price="95.9")
    assert await TradeHistory.all().count() == 1
    await world.send_alert(action="tick", price="95.95")
    trailing = await TradeHistory.all().order_by("-id").first()
    assert trailing is not None
    assert (trailing.reason, trailing.exit_price) == ("trailing_stop", D("95.95"))
    assert trailing.pnl == D("4.05") - D("0.1") - D("0.09595")

    await world.send_alert(action="sell", price="100", qty="1", sl="101")
    await world.send_alert(action="tick", price="102")
    stop = await TradeHistory.all().order_by("-id").first()
    assert stop is not None
    assert (stop.side, stop.reason, stop.exit_price) == ("short", "stop_loss", 102)
    assert stop.pnl == D(-2) - D("0.1") - D("0.102")
    assert await CurrentPosition.all().count() == 0


async def test_take_profit_levels_close_their_shares_then_the_stop_moves_to_break_even(
    world: World,
) -> None:
    await sql_stores().bots.set_monitoring(
        "demo", heartbeat_minutes=None, break_even_after_tp1=True
    )
    await world.send_alert(
        action="buy", price="100", qty="2", sl="3%", tp1="2%", tp1_share="50", tp2="5%"
    )
    _, positions = await world.get("/positions")
    assert (positions[0]["sl"], positions[0]["tp"]) == ("97", "102")

    await world.send_alert(action="tick", price="102")
    _, positions = await world.get("/positions")
    assert positions[0]["qty"] == "1"
    assert (positions[0]["sl"], positions[0]["tp"]) == ("100", "105")  # break-even, next level
    [tp1] = await closing_orders()
    assert (tp1.intent, tp1.qty, tp1.reason) == ("reduce", 1, "take_profit")

    await world.send_alert(action="tick", price="101")
    assert await TradeHistory.all().count() == 0
    await world.send_alert(action="tick", price="99.9")  # under the break-even stop
    [trade] = await TradeHistory.all()
    assert (trade.reason, trade.qty) == ("stop_loss", 2)
    assert trade.exit_price == (D(102) + D("99.9")) / 2
    fees = D(200) * FEE + D(102) * FEE + D("99.9") * FEE
    assert trade.fees == fees
    assert trade.pnl == D(2) + D("-0.1") - fees


async def test_a_gap_through_two_take_profit_levels_fills_both(world: World) -> None:
    await world.send_alert(action="buy", price="100", qty="2", tp1="2%", tp2="4%")
    await world.send_alert(action="tick", price="110")
    [trade] = await TradeHistory.all()
    assert (trade.reason, trade.qty, trade.exit_price) == ("take_profit", 2, 110)
    orders = await closing_orders()
    assert [(o.intent, o.qty, o.price) for o in orders] == [
        ("reduce", 1, 110),
        ("close", 1, 110),
    ]


# ---------------------------------------------------------------- restarts


async def test_a_restart_between_opening_and_the_trigger_loses_nothing(start_world) -> None:
    first: World = await start_world()
    bot = await first.add_bot("demo", symbols=["BTCUSDT", "ETHUSDT"])
    await first.send_alert(action="buy", price="100", qty="1", sl="2%")
    # best price 99.5 then 110 (stored as text on SQLite: compared as numbers, not strings)
    await first.send_alert(action="buy", symbol="ETHUSDT", price="99.5", qty="1", trail="2%")
    await first.send_alert(action="tick", symbol="ETHUSDT", price="110")  # peak 110, stop 107.8

    async def peak_stored() -> bool:
        return (await CurrentPosition.get(symbol="ETHUSDT")).trail_peak == 110

    await eventually(peak_stored)
    await first.http.close()
    await first.server.close()  # the process stops

    second: World = await start_world()  # same database file
    second.bots["demo"] = bot
    await second.send_alert(action="tick", symbol="ETHUSDT", price="108")
    await second.send_alert(action="tick", price="97.5")
    trades = {t.symbol: t for t in await TradeHistory.all()}
    assert (trades["BTCUSDT"].reason, trades["BTCUSDT"].exit_price) == ("stop_loss", D("97.5"))
    assert "ETHUSDT" not in trades
    await second.send_alert(action="tick", symbol="ETHUSDT", price="107.7")
    trade = await TradeHistory.get(symbol="ETHUSDT")
    assert (trade.reason, trade.exit_price) == ("trailing_stop", D("107.7"))


# ---------------------------------------------------------------- exactly once


async def test_a_stop_hit_while_a_webhook_close_is_in_flight_closes_once(start_world) -> None:
    broker = GateBroker()
    world: World = await start_world(broker=broker, webhook_answer_timeout=0.2)
    await world.add_bot("demo")
    await world.send_alert(action="buy", price="100", qty="1", sl="2%")
    broker.gate.clear()
    status, _ = await world.send_alert(action="close", price="99")
    assert status == 202  # the close waits for the broker
    status, _ = await world.send_alert(action="tick", price="97")  # the stop is reached meanwhile
    assert status == 202
    broker.gate.set()
    [trade] = await eventually(lambda: TradeHistory.all())
    await eventually(lambda: _webhooks_done())
    assert (trade.reason, trade.exit_price) == ("signal", 99)
    assert len(await closing_orders()) == 1
    assert [r.side for r in broker.requests] == ["buy", "sell"]


async def _webhooks_done() -> bool:
    from db.models import WebhookLog

    return not await WebhookLog.filter(status__in=["received", "accepted"]).exists()


async def test_a_manual_close_from_another_process_while_the_stop_closes_is_refused(
    start_world,
) -> None:
    broker = GateBroker()
    world: World = await start_world(broker=broker, webhook_answer_timeout=0.2)
    bot = await world.add_bot("demo")
    await world.send_alert(action="buy", price="100", qty="1", sl="2%")
    broker.gate.clear()
    status, _ = await world.send_alert(action="tick", price="97")
    assert status == 202  # the stop's order is at the broker

    other_broker = GateBroker()
    other = TradingService(other_broker, EventBus(), stores=sql_stores())  # another process
    result = await other.close_position(bot, "BTCUSDT", reason="manual", price=D("96"))
    assert result.status == "ignored" and "already being closed" in result.reason
    broker.gate.set()
    [trade] = await eventually(lambda: TradeHistory.all())
    assert (trade.reason, trade.exit_price) == ("stop_loss", 97)
    assert len(await closing_orders()) == 1 and other_broker.requests == []


async def test_two_monitors_on_one_tick_close_once(start_world) -> None:
    broker = GateBroker()
    world: World = await start_world(broker=broker, webhook_answer_timeout=0.2)
    await world.add_bot("demo")
    await world.send_alert(action="buy", price="100", qty="1", sl="2%", trail="5%")

    other_broker = GateBroker()
    other_events = EventBus()
    second = Monitor(
        TradingService(other_broker, other_events, stores=sql_stores()),
        other_events,
        MonitorConfig(retry_backoff=0.02),
        stores=sql_stores(),
        name="second",
    )
    await second.load()
    assert second.health()["positions"] == 1
    try:
        broker.gate.clear()
        status, _ = await world.send_alert(action="tick", price="97")
        assert status == 202  # the first monitor's close is at the broker
        await second.price_seen(
            "BTCUSDT", D("97"), datetime.now(UTC), "ticker", bot_id=None
        )  # the exchange's price
        assert other_broker.requests == []  # the claim stopped the second monitor
        broker.gate.set()
        [trade] = await eventually(lambda: TradeHistory.all())
        assert (trade.reason, trade.exit_price) == ("stop_loss", 97)
        # the second monitor forgets the position once it is gone
        await eventually(lambda: _forgotten(second))
    finally:
        await second.close()
    assert len(await closing_orders()) == 1 and other_broker.requests == []
    assert len(broker.requests) == 2


async def _forgotten(monitor: Monitor) -> bool:
    return monitor.health()["positions"] == 0


class RefusingBroker(PaperBroker):
    """Refuses the first `refusals` closing orders, like an exchange in maintenance."""

    def __init__(self, refusals: int) -> None:
        super().__init__(SqlPaperLedger())
        self.refusals = refusals

    async def place_order(self, request: OrderRequest) -> OrderFill:
        if request.open_qty == 0 and self.refusals > 0:
            self.refusals -= 1
            raise BrokerRefusal("exchange in maintenance")
        return await super().place_order(request)


async def test_a_refused_close_is_retried_reported_and_never_loses_the_position(
    start_world,
) -> None:
    broker = RefusingBroker(refusals=2)
    world: World = await start_world(
        telegram=True, broker=broker, monitor_retry_backoff=0.05, webhook_answer_timeout=2.0
    )
    await world.add_bot("demo")
    await world.send_alert(action="buy", price="100", qty="1", sl="2%")
    await world.send_alert(action="tick", price="97")
    [trade] = await eventually(lambda: TradeHistory.all())
    assert (trade.reason, trade.exit_price) == ("stop_loss", 97)
    orders = await closing_orders()
    assert [o.status for o in orders] == ["rejected", "rejected", "filled"]
    fake = world.telegram
    assert fake is not None
    [failed] = await fake.wait_for("sendMessage", _text("close failed"))
    assert "exchange in maintenance" in failed.params["text"]
    assert "Position still open; retrying" in failed.params["text"]
    await fake.wait_for("sendMessage", _text("Stop-loss hit"))
    assert len([m for m in fake.sent_messages() if "close failed" in m["text"]]) == 1


# ---------------------------------------------------------------- stale prices and health


async def test_a_stale_price_triggers_nothing_and_health_says_so_once(start_world) -> None:
    world: World = await start_world(telegram=True, price_max_age=5, monitor_interval=0.05)
    await world.add_bot("demo", max_lag_seconds=3600)
    fake = world.telegram
    assert fake is not None
    _, health = await world.get("/health")
    assert health["checks"]["monitor"]["status"] == "ok"

    await world.send_alert(action="buy", price="100", qty="1", sl="2%", time=ago(60))
    await world.send_alert(action="tick", price="97", time=ago(30))  # through the stop, 30 s old
    await world.send_alert(action="tick", price="96", time=ago(20))
    assert await TradeHistory.all().count() == 0 and await CurrentPosition.all().count() == 1
    _, health = await world.get("/health")
    monitor = health["checks"]["monitor"]
    assert health["status"] == "degraded" and monitor["status"] == "degraded"
    assert monitor["oldest_price_age_s"] >= 20 and "stale prices: BTCUSDT" in monitor["detail"]
    await fake.wait_for("sendMessage", _text("Stale prices"))

    await world.send_alert(action="tick", price="97")  # fresh: now the stop acts
    [trade] = await TradeHistory.all()
    assert (trade.reason, trade.exit_price) == ("stop_loss", 97)
    await fake.wait_for("sendMessage", _text("Stop-loss hit"))
    await fake.wait_for("sendMessage", _text("Prices fresh again"))
    assert len([m for m in fake.sent_messages() if "Stale prices" in m["text"]]) == 1
    _, health = await world.get("/health")
    assert health["checks"]["monitor"]["status"] == "ok"
    assert health["checks"]["monitor"]["lag_ms"] >= 0


async def test_health_shows_the_monitor_off_when_it_runs_elsewhere(start_world) -> None:
    world: World = await start_world(monitor_enabled=False)
    await world.add_bot("demo")
    await world.send_alert(action="buy", price="100", qty="1", sl="2%")
    await world.send_alert(action="tick", price="90")
    assert await TradeHistory.all().count() == 0  # no monitor in this process
    _, health = await world.get("/health")
    assert health["status"] == "ok" and health["checks"]["monitor"]["status"] == "off"


class TickerBroker(PaperBroker):
    """A broker that quotes tickers; its first quote request crashes."""

    def __init__(self) -> None:
        super().__init__(SqlPaperLedger())
        self.price: D | None = None
        self.calls = 0

    async def fetch_tickers(self, symbols: list[str]) -> dict[str, D]:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("exchange glitch")
        return {} if self.price is None else {symbol: self.price for symbol in symbols}


async def test_a_crashed_monitor_is_restarted_and_reported_then_tickers_close(
    start_world,
) -> None:
    broker = TickerBroker()
    world: World = await start_world(
        telegram=True, broker=broker, monitor_interval=0.02, monitor_retry_backoff=0.05
    )
    await world.add_bot("demo")
    await world.send_alert(action="buy", price="100", qty="1", sl="2%")
    fake = world.telegram
    assert fake is not None
    [error] = await fake.wait_for("sendMessage", _text("Error in monitor"))
    assert "RuntimeError: exchange glitch; restarting in 0.05 s" in error.params["text"]

    async def restarted() -> bool:
        _, health = await world.get("/health")
        monitor = health["checks"]["monitor"]
        return monitor["status"] == "ok" and monitor["restarts"] == 1

    await eventually(restarted)
    broker.price = D("97.5")  # the exchange's ticker crosses the stop
    [trade] = await eventually(lambda: TradeHistory.all())
    assert (trade.reason, trade.exit_price) == ("stop_loss", D("97.5"))
    # as every monitor reads it
    exchange, _alerts = await sql_stores().prices.stored_prices(["BTCUSDT"])
    assert exchange["BTCUSDT"][0] == D("97.5") and exchange["BTCUSDT"][2] == "ticker"


# ---------------------------------------------------------------- heartbeat of alerts


async def test_a_silent_bot_gets_one_warning_and_one_all_clear(start_world) -> None:
    world: World = await start_world(
        telegram=True, monitor_interval=0.02, monitor_heartbeat_interval=0.02
    )
    await world.add_bot("demo")
    await sql_stores().bots.set_monitoring("demo", heartbeat_minutes=5, break_even_after_tp1=False)
    # the bot was made 10 minutes ago and has not heard from TradingView since
    await TradingBot.filter(name="demo").update(
        created_at=datetime.now(UTC) - timedelta(minutes=10)
    )
    fake = world.telegram
    assert fake is not None
    [warning] = await fake.wait_for("sendMessage", _text("No alerts · demo"))
    assert "Expected one every 5m; no alert yet" in warning.params["text"]

    async def passes(n: int) -> Callable[[], Awaitable[bool]]:
        _, health = await world.get("/health")
        start = health["checks"]["monitor"]["passes"]

        async def done() -> bool:
            _, later = await world.get("/health")
            return later["checks"]["monitor"]["passes"] >= start + n

        return done

    await eventually(await passes(5))  # more checks: still one warning
    await world.send_alert("demo", action="tick", price="100")
    [resumed] = await fake.wait_for("sendMessage", _text("Alerts resumed · demo"))
    assert resumed is not None
    await eventually(await passes(5))
    texts = [m["text"] for m in fake.sent_messages()]
    assert sum("No alerts" in t for t in texts) == 1
    assert sum("Alerts resumed" in t for t in texts) == 1
    actions = [a.action for a in await AuditLog.filter(actor="monitor").order_by("id")]
    assert actions == ["monitor.heartbeat_missed", "monitor.heartbeat_resumed"]


# ---------------------------------------------------------------- the index follows the book


async def test_an_add_moves_the_stop_and_the_monitor_follows(world: World) -> None:
    await world.send_alert(action="buy", price="100", qty="1", sl="2%")  # stop 98
    await world.send_alert(action="buy", price="99", qty="1", sl="2%")  # avg 99.5: stop 97.51
    await world.send_alert(action="tick", price="97.9")
    assert await TradeHistory.all().count() == 0
    await world.send_alert(action="tick", price="97.5")
    [trade] = await TradeHistory.all()
    assert (trade.reason, trade.qty, trade.entries, trade.exit_price) == ("stop_loss", 2, 2, 97.5)


async def test_stops_changed_on_an_open_position_take_effect(world: World) -> None:
    from handlers.web.keys import TRADING

    await world.send_alert(action="buy", price="100", qty="1")
    await world.send_alert(action="tick", price="90")
    assert await TradeHistory.all().count() == 0  # no stop yet
    trading = world.server.app[TRADING]
    await trading.update_stops(world.bots["demo"], "BTCUSDT", sl=D(85), tp=None, trail=None)
    await world.send_alert(action="tick", price="86")
    assert await TradeHistory.all().count() == 0
    await world.send_alert(action="tick", price="84")
    [trade] = await TradeHistory.all()
    assert (trade.reason, trade.exit_price) == ("stop_loss", 84)

    # a stop set beyond the last price is reached at once, at that price
    await world.send_alert(action="buy", price="83", qty="1")
    await trading.update_stops(world.bots["demo"], "BTCUSDT", sl=D(85), tp=None, trail=None)
    latest = await TradeHistory.all().order_by("-id").first()
    assert latest is not None and (latest.reason, latest.exit_price) == ("stop_loss", 83)
    assert await CurrentPosition.all().count() == 0


async def test_a_tick_stamped_to_the_second_still_acts(world: World) -> None:
    from tests.conftest import now_iso

    await world.send_alert(action="buy", price="100", qty="1", sl="2%")  # arrival time, sub-second
    await world.send_alert(action="tick", price="97", time=now_iso())  # {{timenow}}: whole second
    [trade] = await TradeHistory.all()
    assert (trade.reason, trade.exit_price) == ("stop_loss", 97)


async def test_ticks_faster_than_the_broker_send_one_closing_order(start_world) -> None:
    broker = GateBroker()
    world: World = await start_world(broker=broker, webhook_answer_timeout=0.1)
    await world.add_bot("demo")
    await world.send_alert(action="buy", price="100", qty="1", sl="2%", tp="10%")
    broker.gate.clear()
    for price in ("97", "96", "95", "120", "94"):  # the broker has not answered the first yet
        await world.send_alert(action="tick", price=price)
    assert [r.side for r in broker.requests] == ["buy", "sell"]
    broker.gate.set()
    [trade] = await eventually(lambda: TradeHistory.all())
    await eventually(_webhooks_done)
    assert (trade.reason, trade.exit_price) == ("stop_loss", 97)
    assert len(await closing_orders()) == 1 and len(broker.requests) == 2


async def test_a_claim_left_by_a_crashed_closer_is_taken_over_once_it_expires(
    start_world,
) -> None:
    world: World = await start_world(monitor_claim_ttl=30, monitor_retry_backoff=0.02)
    bot = await world.add_bot("demo")
    await world.send_alert(action="buy", price="100", qty="1", sl="2%")
    # another process claimed the position and sent an order, then died before the fill
    await sql_stores().orders.create_order(
        NewOrder(
            client_order_id="tb-crashed-1",
            bot_id=bot.id,
            symbol="BTCUSDT",
            side="sell",
            qty=D(1),
            price=D(99),
            broker="paper",
            intent="close",
            reason="manual",
            webhook_log_id=None,
        )
    )
    await CurrentPosition.filter(symbol="BTCUSDT").update(
        closing_token="tb-crashed-1", closing_at=datetime.now(UTC)
    )
    await world.send_alert(action="tick", price="97")
    assert await TradeHistory.all().count() == 0  # the claim still holds: hands off

    # 30 s later the claim has expired; the broker has no such order, so the stop goes ahead
    await CurrentPosition.filter(symbol="BTCUSDT").update(
        closing_at=datetime.now(UTC) - timedelta(seconds=31)
    )
    [trade] = await eventually(lambda: TradeHistory.all())
    assert (trade.reason, trade.exit_price) == ("stop_loss", 97)
    crashed = await Order.get(client_order_id="tb-crashed-1")
    assert crashed.status == "failed"
    assert [o.status for o in await closing_orders()] == ["failed", "filled"]


async def test_a_late_alert_does_not_act_on_its_old_price(start_world) -> None:
    world: World = await start_world()
    await world.add_bot("demo", max_lag_seconds=3600)
    await world.send_alert(action="buy", price="100", qty="1", sl="2%")
    # an alert TradingView fired 40 s ago arrives now (a retry): its price is older than the
    # buy's, so the stop does not act on it; a current price does
    await world.send_alert(action="tick", price="97", time=ago(40))
    assert await TradeHistory.all().count() == 0
    _, health = await world.get("/health")
    assert health["checks"]["monitor"]["status"] == "ok"
    await world.send_alert(action="tick", price="97.9")
    [trade] = await TradeHistory.all()
    assert (trade.reason, trade.exit_price) == ("stop_loss", D("97.9"))


async def test_a_close_that_keeps_failing_is_re_armed_for_the_next_price(start_world) -> None:
    broker = RefusingBroker(refusals=100)
    world: World = await start_world(
        telegram=True, broker=broker, monitor_retry_backoff=0.02, monitor_max_attempts=2
    )
    await world.add_bot("demo")
    await world.send_alert(action="buy", price="100", qty="1", sl="2%")
    await world.send_alert(action="tick", price="97")
    fake = world.telegram
    assert fake is not None
    [_, gave_up] = await fake.wait_for("sendMessage", _text("close failed"), count=2)
    assert "(attempt 2)" in gave_up.params["text"] and "gave up for now" in gave_up.params["text"]
    assert await CurrentPosition.all().count() == 1  # still open: the broker holds it

    async def watched_again() -> bool:
        _, health = await world.get("/health")
        return health["checks"]["monitor"]["positions"] == 1

    await eventually(watched_again)
    broker.refusals = 0  # the exchange is back
    await world.send_alert(action="tick", price="96.5")
    [trade] = await TradeHistory.all()
    assert (trade.reason, trade.exit_price) == ("stop_loss", D("96.5"))
    assert [o.status for o in await closing_orders()] == ["rejected", "rejected", "filled"]
