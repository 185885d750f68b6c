"""The paper broker fills in-process: its order row and the fill are one transaction.

There is no pending paper order for recovery or reconciliation to settle, and nothing to claim.
Two processes trading one position at once are kept right by the position's version: the one
that stores second finds the position moved and traded nothing. An alert's decision is then
planned again on the position as it is now (a second add adds); a close (chat, CLI, monitor)
answers that the position changed meanwhile, and the closer looks again.

Within one process, the next order on a position is planned on the position the previous fill
leaves while that fill's commit is on the way (`FillPipeline.position`).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from db.models import CurrentPosition, Order, PositionEntry, TradeHistory, WebhookLog
from db.paper_ledger import SqlPaperLedger
from db.stores import sql_stores
from tests.conftest import World
from tests.waiting import eventually, writer_lock
from trading.alerts import Alert, parse_alert
from trading.bots import BotConfig
from trading.brokers.base import OrderFill, OrderRequest
from trading.brokers.paper import PaperBroker
from trading.events import EventBus
from trading.service import AlertLog, PositionBusy, TradingService
from trading.views import ExecutionResult


class Rendezvous(PaperBroker):
    """A paper broker (instant fills) whose first `parties` callers wait for one another: each
    of them has read the position before any fill is stored. Later calls (a plan made again)
    go straight through."""

    def __init__(self, parties: int) -> None:
        super().__init__(SqlPaperLedger())
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
        super().__init__(SqlPaperLedger())
        self.open = asyncio.Event()
        self.arrived = asyncio.Event()

    async def place_order(self, request: OrderRequest) -> OrderFill:
        self.arrived.set()
        await self.open.wait()
        return await super().place_order(request)


def _processes(parties: int) -> list[TradingService]:
    """Services with their own locks, as separate processes have, sharing one broker gate."""
    broker = Rendezvous(parties)
    return [TradingService(broker, EventBus(), stores=sql_stores()) for _ in range(parties)]


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


# ---------------------------------------------------------------- pipelined fills


class Counting(PaperBroker):
    """A paper broker (instant fills) that counts the orders it got."""

    def __init__(self, balance: D = D(10000)) -> None:
        super().__init__(SqlPaperLedger(), initial_balance=balance)
        self.requests: list[OrderRequest] = []

    async def place_order(self, request: OrderRequest) -> OrderFill:
        self.requests.append(request)
        return await super().place_order(request)


async def _orders_seen(broker: Counting, count: int) -> None:
    async def seen() -> bool:
        return len(broker.requests) >= count

    await eventually(seen)


def _alert(action: str, price: str) -> Alert:
    return parse_alert(
        json.dumps({"action": action, "symbol": "BTCUSDT", "qty": "1", "price": price}).encode()
    )


async def _stored_alert(world: World, alert_id: str) -> AlertLog:
    """A webhook log row, as the intake writes before executing (the price stored with it)."""
    log_id = await sql_stores().alerts.insert_webhook_log(
        bot_id=world.bots["demo"].id,
        alert_id=alert_id,
        status="received",
        received_at=datetime.now(UTC),
    )
    return AlertLog(log_id, lambda: False, price_stored=True)


async def _one_after_the_other(
    bot: BotConfig, broker: Counting, alerts: list[Alert], logs: list[AlertLog]
) -> list[asyncio.Task[ExecutionResult]]:
    """Execute `alerts` (stored as `logs`) on one service, each started once the previous one
    is at the broker (call inside `writer_lock`: none of them can commit meanwhile)."""
    service = TradingService(broker, EventBus(), stores=sql_stores())
    tasks = []
    for count, (alert, log) in enumerate(zip(alerts, logs, strict=True), start=1):
        tasks.append(asyncio.create_task(service.execute_alert(bot, alert, alert_log=log)))
        await _orders_seen(broker, count)
    return tasks


async def test_the_next_order_is_planned_while_the_last_fill_commits(
    world: World, db_url: str
) -> None:
    bot = world.bots["demo"]
    await world.send_alert(action="buy", price="100", qty="1")
    broker = Counting()
    logs = [await _stored_alert(world, f"pipe-{n}") for n in range(2)]
    with writer_lock(db_url):  # the writer is slow: nothing can commit
        closing, opening = await _one_after_the_other(
            bot, broker, [_alert("sell", "110"), _alert("buy", "120")], logs
        )
        # the buy was planned on the flat position the sell leaves, before that was stored
        assert [r.open_qty for r in broker.requests] == [0, 1]
        assert not closing.done() and not opening.done()
    results = await asyncio.gather(closing, opening)
    assert [(r.status, r.reason) for r in results] == [("executed", "close"), ("executed", "open")]
    [trade] = await TradeHistory.all()
    assert (trade.entry_price, trade.exit_price) == (100, 110)
    [position] = await CurrentPosition.all()
    assert (position.side, position.qty, position.avg_price) == ("long", 1, 120)
    assert [log.status for log in await WebhookLog.filter(alert_id__startswith="pipe-")] == [
        "executed",
        "executed",
    ]


async def test_an_order_planned_on_a_fill_that_was_not_stored_is_planned_again(
    world: World, db_url: str
) -> None:
    roomy = world.bots["demo"].model_copy(update={"max_entries": 4})
    await world.send_alert(action="buy", price="100", qty="1")
    [position] = await CurrentPosition.all()
    broker = Counting()
    logs = [await _stored_alert(world, f"moved-{n}") for n in range(2)]
    with writer_lock(db_url) as outside:
        first, second = await _one_after_the_other(
            roomy, broker, [_alert("buy", "110"), _alert("buy", "120")], logs
        )
        # Meanwhile another process adds to the position (1 at 200): its version moves to 1,
        # the very version the second order expects from the first, which now cannot store.
        outside.execute(
            "UPDATE current_positions SET qty = '2', opened_qty = '2', avg_price = '150', "
            "entries = 2, version = 1 WHERE id = ?",
            (position.id,),
        )
    results = await asyncio.gather(first, second)
    assert [r.status for r in results] == ["executed", "executed"], results
    [after] = await CurrentPosition.all()
    # both planned again on the position as the other process left it: 100, 200, 110, 120
    assert (after.qty, after.entries, after.avg_price) == (4, 4, D("132.5"))
    assert len(broker.requests) >= 4  # each order planned again (once or more), stored once
    orders = await Order.all().order_by("id")
    assert [(o.status, o.price) for o in orders[1:]] in (
        [("filled", 110), ("filled", 120)],
        [("filled", 120), ("filled", 110)],
    )


async def test_the_cash_check_counts_fills_still_on_their_way(world: World, db_url: str) -> None:
    bot = world.bots["demo"]
    broker = Counting(balance=D(150))  # fee 0.1%: one 100 position fits, two do not
    logs = [await _stored_alert(world, f"cash-{n}") for n in range(2)]
    with writer_lock(db_url):
        first, second = await _one_after_the_other(
            bot, broker, [_alert("buy", "100"), _alert("buy", "100")], logs
        )
    results = await asyncio.gather(first, second)
    assert [r.status for r in results] == ["executed", "rejected"]
    assert results[1].reason == "insufficient USDT balance: need 100.1, available 49.9"
    [position] = await CurrentPosition.all()
    assert position.qty == 1
    rejected = await Order.get(status="rejected")
    assert rejected.error == results[1].reason
    # committed, the fill counts once: from the stored rows, no longer as pending
    [usdt] = await broker.balances()
    assert (usdt.currency, usdt.total, usdt.available) == ("USDT", D("149.9"), D("49.9"))


async def test_a_stop_of_a_closed_position_does_not_close_the_next_one(world: World) -> None:
    bot = world.bots["demo"]
    await world.send_alert(action="buy", price="100", qty="1")
    [first] = await CurrentPosition.all()
    await world.send_alert(action="close", price="101")
    await world.send_alert(action="buy", price="102", qty="1")
    [second] = await CurrentPosition.all()
    assert (second.version, second.id != first.id) == (first.version, True)
    service = TradingService(PaperBroker(SqlPaperLedger()), EventBus(), stores=sql_stores())
    # the monitor's watch of the first position fires late, with the first one's version
    with pytest.raises(PositionBusy):
        await service.close_triggered(
            bot,
            "BTCUSDT",
            reason="stop_loss",
            price=D("90"),
            expected_version=first.version,
            expected_id=first.id,
        )
    assert (await CurrentPosition.get(id=second.id)).qty == 1
    assert await TradeHistory.all().count() == 1


async def test_a_fill_committed_after_the_202_answer_keeps_the_202(world: World) -> None:
    # The fill was planned before the answer timed out (so it writes 200), but the intake's
    # 202 reached the row first: the row keeps the answer the sender got.
    alert_log = await _stored_alert(world, "late-1")
    await sql_stores().alerts.update_webhook_log(alert_log.id, http_status=202)
    service = TradingService(Counting(), EventBus(), stores=sql_stores())
    result = await service.execute_alert(
        world.bots["demo"], _alert("buy", "100"), alert_log=alert_log
    )
    assert result.status == "executed"
    row = await WebhookLog.get(id=alert_log.id)
    assert (row.status, row.http_status, row.order_id) == ("executed", 202, result.order["id"])
