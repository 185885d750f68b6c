"""`tradebot` command line (SPEC §2). Every bad option is one line naming it, exit code 2."""

from __future__ import annotations

import gc

import click

from bot.assembly import Assembly
from bot.cli_alert import alert
from bot.cli_backtest import backtest
from bot.cli_bots import bots
from bot.cli_common import database, run, settings_or_exit, with_services
from bot.cli_figures import pnl_command
from bot.cli_positions import positions, trades
from bot.cli_risk import risk_commands
from bot.config import Settings
from bot.logs import setup_logging
from trading.access import SYSTEM
from trading.bots import BotConfig, BotSpec
from trading.errors import TradingError
from trading.templates import alert_template


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
    settings = settings_or_exit()
    applied = run(_migrate(settings))
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

    settings = settings_or_exit()
    setup_logging(settings)
    if no_monitor:
        settings = settings.model_copy(update={"monitor_enabled": False})
    run(_migrate(settings))
    try:
        app = create_app(settings)
    except TradingError as exc:  # e.g. TRADEBOT_CCXT_EXCHANGE unknown: one line, no traceback
        raise click.ClickException(exc.user_message) from None
    demo = run(_first_start(app[ASSEMBLY]))
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

    settings = settings_or_exit()
    setup_logging(settings)
    run(_migrate(settings))
    click.echo(
        f"Tradebot monitor on {settings.base_url()}/health  (database "
        f"{settings.database_url.split('?')[0]}, broker {settings.broker}, prices every "
        f"{settings.monitor_interval:g} s, stale after {settings.price_max_age:g} s)"
    )
    run_monitor(settings.model_copy(update={"monitor_enabled": True}))


main.add_command(backtest)
main.add_command(bots)
main.add_command(positions)
main.add_command(trades)
main.add_command(alert)
main.add_command(pnl_command(with_services))
for _command in risk_commands(with_services):
    main.add_command(_command)


if __name__ == "__main__":
    main()
