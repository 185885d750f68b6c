"""Scratch: the proposed service + app wiring (not in the main tree)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
from tortoise import Tortoise

from bot.assembly import build_broker
from db.config import tortoise_config
from db.stores import sql_stores
from handlers.web.keys import TRADING
from tests.conftest import OWNER_ID, World
from tests.fakes.exchange import API_KEY, SECRET, FakeBinance, ccxt_broker
from tests.telegram_helpers import Chat
from trading.bots import BotSpec
from trading.records import NewOrder


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    async with FakeBinance(balances={"USDT": "10000"}) as exchange:
        yield exchange
        assert exchange.unknown == []


async def test_settings_select_the_ccxt_broker(
    start_world: Callable[..., Any], make_settings: Callable[..., Any], fake: FakeBinance
) -> None:
    settings = make_settings(
        broker="ccxt", ccxt_exchange="binance", ccxt_api_key=API_KEY, ccxt_secret=SECRET,
        ccxt_api_url=fake.url, ccxt_options='{"recvWindow": 500}',
    )  # fmt: skip
    broker = build_broker(settings, sql_stores().ledger)  # ccxt: the ledger goes unused
    assert broker.name == "ccxt"
    world: World = await start_world(broker=broker)
    await world.add_bot("demo", size="0.01")
    _, body = await world.send_alert(action="buy", price="50000")
    assert body["status"] == "executed", body
    assert len(fake.executed) == 1


async def test_an_unknown_outcome_is_stored_by_reconciliation_on_status(
    start_world: Callable[..., Any], fake: FakeBinance
) -> None:
    world: World = await start_world(broker=ccxt_broker(fake))
    await world.add_bot("demo", size="0.01")
    fake.fail_next("/api/v3/order", "timeout_after_execute", method="POST")
    fake.fail_next("/api/v3/order", "http_502", method="GET", times=5)
    _, body = await world.send_alert(action="buy", price="50000")
    assert body["status"] == "rejected" and "will be reconciled" in body["reason"]
    assert len(await sql_stores().orders.pending_orders()) == 1
    report, holdings = await world.server.app[TRADING].reconcile()
    assert len(report.found) == 1 and holdings.clean
    assert await sql_stores().orders.pending_orders() == []
    _, positions = await world.get("/positions")
    assert [p["qty"] for p in positions] == ["0.01"]
    assert len(fake.executed) == 1


async def test_start_up_stores_a_fill_the_last_run_never_stored_and_tells_the_owner(
    start_world: Callable[..., Any], fake: FakeBinance, db_url: str
) -> None:
    await Tortoise.init(config=tortoise_config(db_url))
    bot = await sql_stores().bots.create_bot(BotSpec(name="demo", symbols=["BTCUSDT"], size="0.01"))
    await sql_stores().orders.create_order(NewOrder(client_order_id="tb1-crashed",
        bot_id=bot.id, symbol="BTCUSDT", side="buy", qty=Decimal("0.01"), price=Decimal("50000"),
        broker="ccxt", intent="open", reason="signal", webhook_log_id=None))  # fmt: skip
    await Tortoise.close_connections()
    sender = ccxt_broker(fake)
    await sender.exchange.create_order(
        "BTC/USDT", "market", "buy", 0.01, None, {"clientOrderId": "tb1-crashed"}
    )
    await sender.close()

    world: World = await start_world(telegram=True, broker=ccxt_broker(fake))
    assert world.telegram is not None
    owner = Chat(world.telegram, OWNER_ID)
    text = (await owner.wait_message("reconciliation")).params["text"]
    assert "order tb1-crashed BTCUSDT was filled: 0.01 @ 50000" in text
    _, positions = await world.get("/positions")
    assert [(p["symbol"], p["qty"]) for p in positions] == [("BTCUSDT", "0.01")]
    assert len(fake.executed) == 1
