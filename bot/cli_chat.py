"""`tradebot chat`: the Telegram control surface, offline, in the terminal (SPEC §2).

The product runs in this process exactly as `serve` builds it (`create_app`), its Telegram side
pointed at a Bot API stand-in on 127.0.0.1 (`bot/local_bot_api.py`) instead of api.telegram.org.
A typed line is that user's message; the bot's messages are printed, inline buttons numbered
(a number presses one), pictures saved to files. No web server is bound and no monitor runs:
a `tradebot serve` beside it, on the same database, takes the webhooks and watches the stops.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import re
import sys
import threading
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar, TextIO

import click
from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiohttp import web
from pydantic import SecretStr
from rich.console import Console
from rich.text import Text

from bot.app import create_app
from bot.cli_common import CLICK_CONTEXT, migrate_database, run, settings_or_exit, shown_url
from bot.config import Settings
from bot.local_bot_api import BOT_ID, BotAction, Button, ChatMessage, LocalBotAPI
from bot.logs import setup_logging
from bot.resources import ASSEMBLY
from bot.telegram_runtime import TELEGRAM_RUNTIME, TelegramRuntime, make_telegram_bot
from trading.tasks import Busy

DEFAULT_USER = 1
CONNECT_TIMEOUT = 30.0  # the product's first getUpdates, once the app is up
QUIET = 0.2  # seconds with no Bot API call after which an answer is complete
PROMPT = "you › "
# Control characters (an escape sequence in a bot name or an alert) never reach the terminal.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
QUIT = frozenset({"/quit", "/exit"})


class PendingRequests(BaseRequestMiddleware):
    """Counts the bot's Bot API calls under way (long polls aside), so the chat knows when the
    answer to a line is complete."""

    def __init__(self) -> None:
        self.busy = Busy()

    @property
    def count(self) -> int:
        return self.busy.count

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        telegram: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if isinstance(method, GetUpdates):
            return await make_request(telegram, method)
        with self.busy:
            return await make_request(telegram, method)

    async def wait_idle(self, timeout: float) -> bool:
        return await self.busy.wait_idle(timeout)


# ---------------------------------------------------------------- rendering


class _TerminalText(HTMLParser):
    """Telegram's HTML (parse_mode=HTML) as rich Text: bold, italic, code; links keep their
    address, since a terminal cannot click on a word."""

    STYLES: ClassVar[dict[str, str]] = {
        "b": "bold",
        "strong": "bold",
        "i": "italic",
        "em": "italic",
        "u": "underline",
        "ins": "underline",
        "s": "strike",
        "strike": "strike",
        "del": "strike",
        "code": "cyan",
        "pre": "cyan",
        "tg-spoiler": "reverse",
        "blockquote": "dim",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text = Text()
        self._styles: list[str] = []
        self._links: list[tuple[str, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._links.append((dict(attrs).get("href") or "", len(self.text)))
            self._styles.append("underline")
        elif tag in self.STYLES:
            self._styles.append(self.STYLES[tag])

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._links:
            href, start = self._links.pop()
            if href and href != self.text.plain[start:]:
                self.text.append(f" ({href})")
        if (tag == "a" or tag in self.STYLES) and self._styles:
            self._styles.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(CONTROL.sub("", data), style=" ".join(self._styles) or None)


def terminal_text(text: str, parse_mode: str | None) -> Text:
    if (parse_mode or "").upper() != "HTML":
        return Text(CONTROL.sub("", text))
    parser = _TerminalText()
    parser.feed(text)
    parser.close()
    return parser.text


def numbered(buttons: list[list[Button]]) -> list[Text]:
    """One line per keyboard row: `[1] Pause  [2] Resume`; links marked with ↗."""
    lines, n = [], 0
    for row in buttons:
        line = Text()
        for button in row:
            n += 1
            if line:
                line.append("  ")
            line.append(f"[{n}]", style="bold yellow")
            label = CONTROL.sub("", button.text)
            line.append(f" {label}" + (" ↗" if button.data is None else ""))
        lines.append(line)
    return lines


def flat(buttons: list[list[Button]]) -> list[Button]:
    return [button for row in buttons for button in row]


class Transcript:
    """Prints what the bot does, in order, and remembers which messages show buttons."""

    def __init__(self, console: Console, files_shown_from: Path) -> None:
        self.console = console
        self.base = files_shown_from
        self.shown: list[int] = []  # message ids, last shown (sent or edited) last
        self.messages: dict[int, ChatMessage] = {}

    def _path(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(self.base.resolve()))
        except ValueError:
            return str(path)

    def _say(self, label: str, body: list[Text]) -> None:
        head = Text(f"bot{label} › ", style="bold green")
        indent = " " * len(head.plain)
        lines = body or [Text()]
        out = Text()
        for i, line in enumerate(lines):
            out.append_text(head if i == 0 else Text(indent))
            out.append_text(line)
            if i < len(lines) - 1:
                out.append("\n")
        self.console.print(out, soft_wrap=True)

    def show(self, action: BotAction) -> None:
        message = action.message
        if action.kind == "notice":
            self._say(
                " (alert)" if action.alert else " (toast)", [terminal_text(action.text, None)]
            )
            return
        assert message is not None
        if message.message_id in self.shown:
            self.shown.remove(message.message_id)
        if action.kind == "deleted":
            self.messages.pop(message.message_id, None)
            self._say(" (deleted)", [terminal_text(message.text, message.parse_mode)[:60]])
            return
        self.shown.append(message.message_id)
        self.messages[message.message_id] = message
        body: list[Text] = []
        if message.file is not None:
            body.append(
                Text(f"[{message.kind} saved: {self._path(message.file)}]", style="magenta")
            )
        if message.text:
            body.extend(terminal_text(message.text, message.parse_mode).split("\n"))
        body.extend(numbered(message.buttons))
        self._say(" (edited)" if action.kind == "edited" else "", body)

    def with_buttons(self) -> ChatMessage | None:
        """The last shown message that still has buttons."""
        for message_id in reversed(self.shown):
            message = self.messages[message_id]
            if message.buttons:
                return message
        return None

    def newest(self) -> ChatMessage | None:
        return self.messages[self.shown[-1]] if self.shown else None

    def note(self, text: str) -> None:
        self.console.print(Text(CONTROL.sub("", text), style="dim"), soft_wrap=True)


# ---------------------------------------------------------------- input


class Lines:
    """Lines typed (a terminal, with a prompt) or piped in, read by a daemon thread so that
    neither a pending read nor Ctrl-C holds the process."""

    def __init__(self, stream: TextIO, console: Console) -> None:
        self.stream = stream
        self.console = console
        self.interactive = stream.isatty()
        self._wanted = threading.Event()
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        threading.Thread(target=self._read, name="chat-input", daemon=True).start()

    def _read(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            try:
                line: str | None = input(PROMPT) if self.interactive else self.stream.readline()
            except (EOFError, KeyboardInterrupt, OSError, ValueError):
                line = None
            if line == "":  # a pipe's end
                line = None
            try:
                self._loop.call_soon_threadsafe(self._lines.put_nowait, line)
            except RuntimeError:  # the chat has ended meanwhile
                return
            if line is None:
                return

    async def next(self) -> str | None:
        self._wanted.set()
        line = await self._lines.get()
        if line is not None:
            line = line.rstrip("\r\n")
            if not self.interactive:  # show what was sent, so the transcript reads as a chat
                self.console.print(Text(PROMPT + line, style="bold"), soft_wrap=True)
        return line


# ---------------------------------------------------------------- the session


class ChatSession:
    def __init__(
        self,
        *,
        api: LocalBotAPI,
        runtime: TelegramRuntime,
        telegram: Bot,
        pending: PendingRequests,
        transcript: Transcript,
        user: dict[str, Any],
        wait: float,
    ) -> None:
        self.api = api
        self.runtime = runtime
        self.telegram = telegram
        self.pending = pending
        self.transcript = transcript
        self.user = user
        self.wait = wait

    async def print_actions(self) -> None:
        while True:
            action = await self.api.actions.get()
            try:
                self.transcript.show(action)
            finally:
                self.api.actions.task_done()

    async def settle(self, update_id: int | None) -> bool:
        """Wait until the bot has handled the update and gone quiet (no handler running, no Bot
        API call under way, none started for QUIET seconds), at most `wait` seconds; then
        everything it did has been printed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait

        def left() -> float:
            return max(0.0, deadline - loop.time())

        done = update_id is None or await self.api.fetched(update_id, left())
        while done:
            inflight = self.runtime.inflight
            if not await inflight.wait_idle(left()) or not await self.pending.wait_idle(left()):
                done = False
            elif not await self.api.activity(min(QUIET, left())):
                if inflight.count == 0 and self.pending.count == 0:
                    break
                done = left() > 0
        await self.api.actions.join()
        if not done:
            self.transcript.note(
                f"(the bot is still busy after {self.wait:g} s; what it sends will be "
                "printed when it comes)"
            )
        return done

    async def in_dialogue(self) -> bool:
        """Whether a dialogue (/newbot…) waits for a typed answer."""
        context = self.runtime.dispatcher.fsm.get_context(
            bot=self.telegram, chat_id=self.user["id"], user_id=self.user["id"]
        )
        return await context.get_state() is not None

    async def button(self, number: int) -> int | str | None:
        """The update for pressing button `number`, None when the number is text to send, or
        a line to print instead (no such button; a link)."""
        target = self.transcript.with_buttons()
        if target is None:
            return None
        newest = self.transcript.newest()
        if newest is not target and await self.in_dialogue():
            return None  # a question without buttons waits for this number as the answer
        buttons = flat(target.buttons)
        if not 1 <= number <= len(buttons):
            return (
                f"(no button {number}: the last buttons are 1-{len(buttons)}; "
                f"type \\{number} to send {number} as text)"
            )
        button = buttons[number - 1]
        if button.data is None:
            return f"({button.text}: {button.url or 'a button this chat cannot press'})"
        self.transcript.note(f"(pressed [{number}] {button.text})")
        return self.api.press(self.user, target.message_id, button.data)

    async def send(self, line: str) -> None:
        update: int | str | None = None
        if line.isdigit() and len(line) < 4:
            update = await self.button(int(line))
        if isinstance(update, str):
            self.transcript.note(update)
            return
        if update is None:
            update = self.api.say(self.user, line.removeprefix("\\") or line)
        await self.settle(update)

    async def loop(self, lines: Lines) -> None:
        while (line := await lines.next()) is not None:
            line = line.strip()
            if line.lower() in QUIT:
                return
            if line:
                await self.send(line)


