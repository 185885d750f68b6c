"""Lists in a chat message: aligned tables, a cap on rows, and rows that fail alone (a row
that cannot be shown reads as such, logged, without failing the list)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from html import escape

log = logging.getLogger(__name__)


def table(rows: list[list[str]], right: frozenset[int] = frozenset()) -> str:
    """A <pre> block with padded columns (`right` = indexes of right-aligned columns)."""
    if not rows:
        return ""
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return "<pre>" + escape("\n".join(lines)) + "</pre>"


MAX_ROWS = 25


def more(total: int, shown: int) -> list[str]:
    return [f"… and {total - shown} more"] if total > shown else []


def safe_row(render: Callable[[], str], what: str) -> str:
    """One row of a list, or a line saying it cannot be shown (logged): one bad row never
    fails the whole list."""
    try:
        return render()
    except Exception:
        log.exception("cannot format %s", what)
        return f"⚠️ {escape(what)}: cannot be shown (logged)"
