"""A Telegram Bot API stand-in on 127.0.0.1, for `tradebot chat`: one person chats with the
product from a terminal, with no token and no network.

It speaks the part of the Bot API the product calls, the way aiogram calls it (`POST
/bot{token}/{method}`, form or multipart parameters, `{"ok": true, "result": ...}` answers):
getMe, getUpdates (long polling, bounded), sendMessage, sendPhoto and sendDocument (the file is
saved), edits, answerCallbackQuery, deleteMessage, and the set-up calls (setMyCommands,
deleteWebhook, setChatMenuButton...), which are acknowledged. What the person types becomes an
Update (`say`, `press`); what the bot does comes out as `BotAction`s on `actions`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any

from aiohttp import web

JSONDict = dict[str, Any]

BOT_ID = 7_000_000_001
BOT_USERNAME = "tradebot_local_bot"
# Bot API parameters sent as plain strings (aiogram JSON-encodes everything else).
_TEXT_PARAMS = frozenset(
    {"text", "caption", "parse_mode", "callback_query_id", "url", "action", "secret_token"}
)
# Set-up and cosmetic calls, acknowledged with `true` as Telegram does.
_ACKNOWLEDGED = frozenset(
    {
        "setmycommands",
        "deletemycommands",
        "deletewebhook",
        "setchatmenubutton",
        "sendchataction",
        "setmydescription",
        "setmyshortdescription",
        "setmyname",
        "close",
        "logout",
    }
)
_TAG = re.compile(r"<[^>]*>")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def plain(text: str, parse_mode: Any) -> str:
    """What a Telegram client stores as a message's text: HTML tags gone, entities decoded."""
    if isinstance(parse_mode, str) and parse_mode.upper() == "HTML":
        return unescape(_TAG.sub("", text))
    return text


@dataclass(frozen=True, slots=True)
class Button:
    text: str
    data: str | None = None  # callback data: pressing it sends a callback_query
    url: str | None = None  # a link (or a Mini App): pressing it shows the address


@dataclass(slots=True)
class ChatMessage:
    """A message the bot sent, as it stands now (after edits)."""

    message_id: int
    chat_id: int
    text: str = ""  # as sent: HTML when parse_mode is HTML
    parse_mode: str | None = None
    buttons: list[list[Button]] = field(default_factory=list)
    file: Path | None = None
    kind: str = "text"  # text, photo or document
    wire: JSONDict = field(default_factory=dict)  # the Message object as the Bot API returns it


@dataclass(frozen=True, slots=True)
class BotAction:
    """One thing the bot did in the chat: sent, edited or deleted a message, or answered a
    button press with a notice (`alert` when Telegram would show it as a dialog)."""

    kind: str  # sent, edited, deleted, notice
    message: ChatMessage | None = None
    text: str = ""
    alert: bool = False


class ApiError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def _buttons(markup: Any) -> list[list[Button]]:
    if not isinstance(markup, dict):
        return []
    rows = []
    for row in markup.get("inline_keyboard") or []:
        buttons = []
        for raw in row:
            web_app = raw.get("web_app") or {}
            url = raw.get("url") or raw.get("login_url", {}).get("url") or web_app.get("url")
            buttons.append(Button(str(raw.get("text", "")), raw.get("callback_data"), url))
        rows.append(buttons)
    return rows


