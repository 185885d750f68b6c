"""`tradebot` command line. Every mistake is one line naming it, exit status 2 (`Tradebot` in
bot/cli_common.py); a command's module is imported only when the command runs, so `tradebot -h`
imports click and this module, not the trading stack."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import sys
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import click

from bot.cli_common import (
    Lazy,
    Mistake,
    Tradebot,
    database,
    migrate_database,
    run,
    settings_or_exit,
    shown_url,
)

if TYPE_CHECKING:
    from bot.assembly import Assembly
    from bot.config import Settings
    from trading.bots import BotConfig

# Each command's one-line help as the command states it (tests/test_first_minutes.py keeps them
# equal), so listing the commands imports none of them.
COMMANDS = {
    "alert": Lazy(
        "bot.cli_alert:alert",
        "Send a test alert to a webhook URL, or to this server by bot name or key.",
    ),
    "alerts": Lazy("bot.cli_alert:alerts", "The webhook log: the latest alerts and their answers."),
    "backtest": Lazy(
        "bot.cli_backtest:backtest",
        "Replay a CSV of bars through a strategy with the live position rules.",
    ),
    "bots": Lazy("bot.cli_bots:bots", "List, create and manage trading bots."),
    "chat": Lazy("bot.cli_chat:chat", "Try the Telegram control surface offline, in the terminal."),
    "close": Lazy("bot.cli_positions:close", "Close a position at market, by bot name or id."),
    "closeall": Lazy("bot.cli_positions:closeall", "Close every open position at market."),
    "data": Lazy("bot.cli_data:data", "Market data for backtests."),
    "db": Lazy("bot.cli_db:db", "Database tools: copy every row to another database."),
    "login-link": Lazy(
        "bot.cli_dashboard:login_link",
        "Print a one-time sign-in link to the dashboard (10 minutes).",
    ),
    "optimize": Lazy(
        "bot.cli_optimize:optimize",
        "Search a strategy's parameters on a CSV of bars, with walk-forward.",
    ),
    "pnl": Lazy(
        "bot.cli_figures:pnl",
        "PnL, equity and drawdown per period; performance per bot and symbol.",
    ),
    "positions": Lazy("bot.cli_positions:positions", "Open positions."),
    "resume": Lazy("bot.cli_risk:resume", "Lift the kill switch: entries allowed again."),
    "risk": Lazy(
        "bot.cli_risk:risk", "Risk rules: see them with their current values, or set them."
    ),
    "stopentry": Lazy(
        "bot.cli_risk:stopentry", "Kill switch: no new entries on any bot; exits go on."
    ),
    "trades": Lazy("bot.cli_positions:trades", "Closed trades, newest first."),
}

EXAMPLES = """\b
Examples:
  tradebot migrate && tradebot serve    # on http://127.0.0.1:8080
  tradebot bots add --name swing --symbol ETHUSDT --qty 0.1 --sl 2%
  tradebot positions --json
  tradebot chat                         # the Telegram chat, offline
  tradebot backtest --strategy rsi --csv samples/synthetic_btcusdt_1h.csv
  tradebot serve -h                     # every command has -h

Settings come from TRADEBOT_* variables or a .env file: see .env.example."""


@click.group(cls=Tradebot, lazy=COMMANDS, epilog=EXAMPLES)
@click.version_option(package_name="tradebot", prog_name="tradebot", message="%(prog)s %(version)s")
def main() -> None:
    """Tradebot: TradingView alerts in, trades out, every trade reported in Telegram."""


# ---------------------------------------------------------------- migrate


@main.command(
    epilog="""\b
Examples:
  tradebot migrate
  TRADEBOT_DATABASE_URL=postgres://tradebot:secret@127.0.0.1:5432/tradebot tradebot migrate"""
)
def migrate() -> None:
    """Apply database migrations (safe to run twice)."""
    settings = settings_or_exit()
    applied = run(migrate_database(settings.database_url))
    if applied:
        click.echo(f"applied {len(applied)} migration(s): {', '.join(applied)}")
    else:
        click.echo("database is up to date")


# ---------------------------------------------------------------- listening


