"""Whatever a sender puts in a request line's query, a header or a body, every route answers a 4xx
naming it, never a 5xx (issue 12 item 6), through the real server on a real socket.

The routes are read from the running app's router, so a route added later is swept too. The
classes: header values that are not ASCII or not UTF-8, repeated headers, numbers too long to
convert, times past the year 9999, query parameters too long, repeated or not text at all, JSON
nested past the parser's stack, and a refusal by the webhook intake always has its
`webhook_logs` row."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tortoise.functions import Sum

from db.models import WebhookLog
from tests.conftest import API_TOKEN, World
from tests.examples import run_examples
from tests.raw_http import RawResponse, build, names, send
from trading.signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER, Verified, sign, verify

SECRET = "webhook-secret-0123456789"
HMAC_SECRET = "hmac-secret-of-the-signed-bot-0123"
BEARER = b"Bearer " + API_TOKEN.encode()
TICK = b"tick BTCUSDT price=100"
UPDATE = b'{"update_id": 1}'

KNOWN_ROUTES = {
    ("POST", "/webhook/{key}"),
    ("POST", "/telegram/webhook"),
    ("GET", "/health"),
    ("GET", "/metrics"),
    ("GET", "/bots"),
    ("GET", "/positions"),
    ("GET", "/trades"),
}


@pytest.fixture
async def hostile_world(start_world: Callable[..., Any]) -> World:
    """Webhook-mode Telegram, a trusted proxy (so forwarded headers are read), a plain bot and
    one that requires an HMAC signature."""
    world: World = await start_world(
        telegram=True,
        telegram_mode="webhook",
        telegram_webhook_secret=SECRET,
        trusted_proxies="127.0.0.1",
        webhook_body_timeout=1.0,
    )
    await world.add_bot("demo")
    await world.add_bot("signed", hmac_secret=HMAC_SECRET)
    assert world.telegram is not None
    await world.telegram.wait_for("setWebhook")
    return world


def port(world: World) -> int:
    assert world.server.port is not None
    return world.server.port


def registered_routes(world: World) -> list[tuple[str, str]]:
    """(method, path template) of every route the running app serves (HEAD comes with GET)."""
    app = world.server.app
    assert app is not None
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix")
        if route.method != "HEAD" and path:
            # "*": the catch-all of unserved paths (`add_unmatched`), swept as GET and POST
            for method in ("GET", "POST") if route.method == "*" else (route.method,):
                found.add((method, str(path)))
    return sorted(found)


def target_of(world: World, template: str) -> bytes:
    """A concrete path for a template: every `{param}` is the signed bot's key."""
    key = world.bots["signed"].webhook_key
    path, inside = "", False
    for char in template:
        if char == "{":
            inside, path = True, path + key
        elif char == "}":
            inside = False
        elif not inside:
            path += char
    return path.encode()


def body_for(template: str) -> bytes:
    if template.startswith("/webhook/"):
        return TICK
    if template == "/telegram/webhook":
        return UPDATE
    return b""


async def logged_requests() -> int:
    """Requests on record in `webhook_logs` (identical refusals share a row and count)."""
    row = await WebhookLog.all().annotate(total=Sum("repeat_count")).first().values("total")
    return int((row or {}).get("total") or 0)


def is_ours(response: RawResponse) -> bool:
    """An answer from a route handler (JSON), not from aiohttp's request parser (text)."""
    return response.headers.get("content-type", "").startswith("application/json")


# ---------------------------------------------------------------- the examples of the issue


async def test_hmac_timestamp_past_the_year_9999_is_401_with_its_log_row(
    hostile_world: World,
) -> None:
    world = hostile_world
    path = target_of(world, "/webhook/{key}")
    for stamp in (b"999999999999", b"253402300800", b"000000000000", b"9" * 13, b"9" * 5000):
        before = await logged_requests()
        headers = [(TIMESTAMP_HEADER.encode(), stamp), (SIGNATURE_HEADER.encode(), b"sha256=00")]
        response = await send(port(world), build(b"POST", path, headers, TICK))
        assert response.status == 401, (stamp[:20], response)
        assert names(response.json(), "timestamp", TIMESTAMP_HEADER), response.json()
        assert await logged_requests() == before + 1, stamp[:20]


