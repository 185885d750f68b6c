"""Notifications: what the owners (and subscribed users) are told, and that flood control or
network trouble delays a message but never drops it, and never blocks trading."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession

from db.models import AuditLog
from handlers.telegram.notifier import TelegramNotifier
from tests.conftest import OWNER_ID, World
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram_helpers import Chat
from trading.access import Destination
from trading.events import AlertRefused, Event, WebhookRefused

VIEWER = 222


async def notified_world(start_world: Callable[..., Any], **spec: Any) -> tuple[World, Chat]:
    world: World = await start_world(telegram=True)
    await world.add_bot("demo", **spec)
    assert world.telegram is not None
    await world.telegram.wait_for("setMyCommands")
    return world, Chat(world.telegram, OWNER_ID)


async def test_webhook_alert_produces_an_opened_notification(
    start_world: Callable[..., Any],
) -> None:
    world, owner = await notified_world(start_world, sl="2%", tp="4%")
    status, body = await world.send_alert(action="buy", price="65120.50", qty="0.02")
    assert (status, body["status"]) == (200, "executed")
    text = (await owner.wait_message("Opened long BTCUSDT · demo")).params["text"]
    assert "<code>0.02 @ 65,120.50 USDT</code> · fee 1.30" in text
    assert "SL 63,818.09 (−2.00%) · TP 67,725.32 (+4.00%)" in text


async def test_added_and_closed_notifications_report_pnl_and_duration(
    start_world: Callable[..., Any],
) -> None:
    world, owner = await notified_world(start_world)
    await world.send_alert(action="buy", price="100")
    await world.send_alert(action="buy", price="102")
    added = (await owner.wait_message("Added to long BTCUSDT")).params["text"]
    assert "Now 2 @ 101.00 USDT · entry 2" in added
    await world.send_alert(action="close", price="110")
    closed = (await owner.wait_message("Closed · BTCUSDT long · demo")).params["text"]
    assert "PnL <b>+17.58 USDT</b>" in closed and "held 0s" in closed


async def test_start_up_is_notified_and_a_broker_refusal_too(
    start_world: Callable[..., Any],
) -> None:
    world, owner = await notified_world(start_world, size="1000")
    await owner.wait_message("Tradebot started")
    _, body = await world.send_alert(action="buy", price="100")
    assert body["status"] == "rejected"
    refused = (await owner.wait_message("⛔ Refused · demo BTCUSDT")).params["text"]
    assert "insufficient USDT balance" in refused


async def test_flood_control_delays_the_notification_but_does_not_drop_it(
    start_world: Callable[..., Any],
) -> None:
    world, owner = await notified_world(start_world)
    await owner.wait_message("Tradebot started")
    owner.fake.fail_next("sendMessage", status=429, retry_after=1)
    status, body = await world.send_alert(action="buy", price="100")
    assert (status, body["status"]) == (200, "executed")
    # trading did not wait for Telegram: the alert was answered before the message got through
    assert owner.sent("Opened long") == []
    sent = await owner.wait_message("Opened long BTCUSDT")
    [failed] = owner.fake.failed_calls
    assert failed.status == 429 and "Opened long" in failed.params["text"]
    assert sent.at - failed.at >= 1  # sent again only after the retry_after Telegram asked for


async def test_telegram_server_errors_are_retried(start_world: Callable[..., Any]) -> None:
    world, owner = await notified_world(start_world)
    await owner.wait_message("Tradebot started")
    owner.fake.fail_next("sendMessage", status=502, count=2)
    await world.send_alert(action="buy", price="100")
    await owner.wait_message("Opened long BTCUSDT")
    assert [c.status for c in owner.fake.failed_calls] == [502, 502]


async def test_a_blocked_chat_does_not_stop_the_others(start_world: Callable[..., Any]) -> None:
    world, owner = await notified_world(start_world)
    await owner.say(f"/users grant {VIEWER} owner", "owner")
    await owner.wait_message("Tradebot started")
    owner.fake.fail_next("sendMessage", status=403)  # the first owner blocked the bot
    await world.send_alert(action="buy", price="100")
    await Chat(owner.fake, VIEWER).wait_message("Opened long BTCUSDT")
    assert not owner.sent("Opened long")
    [failed] = owner.fake.failed_calls
    assert failed.params["chat_id"] == OWNER_ID


async def test_notify_subscribes_a_viewer_and_lets_an_owner_opt_out(
    start_world: Callable[..., Any],
) -> None:
    world, owner = await notified_world(start_world)
    await owner.say(f"/users grant {VIEWER} viewer", "viewer")
    viewer = Chat(owner.fake, VIEWER)
    menu = await viewer.say("/notify", "Notifications")
    assert "▫️ trades" in menu  # viewers start unsubscribed
    answer = await viewer.press("trades")
    assert answer["text"] == "trades: on"
    assert "✅ trades" in await viewer.wait_edit("✅ trades")

    await owner.say("/notify", "Notifications")
    await owner.press("trades")  # the owner opts out
    await owner.wait_edit("▫️ trades")

    await world.send_alert(action="buy", price="100")
    await viewer.wait_message("Opened long BTCUSDT")
    await world.send_alert(action="close", price="101")
    await viewer.wait_message("Closed · BTCUSDT")
    assert not owner.sent("Opened long")
    rows = await AuditLog.filter(action="notify.set").order_by("id")
    assert [(r.actor, r.target, r.details["on"]) for r in rows] == [
        (f"tg:{VIEWER}", "trades", True),
        (f"tg:{OWNER_ID}", "trades", False),
    ]


# ------------------------------------------------------------ the notifier on its own


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI() as api:
        yield api


@pytest.fixture
async def telegram_bot(fake: FakeTelegramAPI) -> AsyncIterator[Bot]:
    bot = Bot(
        "42:TEST-TOKEN",
        session=AiohttpSession(api=fake.api_server),
        default=DefaultBotProperties(parse_mode="HTML"),
    )
    yield bot
    await bot.session.close()


async def owners(event: Event) -> list[Destination]:
    return [Destination(OWNER_ID)]


async def test_refusals_are_grouped_per_bot_with_a_count(
    fake: FakeTelegramAPI, telegram_bot: Bot
) -> None:
    notifier = TelegramNotifier(telegram_bot, owners, group_window=0.3)
    await notifier.start()
    for n in range(5):
        notifier.publish(WebhookRefused(bot="demo", http_status=401, reason=f"bad #{n}"))
    notifier.publish(AlertRefused(bot="other", symbol="ETHUSDT", reason="stale"))
    await fake.wait_for("sendMessage", count=2)
    [summary] = await fake.wait_for("sendMessage", lambda p: "more refused" in p["text"], timeout=2)
    assert "4 more refused · demo" in summary.params["text"]
    assert "bad #4" in summary.params["text"]
    texts = [p["text"] for p in fake.sent_messages()]
    assert len(texts) == 3
    assert "bad #0" in texts[0] and "other" in texts[1]
    await notifier.stop()


async def test_refusals_held_back_are_told_at_shutdown(
    fake: FakeTelegramAPI, telegram_bot: Bot
) -> None:
    notifier = TelegramNotifier(telegram_bot, owners, group_window=60)
    await notifier.start()
    for _ in range(3):
        notifier.publish(WebhookRefused(bot=None, http_status=401, reason="unknown webhook key"))
    await fake.wait_for("sendMessage")
    await notifier.stop()
    texts = [p["text"] for p in fake.sent_messages()]
    assert len(texts) == 2 and "2 more refused · unknown key" in texts[1]
