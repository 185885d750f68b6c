"""The dashboard's pages (SPEC §10): `GET /app` and the one-time sign-in link `/app/login/TOKEN`.

`GET /app` is the same page for everyone; it asks `/app/api/me` who is signed in and shows how to
sign in when nobody is. Opening a sign-in link does not use it (chat clients and messengers fetch
links for previews): the page shows a button whose POST redeems it, sets the session cookie and
goes on to `/app`.
"""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from handlers.web.dashboard.auth import same_site_form, set_session_cookie
from handlers.web.dashboard.keys import DASHBOARD, DASHBOARD_WEB
from trading.errors import TradingError

routes = web.RouteTableDef()

STATIC = "/app/static"
TOKEN = r"{token:[A-Za-z0-9_-]{1,128}}"


def _context(request: web.Request, **more: object) -> dict[str, object]:
    return {"static": STATIC, "version": request.app[DASHBOARD_WEB].version, **more}


@routes.get("/app")
async def page(request: web.Request) -> web.Response:
    return aiohttp_jinja2.render_template("app.html", request, _context(request))


@routes.get("/app/")
async def page_slash(request: web.Request) -> web.Response:
    raise web.HTTPFound("/app")


@routes.get(f"/app/login/{TOKEN}")
async def login_page(request: web.Request) -> web.Response:
    """The sign-in button; the token is not looked at here."""
    return aiohttp_jinja2.render_template(
        "login.html", request, _context(request, token=request.match_info["token"])
    )


@routes.post(f"/app/login/{TOKEN}")
async def redeem(request: web.Request) -> web.Response:
    same_site_form(request)
    try:
        found = await request.app[DASHBOARD].redeem(request.match_info["token"])
    except TradingError as exc:
        return aiohttp_jinja2.render_template(
            "login.html",
            request,
            _context(request, token=request.match_info["token"], error=exc.user_message),
            status=400,
        )
    response = web.HTTPSeeOther("/app")
    set_session_cookie(request, response, found.session.token)
    raise response
