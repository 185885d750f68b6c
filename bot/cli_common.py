"""What every `tradebot` command shares: settings (a bad one is one line, exit 2), running a
coroutine (a `TradingError` is one line), the database, and the services with it open."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from functools import wraps
from typing import Any, TypeVar

import click
from rich.console import Console
from tortoise import Tortoise

from bot.assembly import Assembly, assemble
from bot.config import ConfigError, Settings, load_settings
from db.config import tortoise_config
from trading.errors import TradingError

T = TypeVar("T")
console = Console()


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        click.echo(f"config error: {exc}", err=True)
        sys.exit(2)


def run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except TradingError as exc:
        raise click.ClickException(exc.user_message) from None


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[None]:
    await Tortoise.init(config=tortoise_config(settings.database_url))
    try:
        yield
    finally:
        await Tortoise.close_connections()


@asynccontextmanager
async def opened(assembly: Assembly) -> AsyncIterator[Assembly]:
    """The services with the database open. The broker is built on first use, never started (no
    command here trades), and closed if it was built."""
    try:
        async with database(assembly.settings):
            yield assembly
    finally:
        await assembly.broker.close()


def with_services(func: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    """Run an async command body with the services every front end shares (the chat and the
    read API call the same ones) and the database open; changes are audited as `cli`."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        settings = settings_or_exit()

        async def body() -> T:
            async with opened(assemble(settings, defer_broker=True)) as services:
                return await func(services, *args, **kwargs)

        return run(body())

    return wrapper


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))