async def test_non_ascii_authorization_is_401_naming_the_header(hostile_world: World) -> None:
    for value in (b"Bearer \xff\xfe", BEARER + b"\xff", b"\xc3\xa9", b"Bearer \xed\xa0\x80"):
        for path in (b"/bots", b"/positions", b"/trades"):
            response = await send(
                port(hostile_world), build(b"GET", path, [(b"Authorization", value)])
            )
            assert response.status == 401, (value, path, response)
            assert response.json()["field"] == "Authorization"
    # one right line and one wrong line: ambiguous, refused whichever comes first
    twice = [(b"Authorization", BEARER), (b"Authorization", b"Bearer wrong")]
    response = await send(port(hostile_world), build(b"GET", b"/bots", twice))
    assert response.status == 401 and response.json()["field"] == "Authorization"


async def test_long_and_odd_query_parameters_are_400_naming_them(hostile_world: World) -> None:
    auth = [(b"Authorization", BEARER)]
    cases = [
        (b"/positions?bot=" + b"a" * 65, "bot"),
        (b"/trades?bot=" + b"a" * 65, "bot"),
        (b"/trades?limit=" + b"1" * 5000, "limit"),
        (b"/trades?limit=" + b"0" * 5000 + b"5", None),  # 5, however many zeros lead
        (b"/trades?limit=1&limit=2", "limit"),
        (b"/positions?bot=demo&bot=signed", "bot"),
        (b"/positions?bot=%00", "bot"),
        (b"/positions?bot=%ED%A0%80", "bot"),
        (b"/positions?bot=%FF%FE", "bot"),
        (b"/positions?bot=demo%0A", "bot"),
        (b"/trades?limit=%EF%BC%91", "limit"),  # full-width 1
    ]
    for target, field in cases:
        response = await send(port(hostile_world), build(b"GET", target, auth))
        if field is None:
            assert response.status == 200, (target[:40], response)
        else:
            assert response.status == 400, (target[:40], response)
            assert response.json()["field"] == field, response.json()
    ok = await send(port(hostile_world), build(b"GET", b"/positions?bot=demo", auth))
    assert (ok.status, ok.json()) == (200, [])


async def test_telegram_bodies_nested_too_deep_or_not_utf8_are_400(hostile_world: World) -> None:
    secret = [(b"X-Telegram-Bot-Api-Secret-Token", SECRET.encode())]
    json_type = [(b"Content-Type", b"application/json")]
    bodies = [
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b"[" * 200_000,
        b'{"update_id": 1, "x": ' + b"[" * 100 + b"]" * 100 + b"}",
        b'{"update_id": 1' + b"9" * 5000 + b"}",
        b'{"update_id": "\xff"}',
        b"\xef\xbb\xbf" + UPDATE,
        b"[]",
        b"null",
    ]
    for body in bodies:
        response = await send(
            port(hostile_world), build(b"POST", b"/telegram/webhook", secret + json_type, body)
        )
        assert response.status == 400, (body[:30], response)
        assert response.json()["field"] == "body", response.json()
    for content_type in (b"application/json; charset=bogus", b"text/plain; charset=\xff"):
        headers = [*secret, (b"Content-Type", content_type)]
        response = await send(
            port(hostile_world), build(b"POST", b"/telegram/webhook", headers, UPDATE)
        )
        assert response.status == 200, (content_type, response)  # UTF-8 whatever it claims


async def test_undecodable_header_bytes_on_the_webhook_are_refused_with_their_row(
    hostile_world: World,
) -> None:
    path = target_of(hostile_world, "/webhook/{key}")
    for name in (
        b"Content-Type",
        b"X-Forwarded-For",
        SIGNATURE_HEADER.encode(),
        b"Content-Encoding",
    ):
        for value in (b"\xff\xfe", b"text/\xed\xa0\x80", b"\x80"):
            before = await logged_requests()
            response = await send(port(hostile_world), build(b"POST", path, [(name, value)], TICK))
            assert 400 <= response.status < 500, (name, value, response)
            assert await logged_requests() == before + 1, (name, value)


