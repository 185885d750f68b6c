"""Paper trading on live prices (`TRADEBOT_PRICE_FEED=ccxt`): the real app with the paper
broker, the real ccxt client polling the public tickers of a local Binance stand-in
(`tests/fakes/exchange.py`), no API keys."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from decimal import Decimal as D
from typing import Any

import pytest
from tortoise import Tortoise

from bot.app import create_app
from bot.assembly import build_price_feed
from bot.monitor_runtime import create_monitor_app
from db.config import tortoise_config
from db.models import Order, TradeHistory
from db.stores import sql_stores
from tests.conftest import World
from tests.fakes.exchange import API_KEY, SECRET, FakeBinance, ccxt_broker
from tests.waiting import eventually
from trading.errors import InvalidRequest

SIGNED = {"/api/v3/order", "/api/v3/account", "/api/v3/openOrders", "/api/v3/myTrades"}


@pytest.fixture
async def exchange() -> AsyncIterator[FakeBinance]:
    async with FakeBinance(prices={"BTCUSDT": "50000", "ETHUSDT": "3000"}) as fake:
        yield fake
        assert fake.unknown == []  # ccxt asked for nothing the stand-in does not serve


def feed_settings(exchange: FakeBinance, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "price_feed": "ccxt",
        "ccxt_exchange": "binance",
        "ccxt_api_url": exchange.url,
        "monitor_interval": 0.05,
        "monitor_resync_interval": 0.05,
        "paper_fee_bps": 0,
        "paper_balance": 1_000_000,
    }
    values.update(overrides)
    return values


async def health(world: World) -> dict[str, Any]:
    _, body = await world.get("/health", token=None)
    return body


async def position(world: World, symbol: str = "BTCUSDT") -> dict[str, Any] | None:
    _, positions = await world.get("/positions")
    return next((p for p in positions if p["symbol"] == symbol), None)


async def test_a_paper_long_follows_the_ticker_and_is_stopped_out_once(
    start_world: Callable[..., Any], exchange: FakeBinance
) -> None:
    world: World = await start_world(**feed_settings(exchange))
    await world.add_bot("demo")  # BTCUSDT, 1 per order

    async def quoting(count: int) -> dict[str, Any] | None:
        prices = (await health(world))["checks"]["prices"]
        return prices if prices["symbols"] == count and prices["status"] == "ok" else None

    # the bot's symbol is quoted before any position exists
    prices = await eventually(lambda: quoting(1), timeout=10)
    assert prices["source"] == "ccxt:binance" and prices["newest_age_s"] < 5

    # an alert without a price fills at the exchange's
    status, body = await world.send_alert(action="buy", sl="49000")
    assert (status, body["status"]) == (200, "executed"), body
    opened = await position(world)
    assert opened is not None and D(opened["avg_price"]) == 50000 and D(opened["sl"]) == 49000

    async def unrealized_at(price: str) -> D | None:
        exchange.set_price("BTCUSDT", price)
        held = await position(world)
        assert held is not None
        value = held.get("unrealized_pnl")
        pnl = D(value) if value is not None else None
        return pnl if pnl == (D(price) - 50000) * 1 else None

    assert await eventually(lambda: unrealized_at("50750"), timeout=10) == 750
    assert await eventually(lambda: unrealized_at("49100"), timeout=10) == -900

    exchange.set_price("BTCUSDT", "48000.5")  # through the stop
    [trade] = await eventually(lambda: TradeHistory.all(), timeout=10)
    assert (trade.reason, trade.side, trade.exit_price) == ("stop_loss", "long", D("48000.5"))
    assert await position(world) is None

    # more polls at the same price, and below it: still one close
    passes = (await health(world))["checks"]["monitor"]["passes"]
    exchange.set_price("BTCUSDT", "47000")

    async def later() -> bool:
        return (await health(world))["checks"]["monitor"]["passes"] >= passes + 3

    await eventually(later, timeout=10)
    assert await TradeHistory.all().count() == 1
    assert await Order.filter(reason="stop_loss").count() == 1
    # paper trading: nothing was sent to the exchange, and no key was needed for what was read
    assert exchange.executed == []
    assert not {path for _, path in exchange.requests} & SIGNED
    assert exchange.bad_signatures == 0


async def test_positions_without_stops_and_other_bots_symbols_are_quoted(
    start_world: Callable[..., Any], exchange: FakeBinance
) -> None:
    world: World = await start_world(**feed_settings(exchange))
    await world.add_bot("demo")  # BTCUSDT
    await world.add_bot("eth", symbols=["ETHUSDT"])
    await world.send_alert("eth", action="buy", symbol="ETHUSDT", price="3000")  # no levels

    async def eth_pnl() -> D | None:
        exchange.set_price("ETHUSDT", "3100")
        held = await position(world, "ETHUSDT")
        return D(held["unrealized_pnl"]) if held and held.get("unrealized_pnl") else None

    assert await eventually(eth_pnl, timeout=10) == 100
    body = await health(world)
    assert body["checks"]["prices"]["symbols"] == 2
    assert body["status"] == "ok"


async def test_an_outage_is_logged_once_goes_stale_and_recovers(
    start_world: Callable[..., Any], exchange: FakeBinance, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trading.monitor")
    world: World = await start_world(**feed_settings(exchange, price_max_age=3))
    await world.add_bot("demo")

    async def quoted() -> bool:
        return (await health(world))["checks"]["prices"]["symbols"] == 1

    await eventually(quoted, timeout=10)
    _, body = await world.send_alert(action="buy", sl="40000")
    assert body["status"] == "executed", body

    async def status_is(wanted: str) -> dict[str, Any] | None:
        body = await health(world)
        return body if body["status"] == wanted else None

    await eventually(lambda: status_is("ok"), timeout=10)
    exchange.down = True
    failed_from = len(exchange.requests)
    body = await eventually(
        lambda: _stale(world), timeout=10
    )  # older than TRADEBOT_PRICE_MAX_AGE: no stop acts on it
    assert body["status"] == "degraded"
    prices = body["checks"]["prices"]
    assert prices["status"] == "degraded" and "failing for" in prices["detail"]
    assert len(exchange.requests) - failed_from >= 3  # polled on, every pass
    failures = [r for r in caplog.records if "ticker poll failed" in r.getMessage()]
    assert len(failures) == 1, [r.getMessage() for r in failures]

    exchange.set_price("BTCUSDT", "39000")  # below the stop, but nobody can see it yet
    passes = (await health(world))["checks"]["monitor"]["passes"]

    async def polled_while_down() -> bool:
        return (await health(world))["checks"]["monitor"]["passes"] >= passes + 3

    await eventually(polled_while_down, timeout=10)
    assert (
        await TradeHistory.all().count() == 0
    )  # three passes, still no close on what it can't see
    exchange.down = False
    await eventually(lambda: TradeHistory.filter(reason="stop_loss").exists(), timeout=10)
    body = await eventually(lambda: status_is("ok"), timeout=10)
    assert body["checks"]["prices"]["status"] == "ok"
    recovered = [r for r in caplog.records if "tickers answer again" in r.getMessage()]
    assert len(recovered) == 1


async def _stale(world: World) -> dict[str, Any] | None:
    body = await health(world)
    return body if body["checks"]["monitor"].get("stale") == ["BTCUSDT"] else None


async def test_health_says_prices_come_from_alerts_by_default(world: World) -> None:
    body = await health(world)
    assert body["checks"]["prices"]["source"] == "alerts"
    assert body["checks"]["prices"]["status"] == "ok"


async def test_a_web_process_without_monitor_runs_no_feed(
    start_world: Callable[..., Any], exchange: FakeBinance
) -> None:
    world: World = await start_world(**feed_settings(exchange, monitor_enabled=False))
    await world.add_bot("demo")
    await world.send_alert(action="buy", price="50000", sl="49000")
    body = await health(world)
    assert body["checks"]["prices"]["status"] == "off"
    assert body["checks"]["prices"]["source"] == "ccxt:binance"
    assert body["status"] == "ok"
    assert exchange.requests == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({}, "TRADEBOT_CCXT_EXCHANGE: required when TRADEBOT_PRICE_FEED=ccxt"),
        ({"monitor_enabled": False}, "TRADEBOT_CCXT_EXCHANGE: required when TRADEBOT_PRICE_FEED"),
        ({"ccxt_exchange": "nosuchexchange"}, "TRADEBOT_CCXT_EXCHANGE: ccxt has no exchange"),
    ],
)
def test_start_up_names_the_missing_or_unknown_exchange(
    make_settings: Callable[..., Any], overrides: dict[str, Any], message: str
) -> None:
    settings = make_settings(price_feed="ccxt", **overrides)
    for build in (create_app, create_monitor_app):  # `tradebot serve`, `tradebot monitor`
        with pytest.raises(InvalidRequest) as raised:
            build(settings)
        assert raised.value.user_message.startswith(message)
        assert "\n" not in raised.value.user_message


def test_serve_stops_with_one_line_naming_the_variable(
    cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEBOT_PRICE_FEED", "ccxt")
    monkeypatch.delenv("TRADEBOT_CCXT_EXCHANGE", raising=False)
    code, output = cli("serve")
    assert code != 0
    assert (
        output.strip()
        .splitlines()[-1]
        .endswith("TRADEBOT_CCXT_EXCHANGE: required when TRADEBOT_PRICE_FEED=ccxt")
    )
    assert "Traceback" not in output


async def test_with_the_ccxt_broker_the_feed_goes_through_it(
    make_settings: Callable[..., Any], exchange: FakeBinance
) -> None:
    settings = make_settings(
        **feed_settings(exchange), broker="ccxt", ccxt_api_key=API_KEY, ccxt_secret=SECRET
    )
    broker = ccxt_broker(exchange)
    await Tortoise.init(config=tortoise_config(settings.database_url))
    try:
        feed = build_price_feed(settings, broker, sql_stores())
        assert feed.quotes is broker and not feed.own_client
        # no bot, no position: only what the monitor asks for, in TradingView's spelling too
        assert await feed.fetch_tickers(["BINANCE:ETHUSDT"]) == {"BINANCE:ETHUSDT": D(3000)}
    finally:
        await broker.close()
        await Tortoise.close_connections()
