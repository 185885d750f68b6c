"""Tests for the fake Telegram Bot API: proves the real aiogram Bot can talk to it.

Why: other tests rely on this fake to exercise the Telegram layer end to end, so its wire
format, long polling, error mapping and call recording must match what aiogram expects.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import CommandStart
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    MenuButtonWebApp,
    Message,
    WebAppInfo,
)

from tests.fakes.telegram_api import BOT_ID, Call, FakeTelegramAPI, UploadedFile
from tests.waiting import eventually

USER_ID = 777


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegramAPI]:
    """A running fake with a short long-poll cap so polling tests finish fast."""
    async with FakeTelegramAPI(max_poll_wait=0.5) as server:
        yield server


@pytest.fixture
async def bot(fake: FakeTelegramAPI) -> AsyncIterator[Bot]:
    """The real aiogram Bot pointed at the fake; its session is always closed."""
    bot = Bot(
        token="42:TEST",
        session=AiohttpSession(api=TelegramAPIServer.from_base(fake.url)),
        default=DefaultBotProperties(parse_mode="HTML"),
    )
    try:
        yield bot
    finally:
        await bot.session.close()


def _keyboard(data: str = "buy") -> InlineKeyboardMarkup:
    """A one-button inline keyboard."""
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Buy", callback_data=data)]]
    )


def _dump(obj: Any) -> Any:
    """Compare aiogram objects by content (parsed ones carry a bot reference)."""
    if isinstance(obj, list):
        return [_dump(item) for item in obj]
    return obj.model_dump(exclude_none=True) if obj is not None else None


def _png(width: int, height: int, padding: int = 0) -> bytes:
    """Enough of a PNG header for the fake to read dimensions from."""
    ihdr = struct.pack(">II", width, height) + b"\x08\x02\x00\x00\x00"
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\0" * padding


async def test_url_binds_localhost(fake: FakeTelegramAPI) -> None:
    assert fake.url.startswith("http://127.0.0.1:")
    assert fake.api_server.api_url("1:X", "getMe") == f"{fake.url}/bot1:X/getMe"


async def test_get_me(bot: Bot, fake: FakeTelegramAPI) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username, me.first_name) == (
        BOT_ID,
        True,
        "tradebot_test_bot",
        "Tradebot",
    )
    [call] = fake.calls_of("getMe")
    assert call.token == "42:TEST"


async def test_send_message_is_recorded_and_parsed(bot: Bot, fake: FakeTelegramAPI) -> None:
    first = await bot.send_message(
        USER_ID, "<b>BTC</b> long &amp; strong", reply_markup=_keyboard()
    )
    second = await bot.send_message(USER_ID, "123")

    assert isinstance(first, Message)
    assert second.message_id == first.message_id + 1
    assert first.chat.id == USER_ID and first.chat.type == "private"
    assert first.from_user is not None and first.from_user.id == BOT_ID
    assert first.text == "BTC long & strong"  # HTML is rendered like Telegram does
    assert _dump(first.reply_markup) == _dump(_keyboard())

    sent = fake.sent_messages()
    assert [p["text"] for p in sent] == ["<b>BTC</b> long &amp; strong", "123"]
    assert sent[0]["chat_id"] == USER_ID  # JSON-decoded to int
    assert sent[0]["parse_mode"] == "HTML"
    assert sent[0]["reply_markup"] == {
        "inline_keyboard": [[{"text": "Buy", "callback_data": "buy"}]]
    }
    assert fake.sent_messages(chat_id=12345) == []
    assert fake.calls_of("sendmessage")[0].result["message_id"] == first.message_id


async def test_get_updates_returns_pushed_updates(bot: Bot, fake: FakeTelegramAPI) -> None:
    sent = await bot.send_message(USER_ID, "Signal: BUY?", reply_markup=_keyboard("confirm"))
    fake.push_message(USER_ID, "/start now", username="alice")
    fake.push_callback(USER_ID, "confirm", sent.message_id)

    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == [1, 2]

    msg = updates[0].message
    assert msg is not None and msg.text == "/start now"
    assert msg.from_user is not None and msg.from_user.username == "alice"
    assert msg.chat.id == USER_ID
    assert msg.entities is not None
    assert (msg.entities[0].type, msg.entities[0].offset, msg.entities[0].length) == (
        "bot_command",
        0,
        6,
    )

    cq = updates[1].callback_query
    assert cq is not None and cq.data == "confirm" and cq.from_user.id == USER_ID
    assert cq.chat_instance
    assert isinstance(cq.message, Message)
    assert cq.message.message_id == sent.message_id
    assert cq.message.from_user is not None and cq.message.from_user.id == BOT_ID
    assert cq.message.text == "Signal: BUY?"

    # Not yet confirmed: the same updates come again; offset confirms them.
    assert len(await bot.get_updates(timeout=0)) == 2
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0) == []
    assert fake.pending_updates == []

    # Explicit update_ids are kept; automatic ones continue after the highest seen.
    again = fake.push_message(USER_ID, "again")
    assert again["update_id"] == 3
    assert fake.push_update({"update_id": 10, "message": again["message"]})["update_id"] == 10
    assert fake.push_message(USER_ID, "next")["update_id"] == 11
    assert [u.update_id for u in await bot.get_updates(offset=4, timeout=0)] == [10, 11]


async def test_long_poll_wakes_up_on_push(bot: Bot, fake: FakeTelegramAPI) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await asyncio.sleep(0.05)  # let the request reach the server and start waiting
    started = time.monotonic()
    fake.push_message(USER_ID, "hello")
    updates = await poll
    assert time.monotonic() - started < 0.4
    assert [u.message.text for u in updates if u.message] == ["hello"]


async def test_long_poll_is_capped(bot: Bot, fake: FakeTelegramAPI) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=30) == []
    assert 0.4 <= time.monotonic() - started < 2.0  # capped at max_poll_wait=0.5


async def test_stop_releases_pending_long_poll() -> None:
    server = FakeTelegramAPI(max_poll_wait=30)
    await server.start()
    polling_bot = Bot("1:X", session=AiohttpSession(api=server.api_server))
    try:
        poll = asyncio.create_task(polling_bot.get_updates(timeout=30))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await server.stop()
        assert await poll == []
        assert time.monotonic() - started < 1.0
    finally:
        await polling_bot.session.close()


async def test_retry_after_is_raised(bot: Bot, fake: FakeTelegramAPI) -> None:
    fake.fail_next("sendMessage")
    with pytest.raises(TelegramRetryAfter) as excinfo:
        await bot.send_message(USER_ID, "flood")
    assert excinfo.value.retry_after == 1
    assert "Too Many Requests: retry after 1" in str(excinfo.value)
    assert fake.calls_of("sendMessage") == []
    [failed] = fake.failed_calls
    assert (failed.method, failed.status, failed.params["text"]) == ("sendMessage", 429, "flood")

    # Only the next call failed.
    await bot.send_message(USER_ID, "flood")
    assert len(fake.sent_messages()) == 1


async def test_other_faults(bot: Bot, fake: FakeTelegramAPI) -> None:
    fake.fail_next("sendMessage", status=403)
    fake.fail_next("sendMessage", status=502, count=2)
    fake.fail_next("sendPhoto", status=500)
    fake.fail_next("getUpdates", status=429, retry_after=5)

    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(USER_ID, "x")
    for _ in range(2):
        with pytest.raises(TelegramServerError, match="Bad Gateway"):
            await bot.send_message(USER_ID, "x")
    with pytest.raises(TelegramServerError, match="Internal Server Error"):
        await bot.send_photo(USER_ID, "file-id")
    with pytest.raises(TelegramRetryAfter) as excinfo:
        await bot.get_updates(timeout=0)
    assert excinfo.value.retry_after == 5

    assert [c.status for c in fake.failed_calls] == [403, 502, 502, 500, 429]
    assert fake.calls == []
    await bot.send_message(USER_ID, "ok")
    assert len(fake.calls) == 1


async def test_send_photo_records_upload(bot: Bot, fake: FakeTelegramAPI) -> None:
    data = _png(640, 480, padding=5000)
    msg = await bot.send_photo(
        USER_ID,
        BufferedInputFile(data, filename="chart.png"),
        caption="<i>BTCUSDT</i> 1h",
        reply_markup=_keyboard(),
    )

    [call] = fake.calls_of("sendPhoto")
    photo = call.params["photo"]
    assert isinstance(photo, UploadedFile)
    assert photo.size == len(data)
    assert photo.filename == "chart.png"
    assert call.params["caption"] == "<i>BTCUSDT</i> 1h"
    assert set(call.params) >= {"chat_id", "photo", "caption", "parse_mode", "reply_markup"}
    assert not [k for k in call.params if isinstance(call.params[k], UploadedFile) and k != "photo"]

    assert msg.photo is not None
    assert (msg.photo[-1].width, msg.photo[-1].height) == (640, 480)
    assert msg.photo[-1].file_size == len(data)
    assert msg.caption == "BTCUSDT 1h"
    assert _dump(msg.reply_markup) == _dump(_keyboard())


async def test_edits_and_not_modified(bot: Bot, fake: FakeTelegramAPI) -> None:
    sent = await bot.send_message(USER_ID, "Pending", reply_markup=_keyboard())
    edited = await bot.edit_message_text(
        "Filled", chat_id=USER_ID, message_id=sent.message_id, reply_markup=_keyboard("close")
    )
    assert isinstance(edited, Message)
    assert edited.message_id == sent.message_id and edited.text == "Filled"
    assert edited.edit_date is not None
    assert _dump(edited.reply_markup) == _dump(_keyboard("close"))

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "Filled", chat_id=USER_ID, message_id=sent.message_id, reply_markup=_keyboard("close")
        )

    cleared = await bot.edit_message_reply_markup(chat_id=USER_ID, message_id=sent.message_id)
    assert isinstance(cleared, Message)
    assert cleared.reply_markup is None and cleared.text == "Filled"
    stored = fake.message(USER_ID, sent.message_id)
    assert stored is not None and stored["text"] == "Filled" and "reply_markup" not in stored

    # Callback on the edited message carries its current state.
    fake.push_callback(USER_ID, "anything", sent.message_id)
    [update] = await bot.get_updates(timeout=0)
    assert update.callback_query is not None
    assert isinstance(update.callback_query.message, Message)
    assert update.callback_query.message.text == "Filled"

    # Inline-message edits return True, unknown messages are edited leniently.
    assert await bot.edit_message_text("x", inline_message_id="abc") is True
    other = await bot.edit_message_text("late edit", chat_id=USER_ID, message_id=9999)
    assert isinstance(other, Message) and other.message_id == 9999


async def test_other_methods_parse(bot: Bot, fake: FakeTelegramAPI) -> None:
    assert await bot.send_chat_action(USER_ID, "typing") is True
    assert await bot.answer_callback_query("123", text="Done") is True
    commands = [
        BotCommand(command="start", description="Start"),
        BotCommand(command="pnl", description="PnL"),
    ]
    assert await bot.set_my_commands(commands) is True
    assert _dump(await bot.get_my_commands()) == _dump(commands)
    assert await bot.delete_my_commands() is True
    assert await bot.get_my_commands() == []

    topic = await bot.create_forum_topic(-1001234, name="BTCUSDT")
    assert topic.name == "BTCUSDT" and topic.message_thread_id > 1
    in_topic = await bot.send_message(-1001234, "hi", message_thread_id=topic.message_thread_id)
    assert in_topic.chat.type == "supergroup"
    assert in_topic.message_thread_id == topic.message_thread_id

    assert await bot.delete_message(USER_ID, 1) is True
    button = MenuButtonWebApp(text="Open", web_app=WebAppInfo(url="https://example.org/app"))
    assert await bot.set_chat_menu_button(chat_id=USER_ID, menu_button=button) is True
    assert _dump(await bot.get_chat_menu_button(chat_id=USER_ID)) == _dump(button)

    chat = await bot.get_chat(USER_ID)
    assert chat.id == USER_ID and chat.type == "private"

    [action] = fake.calls_of("sendChatAction")
    assert action.params == {"chat_id": USER_ID, "action": "typing"}
    [answer] = fake.calls_of("answerCallbackQuery")
    assert answer.params["callback_query_id"] == "123"  # stays a string
    assert fake.calls_of("setMyCommands")[0].params["commands"][1] == {
        "command": "pnl",
        "description": "PnL",
    }


async def test_webhook_methods(bot: Bot, fake: FakeTelegramAPI) -> None:
    info = await bot.get_webhook_info()
    assert info.url == "" and info.pending_update_count == 0

    fake.push_message(USER_ID, "queued")
    assert await bot.set_webhook("https://example.org/tg", secret_token="s3cret") is True
    info = await bot.get_webhook_info()
    assert info.url == "https://example.org/tg" and info.pending_update_count == 1
    assert fake.webhook["secret_token"] == "s3cret"

    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates(timeout=0)

    assert await bot.delete_webhook(drop_pending_updates=True) is True
    assert (await bot.get_webhook_info()).url == ""
    assert await bot.get_updates(timeout=0) == []


async def test_unknown_method_and_plain_http(fake: FakeTelegramAPI) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{fake.url}/bot1:X/someFutureMethod", data={"a": "1"}) as resp:
            assert resp.status == 200
            assert await resp.json() == {"ok": True, "result": True}
        async with http.post(
            f"{fake.url}/bot1:X/sendMessage", json={"chat_id": 5, "text": "json body"}
        ) as resp:
            body = await resp.json()
            assert body["ok"] is True and body["result"]["text"] == "json body"
        async with http.get(f"{fake.url}/bot1:X/sendMessage?chat_id=5") as resp:
            assert resp.status == 400
            assert (await resp.json())["description"] == "Bad Request: message text is empty"
    assert fake.calls_of("someFutureMethod")[0].params == {"a": 1}
    assert fake.sent_messages(chat_id=5) == [{"chat_id": 5, "text": "json body"}]


async def test_wait_for(bot: Bot, fake: FakeTelegramAPI) -> None:
    async def later() -> None:
        await asyncio.sleep(0.05)
        await bot.send_message(USER_ID, "Order filled")
        await bot.send_message(USER_ID, "PnL +3%")

    task = asyncio.create_task(later())
    calls = await fake.wait_for("sendMessage", lambda p: "PnL" in p["text"])
    assert [c.params["text"] for c in calls] == ["PnL +3%"]
    assert isinstance(calls[0], Call)
    await task
    assert len(await fake.wait_for("sendMessage", count=2, timeout=0.1)) == 2

    fake.fail_next("sendMessage", status=403)
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(USER_ID, "blocked")
    with pytest.raises(AssertionError) as excinfo:
        await fake.wait_for("sendMessage", count=3, timeout=0.1)
    report = str(excinfo.value)
    assert "waiting for 3 sendMessage call(s)" in report
    assert "Order filled" in report and "PnL +3%" in report
    assert "403" in report and "blocked" in report


async def test_dispatcher_polling_end_to_end(bot: Bot, fake: FakeTelegramAPI) -> None:
    dp = Dispatcher()

    @dp.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("Welcome!", reply_markup=_keyboard("menu"))

    @dp.callback_query()
    async def pressed(callback: CallbackQuery) -> None:
        await callback.answer("ok")
        assert isinstance(callback.message, Message)
        await callback.message.edit_text(f"Pressed {callback.data}")

    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=1)
    )
    try:
        fake.push_message(USER_ID, "/start")
        [welcome] = await fake.wait_for("sendMessage")
        assert welcome.params["text"] == "Welcome!"
        fake.push_callback(USER_ID, "menu", welcome.result["message_id"])
        [edit] = await fake.wait_for("editMessageText")
        assert edit.params["text"] == "Pressed menu"
        assert fake.calls_of("answerCallbackQuery")[0].params["text"] == "ok"
    finally:
        await dp.stop_polling()
        await polling


async def test_documents_media_groups_and_captions(bot: Bot, fake: FakeTelegramAPI) -> None:
    doc = await bot.send_document(USER_ID, BufferedInputFile(b"a,b\n1,2\n", filename="trades.csv"))
    assert doc.document is not None
    assert (doc.document.file_name, doc.document.file_size) == ("trades.csv", 8)
    assert fake.calls_of("sendDocument")[0].params["document"].size == 8

    album = await bot.send_media_group(
        USER_ID,
        media=[
            InputMediaPhoto(media=BufferedInputFile(_png(10, 20), "a.png"), caption="<b>A</b>"),
            InputMediaPhoto(media=BufferedInputFile(_png(30, 40, 100), "b.png")),
        ],
    )
    assert [m.photo[-1].width for m in album if m.photo] == [10, 30]
    assert album[0].media_group_id == album[1].media_group_id
    assert album[0].caption == "A"
    media = fake.calls_of("sendMediaGroup")[0].params["media"]
    assert [item["media"].size for item in media] == [len(_png(10, 20)), len(_png(30, 40, 100))]

    edited = await bot.edit_message_caption(
        chat_id=USER_ID, message_id=album[0].message_id, caption="new"
    )
    assert isinstance(edited, Message) and edited.caption == "new"


async def test_a_second_poller_gets_409_and_a_disconnected_one_frees_the_slot(
    bot: Bot, fake: FakeTelegramAPI
) -> None:
    """As Telegram does: two processes polling one bot at once is a conflict (the tests of
    several processes count them); a poller that goes away (a killed process) ends its poll."""
    other = Bot("42:TEST", session=AiohttpSession(api=TelegramAPIServer.from_base(fake.url)))
    try:
        first = asyncio.create_task(bot.get_updates(timeout=30))
        await eventually(lambda: _open_polls(fake, 1))
        with pytest.raises(TelegramConflictError):
            await other.get_updates(timeout=0)
        assert fake.poll_conflicts == 1
        first.cancel()  # the client disconnects mid-poll
        with pytest.raises(asyncio.CancelledError):
            await first
        await eventually(lambda: _open_polls(fake, 0))
        assert await other.get_updates(timeout=0) == []
        assert fake.poll_conflicts == 1
    finally:
        await other.session.close()


async def _open_polls(fake: FakeTelegramAPI, count: int) -> bool:
    return fake._polls_open == count
