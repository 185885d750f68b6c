"""The dashboard's HTTP side (SPEC §10) through the running product: the page, sign-in by a
one-time link and by Telegram's initData, the JSON under /app/api/, the live stream, the Close
and Pause buttons with the chat's role rules, and the cross-site protection of every change."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import ClientResponse, ClientSession

from bot.resources import ASSEMBLY
from handlers.web.dashboard.keys import FEED
from tests.conftest import OWNER_ID, World, _json
from tests.waiting import until
from trading.access import CLI, Actor
from trading.dashboard_auth import DashboardAuth

TOKEN = "42:TEST-TOKEN-abcdef"
TRADER_ID, VIEWER_ID, STRANGER_ID = 222, 333, 999
API_GETS = ("me", "overview", "positions", "trades", "bots", "alerts", "equity")


class Page:
    """One browser's view of the dashboard: its session cookie (or header) and CSRF token."""

    def __init__(self, world: World, session: str, csrf: str, header: bool = False) -> None:
        self.world, self.session, self.csrf, self.header = world, session, csrf, header

    def headers(self, csrf: bool = True, **more: str) -> dict[str, str]:
        if self.header:
            found = {"X-Tradebot-Session": self.session}
        else:
            found = {"Cookie": f"tradebot_session={self.session}"}
            if csrf:
                found["X-Tradebot-CSRF"] = self.csrf
        return found | more

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.world.http.get(self.world.url(path), headers=self.headers()) as r:
            return r.status, await _json(r)

    async def post(self, path: str, csrf: bool = True, **headers: str) -> tuple[int, Any]:
        async with self.world.http.post(
            self.world.url(path), headers=self.headers(csrf, **headers)
        ) as r:
            return r.status, await _json(r)


def auth_of(world: World) -> DashboardAuth:
    return world.server.app[ASSEMBLY].dashboard_auth


async def grant(world: World, user_id: int, role: str) -> Actor:
    access = world.server.app[ASSEMBLY].access
    await access.grant(CLI, user_id, role)
    return await access.actor(user_id)


async def redeem(world: World, token: str, **headers: str) -> ClientResponse:
    return await world.http.post(
        world.url(f"/app/login/{token}"), allow_redirects=False, headers=headers
    )


async def sign_in(world: World, user_id: int | None = OWNER_ID, header: bool = False) -> Page:
    """Through a login link, as a browser would (the cookie), or keeping the token for the
    header (as the Mini App does). `user_id` None: the owner `tradebot login-link` picks."""
    auth = auth_of(world)
    link = await auth.login_link(await auth.link_owner(user_id))
    async with await redeem(world, link.token) as response:
        assert response.status == 303, await response.text()
        session = response.cookies["tradebot_session"].value
    page = Page(world, session, "", header=header)
    status, me = await page.get("/app/api/me")
    assert status == 200, me
    page.csrf = me["csrf"]
    return page


def init_data(user_id: int, *, token: str = TOKEN, age: float = 60, **extra: str) -> str:
    """What Telegram hands a Mini App, signed as Telegram signs it."""
    fields = {
        "auth_date": str(int(time.time() - age)),
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "user": json.dumps({"id": user_id, "first_name": "Alice", "username": "alice"}),
        **extra,
    }
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)


@pytest.fixture
async def dash(start_world: Callable[..., Any]) -> World:
    """The product with Telegram on (for initData), a demo bot, a trader and a viewer."""
    world: World = await start_world(telegram=True)
    await world.add_bot("demo")
    await grant(world, TRADER_ID, "trader")
    await grant(world, VIEWER_ID, "viewer")
    return world


# ---------------------------------------------------------------- the page and signing in


async def test_the_page_is_served_with_a_strict_policy_and_only_local_assets(dash: World) -> None:
    async with dash.http.get(dash.url("/app")) as response:
        assert response.status == 200
        html = await response.text()
        csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'self' https://web.telegram.org" in csp
    assert response.headers["Referrer-Policy"] == "same-origin"
    sources = [part.split('"')[1] for part in html.split(" src=")[1:]]
    sources += [part.split('"')[1] for part in html.split(" href=")[1:]]
    assert sources and all(s.startswith("/app/static/") for s in sources), sources
    for source in sources:
        async with dash.http.get(dash.url(source)) as asset:
            assert asset.status == 200, source


