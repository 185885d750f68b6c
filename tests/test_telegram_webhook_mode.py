"""Webhook mode: Telegram posts updates to /telegram/webhook on the same server; the secret
header is checked before anything is processed. And /health tells whether Telegram is on."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import ClientSession

from db.models import CurrentPosition, TradeHistory
from tests.conftest import OWNER_ID, World
from tests.telegram_helpers import WEBHOOK_PATH, Chat, post_update

SECRET = "webhook-secret-0123456789"


async def webhook_world(start_world: Callable[..., Any]) -> World:
    world: World = await start_world(
        telegram=True, telegram_mode="webhook", telegram_webhook_secret=SECRET
    )
    await world.add_bot("demo")
    assert world.telegram is not None
    await world.telegram.wait_for("setWebhook")
    return world


def message_update(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": {"id": user_id, "is_bot": False, "first_name": "Trader"},
            "chat": {"id": user_id, "type": "private", "first_name": "Trader"},
            "date": 1_700_000_000,
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
        },
    }


async def test_webhook_is_registered_at_start_up_with_the_secret(
    start_world: Callable[..., Any],
) -> None:
    world = await webhook_world(start_world)
    assert world.telegram is not None
    [call] = world.telegram.calls_of("setWebhook")
    assert call.params["url"] == "https://bot.example.com/telegram/webhook"
    assert call.params["secret_token"] == SECRET
    assert set(call.params["allowed_updates"]) >= {"message", "callback_query"}
    assert not world.telegram.calls_of("getUpdates")
    _status, health = await world.get("/health", token=None)
    assert health["checks"]["telegram"] == {
        "status": "ok",
        "detail": "webhook for @tradebot_test_bot",
    }


async def test_update_with_the_right_secret_is_answered(start_world: Callable[..., Any]) -> None:
    world = await webhook_world(start_world)
    assert world.telegram is not None
    owner = Chat(world.telegram, OWNER_ID)
    status = await post_update(
        world.http, world.url(WEBHOOK_PATH), message_update(1, OWNER_ID, "/start"), SECRET
    )
    assert status == 200
    assert "you are <b>owner</b>" in (await owner.wait_message("Hi")).params["text"]


async def test_wrong_missing_or_non_ascii_secret_is_refused_and_not_processed(
    start_world: Callable[..., Any],
) -> None:
    world = await webhook_world(start_world)
    assert world.telegram is not None
    url = world.url(WEBHOOK_PATH)
    update = message_update(1, OWNER_ID, "/positions")
    assert await post_update(world.http, url, update, None) == 401
    assert await post_update(world.http, url, update, "wrong") == 401
    assert await post_update(world.http, url, update, SECRET + "x") == 401
    async with ClientSession() as raw:  # a header aiohttp's client would not encode for us
        async with raw.post(
            url,
            data=b"{}",
            headers={"X-Telegram-Bot-Api-Secret-Token": "sécrét".encode().decode("latin-1")},
        ) as response:
            assert response.status == 401
    # A valid update afterwards is processed: the refused ones were not.
    ok = message_update(2, OWNER_ID, "/help")
    assert await post_update(world.http, url, ok, SECRET) == 200
    owner = Chat(world.telegram, OWNER_ID)
    await owner.wait_message("Commands")
    assert not owner.sent("positions (")
    assert not owner.sent("No open positions")


async def test_malformed_bodies_are_answered_400(start_world: Callable[..., Any]) -> None:
    world = await webhook_world(start_world)
    url = world.url(WEBHOOK_PATH)
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with world.http.post(url, data=b"not json", headers=headers) as response:
        assert response.status == 400
    async with world.http.post(url, json={"no": "update_id"}, headers=headers) as response:
        assert response.status == 400


async def test_a_redelivered_update_is_handled_once(start_world: Callable[..., Any]) -> None:
    world = await webhook_world(start_world)
    assert world.telegram is not None
    url = world.url(WEBHOOK_PATH)
    update = message_update(7, OWNER_ID, "/start")
    assert await post_update(world.http, url, update, SECRET) == 200
    assert await post_update(world.http, url, update, SECRET) == 200
    owner = Chat(world.telegram, OWNER_ID)
    await owner.wait_message("Hi")
    assert await post_update(world.http, url, message_update(8, OWNER_ID, "/help"), SECRET) == 200
    await owner.wait_message("Commands")
    assert len(owner.sent("Hi")) == 1


async def test_close_flow_by_buttons_in_webhook_mode(start_world: Callable[..., Any]) -> None:
    world = await webhook_world(start_world)
    assert world.telegram is not None
    fake = world.telegram
    url = world.url(WEBHOOK_PATH)
    await world.send_alert(action="buy", price="100")
    owner = Chat(fake, OWNER_ID)

    async def press(label: str, update_id: int) -> None:
        message_id, data = owner.find_button(label)
        update = fake.push_callback(OWNER_ID, data, message_id)  # built by the fake...
        fake.pending_updates.clear()
        update["update_id"] = update_id  # ...and delivered by webhook instead of polling
        assert await post_update(world.http, url, update, SECRET) == 200

    await post_update(world.http, url, message_update(1, OWNER_ID, "/positions"), SECRET)
    await owner.wait_message("Open positions (1)")
    await press("Close BTCUSDT", 2)
    await owner.wait_message("at market?")
    await press("Yes, close", 3)
    assert "PnL" in await owner.wait_edit("Closed <b>BTCUSDT</b>")
    assert await CurrentPosition.all().count() == 0
    assert await TradeHistory.all().count() == 1


async def test_polling_mode_has_no_webhook_route(start_world: Callable[..., Any]) -> None:
    world: World = await start_world(telegram=True)
    assert world.telegram is not None
    await world.telegram.wait_for("deleteWebhook")
    update = message_update(1, OWNER_ID, "/start")
    assert await post_update(world.http, world.url(WEBHOOK_PATH), update, "x") == 404
    _, health = await world.get("/health", token=None)
    assert health["checks"]["telegram"]["status"] == "ok"
    assert "polling" in health["checks"]["telegram"]["detail"]


async def test_without_a_token_telegram_is_off_and_the_rest_runs(
    start_world: Callable[..., Any],
) -> None:
    world: World = await start_world()
    await world.add_bot("demo")
    status, body = await world.send_alert(action="buy", price="100")
    assert (status, body["status"]) == (200, "executed")
    status, health = await world.get("/health", token=None)
    assert status == 200 and health["status"] == "ok"
    assert health["checks"]["telegram"]["status"] == "off"


async def test_unreachable_telegram_shows_in_health_and_trading_goes_on(
    start_world: Callable[..., Any],
) -> None:
    world: World = await start_world(telegram=True, telegram_api_url="http://127.0.0.1:9")
    await world.add_bot("demo")
    status, body = await world.send_alert(action="buy", price="100")
    assert (status, body["status"]) == (200, "executed")
    _, health = await world.get("/health", token=None)
    assert health["status"] == "degraded"
    assert health["checks"]["telegram"]["status"] == "down"


async def test_an_update_of_an_unknown_kind_is_acknowledged_and_dropped_quietly(
    start_world: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Telegram redelivers anything not answered 2xx: an update kind this version does not know
    (or an empty one) is acknowledged and dropped, with no error, and the next update works."""
    world = await webhook_world(start_world)
    assert world.telegram is not None
    url = world.url(WEBHOOK_PATH)
    for update in ({"update_id": 1}, {"update_id": 2, "some_future_kind": {"x": 1}}):
        assert await post_update(world.http, url, update, SECRET) == 200
    assert await post_update(world.http, url, message_update(3, OWNER_ID, "/start"), SECRET) == 200
    await Chat(world.telegram, OWNER_ID).wait_message("Hi")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
