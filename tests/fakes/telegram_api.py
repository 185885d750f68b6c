"""A fake Telegram Bot API server for tests.

Why: the bot's Telegram layer should be tested through the real aiogram ``Bot`` and its
real HTTP session (serialisation, multipart uploads, error mapping, long polling), without
touching api.telegram.org. This aiohttp app listens on 127.0.0.1 and speaks the Bot API
wire format: ``POST {base}/bot{token}/{method}`` with form / multipart parameters, answering
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": ..., "description": ...}``.

Usage::

    async with FakeTelegramAPI() as fake:
        bot = Bot("42:TEST", session=AiohttpSession(api=fake.api_server))
        ...
        fake.push_message(user_id=7, text="/start")
        [call] = await fake.wait_for("sendMessage")
        await bot.session.close()

All ``push_*`` helpers and ``wait_for`` must be used from the event loop the server runs on.
"""

from __future__ import annotations

import asyncio
import copy
import html
import itertools
import json
import re
import time
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any, Self

from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web

JSONDict = dict[str, Any]
Predicate = Callable[[JSONDict], bool]

BOT_ID = 424242
BOT_USERNAME = "tradebot_test_bot"
BOT_FIRST_NAME = "Tradebot"

#: Parameters that are plain strings on the wire and must never be JSON-decoded
#: (a message text "123" or "true" must stay a string).
_RAW_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_message_id",
        "url",
        "secret_token",
        "ip_address",
        "name",
        "title",
        "description",
        "short_description",
        "language_code",
        "action",
        "emoji",
        "icon_custom_emoji_id",
        "business_connection_id",
        "message_effect_id",
        "file_id",
        "question",
        "explanation",
        "address",
        "first_name",
        "last_name",
        "phone_number",
        "vcard",
        "custom_title",
        "invite_link",
        "photo",
        "document",
        "video",
        "audio",
        "animation",
        "voice",
        "video_note",
        "sticker",
        "thumbnail",
    }
)

#: Default error descriptions, worded like the real API's.
_DEFAULT_DESCRIPTIONS: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_HTML_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class UploadedFile:
    """A file received in a multipart upload; tests usually only look at ``size``."""

    field_name: str
    filename: str
    content_type: str
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        """Size of the upload in bytes."""
        return len(self.data)


@dataclass(frozen=True)
class Call:
    """One recorded Bot API request (decoded params) and what the fake answered."""

    method: str
    params: JSONDict
    result: Any = None
    token: str = ""
    status: int = 200
    description: str | None = None
    # when the fake received it (monotonic seconds): lets a test check a retry_after was kept
    at: float = field(default_factory=time.monotonic)


@dataclass
class _StoredMessage:
    """A message the bot sent, kept so edits/callbacks can refer back to it."""

    message: JSONDict
    source: tuple[Any, Any]  # (raw text or caption, inline markup) for "not modified" checks


