"""`tradebot positions`, `trades`, `close NAME|ID`, `closeall` (SPEC §2): tables that fit the
terminal, or `--json`. Closes go through `ControlService.close` / `close_all`, the calls behind
the chat's /close and /closeall, audited as `cli`, at market with the reason `manual`. What the
chat's confirmation button protects, the CLI asks on the terminal (or takes `--yes`).

    tradebot positions --bot swing
    tradebot close 12           # position #12
    tradebot close swing --yes  # every position of bot swing, without asking
    tradebot closeall
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import click

from bot.assembly import Assembly
from bot.cli_bots import confirm
from bot.cli_common import CLICK_CONTEXT, print_json, with_services
from bot.cli_tables import print_table, signed_amount
from trading.access import CLI
from trading.control import Closed
from trading.money import total
from trading.views import PositionView, amount, figure

# ---------------------------------------------------------------- positions / trades


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%m-%d %H:%M")


def _positions_table(items: Sequence[PositionView], err: bool = False) -> None:
    print_table(
        ("id", "bot", "symbol", "side", "qty", "avg price", "last", "unrealized", "n", "opened"),
        [
            (
                str(p.id),
                p.bot,
                p.symbol,
                p.side,
                figure(p.qty),
                figure(p.avg_price),
                figure(p.last_price) if p.last_price is not None else "-",
                signed_amount(p.unrealized_pnl, p.quote),
                str(p.entries),
                _when(p.opened_at),
            )
            for p in items
        ],
        right=("id", "qty", "avg price", "last", "unrealized", "n"),
        title="open positions (unrealized in each symbol's quote; n: entries; opened UTC)",
        err=err,
    )


@click.command(context_settings=CLICK_CONTEXT)
@click.option("--bot", "bot_name", default=None, help="Only this bot's positions.")
@click.option("--json", "as_json", is_flag=True)
@with_services
async def positions(services: Assembly, bot_name: str | None, as_json: bool) -> None:
    """Open positions.

    With their average price, last price and unrealized PnL."""
    if bot_name is not None:
        await services.control.bot(bot_name)  # no bot of that name: said, exit status 2
    items = await services.control.positions(bot_name)
    if as_json:
        print_json([item.model_dump(mode="json") for item in items])
        return
    if not items:
        click.echo("no open positions" + (f" of {bot_name}" if bot_name else ""))
        return
    _positions_table(items)


@click.command(context_settings=CLICK_CONTEXT)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--bot", "bot_name", default=None, help="Only this bot's trades.")
@click.option("--json", "as_json", is_flag=True)
@with_services
async def trades(services: Assembly, limit: int, bot_name: str | None, as_json: bool) -> None:
    """Closed trades, newest first."""
    items = await services.reports.trades(limit, bot_name=bot_name)
    if bot_name is not None and not items:
        await services.control.bot(bot_name)  # a deleted bot's trades are still shown
    if as_json:
        print_json([item.model_dump(mode="json") for item in items])
        return
    if not items:
        click.echo("no closed trades yet")
        return
    print_table(
        ("id", "bot", "symbol", "side", "qty", "entry", "exit", "pnl", "fees", "reason", "closed"),
        [
            (
                str(t.id),
                t.bot,
                t.symbol,
                t.side,
                figure(t.qty),
                figure(t.entry_price),
                figure(t.exit_price),
                signed_amount(t.pnl, t.quote),
                amount(t.fees, t.quote),
                t.reason,
                _when(t.closed_at),
            )
            for t in items
        ],
        right=("id", "qty", "entry", "exit", "pnl", "fees"),
        title="closed trades (pnl after fees, in each symbol's quote; closed UTC)",
    )


# ---------------------------------------------------------------- close / closeall


def _closed_json(item: Closed) -> dict[str, Any]:
    return {"position": item.position.model_dump(mode="json"), "result": item.result.answer()}


def _show_closed(items: list[Closed]) -> None:
    """One line per position: closed at what price with what PnL, or why not; then the total
    PnL per quote currency."""
    pnl: dict[str, list[Decimal]] = {}
    for item in items:
        p, result = item.position, item.result
        what = f"#{p.id} {p.bot} {p.symbol} {p.side}"
        if result.status != "executed":
            click.echo(f"not closed {what}: {result.reason}")
            continue
        order = result.order or {}
        line = f"closed {what} {figure(Decimal(order.get('qty') or p.qty))}"
        if order.get("price") is not None:
            line += f" @ {figure(Decimal(order['price']))}"
        if order.get("trade_pnl") is not None:
            trade_pnl = Decimal(order["trade_pnl"])
            pnl.setdefault(p.quote, []).append(trade_pnl)
            line += f" · PnL {amount(trade_pnl, p.quote, signed=True)} {p.quote} after fees"
        click.echo(line)
    done = sum(item.result.status == "executed" for item in items)
    sums = ", ".join(f"{amount(total(v), q, signed=True)} {q}" for q, v in sorted(pnl.items()))
    click.echo(f"{done} of {len(items)} closed" + (f" · PnL {sums}" if sums else ""))


def _report(closed: list[Closed], as_json: bool) -> None:
    """What was closed, as JSON or lines; exit status 1 when one was not (refused by the
    broker, or closed meanwhile): not the user's mistake."""
    if as_json:
        print_json([_closed_json(item) for item in closed])
    else:
        _show_closed(closed)
    if any(item.result.status != "executed" for item in closed):
        sys.exit(1)


@click.command(context_settings=CLICK_CONTEXT)
@click.argument("target", metavar="NAME|ID")
@click.option("--yes", is_flag=True, help="Do not ask first (for scripts).")
@click.option("--json", "as_json", is_flag=True)
@with_services
async def close(services: Assembly, target: str, yes: bool, as_json: bool) -> None:
    """Close a position at market, by bot name or id.

    ID closes that position, NAME every position of that bot, as the chat's /close does (audited
    as `cli`, reason `manual`). Shows what it will close and asks first unless --yes; with no
    terminal to ask on (a script), --yes is needed.

    \b
    tradebot close 12
    tradebot close swing --yes"""
    chosen = await services.control.to_close(target)
    if not yes:
        _positions_table(chosen, err=as_json)
        confirm(f"Close {'this position' if len(chosen) == 1 else 'these positions'} at market?")
    closed = await services.control.close(CLI, target, shown=chosen)
    _report(closed, as_json)


@click.command(context_settings=CLICK_CONTEXT)
@click.option("--yes", is_flag=True, help="Do not ask first (for scripts).")
@click.option("--json", "as_json", is_flag=True)
@with_services
async def closeall(services: Assembly, yes: bool, as_json: bool) -> None:
    """Close every open position at market.

    One by one, as the chat's /closeall does; a refusal does not stop the others. Shows them and
    asks first unless --yes; with no terminal to ask on (a script), --yes is needed."""
    chosen = await services.control.positions()
    if not chosen:
        if as_json:
            print_json([])
        else:
            click.echo("no open positions to close")
        return
    if not yes:
        _positions_table(chosen, err=as_json)
        confirm(f"Close all {len(chosen)} open position(s) at market?")
    closed = await services.control.close_all(CLI, shown=chosen)
    _report(closed, as_json)
