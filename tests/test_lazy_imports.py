"""What a running server does not use, it does not import.

aiogram costs ~120 MB resident (its Bot API types), TA-Lib pulls in pandas when pandas is
installed, ccxt and matplotlib are large too (`docs/benchmarks.md`, "Idle memory"). Each test
runs this file as its own fresh process (`python -m tests.test_lazy_imports KIND`): it loads the
`tradebot` command line, starts the real app on 127.0.0.1 with a migrated SQLite database and
the paper broker, opens a position through a webhook (or just serves /health), and prints which
modules it has loaded. An eager import of any of them anywhere on that path fails the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Nobody using the paper broker, webhook bots and no Telegram needs these.
UNUSED = ("aiogram", "matplotlib", "ccxt", "talib", "pandas")
# Loaded by any server: proof that the probe sees what the process imported.
USED = ("aiohttp", "tortoise", "prometheus_client", "bot.app")
PROBE_DEADLINE = 120.0  # seconds for the whole child process (Python start-up included)


def run_probe(kind: str, tmp_path: Path) -> dict[str, bool]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBOT_")}
    done = subprocess.run(
        [sys.executable, "-m", "tests.test_lazy_imports", kind, str(tmp_path / "t.sqlite3")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=PROBE_DEADLINE,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    loaded: dict[str, bool] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize("kind", ["serve", "monitor"])
def test_without_telegram_no_chat_charts_exchange_or_talib_is_imported(
    kind: str, tmp_path: Path
) -> None:
    loaded = run_probe(kind, tmp_path)
    assert {m: loaded[m] for m in USED} == dict.fromkeys(USED, True)
    assert [m for m in UNUSED if loaded[m]] == []


def test_with_telegram_on_aiogram_is_imported_and_the_rest_still_is_not(tmp_path: Path) -> None:
    loaded = run_probe("serve-telegram", tmp_path)
    assert loaded["aiogram"] and loaded["handlers.telegram.dispatcher"]
    assert [m for m in UNUSED if m != "aiogram" and loaded[m]] == []


# ---------------------------------------------------------------- the child process


async def probe(kind: str, database: str) -> dict[str, bool]:
    from aiohttp import ClientSession, web

    import bot.cli  # noqa: F401 - what the `tradebot` entry point loads before any command
    from bot.app import create_app
    from bot.config import Settings
    from bot.monitor_runtime import create_monitor_app
    from db.migrate import upgrade

    url = f"sqlite://{database}"
    await upgrade(url)
    values: dict[str, object] = {"database_url": url, "api_token": "probe-token-0123456789"}
    fake = None
    if kind == "serve-telegram":
        from tests.fakes.telegram_api import FakeTelegramAPI

        fake = FakeTelegramAPI(max_poll_wait=0.5)
        await fake.start()
        values.update(telegram_token="42:TEST-TOKEN-abcdef", telegram_api_url=fake.url)
    settings = Settings(_env_file=None, **values)  # type: ignore[arg-type]
    app = create_monitor_app(settings) if kind == "monitor" else create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with ClientSession() as http:
            if kind != "monitor":  # a webhook bot, and a position opened by its alert
                from db.stores import sql_stores
                from trading.bots import BotSpec

                spec = BotSpec(name="probe", symbols=["BTCUSDT"], strategy="signal", size="0.01")
                made = await sql_stores().bots.create_bot(spec)
                alert = {"action": "buy", "symbol": "BTCUSDT", "price": "65000"}
                async with http.post(f"{base}/webhook/{made.webhook_key}", json=alert) as r:
                    answer = await r.json()
                    assert r.status == 200 and answer["status"] == "executed", answer
            async with http.get(f"{base}/health") as r:
                assert r.status in (200, 503), await r.text()
    finally:
        await runner.cleanup()
        if fake is not None:
            await fake.stop()
    names = (*UNUSED, *USED, "handlers.telegram.dispatcher")
    return {name: name in sys.modules for name in names}


if __name__ == "__main__":
    import asyncio

    print(json.dumps(asyncio.run(probe(sys.argv[1], sys.argv[2]))))
