"""A trader's thumbs: say something in a chat, press a button, read what the bot answered.

Everything goes through the fake Bot API (updates in, Bot API calls out); nothing is patched.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientSession

from tests.fakes.telegram_api import Call, FakeTelegramAPI

WEBHOOK_PATH = "/telegram/webhook"
REFUSAL = "private trading bot"


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    markup = message.get("reply_markup") or {}
    return [button for row in markup.get("inline_keyboard", []) for button in row]


@dataclass
class Chat:
    """One user in one chat (private by default)."""

    fake: FakeTelegramAPI
    user_id: int
    chat_id: int | None = None
    username: str | None = None

    @property
    def id(self) -> int:
        return self.user_id if self.chat_id is None else self.chat_id

    def _to_me(self, params: dict[str, Any]) -> bool:
        return params.get("chat_id") == self.id

    def sent(self, contains: str = "") -> list[str]:
        """Texts of every message the bot sent to this chat, oldest first."""
        return [
            p["text"] for p in self.fake.sent_messages(self.id) if contains in p.get("text", "")
        ]

    async def wait_message(
        self, contains: str = "", *, after: int = 0, timeout: float = 30.0
    ) -> Call:
        """The (after+1)-th message to this chat whose text contains `contains`."""

        def match(params: dict[str, Any]) -> bool:
            return self._to_me(params) and contains in params.get("text", "")

        calls = await self.fake.wait_for("sendMessage", match, count=after + 1, timeout=timeout)
        return calls[after]

    async def say(self, text: str, expect: str = "", *, timeout: float = 30.0) -> str:
        """Send `text` and return the first new reply whose text contains `expect`."""
        before = len(self.sent(expect))
        self.fake.push_message(self.user_id, text, chat_id=self.chat_id, username=self.username)
        call = await self.wait_message(expect, after=before, timeout=timeout)
        return str(call.params["text"])

    def find_button(self, label: str) -> tuple[int, str]:
        """(message id, callback data) of the newest button in this chat whose text has `label`."""
        ids = sorted(
            {
                c.result["message_id"]
                for c in self.fake.calls
                if c.method.lower() in ("sendmessage", "editmessagetext")
                and isinstance(c.result, dict)
                and c.params.get("chat_id") == self.id
            },
            reverse=True,
        )
        for message_id in ids:
            message = self.fake.message(self.id, message_id) or {}
            for button in buttons(message):
                if label in button.get("text", ""):
                    return message_id, button["callback_data"]
        raise AssertionError(f"no button {label!r} in chat {self.id}")

    async def press(self, label: str, *, timeout: float = 30.0) -> dict[str, Any]:
        """Press a button by (part of) its text; returns the answerCallbackQuery params."""
        message_id, data = self.find_button(label)
        return await self.press_data(data, message_id, timeout=timeout)

    async def press_data(
        self, data: str, message_id: int, *, timeout: float = 30.0
    ) -> dict[str, Any]:
        update = self.fake.push_callback(
            self.user_id, data, message_id, chat_id=self.chat_id, username=self.username
        )
        callback_id = update["callback_query"]["id"]
        [call] = await self.fake.wait_for(
            "answerCallbackQuery",
            lambda p: str(p.get("callback_query_id")) == callback_id,
            timeout=timeout,
        )
        return call.params

    async def wait_edit(self, contains: str, *, timeout: float = 30.0) -> str:
        def match(params: dict[str, Any]) -> bool:
            return self._to_me(params) and contains in params.get("text", "")

        [call] = await self.fake.wait_for("editMessageText", match, timeout=timeout)
        return str(call.params["text"])


def webhook_key(text: str) -> str:
    match = re.search(r"/webhook/([A-Za-z0-9_\-]+)", text)
    assert match, text
    return match.group(1)


async def post_update(
    http: ClientSession, url: str, update: dict[str, Any], secret: str | None
) -> int:
    headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
    async with http.post(url, json=update, headers=headers) as response:
        await response.read()
        return response.status


def text_of(predicate: Callable[[str], bool]) -> Callable[[dict[str, Any]], bool]:
    return lambda params: predicate(str(params.get("text", "")))