FRAMING: list[tuple[str, list[tuple[bytes, bytes]], bytes]] = [
    ("length far past the body", [(b"Content-Length", b"99999999999999999999999")], b"x"),
    ("negative length", [(b"Content-Length", b"-1")], b""),
    ("length with a sign", [(b"Content-Length", b"+5")], b"12345"),
    ("two different lengths", [(b"Content-Length", b"1"), (b"Content-Length", b"2")], b"12"),
    (
        "length and chunked",
        [(b"Content-Length", b"5"), (b"Transfer-Encoding", b"chunked")],
        b"0\r\n\r\n",
    ),
    ("unknown transfer coding", [(b"Transfer-Encoding", b"gzip")], b"x"),
    ("chunked twice", [(b"Transfer-Encoding", b"chunked, chunked")], b"0\r\n\r\n"),
    ("bad chunk size", [(b"Transfer-Encoding", b"chunked")], b"zz\r\nabc\r\n0\r\n\r\n"),
    ("chunk size overflow", [(b"Transfer-Encoding", b"chunked")], b"f" * 40 + b"\r\nx\r\n"),
    ("length shorter than sent", [(b"Content-Length", b"1")], b"tick BTCUSDT price=1"),
]


async def test_odd_framing_on_every_route_is_never_a_5xx(hostile_world: World) -> None:
    """Content-Length and Transfer-Encoding oddities: aiohttp's parser refuses most (400), a body
    announced and never sent runs into the body deadline (408), none is a 5xx."""
    world = hostile_world
    problems = []
    for method, template in registered_routes(world):
        for label, headers, body in FRAMING:
            headers = [(b"Authorization", BEARER), *headers]
            request = build(
                method.encode(), target_of(world, template), headers, body, length=False
            )
            response = await send(port(world), request)
            if response.status >= 500:
                problems.append(f"{method} {template} {label}: {response.status} {response.body!r}")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- every route, generated input

HEADER_NAMES = [
    b"Authorization", b"Content-Type", b"Content-Encoding", b"X-Forwarded-For",
    TIMESTAMP_HEADER.encode(), SIGNATURE_HEADER.encode(), b"X-Client-Verify",
    b"X-Telegram-Bot-Api-Secret-Token", b"Cookie", b"Accept", b"Accept-Encoding",
    b"X-Tradebot-Session", b"Origin", b"Referer", b"User-Agent", b"Forwarded", b"If-None-Match",
    b"Range", b"X-Request-Id", b"Expect", b"X-Tradebot-CSRF", b"Sec-Fetch-Site",
]  # fmt: skip
INTERESTING = [
    b"", b" ", b"999999999999", b"9" * 13, b"-1", b"1e9", "١٧٠٠٠٠٠٠٠٠".encode(), b"0x10",
    b"Bearer", b"Bearer ", BEARER, BEARER + b"\xff", b"bearer " + API_TOKEN.encode(),
    SECRET.encode(), SECRET.encode() + b"\xff", b"sha256=" + b"0" * 64, b"SUCCESS", b"NONE",
    b"52.89.214.238", b"127.0.0.1, 52.89.214.238", b"unknown", b"[::1]:80", b"::ffff:1.2.3.4",
    b"application/json; charset=bogus", b"text/plain; charset=\xff", b"gzip", b"br", b"identity",
    b"\x00", b"\xff\xfe", b"\xed\xa0\x80", b"\xc3\xa9", "𝟙".encode(), b"\x7f", b"\t",
    b"bytes=0-1, 5-", b"a=b; c", b'"etag"', b"%00%ff", b"%ED%A0%80",
]  # fmt: skip


def _no_line_breaks(value: bytes) -> bytes:
    return value.replace(b"\r", b"").replace(b"\n", b"")


header_values = st.one_of(
    st.sampled_from(INTERESTING),
    st.binary(max_size=60).map(_no_line_breaks),
    st.text(max_size=30).map(lambda t: _no_line_breaks(t.encode("utf-8", "surrogatepass"))),
    st.integers(min_value=-(10**40), max_value=10**40).map(lambda i: str(i).encode()),
    st.integers(min_value=0, max_value=6000).map(lambda n: b"9" * n),
    st.lists(st.sampled_from(INTERESTING), min_size=2, max_size=4).map(b", ".join),
)
header_names = st.one_of(
    st.sampled_from(HEADER_NAMES),
    st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True).map(str.encode),
).filter(lambda name: name.lower() not in (b"content-length", b"transfer-encoding", b"host"))
header_lists = st.lists(st.tuples(header_names, header_values), max_size=6)


