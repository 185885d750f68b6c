"""Whatever a signed-in page (or a page of another site riding on its cookie) sends to the
dashboard's routes, the answer is never a 5xx, a refusal names what it refuses, and a change is
made only by a request that carries the session header, or the cookie with its CSRF token, from
our own origin (SPEC §10). Generated over every `/app` route of the running app."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from tests.conftest import World
from tests.examples import run_examples
from tests.raw_http import build, names, send
from tests.test_dashboard_api import TRADER_ID, grant, init_data, sign_in
from tests.test_properties_http import registered_routes

FIELDS = (
    "session", "X-Tradebot-Session", "X-Tradebot-CSRF", "Origin", "role", "position", "bot",
    "limit", "init_data", "body", "Expect", "Content-Type", "Sec-Fetch-Site",
)  # fmt: skip

junk = st.one_of(
    st.binary(max_size=60),
    st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"", b"null", b"https://evil.example", b"cross-site", b"same-origin"]),
)


async def test_any_headers_on_any_dashboard_route_never_5xx_and_change_nothing_unasked(
    start_world: Callable[..., Any],
) -> None:
    world: World = await start_world(telegram=True)
    await world.add_bot("demo")
    await grant(world, TRADER_ID, "trader")
    page = await sign_in(world, TRADER_ID)
    assert world.server.port is not None
    port = world.server.port
    own_origin = world.url("/").rstrip("/").encode()
    # every /app route but sign-out (it would end the session the examples share)
    routes = [
        (m, t)
        for m, t in registered_routes(world)
        if t.startswith("/app") and t != "/app/api/logout"
    ]
    assert ("POST", r"/app/api/positions/{id}/close") in routes or any(
        "close" in t for _, t in routes
    ), routes
    bot_id = str(world.bots["demo"].id).encode()

    def target(template: str, position: bytes) -> bytes:
        path = template.replace(r"{id:\d{1,15}}", "{id}").replace(
            r"{token:[A-Za-z0-9_-]{1,128}}", "x"
        )
        path = path.replace("{id}", (position if "positions" in path else bot_id).decode())
        if path.startswith("/app/static"):
            path = "/app/static/app.css"
        return path.encode()

    cookie = f"tradebot_session={page.session}".encode()
    header_choices = st.lists(
        st.tuples(
            st.sampled_from(
                [
                    b"Cookie",
                    b"X-Tradebot-Session",
                    b"X-Tradebot-CSRF",
                    b"Origin",
                    b"Sec-Fetch-Site",
                    b"Content-Type",
                    b"Expect",
                ]
            ),
            st.one_of(
                junk,
                st.sampled_from([cookie, page.session.encode(), page.csrf.encode(), own_origin]),
            ),
        ),
        max_size=5,
    )
    bodies = st.one_of(
        st.just(b""),
        junk,
        st.sampled_from([b'{"init_data": 1}', b"[]", b'{"init_data": "a=b"}']),
        st.just(f'{{"init_data": "{init_data(TRADER_ID)}"}}'.encode()),
    )
    seen: dict[int, int] = {}

    async def check(example: tuple[tuple[str, str], list[tuple[bytes, bytes]], bytes]) -> None:
        (method, template), headers, body = example
        _, before = await page.get("/app/api/positions")
        if not before:
            await world.send_alert(action="buy", price="100")
            _, before = await page.get("/app/api/positions")
        position = str(before[0]["id"]).encode()
        request = build(method.encode(), target(template, position), headers, body)
        if template == "/app/api/stream":
            return  # a stream that is allowed stays open: covered in test_dashboard_api
        response = await send(port, request)
        seen[response.status] = seen.get(response.status, 0) + 1
        assert response.status < 500, (method, template, headers, response)
        json_answer = response.headers.get("content-type", "").startswith("application/json")
        if json_answer and response.status >= 400:
            assert names(response.json(), *FIELDS), (template, headers, response.json())
        legit = dict(headers).get(b"X-Tradebot-Session") == page.session.encode() or (
            dict(headers).get(b"X-Tradebot-CSRF") == page.csrf.encode()
        )
        if method == "POST" and "close" in template and response.status == 200:
            assert legit, (headers, response)
            hops = dict(headers)
            assert hops.get(b"Origin", own_origin) == own_origin, headers
            assert hops.get(b"Sec-Fetch-Site", b"").lower() != b"cross-site", headers
        if method == "POST" and "/bots/" in template:
            assert response.status in (401, 403, 400, 404, 417), (headers, response)  # a trader

    routes_st = st.sampled_from(routes)
    await asyncio.to_thread(
        run_examples,
        asyncio.get_running_loop(),
        st.tuples(routes_st, header_choices, bodies),
        check,
        max_examples=150,
    )
    assert seen.get(200, 0) and seen.get(401, 0) and seen.get(403, 0), seen
