"""A bot's card (/bot NAME) and its buttons, /alerttemplate, the kill switch, group chats."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from html import unescape
from typing import Any

from db.models import AuditLog, CurrentPosition, TradingBot
from tests.conftest import OWNER_ID, World
from tests.telegram_helpers import Chat, webhook_key

GROUP = -1001234567890


async def bot_world(start_world: Callable[..., Any], **spec: Any) -> tuple[World, Chat]:
    world: World = await start_world(telegram=True)
    await world.add_bot("demo", **spec)
    assert world.telegram is not None
    await world.telegram.wait_for("setMyCommands")
    return world, Chat(world.telegram, OWNER_ID)


async def test_bot_card_pause_and_resume_buttons_control_the_webhook(
    start_world: Callable[..., Any],
) -> None:
    world, owner = await bot_world(start_world)
    card = await owner.say("/bot demo", "🤖 <b>demo</b>")
    assert "▶️ active" in card and "BTCUSDT" in card
    await owner.press("Pause")
    assert "⏸ paused" in await owner.wait_edit("⏸ paused")
    assert (await TradingBot.get(name="demo")).paused
    _status, body = await world.send_alert(action="buy", price="100")
    assert body["status"] == "rejected" and "paused" in body["reason"]

    await owner.press("Resume")
    await owner.wait_edit("▶️ active")
    _, body = await world.send_alert(action="buy", price="100")
    assert body["status"] == "executed"
    actions = [r.action for r in await AuditLog.filter(actor=f"tg:{OWNER_ID}").order_by("id")]
    assert actions == ["bot.pause", "bot.resume"]


async def test_viewers_see_the_card_without_buttons(start_world: Callable[..., Any]) -> None:
    _world, owner = await bot_world(start_world)
    await owner.say("/users grant 222 viewer", "viewer")
    viewer = Chat(owner.fake, 222)
    card = await viewer.say("/bot demo", "demo")
    assert "webhook" not in card
    assert "reply_markup" not in owner.fake.sent_messages(222)[-1]
    assert "needs the owner role" in await viewer.say("/alerttemplate demo", "role")


async def test_webhook_url_and_alert_template_have_the_key_and_passphrase(
    start_world: Callable[..., Any],
) -> None:
    world, owner = await bot_world(start_world, passphrase="s3cret-pass")
    await owner.say("/bot demo", "🤖")
    await owner.press("Webhook URL")
    url = (await owner.wait_message("webhook URL")).params["text"]
    assert webhook_key(url) == world.bots["demo"].webhook_key

    text = await owner.say("/alerttemplate demo", "TradingView alert message")
    template = json.loads(unescape(text.split("<pre>")[1].split("</pre>")[0]))
    assert template["passphrase"] == "s3cret-pass"
    assert webhook_key(text) == world.bots["demo"].webhook_key
    await owner.press("Alert template")
    await owner.wait_message("TradingView alert message", after=1)
    assert "Which bot" in await owner.say("/alerttemplate", "Which bot")
    assert "no bot named" in await owner.say("/alerttemplate nope", "⚠️")


async def test_edit_a_bot_field_from_its_card(start_world: Callable[..., Any]) -> None:
    _world, owner = await bot_world(start_world)
    await owner.say("/bot demo", "🤖")
    await owner.press("Edit")
    await owner.wait_edit("What to change")
    await owner.press("size")
    assert "Now: <code>1</code>" in (await owner.wait_message("new order size")).params["text"]
    assert "size must be" in await owner.say("a lot", "⚠️")
    saved = await owner.say("100USDT", "Saved")
    assert "Size 100 USDT" in saved
    row = await TradingBot.get(name="demo")
    assert (row.size_kind, row.size_value) == ("quote", Decimal(100))
    await owner.press("Edit")
    await owner.press("approval")
    await owner.wait_message("auto or manual")
    assert "approval manual" in await owner.say("manual", "Saved")
    edit = await AuditLog.filter(action="bot.edit").order_by("id")
    assert [(r.details["field"], r.outcome) for r in edit] == [
        ("size", "failed"), ("size", "ok"), ("approval", "ok"),
    ]  # fmt: skip


async def test_delete_asks_first_then_the_webhook_url_stops_working(
    start_world: Callable[..., Any],
) -> None:
    world, owner = await bot_world(start_world)
    key = world.bots["demo"].webhook_key
    await owner.say("/bot demo", "🤖")
    await owner.press("Delete")
    assert "Delete bot <b>demo</b>?" in await owner.wait_edit("Delete bot")
    await owner.press("No")
    await owner.wait_edit("▶️ active")
    assert await TradingBot.filter(deleted_at=None).count() == 1

    await owner.press("Delete")
    await owner.press("Yes, delete")
    await owner.wait_edit("deleted")
    status, _ = await world.post(key, '{"action": "buy", "symbol": "BTCUSDT", "price": "100"}')
    assert status == 401
    assert "No bots yet" in await owner.say("/bots", "bots")
    assert await TradingBot.all().count() == 1  # kept for the history
    # The name is free again.
    await world.add_bot("demo")


async def test_delete_is_refused_while_the_bot_has_a_position(
    start_world: Callable[..., Any],
) -> None:
    world, owner = await bot_world(start_world)
    await world.send_alert(action="buy", price="100")
    await owner.say("/bot demo", "Position: long")
    await owner.press("Delete")
    answer = await owner.press("Yes, delete")
    assert "open positions" in answer["text"]
    assert await TradingBot.filter(deleted_at=None).count() == 1
    assert (await AuditLog.get(action="bot.delete")).outcome == "failed"


async def test_new_key_replaces_the_webhook_url(start_world: Callable[..., Any]) -> None:
    world, owner = await bot_world(start_world)
    old = world.bots["demo"].webhook_key
    await owner.say("/bot demo", "🤖")
    await owner.press("New key")
    await owner.press("Yes, new key")
    text = await owner.wait_edit("webhook URL")
    new = webhook_key(text)
    assert new != old
    assert (await world.post(old, "buy BTCUSDT price=100"))[0] == 401
    assert (await world.post(new, "buy BTCUSDT price=100"))[0] == 200


async def test_bots_list_opens_cards(start_world: Callable[..., Any]) -> None:
    world, owner = await bot_world(start_world)
    await world.add_bot("eth", symbols=["ETHUSDT"])
    listing = await owner.say("/bots", "Bots (2)")
    assert "demo" in listing and "eth" in listing
    await owner.press("🤖 eth")
    assert "ETHUSDT" in (await owner.wait_message("🤖 <b>eth</b>")).params["text"]


async def test_kill_switch_stops_entries_without_pausing_bots(
    start_world: Callable[..., Any],
) -> None:
    world, owner = await bot_world(start_world)
    await world.add_bot("idle", symbols=["SOLUSDT"])
    await owner.say("/bot idle", "🤖 <b>idle</b>")
    await owner.press("Pause")  # paused by hand: stays paused after /resume
    await owner.wait_edit("⏸ paused")

    stopped = await owner.say("/stopentry", "Kill switch on</b>")
    assert "no new entries on any bot" in stopped
    _, body = await world.send_alert(action="buy", price="100")
    assert body["status"] == "rejected" and body["reason"].startswith("risk: kill switch on")
    assert "kill switch on" in await owner.say("/status", "Tradebot")
    await owner.wait_message("🛑 Kill switch on · by")  # owners are told
    paused = {b.name: b.paused for b in await TradingBot.all()}
    assert paused == {"demo": False, "idle": True}  # entries stop; no bot is paused for it

    resumed = await owner.say("/resume", "Kill switch off")
    assert "entries are allowed again" in resumed
    paused = {b.name: b.paused for b in await TradingBot.all()}
    assert paused == {"demo": False, "idle": True}
    _, body = await world.send_alert(action="buy", price="100")
    assert body["status"] == "executed"
    assert "not on" in await owner.say("/resume", "not on")
    rows = await AuditLog.filter(action__startswith="kill_switch").order_by("id")
    assert [r.action for r in rows] == ["kill_switch.on", "kill_switch.off"]


async def test_post_here_in_a_forum_group_opens_a_topic_for_the_bot(
    start_world: Callable[..., Any],
) -> None:
    world, owner = await bot_world(start_world)
    fake = owner.fake
    group = Chat(fake, OWNER_ID, chat_id=GROUP)
    fake.push_update(
        {
            "message": {
                "message_id": 9000,
                "from": {"id": OWNER_ID, "is_bot": False, "first_name": "Owner"},
                "chat": {"id": GROUP, "type": "supergroup", "title": "Desk", "is_forum": True},
                "date": 1,
                "text": "/bot demo",
                "entities": [{"type": "bot_command", "offset": 0, "length": 4}],
            }
        }
    )
    await group.wait_message("🤖 <b>demo</b>")
    await group.press("Post here")
    [topic] = await fake.wait_for("createForumTopic")
    assert topic.params["name"] == "🤖 demo"
    thread = topic.result["message_thread_id"]
    await group.wait_message("posts its notifications here")
    row = await TradingBot.get(name="demo")
    assert (row.chat_id, row.topic_id) == (GROUP, thread)

    await world.send_alert(action="buy", price="100")
    opened = await group.wait_message("Opened long BTCUSDT")
    assert opened.params["message_thread_id"] == thread
    await owner.wait_message("Opened long BTCUSDT")  # owners still get it privately
    assert await CurrentPosition.all().count() == 1


async def test_post_here_in_a_plain_group_and_stop(start_world: Callable[..., Any]) -> None:
    world, owner = await bot_world(start_world)
    group = Chat(owner.fake, OWNER_ID, chat_id=-4242)
    await group.say("/bot demo", "🤖 <b>demo</b>")
    await group.press("Post here")
    await group.wait_message("posts its notifications here")
    await world.send_alert(action="buy", price="100")
    assert "message_thread_id" not in (await group.wait_message("Opened long")).params
    await group.say("/bot demo", "Posts in this chat")
    await group.press("Stop posting here")
    await group.wait_message("no longer posts here")
    assert (await TradingBot.get(name="demo")).chat_id is None


async def test_the_alerts_per_minute_cap_is_edited_from_the_card(
    start_world: Callable[..., Any],
) -> None:
    world, owner = await bot_world(start_world)
    await owner.say("/bot demo", "🤖")
    await owner.press("Edit")
    await owner.press("max alerts per minute")
    await owner.wait_message("alerts accepted per minute")
    assert "⚠️" in await owner.say("-3", "⚠️")
    saved = await owner.say("2", "Saved")
    assert "2 alerts/min" in saved
    assert (await TradingBot.get(name="demo")).max_alerts_per_minute == 2
    answers = [await world.send_alert(action="tick", price="100") for _ in range(3)]
    assert [status for status, _ in answers] == [200, 200, 429]


async def test_a_bot_stored_with_an_interval_no_longer_valid_can_be_edited_and_given_a_new_one(
    start_world: Callable[..., Any],
) -> None:
    """An interval an older version accepted (`3M`) must not lock the bot against edits."""
    _world, owner = await bot_world(start_world)
    await TradingBot.filter(name="demo").update(interval="3M")
    await owner.say("/bot demo", "🤖")
    await owner.press("Edit")
    await owner.press("interval")
    await owner.wait_message("bar interval")
    assert "⚠️" in await owner.say("99999999999M", "⚠️")
    assert "Saved" in await owner.say("1h", "Saved")
    assert (await TradingBot.get(name="demo")).interval == "60"