def _chat_settings(settings: Settings, user_id: int, token: str, url: str) -> Settings:
    admins = settings.telegram_admins or [user_id]
    quiet = "TRADEBOT_LOG_LEVEL" not in os.environ  # the chat is the output; logs only warn
    return settings.model_copy(
        update={
            "telegram_token": SecretStr(token),
            "telegram_api_url": url,
            "telegram_mode": "polling",
            "telegram_admins": admins,
            # No webhooks reach this process and its monitor would have no prices: a `serve`
            # beside it (same database) does both.
            "monitor_enabled": False,
            "log_level": "WARNING" if quiet else settings.log_level,
        }
    )


def _user(user_id: int) -> dict[str, Any]:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "you"
    return {"id": user_id, "is_bot": False, "first_name": name, "language_code": "en"}


async def _session(
    settings: Settings,
    *,
    user_id: int,
    files: Path,
    wait: float,
    console: Console,
    stdin: TextIO,
) -> None:
    token = f"{BOT_ID}:local-chat-offline"
    api = LocalBotAPI(token, files)
    await api.start()
    settings = _chat_settings(settings, user_id, token, api.url)
    setup_logging(settings)
    telegram = make_telegram_bot(settings)
    pending = PendingRequests()
    telegram.session.middleware(pending)
    runner: web.AppRunner | None = None
    printer: asyncio.Task[None] | None = None
    transcript = Transcript(console, Path.cwd())
    try:
        app = create_app(settings, telegram=telegram, poll_always=True)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()  # the app starts as `serve` starts it; no port is bound
        runtime = app[TELEGRAM_RUNTIME]
        if not await api.polling(CONNECT_TIMEOUT):
            raise click.ClickException(
                f"the product did not connect to the local Bot API within {CONNECT_TIMEOUT:g} s: "
                f"{runtime.status.telegram.get('detail', '')}"
            )
        user = _user(user_id)
        actor = await app[ASSEMBLY].access.actor(user_id, user["first_name"])
        role = actor.role.value if actor.role else "no role: the bot will refuse you"
        session = ChatSession(
            api=api,
            runtime=runtime,
            telegram=telegram,
            pending=pending,
            transcript=transcript,
            user=user,
            wait=wait,
        )
        _banner(console, settings, user_id, role, files)
        printer = asyncio.create_task(session.print_actions(), name="chat-printer")
        await session.settle(None)  # the start-up notification
        await session.loop(Lines(stdin, console))
    finally:
        if runner is not None:
            await runner.cleanup()  # stops polling, waits for handlers, says "stopping"
        await telegram.session.close()
        if printer is not None:
            await api.actions.join()
            printer.cancel()
        await api.stop()


