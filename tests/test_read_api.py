"""Read API behind the bearer token; `/health` and `/metrics` open."""

from __future__ import annotations

from decimal import Decimal

from tests.conftest import API_TOKEN, World


async def test_read_api_needs_the_bearer_token(world: World) -> None:
    for path in ("/bots", "/positions", "/trades", "/stats"):
        assert (await world.get(path, token=None))[0] == 401
        assert (await world.get(path, token="wrong"))[0] == 401
        assert (await world.get(path, token=API_TOKEN))[0] == 200


async def test_read_api_is_off_without_a_token(start_world) -> None:
    world = await start_world(api_token="")
    status, body = await world.get("/bots", token="anything")
    assert status == 404 and "TRADEBOT_API_TOKEN" in body["error"]


async def test_bots_show_the_url_but_never_the_key_field(world: World) -> None:
    _, bots = await world.get("/bots")
    [bot] = bots
    key = world.bots["demo"].webhook_key
    assert bot["webhook_url"] == f"https://bot.example.com/webhook/{key}"
    assert "webhook_key" not in bot and "passphrase" not in bot
    assert {"id", "name", "symbols", "strategy", "direction", "paused"} <= set(bot)


async def test_positions_and_trades_shapes(world: World) -> None:
    await world.send_alert(action="buy", price="100", sl="95", tp="120")
    _, [position] = await world.get("/positions")
    assert {
        k: position[k]
        for k in (
            "bot",
            "symbol",
            "side",
            "qty",
            "avg_price",
            "entries",
            "sl",
            "tp",
            "unrealized_pnl",
        )
    } == {
        "bot": "demo",
        "symbol": "BTCUSDT",
        "side": "long",
        "qty": "1",
        "avg_price": "100",
        "entries": 1,
        "sl": "95",
        "tp": "120",
        "unrealized_pnl": "0",
    }
    assert position["opened_at"].endswith("Z") or "+00:00" in position["opened_at"]
    await world.send_alert(action="close", price="110")
    _, [trade] = await world.get("/trades?limit=5&bot=demo")
    assert {
        "id",
        "bot",
        "symbol",
        "side",
        "qty",
        "entry_price",
        "exit_price",
        "pnl",
        "fees",
        "opened_at",
        "closed_at",
        "reason",
    } <= set(trade)
    assert trade["pnl"] == "9.79"  # 10 gross - 0.10 - 0.11 fees
    assert (await world.get("/trades?bot=nobody"))[1] == []


async def test_trades_limit_is_validated(world: World) -> None:
    for bad in ("0", "-1", "abc", "100000", "%E2%91%A0", "%C2%B2", "1e3", ""):
        status, body = await world.get(f"/trades?limit={bad}")
        assert status == 400 and body["field"] == "limit"


async def test_health_reports_db_broker_telegram_monitor(world: World) -> None:
    status, body = await world.get("/health", token=None)
    assert status == 200 and body["status"] == "ok"
    assert body["checks"]["db"]["status"] == "ok"
    assert body["checks"]["broker"]["status"] == "ok"
    assert body["checks"]["telegram"]["status"] == "off"
    assert set(body["checks"]) == {"db", "broker", "telegram", "monitor", "prices", "leader"}
    assert body["checks"]["prices"]["source"] == "alerts"
    # One SQLite process: no election, it leads (SPEC §11).
    assert body["role"] == body["checks"]["leader"]["role"] == "leader"
    assert body["checks"]["leader"]["detail"].startswith("leads: ")


async def test_health_is_down_503_when_the_database_is_gone(world: World) -> None:
    from tortoise import Tortoise

    await Tortoise.get_connection("default").execute_script("DROP TABLE trading_bots")
    status, body = await world.get("/health", token=None)
    assert status == 503 and body["status"] == "down"


async def test_metrics_count_alerts_orders_and_latency(world: World) -> None:
    await world.send_alert(action="buy", price="100")
    await world.send_alert(action="buy", price="abc")
    async with world.http.get(world.url("/metrics")) as response:
        text = await response.text()
    assert 'tradebot_alerts_total{http_status="200",status="executed"} 1.0' in text
    assert 'tradebot_alerts_total{http_status="400",status="rejected"} 1.0' in text
    assert 'tradebot_orders_total{intent="open",status="filled"} 1.0' in text
    assert "tradebot_webhook_latency_seconds_count 2.0" in text


async def test_stats_match_the_trade_history_to_the_cent(world: World) -> None:
    assert (await world.get("/stats", token=None))[0] == 401
    status, empty = await world.get("/stats")
    assert status == 200 and empty["currencies"] == {} and empty["performance"] == []
    await world.send_alert(action="buy", price="100")
    await world.send_alert(action="close", price="110")  # +10 − 0.10 − 0.11 fees = 9.79
    await world.send_alert(action="buy", price="100")  # open, 0.10 fee
    await world.send_alert(action="tick", price="105.5")  # unrealized +5.5
    _, trades = await world.get("/trades")
    status, stats = await world.get("/stats")
    assert status == 200
    usdt = stats["currencies"]["USDT"]
    assert sum(Decimal(t["pnl"]) for t in trades) == Decimal("9.79")
    assert usdt["periods"]["all"]["realized"] == "9.79"
    assert usdt["periods"]["day"]["realized"] == "9.79"  # closed just now: today
    assert {p["unrealized"] for p in usdt["periods"].values()} == {"5.5"}
    assert usdt["open_positions"] == 1 and usdt["balance"] == "10000"
    equity = Decimal(10000) + Decimal("9.79") + Decimal(usdt["open_realized"]) + Decimal("5.5")
    assert Decimal(usdt["equity"]) == equity
    assert Decimal(usdt["periods"]["all"]["equity_change"]) == equity - 10000
    assert Decimal(usdt["peak"]) >= equity and "drawdown" in usdt
    assert set(usdt["periods"]) == {"day", "week", "month", "all"}
    assert set(usdt["periods"]["week"]) >= {"start", "realized", "unrealized", "equity_change"}
    [demo] = stats["performance"]
    assert {k: demo[k] for k in ("bot", "symbol", "quote", "trades", "wins", "pnl", "fees")} == {
        "bot": "demo", "symbol": "BTCUSDT", "quote": "USDT", "trades": 1, "wins": 1,
        "pnl": "9.79", "fees": "0.21",
    }  # fmt: skip
    assert demo["win_rate"] == "100" and demo["profit_factor"] is None
    assert demo["best"] == demo["worst"] == demo["avg_win"] == "9.79"

    status, week = await world.get("/stats?period=week")
    assert status == 200 and list(week["currencies"]["USDT"]["periods"]) == ["week"]
    assert week["performance_period"] == "week"
    for bad in ("year", "", "day&period=week"):
        status, body = await world.get(f"/stats?period={bad}")
        assert status == 400 and body["field"] == "period", bad
