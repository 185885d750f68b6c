"""`tradebot positions` and `tradebot trades` (SPEC §2): tables in the terminal, or `--json`."""

from __future__ import annotations

from datetime import UTC

import click
from rich.table import Table

from bot.assembly import Assembly
from bot.cli_common import console, print_json, with_services
from trading.views import plain

# ---------------------------------------------------------------- positions / trades


@click.command()
@click.option("--bot", "bot_name", default=None, help="Only this bot's positions.")
@click.option("--json", "as_json", is_flag=True)
@with_services
async def positions(services: Assembly, bot_name: str | None, as_json: bool) -> None:
    """Open positions."""
    items = await services.control.positions(bot_name)
    if as_json:
        print_json([item.model_dump(mode="json") for item in items])
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


@click.command()
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--bot", "bot_name", default=None)
@click.option("--json", "as_json", is_flag=True)
@with_services
async def trades(services: Assembly, limit: int, bot_name: str | None, as_json: bool) -> None:
    """Closed trades, newest first."""
    items = await services.reports.trades(limit, bot_name=bot_name)
    if as_json:
        print_json([item.model_dump(mode="json") for item in items])
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
