"""`tradebot bots …` (SPEC §2): list, add, edit, show, delete, pause, resume, rotate-key, sign.

Every change goes through `ControlService`, the service the chat's bot cards call, and is
audited as `cli`. `add` and `edit` take the same options; `edit` changes only those given, all
together or none (a wrong one is named, exit status 2, and nothing is stored).

    tradebot bots add --name swing --symbol ETHUSDT --sl 2% --tp 4%
    tradebot bots edit swing --sl 1.5% --trail off --approval manual --heartbeat 60
    tradebot bots show swing
    tradebot bots delete swing --yes
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from bot.assembly import Assembly
from bot.cli_common import CLICK_CONTEXT, Mistake, print_json, with_services
from bot.cli_options import key_values
from bot.cli_tables import print_table
from trading.access import CLI
from trading.bots import BotConfig
from trading.control import InvalidSetting
from trading.signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER
from trading.templates import alert_kind, alert_template

# A bot setting (a BotSpec field) and the option that sets it, where their names differ.
OPTIONS = {
    "symbols": "--symbol",
    "strategy_params": "--param",
    "size": "--qty",
    "max_lag_seconds": "--max-lag",
    "allow_ips": "--allow-ip",
    "heartbeat_minutes": "--heartbeat",
    "break_even_after_tp1": "--break-even",
    "hmac_secret": "--sign",
}


def option_of(field: str) -> str:
    return OPTIONS.get(field, "--" + field.replace("_", "-"))


# ---------------------------------------------------------------- bots


@click.group(context_settings=CLICK_CONTEXT)
def bots() -> None:
    """List, create and manage trading bots."""


def _bot_dict(services: Assembly, bot: BotConfig) -> dict[str, Any]:
    return services.control.view(bot).model_dump(mode="json")


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(value) if value else "-"
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items()) if value else "(defaults)"
    return str(value)


def _settings_lines(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Every setting of a bot, as `bots show` lists it."""
    allow = data["allow_ips"]
    return [
        ("name", data["name"]),
        ("state", "paused: alerts are rejected" if data["paused"] else "active"),
        ("symbols", _text(data["symbols"])),
        ("strategy", data["strategy"]),
        ("params", _text(data["strategy_params"])),
        ("interval", data["interval"] or "- (any)"),
        ("qty", data["size"]),
        ("direction", data["direction"]),
        ("max entries", str(data["max_entries"])),
        ("stop-loss", data["sl"] or "-"),
        ("take-profit", data["tp"] or "-"),
        ("trailing stop", data["trail"] or "-"),
        (
            "break-even",
            "stop to entry after the first take-profit" if data["break_even_after_tp1"] else "no",
        ),
        ("approval", data["approval"]),
        ("max lag", f"{data['max_lag_seconds']} s"),
        (
            "heartbeat",
            f"warn after {data['heartbeat_minutes']} min without an alert"
            if data["heartbeat_minutes"]
            else "off",
        ),
        ("alerts/minute", str(data["max_alerts_per_minute"] or "no cap")),
        ("allowed IPs", ", ".join(allow) if allow else "any"),
        ("passphrase", "set (required in every alert)" if data["has_passphrase"] else "none"),
        ("signatures", "required (HMAC-SHA256)" if data["signed"] else "not required"),
    ]


def _show_bot(
    services: Assembly,
    bot: BotConfig,
    as_json: bool,
    with_key: bool = False,
    with_hmac: bool = False,
) -> None:
    """Every setting, then the webhook URL on a line of its own (copied whole: no table folds
    it). The key is shown only inside the URL, secrets never (a new HMAC secret once)."""
    data = _bot_dict(services, bot)
    if with_key:
        data["webhook_key"] = bot.webhook_key
    if with_hmac and bot.hmac_secret:  # shown once, when it is made
        data["hmac_secret"] = bot.hmac_secret
    if as_json:
        print_json(data)
        return
    lines = _settings_lines(data)
    width = max(len(label) for label, _ in lines)
    for label, value in lines:
        click.echo(f"{label.ljust(width)}  {value}")
    if with_hmac and bot.hmac_secret:
        _echo_secret(bot.hmac_secret)
    click.echo(f"\nWebhook URL:\n{data['webhook_url']}")


def _echo_secret(secret: str) -> None:
    click.echo(
        f"\nHMAC secret (shown once): {secret}\n"
        f"headers: {TIMESTAMP_HEADER}: <unix seconds>, "
        f"{SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256(secret, timestamp + '.' + body)>"
    )


def _echo_template(bot: BotConfig) -> None:
    """Which TradingView alert to make for the bot's strategy, and the message to paste."""
    click.echo(f"\n{alert_kind(bot)}\nTradingView alert message:\n{alert_template(bot)}")


