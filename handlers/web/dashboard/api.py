"""The dashboard's JSON (SPEC §10): `/app/api/…`, read through the same services as the chat and
the read API (`ControlService`, `ReportService`), with the chat's role rules: everyone with a role
looks, traders and owners close positions, owners pause and resume bots.

Money is a decimal string, times ISO-8601 UTC (the equity points also carry unix seconds for the
chart). Bots are shown without their webhook URL: it holds the key that trades.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web

from handlers.web.dashboard.auth import (
    clear_session_cookie,
    json_error,
    needs,
    same_site_form,
    set_session_cookie,
    signed_in_user,
)
from handlers.web.dashboard.init_data import InitDataRefused, check_init_data
from handlers.web.dashboard.keys import DASHBOARD, DASHBOARD_WEB
from handlers.web.inputs import load_json, query_int
from handlers.web.keys import CONTROL, REPORTS
from trading import money
from trading.access import Actor, Role
from trading.dashboard_auth import SignedIn

routes = web.RouteTableDef()

MAX_LIMIT = 200
EQUITY_DAYS = 90  # the curve shows this much history
BOT_FIELDS = (
    "id", "name", "symbols", "strategy", "direction", "paused", "approval", "interval",
    "size", "max_entries", "sl", "tp", "trail",
)  # fmt: skip
ID = r"{id:[0-9]{1,10}}"  # ASCII digits; ids past the INTEGER range are a 404 (ControlService)


def _user(found: SignedIn) -> dict[str, Any]:
    actor = found.actor
    return {
        "id": actor.user_id,
        "name": actor.shown,
        "role": actor.role.value if actor.role else None,
    }


def _can(actor: Actor) -> dict[str, bool]:
    return {"close": actor.can(Role.TRADER), "pause": actor.can(Role.OWNER)}


@routes.post("/app/api/session")
@needs(None)
async def session(request: web.Request) -> web.Response:
    """Sign in with a Mini App's `Telegram.WebApp.initData`: `{"init_data": "…"}`."""
    same_site_form(request)
    config = request.app[DASHBOARD_WEB]
    if not config.telegram_token:
        raise json_error(web.HTTPNotFound, "init_data", "Telegram sign-in is off here")
    if request.content_type != "application/json":  # what the page sends; a form cannot
        raise json_error(web.HTTPUnsupportedMediaType, "Content-Type", "application/json only")
    try:
        body = load_json(await request.read())
    except ValueError as exc:
        raise json_error(web.HTTPBadRequest, "body", f"not JSON: {exc}") from None
    raw = body.get("init_data") if isinstance(body, dict) else None
    if not isinstance(raw, str):
        raise json_error(web.HTTPBadRequest, "init_data", "a string is required")
    try:
        user = check_init_data(config.telegram_token, raw)
    except InitDataRefused as exc:
        raise json_error(web.HTTPUnauthorized, "init_data", str(exc)) from None
    auth = request.app[DASHBOARD]
    actor = await auth.access.actor(user.id, user.name)
    if actor.role is None:
        await auth.access.refused(actor, "dashboard.sign_in", "no role")
        raise json_error(
            web.HTTPUnauthorized,
            "init_data",
            "you have no role here: ask an owner to grant you one (/users)",
        )
    found = await auth.sign_in(actor, via="telegram")
    answer = web.json_response(
        {"session": found.session.token, "csrf": found.session.csrf, "user": _user(found),
         "can": _can(found.actor)}
    )  # fmt: skip
    set_session_cookie(request, answer, found.session.token)
    return answer


@routes.get("/app/api/me")
async def me(request: web.Request) -> web.Response:
    found = signed_in_user(request)
    return web.json_response(
        {"user": _user(found), "csrf": found.session.csrf, "can": _can(found.actor)}
    )


@routes.post("/app/api/logout")
async def logout(request: web.Request) -> web.Response:
    found = signed_in_user(request)
    ended = await request.app[DASHBOARD].logout(found.actor)
    answer = web.json_response({"ended": ended})
    clear_session_cookie(answer)
    return answer


@routes.get("/app/api/overview")
async def overview(request: web.Request) -> web.Response:
    control, reports = request.app[CONTROL], request.app[REPORTS]
    bots = await control.bots()
    positions = await control.positions()
    kill = await control.kill_switch()
    stats = await reports.stats()
    return web.json_response(
        {
            "bots": len(bots),
            "paused": sum(b.paused for b in bots),
            "positions": len(positions),
            "kill_switch": {"on": kill.on, "by": kill.by, "reason": kill.reason},
            "stats": stats.to_json(),
        }
    )


