"""`tradebot` command line (SPEC §2). Every bad option is one line naming it, exit code 2."""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar

import click
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from tortoise import Tortoise

from bot.assembly import Assembly, assemble
from bot.cli_backtest import backtest
from bot.cli_figures import pnl_command
from bot.cli_options import bad_parameter, key_values
from bot.cli_risk import risk_commands
from bot.config import ConfigError, Settings, load_settings
from bot.logs import setup_logging
from db.config import tortoise_config
from trading.access import CLI, SYSTEM
from trading.bots import BotConfig, BotSpec
from trading.errors import TradingError
from trading.signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER, new_hmac_secret, signed_headers
from trading.templates import alert_template
from trading.views import plain

T = TypeVar("T")
console = Console()


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        click.echo(f"config error: {exc}", err=True)
        sys.exit(2)


def _run(coro: Coroutine[Any, Any, T]) -> T:
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
        settings = _settings()

        async def body() -> T:
            async with opened(assemble(settings, defer_broker=True)) as services:
                return await func(services, *args, **kwargs)

        return _run(body())

    return wrapper


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@click.group()
def main() -> None:
    """Tradebot: TradingView alerts in, trades out, every trade reported in Telegram."""


# ---------------------------------------------------------------- serve / migrate


async def _migrate(settings: Settings) -> list[str]:
    from db.migrate import upgrade

    return await upgrade(settings.database_url)


@main.command()
def migrate() -> None:
    """Apply database migrations (safe to run twice)."""
    settings = _settings()
    applied = _run(_migrate(settings))
    if applied:
        click.echo(f"applied {len(applied)} migration(s): {', '.join(applied)}")
    else:
        click.echo("database is up to date")


async def _first_start(assembly: Assembly) -> BotConfig | None:
    """On an empty database, create the `demo` bot so there is something to send alerts to."""
    async with database(assembly.settings):
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


@main.command()
@click.option("--no-monitor", is_flag=True, help="Do not run the position monitor in this process.")
def serve(no_monitor: bool) -> None:
    """Start the web server (webhooks, API, health), Telegram and the monitor."""
    from aiohttp import web

    from bot.app import create_app
    from bot.resources import ASSEMBLY

    settings = _settings()
    setup_logging(settings)
    if no_monitor:
        settings = settings.model_copy(update={"monitor_enabled": False})
    _run(_migrate(settings))
    try:
        app = create_app(settings)
    except TradingError as exc:  # e.g. TRADEBOT_CCXT_EXCHANGE unknown: one line, no traceback
        raise click.ClickException(exc.user_message) from None
    demo = _run(_first_start(app[ASSEMBLY]))
    base = settings.base_url()
    click.echo(
        f"Tradebot on {base}  (database {settings.database_url.split('?')[0]}, "
        f"broker {settings.broker})"
    )
    if not settings.telegram_enabled:
        click.echo(
            "Telegram is off: set TRADEBOT_TELEGRAM_TOKEN (and TRADEBOT_TELEGRAM_ADMINS) "
            "to control the bot from a chat."
        )
    if demo is not None:
        click.echo(
            f"\nCreated bot 'demo' (BTCUSDT, signal strategy, 0.001 per order).\n"
            f"Webhook URL:  {base}/webhook/{demo.webhook_key}\n"
            f"TradingView alert message to paste:\n{alert_template(demo)}\n"
            f"Try it:  tradebot alert {demo.webhook_key} --action buy --symbol BTCUSDT "
            f"--price 65000\n"
        )
    if not settings.public_url:
        click.echo(
            "TradingView must reach this server on port 80/443: set TRADEBOT_PUBLIC_URL "
            "and put a reverse proxy in front (see deploy/README.md)."
        )
    if not settings.monitor_enabled:
        click.echo("Position monitor off in this process: run `tradebot monitor` beside it.")
    app.on_startup.append(_freeze_heap)
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)


async def _freeze_heap(_app: object) -> None:
    """Once everything is loaded, leave the long-lived objects (about 250,000: aiogram's and
    pydantic's schemas, Tortoise's models) out of the garbage collector's full passes. Each
    pass over them stopped the server for 100-190 ms under load; `docs/benchmarks.md`."""
    gc.collect()
    gc.freeze()