@bots.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_services
async def bots_list(services: Assembly, as_json: bool) -> None:
    """All bots (`bots show NAME` for one with every setting and its URL)."""
    items = [view.model_dump(mode="json") for view in await services.control.bot_views()]
    if as_json:
        print_json(items)
        return
    if not items:
        click.echo("no bots yet: tradebot bots add --name NAME --symbol BTCUSDT")
        return
    print_table(
        ("id", "name", "symbols", "strategy", "qty", "direction", "entries", "state"),
        [
            (
                str(item["id"]),
                item["name"],
                ",".join(item["symbols"]),
                item["strategy"],
                item["size"],
                item["direction"],
                str(item["max_entries"]),
                "paused" if item["paused"] else "active",
            )
            for item in items
        ],
        right=("id", "entries"),
    )


# ---------------------------------------------------------------- add / edit: one set of options


def _setting_options(edit: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options of `add`, for `edit` too: there each defaults to "unchanged", and a value
    can be cleared (`--sl off`, `--heartbeat off`, `--no-break-even`, `--no-sign`…)."""
    off = " ('off' clears it)" if edit else ""

    def default(value: Any) -> dict[str, Any]:
        return {"default": None} if edit else {"default": value, "show_default": True}

    options = [
        click.option(
            "--symbol",
            "symbols",
            required=not edit,
            multiple=True,
            help="Ticker, e.g. BTCUSDT; repeat for more"
            + (" (replaces the bot's symbols)." if edit else "."),
        ),
        click.option(
            "--strategy",
            **default("signal"),
            help="signal (do what the alerts say), or an indicator strategy run on bars: rsi, "
            "ma_cross, macd, bollinger"
            + (" (a new strategy starts from its default params)." if edit else "."),
        ),
        click.option(
            "--param",
            "params",
            multiple=True,
            help="Strategy parameter key=value (e.g. oversold=25); repeat for more"
            + (" (merged over the bot's)." if edit else "."),
        ),
        click.option(
            "--interval", default=None, help=f"Bar interval the strategy trades (60, 1h){off}."
        ),
        click.option(
            "--qty",
            "size",
            **default("0.001"),
            help="Order size: 0.01 (base), 100USDT (quote amount) or 5% (of equity).",
        ),
        click.option(
            "--direction", type=click.Choice(["long", "short", "both"]), **default("long")
        ),
        click.option("--max-entries", type=click.IntRange(1, 100), **default(1)),
        click.option("--sl", default=None, help=f"Stop-loss: a price or a percentage (2%){off}."),
        click.option("--tp", default=None, help=f"Take-profit: a price or a percentage (4%){off}."),
        click.option("--trail", default=None, help=f"Trailing stop distance (1%){off}."),
        click.option(
            "--break-even/--no-break-even",
            "break_even_after_tp1",
            default=None if edit else False,
            help="Move the stop-loss to the entry price once the first take-profit fills.",
        ),
        click.option(
            "--max-lag",
            "max_lag_seconds",
            type=click.IntRange(1, 86400),
            **default(60),
            help="Alerts older than this many seconds are rejected as stale.",
        ),
        click.option(
            "--passphrase",
            default=None,
            help="Required 'passphrase' field in every alert"
            + (" ('-' clears it)." if edit else "."),
        ),
        click.option(
            "--sign/--no-sign",
            "sign",
            default=None if edit else False,
            help="Require an HMAC-SHA256 signature (for senders that can sign; TradingView "
            "cannot); a new secret is printed once.",
        ),
        click.option(
            "--allow-ip",
            "allow_ips",
            multiple=True,
            help="tradingview or an IP/CIDR; repeat for more"
            + (" (replaces the list; '-' allows any)." if edit else "."),
        ),
        click.option(
            "--max-alerts-per-minute",
            type=click.IntRange(0, 100_000),
            **default(60),
            help="Alerts beyond this rate are answered 429 (0: no cap).",
        ),
        click.option(
            "--heartbeat",
            "heartbeat_minutes",
            type=str if edit else click.IntRange(1, 10080),
            default=None,
            help=f"Warn the owners when no alert came for this many minutes{off}.",
        ),
        click.option(
            "--approval",
            type=click.Choice(["auto", "manual"]),
            **default("auto"),
            help="manual: each entry waits for an owner's yes in the chat.",
        ),
        click.option("--json", "as_json", is_flag=True, help="Machine-readable output."),
    ]
    if edit:
        options.insert(
            13,
            click.option(
                "--no-passphrase",
                "no_passphrase",
                is_flag=True,
                help="Stop requiring a passphrase.",
            ),
        )

    def apply(func: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            func = option(func)
        return func

    return apply


def _changes(options: dict[str, Any]) -> dict[str, Any]:
    """The settings given on the command line, as `ControlService.edit_bot` takes them."""
    changes = {key: value for key, value in options.items() if value not in (None, ())}
    if "symbols" in changes:
        changes["symbols"] = list(changes["symbols"])
    if "params" in changes:
        changes["strategy_params"] = key_values(changes.pop("params"), "--param")
    if "allow_ips" in changes:
        ips = list(changes["allow_ips"])
        changes["allow_ips"] = [] if ips == ["-"] else ips
    if changes.pop("no_passphrase", False):
        if "passphrase" in changes:
            raise click.UsageError("--passphrase and --no-passphrase together: choose one")
        changes["passphrase"] = None
    return changes


def _bad_setting(exc: InvalidSetting) -> click.BadParameter:
    message = exc.user_message.removeprefix(f"{exc.field}: ")
    return click.BadParameter(message, param_hint=f"'{option_of(exc.field)}'")


@bots.command("add")
@click.option("--name", required=True, help="Bot name: letters, digits, - and _.")
@_setting_options(edit=False)
@with_services
async def bots_add(services: Assembly, as_json: bool, name: str, **options: Any) -> None:
    """Create a bot and print its webhook URL and the alert message to paste in TradingView.

    \b
    tradebot bots add --name demo2 --symbol BTCUSDT
    tradebot bots add --name swing --symbol ETHUSDT --sl 2% --tp 4% --trail 1% --break-even
    tradebot bots add --name rsi1 --symbol BTCUSDT --strategy rsi --interval 1h --param oversold=25
    """
    sign = options.pop("sign")
    try:
        bot = await services.control.add_bot(CLI, name, _changes(options), sign=sign)
    except InvalidSetting as exc:
        raise _bad_setting(exc) from None
    _show_bot(services, bot, as_json, with_key=True, with_hmac=True)
    if not as_json:
        _echo_template(bot)


@bots.command("edit")
@click.argument("name")
@_setting_options(edit=True)
@with_services
async def bots_edit(services: Assembly, name: str, as_json: bool, **options: Any) -> None:
    """Change a bot's settings: any option of `add`; only those given change, all together.

    \b
    tradebot bots edit swing --sl 1.5% --tp off --trail 1%
    tradebot bots edit swing --approval manual --heartbeat 60 --no-break-even
    tradebot bots edit swing --strategy rsi --interval 1h --param oversold=25
    tradebot bots edit swing --no-passphrase --no-sign --allow-ip -
    """
    sign = options.pop("sign")
    changes = _changes(options)
    if not changes and sign is None:
        raise click.UsageError("nothing to change: give an option of `tradebot bots add`")
    try:
        bot = await services.control.edit_bot(CLI, name, changes, sign=sign)
    except InvalidSetting as exc:
        raise _bad_setting(exc) from None
    if as_json:
        _show_bot(services, bot, True, with_hmac=bool(sign))
        return
    given = [option_of(key) for key in changes] + (
        ["--sign" if sign else "--no-sign"] if sign is not None else []
    )
    click.echo(f"{bot.name}: saved {', '.join(given)}\n")
    _show_bot(services, bot, False, with_hmac=bool(sign))
    if {"strategy", "strategy_params"} & set(changes):
        _echo_template(bot)


@bots.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@with_services
async def bots_show(services: Assembly, name: str, as_json: bool) -> None:
    """Every setting of a bot, its webhook URL and its alert template.

    The HMAC secret is never shown; the template carries the passphrase, since TradingView must
    send it."""
    bot = await services.control.bot(name)
    _show_bot(services, bot, as_json)
    if not as_json:
        _echo_template(bot)


@bots.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask first (for scripts).")
@click.option("--json", "as_json", is_flag=True)
@with_services
async def bots_delete(services: Assembly, name: str, yes: bool, as_json: bool) -> None:
    """Delete a bot: its webhook URL stops working, its trades stay in the history. Refused
    while it has open positions (`tradebot close NAME` first). Asks first unless --yes; with
    no terminal to ask on (a script), --yes is needed."""
    bot = await services.control.bot(name)
    if not yes:
        confirm(f"Delete bot {bot.name}? Its webhook URL stops working; its trades stay.")
    deleted = await services.control.delete_bot(CLI, bot.id)
    if as_json:
        print_json({"deleted": deleted})
    else:
        click.echo(f"{deleted} deleted; its trades stay in the history")


def confirm(question: str) -> None:
    """Ask on the terminal (the chat asks with a button); no answer or `n`: nothing is done.
    Without a terminal (a script, a pipe) nothing is asked: --yes is needed."""
    if not sys.stdin.isatty():
        raise Mistake("not asking without a terminal: add --yes to do it")
    if not click.confirm(question, default=False, err=True):
        raise click.ClickException("nothing done")


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
        click.echo(f"new webhook URL for {name}:\n{services.control.webhook_url(bot)}")


@bots.command("sign")
@click.argument("name")
@click.option("--off", is_flag=True, help="Stop requiring signatures.")
@click.option("--json", "as_json", is_flag=True)
@with_services
async def bots_sign(services: Assembly, name: str, off: bool, as_json: bool) -> None:
    """Require HMAC-signed alerts with a new secret (printed once), or stop with --off
    (the same as `bots edit NAME --sign` / `--no-sign`)."""
    bot = await services.control.set_signing(CLI, name, not off)
    if as_json:
        data = _bot_dict(services, bot)
        if bot.hmac_secret:
            data["hmac_secret"] = bot.hmac_secret
        print_json(data)
    elif off:
        click.echo(f"{name}: signatures no longer required")
    else:
        click.echo(f"{name}: alerts must now be signed.")
        _echo_secret(bot.hmac_secret or "")
