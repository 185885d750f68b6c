"""`POST /webhook/{key}`: read the body within limits, hand it to the intake, answer JSON."""

from __future__ import annotations

import asyncio
import logging
import math
import time

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from bot.keys import INTAKE, METRICS, SETTINGS
from db import repo
from trading.alerts import MAX_BODY_BYTES
from trading.intake import WebhookRequest
from trading.ipallow import client_ip, from_trusted_proxy
from trading.signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


async def _read_limited(request: web.Request) -> tuple[bytes, bool]:
    """The body, and whether it was over the limit (then only its start is kept for the log)."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return b"", True
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(16384):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return b"".join(chunks)[:4096], True
    return b"".join(chunks), False


async def _read_body(
    request: web.Request, timeout: float
) -> tuple[bytes, bool, tuple[int, str] | None]:
    """(body, oversized, (answer, reason) when it could not be read)."""
    try:
        async with asyncio.timeout(timeout):
            body, oversized = await _read_limited(request)
    except TimeoutError:
        return b"", False, (408, "body: not received in time")
    except RequestPayloadError:  # e.g. Content-Encoding: gzip over bytes that are not gzip
        encoding = request.headers.get("Content-Encoding", "")[:32]
        return b"", False, (400, f"body: could not be decoded (Content-Encoding {encoding!r})")
    return body, oversized, None


@routes.post("/webhook/{key}")
async def tradingview_webhook(request: web.Request) -> web.Response:
    started = time.perf_counter()
    metrics = request.app[METRICS]
    intake = request.app[INTAKE]
    headers = request.headers
    peer = request.remote or ""
    remote = client_ip(peer, headers.get("X-Forwarded-For"), intake.trusted_proxies)
    limited = await intake.rate_limited(request.match_info["key"], remote)
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
            request, request.app[SETTINGS].webhook_body_timeout
        )
        answer = await intake.receive(
            WebhookRequest(
                key=request.match_info["key"],
                body=body,
                content_type=headers.get("Content-Type", ""),
                remote_ip=remote,
                oversized=oversized,
                unreadable=unreadable,
                signature=headers.get(SIGNATURE_HEADER),
                timestamp=headers.get(TIMESTAMP_HEADER),
                # Only the proxy's own verdict counts: the header from anyone else is ignored.
                client_cert=headers.get("X-Client-Verify")
                if from_trusted_proxy(peer, intake.trusted_proxies)
                else None,
            )
        )
        status, payload, answer_headers = answer.http_status, answer.body, answer.headers
        if status == 429:
            metrics.rate_limited.labels("bot").inc()
    except repo.STORAGE_ERRORS as exc:
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
