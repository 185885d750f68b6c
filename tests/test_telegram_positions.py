"""Closing from the chat: /positions → Close → Yes, /close NAME|ID, /closeall with confirmation.
A close from a button takes the same path as one from a webhook (TradingService)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from db.models import AuditLog, CurrentPosition, Order, TradeHistory
from tests.conftest import OWNER_ID, World
from tests.telegram_helpers import Chat


async def trading_world(start_world: Callable[..., Any]) -> tuple[World, Chat]:
    world: World = await start_world(telegram=True)
    await world.add_bot("demo")
    assert world.telegram is not None
    await world.telegram.wait_for("setMyCommands")
    return world, Chat(world.telegram, OWNER_ID)


async def test_close_button_asks_for_confirmation_then_closes_at_market_and_reports_pnl(
    start_world: Callable[..., Any],
) -> None:
    world, owner = await trading_world(start_world)
    status, _ = await world.send_alert(action="buy", price="100")
    assert status == 200
    await world.send_alert(action="tick", price="110")  # the market moved
    listing = await owner.say("/positions", "Open positions (1)")
    assert "BTCUSDT" in listing and "+10.00" in listing

    await owner.press("Close BTCUSDT")
    question = await owner.wait_message("at market?")
    assert "BTCUSDT" in question.params["text"]
    assert await CurrentPosition.all().count() == 1  # nothing closed before Yes

    answer = await owner.press("Yes, close")
    assert answer["text"] == "Closed"
    report = await owner.wait_edit("Closed <b>BTCUSDT</b>")
    assert "1 @ 110.00 USDT" in report
    assert "PnL <b>+9.79 USDT</b>" in report  # 10 minus fees 0.10 + 0.11

    assert await CurrentPosition.all().count() == 0
    trade = await TradeHistory.get()
    assert trade.reason == "manual" and trade.pnl == Decimal("9.79")
    order = await Order.filter(intent="close").get()
    assert order.reason == "manual" and order.status == "filled"
    audit = await AuditLog.get(action="position.close")
    assert (audit.actor, audit.outcome) == (f"tg:{OWNER_ID}", "ok")


async def test_no_keeps_the_position_open(start_world: Callable[..., Any]) -> None:
    world, owner = await trading_world(start_world)
    await world.send_alert(action="buy", price="100")
    await owner.say("/positions", "Open positions")
    await owner.press("Close BTCUSDT")
    await owner.wait_message("at market?")
    await owner.press("No")
    await owner.wait_edit("Kept open")
    assert await CurrentPosition.all().count() == 1


async def test_pressing_yes_on_a_position_already_closed_says_so(
    start_world: Callable[..., Any],
) -> None:
    world, owner = await trading_world(start_world)
    await world.send_alert(action="buy", price="100")
    await owner.say("/positions", "Open positions")
    await owner.press("Close BTCUSDT")
    await owner.wait_message("at market?")
    await world.send_alert(action="close", price="101")  # TradingView closed it meanwhile
    answer = await owner.press("Yes, close")
    assert "already closed" in answer["text"] and answer["show_alert"] is True
    assert await TradeHistory.all().count() == 1


async def test_forged_or_stale_button_data_gets_a_clear_answer(
    start_world: Callable[..., Any],
) -> None:
    _world, owner = await trading_world(start_world)
    await owner.say("/positions", "No open positions")
    for data in ("pos:yes:not-a-number", "pos:explode:1", "nonsense", "pos:yes:1:2", "bot:del:x"):
        answer = await owner.press_data(data, 1)
        assert "no longer valid" in answer["text"], data
    answer = await owner.press_data("pos:yes:4242", 1)
    assert "already closed" in answer["text"]
    answer = await owner.press_data("bot:del_yes:4242", 1)
    assert "no bot" in answer["text"]
    assert "Something went wrong" not in str(owner.sent())


async def test_closeall_confirms_then_closes_every_position(
    start_world: Callable[..., Any],
) -> None:
    world, owner = await trading_world(start_world)
    await world.add_bot("eth", symbols=["ETHUSDT"], size="0.5")
    await world.send_alert(action="buy", price="100")
    await world.send_alert("eth", action="sell", symbol="ETHUSDT", price="200")
    question = await owner.say("/closeall", "Close all 2")
    assert "at market?" in question
    assert await CurrentPosition.all().count() == 2
    await owner.press("Yes, close all")
    report = await owner.wait_edit("Closed 2 of 2")
    assert "BTCUSDT" in report and "ETHUSDT" in report
    assert await CurrentPosition.all().count() == 0
    assert {t.reason for t in await TradeHistory.all()} == {"manual"}
    summary = await AuditLog.get(action="position.close_all")
    assert summary.outcome == "ok" and summary.details["closed"] == 2


async def test_closeall_no_closes_nothing(start_world: Callable[..., Any]) -> None:
    world, owner = await trading_world(start_world)
    await world.send_alert(action="buy", price="100")
    await owner.say("/closeall", "Close all 1")
    await owner.press("No")
    await owner.wait_edit("Nothing closed")
    assert await CurrentPosition.all().count() == 1


async def test_close_by_bot_name_and_by_position_id(start_world: Callable[..., Any]) -> None:
    world, owner = await trading_world(start_world)
    await world.add_bot("eth", symbols=["ETHUSDT"], size="0.5")
    await world.send_alert(action="buy", price="100")
    await world.send_alert("eth", action="buy", symbol="ETHUSDT", price="200")
    eth = await CurrentPosition.get(symbol="ETHUSDT")
    by_id = await owner.say(f"/close {eth.id}", "Closed <b>")
    assert "ETHUSDT" in by_id and "PnL" in by_id
    by_name = await owner.say("/close demo", "Closed <b>")
    assert "BTCUSDT" in by_name
    assert await CurrentPosition.all().count() == 0
    assert "no open position" in await owner.say("/close demo", "⚠️")
    assert "no bot named" in await owner.say("/close nosuchbot", "⚠️")
    assert "say what to close" in await owner.say("/close", "⚠️")
