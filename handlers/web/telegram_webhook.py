"""`POST /telegram/webhook` (webhook mode): check the secret header, hand the update over, answer
at once (Telegram waits for the answer before sending the next update)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class UpdateSink(Protocol):
    @property
    def accepting(self) -> bool: ...

    def secret_matches(self, given: str) -> bool: ...

    def accept(self, update: Any) -> bool: ...


def webhook_handler(sink: UpdateSink) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def telegram_webhook(request: web.Request) -> web.Response:
        if not sink.secret_matches(request.headers.get(SECRET_HEADER, "")):
            log.warning("telegram webhook refused: secret token missing or wrong")
            return web.json_response({"error": "secret token missing or wrong"}, status=401)
        if not sink.accepting:
            return web.json_response({"error": "shutting down"}, status=503)
        try:
            data = await request.json()
        except ValueError:
            return web.json_response({"error": "body must be a JSON Update"}, status=400)
        if not sink.accept(data):
            return web.json_response({"error": "not a Telegram Update"}, status=400)
        return web.json_response({})

    return telegram_webhook