async def test_without_a_session_every_api_route_is_401_naming_it(dash: World) -> None:
    from tests.test_properties_http import registered_routes

    routes = [
        (method, re.sub(r"\{id:[^}]*\}", "1", template))
        for method, template in registered_routes(dash)
        if template.startswith("/app/api/") and template != "/app/api/session"
    ]
    assert len(routes) >= 12, routes  # the JSON, the stream and the changes
    for method, path in routes:
        async with dash.http.request(method, dash.url(path)) as response:
            assert response.status == 401, (method, path)
            assert (await response.json())["field"] == "session"
    stale = Page(dash, "x" * 43, "")
    assert (await stale.get("/app/api/me"))[0] == 401


async def test_a_login_link_works_once_and_opening_it_does_not_use_it(dash: World) -> None:
    link = await auth_of(dash).login_link(await dash.server.app[ASSEMBLY].access.actor(OWNER_ID))
    for _ in range(3):  # a link preview, a second look
        async with dash.http.get(dash.url(f"/app/login/{link.token}")) as page:
            assert page.status == 200
            assert f'action="/app/login/{link.token}"' in await page.text()
    async with await redeem(dash, link.token) as response:
        assert response.status == 303 and response.headers["Location"] == "/app"
        cookie = response.headers["Set-Cookie"]
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/app", "Secure", "Max-Age=604800"):
        assert flag in cookie, cookie
    async with await redeem(dash, link.token) as again:
        assert again.status == 400
        assert "already used or has expired" in await again.text()


async def test_the_cookie_is_not_secure_on_plain_http(start_world: Callable[..., Any]) -> None:
    world: World = await start_world(public_url="")
    link = await auth_of(world).login_link(await auth_of(world).link_owner())
    async with await redeem(world, link.token) as response:
        assert response.status == 303
        cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" not in cookie


async def test_a_login_form_posted_from_another_site_is_refused(dash: World) -> None:
    link = await auth_of(dash).login_link(await dash.server.app[ASSEMBLY].access.actor(OWNER_ID))
    async with await redeem(dash, link.token, Origin="https://evil.example") as response:
        assert response.status == 403
    async with await redeem(dash, link.token, Origin=dash.url("/").rstrip("/")) as response:
        assert response.status == 303  # not used up by the refused attempt


async def test_mini_app_init_data_signs_in_and_forged_or_stale_data_is_refused(
    dash: World,
) -> None:
    async def session(data: str) -> tuple[int, Any]:
        async with dash.http.post(
            dash.url("/app/api/session"), json={"init_data": data}
        ) as response:
            return response.status, await _json(response)

    status, body = await session(init_data(TRADER_ID))
    assert status == 200, body
    assert body["user"] == {"id": TRADER_ID, "name": "alice", "role": "trader"}
    assert body["can"] == {"close": True, "pause": False}
    page = Page(dash, body["session"], body["csrf"], header=True)
    assert (await page.get("/app/api/me"))[1]["user"]["id"] == TRADER_ID

    good = init_data(TRADER_ID)
    tampered = good.replace("alice", "mallory")
    refused = {
        "tampered": tampered,
        "other bot's token": init_data(TRADER_ID, token="43:OTHER"),
        "older than 24 h": init_data(TRADER_ID, age=24 * 3600 + 60),
        "from the future": init_data(TRADER_ID, age=-3600),
        "no hash": good.split("&hash=")[0],
        "empty": "",
        "not a query string": "%%%",
        "non-ASCII hash": good.rsplit("=", 1)[0] + "=é" * 64,
    }
    for label, data in refused.items():
        status, body = await session(data)
        assert status == 401, (label, body)
        assert body["field"] == "init_data", (label, body)
    status, body = await session(init_data(STRANGER_ID))
    assert status == 401 and "no role" in body["error"]
    json_type = {"Content-Type": "application/json"}
    for junk in ("[]", '{"init_data": 5}', "not json", '{"other": "x"}'):
        async with dash.http.post(
            dash.url("/app/api/session"), data=junk, headers=json_type
        ) as response:
            assert response.status == 400, junk
    # a form of another site cannot send JSON: only a JSON body is read
    form = f'{{"init_data": "{init_data(TRADER_ID)}", "x": "'
    async with dash.http.post(
        dash.url("/app/api/session"), data=form, headers={"Content-Type": "text/plain"}
    ) as response:
        assert response.status == 415 and (await response.json())["field"] == "Content-Type"


async def test_telegram_sign_in_is_off_without_a_bot_token(world: World) -> None:
    async with world.http.post(
        world.url("/app/api/session"), json={"init_data": init_data(OWNER_ID)}
    ) as response:
        assert response.status == 404
        assert (await response.json())["field"] == "init_data"


# ---------------------------------------------------------------- what the page shows