async def test_every_route_answers_any_headers_without_a_5xx(hostile_world: World) -> None:
    world = hostile_world
    routes = registered_routes(world)
    assert KNOWN_ROUTES <= set(routes), routes
    seen: dict[int, int] = {}

    async def check(example: tuple[tuple[str, str], list[tuple[bytes, bytes]]]) -> None:
        (method, template), headers = example
        before = await logged_requests()
        request = build(method.encode(), target_of(world, template), headers, body_for(template))
        response = await send(port(world), request)
        seen[response.status] = seen.get(response.status, 0) + 1
        assert response.status < 500, (method, template, headers, response)
        if is_ours(response) and response.status >= 400:
            assert names(response.json(), *_fields()), (template, headers, response.json())
        if template.startswith("/webhook/") and is_ours(response) and response.status != 429:
            assert await logged_requests() == before + 1, (headers, response)

    strategy = st.tuples(st.sampled_from(routes), header_lists)
    await _run(check, strategy, max_examples=120)
    assert sum(seen.values()) >= 100 and {200, 401} <= set(seen), seen  # in, and refused


def _fields() -> tuple[str, ...]:
    """What a refusal may name: a header, a field, a parameter, or the key."""
    return (
        "Authorization", "X-Telegram-Bot-Api-Secret-Token", "signature", "timestamp", "body",
        "webhook key", "IP", "certificate", "limit", "bot", "passphrase", "action", "symbol",
        "price", "qty", "read API is off", "Expect", "session", "init_data", "X-Tradebot-Session",
        "X-Tradebot-CSRF", "Origin", "role", "position", "Content-Type", "Sec-Fetch-Site",
    )  # fmt: skip


QUERY_NAMES = [b"bot", b"limit", b"x", b"Bot", b"limit[]", b"", b"%00", b"bot%00"]
query_values = st.one_of(
    st.sampled_from(
        [b"demo", b"signed", b"nobody", b"50", b"0", b"1000", b"1001", b"a" * 65, b"1" * 5000]
    ),
    st.binary(max_size=40),
    st.text(max_size=20).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.integers(min_value=-(10**30), max_value=10**30).map(lambda i: str(i).encode()),
    st.integers(min_value=0, max_value=6000).map(lambda n: b"9" * n),  # int() stops at 4,300
    st.from_regex(r"[A-Za-z0-9_-]{30,80}", fullmatch=True).map(str.encode),  # too long a name
)
query_pairs = st.lists(
    st.tuples(
        st.one_of(
            st.sampled_from([b"bot", b"limit"]), st.sampled_from(QUERY_NAMES), st.binary(max_size=8)
        ),
        query_values,
    ),
    max_size=4,
)


def query_string(pairs: list[tuple[bytes, bytes]]) -> bytes:
    return b"&".join(
        quote_from_bytes(name).encode() + b"=" + quote_from_bytes(value).encode()
        for name, value in pairs
    )


async def test_every_route_answers_any_query_string_without_a_5xx(hostile_world: World) -> None:
    world = hostile_world
    routes = registered_routes(world)
    auth = [
        (b"Authorization", BEARER),
        (b"X-Telegram-Bot-Api-Secret-Token", SECRET.encode()),
    ]
    seen: dict[int, int] = {}

    async def check(example: tuple[tuple[str, str], list[tuple[bytes, bytes]]]) -> None:
        (method, template), pairs = example
        target = target_of(world, template) + b"?" + query_string(pairs)
        response = await send(port(world), build(method.encode(), target, auth, body_for(template)))
        seen[response.status] = seen.get(response.status, 0) + 1
        assert response.status < 500, (method, template, pairs, response)
        if template in ("/positions", "/trades") and response.status == 400 and is_ours(response):
            answer = response.json()
            assert answer["field"] in ("bot", "limit"), answer
            assert any(name == answer["field"].encode() for name, _ in pairs), (pairs, answer)

    # the routes that read parameters come up more often
    readers = [route for route in routes if route[1] in ("/positions", "/trades")]
    strategy = st.tuples(st.sampled_from(routes + readers * 3), query_pairs)
    await _run(check, strategy, max_examples=120)
    assert sum(seen.values()) >= 100 and {200, 400} <= set(seen), seen


