"""The ccxt broker through the real ccxt client against a fake Binance spot API on 127.0.0.1:
signed requests, precision and limits, refusals a trader can read, and faults on the way out and
on the way back that must never leave two orders where one was asked for."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest

from db.paper_ledger import SqlPaperLedger
from db.stores import sql_stores
from tests.conftest import OWNER_ID, World
from tests.fakes.exchange import (
    API_KEY,
    FAST_RETRIES,
    RECV_WINDOW_MS,
    SECRET,
    FakeBinance,
    ccxt_broker,
    ccxt_config,
)
from tests.telegram_helpers import Chat
from trading.brokers.base import OrderRequest
from trading.brokers.ccxt_broker import CcxtBroker, CcxtConfig, rewrite_api_urls
from trading.brokers.factory import create_broker
from trading.errors import BrokerRefusal, BrokerUnavailable, InvalidRequest


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    async with FakeBinance(balances={"USDT": "10000"}) as exchange:
        yield exchange
        assert exchange.unknown == []  # ccxt called nothing the fake does not serve
        assert exchange.bad_signatures == 0


@pytest.fixture
async def broker(fake: FakeBinance) -> AsyncIterator[CcxtBroker]:
    broker = ccxt_broker(fake)
    await broker.start()
    yield broker
    await broker.close()


_ids = iter(range(1, 10_000))


def order(
    side: str = "buy",
    qty: str = "0.01",
    *,
    symbol: str = "BTCUSDT",
    price: str = "50000",
    open_qty: str | None = None,
    order_type: str = "market",
    client_order_id: str | None = None,
) -> OrderRequest:
    return OrderRequest(
        client_order_id=client_order_id or f"tb1-test{next(_ids):06d}",
        symbol=symbol,
        base=symbol.removesuffix("USDT"),
        quote="USDT",
        side=side,  # type: ignore[arg-type]
        qty=Decimal(qty),
        price=Decimal(price),
        open_qty=Decimal(qty if open_qty is None else open_qty),
        order_type=order_type,  # type: ignore[arg-type]
    )


def posts(fake: FakeBinance) -> int:
    return fake.requests.count(("POST", "/api/v3/order"))


# ---------------------------------------------------------------- orders that go well


async def test_market_buy_fills_at_the_exchange_price_with_the_fee_in_quote(
    broker: CcxtBroker, fake: FakeBinance
) -> None:
    request = order("buy", "0.01", price="49000")
    fill = await broker.place_order(request)
    assert (fill.qty, fill.price) == (Decimal("0.01"), Decimal("50000"))
    # Binance took 0.1% of the BTC received; the fill states it in USDT at the fill price.
    assert (fill.fee, fill.fee_currency) == (Decimal("0.5"), "USDT")
    [placed] = fake.executed
    assert placed.client_order_id == request.client_order_id
    assert fill.broker_order_id == str(placed.order_id)
    assert fake.balance("BTC") == Decimal("0.00999")
    assert fake.balance("USDT") == Decimal("9500")


async def test_qty_is_rounded_down_to_the_market_lot_step(
    broker: CcxtBroker, fake: FakeBinance
) -> None:
    fill = await broker.place_order(order("buy", "0.123456789"))
    assert fill.qty == Decimal("0.12345")
    assert fake.executed[0].qty == Decimal("0.12345")


async def test_exchange_prefixed_ticker_maps_to_the_market_by_its_id(
    broker: CcxtBroker, fake: FakeBinance
) -> None:
    fill = await broker.place_order(order("buy", "0.01", symbol="BINANCE:ETHUSDT", price="3000"))
    assert fill.price == Decimal("3000")
    assert fake.executed[0].symbol == "ETHUSDT"
    assert (await broker.market("BTC/USDT"))["id"] == "BTCUSDT"


async def test_limit_order_fills_now_or_is_refused_as_unfilled(
    broker: CcxtBroker, fake: FakeBinance
) -> None:
    fill = await broker.place_order(order("buy", "0.01", price="51000.004", order_type="limit"))
    assert fill.price == Decimal("50000")  # marketable: filled at the better market price
    assert fake.executed[0].price == Decimal("51000")  # the limit, rounded to the tick
    with pytest.raises(BrokerRefusal, match="expired the order without a fill"):
        await broker.place_order(order("buy", "0.01", price="40000", order_type="limit"))
    assert fake.executed[1].status == "EXPIRED"


async def test_a_sell_that_closes_sells_what_the_account_holds_after_fees_in_base(
    broker: CcxtBroker, fake: FakeBinance
) -> None:
    await broker.place_order(order("buy", "0.01"))
    assert fake.balance("BTC") == Decimal("0.00999")
    fill = await broker.place_order(order("sell", "0.010000009", open_qty="0"))
    assert fake.executed[1].qty == Decimal("0.00999")
    assert fill.qty == Decimal("0.01")  # the position (at the lot step) is closed in the books
    assert fake.balance("BTC") == 0
    assert fill.fee_currency == "USDT"


async def test_balances_are_the_exchange_account(broker: CcxtBroker, fake: FakeBinance) -> None:
    await broker.place_order(order("buy", "0.01"))
    balances = {b.currency: b for b in await broker.balances()}
    assert balances["USDT"].total == Decimal("9500")
    assert balances["BTC"].available == Decimal("0.00999")


async def test_an_order_is_found_by_its_client_id_with_its_fee(
    broker: CcxtBroker, fake: FakeBinance
) -> None:
    request = order("buy", "0.02")
    placed = await broker.place_order(request)
    found = await broker.fetch_order(request.client_order_id, "BTCUSDT")
    assert found == placed
    assert await broker.fetch_order("tb1-never-sent", "BTCUSDT") is None


# ---------------------------------------------------------------- refusals


async def test_qty_below_the_market_minimum_is_refused_naming_the_limit(
    broker: CcxtBroker, fake: FakeBinance
) -> None:
    with pytest.raises(BrokerRefusal) as refused:
        await broker.place_order(order("buy", "0.00005"))
    assert "below the minimum amount 0.0001 BTC of BTC/USDT" in refused.value.user_message
    with pytest.raises(BrokerRefusal, match=r"rounds to zero at the lot step 0\.00001"):
        await broker.place_order(order("buy", "0.000001"))
    assert posts(fake) == 0


async def test_order_value_below_the_minimum_notional_is_refused(
    broker: CcxtBroker, fake: FakeBinance
) -> None:
    with pytest.raises(
        BrokerRefusal, match=r"order value 4(\.00)? USDT is below the minimum notional 5 USDT"
    ):
        await broker.place_order(order("buy", "0.0001", price="40000"))
    assert posts(fake) == 0


async def test_insufficient_funds_is_a_refusal_naming_the_balance(
    broker: CcxtBroker, fake: FakeBinance
) -> None:
    with pytest.raises(BrokerRefusal) as refused:
        await broker.place_order(order("buy", "1"))
    message = refused.value.user_message
    assert message.startswith("insufficient USDT balance on binance")
    assert "Account has insufficient balance" in message
    assert fake.executed == []
    assert posts(fake) == 1  # a refusal is final: no retry


async def test_a_wrong_secret_is_refused_by_the_exchange_signature_check(
    fake: FakeBinance,
) -> None:
    broker = ccxt_broker(fake, secret="not-the-secret")
    await broker.start()
    try:
        with pytest.raises(BrokerRefusal, match="refused the API key") as refused:
            await broker.place_order(order("buy", "0.01"))
        assert "Signature for this request is not valid" in refused.value.user_message
        assert "not-the-secret" not in refused.value.user_message
    finally:
        await broker.close()
    assert fake.bad_signatures == 1
    fake.bad_signatures = 0
    assert fake.executed == []


async def test_unknown_market_is_refused(broker: CcxtBroker, fake: FakeBinance) -> None:
    with pytest.raises(BrokerRefusal, match="no spot market DOGEUSDT"):
        await broker.place_order(order("buy", "10", symbol="DOGEUSDT"))


# ---------------------------------------------------------------- faults: exactly one order


async def test_answer_lost_after_the_order_executed_does_not_trade_twice(
    broker: CcxtBroker, fake: FakeBinance
) -> None:
    fake.fail_next("/api/v3/order", "timeout_after_execute", method="POST")
    request = order("buy", "0.01")
    fill = await broker.place_order(request)
    assert len(fake.executed) == 1
    assert posts(fake) == 1  # found by its client id instead of sent again
    assert ("GET", "/api/v3/order") in fake.requests
    assert (fill.qty, fill.price, fill.fee) == (Decimal("0.01"), Decimal("50000"), Decimal("0.5"))
    assert fill.broker_order_id == str(fake.executed[0].order_id)


@pytest.mark.parametrize(
    "fault",
    [
        "timeout_before_execute",
        "http_502",
        "binance_-1001",
        "ddos_429",
        "http_502_after_execute",
        "binance_-1001_after_execute",
        "disconnect_after_execute",
    ],
)
async def test_every_fault_ends_with_exactly_one_order(
    broker: CcxtBroker, fake: FakeBinance, fault: str
) -> None:
    fake.fail_next("/api/v3/order", fault, method="POST")
    request = order("buy", "0.01")
    fill = await broker.place_order(request)
    assert len(fake.executed) == 1
    assert fake.executed[0].client_order_id == request.client_order_id
    assert fill.qty == Decimal("0.01")
    assert fake.balance("USDT") == Decimal("9500")


async def test_a_missing_order_is_resent_only_once_it_can_no_longer_execute(
    broker: CcxtBroker, fake: FakeBinance
) -> None:
    fake.fail_next("/api/v3/order", "http_502", method="POST")
    started = time.monotonic()
    await broker.place_order(order("buy", "0.01"))
    assert broker.settle_seconds == pytest.approx(RECV_WINDOW_MS / 1000 + 1)
    assert time.monotonic() - started >= broker.settle_seconds
    assert posts(fake) == 2


async def test_when_look_ups_keep_failing_the_outcome_is_left_to_reconciliation(
    broker: CcxtBroker, fake: FakeBinance
) -> None:
    fake.fail_next("/api/v3/order", "timeout_after_execute", method="POST")
    fake.fail_next("/api/v3/order", "http_502", method="GET", times=len(FAST_RETRIES) + 1)
    request = order("buy", "0.01")
    with pytest.raises(BrokerUnavailable, match="did not answer whether order"):
        await broker.place_order(request)
    assert len(fake.executed) == 1 and posts(fake) == 1
    found = await broker.fetch_order(request.client_order_id)  # later: the market is remembered
    assert found is not None and found.qty == Decimal("0.01")


async def test_an_exchange_that_never_takes_the_order_is_a_refusal_after_bounded_attempts(
    fake: FakeBinance,
) -> None:
    broker = CcxtBroker(
        ccxt_config(fake),
        retry_delays=FAST_RETRIES,
        lookup_delays=FAST_RETRIES,
        settle_seconds=0.2,
    )
    try:
        fake.fail_next("/api/v3/order", "ddos_429", method="POST", times=100)
        with pytest.raises(BrokerRefusal, match="did not take the order after 5 attempts"):
            await broker.place_order(order("buy", "0.01"))
        # Each 429 was followed by a look-up: a proxy may answer 429 after the order went in.
        assert fake.requests.count(("GET", "/api/v3/order")) >= 5
    finally:
        await broker.close()
    assert fake.executed == [] and posts(fake) == 5


async def test_an_exchange_that_went_away_is_a_refusal_and_nothing_is_sent(
    broker: CcxtBroker, fake: FakeBinance
) -> None:
    await fake.stop()  # connections are refused: the request never leaves
    with pytest.raises(BrokerRefusal, match=r"did not take the order.*nothing was traded"):
        await broker.place_order(order("buy", "0.01"))
    assert fake.executed == []


async def test_the_fake_like_binance_trades_a_reused_client_id_of_a_filled_order_again(
    broker: CcxtBroker, fake: FakeBinance
) -> None:
    """Why blind resends are forbidden: the exchange does not deduplicate filled orders."""
    request = order("buy", "0.01", client_order_id="tb1-reused")
    await broker.place_order(request)
    await broker.exchange.create_order(
        "BTC/USDT", "market", "buy", 0.01, None, {"clientOrderId": "tb1-reused"}
    )
    assert len(fake.orders_with_client_id("tb1-reused")) == 2


# ---------------------------------------------------------------- configuration and start-up


def test_api_url_replaces_scheme_and_host_of_every_endpoint_keeping_paths() -> None:
    urls = {
        "public": "https://api.binance.com/api/v3",
        "nested": {"fapi": "https://fapi.binance.com/fapi/v1"},
        "list": ["https://x.example/a"],
        "not_a_url": "binance",
    }
    assert rewrite_api_urls(urls, "http://127.0.0.1:9000") == {
        "public": "http://127.0.0.1:9000/api/v3",
        "nested": {"fapi": "http://127.0.0.1:9000/fapi/v1"},
        "list": ["http://127.0.0.1:9000/a"],
        "not_a_url": "binance",
    }
    assert rewrite_api_urls("https://api.binance.com/api/v3", "https://proxy.example/binance/") == (
        "https://proxy.example/binance/api/v3"
    )


async def test_sandbox_urls_are_rewritten_too(fake: FakeBinance) -> None:
    broker = ccxt_broker(fake, sandbox=True)
    try:
        assert broker.exchange.urls["api"]["private"] == f"{fake.url}/api/v3"
        await broker.start()
        fill = await broker.place_order(order("buy", "0.01"))
        assert fill.qty == Decimal("0.01")
    finally:
        await broker.close()


async def test_bad_ccxt_configuration_names_the_variable(fake: FakeBinance) -> None:
    with pytest.raises(InvalidRequest, match="TRADEBOT_CCXT_EXCHANGE: ccxt has no exchange"):
        CcxtBroker(CcxtConfig(exchange="nosuchexchange"))
    with pytest.raises(InvalidRequest, match="TRADEBOT_CCXT_EXCHANGE: required"):
        create_broker("ccxt", ledger=SqlPaperLedger())
    broker = create_broker("ccxt", ledger=SqlPaperLedger(), ccxt=ccxt_config(fake))
    assert isinstance(broker, CcxtBroker)
    await broker.close()


async def test_an_unreachable_exchange_at_start_up_refuses_orders_without_sending() -> None:
    async with FakeBinance() as gone:
        config = ccxt_config(gone)
    broker = CcxtBroker(config, retry_delays=FAST_RETRIES, lookup_delays=FAST_RETRIES)
    try:
        await broker.start()  # does not raise: the rest of the product still starts
        assert (await broker.health())[0] is False
        with pytest.raises(BrokerRefusal, match=r"markets could not be loaded.*nothing was sent"):
            await broker.place_order(order("buy", "0.01"))
    finally:
        await broker.close()


async def test_logs_never_contain_the_api_key_or_secret(
    fake: FakeBinance, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    broker = ccxt_broker(fake)
    try:
        await broker.start()
        fake.fail_next("/api/v3/order", "timeout_after_execute", method="POST")
        await broker.place_order(order("buy", "0.01"))
        with pytest.raises(BrokerRefusal):
            await broker.place_order(order("buy", "1"))
        await broker.balances()
    finally:
        await broker.close()
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "X-MBX-APIKEY" in text  # ccxt's debug lines were captured...
    assert API_KEY not in text and SECRET not in text  # ...with the key redacted
    assert API_KEY not in repr(broker.config) and SECRET not in repr(broker.config)


# ---------------------------------------------------------------- through the product


@pytest.fixture
async def exchange_world(start_world: Callable[..., Any], fake: FakeBinance) -> Callable[..., Any]:
    async def start(**overrides: Any) -> World:
        world: World = await start_world(broker=ccxt_broker(fake), **overrides)
        await world.add_bot("demo", size="0.01")
        return world

    return start


async def test_an_alert_trades_once_on_the_exchange_and_stores_the_fill(
    exchange_world: Callable[..., Any], fake: FakeBinance
) -> None:
    world = await exchange_world()
    status, body = await world.send_alert(action="buy", price="50100", qty="0.02")
    assert (status, body["status"]) == (200, "executed")
    [placed] = fake.executed
    assert body["order"]["client_order_id"] == placed.client_order_id
    assert (body["order"]["qty"], body["order"]["price"]) == ("0.02", "50000")
    row = await sql_stores().orders.order_by_id(body["order"]["id"])
    assert (row.status, row.broker, row.broker_order_id) == ("filled", "ccxt", str(placed.order_id))
    assert (row.fee, row.fee_currency) == (Decimal("1"), "USDT")
    _, positions = await world.get("/positions")
    assert [(p["symbol"], p["side"], p["qty"]) for p in positions] == [("BTCUSDT", "long", "0.02")]


async def test_an_answer_lost_after_execution_still_ends_with_one_order_and_the_position(
    exchange_world: Callable[..., Any], fake: FakeBinance
) -> None:
    world = await exchange_world()
    fake.fail_next("/api/v3/order", "timeout_after_execute", method="POST")
    status, body = await world.send_alert(action="buy", price="50000", qty="0.01")
    assert (status, body["status"]) == (200, "executed")
    assert len(fake.executed) == 1
    _, positions = await world.get("/positions")
    assert [p["qty"] for p in positions] == ["0.01"]
    assert (await sql_stores().orders.order_by_id(body["order"]["id"])).status == "filled"


async def test_insufficient_funds_answers_rejected_with_the_reason_and_opens_nothing(
    exchange_world: Callable[..., Any], fake: FakeBinance
) -> None:
    world = await exchange_world()
    status, body = await world.send_alert(action="buy", price="50000", qty="1")
    assert (status, body["status"]) == (200, "rejected")
    assert "insufficient USDT balance on binance" in body["reason"]
    assert fake.executed == []
    _, positions = await world.get("/positions")
    assert positions == []
    assert await sql_stores().orders.pending_orders() == []  # the order row was closed as rejected


async def test_qty_below_the_market_minimum_is_rejected_naming_the_limit(
    exchange_world: Callable[..., Any], fake: FakeBinance
) -> None:
    world = await exchange_world()
    status, body = await world.send_alert(action="buy", price="50000", qty="0.00005")
    assert (status, body["status"]) == (200, "rejected")
    assert "minimum amount 0.0001 BTC" in body["reason"]
    assert posts(fake) == 0


async def test_precision_rounding_shows_in_the_answer_and_the_position(
    exchange_world: Callable[..., Any], fake: FakeBinance
) -> None:
    world = await exchange_world()
    _, body = await world.send_alert(action="buy", price="50000", qty="0.123456789")
    assert body["status"] == "executed"
    assert body["order"]["qty"] == "0.12345"
    assert body["position"]["qty"] == "0.12345"


async def test_open_then_close_round_trip_leaves_the_account_flat(
    exchange_world: Callable[..., Any], fake: FakeBinance
) -> None:
    world = await exchange_world()
    await world.send_alert(action="buy", price="50000", qty="0.01")
    fake.set_price("BTCUSDT", "51000")
    status, body = await world.send_alert(action="close", price="51000")
    assert (status, body["status"]) == (200, "executed")
    assert len(fake.executed) == 2
    assert fake.balance("BTC") == 0
    _, positions = await world.get("/positions")
    assert positions == []
    _, trades = await world.get("/trades")
    assert Decimal(trades[0]["pnl"]) > 0


async def test_a_refusal_is_told_in_telegram_and_balance_shows_the_exchange(
    exchange_world: Callable[..., Any], fake: FakeBinance
) -> None:
    world = await exchange_world(telegram=True)
    assert world.telegram is not None
    owner = Chat(world.telegram, OWNER_ID)
    await owner.wait_message("Tradebot started")
    _, body = await world.send_alert(action="buy", price="50000", qty="1")
    assert body["status"] == "rejected"
    refused = (await owner.wait_message("⛔ Refused · demo BTCUSDT")).params["text"]
    assert "insufficient USDT balance on binance" in refused
    balance = await owner.say("/balance", "Balance")
    assert "ccxt" in balance and "USDT" in balance and "10,000" in balance


async def test_tickers_for_the_position_monitor_come_from_the_exchange(
    broker: CcxtBroker, fake: FakeBinance
) -> None:
    fake.set_price("ETHUSDT", "3100.5")
    prices = await broker.fetch_tickers(["BTCUSDT", "ETHUSDT", "DOGEUSDT"])
    assert prices == {"BTCUSDT": Decimal("50000"), "ETHUSDT": Decimal("3100.5")}
    fake.fail_next("/api/v3/ticker/24hr", "http_502")
    with pytest.raises(BrokerUnavailable, match="tickers unavailable"):
        await broker.fetch_tickers(["BTCUSDT"])


async def test_concurrent_alerts_under_faults_each_end_with_exactly_one_order(
    start_world: Callable[..., Any], fake: FakeBinance
) -> None:
    world: World = await start_world(broker=ccxt_broker(fake))
    for name in ("a", "b", "c", "d"):
        await world.add_bot(name, size="0.01")
    for kind in ("timeout_after_execute", "http_502", "disconnect_after_execute", "binance_-1001"):
        fake.fail_next("/api/v3/order", kind, method="POST")
    answers = await asyncio.gather(
        *(world.send_alert(name, action="buy", price="50000") for name in ("a", "b", "c", "d"))
    )
    assert all(status in (200, 202) for status, _ in answers), answers
    positions: list[Any] = []
    for _ in range(600):  # those answered 202 finish in the background (60 s at most)
        _, positions = await world.get("/positions")
        if len(positions) == 4:
            break
        await asyncio.sleep(0.1)
    assert sorted(p["bot"] for p in positions) == ["a", "b", "c", "d"]
    assert len(fake.executed) == 4
    assert len({o.client_order_id for o in fake.executed}) == 4


async def test_a_price_series_starts_from_the_exchange_candles(
    start_world: Callable[..., Any], fake: FakeBinance
) -> None:
    from datetime import UTC, datetime, timedelta

    from db.models import PriceBar

    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    first = hour - timedelta(hours=30)
    # 20 closed hourly bars falling 500 each: RSI(14) is 0 at the end, well below 30
    rows = []
    for i in range(20):
        opened = int((first + timedelta(hours=i)).timestamp() * 1000)
        close = 60000 - 500 * i
        rows.append([opened, close + 500, close + 500, close, close, 1])
    fake.set_klines("BTCUSDT", rows)
    world: World = await start_world(broker=ccxt_broker(fake))
    await world.add_bot("r", strategy="rsi", size="0.01", direction="long", interval="60")
    bar_time = (first + timedelta(hours=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, body = await world.send_alert(
        "r", action="tick", price="50000", interval="60", bar_time=bar_time
    )
    assert (status, body["status"]) == (200, "executed"), body
    assert body["order"]["intent"] == "open"
    assert await PriceBar.filter(source="candles").count() == 20