async def test_the_api_shows_what_the_chat_shows(dash: World) -> None:
    await dash.send_alert(action="buy", price="100", sl="90")
    await dash.send_alert(action="close", price="110")
    await dash.send_alert(action="buy", price="105")
    page = await sign_in(dash, VIEWER_ID)

    _, me = await page.get("/app/api/me")
    assert me["user"]["role"] == "viewer" and me["can"] == {"close": False, "pause": False}
    _, [position] = await page.get("/app/api/positions")
    assert (position["bot"], position["symbol"], position["side"]) == ("demo", "BTCUSDT", "long")
    assert position["avg_price"] == "105" and position["unrealized_pnl"] == "0"
    _, [trade] = await page.get("/app/api/trades")
    assert (trade["entry_price"], trade["exit_price"], trade["reason"]) == ("100", "110", "signal")
    _, [bot] = await page.get("/app/api/bots")
    assert bot["name"] == "demo" and bot["paused"] is False
    assert "webhook_url" not in bot and dash.bots["demo"].webhook_key not in json.dumps(bot)
    _, alerts = await page.get("/app/api/alerts")
    assert [a["action"] for a in alerts][:3] == ["buy", "close", "buy"][::-1]
    assert {a["status"] for a in alerts} == {"executed"}
    _, overview = await page.get("/app/api/overview")
    assert overview["bots"] == 1 and overview["positions"] == 1
    assert overview["stats"]["currencies"]["USDT"]["open_positions"] == 1
    _, [curve] = await page.get("/app/api/equity")
    assert curve["quote"] == "USDT" and curve["points"]
    last = curve["points"][-1]
    assert {"time", "at", "equity", "peak", "drawdown"} <= set(last)
    assert isinstance(last["time"], int) and float(last["drawdown"]) >= 0
    status, body = await page.get("/app/api/trades?limit=0")
    assert status == 400 and body["field"] == "limit"


# ---------------------------------------------------------------- changes and their rules


async def test_close_from_the_page_follows_the_chats_rules(dash: World) -> None:
    await dash.send_alert(action="buy", price="100")
    viewer, trader = await sign_in(dash, VIEWER_ID), await sign_in(dash, TRADER_ID)
    _, [position] = await trader.get("/app/api/positions")
    close = f"/app/api/positions/{position['id']}/close"

    status, body = await viewer.post(close)
    assert status == 403 and body["field"] == "role"
    status, body = await trader.post(close, csrf=False)
    assert status == 403 and body["field"] == "X-Tradebot-CSRF"
    status, body = await trader.post(close, Origin="https://evil.example")
    assert status == 403 and body["field"] == "Origin"
    status, body = await trader.post(close, **{"Sec-Fetch-Site": "cross-site"})
    assert status == 403 and body["field"] == "Origin"
    assert len((await trader.get("/app/api/positions"))[1]) == 1  # nothing was closed

    status, body = await trader.post(close, Origin=dash.url("/").rstrip("/"))
    assert status == 200, body
    assert body["closed"]["status"] == "executed" and "Closed BTCUSDT long" in body["message"]
    assert (await trader.get("/app/api/positions"))[1] == []
    _, [trade] = await trader.get("/app/api/trades")
    assert trade["reason"] == "manual"
    status, body = await trader.post(close)
    assert status == 404 and body["field"] == "position"
    assert (await trader.post("/app/api/positions/999999/close"))[0] == 404


async def test_the_session_header_needs_no_csrf_token(dash: World) -> None:
    await dash.send_alert(action="buy", price="100")
    page = await sign_in(dash, TRADER_ID, header=True)
    _, [position] = await page.get("/app/api/positions")
    status, _ = await page.post(f"/app/api/positions/{position['id']}/close")
    assert status == 200


async def test_owners_pause_and_resume_bots_and_others_may_not(dash: World) -> None:
    bot_id = dash.bots["demo"].id
    trader, owner = await sign_in(dash, TRADER_ID), await sign_in(dash, OWNER_ID)
    assert (await trader.post(f"/app/api/bots/{bot_id}/pause"))[0] == 403
    status, body = await owner.post(f"/app/api/bots/{bot_id}/pause")
    assert status == 200 and body["bot"]["paused"] is True
    status, answer = await dash.send_alert(action="buy", price="100")
    assert answer["status"] != "executed"  # a paused bot does not trade
    status, body = await owner.post(f"/app/api/bots/{bot_id}/resume")
    assert status == 200 and body["bot"]["paused"] is False
    assert (await owner.post("/app/api/bots/999999/pause"))[0] == 404


