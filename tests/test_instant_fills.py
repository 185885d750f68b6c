"""The paper broker fills in-process: its order row and the fill are one transaction.

There is no pending paper order for recovery or reconciliation to settle, and nothing to claim.
Two processes trading one position at once are kept right by the position's version: the one
that stores second finds the position moved and traded nothing. An alert's decision is then
planned again on the position as it is now (a second add adds); a close (chat, CLI, monitor)
answers that the position changed meanwhile, and the closer looks again.

Within one process, the next order on a position is planned on the position the previous fill
leaves while that fill's commit is on the way (`TradingService._position`).
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal as D

from db.models import CurrentPosition, Order, PositionEntry, TradeHistory, WebhookLog
from db.repo import DbPaperLedger
from tests.conftest import World
from trading.alerts import parse_alert
from trading.brokers.base import OrderFill, OrderRequest
from trading.brokers.paper import PaperBroker
from trading.events import EventBus
from trading.service import TradingService


class Rendezvous(PaperBroker):
    """A paper broker (instant fills) whose first `parties` callers wait for one another: each
    of them has read the position before any fill is stored. Later calls (a plan made again)
    go straight through."""

    def __init__(self, parties: int) -> None:
        super().__init__(DbPaperLedger())
        self.barrier = asyncio.Barrier(parties)
        self.orders: list[OrderRequest] = []

    async def place_order(self, request: OrderRequest) -> OrderFill:
        self.orders.append(request)
        if len(self.orders) <= self.barrier.parties:
            await asyncio.wait_for(self.barrier.wait(), timeout=10)
        return await super().place_order(request)


class Gate(PaperBroker):
    """A paper broker that holds its fills until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__(DbPaperLedger())
        self.open = asyncio.Event()
        self.arrived = asyncio.Event()

    async def place_order(self, request: OrderRequest) -> OrderFill:
        self.arrived.set()
        await self.open.wait()
        return await super().place_order(request)


def _processes(parties: int) -> list[TradingService]:
    """Services with their own locks, as separate processes have, sharing one broker gate."""
    broker = Rendezvous(parties)
    return [TradingService(broker, EventBus()) for _ in range(parties)]


async def test_a_paper_alert_writes_no_order_before_its_fill(start_world) -> None:
    broker = Gate()
    world: World = await start_world(broker=broker, webhook_answer_timeout=2.5)
    await world.add_bot("demo")
    sending = asyncio.create_task(world.send_alert(action="buy", price="100", id="paper-1"))
    await asyncio.wait_for(broker.arrived.wait(), timeout=10)
    # At the (paper) broker: the alert is stored, no order row exists yet.
    assert await Order.all().count() == 0
    assert (await WebhookLog.get(alert_id="paper-1")).status == "received"
    broker.open.set()
    status, answer = await asyncio.wait_for(sending, timeout=10)
    assert (status, answer["status"]) == (200, "executed")
    [order] = await Order.all()
    assert (order.status, order.filled_qty, order.avg_fill_price) == ("filled", 1, 100)
    assert order.id == answer["order"]["id"]
    [entry] = await PositionEntry.all()
    assert (entry.order_id, entry.kind) == (order.id, "open")  # type: ignore[attr-defined]
    log = await WebhookLog.get(alert_id="paper-1")
    assert (log.status, log.order_id) == ("executed", order.id)


async def test_two_processes_closing_one_position_close_it_once(world: World) -> None:
    bot = world.bots["demo"]
    await world.send_alert(action="buy", price="100", qty="1")
    first, second = _processes(2)
    results = await asyncio.gather(
        first.close_position(bot, "BTCUSDT", reason="manual", price=D("101")),
        second.close_position(bot, "BTCUSDT", reason="manual", price=D("102")),
    )
    assert sorted(r.status for r in results) == ["executed", "ignored"]
    second_close = next(r for r in results if r.status == "ignored")
    assert second_close.reason == "demo BTCUSDT position changed meanwhile"
    [trade] = await TradeHistory.all()
    assert trade.qty == 1
    assert await CurrentPosition.all().count() == 0
    orders = await Order.all().order_by("id")
    assert [(o.side, o.status) for o in orders] == [("buy", "filled"), ("sell", "filled")]


async def test_two_processes_adding_to_one_position_both_count(world: World) -> None:
    bot = world.bots["demo"]  # max 3 entries
    await world.send_alert(action="buy", price="100", qty="1")
    first, second = _processes(2)
    alert = parse_alert(json.dumps({"action": "buy", "symbol": "BTCUSDT", "qty": "1"}).encode())
    results = await asyncio.gather(
        first.execute_alert(bot, alert.model_copy(update={"price": D("110")})),
        second.execute_alert(bot, alert.model_copy(update={"price": D("120")})),
    )
    assert [r.status for r in results] == ["executed", "executed"]
    assert len(first.broker.orders) == 3  # type: ignore[attr-defined]  # one planned again
    [position] = await CurrentPosition.all()
    assert (position.qty, position.entries, position.avg_price) == (3, 3, 110)
    orders = await Order.all()
    assert len(orders) == 3 and {o.status for o in orders} == {"filled"}
    entries = await PositionEntry.all()
    assert sorted(e.kind for e in entries) == ["add", "add", "open"]
    assert {e.position_id for e in entries} == {position.id}


async def test_a_refused_paper_order_is_stored_rejected_with_its_reason(
    start_world,
) -> None:
    world: World = await start_world(paper_balance=D(50))
    await world.add_bot("demo")
    status, answer = await world.send_alert(action="buy", price="100", qty="1")
    assert (status, answer["status"]) == (200, "rejected")
    assert "insufficient USDT balance" in answer["reason"]
    [order] = await Order.all()
    assert order.status == "rejected" and "insufficient USDT balance" in (order.error or "")
    assert await CurrentPosition.all().count() == 0
