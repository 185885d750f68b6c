"""Tables in the terminal that fit its width (80 columns included): a symbol, a name, an id or a
figure is never cut or folded. A table too wide for the terminal is printed as one block per row
instead (`label value` pairs, wrapped between pairs only). URLs are printed with `click.echo`,
outside any table, so a terminal copies them whole."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from trading.views import amount

GAP = 2  # spaces between two columns


def terminal(err: bool = False) -> Console:
    """A console for this command's output (stderr with `err`), as wide as the terminal
    (COLUMNS) is now."""
    return Console(highlight=False, stderr=err)


def print_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    right: Sequence[str] = (),
    title: str | None = None,
    err: bool = False,
) -> None:
    """`rows` of cells (rich markup allowed) under `headers`; figures in `right` columns are
    right-aligned. Too wide for the terminal: one block per row. `err`: on stderr (what a
    command shows before asking, when its answer is JSON)."""
    console = terminal(err)
    plain_rows = [[Text.from_markup(cell).plain for cell in row] for row in rows]
    widths = [
        max([len(header)] + [len(row[n]) for row in plain_rows]) for n, header in enumerate(headers)
    ]
    if title:
        click.echo(title, err=err)
    if sum(widths) + GAP * (len(widths) - 1) <= console.width:
        table = Table(box=None, pad_edge=False, padding=(0, GAP // 2), header_style="bold")
        for header, width in zip(headers, widths, strict=True):
            justify = "right" if header in right else "left"
            table.add_column(header, no_wrap=True, min_width=width, justify=justify)
        for row in rows:
            table.add_row(*row)
        console.print(table)
        return
    for number, cells in enumerate(plain_rows):
        if number:
            click.echo(err=err)
        pairs = [f"{header}: {cell}" for header, cell in zip(headers, cells, strict=True)]
        click.echo("\n".join(_packed(pairs, console.width)), err=err)


def _packed(pairs: list[str], width: int) -> list[str]:
    """`pairs` on as few lines as fit `width`, two spaces apart; a pair is never split (one
    longer than the line has a line of its own)."""
    lines: list[str] = []
    for pair in pairs:
        if lines and len(lines[-1]) + 2 + len(pair) <= width:
            lines[-1] += "  " + pair
        else:
            lines.append(pair)
    return lines


def signed_amount(value: Decimal | None, quote: str) -> str:
    """A PnL for a table: signed, to the quote's places, red below zero and green above."""
    if value is None:
        return "-"
    text = amount(value, quote, signed=True)
    return f"[red]{text}[/]" if value < 0 else f"[green]{text}[/]" if value > 0 else text
