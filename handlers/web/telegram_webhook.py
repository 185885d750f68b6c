"""`POST /telegram/webhook` (webhook mode): check the secret header, hand the update over, answer
at once (Telegram waits for the answer before sending the next update)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from handlers.web.inputs import error_body, load_json
from handlers.web.keys import WEB

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class UpdateSink(Protocol):
    @property
    def accepting(self) -> bool: ...

    def secret_matches(self, given: str) -> bool: ...

    def accept(self, update: Any) -> bool: ...


def _refused(status: int, field: str, message: str) -> web.Response:
    return web.Response(
        text=error_body(field, message), status=status, content_type="application/json"
    )


def webhook_handler(sink: UpdateSink) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def telegram_webhook(request: web.Request) -> web.Response:
        lines = request.headers.getall(SECRET_HEADER, [])
        # Two copies of the header are refused, whichever of them is right.
        if len(lines) != 1 or not sink.secret_matches(lines[0]):
            log.warning("telegram webhook refused: secret token missing or wrong")
            return _refused(401, SECRET_HEADER, "missing or wrong")
        if not sink.accepting:
            return web.json_response({"error": "shutting down"}, status=503)
        try:
            # Bytes, decoded here: a bogus `charset` in the Content-Type cannot raise, and
            # nesting too deep for the parser is a 400 like any other malformed body.
            async with asyncio.timeout(request.app[WEB].webhook_body_timeout):
                body = await request.read()
            data = load_json(body)
        except TimeoutError:
            return _refused(408, "body", "not received in time")
        except ConnectionResetError:  # the sender hung up mid-body: nobody reads an answer
            log.info("telegram webhook: sender disconnected before the body was complete")
            return _refused(400, "body", "incomplete: the connection closed")
        except ValueError as exc:
            return _refused(400, "body", f"must be a JSON Update: {exc}")
        if not isinstance(data, dict) or not sink.accept(data):
            return _refused(400, "body", "not a Telegram Update")
        return web.json_response({})

    return telegram_webhook
