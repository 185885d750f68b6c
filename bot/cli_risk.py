"""`tradebot risk show|set`, `tradebot stopentry`, `tradebot resume`: the risk
rules and the kill switch through `RiskService`, the very service the chat's /risk, /stopentry
and /resume and `GET /risk` call. Changes are audited as `cli`; the CLI, run on the host, needs no
second-factor code to lift a kill switch that `max_drawdown` tripped.

    tradebot risk show                       # the account's rules, per quote currency
    tradebot risk show --bot swing --json    # a bot's (its own over the account's), as GET /risk
    tradebot risk set max_exposure=20% daily_loss_limit=150
    tradebot risk set --bot swing max_position_qty=0.5 max_drawdown=off
    tradebot stopentry                       # no new entries; exits go on
    tradebot resume

A mistake (an unknown rule, a value not in the rule's form, an unknown bot) is one line naming it
and exit status 2; nothing is stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.console import Console

from bot.cli_common import CLICK_CONTEXT, Mistake, print_json, with_services
from bot.cli_tables import print_table
from trading.access import CLI
from trading.equity import KillSwitchState
from trading.errors import InvalidRequest, NotFound
from trading.risk_service import RiskReport, kill_switch_json
from trading.views import amount

if TYPE_CHECKING:
    from bot.assembly import Assembly

console = Console()
SOURCES = {"account": "account", "bot": "bot's own", "off": "off for this bot", "": "not set"}


def _switch_text(switch: KillSwitchState) -> str:
    if not switch.on:
        return "kill switch: [green]off[/] (entries allowed)"
    since = f" since {switch.since:%Y-%m-%d %H:%M} UTC" if switch.since else ""
    who = "tripped by max_drawdown" if switch.rule == "max_drawdown" else f"by {switch.by}"
    text = f"kill switch: [bold red]ON[/]{since} {who}: no new entries; exits go on"
    if switch.reason:
        text += f"\n  {switch.reason}"
    if switch.legacy_paused:
        text += f"\n  bots paused by the old kill switch: {', '.join(switch.legacy_paused)}"
    return text


def show(report: RiskReport) -> None:
    """A table per quote currency: rule, limit, source, current value, headroom."""
    scope = f"bot {report.bot} (its own rules over the account's)" if report.bot else "account"
    console.print(f"[bold]risk rules[/] · {scope}", highlight=False)
    console.print(_switch_text(report.kill_switch), highlight=False)
    for c in report.currencies:
        data = c.to_json()
        q = c.quote
        click.echo(
            f"{q}: equity {amount(c.equity, q)} · peak {amount(c.peak, q)} · drawdown "
            f"{data['drawdown_pct']}% · today {amount(c.today_pnl, q, signed=True)} · "
            f"{c.open_positions} open ({amount(c.open_notional, q)})"
        )
        rows = []
        for line in c.lines:
            headroom = line.headroom or "-"
            if headroom.startswith(("−", "-")) and headroom != "-":
                headroom = f"[red]{headroom}[/]"
            rows.append(
                (
                    line.key,
                    line.limit or "-",
                    SOURCES.get(line.source, line.source),
                    line.current or "-",
                    headroom,
                )
            )
        print_table(("rule", "limit", "source", "current", "headroom"), rows)


@click.group("risk", context_settings=CLICK_CONTEXT)
def risk() -> None:
    """Risk rules: see them with their current values, or set them."""


@risk.command("show")
@click.option("--bot", "bot_name", default=None, help="A bot's rules (its own over the account's).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable (as GET /risk).")
@with_services
async def risk_show(services: Assembly, bot_name: str | None, as_json: bool) -> None:
    """Each rule: limit, where it is set, current value and headroom, per currency."""
    try:
        report = await services.risk.show(bot_name)
    except NotFound as exc:
        raise Mistake(exc.user_message) from None
    if as_json:
        print_json(report.to_json())
    else:
        show(report)


@risk.command("set")
@click.argument("pairs", nargs=-1, required=True, metavar="KEY=VALUE...")
@click.option("--bot", "bot_name", default=None, help="Set this bot's own rules.")
@click.option("--json", "as_json", is_flag=True, help="Print the rules after, as GET /risk.")
@with_services
async def risk_set(
    services: Assembly, pairs: tuple[str, ...], bot_name: str | None, as_json: bool
) -> None:
    """Set rules: KEY=VALUE, KEY=off (on a bot: the account's rule off for it), or on a bot
    KEY=inherit (follow the account's). Rules: max_position_qty, max_position_value,
    max_open_positions, max_exposure, daily_loss_limit, daily_reset_hour, max_drawdown,
    cooldown_after_stop, stop_guard, risk_per_trade."""
    try:
        report = await services.risk.set(CLI, pairs, bot_name)
    except (InvalidRequest, NotFound) as exc:
        raise Mistake(exc.user_message) from None
    if as_json:
        print_json(report.to_json())
        return
    click.echo(f"risk rules of {report.bot or 'the account'} set: {' '.join(pairs)}")
    show(report)


@click.command("stopentry", context_settings=CLICK_CONTEXT)
@click.option("--json", "as_json", is_flag=True)
@with_services
async def stopentry(services: Assembly, as_json: bool) -> None:
    """Kill switch: no new entries on any bot; exits go on.

    Exits, stops and closes go on until `tradebot resume` or /resume. Kept across restarts."""
    was = await services.risk.kill_switch()
    state = await services.risk.stop_entries(CLI)
    if as_json:
        print_json({"kill_switch": kill_switch_json(state), "already_on": was.on})
    elif was.on:
        console.print(f"already on. {_switch_text(state)}", highlight=False)
    else:
        click.echo(
            "kill switch on: no new entries on any bot; exits, stops and closes go on. "
            "`tradebot resume` lifts it."
        )


@click.command("resume", context_settings=CLICK_CONTEXT)
@click.option("--json", "as_json", is_flag=True)
@with_services
async def resume(services: Assembly, as_json: bool) -> None:
    """Lift the kill switch: entries allowed again.

    Also a max_drawdown trip (no code asked on the host). Bots an older kill switch paused are
    resumed too."""
    was = await services.risk.kill_switch()
    if not was.on:
        raise click.ClickException(
            "the kill switch is not on: entries are allowed "
            "(a paused bot: tradebot bots resume NAME)"
        )
    resumed = await services.risk.resume_entries(CLI)
    if as_json:
        print_json(
            {
                "kill_switch": kill_switch_json(await services.risk.kill_switch()),
                "was": kill_switch_json(resumed.was),
                "resumed_bots": resumed.bots,
            }
        )
        return
    click.echo("kill switch off: entries allowed again")
    if resumed.bots:
        click.echo(
            f"resumed {len(resumed.bots)} bot(s) the old kill switch had paused: "
            + ", ".join(resumed.bots)
        )
    if resumed.was.rule == "max_drawdown":
        click.echo(
            "it was tripped by max_drawdown: the peak starts afresh from the equity now, "
            "so the rule trips again only on a new fall of that size"
        )
