"""What every `tradebot` command shares: the command group (commands imported only when run, and
every user-facing mistake answered in one line), settings (a bad one is one line, exit 2),
running a coroutine (a `TradingError` is one line), the database (unreachable or not migrated:
one line, and no file created), and the services with it open.

Kept light on purpose: `tradebot --help` imports this module and click, nothing else of ours.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from contextlib import asynccontextmanager, closing, contextmanager
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

if TYPE_CHECKING:
    from rich.console import Console

    from bot.assembly import Assembly
    from bot.config import Settings

T = TypeVar("T")
# Every command answers -h as --help; set on each command too, since click keeps a command's help
# option from its first use (a command run alone, as tests do, would otherwise lose -h).
CLICK_CONTEXT: dict[str, Any] = {"help_option_names": ["-h", "--help"]}
MIGRATE_HINT = "run `tradebot migrate`"


class Mistake(click.ClickException):
    """A mistake the user can fix (a value, a missing step, a busy port): one line, exit 2."""

    exit_code = 2


def __getattr__(name: str) -> Any:
    """`console` (rich) is built on first use, so commands that print no table never import rich."""
    if name == "console":
        from rich.console import Console

        globals()["console"] = Console()
        return globals()["console"]
    raise AttributeError(name)


# ---------------------------------------------------------------- the command group


@dataclass(frozen=True)
class Lazy:
    """A command imported only when it runs: `target` is "module:attribute"; `help` is its
    one-line help as the command itself says it (a test keeps the two equal)."""

    target: str
    help: str

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    def present(self) -> bool:
        return importlib.util.find_spec(self.module) is not None

    def load(self) -> click.Command | None:
        module, _, attribute = self.target.partition(":")
        if not self.present():
            return None
        return getattr(importlib.import_module(module), attribute, None)


class Tradebot(click.Group):
    """The `tradebot` group: commands from `lazy` are imported when invoked (listing them needs
    no import), and every user-facing failure ends as one line on stderr with exit status 2."""

    def __init__(self, *args: Any, lazy: dict[str, Lazy] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("context_settings", CLICK_CONTEXT)
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | {n for n, e in self.lazy.items() if e.present()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            command = self.lazy[cmd_name].load()
            if command is None:
                return None
            self.commands[cmd_name] = command
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            loaded = self.commands.get(name)
            if loaded is not None:
                if not loaded.hidden:
                    rows.append((name, loaded.get_short_help_str(limit)))
            else:
                stand_in = click.Command(name, help=self.lazy[name].help)  # as it would show
                rows.append((name, stand_in.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> None:
        super().invoke(ctx)  # a command's return value is not an exit status

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> Any:
        if not extra.pop("standalone_mode", True):
            return super().main(args, prog_name, standalone_mode=False, **extra)
        try:
            status = super().main(args, prog_name, standalone_mode=False, **extra)
        except click.UsageError as exc:
            _fail(_usage_line(exc), 2)
        except click.ClickException as exc:
            _fail(f"Error: {exc.format_message()}", exc.exit_code)
        except (click.Abort, KeyboardInterrupt):
            _fail("Aborted!", 1)
        except Exception as exc:
            line = user_facing(exc)
            if line is None:
                raise
            _fail(f"Error: {line}", 2)
        sys.exit(status if isinstance(status, int) else 0)


def _fail(line: str, status: int) -> NoReturn:
    click.echo(line, err=True)
    sys.exit(status)


def _usage_line(exc: click.UsageError) -> str:
    """click's usage error (usage, hint, blank line, error) as one line naming the mistake."""
    message = " ".join(exc.format_message().split())
    if exc.ctx is None:
        return f"Error: {message}"
    names = exc.ctx.help_option_names or ["--help"]
    stop = "" if message.endswith((".", "!", "?")) else "."
    return f"Error: {message}{stop} Try '{exc.ctx.command_path} {names[0]}'."


def user_facing(exc: BaseException) -> str | None:
    """The one line for a failure of the user's environment that no command caught (a file that
    cannot be read, a text file that is not UTF-8); None for anything else: a defect, which keeps
    its traceback."""
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text ({exc.reason} at byte {exc.start}): save the file as UTF-8"
    if isinstance(exc, OSError) and exc.filename is not None:  # a file or folder of the user's
        return os_reason(exc)
    return None  # a timeout or a dropped connection no command caught is a defect: traceback


def os_reason(exc: OSError) -> str:
    import socket

    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    text = (
        os.strerror(exc.errno) if exc.errno and exc.errno > 0 else (str(exc) or type(exc).__name__)
    )
    return f"{exc.filename}: {text}" if exc.filename else text


# ---------------------------------------------------------------- settings and coroutines


