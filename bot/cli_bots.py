"""`tradebot bots …` (SPEC §2): list, add, show, pause, resume, rotate-key, sign."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from pydantic import ValidationError
from rich.table import Table

from bot.assembly import Assembly
from bot.cli_common import console, print_json, with_services
from bot.cli_options import bad_parameter, key_values
from trading.access import CLI
from trading.bots import BotConfig, BotSpec
from trading.signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER, new_hmac_secret
from trading.templates import alert_template

# ---------------------------------------------------------------- bots


@click.group()
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
        print_json(data)
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
        print_json(items)
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
            print_json(_bot_dict(services, bot))
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
        print_json(_bot_dict(services, bot))
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
        print_json(data)
    elif off:
        click.echo(f"{name}: signatures no longer required")
    else:
        click.echo(
            f"{name}: alerts must now be signed.\nsecret (shown once): {bot.hmac_secret}\n"
            f"headers: {TIMESTAMP_HEADER}: <unix seconds>, "
            f"{SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256(secret, timestamp + '.' + body)>"
        )
