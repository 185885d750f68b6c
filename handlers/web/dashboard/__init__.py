"""The dashboard (SPEC §10): a page served by the product's own aiohttp server that is also a
Telegram Mini App. `setup_dashboard` adds its routes, templates (aiohttp-jinja2), static files
(the page's script and style, and the vendored lightweight-charts and Telegram WebApp scripts)
and security headers; nothing on the page comes from another host."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from handlers.web.dashboard import api, pages, stream
from handlers.web.dashboard.auth import api_guard
from handlers.web.dashboard.keys import DASHBOARD, DASHBOARD_WEB, FEED, DashboardConfig
from handlers.web.inputs import add_routes, expect_handler
from trading.dashboard_auth import DashboardAuth
from trading.dashboard_feed import DashboardFeed

HERE = Path(__file__).parent
# The one inline style on the page: the <style> element lightweight-charts adds for its
# attribution logo (its hash, so no other inline style runs; app.css repeats its rules anyway).
CHART_LOGO_STYLE = "sha256-3pRED1tOXas1FXFoPb9TGCjmYe9XQsmO9OV23khV2nY="
# Telegram Web shows a Mini App in a frame of web.telegram.org; no other site may frame it.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self'; style-src 'self' "
        f"'{CHART_LOGO_STYLE}'; connect-src 'self'; base-uri 'none'; form-action 'self'; "
        "object-src 'none'; frame-ancestors 'self' https://web.telegram.org"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


def setup_dashboard(
    app: web.Application, auth: DashboardAuth, feed: DashboardFeed, config: DashboardConfig
) -> None:
    app[DASHBOARD] = auth
    app[FEED] = feed
    app[DASHBOARD_WEB] = config
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    add_routes(app, pages.routes)
    add_routes(app, api.routes)
    add_routes(app, stream.routes)
    app.router.add_static(
        pages.STATIC, HERE / "static", name="dashboard-static", expect_handler=expect_handler
    )
    app.middlewares.append(security_headers)
    app.middlewares.append(api_guard)  # innermost: it reads the route's declared role
    app.on_shutdown.append(_end_streams)


@web.middleware
async def security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """On every `/app` answer (errors too): the CSP, no referrer to other sites, no sniffing;
    the API's answers are never cached."""
    if not request.path.startswith("/app"):
        return await handler(request)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _secure(request, exc)
        raise
    _secure(request, response)
    return response


def _secure(request: web.Request, response: web.StreamResponse) -> None:
    if response.prepared:  # the event stream sets its own before it starts
        return
    response.headers.update(SECURITY_HEADERS)
    if request.path.startswith(("/app/api/", "/app/login/")):
        response.headers["Cache-Control"] = "no-store"


async def _end_streams(app: web.Application) -> None:
    await app[FEED].close()
