"""What the HTTP routes take from a sender (header values, query parameters, path segments, JSON
bodies), made safe to use: anything odd is a 4xx naming the header or parameter, never a 500.

aiohttp hands over raw header bytes that are not UTF-8 as lone surrogates (`surrogateescape`);
such text cannot be encoded, stored or sent to Redis, so it is turned into U+FFFD first.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from trading.bots import NAME
from trading.numbers import whole_number

MAX_JSON_DEPTH = 64  # a Telegram Update nests about ten levels deep
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


async def expect_handler(request: web.Request) -> None:
    """aiohttp's handling of `Expect` (100-continue answered, anything else 417), except that an
    odd value is named cleanly: aiohttp's own puts the raw value in its answer and fails with a
    500 on bytes that are not UTF-8. Every route is added with it (`add_routes`)."""
    expect = request.headers.get("Expect", "")
    if request.version >= (1, 1):
        if expect.lower() == "100-continue":
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0  # the body proper has not started
        else:
            raise web.HTTPExpectationFailed(
                text=error_body("Expect", "only 100-continue is understood"),
                content_type="application/json",
            )


def add_routes(app: web.Application, table: web.RouteTableDef) -> None:
    """Add a module's routes, each with our `expect_handler`."""
    app.router.add_routes(
        [
            web.RouteDef(
                d.method, d.path, d.handler, {**d.kwargs, "expect_handler": expect_handler}
            )
            if isinstance(d, web.RouteDef)
            else d
            for d in table
        ]
    )


def add_unmatched(app: web.Application) -> None:
    """Last of every app's routes: a path no route serves is a 404 (or 405 when another method
    is served there) through our `expect_handler` too. Without it aiohttp answers such a request
    itself, with its own Expect handling (a 500 on an undecodable `Expect`)."""
    app.router.add_route("*", "/{unmatched:.*}", _unmatched, expect_handler=expect_handler)


async def _unmatched(request: web.Request) -> web.StreamResponse:
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource is request.match_info.route.resource:
            continue
        _, methods = await resource.resolve(request)
        allowed |= methods
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise web.HTTPNotFound()


def clean_text(value: str) -> str:
    """`value` as storable text: undecodable bytes, lone surrogates and NUL become U+FFFD."""
    if value.isascii() and "\x00" not in value:
        return value
    try:
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a surrogate that did not come from a raw byte
        pass
    return _UNSTORABLE.sub("\ufffd", value)


def header_bytes(value: str) -> bytes:
    """A header value as the bytes the sender sent (for constant-time comparisons)."""
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return clean_text(value).encode()


def error_body(field: str, message: str) -> str:
    return json.dumps({"error": f"{field}: {message}", "field": field})


def bad_request(field: str, message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=error_body(field, message), content_type="application/json")


def single_query(request: web.Request, name: str) -> str | None:
    """The parameter's value, None when absent; given twice it is ambiguous: a 400."""
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise bad_request(name, "given more than once")
    return values[0] if values else None


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """A whole number from `low` to `high` (ASCII digits; leading zeros allowed)."""
    raw = single_query(request, name)
    if raw is None:
        return default
    number = whole_number(raw, low, high)
    if number is None:
        raise bad_request(name, f"must be a whole number from {low} to {high}")
    return number


def query_bot_name(request: web.Request, name: str = "bot") -> str | None:
    """A bot's name as a filter, None when absent or empty. Text that cannot be a bot's name is a
    400 (never a database error: names are at most 32 characters)."""
    raw = single_query(request, name)
    if not raw:
        return None
    if not NAME.fullmatch(raw):
        raise bad_request(name, "is not a bot name (1-32 letters, digits, '-' or '_')")
    return raw


def load_json(body: bytes) -> Any:
    """JSON from UTF-8 bytes (whatever charset the Content-Type claims), nested at most
    MAX_JSON_DEPTH levels. ValueError, with a reason, for anything else."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("must be UTF-8") from None
    try:
        data = json.loads(text)
    except RecursionError:  # deeper than the interpreter's stack: refused, not a 500
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, and numbers of more than 4,300 digits
        raise ValueError(f"malformed JSON ({str(exc)[:80]})") from None
    pending: list[tuple[Any, int]] = [(data, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, dict):
            pending.extend((inner, depth + 1) for inner in item.values())
        elif isinstance(item, list):
            pending.extend((inner, depth + 1) for inner in item)
    return data