MAX_LINE = 8190 - len(b"GET  HTTP/1.1")  # aiohttp's max_line_size
BOT_NAME = re.compile(rb"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
parameter_values = st.one_of(
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}", fullmatch=True).map(str.encode),
    st.from_regex(r"[A-Za-z0-9_-]{33,80}", fullmatch=True).map(str.encode),  # too long a name
    st.integers(min_value=-5, max_value=2000).map(lambda i: str(i).encode()),
    st.integers(min_value=4000, max_value=6000).map(lambda n: b"9" * n),  # int() stops at 4,300
    st.tuples(st.integers(0, 5000), st.integers(1, 1000)).map(lambda z: b"0" * z[0] + b"%d" % z[1]),
    st.binary(max_size=20),
    st.text(max_size=10).map(lambda t: t.encode("utf-8", "surrogatepass")),
)
parameters = st.lists(st.tuples(st.sampled_from([b"bot", b"limit"]), parameter_values), max_size=3)


def expected_refusal(path: bytes, pairs: list[tuple[bytes, bytes]]) -> str | None:
    """The parameter a read-API request must be refused for (400), or None (200)."""
    values: dict[bytes, list[bytes]] = {}
    for name, value in pairs:
        values.setdefault(name, []).append(value)
    order = [b"limit", b"bot"] if path == b"/trades" else [b"bot"]
    for name in order:
        given = values.get(name, [])
        if len(given) > 1:
            return name.decode()
        if not given:
            continue
        value = given[0]
        if name == b"bot" and value and not BOT_NAME.fullmatch(value):
            return "bot"
        if name == b"limit":
            digits = value.lstrip(b"0") or (b"0" if value else b"")
            if not (digits.isdigit() and len(digits) <= 4 and 1 <= int(digits) <= 1000):
                return "limit"
    return None


async def test_read_api_parameters_are_400_exactly_when_invalid(hostile_world: World) -> None:
    """`bot` is a bot's name (or empty), `limit` 1-1000, each at most once: anything else is a
    400 naming the parameter, whatever its length or bytes."""
    auth = [(b"Authorization", BEARER)]

    async def check(example: tuple[bytes, list[tuple[bytes, bytes]]]) -> None:
        path, pairs = example
        target = path + b"?" + query_string(pairs)
        response = await send(port(hostile_world), build(b"GET", target, auth))
        field = expected_refusal(path, pairs)
        if len(target) > MAX_LINE:  # aiohttp's parser refuses the request line itself
            assert response.status == 400 and not is_ours(response), response
        elif field is None:
            assert response.status == 200, (path, pairs, response)
            assert isinstance(response.json(), list)
        else:
            assert response.status == 400, (path, pairs, field, response)
            assert response.json()["field"] == field, (pairs, response.json())

    strategy = st.tuples(st.sampled_from([b"/positions", b"/trades"]), parameters)
    await _run(check, strategy, max_examples=100)


path_keys = st.one_of(
    st.binary(min_size=1, max_size=140).map(lambda b: quote_from_bytes(b, safe="").encode()),
    st.text(max_size=140).map(lambda t: quote_from_bytes(t.encode("utf-8", "surrogatepass"))),
    st.from_regex(r"[A-Za-z0-9_-]{1,200}", fullmatch=True),
).map(lambda key: key if isinstance(key, bytes) else key.encode())


async def test_any_webhook_key_in_the_path_is_refused_with_its_row(hostile_world: World) -> None:
    """Whatever the key segment holds (percent-encoded NUL, lone surrogates, bytes that are not
    UTF-8, any length): a 4xx, and the refusal is on record."""
    world = hostile_world

    async def check(key: bytes) -> None:
        before = await logged_requests()
        response = await send(port(world), build(b"POST", b"/webhook/" + key, [], TICK))
        assert 400 <= response.status < 500, (key[:60], response)
        if is_ours(response):
            assert names(response.json(), "webhook key"), response.json()
            assert await logged_requests() == before + 1, key[:60]

    await _run(check, path_keys, max_examples=80)


