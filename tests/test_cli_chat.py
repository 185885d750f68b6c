"""`tradebot chat`: the chat tried offline, as a user would, with lines piped into the real
command (its own process) on a migrated SQLite file; the stand-in Bot API checked against the
real aiogram Bot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from html import escape
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramUnauthorizedError
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from bot.cli_chat import terminal_text
from bot.local_bot_api import BOT_ID, LocalBotAPI

DEADLINE = 240.0  # seconds for one chat session (a busy machine is slow to import aiogram)
PNG = b"\x89PNG\r\n\x1a\n"


def chat(db_url: str, cwd: Path, lines: list[str], *args: str, **env: str) -> tuple[int, str]:
    """`tradebot chat ARGS` with `lines` piped in; its exit status and everything it printed."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBOT_")}
    environ.update(TRADEBOT_DATABASE_URL=db_url, **env)
    process = subprocess.run(
        [sys.executable, "-m", "bot", "chat", *args],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environ,
        timeout=DEADLINE,
        check=False,
    )
    return process.returncode, process.stdout + process.stderr


def turns(output: str, lines: list[str]) -> list[str]:
    """What the chat printed after each of the user's `lines` (up to the next one)."""
    parts = output.split("\nyou › ")[1:]
    assert [part.split("\n", 1)[0] for part in parts] == lines, output
    return [part.partition("\n")[2] for part in parts]


def test_help_lists_the_commands_and_a_backtest_picture_is_saved_to_a_file(
    db_url: str, tmp_path: Path
) -> None:
    lines = ["/help", "/backtest rsi BTCUSDT"]
    code, out = chat(db_url, tmp_path, lines)

    assert code == 0, out
    assert "You are Telegram user 1 (owner)" in out
    assert "Traceback" not in out
    help_text, backtest = turns(out, lines)
    for usage in ("/newbot · Create a bot step by step", "/positions ·", "/backtest STRATEGY"):
        assert usage in help_text
    assert "[photo saved: chat-files/backtest-rsi.png]" in backtest, out
    assert "Backtest rsi · BTCUSDT" in backtest
    assert (tmp_path / "chat-files" / "backtest-rsi.png").read_bytes().startswith(PNG)


def test_an_owner_creates_a_bot_by_dialogue_and_pauses_it_with_a_numbered_button(
    db_url: str, tmp_path: Path
) -> None:
    lines = [
        "/newbot",
        "trend",
        "ETHUSDT",
        "signal",
        "2",  # the order size: a question without buttons takes the number as text
        "2",  # direction: [1] long [2] short [3] both
        "1",  # max entries: [1] 1 ...
        "\\-",  # no stops, typed
        "/bots",
        "1",  # the one bot's button: its card
        "1",  # the card's first button: Pause
        "9",  # there is no ninth button
    ]
    code, out = chat(db_url, tmp_path, lines)

    assert code == 0, out
    replies = turns(out, lines)
    assert "[1] long  [2] short  [3] both" in replies[4]
    assert replies[4].startswith("bot › 🆕 New bot · step 5/7")  # "2" answered, not pressed
    assert "Bot trend created" in replies[7]
    card = replies[9]
    assert "trend · ▶️ active" in card
    assert "ETHUSDT · signal · short" in card
    assert "Size 2 · max entries 1" in card
    assert "[1] ⏸ Pause" in card
    paused = replies[10]
    assert paused.startswith("(pressed [1] ⏸ Pause)\nbot (edited) › 🤖 trend · ⏸ paused"), paused
    assert "(no button 9: the last buttons are 1-" in replies[11]
    # The CLI sees what the chat did: one database, one service.
    listed = CliRunner().invoke(
        __import__("bot.cli", fromlist=["main"]).main,
        ["bots", "list", "--json"],
        env={"TRADEBOT_DATABASE_URL": db_url},
        catch_exceptions=False,
    )
    [bot] = json.loads(listed.output)
    assert (bot["name"], bot["direction"], bot["size"], bot["paused"]) == (
        "trend",
        "short",
        "2",
        True,
    )