async def test_logout_ends_every_session_of_that_user_only(dash: World) -> None:
    first, second = await sign_in(dash, TRADER_ID), await sign_in(dash, TRADER_ID, header=True)
    other = await sign_in(dash, VIEWER_ID)
    async with dash.http.post(dash.url("/app/api/logout"), headers=first.headers()) as response:
        assert response.status == 200 and (await response.json())["ended"] == 2
        assert 'tradebot_session=""' in response.headers["Set-Cookie"]
    assert (await first.get("/app/api/me"))[0] == 401
    assert (await second.get("/app/api/me"))[0] == 401
    assert (await other.get("/app/api/me"))[0] == 200


async def test_a_revoked_role_ends_access_at_once(dash: World) -> None:
    page = await sign_in(dash, TRADER_ID)
    await dash.server.app[ASSEMBLY].access.revoke(CLI, TRADER_ID)
    assert (await page.get("/app/api/positions"))[0] == 401


# ---------------------------------------------------------------- live


async def read_events(
    http: ClientSession, url: str, headers: dict[str, str]
) -> AsyncIterator[tuple[str, Any]]:
    async with http.get(url, headers=headers) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        event, data = "message", ""
        async for raw in response.content:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
            elif not line and data:
                yield event, json.loads(data)
                event, data = "message", ""


async def test_the_stream_pushes_a_new_position_and_its_close(dash: World) -> None:
    page = await sign_in(dash, TRADER_ID)
    events = read_events(dash.http, dash.url("/app/api/stream"), page.headers())
    async with asyncio.timeout(20):
        assert await anext(events) == ("positions", [])
        await dash.send_alert(action="buy", price="100")
        name, positions = await anext(events)
        while name != "positions":
            name, positions = await anext(events)
        assert [(p["symbol"], p["side"], p["qty"]) for p in positions] == [("BTCUSDT", "long", "1")]
        await page.post(f"/app/api/positions/{positions[0]['id']}/close")
        seen: set[str] = set()
        while "trades" not in seen or positions:
            name, data = await anext(events)
            if name == "changed":
                seen |= set(data["topics"])
            else:
                positions = data
    await events.aclose()


def test_the_shipped_vendor_files_are_the_registrys_releases() -> None:
    """The chart library and Telegram's script in the package are byte for byte the npm
    releases `scripts/fetch_vendor.py` names (their hashes recorded there), with their licences."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "scripts/fetch_vendor.py", "--offline"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.services
async def test_on_postgres_ids_past_the_integer_range_are_404_not_500(
    start_world: Callable[..., Any], tmp_path: Any
) -> None:
    from tests.processes import migrated_postgres

    async with migrated_postgres("tradebot_dash_ids", tmp_path) as url:
        world: World = await start_world(database_url=url)
        await world.add_bot("demo")
        page = await sign_in(world, None)  # no admins: the local owner
        for path in (
            "/app/api/positions/2147483648/close",
            "/app/api/positions/9999999999/close",
            "/app/api/bots/2147483648/pause",
            "/app/api/bots/9999999999/resume",
        ):
            status, body = await page.post(path)
            assert status == 404, (path, body)
        assert (await page.post("/app/api/positions/99999999999/close"))[0] == 404  # no route
        await world.server.close()


async def test_a_stream_ends_after_logout_and_at_shutdown(
    dash: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from handlers.web.dashboard import stream

    monkeypatch.setattr(stream, "RECHECK", 0.3)
    page = await sign_in(dash, TRADER_ID)
    events = read_events(dash.http, dash.url("/app/api/stream"), page.headers())
    async with asyncio.timeout(10):
        assert (await anext(events))[0] == "positions"
        await page.post("/app/api/logout")
        async for _ in events:  # ends: the session is gone
            pass
    other = await sign_in(dash, VIEWER_ID)
    events = read_events(dash.http, dash.url("/app/api/stream"), other.headers())
    async with asyncio.timeout(10):
        assert (await anext(events))[0] == "positions"
        await dash.server.close()  # does not wait for the page to go away
    await events.aclose()


async def test_a_page_that_goes_away_ends_its_stream_quietly(
    dash: World, caplog: pytest.LogCaptureFixture
) -> None:
    page = await sign_in(dash, TRADER_ID)
    feed = dash.server.app[FEED]
    async with dash.http.get(dash.url("/app/api/stream"), headers=page.headers()) as response:
        await response.content.readline()
        assert feed.watching == 1
    await dash.send_alert(action="buy", price="100")  # an update for a page that left
    await until(lambda: feed.watching == 0, "the stream of a page that left ends", 10)
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