def _banner(console: Console, settings: Settings, user_id: int, role: str, files: Path) -> None:
    console.print(
        Text.assemble(
            ("tradebot chat", "bold"),
            f" · the Telegram bot, offline: a local Bot API on {settings.telegram_api_url}\n",
            f"You are Telegram user {user_id} ({role}) · database "
            f"{shown_url(settings.database_url)} · broker {settings.broker}\n",
            "Type /help to start. Buttons show as [1] [2] …: type a number to press one "
            "(\\3 sends the text 3).\n",
            f"Pictures are saved under {files}/ · /quit or Ctrl-D ends.",
        ),
        soft_wrap=True,
    )


@click.command(context_settings=CLICK_CONTEXT)
@click.option(
    "--user",
    "user_id",
    type=click.IntRange(min=1),
    default=None,
    help="Telegram user id to chat as [default: the first of TRADEBOT_TELEGRAM_ADMINS, "
    f"else {DEFAULT_USER}, made an owner for the session].",
)
@click.option(
    "--files",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("chat-files"),
    show_default=True,
    help="Directory for the pictures and files the bot sends.",
)
@click.option(
    "--wait",
    type=click.FloatRange(min=1),
    default=120.0,
    show_default=True,
    help="Seconds to wait for the bot's answer to a line before reading the next one.",
)
def chat(user_id: int | None, files: Path, wait: float) -> None:
    """Try the Telegram control surface offline, in the terminal.

    The product starts against a local Bot API stand-in: what you type is sent as that user's
    message, the bot's replies are printed, inline buttons are numbered and a number presses
    one. Lines can be piped in too:

      printf '/help\\n/bots\\n' | tradebot chat
    """
    settings = settings_or_exit()
    if user_id is None:
        user_id = settings.telegram_admins[0] if settings.telegram_admins else DEFAULT_USER
    console = Console(highlight=False)
    run(migrate_database(settings.database_url))  # as `serve` does: the chat is the product
    try:
        run(
            _session(
                settings, user_id=user_id, files=files, wait=wait, console=console, stdin=sys.stdin
            )
        )
    except KeyboardInterrupt:  # Ctrl-C ends the chat like /quit (the product has stopped)
        click.echo()