def test_a_user_who_is_no_owner_is_refused_politely(db_url: str, tmp_path: Path) -> None:
    code, out = chat(db_url, tmp_path, ["/bots"], "--user", "6", TRADEBOT_TELEGRAM_ADMINS="5")

    assert code == 0, out
    assert "You are Telegram user 6 (no role" in out
    [refusal] = turns(out, ["/bots"])
    assert "private trading bot" in refusal
    assert "your Telegram id is 6" in refusal


# ---------------------------------------------------------------- the stand-in, with aiogram


@pytest.fixture
async def stand_in(tmp_path: Path):
    api = LocalBotAPI(f"{BOT_ID}:secret", tmp_path / "files", max_poll_wait=0.5)
    await api.start()
    yield api
    await api.stop()


def _bot(api: LocalBotAPI, token: str) -> Bot:
    return Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))


async def test_the_stand_in_saves_each_picture_and_keeps_buttons_for_a_press(
    stand_in: LocalBotAPI, tmp_path: Path
) -> None:
    telegram = _bot(stand_in, stand_in.token)
    try:
        keyboard = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="Close", callback_data="pos:close:3")]]
        )
        first = await telegram.send_photo(7, BufferedInputFile(PNG + b"1", "curve.png"))
        second = await telegram.send_photo(
            7, BufferedInputFile(PNG + b"2", "curve.png"), caption="<b>two</b>", parse_mode="HTML"
        )
        sent = await telegram.send_message(7, "Position", reply_markup=keyboard)
        with pytest.raises(TelegramBadRequest, match="not modified"):
            await telegram.edit_message_text(
                "Position", chat_id=7, message_id=sent.message_id, reply_markup=keyboard
            )
    finally:
        await telegram.session.close()

    assert (tmp_path / "files" / "curve.png").read_bytes() == PNG + b"1"
    assert (tmp_path / "files" / "curve-2.png").read_bytes() == PNG + b"2"
    assert (first.caption, second.caption) == (None, "two")
    user = {"id": 7, "is_bot": False, "first_name": "T"}
    update_id = stand_in.press(user, sent.message_id, "pos:close:3")
    [pending] = stand_in._pending  # what getUpdates returns next
    assert pending["update_id"] == update_id
    assert pending["callback_query"]["data"] == "pos:close:3"
    assert pending["callback_query"]["message"]["text"] == "Position"


async def test_the_stand_in_refuses_another_token_and_what_it_does_not_serve(
    stand_in: LocalBotAPI,
) -> None:
    stranger = _bot(stand_in, f"{BOT_ID}:other")
    telegram = _bot(stand_in, stand_in.token)
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await stranger.get_me()
        with pytest.raises(TelegramBadRequest, match="createForumTopic is not available"):
            await telegram.create_forum_topic(-100123, name="topic")
        assert await telegram.set_my_commands([]) is True
    finally:
        await stranger.session.close()
        await telegram.session.close()


# ---------------------------------------------------------------- rendering


TAGS = st.sampled_from(["b", "i", "u", "s", "code", "pre", "tg-spoiler", "blockquote"])


@given(st.lists(st.tuples(st.text(max_size=12), st.none() | TAGS), max_size=8))
def test_telegram_html_prints_as_the_text_a_user_reads(parts: list[tuple[str, str | None]]) -> None:
    html = "".join(
        escape(text) if tag is None else f"<{tag}>{escape(text)}</{tag}>" for text, tag in parts
    )

    shown = "".join(text for text, _ in parts)
    control = {c for c in shown if unicodedata.category(c) == "Cc" and c not in "\n\t"}
    assert terminal_text(html, "HTML").plain == "".join(c for c in shown if c not in control)


def test_an_escape_sequence_in_a_message_never_reaches_the_terminal() -> None:
    assert terminal_text("bot <b>x\x1b[2J</b>\x07!", "HTML").plain == "bot x[2J!"
    assert terminal_text("x\x1b]0;title\x07", None).plain == "x]0;title"


def test_a_link_keeps_its_address() -> None:
    shown = terminal_text('Open <a href="https://x.example/app?t=1&amp;u=2">the app</a>', "HTML")

    assert shown.plain == "Open the app (https://x.example/app?t=1&u=2)"