def listen(host: str, port: int) -> list[socket.socket]:
    """Bound sockets for every address of `host` (the server listens on them), so a busy port or
    an unknown host is one line before anything starts or is printed."""
    try:
        addresses = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise Mistake(f"TRADEBOT_HOST: cannot resolve {host!r} ({exc.strerror})") from None
    sockets: list[socket.socket] = []
    failures: list[OSError] = []
    for family, kind, proto, _, address in dict.fromkeys(addresses):
        try:
            sock = socket.socket(family, kind, proto)
        except OSError as exc:
            failures.append(exc)
            continue
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp does
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            sock.close()
            failures.append(exc)
            continue
        sockets.append(sock)
    # An address family this machine lacks (::1 without IPv6) does not matter if another binds.
    serious = [f for f in failures if f.errno not in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT)]
    if sockets and not serious:
        return sockets
    for sock in sockets:
        sock.close()
    raise Mistake(_bind_failure(host, port, (serious or failures)[0]))


def _bind_failure(host: str, port: int, exc: OSError) -> str:
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"TRADEBOT_PORT: {where} is already in use (another tradebot?): stop that process "
            "or set TRADEBOT_PORT to a free port"
        )
    if exc.errno == errno.EACCES:
        return (
            f"TRADEBOT_PORT: {port} needs root (ports below 1024): use 8080 behind a reverse proxy"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"TRADEBOT_HOST: {host} is not an address of this machine"
    return f"TRADEBOT_HOST/TRADEBOT_PORT: cannot listen on {where} ({exc.strerror})"


def shown_address(sock: socket.socket) -> str:
    """`http://127.0.0.1:8080`, or `0.0.0.0:8080 (all interfaces)`."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):
        return f"{shown}:{port} (all interfaces)"
    return f"http://{shown}:{port}"


# ---------------------------------------------------------------- serve


async def _first_start(assembly: Assembly) -> BotConfig | None:
    """On an empty database, create the `demo` bot so there is something to send alerts to.

    Under the lock migrations take (`db.migrate.setup_lock`): of several processes started at
    once on an empty database, the first creates it and the others find it there (None)."""
    from bot.cli_common import unreachable
    from db.migrate import setup_lock
    from trading.access import SYSTEM
    from trading.bots import BotSpec

    async with AsyncExitStack() as held:
        with unreachable(assembly.settings.database_url):  # gone since it was migrated
            await held.enter_async_context(setup_lock(assembly.settings.database_url))
        await held.enter_async_context(database(assembly.settings))
        if await assembly.control.has_bots():
            return None
        spec = BotSpec(
            name="demo",
            symbols=["BTCUSDT"],
            strategy="signal",
            size="0.001",
            direction="both",
            max_entries=3,
        )
        return await assembly.control.create_bot(SYSTEM, spec, why="first start")


@main.command(
    epilog="""\b
Examples:
  tradebot serve                        on http://127.0.0.1:8080, this machine only
  TRADEBOT_PORT=9000 tradebot serve
  TRADEBOT_HOST=0.0.0.0 tradebot serve  every interface (e.g. behind a proxy on another host)
  tradebot serve --no-monitor           with `tradebot monitor` run as its own service"""
)
@click.option("--no-monitor", is_flag=True, help="Do not run the position monitor in this process.")
def serve(no_monitor: bool) -> None:
    """Start the server: webhooks, API, health, Telegram and the monitor."""
    settings = settings_or_exit()
    if no_monitor:
        settings = settings.model_copy(update={"monitor_enabled": False})
    # In this order, so that a mistake stops it before anything is created: the address, the
    # broker settings (building the app builds the broker), then the database.
    sockets = listen(settings.host, settings.port)
    try:
        _serve(settings, sockets)
    finally:
        for sock in sockets:
            sock.close()


def _tradebot_here() -> str:
    """How to call this command from here: `tradebot` when it is on the PATH, else the path
    it was started by (`.venv/bin/tradebot` after `make run`)."""
    started = sys.argv[0]
    if os.path.basename(started) != "tradebot":  # python -m bot
        return "tradebot"
    on_path = shutil.which("tradebot")
    if on_path and os.path.realpath(on_path) == os.path.realpath(started):
        return "tradebot"
    here = os.path.relpath(started)
    return os.path.abspath(started) if here.startswith("..") else here


def _serve(settings: Settings, sockets: list[socket.socket]) -> None:
    from aiohttp import web

    from bot.app import create_app
    from bot.logs import setup_logging
    from bot.resources import ASSEMBLY
    from trading.errors import TradingError
    from trading.templates import alert_kind, alert_template

    try:
        app = create_app(settings)
    except TradingError as exc:  # e.g. TRADEBOT_CCXT_EXCHANGE unknown
        raise Mistake(exc.user_message) from None
    run(migrate_database(settings.database_url))
    setup_logging(settings)  # after the checks: a mistake is one line, with no log before it
    # The demo bot trades on paper: a real exchange gets only the bots its owner creates.
    demo = run(_first_start(app[ASSEMBLY])) if settings.broker == "paper" else None
    base = settings.base_url()
    where = ", ".join(shown_address(sock) for sock in sockets)
    click.echo(
        f"Tradebot listening on {where}; database {shown_url(settings.database_url)}, "
        f"broker {settings.broker}"
    )
    click.echo(
        f"Dashboard: {base}/app (sign in with the link `{_tradebot_here()} login-link` prints, "
        "or /app in the chat)"
    )
    if not settings.telegram_enabled:
        click.echo(
            "Telegram is off: set TRADEBOT_TELEGRAM_TOKEN (and TRADEBOT_TELEGRAM_ADMINS) "
            "to control the bot from a chat, or try it offline with `tradebot chat`."
        )
    if demo is not None:
        click.echo(
            f"\nCreated bot 'demo' (BTCUSDT, signal strategy, 0.001 per order).\n"
            f"Webhook URL:  {base}/webhook/{demo.webhook_key}\n"
            f"{alert_kind(demo)}\n"
            f"TradingView alert message to paste:\n{alert_template(demo)}\n"
            f"Try it:  {_tradebot_here()} alert demo --action buy --symbol BTCUSDT "
            f"--price 65000\n"
        )
    if not settings.public_url:
        click.echo(
            "TradingView must reach this server on port 80/443: set TRADEBOT_PUBLIC_URL "
            "and put a reverse proxy in front (see deploy/README.md)."
        )
    if not settings.monitor_enabled:
        click.echo("Position monitor off in this process: run `tradebot monitor` beside it.")
        polls = settings.telegram_enabled and settings.telegram_mode == "polling"
        if polls and not settings.database_url.startswith("sqlite://"):
            click.echo(
                "Telegram polling runs in the leader, and `serve --no-monitor` never leads (nor "
                "does a `tradebot monitor` leader poll): run a plain `tradebot serve` beside it, "
                "or set TRADEBOT_TELEGRAM_MODE=webhook."
            )
    app.on_startup.append(_freeze_heap)
    web.run_app(app, sock=sockets, print=None, access_log=None)


async def _freeze_heap(_app: object) -> None:
    """Once everything is loaded, leave the long-lived objects (about 250,000: aiogram's and
    pydantic's schemas, Tortoise's models) out of the garbage collector's full passes. Each
    pass over them stopped the server for 100-190 ms under load; `docs/benchmarks.md`."""
    import gc

    gc.collect()
    gc.freeze()


# ---------------------------------------------------------------- monitor


@main.command(
    epilog="""\b
Examples:
  tradebot serve --no-monitor               the web process, without a monitor
  TRADEBOT_PORT=8081 tradebot monitor       the monitor beside it (/health on port 8081)"""
)
def monitor() -> None:
    """Run the position monitor alone, beside `tradebot serve --no-monitor`.

    Prices come from the instruments table the web processes write (every
    TRADEBOT_MONITOR_INTERVAL seconds) and from the broker's tickers; /health and /metrics are
    served on TRADEBOT_HOST:TRADEBOT_PORT."""
    settings = settings_or_exit().model_copy(update={"monitor_enabled": True})
    sockets = listen(settings.host, settings.port)
    try:
        _monitor(settings, sockets)
    finally:
        for sock in sockets:
            sock.close()


def _monitor(settings: Settings, sockets: list[socket.socket]) -> None:
    from bot.logs import setup_logging
    from bot.monitor_runtime import create_monitor_app, run_monitor
    from trading.errors import TradingError

    try:  # a bad broker or price-feed setting: one line naming it, before anything is done
        app = create_monitor_app(settings)
    except TradingError as exc:
        raise Mistake(exc.user_message) from None
    where = ", ".join(shown_address(sock) for sock in sockets)
    run(migrate_database(settings.database_url))
    setup_logging(settings)  # after the checks: a mistake is one line, with no log before it
    click.echo(
        f"Tradebot monitor listening on {where} (/health, /metrics); database "
        f"{shown_url(settings.database_url)}, broker {settings.broker}, prices every "
        f"{settings.monitor_interval:g} s, stale after {settings.price_max_age:g} s"
    )
    run_monitor(settings, app, sockets)


if __name__ == "__main__":
    main()
