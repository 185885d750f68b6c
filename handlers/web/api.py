"""Read API: `GET /bots`, `/positions`, `/trades`, `/stats`, `/risk` behind the bearer token (404
when no token).
It reads through the same services as the chat and the CLI (`ControlService`, `ReportService`,
`RiskService`).

Whatever a client puts in the `Authorization` header or the query string is a 4xx naming it,
never a 500 (handlers/web/inputs.py)."""

from __future__ import annotations

import hmac

from aiohttp import web

from handlers.web.inputs import (
    bad_request,
    error_body,
    header_bytes,
    query_bot_name,
    query_int,
    single_query,
)
from handlers.web.keys import CONTROL, REPORTS, RISK, WEB
from trading.errors import NotFound
from trading.figures import parse_period

routes = web.RouteTableDef()

MAX_TRADES = 1000


def _unauthorized(message: str) -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(
        text=error_body("Authorization", message),
        content_type="application/json",
        headers={"WWW-Authenticate": "Bearer"},
    )


def _authorize(request: web.Request) -> None:
    token = request.app[WEB].api_token
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
    views = await request.app[CONTROL].bot_views()
    return web.json_response([view.model_dump(mode="json") for view in views])


@routes.get("/positions")
async def list_positions(request: web.Request) -> web.Response:
    _authorize(request)
    bot = query_bot_name(request)
    positions = await request.app[CONTROL].positions(bot)
    return web.json_response([p.model_dump(mode="json") for p in positions])


@routes.get("/trades")
async def list_trades(request: web.Request) -> web.Response:
    _authorize(request)
    limit = query_int(request, "limit", 50, 1, MAX_TRADES)
    bot = query_bot_name(request)
    trades = await request.app[REPORTS].trades(limit, bot_name=bot)
    return web.json_response([t.model_dump(mode="json") for t in trades])


@routes.get("/stats")
async def stats(request: web.Request) -> web.Response:
    """Account figures (SPEC §6a; `trading.figures`): every period, or `?period=` one of them
    (performance then covers the trades closed in it)."""
    _authorize(request)
    raw = single_query(request, "period")
    reports = request.app[REPORTS]
    if raw is None:
        figures = await reports.stats()
    else:
        try:
            period = parse_period(raw)
        except ValueError as exc:
            raise bad_request("period", str(exc)) from None
        figures = await reports.pnl(period)
    return web.json_response(figures.to_json())


@routes.get("/risk")
async def risk(request: web.Request) -> web.Response:
    """Each risk rule with its limit, where it is set, current value and headroom, per quote
    currency, and the kill switch (SPEC §6a): the account's, or `?bot=NAME`'s (its own rules
    over the account's); an unknown bot is a 404 naming it."""
    _authorize(request)
    bot = query_bot_name(request)
    try:
        report = await request.app[RISK].show(bot)
    except NotFound as exc:
        raise web.HTTPNotFound(
            text=error_body("bot", exc.user_message), content_type="application/json"
        ) from None
    return web.json_response(report.to_json())