def nested_json(depth: int, opener: bytes) -> bytes:
    closer = b"]" if opener == b"[" else b"}"
    inner = b'{"a":' if opener == b"{" else b"["
    return b'{"update_id": 1, "x": ' + inner * depth + b"1" + closer * depth + b"}"


telegram_bodies = st.one_of(
    st.builds(nested_json, st.integers(min_value=1, max_value=3000), st.sampled_from([b"[", b"{"])),
    st.integers(min_value=1, max_value=100_000).map(lambda n: b"[" * n),
    st.binary(max_size=200),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=20,
    ).map(lambda value: _json_bytes({"update_id": 1, "message": value})),
)


def _json_bytes(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()


async def test_telegram_webhook_answers_any_body_without_a_5xx(hostile_world: World) -> None:
    world = hostile_world
    headers = [
        (b"X-Telegram-Bot-Api-Secret-Token", SECRET.encode()),
        (b"Content-Type", b"application/json"),
    ]

    seen: dict[int, int] = {}

    async def check(body: bytes) -> None:
        response = await send(port(world), build(b"POST", b"/telegram/webhook", headers, body))
        seen[response.status] = seen.get(response.status, 0) + 1
        assert response.status in (200, 400), (body[:80], response)
        if response.status == 400:
            assert response.json()["field"] == "body", response.json()

    await _run(check, telegram_bodies, max_examples=80)
    assert sum(seen.values()) >= 60 and set(seen) == {200, 400}, seen


async def _run(check: Any, strategy: st.SearchStrategy[Any], *, max_examples: int) -> None:
    import asyncio

    await asyncio.to_thread(
        run_examples, asyncio.get_running_loop(), strategy, check, max_examples=max_examples
    )


# ---------------------------------------------------------------- the HMAC check itself

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

timestamps = st.one_of(
    st.none(),
    st.text(max_size=20),
    st.text("0123456789", max_size=30),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.sampled_from(["999999999999", "253402300800", "0", "-0", " 1", "1 ", "١", "+1"]),
    st.integers(min_value=-400, max_value=400).map(lambda d: str(int(NOW.timestamp()) + d)),
)


@settings(max_examples=300, deadline=None)
@given(timestamps, st.one_of(st.none(), st.text(max_size=80)), st.binary(max_size=40))
def test_verify_never_raises_and_accepts_only_the_right_signature_in_the_window(
    timestamp: str | None, signature: str | None, body: bytes
) -> None:
    result = verify(HMAC_SECRET, timestamp, signature, body, NOW)
    assert isinstance(result, Verified | str)
    if isinstance(result, str):
        assert result.startswith("signature: ")
    if timestamp is not None:
        right = verify(HMAC_SECRET, timestamp, sign(HMAC_SECRET, timestamp, body), body, NOW)
        in_window = (
            timestamp.isascii()
            and timestamp.isdigit()
            and len(timestamp) <= 12
            and abs(int(timestamp) - NOW.timestamp()) <= 300
        )
        assert isinstance(right, Verified) == in_window, (timestamp, right)
        if isinstance(right, Verified):
            sent = datetime.fromtimestamp(int(timestamp), UTC)
            assert right.expires_at == sent + timedelta(minutes=5)


def test_a_real_clock_signature_still_verifies() -> None:
    stamp = str(int(time.time()))
    now = datetime.now(UTC)
    assert isinstance(
        verify(HMAC_SECRET, stamp, sign(HMAC_SECRET, stamp, b"x"), b"x", now), Verified
    )


async def test_an_undecodable_expect_is_417_naming_it_on_every_route_and_unserved_path(
    hostile_world: World,
) -> None:
    """aiohttp's own Expect handling put the raw value in its answer: a 500 for bytes that are
    not UTF-8. Every route, and a path no route serves, answers with ours."""
    targets = [(m, target_of(hostile_world, t)) for m, t in registered_routes(hostile_world)]
    targets += [("GET", b"/no/such/path"), ("DELETE", b"/health")]
    for method, target in targets:
        response = await send(
            port(hostile_world), build(method.encode(), target, [(b"Expect", b"\xff\xfe")])
        )
        assert response.status == 417, (method, target, response)
        assert response.json()["field"] == "Expect", (method, target, response)
