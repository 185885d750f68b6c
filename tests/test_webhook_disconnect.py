"""A sender that hangs up in the middle of its body is a client error (issue 12 item 7): counted
as one in /metrics, logged at INFO without the key, never taken for the database being down
(no `storage unavailable` ERROR, no `webhook_storage` error count), and nothing is stored.

`tradebot serve` runs aiohttp as `web.run_app` does: handlers are not cancelled when the
connection goes, so the body read raises `ConnectionResetError` (an OSError, like the database
errors). aiohttp's TestServer cancels them instead. Both are checked."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

import pytest
from aiohttp import ClientSession, web

from bot.app import create_app
from bot.config import Settings
from db.models import Order, WebhookLog
from db.stores import sql_stores
from tests.waiting import eventually
from trading.bots import BotSpec

BODY = b'{"action": "buy", "symbol": "BTCUSDT", "price": "100", "id": "cut-short"}'


@asynccontextmanager
async def serving(settings: Settings, *, handler_cancellation: bool) -> AsyncIterator[str]:
    """The product on 127.0.0.1, run as `tradebot serve` runs it (or with cancellation)."""
    runner = web.AppRunner(
        create_app(settings), handler_cancellation=handler_cancellation, access_log=None
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def hang_up(base: str, key: str, *, chunked: bool) -> None:
    """Headers; then, once the server is handling the request (it has answered `100 Continue`),
    part of the body; then the connection closes."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % len(BODY)
    writer.write(
        b"POST /webhook/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Expect: 100-continue\r\n%s\r\n\r\n" % (key.encode(), framing)
    )
    await writer.drain()
    assert await asyncio.wait_for(reader.readline(), 10) == b"HTTP/1.1 100 Continue\r\n"
    writer.write(b"%x\r\n%s" % (len(BODY), BODY[:30]) if chunked else BODY[:20])
    await writer.drain()
    writer.close()
    with suppress(ConnectionError):
        await writer.wait_closed()


def disconnects(metrics: str) -> float:
    for line in metrics.splitlines():
        if line.startswith('tradebot_webhook_client_errors_total{kind="disconnected"}'):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.parametrize("handler_cancellation", [False, True], ids=["as-served", "cancelling"])
async def test_a_sender_hanging_up_mid_body_is_a_client_error(
    make_settings: Callable[..., Settings],
    caplog: pytest.LogCaptureFixture,
    handler_cancellation: bool,
) -> None:
    for driver in ("tortoise", "aiosqlite"):
        caplog.set_level(logging.WARNING, logger=driver)
    caplog.set_level(logging.DEBUG)  # last: each call sets the capturing handler's level too
    async with (
        serving(make_settings(), handler_cancellation=handler_cancellation) as base,
        ClientSession() as http,
    ):
        bot = await sql_stores().bots.create_bot(
            BotSpec(name="demo", strategy="signal", symbols=["BTCUSDT"], size="1")
        )

        async def metrics() -> str:
            async with http.get(f"{base}/metrics") as response:
                return await response.text()

        async def counted(expected: float) -> bool:
            return disconnects(await metrics()) == expected

        await hang_up(base, bot.webhook_key, chunked=False)
        await eventually(lambda: counted(1.0))
        await hang_up(base, bot.webhook_key, chunked=True)
        await eventually(lambda: counted(2.0))

        text = await metrics()
        assert 'tradebot_errors_total{where="webhook_storage"}' not in text, text
        assert 'status="error"' not in text  # never answered as storage unavailable
        gone = [r for r in caplog.records if "disconnected mid-body" in r.getMessage()]
        assert len(gone) == 2 and {r.levelno for r in gone} == {logging.INFO}, gone
        if not handler_cancellation:
            assert f"received=20 of {len(BODY)} bytes" in gone[0].getMessage()
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors == []
        assert "storage unavailable" not in caplog.text
        assert bot.webhook_key[:12] not in caplog.text
        # nothing stored, and the next alert trades as usual
        assert await WebhookLog.all().count() == 0
        async with http.post(
            f"{base}/webhook/{bot.webhook_key}", data=BODY.replace(b"cut-short", b"whole")
        ) as response:
            assert response.status == 200 and (await response.json())["status"] == "executed"
        assert await Order.all().count() == 1