class TelegramAPIError(Exception):
    """Raised inside method handlers to answer with an error, like the real API does."""

    def __init__(self, status: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


def _utf16_len(text: str) -> int:
    """Telegram measures entity offsets/lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _render(text: str, parse_mode: Any) -> str:
    """Approximate what Telegram stores for a formatted text: HTML tags are stripped."""
    if isinstance(parse_mode, str) and parse_mode.upper() == "HTML":
        return html.unescape(_HTML_TAG.sub("", text))
    return text


def _inline_markup(markup: Any) -> JSONDict | None:
    """Only inline keyboards are echoed back in a Message (as the real API does)."""
    if isinstance(markup, dict) and "inline_keyboard" in markup:
        return markup
    return None


def _image_size(data: bytes) -> tuple[int, int]:
    """Width/height of a PNG (the bot's charts); a plausible default for anything else."""
    if data.startswith(_PNG_SIGNATURE) and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return 1280, 720


class FakeTelegramAPI:
    """In-process fake of the Telegram Bot API, served over HTTP on 127.0.0.1.

    Why a real HTTP server: it exercises aiogram's real session code paths, including
    multipart uploads and error-to-exception mapping, which mocks of ``Bot`` would skip.
    """

    def __init__(self, *, max_poll_wait: float = 2.0, report_not_modified: bool = True) -> None:
        """``max_poll_wait`` caps getUpdates long polling so tests never hang on it;
        ``report_not_modified`` mimics the real 400 on edits that change nothing."""
        self.max_poll_wait = max_poll_wait
        self.report_not_modified = report_not_modified
        self.calls: list[Call] = []
        self.failed_calls: list[Call] = []
        self.webhook: JSONDict = {"url": ""}
        self.commands: dict[tuple[str, str], list[JSONDict]] = {}
        self.menu_buttons: dict[Any, JSONDict] = {}
        self._pending: list[JSONDict] = []
        # Like Telegram, a getUpdates while another is open is refused with 409: two
        # processes polling one bot at once is a deployment fault the tests must see.
        self.poll_conflicts = 0
        self._polls_open = 0
        self._faults: dict[str, deque[tuple[int, str, JSONDict | None]]] = {}
        self._messages: dict[tuple[Any, int], _StoredMessage] = {}
        self._users: dict[int, JSONDict] = {}
        self._last_update_id = 0
        self._message_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._thread_ids = itertools.count(2)
        # Files users sent (`push_document`), by file_id, and the paths getFile gave them.
        self.files: dict[str, bytes] = {}
        self._file_paths: dict[str, str] = {}
        self._downloads_open = asyncio.Event()
        self._downloads_open.set()
        self._changed = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._handlers: dict[str, Callable[[JSONDict], Awaitable[Any]]] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "sendmessage": self._send_message,
            "sendphoto": self._send_photo,
            "senddocument": self._send_document,
            "sendmediagroup": self._send_media_group,
            "editmessagetext": self._edit_message_text,
            "editmessagecaption": self._edit_message_caption,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "createforumtopic": self._create_forum_topic,
            "setchatmenubutton": self._set_chat_menu_button,
            "getchatmenubutton": self._get_chat_menu_button,
            "getchat": self._get_chat,
            "getfile": self._get_file,
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> str:
        """Bind 127.0.0.1 on a free port and return the base URL (also ``self.url``)."""
        if self._runner is not None:
            return self.url
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        # handler_cancellation: a poller that disconnects (a killed process) ends its poll, as
        # Telegram sees a closed connection; it does not hold the next poller off.
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=1.0,
            handler_cancellation=True,
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        self._runner = runner
        self._closing = False
        self._url = f"http://{host}:{port}"
        return self._url

    async def stop(self) -> None:
        """Release pending long polls and shut the server down (idempotent)."""
        if self._runner is None:
            return
        self._closing = True
        self._downloads_open.set()
        self._notify()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234``; pass to ``TelegramAPIServer.from_base``."""
        if self._url is None:
            msg = "FakeTelegramAPI is not started; call `await fake.start()` first"
            raise RuntimeError(msg)
        return self._url

    @property
    def api_server(self) -> TelegramAPIServer:
        """Ready-made aiogram server config: ``AiohttpSession(api=fake.api_server)``."""
        return TelegramAPIServer.from_base(self.url)

    @property
    def bot_user(self) -> JSONDict:
        """The bot's own User object, as getMe returns it."""
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": BOT_FIRST_NAME,
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    # ------------------------------------------------------------------ inspection

    def calls_of(self, method: str) -> list[Call]:
        """Successful calls of ``method`` (case-insensitive, like the real API)."""
        wanted = method.lower()
        return [c for c in self.calls if c.method.lower() == wanted]

    def sent_messages(self, chat_id: int | str | None = None) -> list[JSONDict]:
        """Params of every successful sendMessage, optionally only those to ``chat_id``."""
        return [
            c.params
            for c in self.calls_of("sendMessage")
            if chat_id is None or c.params.get("chat_id") == chat_id
        ]

    def clear_calls(self) -> None:
        """Forget recorded calls (e.g. the startup noise) before the part under test."""
        self.calls.clear()
        self.failed_calls.clear()

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates pushed but not yet confirmed through getUpdates' ``offset``."""
        return list(self._pending)

    def message(self, chat_id: int | str, message_id: int) -> JSONDict | None:
        """Current state of a message the bot sent (after edits), or None."""
        stored = self._messages.get((self._chat_key(chat_id), int(message_id)))
        return copy.deepcopy(stored.message) if stored else None

    async def wait_for(
        self,
        method: str,
        predicate: Predicate | None = None,
        count: int = 1,
        timeout: float = 30.0,
    ) -> list[Call]:
        """Wait until ``count`` successful ``method`` calls whose params satisfy ``predicate``
        have been recorded (earlier ones count too); return the first ``count`` of them.

        Why: the bot reacts asynchronously to pushed updates; this avoids sleeps in tests.
        Raises AssertionError listing everything recorded if ``timeout`` passes first.
        """

        def matching() -> list[Call]:
            return [c for c in self.calls_of(method) if predicate is None or predicate(c.params)]

        try:
            async with asyncio.timeout(timeout):
                while True:
                    changed = self._changed
                    found = matching()
                    if len(found) >= count:
                        return found[:count]
                    await changed.wait()
        except TimeoutError:
            raise AssertionError(
                self._describe_timeout(method, predicate, count, timeout, len(matching()))
            ) from None

    def _describe_timeout(
        self, method: str, predicate: Predicate | None, count: int, timeout: float, got: int
    ) -> str:
        """Build a failure message that shows what the bot actually did."""
        what = f"{count} {method} call(s)"
        if predicate is not None:
            what += f" matching {getattr(predicate, '__name__', repr(predicate))}"
        lines = [f"Timed out after {timeout}s waiting for {what}; got {got}."]
        polls = len(self.calls_of("getUpdates"))
        shown = [c for c in self.calls if c.method.lower() != "getupdates"]
        lines.append(f"Recorded calls ({len(shown)}, plus {polls} getUpdates):")
        lines += [f"  {c.method} {self._short(c.params)}" for c in shown] or ["  (none)"]
        if self.failed_calls:
            lines.append(f"Failed calls ({len(self.failed_calls)}):")
            lines += [
                f"  {c.method} -> {c.status} {c.description!r} {self._short(c.params)}"
                for c in self.failed_calls
            ]
        return "\n".join(lines)

    @staticmethod
    def _short(params: JSONDict, limit: int = 300) -> str:
        """Keep failure messages readable when params are large."""
        text = repr(params)
        return text if len(text) <= limit else text[: limit - 3] + "..."

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        method: str,
        status: int = 429,
        retry_after: int = 1,
        count: int = 1,
        description: str | None = None,
    ) -> None:
        """Make the next ``count`` calls of ``method`` fail like Telegram would.

        429 answers flood control with ``parameters.retry_after`` (aiogram raises
        TelegramRetryAfter); 403 "bot was blocked", 500/502 server errors, or any status.
        Failed calls go to ``failed_calls``, not ``calls``.
        """
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            desc = description or f"Too Many Requests: retry after {retry_after}"
            parameters: JSONDict | None = {"retry_after": retry_after}
        else:
            desc = description or _DEFAULT_DESCRIPTIONS.get(status) or HTTPStatus(status).phrase
            parameters = None
        queue = self._faults.setdefault(method.lower(), deque())
        queue.extend([(status, desc, parameters)] * count)

    # ------------------------------------------------------------------ pushing updates

    def push_update(self, update: JSONDict) -> JSONDict:
        """Queue a raw Update for getUpdates; assigns an increasing ``update_id`` if missing."""
        update = dict(update)
        if "update_id" not in update:
            update["update_id"] = self._last_update_id + 1
        self._last_update_id = max(self._last_update_id, int(update["update_id"]))
        self._pending.append(update)
        self._notify()
        return update

    def push_message(
        self,
        user_id: int,
        text: str,
        chat_id: int | None = None,
        username: str | None = None,
        *,
        first_name: str | None = None,
    ) -> JSONDict:
        """Queue an Update with a text message from a user (private chat by default).

        Commands (text starting with '/') get a ``bot_command`` entity, as Telegram adds one.
        """
        user = self._user(user_id, username=username, first_name=first_name)
        message: JSONDict = {
            "message_id": next(self._message_ids),
            "from": user,
            "chat": self._chat(user_id if chat_id is None else chat_id),
            "date": int(time.time()),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": _utf16_len(command)}
            ]
        return self.push_update({"message": message})

    def push_callback(
        self,
        user_id: int,
        data: str,
        message_id: int,
        chat_id: int | None = None,
        *,
        username: str | None = None,
    ) -> JSONDict:
        """Queue an Update for a press on an inline button of the bot's message ``message_id``.

        If the bot really sent that message, its current text and keyboard are included.
        """
        user = self._user(user_id, username=username)
        target_chat = user_id if chat_id is None else chat_id
        stored = self._messages.get((self._chat_key(target_chat), int(message_id)))
        if stored is not None:
            message = copy.deepcopy(stored.message)
        else:
            message = {
                "message_id": int(message_id),
                "from": self.bot_user,
                "chat": self._chat(target_chat),
                "date": int(time.time()),
            }
        callback: JSONDict = {
            "id": str(4_000_000_000_000_000 + next(self._callback_ids)),
            "from": user,
            "message": message,
            "chat_instance": str(zlib.crc32(f"chat_instance:{target_chat}".encode()) * 7919),
            "data": data,
        }
        return self.push_update({"callback_query": callback})

    def push_document(
        self,
        user_id: int,
        data: bytes,
        file_name: str,
        caption: str = "",
        chat_id: int | None = None,
        username: str | None = None,
        *,
        mime_type: str = "text/csv",
    ) -> JSONDict:
        """Queue an Update with a file a user sent (a command in the caption gets its entity,
        as Telegram adds one); the bot can fetch it with getFile and the file URL."""
        user = self._user(user_id, username=username)
        file_id, uniq = self._file_ids_for("document")
        self.files[file_id] = data
        message: JSONDict = {
            "message_id": next(self._message_ids),
            "from": user,
            "chat": self._chat(user_id if chat_id is None else chat_id),
            "date": int(time.time()),
            "document": {
                "file_id": file_id,
                "file_unique_id": uniq,
                "file_name": file_name,
                "mime_type": mime_type,
                "file_size": len(data),
            },
        }
        if caption:
            message["caption"] = caption
            if caption.startswith("/"):
                command = caption.split(maxsplit=1)[0]
                message["caption_entities"] = [
                    {"type": "bot_command", "offset": 0, "length": _utf16_len(command)}
                ]
        return self.push_update({"message": message})

    def hold_downloads(self) -> None:
        """File downloads wait (recorded as `downloadFile` calls when they arrive) until
        `release_downloads`: a test's handle on a slow upload, without sleeping."""
        self._downloads_open.clear()

    def release_downloads(self) -> None:
        self._downloads_open.set()

    # ------------------------------------------------------------------ HTTP plumbing

    def _notify(self) -> None:
        """Wake every waiter (wait_for, long polls); each re-checks its own condition."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _handle(self, request: web.Request) -> web.Response:
        """Entry point for ``/bot{token}/{method}``: decode, maybe fail, dispatch, record."""
        token = request.match_info["token"]
        method = request.match_info["method"]
        params = await self._read_params(request)

        faults = self._faults.get(method.lower())
        if faults:
            status, description, parameters = faults.popleft()
            return self._fail(method, params, token, status, description, parameters)

        handler = self._handlers.get(method.lower())
        try:
            result = await handler(params) if handler is not None else True
        except TelegramAPIError as exc:
            return self._fail(method, params, token, exc.status, exc.description, exc.parameters)
        self.calls.append(Call(method, params, copy.deepcopy(result), token))
        self._notify()
        return web.json_response({"ok": True, "result": result})

    def _fail(
        self,
        method: str,
        params: JSONDict,
        token: str,
        status: int,
        description: str,
        parameters: JSONDict | None,
    ) -> web.Response:
        """Record a failed call and answer with the real API's error envelope."""
        self.failed_calls.append(Call(method, params, None, token, status, description))
        self._notify()
        body: JSONDict = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        return web.json_response(body, status=status)

    async def _read_params(self, request: web.Request) -> JSONDict:
        """Decode query/form/multipart/JSON params into Python values; resolve attach://."""
        raw: dict[str, str] = dict(request.query)
        params: JSONDict = {}
        files: dict[str, UploadedFile] = {}
        if request.content_type == "application/json" and request.can_read_body:
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
        elif request.can_read_body:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    data = value.file.read()
                    files[key] = UploadedFile(key, value.filename, value.content_type, data)
                elif isinstance(value, bytes | bytearray):
                    raw[key] = bytes(value).decode()
                else:
                    raw[key] = value
        for key, value in raw.items():
            params[key] = self._decode(key, value)

        used: set[str] = set()

        def resolve(value: Any) -> Any:
            if isinstance(value, str) and value.startswith("attach://"):
                name = value.removeprefix("attach://")
                if name in files:
                    used.add(name)
                    return files[name]
            if isinstance(value, dict):
                return {k: resolve(v) for k, v in value.items()}
            if isinstance(value, list):
                return [resolve(v) for v in value]
            return value

        params = {key: resolve(value) for key, value in params.items()}
        params.update({name: f for name, f in files.items() if name not in used})
        return params

    @staticmethod
    def _decode(key: str, value: str) -> Any:
        """aiogram JSON-encodes non-string values (ints, bools, objects); undo that."""
        if key in _RAW_STRING_PARAMS:
            return value
        try:
            return json.loads(value)
        except ValueError:
            return value

    # ------------------------------------------------------------------ object builders

    def _user(
        self, user_id: int, *, username: str | None = None, first_name: str | None = None
    ) -> JSONDict:
        """A human User; remembered so the bot's replies show the same chat names."""
        user = self._users.get(user_id) or {
            "id": user_id,
            "is_bot": False,
            "first_name": f"User{user_id}",
            "language_code": "en",
        }
        if first_name:
            user["first_name"] = first_name
        if username:
            user["username"] = username
        self._users[user_id] = user
        return dict(user)

    @staticmethod
    def _chat_key(chat_id: Any) -> Any:
        """Normalise chat ids from params ("123" / 123 / "@name") for lookups."""
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            return int(chat_id)
        return chat_id

    def _chat(self, chat_id: Any) -> JSONDict:
        """A Chat object: private for positive ids, groups for negative, channel for @name."""
        chat_id = self._chat_key(chat_id)
        if chat_id is None or chat_id == "":
            raise TelegramAPIError(400, "Bad Request: chat_id is empty")
        if isinstance(chat_id, str):
            name = chat_id.lstrip("@")
            fake_id = -1_000_000_000_000 - zlib.crc32(name.encode()) % 1_000_000_000
            return {"id": fake_id, "type": "channel", "title": name, "username": name}
        if chat_id > 0:
            chat: JSONDict = {"id": chat_id, "type": "private"}
            user = self._users.get(chat_id)
            chat["first_name"] = user["first_name"] if user else f"User{chat_id}"
            if user and "username" in user:
                chat["username"] = user["username"]
            return chat
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": kind, "title": "Test group"}

    def _new_message(
        self, params: JSONDict, content: JSONDict, source: tuple[Any, Any]
    ) -> JSONDict:
        """Create, store and return a Message sent by the bot."""
        message: JSONDict = {
            "message_id": next(self._message_ids),
            "from": self.bot_user,
            "chat": self._chat(params.get("chat_id")),
            "date": int(time.time()),
        }
        if params.get("message_thread_id"):
            message["message_thread_id"] = params["message_thread_id"]
            message["is_topic_message"] = True
        message.update(content)
        markup = _inline_markup(params.get("reply_markup"))
        if markup is not None:
            message["reply_markup"] = markup
        key = (self._chat_key(params.get("chat_id")), message["message_id"])
        self._messages[key] = _StoredMessage(message, (source[0], markup))
        return copy.deepcopy(message)

    def _file_ids_for(self, kind: str) -> tuple[str, str]:
        """Unique (file_id, file_unique_id) pair, shaped loosely like Telegram's."""
        n = next(self._file_ids)
        return f"{kind}-fake-file-id-{n:06d}", f"{kind}-uniq-{n:06d}"

    def _photo_sizes(self, photo: Any) -> list[JSONDict]:
        """PhotoSize list for an uploaded (or file_id/URL) photo: thumbnail + full size."""
        data = photo.data if isinstance(photo, UploadedFile) else b""
        width, height = _image_size(data)
        thumb_id, thumb_uniq = self._file_ids_for("photo")
        full_id, full_uniq = self._file_ids_for("photo")
        scale = 90 / max(width, height, 1)
        return [
            {
                "file_id": thumb_id,
                "file_unique_id": thumb_uniq,
                "width": max(1, round(width * scale)),
                "height": max(1, round(height * scale)),
                "file_size": min(len(data), 1500),
            },
            {
                "file_id": full_id,
                "file_unique_id": full_uniq,
                "width": width,
                "height": height,
                "file_size": len(data),
            },
        ]

    def _document(self, document: Any) -> JSONDict:
        """Document object for an uploaded (or file_id/URL) document."""
        file_id, uniq = self._file_ids_for("document")
        doc: JSONDict = {"file_id": file_id, "file_unique_id": uniq}
        if isinstance(document, UploadedFile):
            doc.update(
                file_name=document.filename,
                mime_type=document.content_type,
                file_size=document.size,
            )
        return doc

    def _caption(self, params: JSONDict) -> JSONDict:
        """Rendered caption fields, if a caption was sent."""
        if not params.get("caption"):
            return {}
        return {"caption": _render(params["caption"], params.get("parse_mode"))}

    # ------------------------------------------------------------------ method handlers

    async def _get_me(self, params: JSONDict) -> JSONDict:
        """getMe: the fixed test bot."""
        return self.bot_user

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        """getUpdates: confirm by offset, then long-poll up to min(timeout, max_poll_wait)."""
        if self.webhook.get("url"):
            raise TelegramAPIError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        if self._polls_open:
            self.poll_conflicts += 1
            raise TelegramAPIError(409, _DEFAULT_DESCRIPTIONS[409])
        self._polls_open += 1
        try:
            return await self._poll(params)
        finally:
            self._polls_open -= 1

    async def _poll(self, params: JSONDict) -> list[JSONDict]:
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        wait = min(max(float(params.get("timeout") or 0), 0.0), self.max_poll_wait)
        if offset > 0:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        elif offset < 0:
            self._pending = self._pending[offset:]
        if wait > 0:
            try:
                async with asyncio.timeout(wait):
                    while not self._pending and not self._closing:
                        await self._changed.wait()
            except TimeoutError:
                pass
        return copy.deepcopy(self._pending[:limit])

    async def _send_message(self, params: JSONDict) -> JSONDict:
        """sendMessage: echo the message with a fresh message_id."""
        text = params.get("text")
        if not isinstance(text, str) or not text:
            raise TelegramAPIError(400, "Bad Request: message text is empty")
        rendered = _render(text, params.get("parse_mode"))
        return self._new_message(params, {"text": rendered}, (text, None))

    async def _send_photo(self, params: JSONDict) -> JSONDict:
        """sendPhoto: the upload's size is visible as ``params["photo"].size``."""
        content = {"photo": self._photo_sizes(params.get("photo")), **self._caption(params)}
        return self._new_message(params, content, (params.get("caption"), None))

    async def _send_document(self, params: JSONDict) -> JSONDict:
        """sendDocument: like sendPhoto, with a Document object."""
        content = {"document": self._document(params.get("document")), **self._caption(params)}
        return self._new_message(params, content, (params.get("caption"), None))

    async def _send_media_group(self, params: JSONDict) -> list[JSONDict]:
        """sendMediaGroup: one message per photo/document item, sharing a media_group_id."""
        group_id = str(next(self._file_ids) + 13_000_000_000_000_000)
        messages = []
        for item in params.get("media") or []:
            content: JSONDict = {"media_group_id": group_id, **self._caption(item)}
            if item.get("type") == "photo":
                content["photo"] = self._photo_sizes(item.get("media"))
            else:
                content["document"] = self._document(item.get("media"))
            messages.append(self._new_message(params, content, (item.get("caption"), None)))
        return messages

    def _edit(self, params: JSONDict, changes: JSONDict, source: tuple[Any, Any]) -> Any:
        """Shared edit logic: update the stored message, or complain it is unchanged."""
        if params.get("inline_message_id"):
            return True
        key = (self._chat_key(params.get("chat_id")), int(params.get("message_id") or 0))
        stored = self._messages.get(key)
        if stored is None:
            # Be lenient: a message sent before the fake started can still be edited.
            stored = _StoredMessage(
                {
                    "message_id": key[1],
                    "from": self.bot_user,
                    "chat": self._chat(params.get("chat_id")),
                    "date": int(time.time()),
                },
                (None, None),
            )
            self._messages[key] = stored
        elif self.report_not_modified and stored.source == source:
            raise TelegramAPIError(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message",
            )
        for name, value in changes.items():
            if value is None:
                stored.message.pop(name, None)
            else:
                stored.message[name] = value
        stored.message["edit_date"] = int(time.time())
        if source[1] is None:
            stored.message.pop("reply_markup", None)
        else:
            stored.message["reply_markup"] = source[1]
        stored.source = source
        return copy.deepcopy(stored.message)

    async def _edit_message_text(self, params: JSONDict) -> Any:
        """editMessageText: returns the edited Message (True for inline messages)."""
        text = params.get("text") or ""
        markup = _inline_markup(params.get("reply_markup"))
        return self._edit(params, {"text": _render(text, params.get("parse_mode"))}, (text, markup))

    async def _edit_message_caption(self, params: JSONDict) -> Any:
        """editMessageCaption: returns the edited Message (True for inline messages)."""
        markup = _inline_markup(params.get("reply_markup"))
        caption = params.get("caption")
        changes = self._caption(params) or {"caption": None}
        return self._edit(params, changes, (caption, markup))

    async def _edit_message_reply_markup(self, params: JSONDict) -> Any:
        """editMessageReplyMarkup: only the keyboard changes."""
        key = (self._chat_key(params.get("chat_id")), int(params.get("message_id") or 0))
        stored = self._messages.get(key)
        current_text = stored.source[0] if stored else None
        markup = _inline_markup(params.get("reply_markup"))
        return self._edit(params, {}, (current_text, markup))

    async def _delete_message(self, params: JSONDict) -> bool:
        """deleteMessage: forget the stored message."""
        key = (self._chat_key(params.get("chat_id")), int(params.get("message_id") or 0))
        self._messages.pop(key, None)
        return True

    @staticmethod
    def _commands_key(params: JSONDict) -> tuple[str, str]:
        """Commands are stored per (scope, language_code), as in the real API."""
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    async def _set_my_commands(self, params: JSONDict) -> bool:
        """setMyCommands: remembered so getMyCommands / tests can inspect them."""
        self.commands[self._commands_key(params)] = list(params.get("commands") or [])
        return True

    async def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        """getMyCommands: what setMyCommands stored for that scope/language."""
        return self.commands.get(self._commands_key(params), [])

    async def _delete_my_commands(self, params: JSONDict) -> bool:
        """deleteMyCommands: drop the commands for that scope/language."""
        self.commands.pop(self._commands_key(params), None)
        return True

    async def _set_webhook(self, params: JSONDict) -> bool:
        """setWebhook: remembered; getUpdates then answers 409 like the real API."""
        if params.get("drop_pending_updates"):
            self._pending.clear()
        self.webhook = {k: v for k, v in params.items() if k != "drop_pending_updates"}
        self.webhook.setdefault("url", "")
        return True

    async def _delete_webhook(self, params: JSONDict) -> bool:
        """deleteWebhook: back to getUpdates mode."""
        if params.get("drop_pending_updates"):
            self._pending.clear()
        self.webhook = {"url": ""}
        return True

    async def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        """getWebhookInfo: reflects the last setWebhook/deleteWebhook."""
        info: JSONDict = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if info["url"]:
            info["max_connections"] = self.webhook.get("max_connections", 40)
            if self.webhook.get("allowed_updates"):
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    async def _create_forum_topic(self, params: JSONDict) -> JSONDict:
        """createForumTopic: a ForumTopic with a fresh message_thread_id."""
        topic: JSONDict = {
            "message_thread_id": next(self._thread_ids),
            "name": params.get("name") or "Topic",
            "icon_color": params.get("icon_color") or 7322096,
        }
        if params.get("icon_custom_emoji_id"):
            topic["icon_custom_emoji_id"] = params["icon_custom_emoji_id"]
        return topic

    async def _set_chat_menu_button(self, params: JSONDict) -> bool:
        """setChatMenuButton: remembered per chat (None = default for all chats)."""
        self.menu_buttons[params.get("chat_id")] = params.get("menu_button") or {"type": "default"}
        return True

    async def _get_chat_menu_button(self, params: JSONDict) -> JSONDict:
        """getChatMenuButton: what was set for the chat, else the global/default one."""
        chat_id = params.get("chat_id")
        return self.menu_buttons.get(chat_id) or self.menu_buttons.get(None) or {"type": "default"}

    async def _get_file(self, params: JSONDict) -> JSONDict:
        """getFile: a File with a `file_path` for the download URL (files from `push_document`)."""
        file_id = str(params.get("file_id") or "")
        if file_id not in self.files:
            raise TelegramAPIError(400, "Bad Request: invalid file_id")
        path = f"documents/{file_id}"
        self._file_paths[path] = file_id
        return {
            "file_id": file_id,
            "file_unique_id": f"uniq-{file_id}",
            "file_size": len(self.files[file_id]),
            "file_path": path,
        }

    async def _download(self, request: web.Request) -> web.Response:
        """`GET /file/bot{token}/{file_path}`: the file's bytes, as Telegram serves them."""
        path = request.match_info["path"]
        self.calls.append(
            Call("downloadFile", {"file_path": path}, None, request.match_info["token"])
        )
        self._notify()
        await self._downloads_open.wait()
        file_id = self._file_paths.get(path)
        if file_id is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        return web.Response(body=self.files[file_id], content_type="application/octet-stream")

    async def _get_chat(self, params: JSONDict) -> JSONDict:
        """getChat: a ChatFullInfo with the fields aiogram requires."""
        return {
            **self._chat(params.get("chat_id")),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": True,
                "limited_gifts": True,
                "unique_gifts": True,
                "premium_subscription": True,
                "gifts_from_channels": True,
            },
        }
