"""Who is asking, for the dashboard's routes (SPEC §10).

A session travels as the `tradebot_session` cookie (HttpOnly, SameSite=Strict, Secure when the
page is served over HTTPS, Path=/app) or as the `X-Tradebot-Session` header (Telegram Web runs a
Mini App in a cross-site frame, where the cookie may not be sent). The role is looked up on every
request (`DashboardAuth.resolve`), so a role revoked in the chat ends access at once.

Cross-site requests: every state-changing request needs a header a cross-site page cannot send
without our consent (we answer no CORS): the session header itself, or, with the cookie, the
session's `X-Tradebot-CSRF` token (from `GET /app/api/me`). A present `Origin` must be this
server's own, and `Sec-Fetch-Site: cross-site` is refused outright.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import urlsplit

from aiohttp import web

from handlers.web.dashboard.keys import DASHBOARD, DASHBOARD_WEB
from handlers.web.inputs import error_body, header_bytes
from trading.access import Role
from trading.dashboard_auth import SESSION_TTL, SignedIn
from trading.errors import NotFound, TradingError

COOKIE = "tradebot_session"
SESSION_HEADER = "X-Tradebot-Session"
CSRF_HEADER = "X-Tradebot-CSRF"
MAX_TOKEN = 128  # our tokens are 43 characters
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)


def json_error(cls: type[web.HTTPException], field: str, message: str) -> web.HTTPException:
    return cls(text=error_body(field, message), content_type="application/json")


def _single_header(request: web.Request, name: str) -> str | None:
    values = request.headers.getall(name, [])
    if len(values) > 1:
        raise json_error(web.HTTPBadRequest, name, "header given more than once")
    return values[0].strip() if values else None


def _token(value: str | None) -> str | None:
    """A token as sent, or None when it cannot be one of ours (too long, not ASCII)."""
    if not value or len(value) > MAX_TOKEN or not value.isascii():
        return None
    return value


def session_token(request: web.Request) -> str | None:
    """The session token the request carries: the header's, else the cookie's."""
    header = _single_header(request, SESSION_HEADER)
    return _token(header if header is not None else request.cookies.get(COOKIE))


async def signed_in(request: web.Request, needed: Role = Role.VIEWER) -> SignedIn:
    """The signed-in user, or 401 (no session, expired, revoked) / 403 (role too low)."""
    token = session_token(request)
    via_header = SESSION_HEADER in request.headers
    found = await request.app[DASHBOARD].resolve(token) if token else None
    if found is None:
        raise web.HTTPUnauthorized(
            text=error_body("session", "sign in first: /app in the Telegram chat, or "
                            "`tradebot login-link`"),
            content_type="application/json",
        )  # fmt: skip
    if request.method not in ("GET", "HEAD"):
        _same_site(request)
        if not via_header:
            csrf = _single_header(request, CSRF_HEADER) or ""
            if not hmac.compare_digest(header_bytes(csrf), found.session.csrf.encode()):
                raise json_error(
                    web.HTTPForbidden, CSRF_HEADER, "missing or wrong: reload the page"
                )
    if not found.actor.can(needed):
        await request.app[DASHBOARD].access.refused(
            found.actor, f"dashboard {request.method} {request.path}"[:64], f"{needed.value} only"
        )
        raise json_error(
            web.HTTPForbidden,
            "role",
            f"{needed.value}s only; you are {found.actor.role.value if found.actor.role else '-'}",
        )
    return found


# ---------------------------------------------------------------- every /app/api/ route

SIGNED_IN = web.RequestKey("dashboard_signed_in", SignedIn)
_NEEDS = "_dashboard_needs"  # the role a route needs, set by `needs` (absent: any role)


def needs(role: Role | None) -> Callable[[H], H]:
    """Declare the role a `/app/api/` route needs (None: no session needed, e.g. signing in);
    `api_guard` checks it before the route runs, so no route can forget to."""

    def mark(handler: H) -> H:
        setattr(handler, _NEEDS, role)
        return handler

    return mark


def signed_in_user(request: web.Request) -> SignedIn:
    """Who `api_guard` let in (inside a `/app/api/` route)."""
    return request[SIGNED_IN]


@web.middleware
async def api_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """For every `/app/api/` route: the session and role it needs (401 / 403, and the same-site
    checks on changes), then the core's refusals as 404 / 409 naming what they are about."""
    if not request.path.startswith("/app/api/"):
        return await handler(request)
    needed = getattr(handler, _NEEDS, Role.VIEWER)
    if needed is not None:
        request[SIGNED_IN] = await signed_in(request, needed)
    try:
        return await handler(request)
    except NotFound as exc:
        raise json_error(web.HTTPNotFound, _subject(request), exc.user_message) from None
    except TradingError as exc:
        raise json_error(web.HTTPConflict, _subject(request), exc.user_message) from None


def _subject(request: web.Request) -> str:
    """What a refusal is about: the path's kind of thing (`/app/api/positions/3/close`)."""
    parts = request.path.split("/")
    return {"positions": "position", "bots": "bot"}.get(
        parts[3] if len(parts) > 3 else "", "request"
    )


def _same_site(request: web.Request) -> None:
    """Refuse a state-changing request another site's page made."""
    if (_single_header(request, "Sec-Fetch-Site") or "").lower() == "cross-site":
        raise json_error(web.HTTPForbidden, "Origin", "cross-site requests are refused")
    origin = _single_header(request, "Origin")
    if origin is not None and not own_origin(request, origin):
        raise json_error(web.HTTPForbidden, "Origin", "cross-site requests are refused")


def same_site_form(request: web.Request) -> None:
    """The sign-in form's POST: from our own page only (a login CSRF would sign the victim in
    as the attacker)."""
    _same_site(request)


def own_origin(request: web.Request, origin: str) -> bool:
    """True when `origin` names this server: the host it was reached at, or the public URL's."""
    try:
        netloc = urlsplit(origin).netloc.lower()
    except ValueError:
        return False
    if not netloc:
        return False  # "null" and other opaque origins
    ours = {(request.host or "").lower()}
    public = request.app[DASHBOARD_WEB].public_url
    if public:
        ours.add(urlsplit(public).netloc.lower())
    return netloc in ours


def secure(request: web.Request) -> bool:
    """Served over HTTPS: directly, or behind a proxy at an https public URL."""
    return request.secure or request.app[DASHBOARD_WEB].public_url.startswith("https://")


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(SESSION_TTL.total_seconds()),
        path="/app",
        httponly=True,
        samesite="Strict",
        secure=secure(request),
    )


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE, path="/app")
