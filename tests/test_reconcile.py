"""Reconciliation: orders left pending are resolved against the broker, and the holdings the open
positions claim are compared with the broker's balances."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from db.paper_ledger import SqlPaperLedger
from db.stores import sql_stores
from tests.conftest import World
from tests.fakes.exchange import FakeBinance, ccxt_broker
from trading.brokers.base import Balance, BaseBroker, OrderFill, OrderRequest
from trading.brokers.paper import PaperBroker
from trading.brokers.reconcile import (
    HoldingDifference,
    check_holdings,
    compare_holdings,
    reconcile_pending,
)
from trading.errors import BrokerUnavailable
from trading.records import NewOrder

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@dataclass
class Row:
    id: int
    client_order_id: str
    symbol: str
    created_at: datetime


@dataclass
class Held:
    symbol: str
    side: str
    qty: Decimal


def a_fill(client_order_id: str) -> OrderFill:
    return OrderFill(client_order_id, "ex-1", Decimal("0.5"), Decimal("100"), Decimal("0.05"),
                     "USDT", NOW)  # fmt: skip


class StubBroker(BaseBroker):
    """Knows some orders; cannot answer for others."""

    name = "stub"

    def __init__(self, filled: set[str], broken: set[str]) -> None:
        self.filled = filled
        self.broken = broken

    async def place_order(self, request: OrderRequest) -> OrderFill:
        raise NotImplementedError

    async def fetch_order(self, client_order_id: str) -> OrderFill | None:
        if client_order_id in self.broken:
            raise BrokerUnavailable("exchange timed out")
        return a_fill(client_order_id) if client_order_id in self.filled else None

    async def balances(self) -> list[Balance]:
        return []


async def test_pending_orders_are_filled_failed_or_left_pending() -> None:
    broker = StubBroker(filled={"c-filled"}, broken={"c-broken"})
    old = NOW - timedelta(minutes=10)
    rows = [
        Row(1, "c-filled", "BTCUSDT", old),
        Row(2, "c-missing", "BTCUSDT", old),
        Row(3, "c-broken", "BTCUSDT", old),
        Row(4, "c-young", "BTCUSDT", NOW - timedelta(seconds=5)),
    ]
    report = await reconcile_pending(broker, rows, now=NOW)
    assert report.found == [(1, a_fill("c-filled"))]
    assert [(r.order_id, r.status) for r in report.failed] == [(2, "failed")]
    assert [(r.order_id, r.detail) for r in report.pending] == [
        (3, "exchange timed out"),
        (4, "too recent to judge"),
    ]
    assert not report.clean
    assert report.lines()[0] == "order c-filled BTCUSDT was filled: 0.5 @ 100"


async def test_nothing_pending_is_a_clean_report() -> None:
    report = await reconcile_pending(StubBroker(set(), set()), [], now=NOW)
    assert report.clean and report.lines() == []


def test_holdings_short_of_the_positions_are_reported_within_a_fee_tolerance() -> None:
    positions = [Held("BTCUSDT", "long", Decimal("0.02")), Held("ETHUSDT", "long", Decimal("1"))]
    balances = [Balance("BTC", Decimal("0.01998"), Decimal("0.01998")),  # 0.1% fee paid in BTC
                Balance("ETH", Decimal("0.4"), Decimal("0.4"))]  # fmt: skip
    differences, unverified = compare_holdings(positions, balances)
    assert differences == [HoldingDifference("ETH", Decimal("1"), Decimal("0.4"))]
    assert unverified == []


def test_surplus_is_reported_only_when_asked_and_shorts_cannot_be_verified_on_spot() -> None:
    positions = [Held("BTCUSDT", "long", Decimal("0.01")), Held("ETHUSDT", "short", Decimal("2"))]
    balances = [Balance("BTC", Decimal("1"), Decimal("1"))]
    assert compare_holdings(positions, balances)[0] == []
    differences, unverified = compare_holdings(positions, balances, include_surplus=True)
    assert differences == [HoldingDifference("BTC", Decimal("0.01"), Decimal("1"))]
    assert unverified == ["ETHUSDT short 2: a spot account holds no shorts"]


# ---------------------------------------------------------------- against the exchange


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    async with FakeBinance(balances={"USDT": "10000"}) as exchange:
        yield exchange


async def test_an_order_sent_before_a_crash_is_found_filled_after_restart(
    start_world: Callable[..., Any], fake: FakeBinance
) -> None:
    world: World = await start_world(broker=ccxt_broker(fake))
    bot = await world.add_bot("demo", size="0.01")
    # The process wrote the row, sent the order, and died before storing the fill.
    order_id = await sql_stores().orders.create_order(NewOrder(client_order_id="tb1-crashed",
        bot_id=bot.id, symbol="BTCUSDT", side="buy", qty=Decimal("0.01"), price=Decimal("50000"),
        broker="ccxt", intent="open", reason="signal", webhook_log_id=None))  # fmt: skip
    never_sent = await sql_stores().orders.create_order(NewOrder(client_order_id="tb1-never-sent",
        bot_id=bot.id, symbol="BTCUSDT", side="buy", qty=Decimal("0.01"), price=Decimal("50000"),
        broker="ccxt", intent="open", reason="signal", webhook_log_id=None))  # fmt: skip
    sender = ccxt_broker(fake)
    try:
        await sender.exchange.create_order(
            "BTC/USDT", "market", "buy", 0.01, None, {"clientOrderId": "tb1-crashed"}
        )
    finally:
        await sender.close()

    restarted = ccxt_broker(fake)  # a new process: it remembers nothing of the order
    try:
        report = await reconcile_pending(
            restarted,
            await sql_stores().orders.pending_orders(),
            now=datetime.now(UTC) + timedelta(hours=1),
        )
        # Reconciliation named the market: a look-up by client id alone now works too (the
        # service does that before taking over an expired closing claim).
        assert await restarted.fetch_order("tb1-crashed") == report.found[0][1]
    finally:
        await restarted.close()
    [(found_id, fill)] = report.found
    assert found_id == order_id
    assert (fill.qty, fill.price, fill.fee, fill.fee_currency) == (
        Decimal("0.01"), Decimal("50000"), Decimal("0.5"), "USDT",
    )  # fmt: skip
    assert fill.broker_order_id == str(fake.executed[0].order_id)
    assert [r.order_id for r in report.failed] == [never_sent]
    assert len(fake.executed) == 1  # reconciliation only looks


async def test_holdings_match_after_trading_and_a_withdrawal_is_reported(
    start_world: Callable[..., Any], fake: FakeBinance
) -> None:
    broker = ccxt_broker(fake)
    world: World = await start_world(broker=broker)
    await world.add_bot("demo", size="0.01")
    _, body = await world.send_alert(action="buy", price="50000", qty="0.02")
    assert body["status"] == "executed"
    assert (await check_holdings(broker, await sql_stores().positions.list_positions())).clean
    fake.free["BTC"] = Decimal("0.005")  # someone sold most of it on the exchange's website
    report = await check_holdings(broker, await sql_stores().positions.list_positions())
    assert report.differences == [HoldingDifference("BTC", Decimal("0.02"), Decimal("0.005"))]
    assert report.lines() == ["BTC: positions hold 0.02, broker has 0.005 (-0.015)"]


async def test_the_paper_broker_has_nothing_to_compare(world: World) -> None:
    await world.send_alert(action="buy", price="100")
    paper = PaperBroker(SqlPaperLedger())
    report = await check_holdings(paper, await sql_stores().positions.list_positions())
    assert report.clean and report.balances == []
