"""The world the tests run in: a migrated SQLite file per test, the real app on a real aiohttp
server on 127.0.0.1, a fake Telegram Bot API when a test wants one, and helpers that send what
TradingView sends."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse, ClientSession
from aiohttp.test_utils import TestServer

from bot.app import create_app
from bot.config import Settings
from db.migrate import upgrade
from db.stores import sql_stores
from tests.fakes.telegram_api import FakeTelegramAPI
from trading.bots import BotConfig, BotSpec
from trading.brokers.base import BaseBroker

API_TOKEN = "test-api-token-123456"
OWNER_ID = 111


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated database per session; each test gets a copy (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "tradebot.sqlite3"
    asyncio.run(upgrade(f"sqlite://{path}"))
    return path


@pytest.fixture
def db_url(tmp_path: Path, template_db: Path) -> str:
    target = tmp_path / "tradebot.sqlite3"
    shutil.copy(template_db, target)
    return f"sqlite://{target}"


@pytest.fixture
def make_settings(db_url: str) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": db_url,
            "api_token": API_TOKEN,
            "telegram_token": "",
            "public_url": "https://bot.example.com",
            # replays post hundreds of bars from one address; the limit has its own test
            "webhook_rate_per_key": 1e6,
            "webhook_burst_per_key": 1e6,
            "webhook_rate_per_ip": 1e6,
            "webhook_burst_per_ip": 1e6,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return build


@dataclass
class World:
    """A running product and ways to poke it like a trader would."""

    server: TestServer
    http: ClientSession
    settings: Settings
    telegram: FakeTelegramAPI | None = None
    bots: dict[str, BotConfig] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def add_bot(self, name: str = "demo", **spec: Any) -> BotConfig:
        values: dict[str, Any] = {
            "strategy": "signal",
            "symbols": ["BTCUSDT"],
            "size": "1",
            "direction": "both",
            "max_entries": 3,
            "max_alerts_per_minute": 0,  # replays send hundreds; the cap has its own tests
        }
        values.update(spec)
        bot = await sql_stores().bots.create_bot(BotSpec(name=name, **values))
        self.bots[name] = bot
        return bot

    async def post(
        self, key: str, body: str | bytes, content_type: str | None = "text/plain; charset=utf-8"
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Content-Type": content_type} if content_type else {}
        data = body.encode() if isinstance(body, str) else body
        async with self.http.post(self.url(f"/webhook/{key}"), data=data, headers=headers) as r:
            return r.status, await _json(r)

    async def send_alert(
        self,
        bot: str | BotConfig = "demo",
        content_type: str | None = "text/plain; charset=utf-8",
        **fields: Any,
    ) -> tuple[int, dict[str, Any]]:
        """Post an alert as TradingView does: JSON text with every value a string."""
        target = self.bots[bot] if isinstance(bot, str) else bot
        fields.setdefault("symbol", "BTCUSDT")
        body = json.dumps({k: v if isinstance(v, str) else str(v) for k, v in fields.items()})
        return await self.post(target.webhook_key, body, content_type)

    async def get(self, path: str, token: str | None = API_TOKEN) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.get(self.url(path), headers=headers) as response:
            return response.status, await _json(response)


async def _json(response: ClientResponse) -> Any:
    text = await response.text()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return {"_text": text}


@pytest.fixture
async def start_world(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[Callable[..., Any]]:
    """Start the product: `await start_world(telegram=True, broker=..., **settings)`."""
    started: list[tuple[TestServer, ClientSession, FakeTelegramAPI | None]] = []

    async def start(
        *, telegram: bool = False, broker: BaseBroker | None = None, **overrides: Any
    ) -> World:
        fake = None
        if telegram:
            fake = FakeTelegramAPI(max_poll_wait=0.5)
            await fake.start()
            overrides.setdefault("telegram_token", "42:TEST-TOKEN-abcdef")
            overrides.setdefault("telegram_api_url", fake.url)
            overrides.setdefault("telegram_admins", [OWNER_ID])
        settings = make_settings(**overrides)
        server = TestServer(create_app(settings, broker=broker), host="127.0.0.1")
        await server.start_server()
        http = ClientSession()
        started.append((server, http, fake))
        return World(server=server, http=http, settings=settings, telegram=fake)

    yield start
    for server, http, fake in reversed(started):
        await http.close()
        await server.close()
        if fake is not None:
            await fake.stop()


@pytest.fixture
async def world(start_world: Callable[..., Any]) -> World:
    """The product on the embedded default, with a `demo` bot trading BTCUSDT, size 1."""
    w: World = await start_world()
    await w.add_bot("demo")
    return w


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Any]:
    """`tradebot ARGS…` in this process (click's runner) on the test's database:
    `code, output = cli("risk", "show")`."""
    from click.testing import CliRunner

    from bot.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRADEBOT_DATABASE_URL", db_url)
    monkeypatch.setenv("TRADEBOT_PUBLIC_URL", "https://bot.example.com")
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        return result.exit_code, result.output

    return run
