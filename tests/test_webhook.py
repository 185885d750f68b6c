"""`POST /webhook/{key}` as TradingView and hostile senders use it (SPEC §5)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from db.models import CurrentPosition, Order, WebhookLog
from db.paper_ledger import SqlPaperLedger
from db.stores import sql_stores
from tests.conftest import World, now_iso
from trading.brokers.base import OrderFill, OrderRequest
from trading.brokers.paper import PaperBroker


async def test_json_as_text_plain_json_or_no_content_type_all_trade(world: World) -> None:
    for content_type in ("text/plain; charset=utf-8", "application/json", None):
        status, answer = await world.send_alert(
            action="buy", price="100", content_type=content_type
        )
        assert status == 200, answer
        assert answer["status"] == "executed"
    position = await CurrentPosition.get(symbol="BTCUSDT")
    assert position.qty == 3 and position.entries == 3


async def test_one_line_text_form_trades(world: World) -> None:
    status, answer = await world.post(
        world.bots["demo"].webhook_key, "buy BTCUSDT qty=0.5 price=100 sl=2% tp=4%"
    )
    assert status == 200 and answer["status"] == "executed"
    assert answer["position"]["qty"] == "0.5"
    position = await CurrentPosition.get(symbol="BTCUSDT")
    assert position.sl == 98 and position.tp == 104


async def test_malformed_alert_is_400_naming_the_field_and_logged(world: World) -> None:
    status, answer = await world.send_alert(action="buy", price="12abc")
    assert status == 400
    assert answer["field"] == "price"
    assert answer["reason"].startswith("price:")
    log = await WebhookLog.filter(http_status=400).get()
    assert log.status == "refused" and "price" in (log.reason or "")
    assert await Order.all().count() == 0


async def test_unknown_key_is_401_and_logged_without_the_key(world: World) -> None:
    key = "x" * 43
    status, answer = await world.post(key, '{"action": "buy", "symbol": "BTCUSDT"}')
    assert status == 401 and answer["reason"] == "unknown webhook key"
    log = await WebhookLog.get(http_status=401)
    assert log.bot_id is None  # type: ignore[attr-defined]
    assert key not in log.key_hint


async def test_passphrase_checked_and_never_stored(world: World) -> None:
    bot = await world.add_bot("guarded", passphrase="correct-horse")
    status, answer = await world.send_alert(bot, action="buy", price="100", passphrase="wrong-one")
    assert status == 401 and "passphrase" in answer["reason"]
    status, answer = await world.send_alert(
        bot, action="buy", price="100", passphrase="correct-horse"
    )
    assert status == 200 and answer["status"] == "executed"
    for log in await WebhookLog.all():
        assert "correct-horse" not in log.body and "wrong-one" not in log.body
        assert "correct-horse" not in json.dumps(log.alert or {})


async def test_body_over_64_kib_is_413(world: World) -> None:
    key = world.bots["demo"].webhook_key
    big = json.dumps({"action": "buy", "symbol": "BTCUSDT", "comment": "x" * (64 * 1024)})
    status, answer = await world.post(key, big)
    assert status == 413 and answer["reason"].startswith("body:")

    async def chunks():  # no Content-Length: the limit still holds while streaming
        for _ in range(70):
            yield b"x" * 1024

    async with world.http.post(world.url(f"/webhook/{key}"), data=chunks()) as response:
        assert response.status == 413
    # Both refusals are on record; from one sender within a minute they share one row.
    rows = await WebhookLog.filter(http_status=413)
    assert [row.repeat_count for row in rows] == [2]
    assert await Order.all().count() == 0


async def test_repeated_id_is_duplicate_and_trades_once(world: World) -> None:
    fields = {"action": "buy", "price": "100", "id": "Long-2026-11-25T10:00:00Z"}
    first = await world.send_alert(**fields)
    second = await world.send_alert(**fields)
    assert first[1]["status"] == "executed"
    assert second[0] == 200 and second[1]["status"] == "duplicate"
    assert await Order.all().count() == 1


async def test_four_identical_sends_at_once_give_one_order(world: World) -> None:
    fields = {"action": "buy", "price": "100", "id": "retry-storm"}
    answers = await asyncio.gather(*(world.send_alert(**fields) for _ in range(4)))
    statuses = sorted(answer["status"] for _, answer in answers)
    assert statuses == ["duplicate", "duplicate", "duplicate", "executed"]
    assert await Order.all().count() == 1
    assert await WebhookLog.all().count() == 4


async def test_same_id_for_two_bots_is_not_a_duplicate(world: World) -> None:
    other = await world.add_bot("other")
    await world.send_alert(action="buy", price="100", id="same")
    _, answer = await world.send_alert(other, action="buy", price="100", id="same")
    assert answer["status"] == "executed"


async def test_paused_bot_rejects_with_reason(world: World) -> None:

    await sql_stores().bots.set_paused("demo", True)
    status, answer = await world.send_alert(action="buy", price="100")
    assert status == 200
    assert answer == {
        "status": "rejected",
        "reason": "bot demo is paused",
        "bot": "demo",
        "position": None,
        "order": None,
    }
    assert await Order.all().count() == 0


async def test_stale_alert_is_rejected(world: World) -> None:
    old = (datetime.now(UTC) - timedelta(seconds=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    _, answer = await world.send_alert(action="buy", price="100", time=old)
    assert answer["status"] == "rejected" and answer["reason"].startswith("stale")
    fresh = await world.send_alert(action="buy", price="100", time=now_iso())
    assert fresh[1]["status"] == "executed"


async def test_symbol_the_bot_does_not_trade_is_rejected(world: World) -> None:
    status, answer = await world.send_alert(action="buy", price="100", symbol="ETHUSDT")
    assert status == 200 and answer["status"] == "rejected"
    assert "ETHUSDT" in answer["reason"]


async def test_insufficient_paper_balance_is_refused_not_crashed(world: World) -> None:
    status, answer = await world.send_alert(action="buy", price="20000", qty="1")
    assert status == 200 and answer["status"] == "rejected"
    assert "insufficient USDT balance" in answer["reason"]
    order = await Order.get()
    assert order.status == "rejected"
    assert await CurrentPosition.all().count() == 0


async def test_tick_updates_price_without_trading(world: World) -> None:
    await world.send_alert(action="buy", price="100")
    _, answer = await world.send_alert(action="tick", price="103")
    assert answer["status"] == "ignored"
    _, positions = await world.get("/positions")
    assert positions[0]["unrealized_pnl"] == "3"


async def test_close_without_price_uses_the_last_known_price(world: World) -> None:
    await world.send_alert(action="buy", price="100")
    await world.send_alert(action="tick", price="90")
    _, answer = await world.send_alert(action="close")
    assert answer["status"] == "executed"
    assert answer["order"]["price"] == "90"


class SlowBroker(PaperBroker):
    """A broker whose fills wait until the test lets them through."""

    instant_fills = False  # stands for an exchange: the order is out while it waits

    def __init__(self) -> None:
        super().__init__(SqlPaperLedger())
        self.release = asyncio.Event()

    async def place_order(self, request: OrderRequest) -> OrderFill:
        await self.release.wait()
        return await super().place_order(request)


async def test_slow_execution_answers_202_and_finishes_in_background(start_world) -> None:
    broker = SlowBroker()
    world = await start_world(broker=broker, webhook_answer_timeout=0.2)
    await world.add_bot("demo")
    status, answer = await world.send_alert(action="buy", price="100", id="slow-1")
    assert status == 202 and answer["status"] == "accepted"
    log = await WebhookLog.get(alert_id="slow-1")
    assert log.status == "accepted" and log.http_status == 202
    # The alert was stored before execution: a retry now is a duplicate, not a second order.
    again = await world.send_alert(action="buy", price="100", id="slow-1")
    assert again[1]["status"] == "duplicate"
    # The order row exists, pending, while the broker has not answered.
    pending = await Order.get()
    assert pending.status == "pending" and pending.client_order_id.startswith("tb")
    broker.release.set()
    order = await _wait_for_order(status="filled")
    assert order.qty == 1
    await _wait_for_log(log.id, "executed")
    # the row keeps the answer the sender got, and the order the fill wrote with it
    finished = await WebhookLog.get(id=log.id)
    assert (finished.http_status, finished.order_id) == (202, order.id)


async def _wait_for_order(status: str) -> Order:
    for _ in range(200):
        order = await Order.get_or_none(status=status)
        if order is not None:
            return order
        await asyncio.sleep(0.01)
    raise AssertionError(f"no {status} order")


async def _wait_for_log(log_id: int, status: str) -> None:
    for _ in range(200):
        if (await WebhookLog.get(id=log_id)).status == status:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"webhook log {log_id} never became {status}")


async def test_garbage_never_gets_a_500_and_every_request_is_logged(world: World) -> None:
    key = world.bots["demo"].webhook_key
    bodies = [
        b"",
        b"null",
        b"{}",
        b"[]",
        b'{"action": 1, "symbol": 2}',
        b"\x00\x01\x02",
        "buy \u20ac\u00e9 qty=1".encode(),
        b'{"action": "buy", "symbol": "BTCUSDT", "qty": 1e999}',
        b'{"action": "buy", "symbol": "BTCUSDT", "price": "-5"}',
        b"{" * 5000,
        b'{"action": "buy", "symbol": "BTCUSDT", "time": 99999999999999999}',
    ]
    for body in bodies:
        status, answer = await world.post(key, body)
        assert 400 <= status < 500, (body[:40], status, answer)
    # every request is on record; identical refusals from one sender share a row with a count
    assert sum(row.repeat_count for row in await WebhookLog.all()) == len(bodies)


async def test_ip_allowlists_per_bot_and_global(start_world) -> None:
    world = await start_world()
    await world.add_bot("demo")
    local = await world.add_bot("local", allow_ips=["127.0.0.1"])
    remote = await world.add_bot("remote", allow_ips=["tradingview", "10.0.0.0/8"])
    assert (await world.send_alert(local, action="buy", price="1"))[1]["status"] == "executed"
    status, answer = await world.send_alert(remote, action="buy", price="1")
    assert status == 403 and answer["reason"] == "IP 127.0.0.1 is not allowed"
    assert await WebhookLog.filter(http_status=403).count() == 1

    guarded = await start_world(webhook_ip_allowlist="tradingview")
    bot = await guarded.add_bot("g")
    status, _ = await guarded.send_alert(bot, action="buy", price="1")
    assert status == 403


async def test_storage_outage_answers_503_so_tradingview_retries(world: World) -> None:
    from tortoise import Tortoise

    await Tortoise.get_connection("default").execute_script("DROP TABLE webhook_logs")
    status, answer = await world.send_alert(action="buy", price="100")
    assert status == 503 and answer["status"] == "error"
    assert await Order.all().count() == 0


async def test_over_the_rate_limit_is_429_with_retry_after_counted_not_logged(start_world) -> None:
    world = await start_world(webhook_rate_per_key=0.5, webhook_burst_per_key=2)
    await world.add_bot("demo")
    answers = [await world.send_alert(action="tick", price="1") for _ in range(3)]
    assert [status for status, _ in answers] == [200, 200, 429]
    async with world.http.post(
        world.url(f"/webhook/{world.bots['demo'].webhook_key}"), data=b"tick BTCUSDT price=1"
    ) as response:
        assert response.status == 429
        assert int(response.headers["Retry-After"]) >= 1
    assert await WebhookLog.all().count() == 2
    async with world.http.get(world.url("/metrics")) as response:
        assert 'tradebot_webhook_rate_limited_total{scope="key"} 2.0' in await response.text()


async def test_forwarded_for_is_believed_only_from_a_trusted_proxy(start_world) -> None:
    world = await start_world(trusted_proxies="127.0.0.1")
    bot = await world.add_bot("tv", allow_ips=["tradingview"])
    url = world.url(f"/webhook/{bot.webhook_key}")
    body = b"buy BTCUSDT price=1"
    # the client prepends a forged TradingView address; the proxy appends the real peer
    forged = {"X-Forwarded-For": "52.89.214.238, 203.0.113.9"}
    async with world.http.post(url, data=body, headers=forged) as response:
        assert response.status == 403
        assert "203.0.113.9" in (await response.json())["reason"]
    real = {"X-Forwarded-For": "52.89.214.238"}
    async with world.http.post(url, data=body, headers=real) as response:
        assert response.status == 200

    untrusted = await start_world()  # no trusted proxy: the header is ignored
    other = await untrusted.add_bot("tv2", allow_ips=["tradingview"])
    async with untrusted.http.post(
        untrusted.url(f"/webhook/{other.webhook_key}"), data=body, headers=real
    ) as response:
        assert response.status == 403


async def test_a_rotated_key_stops_the_old_url_at_once(world: World) -> None:

    old = world.bots["demo"]
    new = await sql_stores().bots.rotate_key("demo")
    status, answer = await world.send_alert(old, action="buy", price="100")
    assert status == 401 and answer["reason"] == "unknown webhook key"
    assert (await world.send_alert(new, action="buy", price="100"))[1]["status"] == "executed"


async def test_an_older_price_never_replaces_a_newer_one(world: World) -> None:
    """An approved alert is executed after later alerts were seen: its price is older."""

    bot = world.bots["demo"].id
    await world.send_alert(action="tick", price="105")
    earlier = datetime.now(UTC) - timedelta(minutes=1)
    prices = sql_stores().prices
    await prices.record_price("BTCUSDT", Decimal("99"), earlier, "alert", bot_id=bot)
    assert await prices.last_price("BTCUSDT", bot) == Decimal("105")
    await prices.record_price("BTCUSDT", Decimal("106"), datetime.now(UTC), "alert", bot_id=bot)
    assert await prices.last_price("BTCUSDT", bot) == Decimal("106")
    # a ticker poll follows the same rule, symbol by symbol; the bot takes the newer of the two
    await prices.record_prices({"BTCUSDT": (Decimal("98"), earlier)}, "ticker")
    assert await prices.last_price("BTCUSDT", bot) == Decimal("106")
    older = earlier - timedelta(minutes=1)
    await prices.record_prices({"BTCUSDT": (Decimal("97"), older)}, "ticker")
    assert await prices.last_price("BTCUSDT") == Decimal("98")
    await prices.record_prices({"BTCUSDT": (Decimal("107"), datetime.now(UTC))}, "ticker")
    assert await prices.last_price("BTCUSDT", bot) == Decimal("107")


class BrokenBroker(PaperBroker):
    """A bug below the service: the alert must still be answered and recorded, never a 500."""

    def __init__(self) -> None:
        super().__init__(SqlPaperLedger())

    async def place_order(self, request: OrderRequest) -> OrderFill:
        raise RuntimeError("a bug")


async def test_an_unexpected_failure_is_a_rejected_alert_naming_its_log_row(start_world) -> None:
    world = await start_world(broker=BrokenBroker())
    await world.add_bot("demo")
    status, answer = await world.send_alert(action="buy", price="100", id="boom")
    log = await WebhookLog.get(alert_id="boom")
    assert (status, answer["status"]) == (200, "rejected")
    assert answer["reason"] == f"internal error (webhook log #{log.id})"
    assert (log.status, log.reason, log.http_status) == ("rejected", answer["reason"], 200)
    async with world.http.get(world.url("/metrics")) as response:
        assert 'tradebot_errors_total{where="alert' in await response.text()


async def test_a_database_locked_by_a_stuck_writer_answers_503_and_the_retry_trades_once(
    world: World, db_url: str
) -> None:
    """Another process holds SQLite's write lock past the busy timeout: the alert is answered
    503 with nothing half-written, and TradingView's retry of the same alert trades once."""
    import sqlite3

    stuck = sqlite3.connect(db_url.removeprefix("sqlite://"), isolation_level=None)
    stuck.execute("BEGIN IMMEDIATE")
    try:
        status, answer = await world.send_alert(action="buy", price="100", id="retry-me")
        assert (status, answer["status"]) == (503, "error")
    finally:
        stuck.execute("ROLLBACK")
        stuck.close()
    assert await WebhookLog.all().count() == 0 and await Order.all().count() == 0
    status, answer = await world.send_alert(action="buy", price="100", id="retry-me")
    assert (status, answer["status"]) == (200, "executed")
    status, answer = await world.send_alert(action="buy", price="100", id="retry-me")
    assert answer["status"] == "duplicate"
    assert await Order.all().count() == 1
