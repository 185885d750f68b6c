"""`POST /webhook/{key}`: read the body within limits, hand it to the intake, answer JSON.

What the sender controls (the key in the path, headers) is made storable first (undecodable
bytes become U+FFFD), so an odd byte is a 4xx with its `webhook_logs` row, never a 500."""

from __future__ import annotations

import asyncio
import logging
import math
import time

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from handlers.web.inputs import clean_text
from handlers.web.keys import INTAKE, METRICS, STORAGE_UNAVAILABLE, WEB
from trading.alerts import MAX_BODY_BYTES
from trading.intake import WebhookRequest, key_hint
from trading.ipallow import client_ip, from_trusted_proxy
from trading.signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

FORWARDED_FOR = "X-Forwarded-For"
CLIENT_VERIFY = "X-Client-Verify"


class SenderGone(Exception):
    """The sender closed the connection before its body was complete (a client error: not an
    OSError, so it can never be taken for the database being down)."""

    def __init__(self, received: int) -> None:
        super().__init__(f"connection closed after {received} bytes of the body")
        self.received = received


async def _read_limited(request: web.Request) -> tuple[bytes, bool]:
    """The body, and whether it was over the limit (then only its start is kept for the log)."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return b"", True
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.content.iter_chunked(16384):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return b"".join(chunks)[:4096], True
    except ConnectionResetError:  # aiohttp's "Connection lost" (its ClientConnectionResetError too)
        raise SenderGone(size) from None
    return b"".join(chunks), False


async def _read_body(
    request: web.Request, timeout: float
) -> tuple[bytes, bool, tuple[int, str] | None]:
    """(body, oversized, (answer, reason) when it could not be read). SenderGone when the sender
    hung up."""
    try:
        async with asyncio.timeout(timeout):
            body, oversized = await _read_limited(request)
    except TimeoutError:
        return b"", False, (408, "body: not received in time")
    except RequestPayloadError:  # e.g. Content-Encoding: gzip over bytes that are not gzip
        encoding = clean_text(request.headers.get("Content-Encoding", "")[:32])
        return b"", False, (400, f"body: could not be decoded (Content-Encoding {encoding!r})")
    return body, oversized, None


def proxy_verdict(lines: list[str]) -> str | None:
    """The proxy's TLS client-certificate verdict: `SUCCESS` only when every `X-Client-Verify`
    line says so (a proxy that appends its line after a forged one does not pass)."""
    if not lines:
        return None
    if all(line.strip() == "SUCCESS" for line in lines):
        return "SUCCESS"
    return clean_text(", ".join(lines))[:128]


def _sender_gone(request: web.Request, key: str, remote: str, received: int | None) -> None:
    """Count and log a sender that hung up mid-body: INFO, a client error, never the key."""
    request.app[METRICS].client_errors.labels("disconnected").inc()
    log.info(
        "webhook sender disconnected mid-body key=%s ip=%s received=%s of %s bytes",
        key_hint(key),
        remote,
        "?" if received is None else received,
        "?" if request.content_length is None else request.content_length,
    )


@routes.post("/webhook/{key}")
async def tradingview_webhook(request: web.Request) -> web.Response:
    started = time.perf_counter()
    metrics = request.app[METRICS]
    intake = request.app[INTAKE]
    headers = request.headers
    peer = request.remote or ""
    trusted = intake.trusted_proxies
    # Every X-Forwarded-For line, as one list: a client's own line cannot hide the proxy's.
    remote = clean_text(client_ip(peer, headers.getall(FORWARDED_FOR, []), trusted))
    key = clean_text(request.match_info["key"])
    limited = await intake.rate_limited(key, remote)
    if limited is not None:
        scope, wait = limited
        metrics.rate_limited.labels(scope).inc()
        return web.json_response(
            {"status": "rejected", "reason": f"rate limited ({scope}), retry later"},
            status=429,
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    try:
        body, oversized, unreadable = await _read_body(
            request, request.app[WEB].webhook_body_timeout
        )
    except SenderGone as gone:
        # The sender's doing, not ours: a client error (no answer can reach it, nothing stored).
        _sender_gone(request, key, remote, gone.received)
        return web.json_response(
            {"status": "rejected", "reason": "body: connection closed before it was complete"},
            status=400,
        )
    except asyncio.CancelledError:
        # A server run with handler_cancellation cancels the handler instead: the same client
        # error when the connection is gone (not a shutdown). Never swallowed.
        if request.transport is None:
            _sender_gone(request, key, remote, None)
        raise
    try:
        answer = await intake.receive(
            WebhookRequest(
                key=key,
                body=body,
                content_type=clean_text(headers.get("Content-Type", "")),
                remote_ip=remote,
                oversized=oversized,
                unreadable=unreadable,
                signature=headers.get(SIGNATURE_HEADER),
                timestamp=headers.get(TIMESTAMP_HEADER),
                # Only the proxy's own verdict counts: the header from anyone else is ignored.
                client_cert=proxy_verdict(headers.getall(CLIENT_VERIFY, []))
                if from_trusted_proxy(peer, trusted)
                else None,
            )
        )
        status, payload, answer_headers = answer.http_status, answer.body, answer.headers
        if status == 429:
            metrics.rate_limited.labels("bot").inc()
    except request.app[STORAGE_UNAVAILABLE] as exc:
        # The database is down: 503 makes TradingView retry, and nothing was half-written.
        log.error("webhook storage unavailable: %s", type(exc).__name__)
        metrics.errors.labels("webhook_storage").inc()
        status, payload, answer_headers = (
            503,
            {"status": "error", "reason": "storage unavailable, retry"},
            {"Retry-After": "5"},
        )
    metrics.alerts.labels(payload.get("status", "?"), str(status)).inc()
    metrics.webhook_latency.observe(time.perf_counter() - started)
    return web.json_response(payload, status=status, headers=answer_headers)
