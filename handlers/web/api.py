"""Read API: `GET /bots`, `/positions`, `/trades` behind the bearer token (404 when no token)."""

from __future__ import annotations

import hmac

from aiohttp import web

from bot.keys import SETTINGS
from db import repo

routes = web.RouteTableDef()


def _authorize(request: web.Request) -> None:
    token = request.app[SETTINGS].api_token.get_secret_value()
    if not token:
        raise web.HTTPNotFound(
            text='{"error": "read API is off: set TRADEBOT_API_TOKEN"}',
            content_type="application/json",
        )
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        value.strip().encode(), token.encode()
    ):
        raise web.HTTPUnauthorized(
            text='{"error": "Authorization: Bearer token missing or wrong"}',
            content_type="application/json",
            headers={"WWW-Authenticate": "Bearer"},
        )


def _bad(field: str, message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(
        text=f'{{"error": "{field}: {message}", "field": "{field}"}}',
        content_type="application/json",
    )


@routes.get("/bots")
async def list_bots(request: web.Request) -> web.Response:
    _authorize(request)
    base = request.app[SETTINGS].base_url()
    bots = [repo.bot_view(bot, base).model_dump(mode="json") for bot in await repo.list_bots()]
    return web.json_response(bots)


@routes.get("/positions")
async def list_positions(request: web.Request) -> web.Response:
    _authorize(request)
    bot = request.query.get("bot") or None
    return web.json_response([p.model_dump(mode="json") for p in await repo.list_positions(bot)])


@routes.get("/trades")
async def list_trades(request: web.Request) -> web.Response:
    _authorize(request)
    raw = request.query.get("limit", "50")
    # ASCII digits only: '①'.isdigit() is true and int('①') raises
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 1000:
        raise _bad("limit", "must be a whole number from 1 to 1000")
    bot = request.query.get("bot") or None
    if bot is not None and len(bot) > 64:
        raise _bad("bot", "is too long")
    trades = await repo.list_trades(bot, int(raw))
    return web.json_response([t.model_dump(mode="json") for t in trades])
