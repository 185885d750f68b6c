"""`tradebot pnl [--period day|week|month|all] [--json]`: the account figures of
`GET /stats` and `/pnl`, from the same `ReportService`, as terminal tables or the same JSON.

    tradebot pnl                  # every period, performance over all closed trades
    tradebot pnl --period week    # this week (from Monday's daily_reset_hour, UTC)
    tradebot pnl --json           # exactly what GET /stats answers
"""

from __future__ import annotations

import json
from datetime import UTC
from decimal import Decimal
from typing import TYPE_CHECKING

import click

from bot.cli_common import CLICK_CONTEXT, with_services
from bot.cli_tables import print_table, signed_amount
from handlers.telegram.formatting.figures import duration
from trading.figures import PERIODS, Period, Stats
from trading.money import CONTEXT
from trading.views import amount

if TYPE_CHECKING:
    from bot.assembly import Assembly

LABELS = {"day": "today", "week": "this week", "month": "this month", "all": "all time"}


@click.command("pnl", context_settings=CLICK_CONTEXT)
@click.option(
    "--period",
    type=click.Choice(PERIODS, case_sensitive=False),
    default=None,
    help="One period (default: all of them); performance then covers its closed trades.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable (as GET /stats).")
@with_services
async def pnl(services: Assembly, period: str | None, as_json: bool) -> None:
    """PnL, equity and drawdown per period; performance per bot and symbol.

    One table per quote currency (today, this week, this month, all time), then each bot's and
    symbol's closed trades: win rate, profit factor, average win and loss, fees."""
    reports = services.reports
    chosen: Period | None = period.lower() if period else None  # type: ignore[assignment]
    stats = await (reports.pnl(chosen) if chosen else reports.stats())
    if as_json:
        click.echo(json.dumps(stats.to_json(), indent=2))
    else:
        show(stats)


def show(stats: Stats) -> None:
    """Per currency a line and a table of periods, then performance per bot and symbol: money
    to the currency's cents (`--json` keeps every digit), tables that fit the terminal."""
    if stats.empty:
        click.echo("no trades or open positions yet: figures appear once a bot has traded")
        return
    hour = stats.reset_hour
    for quote, c in stats.currencies.items():
        click.echo(
            f"{quote}  equity {amount(c.now, quote)}  peak {amount(c.peak, quote)}  drawdown "
            f"{c.drawdown_pct.quantize(Decimal('0.01'), context=CONTEXT):f}% "
            f"({amount(c.drawdown, quote)})\n      open positions {c.equity.open_positions} "
            f"(realized on them {amount(c.open_realized, quote)})"
        )
        print_table(
            (
                "period",
                "since",
                "realized",
                "unrealized",
                "eq. change",
                "trades",
                "wins",
                "fees",
            ),
            [
                (
                    LABELS[period],
                    f"{f.start.astimezone(UTC):%m-%d %H:%M}" if f.start else "-",
                    signed_amount(f.realized, quote),
                    signed_amount(f.unrealized, quote),
                    signed_amount(f.equity_change, quote),
                    str(f.trades),
                    str(f.wins),
                    amount(f.fees, quote),
                )
                for period, f in c.periods.items()
            ],
            right=("realized", "unrealized", "eq. change", "trades", "wins", "fees"),
            title=f"{quote} by period (days from {hour:02d}:00 UTC, weeks from Monday)",
        )
    for quote in stats.failed:
        click.echo(f"{quote}: figures cannot be computed (see the log)")
    if not stats.performance:
        click.echo(f"no closed trades {LABELS[stats.scope]}")
        return
    print_table(
        (
            "bot",
            "symbol",
            "trades",
            "win %",
            "PF",
            "avg win",
            "avg loss",
            "best",
            "worst",
            "held",
            "pnl",
            "fees",
        ),
        [
            (
                p.bot,
                p.symbol,
                str(p.trades),
                f"{p.win_rate.quantize(Decimal('0.1'), context=CONTEXT):f}",
                _ratio(p.profit_factor) or ("inf" if p.wins else "-"),
                signed_amount(p.avg_win, p.quote),
                signed_amount(p.avg_loss, p.quote),
                signed_amount(p.best, p.quote),
                signed_amount(p.worst, p.quote),
                duration(p.avg_duration_seconds),
                signed_amount(p.pnl, p.quote),
                amount(p.fees, p.quote),
            )
            for p in stats.performance
        ],
        right=("trades", "win %", "PF", "avg win", "avg loss", "best", "worst", "pnl", "fees"),
        title=f"performance by bot and symbol ({LABELS[stats.scope]}, after fees)",
    )


def _ratio(value: Decimal | None) -> str | None:
    return None if value is None else f"{value.quantize(Decimal('0.0001'), context=CONTEXT):f}"