class LocalBotAPI:
    """The Bot API for one bot and the people chatting with it, on 127.0.0.1:<free port>.

    `files` is where photos and documents the bot sends are saved (created on the first one).
    Use it from the event loop it runs on."""

    def __init__(self, token: str, files: Path, *, max_poll_wait: float = 10.0) -> None:
        self.token = token
        self.files = files
        self.max_poll_wait = max_poll_wait
        self.actions: asyncio.Queue[BotAction] = asyncio.Queue()
        self.messages: dict[int, ChatMessage] = {}
        self.polls = 0  # getUpdates calls answered or waiting
        self.last_activity = time.monotonic()
        self._pending: list[JSONDict] = []
        self._confirmed = 0  # update ids below this were fetched and acknowledged (offset)
        # Unique across sessions on one database: the product remembers update ids it handled.
        self._update_ids = itertools.count(time.time_ns() // 1000)
        self._message_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._changed = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.url = ""
        self._methods = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "sendmessage": self._send_message,
            "sendphoto": self._send_photo,
            "senddocument": self._send_document,
            "editmessagetext": self._edit_text,
            "editmessagecaption": self._edit_caption,
            "editmessagereplymarkup": self._edit_markup,
            "answercallbackquery": self._answer_callback,
            "deletemessage": self._delete_message,
            "getchat": self._get_chat,
        }

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        self._runner = runner
        self.url = f"http://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is None:
            return
        self._closing = True
        self._notify()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    # ------------------------------------------------------------ the person's side

    def say(self, user: JSONDict, text: str) -> int:
        """Queue a private message from `user` (a Bot API User object); its update id."""
        message: JSONDict = {
            "message_id": next(self._message_ids),
            "from": user,
            "chat": self._chat(user),
            "date": int(time.time()),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            length = len(command.encode("utf-16-le")) // 2
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self._push({"message": message})

    def press(self, user: JSONDict, message_id: int, data: str) -> int:
        """Queue a press on a button (callback data `data`) of the bot's message; its update id."""
        stored = self.messages.get(message_id)
        callback = {
            "id": str(next(self._callback_ids)),
            "from": user,
            "message": stored.wire if stored else self._bare_message(message_id, user),
            "chat_instance": str(user["id"]),
            "data": data,
        }
        return self._push({"callback_query": callback})

    async def fetched(self, update_id: int, timeout: float) -> bool:
        """Wait until the bot has fetched the update and acknowledged it (its next getUpdates
        asks for later ones): by then aiogram has started handling it."""
        try:
            async with asyncio.timeout(timeout):
                while self._confirmed <= update_id:
                    changed = self._changed
                    await changed.wait()
        except TimeoutError:
            return False
        return True

    async def polling(self, timeout: float) -> bool:
        """Wait until the bot polls for updates (it is connected and listening)."""
        try:
            async with asyncio.timeout(timeout):
                while not self.polls:
                    changed = self._changed
                    await changed.wait()
        except TimeoutError:
            return False
        return True

    async def activity(self, timeout: float) -> bool:
        """Whether the bot calls the API (anything but getUpdates) within `timeout` seconds."""
        since = self.last_activity
        try:
            async with asyncio.timeout(timeout):
                while self.last_activity == since:
                    changed = self._changed
                    await changed.wait()
        except TimeoutError:
            return False
        return True

    # ------------------------------------------------------------ plumbing

    def _push(self, update: JSONDict) -> int:
        update_id = next(self._update_ids)
        self._pending.append({"update_id": update_id, **update})
        self._notify()
        return update_id

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _emit(self, action: BotAction) -> None:
        self.actions.put_nowait(action)

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"].lower()
        if method != "getupdates":
            self.last_activity = time.monotonic()
            self._notify()
        try:
            params = await self._params(request)
            handler = self._methods.get(method)
            if handler is not None:
                result = await handler(params)
            elif method in _ACKNOWLEDGED:
                result = True
            else:
                name = request.match_info["method"]
                raise ApiError(400, f"Bad Request: {name} is not available in the local chat")
        except ApiError as exc:
            body = {"ok": False, "error_code": exc.status, "description": exc.description}
            return web.json_response(body, status=exc.status)
        return web.json_response({"ok": True, "result": result})

    async def _params(self, request: web.Request) -> JSONDict:
        raw: dict[str, Any] = dict(request.query)
        files: dict[str, tuple[str, bytes]] = {}
        if request.content_type == "application/json" and request.can_read_body:
            body = await request.json()
            return {**raw, **(body if isinstance(body, dict) else {})}
        if request.can_read_body:
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    files[key] = (value.filename or key, value.file.read())
                else:
                    raw[key] = value.decode() if isinstance(value, bytes) else value
        params: JSONDict = {}
        for key, value in raw.items():
            if key in _TEXT_PARAMS or not isinstance(value, str):
                params[key] = value
                continue
            try:
                params[key] = json.loads(value)
            except ValueError:
                params[key] = value
        for key, value in params.items():  # uploads are named in the form: attach://<field>
            if isinstance(value, str) and value.startswith("attach://"):
                params[key] = files.get(value.removeprefix("attach://"))
        for key, upload in files.items():
            params.setdefault(key, upload)
        return params

    def _chat(self, user: JSONDict) -> JSONDict:
        return {"id": user["id"], "type": "private", "first_name": user.get("first_name", "")}

    def _bare_message(self, message_id: int, user: JSONDict) -> JSONDict:
        return {
            "message_id": message_id,
            "from": self._me(),
            "chat": self._chat(user),
            "date": int(time.time()),
        }

    @staticmethod
    def _me() -> JSONDict:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Tradebot",
            "username": BOT_USERNAME,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _chat_id(self, params: JSONDict) -> int:
        try:
            return int(params.get("chat_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None

    def _save(self, upload: Any, fallback: str) -> Path:
        """Save an uploaded file under `files`, never over an earlier one."""
        if not isinstance(upload, tuple):
            raise ApiError(400, "Bad Request: there is no file in the request")
        filename, data = upload
        name = _SAFE_NAME.sub("_", Path(filename).name).strip("._") or fallback
        stem, suffix = Path(name).stem, Path(name).suffix
        self.files.mkdir(parents=True, exist_ok=True)
        for n in itertools.count(1):
            path = self.files / (name if n == 1 else f"{stem}-{n}{suffix}")
            try:
                with path.open("xb") as out:
                    out.write(data)
            except FileExistsError:
                continue
            return path
        raise AssertionError("unreachable")

    def _store(self, message: ChatMessage, content: JSONDict, markup: Any) -> JSONDict:
        wire: JSONDict = {
            "message_id": message.message_id,
            "from": self._me(),
            "chat": {"id": message.chat_id, "type": "private", "first_name": ""},
            "date": int(time.time()),
            **content,
        }
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            wire["reply_markup"] = markup
        message.wire = wire
        self.messages[message.message_id] = message
        return wire

    def _stored(self, params: JSONDict) -> ChatMessage:
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: inline messages are not in this chat")
        message = self.messages.get(int(params.get("message_id") or 0))
        if message is None or message.chat_id != self._chat_id(params):
            raise ApiError(400, "Bad Request: message to edit not found")
        return message

    # ------------------------------------------------------------ methods

    async def _get_me(self, params: JSONDict) -> JSONDict:
        return self._me()

    async def _get_chat(self, params: JSONDict) -> JSONDict:
        chat_id = self._chat_id(params)
        return {"id": chat_id, "type": "private", "accent_color_id": 0, "max_reaction_count": 11}

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        offset = int(params.get("offset") or 0)
        if offset > self._confirmed:
            self._confirmed = offset
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        self.polls += 1
        self._notify()
        wait = min(max(float(params.get("timeout") or 0), 0.0), self.max_poll_wait)
        try:
            async with asyncio.timeout(wait):
                while not self._pending and not self._closing:
                    changed = self._changed
                    await changed.wait()
        except TimeoutError:
            pass
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        return self._pending[:limit]

    async def _send_message(self, params: JSONDict) -> JSONDict:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        message = ChatMessage(
            next(self._message_ids),
            self._chat_id(params),
            text,
            params.get("parse_mode"),
            _buttons(params.get("reply_markup")),
        )
        wire = self._store(
            message, {"text": plain(text, message.parse_mode)}, params.get("reply_markup")
        )
        self._emit(BotAction("sent", message))
        return wire

    async def _send_file(self, params: JSONDict, kind: str) -> JSONDict:
        path = self._save(params.get(kind), f"{kind}.bin")
        caption = params.get("caption") or ""
        message = ChatMessage(
            next(self._message_ids),
            self._chat_id(params),
            caption,
            params.get("parse_mode"),
            _buttons(params.get("reply_markup")),
            file=path,
            kind=kind,
        )
        unique = f"{kind}-{message.message_id}"
        item: JSONDict = {"file_id": unique, "file_unique_id": unique}
        item["file_size"] = path.stat().st_size
        if kind == "document":
            item["file_name"] = path.name
        else:
            item.update(width=1, height=1)
        content: JSONDict = {kind: [item] if kind == "photo" else item}
        if caption:
            content["caption"] = plain(caption, message.parse_mode)
        wire = self._store(message, content, params.get("reply_markup"))
        self._emit(BotAction("sent", message))
        return wire

    async def _send_photo(self, params: JSONDict) -> JSONDict:
        return await self._send_file(params, "photo")

    async def _send_document(self, params: JSONDict) -> JSONDict:
        return await self._send_file(params, "document")

    def _edited(self, message: ChatMessage, markup: Any) -> JSONDict:
        content = {k: v for k, v in message.wire.items() if k not in ("reply_markup", "edit_date")}
        if message.kind == "text":
            content["text"] = plain(message.text, message.parse_mode)
        elif message.text:
            content["caption"] = plain(message.text, message.parse_mode)
        content["edit_date"] = int(time.time())
        wire = self._store(message, content, markup)
        self._emit(BotAction("edited", message))
        return wire

    def _unchanged(self, message: ChatMessage, text: str, markup: Any) -> bool:
        return message.text == text and message.buttons == _buttons(markup)

    async def _edit_text(self, params: JSONDict) -> JSONDict:
        message = self._stored(params)
        text = params.get("text") or ""
        if self._unchanged(message, text, params.get("reply_markup")):
            raise ApiError(400, "Bad Request: message is not modified")
        message.text, message.parse_mode = text, params.get("parse_mode")
        message.buttons = _buttons(params.get("reply_markup"))
        return self._edited(message, params.get("reply_markup"))

    async def _edit_caption(self, params: JSONDict) -> JSONDict:
        message = self._stored(params)
        message.text, message.parse_mode = params.get("caption") or "", params.get("parse_mode")
        message.buttons = _buttons(params.get("reply_markup"))
        return self._edited(message, params.get("reply_markup"))

    async def _edit_markup(self, params: JSONDict) -> JSONDict:
        message = self._stored(params)
        if self._unchanged(message, message.text, params.get("reply_markup")):
            raise ApiError(400, "Bad Request: message is not modified")
        message.buttons = _buttons(params.get("reply_markup"))
        return self._edited(message, params.get("reply_markup"))

    async def _answer_callback(self, params: JSONDict) -> bool:
        text = params.get("text") or ""
        if text:
            self._emit(BotAction("notice", text=text, alert=bool(params.get("show_alert"))))
        return True

    async def _delete_message(self, params: JSONDict) -> bool:
        message = self.messages.pop(int(params.get("message_id") or 0), None)
        if message is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        self._emit(BotAction("deleted", message))
        return True