@main.command()
def monitor() -> None:
    """Run the position monitor alone (run the web servers with `serve --no-monitor`).

    Prices come from the instruments table the web processes write (every
    TRADEBOT_MONITOR_INTERVAL seconds) and from the broker's tickers; /health and /metrics are
    served on TRADEBOT_HOST:TRADEBOT_PORT."""
    from bot.monitor_runtime import run_monitor

    settings = _settings()
    setup_logging(settings)
    _run(_migrate(settings))
    click.echo(
        f"Tradebot monitor on {settings.base_url()}/health  (database "
        f"{settings.database_url.split('?')[0]}, broker {settings.broker}, prices every "
        f"{settings.monitor_interval:g} s, stale after {settings.price_max_age:g} s)"
    )
    run_monitor(settings.model_copy(update={"monitor_enabled": True}))


# ---------------------------------------------------------------- bots


@main.group()
def bots() -> None:
    """List, create and manage trading bots."""


def _bot_dict(services: Assembly, bot: BotConfig) -> dict[str, Any]:
    return services.control.view(bot).model_dump(mode="json")


def _show_bot(
    services: Assembly,
    bot: BotConfig,
    as_json: bool,
    with_key: bool = False,
    with_hmac: bool = False,
) -> None:
    data = _bot_dict(services, bot)
    if with_key:
        data["webhook_key"] = bot.webhook_key
    if with_hmac and bot.hmac_secret:  # shown once, when it is made
        data["hmac_secret"] = bot.hmac_secret
    if as_json:
        _print_json(data)
        return
    table = Table(show_header=False, box=None)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in data.items():
        table.add_row(
            f"[bold]{key}[/]", ", ".join(value) if isinstance(value, list) else str(value)
        )
    console.print(table)


@bots.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_services
async def bots_list(services: Assembly, as_json: bool) -> None:
    """All bots."""
    items = [view.model_dump(mode="json") for view in await services.control.bot_views()]
    if as_json:
        _print_json(items)
        return
    table = Table("id", "name", "symbols", "strategy", "size", "direction", "entries", "paused")
    for item in items:
        table.add_row(
            str(item["id"]),
            item["name"],
            ",".join(item["symbols"]),
            item["strategy"],
            item["size"],
            item["direction"],
            str(item["max_entries"]),
            "yes" if item["paused"] else "no",
        )
    console.print(table)


@bots.command("add")
@click.option("--name", required=True, help="Bot name: letters, digits, - and _.")
@click.option(
    "--symbol",
    "symbols",
    required=True,
    multiple=True,
    help="Ticker, e.g. BTCUSDT; repeat for more.",
)
@click.option(
    "--strategy",
    default="rsi",
    show_default=True,
    help="signal (do what alerts say), rsi, ma_cross, macd or bollinger.",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    help="Strategy parameter key=value (e.g. oversold=25); repeat for more.",
)
@click.option("--interval", default=None, help="Bar interval the strategy trades (e.g. 60 or 1h).")
@click.option(
    "--qty",
    "size",
    default="0.001",
    show_default=True,
    help="Order size: 0.01 (base), 100USDT (quote amount) or 5% (of equity).",
)
@click.option(
    "--direction", type=click.Choice(["long", "short", "both"]), default="long", show_default=True
)
@click.option("--max-entries", type=click.IntRange(1, 100), default=1, show_default=True)
@click.option("--sl", default=None, help="Stop-loss: a price or a percentage like 2%.")
@click.option("--tp", default=None, help="Take-profit: a price or a percentage like 4%.")
@click.option("--trail", default=None, help="Trailing stop distance, e.g. 1%.")
@click.option(
    "--max-lag",
    "max_lag_seconds",
    type=click.IntRange(1, 86400),
    default=60,
    show_default=True,
    help="Alerts whose time is older than this many seconds are rejected as stale.",
)
@click.option("--passphrase", default=None, help="Required 'passphrase' field in every alert.")
@click.option(
    "--sign",
    is_flag=True,
    help="Require an HMAC-SHA256 signature (for senders that can sign; TradingView cannot). "
    "The secret is printed once.",
)
@click.option(
    "--max-alerts-per-minute",
    type=click.IntRange(0, 100_000),
    default=60,
    show_default=True,
    help="Alerts beyond this rate are answered 429 (0: no cap).",
)
@click.option(
    "--allow-ip", "allow_ips", multiple=True, help="tradingview or an IP/CIDR; repeat for more."
)
@click.option(
    "--heartbeat",
    "heartbeat_minutes",
    type=click.IntRange(1, 10080),
    default=None,
    help="Warn owners when no alert came for this many minutes.",
)
@click.option(
    "--break-even",
    "break_even_after_tp1",
    is_flag=True,
    help="Move the stop-loss to the entry price once the first take-profit level fills.",
)
@click.option("--json", "as_json", is_flag=True)
def bots_add(as_json: bool, **options: Any) -> None:
    """Create a bot and print its webhook URL."""
    options["symbols"] = list(options["symbols"])
    options["strategy_params"] = key_values(options.pop("params"), "--param")
    options["allow_ips"] = list(options["allow_ips"])
    if options.pop("sign"):
        options["hmac_secret"] = new_hmac_secret()
    try:
        spec = BotSpec(**options)
    except ValidationError as exc:
        raise bad_parameter(
            exc,
            {
                "strategy_params": "param",
                "symbols": "symbol",
                "size": "qty",
                "max_lag_seconds": "max-lag",
                "allow_ips": "allow-ip",
                "max_entries": "max-entries",
                "max_alerts_per_minute": "max-alerts-per-minute",
            },
        ) from None

    @with_services
    async def create(services: Assembly) -> tuple[Assembly, BotConfig]:
        return services, await services.control.create_bot(CLI, spec)

    services, bot = create()
    _show_bot(services, bot, as_json, with_key=True, with_hmac=True)
    if not as_json:
        click.echo(f"\nTradingView alert message:\n{alert_template(bot)}")