def settings_or_exit() -> Settings:
    from bot.config import ConfigError, load_settings

    try:
        return load_settings()
    except ConfigError as exc:
        click.echo(f"config error: {exc}", err=True)
        sys.exit(2)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; a refusal of the core is one line: exit 2 when it is the user's
    mistake (no such bot, a bad value), 1 when the world refused (the broker, a closed market)."""
    import asyncio

    from trading.errors import InvalidRequest, NotFound, TradingError

    try:
        return asyncio.run(coro)
    except (NotFound, InvalidRequest) as exc:
        raise Mistake(exc.user_message) from None
    except TradingError as exc:
        raise click.ClickException(exc.user_message) from None


# ---------------------------------------------------------------- the database


def shown_url(url: str) -> str:
    """The database URL without its password or query string, fit to print."""
    return re.sub(r"://([^:/@]*):[^@/]*@", r"://\1:***@", url.split("?")[0])


def _sqlite_path(url: str) -> Path | None:
    from tortoise.backends.base.config_generator import expand_db_url

    path = expand_db_url(url)["credentials"]["file_path"]
    return None if path == ":memory:" else Path(path)


def _migration_files(url: str) -> set[str]:
    from db.config import migrations_location

    return {p.name for p in (Path(migrations_location(url)) / "models").glob("*.py")}


def _require_migrated(url: str, applied: set[str]) -> None:
    pending = _migration_files(url) - applied
    if not applied:
        raise Mistake(f"database not migrated: {MIGRATE_HINT} ({shown_url(url)})")
    if pending:
        raise Mistake(
            f"database {shown_url(url)} lacks {len(pending)} migration(s) of this version: "
            f"{MIGRATE_HINT}"
        )


def _sqlite_applied(path: Path) -> set[str]:
    """The migrations an SQLite file has, read without creating it (or anything beside it)."""
    import sqlite3

    if not path.is_file():
        return set()
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT version FROM aerich WHERE app = 'models'").fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return set()
        raise Mistake(f"TRADEBOT_DATABASE_URL: cannot open {path}: {exc}") from None
    except sqlite3.DatabaseError as exc:  # not a database at all
        raise Mistake(f"TRADEBOT_DATABASE_URL: {path}: {exc}") from None
    return {row[0] for row in rows}


@contextmanager
def unreachable(url: str, doing: str = "open") -> Iterator[None]:
    """A database that cannot be opened (refused, unknown host, bad password, a folder that
    cannot be created) or migrated (`doing="migrate"`: the migration's SQL failed on it) as one
    line naming TRADEBOT_DATABASE_URL."""
    try:
        yield
    except Mistake:
        raise
    except OSError as exc:  # refused, unknown host, timeout, Tortoise's DBConnectionError, mkdir
        raise Mistake(
            f"TRADEBOT_DATABASE_URL: cannot {doing} {shown_url(url)}: {os_reason(exc)}"
        ) from None
    except Exception as exc:
        if not _is_driver_error(exc):
            raise
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise Mistake(f"TRADEBOT_DATABASE_URL: cannot {doing} {shown_url(url)}: {reason}") from None


def _is_driver_error(exc: Exception) -> bool:
    """asyncpg's and sqlite's refusals (a bad password, an unknown database, a read-only file)."""
    import sqlite3

    from tortoise.exceptions import DBConnectionError, OperationalError

    module = type(exc).__module__
    return isinstance(
        exc, DBConnectionError | OperationalError | sqlite3.Error
    ) or module.startswith("asyncpg")


async def migrate_database(url: str) -> list[str]:
    """Apply the migrations not applied yet; the versions applied now."""
    from db.migrate import upgrade

    path = _sqlite_path(url) if url.startswith("sqlite://") else None
    if path is not None:
        blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            raise Mistake(
                f"TRADEBOT_DATABASE_URL: cannot create {shown_url(url)}: {blocker} is a file, "
                "not a folder"
            )
    with unreachable(url, doing="migrate"):
        return await upgrade(url)


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[None]:
    """The database open, after checking it is migrated: a file that does not exist is not
    created (`tradebot migrate` creates it), and a server that does not answer is one line."""
    from tortoise import Tortoise

    from db.config import tortoise_config

    url = settings.database_url
    path = _sqlite_path(url) if settings.is_sqlite else None
    if path is not None:  # checked before Tortoise, which would create the file
        _require_migrated(url, _sqlite_applied(path))
    try:
        with unreachable(url):
            await Tortoise.init(config=tortoise_config(url))
            if not settings.is_sqlite:
                _require_migrated(url, await _server_applied())
        yield
    finally:
        await Tortoise.close_connections()


async def _server_applied() -> set[str]:
    from tortoise import Tortoise
    from tortoise.exceptions import OperationalError

    connection = Tortoise.get_connection("default")
    try:
        _, rows = await connection.execute_query("SELECT version FROM aerich WHERE app = 'models'")
    except OperationalError as exc:
        if "aerich" in str(exc) and ("does not exist" in str(exc) or "no such" in str(exc)):
            return set()
        raise
    return {row["version"] for row in rows}


@asynccontextmanager
async def opened(assembly: Assembly) -> AsyncIterator[Assembly]:
    """The services with the database open. The broker is built on first use (a command that
    trades, like `close`), and closed if it was built, before the database (a paper broker
    writes its account there). The equity samples of any fills are written before it closes."""
    async with database(assembly.settings):
        try:
            yield assembly
            await assembly.equity.drain()  # a command that traded: its equity sample is written
        finally:
            await assembly.broker.close()


def with_services(func: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    """Run an async command body with the services every front end shares (the chat and the
    read API call the same ones) and the database open; changes are audited as `cli`."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        from bot.assembly import assemble

        settings = settings_or_exit()

        async def body() -> T:
            async with opened(assemble(settings, defer_broker=True)) as services:
                return await func(services, *args, **kwargs)

        return run(body())

    return wrapper


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


console: Console  # built on first use (module __getattr__)
