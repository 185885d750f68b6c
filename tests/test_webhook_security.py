"""Webhook authentication beyond the key: HMAC signatures with a replay window, the per-bot
alerts-per-minute cap, the proxy's TLS client-certificate verdict, aggregated refusal rows, and
rate limits shared through Redis."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from db.models import Order, WebhookLog
from tests.conftest import World, now_iso
from tests.processes import REDIS_URL, redis_or_skip
from trading.signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER, signed_headers

SECRET = "s3cret-for-signing-0123456789"


async def _post(world: World, key: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    async with world.http.post(world.url(f"/webhook/{key}"), data=body, headers=headers) as r:
        return r.status, await r.json()


def _alert(alert_id: str, action: str = "buy") -> bytes:
    return json.dumps(
        {"action": action, "symbol": "BTCUSDT", "price": "100", "id": alert_id, "time": now_iso()}
    ).encode()


async def test_signed_alert_trades_and_unsigned_or_forged_ones_are_401(world: World) -> None:
    bot = await world.add_bot("signed", hmac_secret=SECRET)
    body = _alert("a1")
    assert await _post(world, bot.webhook_key, body, {}) == (
        401,
        {
            "status": "rejected",
            "reason": f"signature: {SIGNATURE_HEADER} header missing",
            "bot": "signed",
            "position": None,
            "order": None,
        },
    )
    forged = signed_headers("not-the-secret-at-all-000", body)
    status, answer = await _post(world, bot.webhook_key, body, forged)
    assert (status, answer["reason"]) == (401, "signature: does not match the body")
    # a valid signature over another body does not carry over to this one
    other = signed_headers(SECRET, _alert("a2"))
    status, _ = await _post(world, bot.webhook_key, body, other)
    assert status == 401
    assert await Order.all().count() == 0

    status, answer = await _post(world, bot.webhook_key, body, signed_headers(SECRET, body))
    assert (status, answer["status"]) == (200, "executed")
    assert await Order.all().count() == 1


async def test_a_replayed_or_old_signature_is_refused(world: World) -> None:
    bot = await world.add_bot("signed", hmac_secret=SECRET)
    tick = b'{"action": "tick", "symbol": "BTCUSDT", "price": "100"}'  # no id: dedup cannot help
    headers = signed_headers(SECRET, tick)
    assert (await _post(world, bot.webhook_key, tick, headers))[0] == 200
    status, answer = await _post(world, bot.webhook_key, tick, headers)
    assert (status, answer["reason"]) == (401, "signature: already used (replay)")

    old = signed_headers(SECRET, tick, now=datetime.now(UTC) - timedelta(minutes=6))
    status, answer = await _post(world, bot.webhook_key, tick, old)
    assert (status, answer["reason"]) == (401, "signature: timestamp outside the 5-minute window")
    future = signed_headers(SECRET, tick, now=datetime.now(UTC) + timedelta(minutes=6))
    assert (await _post(world, bot.webhook_key, tick, future))[0] == 401
    for bad in ("yesterday", "-5", "1e9", "١٧٠٠٠٠٠٠٠٠"):  # the last is Arabic-Indic digits
        headers = {TIMESTAMP_HEADER: bad, SIGNATURE_HEADER: "sha256=00"}
        status, answer = await _post(world, bot.webhook_key, tick, headers)
        assert (status, answer["reason"]) == (
            401,
            f"signature: {TIMESTAMP_HEADER} must be Unix seconds",
        )


async def test_signature_and_passphrase_combine(world: World) -> None:
    bot = await world.add_bot("both", hmac_secret=SECRET, passphrase="pass-phrase")
    body = json.dumps({"action": "buy", "symbol": "BTCUSDT", "price": "100"}).encode()
    status, answer = await _post(world, bot.webhook_key, body, signed_headers(SECRET, body))
    assert (status, answer["reason"]) == (401, "passphrase: missing or wrong")
    body = json.dumps(
        {"action": "buy", "symbol": "BTCUSDT", "price": "100", "passphrase": "pass-phrase"}
    ).encode()
    assert (await _post(world, bot.webhook_key, body, signed_headers(SECRET, body)))[0] == 200


async def test_alerts_per_minute_cap_answers_429_and_spares_other_bots(world: World) -> None:
    capped = await world.add_bot("capped", max_alerts_per_minute=3)
    answers = [await world.send_alert(capped, action="tick", price="100") for _ in range(5)]
    assert [status for status, _ in answers] == [200, 200, 200, 429, 429]
    assert answers[3][1]["reason"] == "over 3 alerts per minute for bot capped"
    async with world.http.post(
        world.url(f"/webhook/{capped.webhook_key}"), data=b"tick BTCUSDT price=1"
    ) as response:
        assert response.status == 429
        assert 1 <= int(response.headers["Retry-After"]) <= 20  # one token every 20 s
    # the other bot, same sender, is not affected
    assert (await world.send_alert("demo", action="tick", price="100"))[0] == 200
    # the refusals are on record in one aggregated row, and counted in /metrics
    refused = await WebhookLog.filter(http_status=429)
    assert [row.repeat_count for row in refused] == [3]
    async with world.http.get(world.url("/metrics")) as response:
        assert 'tradebot_webhook_rate_limited_total{scope="bot"} 3.0' in await response.text()


async def test_a_flood_of_refusals_is_aggregated_not_written_row_by_row(world: World) -> None:
    for index in range(300):
        status, _ = await world.post(f"wrong-key-{index:08d}-padding", b"buy BTCUSDT")
        assert status == 401
    rows = await WebhookLog.all()
    assert len(rows) == 1 and rows[0].repeat_count == 300
    async with world.http.get(world.url("/metrics")) as response:  # each one counted there
        assert 'tradebot_alerts_total{http_status="401",status="rejected"} 300.0' in (
            await response.text()
        )
    assert rows[0].last_seen_at is not None and rows[0].last_seen_at >= rows[0].received_at
    # a different refusal is its own row: the first row's reason is not reused for it
    status, _ = await world.post(world.bots["demo"].webhook_key, b"{not json")
    assert status == 400
    assert await WebhookLog.filter(http_status=400).count() == 1


async def test_client_certificate_verdict_is_believed_only_from_the_proxy(start_world) -> None:
    world = await start_world(trusted_proxies="127.0.0.1", webhook_require_client_cert=True)
    bot = await world.add_bot("tv")
    body = b"buy BTCUSDT price=100"
    status, answer = await _post(world, bot.webhook_key, body, {})
    assert (status, answer["reason"]) == (403, "TLS client certificate not verified by the proxy")
    failed = {"X-Client-Verify": "FAILED:unable to verify", "X-Forwarded-For": "52.89.214.238"}
    assert (await _post(world, bot.webhook_key, body, failed))[0] == 403
    verified = {"X-Client-Verify": "SUCCESS", "X-Forwarded-For": "52.89.214.238"}
    assert (await _post(world, bot.webhook_key, body, verified))[0] == 200

    # without a trusted proxy the same header comes from the client itself: not believed
    direct = await start_world(webhook_require_client_cert=True)
    other = await direct.add_bot("tv2")
    assert (await _post(direct, other.webhook_key, body, {"X-Client-Verify": "SUCCESS"}))[0] == 403


@pytest.mark.services
async def test_rate_limits_are_shared_by_two_processes_through_redis(start_world) -> None:
    client = await redis_or_skip()
    await client.aclose()
    limits = {"redis_url": REDIS_URL, "webhook_rate_per_key": 0.01, "webhook_burst_per_key": 4}
    first = await start_world(**limits)
    second = await start_world(**limits)  # same database, its own app: another process
    bot = await first.add_bot("shared", max_alerts_per_minute=0)
    second.bots["shared"] = bot
    statuses = [
        (await (first if i % 2 else second).send_alert("shared", action="tick", price="1"))[0]
        for i in range(8)
    ]
    assert statuses == [200] * 4 + [429] * 4


async def test_a_slow_client_gets_408_and_does_not_hold_up_other_alerts(start_world) -> None:
    import asyncio

    world = await start_world(webhook_body_timeout=0.5)
    await world.add_bot("demo")
    key = world.bots["demo"].webhook_key
    host, port = world.server.host, world.server.port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"POST /webhook/{key} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain\r\n"
        "Content-Length: 40\r\n\r\nbuy BTC".encode()
    )
    await writer.drain()  # ...and the rest never comes
    try:
        # meanwhile another alert is served at once
        status, answer = await world.send_alert(action="buy", price="100")
        assert (status, answer["status"]) == (200, "executed")
        head = await asyncio.wait_for(reader.readline(), timeout=10)
        assert head.startswith(b"HTTP/1.1 408")
    finally:
        writer.close()
    refused = await WebhookLog.get(http_status=408)
    assert refused.reason == "body: not received in time"
    assert await Order.all().count() == 1


async def test_compressed_bodies_are_read_or_refused_never_a_500(world: World) -> None:
    import gzip
    import zlib

    key = world.bots["demo"].webhook_key
    alert = b'{"action": "buy", "symbol": "BTCUSDT", "price": "100"}'
    cases = [
        ("gzip", gzip.compress(alert), 200),  # aiohttp decompresses; the alert trades
        ("deflate", zlib.compress(alert), 200),
        ("gzip", b"not gzip at all", 400),
        ("deflate", b"\x00\x01garbage", 400),
        ("gzip", gzip.compress(b"x" * 10_000_000), 413),  # a zip bomb stops at 64 KiB
    ]
    for encoding, body, expected in cases:
        headers = {"Content-Encoding": encoding, "Connection": "close"}
        status, answer = await _post(world, key, body, headers)
        assert status == expected, (encoding, body[:20], status, answer)
        if expected == 400:
            assert answer["reason"] == f"body: could not be decoded (Content-Encoding {encoding!r})"
    assert await Order.all().count() == 2


async def test_the_per_ip_limit_spans_every_key_and_ignores_a_forged_forwarded_for(
    start_world,
) -> None:
    world = await start_world(webhook_rate_per_ip=0.01, webhook_burst_per_ip=2)
    first, second = await world.add_bot("one"), await world.add_bot("two")
    assert (await world.send_alert(first, action="tick", price="1"))[0] == 200
    assert (await world.send_alert(second, action="tick", price="1"))[0] == 200
    # the third request from this address is refused, whatever key or X-Forwarded-For it sends
    for key, forwarded in ((first.webhook_key, "203.0.113.7"), ("x" * 43, "198.51.100.1")):
        headers = {"X-Forwarded-For": forwarded}
        async with world.http.post(
            world.url(f"/webhook/{key}"), data=b"tick BTCUSDT price=1", headers=headers
        ) as response:
            assert response.status == 429
            assert int(response.headers["Retry-After"]) >= 1
    assert await WebhookLog.all().count() == 2  # counted, not logged
    async with world.http.get(world.url("/metrics")) as response:
        assert 'tradebot_webhook_rate_limited_total{scope="ip"} 2.0' in await response.text()