@bots.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@with_services
async def bots_show(services: Assembly, name: str, as_json: bool) -> None:
    """One bot, with its alert template."""
    bot = await services.control.bot(name)
    _show_bot(services, bot, as_json)
    if not as_json:
        click.echo(f"\nTradingView alert message:\n{alert_template(bot)}")


def _toggle(paused: bool) -> Callable[..., None]:
    @click.argument("name")
    @click.option("--json", "as_json", is_flag=True)
    @with_services
    async def command(services: Assembly, name: str, as_json: bool) -> None:
        bot = await services.control.set_paused(CLI, name, paused)
        if as_json:
            _print_json(_bot_dict(services, bot))
        else:
            click.echo(f"{name} {'paused: alerts are rejected' if paused else 'resumed'}")

    return command


bots.command("pause", help="Reject alerts for a bot until resumed.")(_toggle(True))
bots.command("resume", help="Accept alerts for a paused bot again.")(_toggle(False))


@bots.command("rotate-key")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@with_services
async def bots_rotate_key(services: Assembly, name: str, as_json: bool) -> None:
    """Give a bot a new webhook key; the old URL stops working at once."""
    bot = await services.control.rotate_key(CLI, name)
    if as_json:
        _print_json(_bot_dict(services, bot))
    else:
        click.echo(f"new webhook URL for {name}: {services.control.webhook_url(bot)}")


@bots.command("sign")
@click.argument("name")
@click.option("--off", is_flag=True, help="Stop requiring signatures.")
@click.option("--json", "as_json", is_flag=True)
@with_services
async def bots_sign(services: Assembly, name: str, off: bool, as_json: bool) -> None:
    """Require HMAC-signed alerts with a new secret (printed once), or stop with --off."""
    bot = await services.control.set_signing(CLI, name, not off)
    if as_json:
        data = _bot_dict(services, bot)
        if bot.hmac_secret:
            data["hmac_secret"] = bot.hmac_secret
        _print_json(data)
    elif off:
        click.echo(f"{name}: signatures no longer required")
    else:
        click.echo(
            f"{name}: alerts must now be signed.\nsecret (shown once): {bot.hmac_secret}\n"
            f"headers: {TIMESTAMP_HEADER}: <unix seconds>, "
            f"{SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256(secret, timestamp + '.' + body)>"
        )


# ---------------------------------------------------------------- positions / trades


