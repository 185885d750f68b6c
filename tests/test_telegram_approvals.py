"""Bots with `approval: manual`: each alert waits as a card (Approve / Reject / Resize) until
someone who may trade decides, or the bot's max_lag passes. And the out-of-sync card.

Until the intake hands manual alerts to the ApprovalService (see the report to the lead),
`request_approval` plays the intake's part: it stores the webhook log row as the intake does and
calls the same `ApprovalService.request`; one test goes through the real webhook once it does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bot.telegram_runtime import TELEGRAM_RUNTIME
from db.models import AuditLog, CurrentPosition, WebhookLog
from db.stores import sql_stores
from tests.conftest import OWNER_ID, World
from tests.telegram_helpers import Chat
from trading.alerts import build_alert
from trading.approvals import rebuild_alert
from trading.bots import BotConfig
from trading.intake import redacted_alert


async def manual_world(start_world: Callable[..., Any], **spec: Any) -> tuple[World, Chat]:
    world: World = await start_world(telegram=True)
    spec.setdefault("approval", "manual")
    await world.add_bot("demo", **spec)
    assert world.telegram is not None
    await world.telegram.wait_for("setMyCommands")
    return world, Chat(world.telegram, OWNER_ID)


async def request_approval(world: World, bot: BotConfig, **fields: Any) -> int:
    alert = build_alert({"symbol": "BTCUSDT", "passphrase": "hidden", **fields})
    log_id = await sql_stores().alerts.insert_webhook_log(
        key_hint="test…",
        bot_id=bot.id,
        body=json.dumps(fields),
        alert=redacted_alert(alert),
        symbol=alert.symbol,
        action=alert.action.value,
        received_at=datetime.now(UTC),
        status="received",
    )
    result = await world.server.app[TELEGRAM_RUNTIME].approvals.request(bot, alert, log_id)
    assert result.status == "accepted"
    return log_id


async def test_manual_alert_arrives_as_a_card_and_approve_executes_it(
    start_world: Callable[..., Any],
) -> None:
    world, owner = await manual_world(start_world)
    log_id = await request_approval(world, world.bots["demo"], action="buy", price="100")
    card = (await owner.wait_message("Approve?")).params
    assert f"alert #{log_id}" in card["text"] and "buy BTCUSDT" in card["text"]
    assert [b["text"] for b in card["reply_markup"]["inline_keyboard"][0]] == [
        "✅ Approve", "✖️ Reject", "📏 Resize",
    ]  # fmt: skip
    assert (await WebhookLog.get(id=log_id)).status == "pending_approval"
    assert await CurrentPosition.all().count() == 0

    answer = await owner.press("Approve")
    assert answer["text"] == "Approved: executed"
    edited = await owner.wait_edit("Approved by")
    assert "executed" in edited
    position = await CurrentPosition.get()
    assert position.qty == Decimal(1)
    row = await WebhookLog.get(id=log_id)
    assert row.status == "executed" and "approved by" in (row.reason or "")
    assert row.order_id is not None
    assert (await AuditLog.get(action="alert.approve")).actor == f"tg:{OWNER_ID}"
    await owner.wait_message("Opened long BTCUSDT")

    again = await owner.press_data(f"apr:ok:{log_id}", 1)
    assert "already handled" in again["text"]
    assert await CurrentPosition.all().count() == 1


async def test_reject_trades_nothing(start_world: Callable[..., Any]) -> None:
    world, owner = await manual_world(start_world)
    log_id = await request_approval(world, world.bots["demo"], action="buy", price="100")
    await owner.wait_message("Approve?")
    assert (await owner.press("Reject"))["text"] == "Rejected"
    await owner.wait_edit("Rejected by")
    assert (await WebhookLog.get(id=log_id)).status == "rejected"
    assert await CurrentPosition.all().count() == 0


async def test_the_card_expires_after_the_bots_max_lag(start_world: Callable[..., Any]) -> None:
    world, owner = await manual_world(start_world, max_lag_seconds=1)
    log_id = await request_approval(world, world.bots["demo"], action="buy", price="100")
    await owner.wait_message("Approve?")
    assert "Expired" in await owner.wait_edit("Expired", timeout=4)
    assert (await WebhookLog.get(id=log_id)).status == "expired"
    answer = await owner.press_data(f"apr:ok:{log_id}", 1)
    assert "already handled (expired)" in answer["text"]
    assert await CurrentPosition.all().count() == 0


async def test_resize_asks_for_a_quantity_then_executes_that(
    start_world: Callable[..., Any],
) -> None:
    world, owner = await manual_world(start_world)
    await request_approval(world, world.bots["demo"], action="buy", price="100", qty="2")
    await owner.wait_message("Approve?")
    await owner.press("Resize")
    await owner.wait_message("Quantity for alert")
    assert "not a quantity" in await owner.say("lots", "⚠️")
    done = await owner.say("0.25", "approved at 0.25")
    assert "Executed" in done
    assert (await CurrentPosition.get()).qty == Decimal("0.25")


async def test_viewers_cannot_approve(start_world: Callable[..., Any]) -> None:
    world, owner = await manual_world(start_world)
    await owner.say("/users grant 222 viewer", "viewer")
    log_id = await request_approval(world, world.bots["demo"], action="buy", price="100")
    await owner.wait_message("Approve?")
    answer = await Chat(owner.fake, 222).press_data(f"apr:ok:{log_id}", 1)
    assert "needs the trader role" in answer["text"]
    assert (await WebhookLog.get(id=log_id)).status == "pending_approval"


async def test_out_of_sync_card_brings_the_position_in_line(
    start_world: Callable[..., Any],
) -> None:
    world, owner = await manual_world(start_world, max_entries=1)
    bot = world.bots["demo"]
    fields = {"action": "buy", "price": "100", "market_position": "long"}
    await request_approval(world, bot, **fields, position_size="1")
    await owner.wait_message("Approve?")
    await owner.press("Approve")
    await owner.wait_message("Opened long BTCUSDT")

    await request_approval(world, bot, **fields, position_size="2")
    await owner.wait_message("Approve?", after=1)
    answer = await owner.press("Approve")
    assert answer["text"] == "Approved: ignored"  # max entries reached
    card = (await owner.wait_message("Out of sync")).params
    assert "TradingView: long 2 · bot: long 1" in card["text"]
    await owner.press("Make it long 2")
    assert "Executed" in await owner.wait_edit("Executed")
    assert (await CurrentPosition.get()).qty == Decimal(2)
    assert (await AuditLog.get(action="position.sync")).outcome == "ok"


async def test_webhook_alert_to_a_manual_bot_waits_for_approval(
    start_world: Callable[..., Any],
) -> None:
    world, owner = await manual_world(start_world)
    status, body = await world.send_alert(action="buy", price="100")
    assert (status, body["status"]) == (202, "accepted")
    await owner.wait_message("Approve?")
    await owner.press("Approve")
    await owner.wait_edit("Approved by")
    assert await CurrentPosition.all().count() == 1


async def test_out_of_sync_after_a_webhook_alert(start_world: Callable[..., Any]) -> None:
    world, owner = await manual_world(start_world, approval="auto", max_entries=1)
    fields = {"action": "buy", "price": "100", "market_position": "long"}
    await world.send_alert(**fields, position_size="1")
    _, body = await world.send_alert(**fields, position_size="2")
    assert body["status"] == "ignored"
    card = (await owner.wait_message("Out of sync")).params
    assert "TradingView: long 2 · bot: long 1" in card["text"]
    await owner.press("Make it long 2")
    await owner.wait_edit("Executed")
    assert (await CurrentPosition.get()).qty == Decimal(2)


def test_an_alert_rebuilt_from_its_log_row_is_the_alert_received() -> None:
    alert = build_alert(
        {
            "action": "sell",
            "symbol": "BINANCE:BTCUSDT",
            "price": "100.5",
            "qty": "2",
            "sl": "2%",
            "tp": "110",
            "tp1": "1%",
            "tp1_share": "50",
            "time": "2026-11-25T10:00:00Z",
            "rsi": "28.4",
            "market_position": "short",
            "position_size": "2",
            "passphrase": "secret",
        }
    )
    stored = json.loads(json.dumps(redacted_alert(alert)))
    assert stored["passphrase"] == "***"
    rebuilt = rebuild_alert(stored)
    assert rebuilt.model_dump(exclude={"passphrase"}) == alert.model_dump(exclude={"passphrase"})
    assert rebuilt.passphrase is None
    resized = rebuild_alert(stored, Decimal("0.5"))
    assert (resized.qty, resized.market_position, resized.position_size) == (
        Decimal("0.5"), None, None,
    )  # fmt: skip


async def test_the_card_shows_what_the_risk_rules_allow(start_world: Callable[..., Any]) -> None:
    world, owner = await manual_world(start_world)
    await sql_stores().risk.save_account_rules({"risk_per_trade": "1%"})
    # equity 10000: 100 to lose over a stop 2 % under 1000 (20 a unit) = 5
    await request_approval(world, world.bots["demo"], action="buy", price="1000", sl="2%")
    card = (await owner.wait_message("Approve?")).params
    assert "⚖️ risk rules allow buy 5 (sized by risk_per_trade 1%)" in card["text"]
    await request_approval(world, world.bots["demo"], action="buy", price="1000")
    card = (await owner.wait_message("needs a stop-loss")).params
    assert "⚖️ risk: risk_per_trade 1% needs a stop-loss (none on this entry)" in card["text"]
    assert await CurrentPosition.all().count() == 0
