"""`tradebot pnl [--period day|week|month|all] [--json]` (SPEC §2, §6a): the account figures of
`GET /stats` and `/pnl`, from the same `ReportService`, as terminal tables or the same JSON.

    tradebot pnl                  # every period, performance over all closed trades
    tradebot pnl --period week    # this week (from Monday's daily_reset_hour, UTC)
    tradebot pnl --json           # exactly what GET /stats answers

Registered in `bot/cli.py`, which hands in its `with_services` (the services with the database
open), so this module does not import the CLI's own module.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from handlers.telegram.formatting.figures import duration
from trading.figures import PERIODS, Period, Stats

if TYPE_CHECKING:
    from bot.assembly import Assembly

WithServices = Callable[[Callable[..., Coroutine[Any, Any, None]]], Callable[..., None]]
LABELS = {"day": "today", "week": "this week", "month": "this month", "all": "all time"}
console = Console()


def pnl_command(with_services: WithServices) -> click.Command:
    """The `pnl` command, run with the CLI's services."""

    @click.command("pnl")
    @click.option(
        "--period",
        type=click.Choice(PERIODS, case_sensitive=False),
        default=None,
        help="One period (default: all of them); performance then covers its closed trades.",
    )
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable (as GET /stats).")
    @with_services
    async def pnl(services: Assembly, period: str | None, as_json: bool) -> None:
        """Equity, drawdown and PnL per period and currency; performance per bot and symbol."""
        reports = services.reports
        chosen: Period | None = period.lower() if period else None  # type: ignore[assignment]
        stats = await (reports.pnl(chosen) if chosen else reports.stats())
        if as_json:
            click.echo(json.dumps(stats.to_json(), indent=2))
        else:
            show(stats)

    return pnl


def _signed(text: str | None) -> str:
    if text is None:
        return "-"
    if text.startswith("-"):
        return f"[red]{text}[/]"
    return f"[green]+{text}[/]" if text != "0" else text


def show(stats: Stats) -> None:
    """Tables: one per currency (periods), then performance per bot and symbol."""
    if stats.empty:
        click.echo("no trades or open positions yet: figures appear once a bot has traded")
        return
    data = stats.to_json()
    hour = stats.reset_hour
    for quote, c in data["currencies"].items():
        console.print(
            f"[bold]{quote}[/]  equity {c['equity']}  peak {c['peak']}  "
            f"drawdown {c['drawdown']}% ({c['drawdown_amount']})  "
            f"open positions {c['open_positions']} (realized on them {c['open_realized']})"
        )
        table = Table("period", "since (UTC)", "realized", "unrealized", "equity change", "trades",
                      "wins", "fees", title=f"days from {hour:02d}:00 UTC, weeks from Monday",
                      title_justify="left")  # fmt: skip
        for period, f in c["periods"].items():
            table.add_row(
                LABELS[period],
                f["start"][:16].replace("T", " ") if f["start"] else "-",
                _signed(f["realized"]),
                _signed(f["unrealized"]),
                _signed(f["equity_change"]),
                str(f["trades"]),
                str(f["wins"]),
                f["fees"],
            )
        console.print(table)
    for quote in stats.failed:
        click.echo(f"{quote}: figures cannot be computed (see the log)")
    if not data["performance"]:
        click.echo(f"no closed trades {LABELS[stats.scope]}")
        return
    table = Table("bot", "symbol", "trades", "win rate", "PF", "avg win", "avg loss", "best",
                  "worst", "avg held", "pnl", "fees",
                  title=f"performance by bot and symbol ({LABELS[stats.scope]}, after fees)",
                  title_justify="left")  # fmt: skip
    for p in data["performance"]:
        table.add_row(
            p["bot"],
            p["symbol"],
            str(p["trades"]),
            f"{p['win_rate']}%",
            p["profit_factor"] or ("inf" if p["wins"] else "-"),
            _signed(p["avg_win"]),
            _signed(p["avg_loss"]),
            _signed(p["best"]),
            _signed(p["worst"]),
            duration(p["avg_duration_seconds"]),
            f"{_signed(p['pnl'])} {p['quote']}",
            p["fees"],
        )
    console.print(table)
