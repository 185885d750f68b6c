"""Read API: `GET /bots`, `/positions`, `/trades` behind the bearer token (404 when no token).

Whatever a client puts in the `Authorization` header or the query string is a 4xx naming it,
never a 500 (handlers/web/inputs.py)."""

from __future__ import annotations

import hmac

from aiohttp import web

from db import repo
from handlers.web.inputs import error_body, header_bytes, query_bot_name, query_int
from handlers.web.keys import SETTINGS

routes = web.RouteTableDef()

MAX_TRADES = 1000


def _unauthorized(message: str) -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(
        text=error_body("Authorization", message),
        content_type="application/json",
        headers={"WWW-Authenticate": "Bearer"},
    )


def _authorize(request: web.Request) -> None:
    token = request.app[SETTINGS].api_token.get_secret_value()
    if not token:
        raise web.HTTPNotFound(
            text='{"error": "read API is off: set TRADEBOT_API_TOKEN"}',
            content_type="application/json",
        )
    lines = request.headers.getall("Authorization", [])
    if len(lines) > 1:
        raise _unauthorized("header given more than once")
    scheme, _, value = (lines[0] if lines else "").strip().partition(" ")
    # Compared as the bytes sent: a header that is not ASCII (or not UTF-8) is simply wrong.
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        header_bytes(value.strip()), token.encode()
    ):
        raise _unauthorized("Bearer token missing or wrong")


@routes.get("/bots")
async def list_bots(request: web.Request) -> web.Response:
    _authorize(request)
    base = request.app[SETTINGS].base_url()
    bots = [repo.bot_view(bot, base).model_dump(mode="json") for bot in await repo.list_bots()]
    return web.json_response(bots)


@routes.get("/positions")
async def list_positions(request: web.Request) -> web.Response:
    _authorize(request)
    bot = query_bot_name(request)
    return web.json_response([p.model_dump(mode="json") for p in await repo.list_positions(bot)])


@routes.get("/trades")
async def list_trades(request: web.Request) -> web.Response:
    _authorize(request)
    limit = query_int(request, "limit", 50, 1, MAX_TRADES)
    bot = query_bot_name(request)
    trades = await repo.list_trades(bot, limit)
    return web.json_response([t.model_dump(mode="json") for t in trades])