@routes.get("/app/api/positions")
async def positions(request: web.Request) -> web.Response:
    items = await request.app[CONTROL].positions()
    return web.json_response([p.model_dump(mode="json") for p in items])


@routes.get("/app/api/trades")
async def trades(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", 50, 1, MAX_LIMIT)
    items = await request.app[REPORTS].trades(limit)
    return web.json_response([t.model_dump(mode="json") for t in items])


@routes.get("/app/api/bots")
async def bots(request: web.Request) -> web.Response:
    views = await request.app[CONTROL].bot_views()
    return web.json_response([_bot_json(v.model_dump(mode="json")) for v in views])


def _bot_json(view: dict[str, Any]) -> dict[str, Any]:
    return {name: view[name] for name in BOT_FIELDS}


@routes.get("/app/api/alerts")
async def alerts(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", 30, 1, MAX_LIMIT)
    items = await request.app[CONTROL].recent_alerts(limit)
    return web.json_response(
        [
            {
                "id": a.id,
                "bot": a.bot,
                "status": a.status,
                "action": a.action,
                "symbol": a.symbol,
                "reason": a.reason,
                "received_at": a.received_at.isoformat(),
                "repeats": a.repeats,
            }
            for a in items
        ]
    )


@routes.get("/app/api/equity")
async def equity(request: web.Request) -> web.Response:
    """Each quote currency's equity with its drawdown from the running peak, in percent."""
    since = datetime.now(UTC) - timedelta(days=EQUITY_DAYS)
    curves = await request.app[REPORTS].equity_curve(since=since)
    return web.json_response(
        [
            {
                "quote": curve.quote,
                "points": [
                    {
                        "time": int(point.at.timestamp()),
                        "at": point.at.isoformat(),
                        "equity": _dec(point.equity),
                        "peak": _dec(point.peak),
                        "drawdown": _dec(point.drawdown_pct),
                    }
                    for point in curve.points
                ],
            }
            for curve in curves
        ]
    )


def _dec(value: Decimal) -> str:
    return money.plain(money.q12(value))


@routes.post(f"/app/api/positions/{ID}/close")
@needs(Role.TRADER)
async def close_position(request: web.Request) -> web.Response:
    """The chat's Close (the same service call and role rule; the page asked to confirm). A
    close that did not happen (another closer holds the position) is a 409 with its reason."""
    actor = signed_in_user(request).actor
    closed = await request.app[CONTROL].close_position(actor, int(request.match_info["id"]))
    position, result = closed.position, closed.result
    if result.status != "executed":
        raise json_error(
            web.HTTPConflict, "position", f"{position.symbol} not closed: {result.reason}"
        )
    order = result.order or {}
    return web.json_response(
        {
            "closed": {
                "position": position.model_dump(mode="json"),
                "status": result.status,
                "price": order.get("price"),
                "pnl": order.get("trade_pnl"),
            },
            "message": _closed_message(position.bot, position.symbol, position.side, order,
                                       position.quote),
        }
    )  # fmt: skip


def _closed_message(bot: str, symbol: str, side: str, order: dict[str, Any], quote: str) -> str:
    text = f"Closed {symbol} {side} · {bot}"
    if order.get("qty") and order.get("price"):
        text += f": {order['qty']} at {order['price']} {quote}"
    if order.get("trade_pnl") is not None:
        pnl = Decimal(str(order["trade_pnl"]))
        text += f", PnL {'+' if pnl > 0 else ''}{money.plain(pnl)} {quote} after fees"
    return text


@routes.post(f"/app/api/bots/{ID}/pause")
@needs(Role.OWNER)
async def pause(request: web.Request) -> web.Response:
    return await _set_paused(request, True)


@routes.post(f"/app/api/bots/{ID}/resume")
@needs(Role.OWNER)
async def resume(request: web.Request) -> web.Response:
    return await _set_paused(request, False)


async def _set_paused(request: web.Request, paused: bool) -> web.Response:
    actor = signed_in_user(request).actor
    bot = await request.app[CONTROL].set_paused(actor, int(request.match_info["id"]), paused)
    view = request.app[CONTROL].view(bot).model_dump(mode="json")
    return web.json_response({"bot": _bot_json(view)})
