"""A full run of the product with every kind of secret configured, then a grep of its logs, every
table and every Telegram message for them (issue 6: secrets never leak).

The server runs as its own process at DEBUG level, on the ccxt broker against the fake exchange and
with Telegram through the fake Bot API, and is driven like a real day: signed and unsigned alerts,
wrong passphrases, an exchange failure, chat commands from the owner and from a stranger, the read
API with right and wrong tokens.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

from aiohttp import ClientSession

from tests.fakes.exchange import API_KEY, SECRET, FakeBinance
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.processes import free_port, run_cli
from tests.waiting import answering
from trading.signatures import signed_headers

OWNER = 424242
STRANGER = 999
TELEGRAM_TOKEN = "777000:AAF-telegram-token-secret-xyz"
API_TOKEN = "read-api-token-secret-0123"
WEBHOOK_SECRET = "telegram-webhook-secret-abc"
CCXT_PASSWORD = "ccxt-passphrase-secret-42"
PASSPHRASE = "alert-passphrase-secret-7"

# Columns that hold a secret because they are where it is kept.
STORED_AT = {
    ("trading_bots", "webhook_key"),
    ("trading_bots", "passphrase"),
    ("trading_bots", "hmac_secret"),
    ("users", "totp_secret"),
}


def _rows_with(db: Path, secrets: dict[str, str]) -> list[str]:
    leaks = []
    with sqlite3.connect(db) as connection:
        tables = [
            r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        for table in tables:
            cursor = connection.execute(f'SELECT * FROM "{table}"')
            columns = [d[0] for d in cursor.description]
            for row in cursor:
                for column, value in zip(columns, row, strict=True):
                    if (table, column) in STORED_AT or value is None:
                        continue
                    for name, secret in secrets.items():
                        if secret in str(value):
                            leaks.append(f"{table}.{column} holds the {name}")
    return leaks


async def test_a_full_run_leaks_no_secret(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    db = tmp_path / "tradebot.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBOT_")}
    async with FakeTelegramAPI(max_poll_wait=0.5) as telegram, FakeBinance() as exchange:
        env.update(
            TRADEBOT_DATABASE_URL=f"sqlite://{db}",
            TRADEBOT_HOST="127.0.0.1",
            TRADEBOT_PORT=str(port),
            TRADEBOT_PUBLIC_URL=base,
            TRADEBOT_LOG_LEVEL="DEBUG",
            TRADEBOT_API_TOKEN=API_TOKEN,
            TRADEBOT_TELEGRAM_TOKEN=TELEGRAM_TOKEN,
            TRADEBOT_TELEGRAM_API_URL=telegram.url,
            TRADEBOT_TELEGRAM_ADMINS=str(OWNER),
            TRADEBOT_TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
            TRADEBOT_BROKER="ccxt",
            TRADEBOT_CCXT_EXCHANGE="binance",
            TRADEBOT_CCXT_API_KEY=API_KEY,
            TRADEBOT_CCXT_SECRET=SECRET,
            TRADEBOT_CCXT_PASSWORD=CCXT_PASSWORD,
            TRADEBOT_CCXT_API_URL=exchange.url,
            TRADEBOT_CCXT_OPTIONS='{"recvWindow": 5000}',
        )
        await run_cli(env, tmp_path, "migrate")
        created = json.loads(
            await run_cli(
                env,
                tmp_path,
                "bots",
                "add",
                "--name",
                "tv",
                "--symbol",
                "BTCUSDT",
                "--strategy",
                "signal",
                "--qty",
                "0.01",
                "--direction",
                "both",
                "--passphrase",
                PASSPHRASE,
                "--sign",
                "--json",
            )
        )
        key, hmac_secret = created["webhook_key"], created["hmac_secret"]
        secrets = {
            "Telegram token": TELEGRAM_TOKEN,
            "read-API token": API_TOKEN,
            "Telegram webhook secret": WEBHOOK_SECRET,
            "exchange API key": API_KEY,
            "exchange secret": SECRET,
            "exchange password": CCXT_PASSWORD,
            "alert passphrase": PASSPHRASE,
            "HMAC secret": hmac_secret,
            "webhook key": key,
        }
        log_path = tmp_path / "server.log"
        with log_path.open("wb") as log_file:
            server = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "serve",
                cwd=tmp_path,
                env=env,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
            )
            try:
                async with ClientSession() as http:
                    await answering(http, base, timeout=30)
                    await _drive(http, base, key, hmac_secret, telegram, exchange)
            finally:
                server.send_signal(signal.SIGINT)
                try:
                    await asyncio.wait_for(server.wait(), timeout=20)
                except TimeoutError:
                    server.kill()
                    await server.wait()

        log = log_path.read_text(errors="replace")
        assert "alert executed bot=tv" in log, log[-3000:]  # the run did trade...
        assert "X-MBX-APIKEY" in log  # ...and logged the exchange traffic at DEBUG
        leaks = [name for name, secret in secrets.items() if secret in log]
        assert leaks == [], f"in the server log: {leaks}"
        assert _rows_with(db, secrets) == []
        sent = json.dumps([call.params for call in telegram.calls])
        private = {k: v for k, v in secrets.items() if k != "webhook key"}  # the owner's URL
        assert [name for name, secret in private.items() if secret in sent] == []


async def _drive(
    http: ClientSession,
    base: str,
    key: str,
    hmac_secret: str,
    telegram: FakeTelegramAPI,
    exchange: FakeBinance,
) -> None:
    async def alert(body: dict[str, Any], signed: bool = True, to: str = key) -> int:
        data = json.dumps(body).encode()
        headers = signed_headers(hmac_secret, data) if signed else {}
        async with http.post(f"{base}/webhook/{to}", data=data, headers=headers) as response:
            return response.status

    buy = {"action": "buy", "symbol": "BTCUSDT", "price": "50000", "passphrase": PASSPHRASE}
    assert await alert({**buy, "id": "1"}) == 200
    assert await alert({**buy, "id": "2"}, signed=False) == 401
    assert await alert({**buy, "id": "3", "passphrase": PASSPHRASE[:-1]}) == 401
    assert await alert({**buy, "id": "4"}, to=key + "x") == 401
    assert await alert({**buy, "id": "5", "qty": "-1"}) == 400
    exchange.fail_next("/api/v3/order", "http_502", method="POST")
    assert await alert({**buy, "id": "6"}) in (200, 202)  # an exchange error: reported, no 5xx
    assert await alert({**buy, "action": "close", "id": "7"}) in (200, 202)

    for token, expected in ((API_TOKEN, 200), (API_TOKEN + "x", 401), ("", 401)):
        async with http.get(f"{base}/bots", headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == expected
    async with http.get(f"{base}/metrics") as response:
        assert response.status == 200

    commands = ["/start", "/bots", "/bot tv", "/alerts", "/positions", "/trades", "/balance"]
    commands += ["/health", "/status", "/risk"]
    for text in commands:
        before = len(telegram.sent_messages(OWNER))
        telegram.push_message(OWNER, text)
        await telegram.wait_for(
            "sendMessage", lambda p: p.get("chat_id") == OWNER, count=before + 1, timeout=15
        )
    telegram.push_message(STRANGER, f"/bot tv {PASSPHRASE}")
    await telegram.wait_for("sendMessage", lambda p: p.get("chat_id") == STRANGER, timeout=15)


def test_a_traceback_quoting_a_secret_is_masked_too() -> None:
    import io
    import logging

    from bot.logs import JsonFormatter, SecretMask

    for formatter in (logging.Formatter("%(message)s"), JsonFormatter()):
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        handler.addFilter(SecretMask([TELEGRAM_TOKEN]))
        logger = logging.getLogger(f"test.mask.{type(formatter).__name__}")
        logger.addHandler(handler)
        try:
            raise ConnectionError(f"POST https://api.telegram.org/bot{TELEGRAM_TOKEN}/getMe")
        except ConnectionError:
            logger.exception("telegram unreachable for %s", TELEGRAM_TOKEN)
        finally:
            logger.removeHandler(handler)
        text = stream.getvalue()
        assert "ConnectionError" in text and "/getMe" in text
        assert TELEGRAM_TOKEN not in text