@main.command()
@click.option("--bot", "bot_name", default=None, help="Only this bot's positions.")
@click.option("--json", "as_json", is_flag=True)
@with_services
async def positions(services: Assembly, bot_name: str | None, as_json: bool) -> None:
    """Open positions."""
    items = await services.control.positions(bot_name)
    if as_json:
        _print_json([item.model_dump(mode="json") for item in items])
        return
    if not items:
        click.echo("no open positions")
        return
    table = Table(
        "id", "bot", "symbol", "side", "qty", "avg price", "entries", "last", "unrealized", "opened"
    )
    for p in items:
        table.add_row(
            str(p.id),
            p.bot,
            p.symbol,
            p.side,
            plain(p.qty),
            plain(p.avg_price),
            str(p.entries),
            plain(p.last_price) if p.last_price is not None else "-",
            f"{plain(p.unrealized_pnl)} {p.quote}" if p.unrealized_pnl is not None else "-",
            p.opened_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


@main.command()
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--bot", "bot_name", default=None)
@click.option("--json", "as_json", is_flag=True)
@with_services
async def trades(services: Assembly, limit: int, bot_name: str | None, as_json: bool) -> None:
    """Closed trades, newest first."""
    items = await services.reports.trades(limit, bot_name=bot_name)
    if as_json:
        _print_json([item.model_dump(mode="json") for item in items])
        return
    if not items:
        click.echo("no closed trades yet")
        return
    table = Table(
        "id", "bot", "symbol", "side", "qty", "entry", "exit", "pnl", "fees", "reason", "closed"
    )
    for t in items:
        colour = "green" if t.pnl >= 0 else "red"
        table.add_row(
            str(t.id),
            t.bot,
            t.symbol,
            t.side,
            plain(t.qty),
            plain(t.entry_price),
            plain(t.exit_price),
            f"[{colour}]{plain(t.pnl)}[/] {t.quote}",
            plain(t.fees),
            t.reason,
            t.closed_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


# ---------------------------------------------------------------- alert


@main.command()
@click.argument("url_or_key")
@click.option("--action", default="buy", show_default=True)
@click.option("--symbol", default="BTCUSDT", show_default=True)
@click.option("--price", default=None)
@click.option("--qty", default=None)
@click.option("--sl", default=None)
@click.option("--tp", default=None)
@click.option("--id", "alert_id", default=None, help="Alert id (repeats are answered 'duplicate').")
@click.option("--passphrase", default=None)
@click.option("--hmac-secret", default=None, help="Sign the request with this bot secret.")
@click.option("--field", "fields", multiple=True, help="Extra field key=value; repeat for more.")
@click.option(
    "--text", "text_form", is_flag=True, help="Send the one-line text form instead of JSON."
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 60),
    default=3.0,
    show_default=True,
    help="Seconds to wait, like TradingView (3 s).",
)
def alert(
    url_or_key: str,
    text_form: bool,
    timeout: float,
    fields: tuple[str, ...],
    alert_id: str | None,
    hmac_secret: str | None,
    **values: str | None,
) -> None:
    """Send a test alert to a webhook URL, or to this server by bot key."""
    if url_or_key.startswith(("http://", "https://")):
        url = url_or_key
    else:
        url = f"{_settings().base_url()}/webhook/{url_or_key}"
    payload: dict[str, str] = {k: v for k, v in values.items() if v is not None}
    if alert_id:
        payload["id"] = alert_id
    payload["time"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    payload.update(key_values(fields, "--field"))
    if text_form:
        rest = " ".join(f"{k}={v}" for k, v in payload.items() if k not in ("action", "symbol"))
        body = f"{payload['action']} {payload['symbol']} {rest}".strip()
    else:
        body = json.dumps(payload)
    # TradingView sends text/plain unless the message is valid JSON; we send what it would.
    content_type = "text/plain; charset=utf-8" if text_form else "application/json; charset=utf-8"
    headers = {"Content-Type": content_type}
    if hmac_secret:
        headers.update(signed_headers(hmac_secret, body.encode()))
    request = urllib.request.Request(url, data=body.encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, answer = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, answer = exc.code, exc.read().decode()
    except (urllib.error.URLError, TimeoutError) as exc:
        raise click.ClickException(
            f"could not reach {url.split('/webhook/')[0]}: {getattr(exc, 'reason', exc)}"
        ) from None
    click.echo(f"HTTP {status}")
    click.echo(answer)
    if status >= 400:
        sys.exit(1)


main.add_command(backtest)
main.add_command(pnl_command(with_services))
for _command in risk_commands(with_services):
    main.add_command(_command)


if __name__ == "__main__":
    main()
