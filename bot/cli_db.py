"""`tradebot db copy --from URL --to URL` (SPEC §2, §11): every row of every table into another
database, ids kept; how an SQLite deployment moves to PostgreSQL (deploy/README.md).

The target is migrated first and must hold no product data; the copy is one transaction on it.
Stop every process that writes to the source first: what it writes after the copy's snapshot
is not copied. Every mistake is one line naming it, exit status 2.
"""

from __future__ import annotations

import click

from bot.cli_common import CLICK_CONTEXT, Mistake, print_json, run, shown_url

SCHEMES = ("sqlite://", "postgres://", "postgresql://", "asyncpg://")


@click.group("db", context_settings=CLICK_CONTEXT)
def db() -> None:
    """Database tools: copy every row to another database."""


def _database_url(ctx: click.Context, param: click.Parameter, value: str) -> str:
    value = value.strip()
    if not value.startswith(SCHEMES):
        raise click.BadParameter("must start with sqlite:// or postgres://")
    return value


@db.command(
    "copy",
    context_settings=CLICK_CONTEXT,
    epilog="""\b
Examples:
  tradebot db copy --from sqlite://data/tradebot.sqlite3 \\
      --to postgres://tradebot:secret@127.0.0.1:5432/tradebot
  tradebot db copy --from sqlite://data/tradebot.sqlite3 --to sqlite://backup.sqlite3 --json

Stop the tradebot processes that use the source first. The target is migrated, must hold no
data, and is written in one transaction: a copy that fails leaves it empty.""",
)
@click.option(
    "--from", "source", required=True, callback=_database_url, metavar="URL",
    help="The database to copy (only read).",
)  # fmt: skip
@click.option(
    "--to", "target", required=True, callback=_database_url, metavar="URL",
    help="An empty database (migrated first); e.g. postgres://user:password@host:5432/name.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def copy(source: str, target: str, as_json: bool) -> None:
    """Copy every row of every table to another database, ids kept."""
    from db.copy import CopyRefused, copy_database

    try:
        copied = run(copy_database(source, target))
    except CopyRefused as exc:
        where = {"source": f"--from {shown_url(source)}", "target": f"--to {shown_url(target)}"}
        prefix = f"{where[exc.side]}: " if exc.side else "--from and --to: "
        raise Mistake(prefix + exc.message) from None
    total = sum(table.rows for table in copied)
    if as_json:
        print_json(
            {
                "from": shown_url(source),
                "to": shown_url(target),
                "tables": {table.table: table.rows for table in copied},
                "rows": total,
            }
        )
        return
    from bot.cli_tables import print_table

    rows = [[table.table, str(table.rows)] for table in copied]
    print_table(["table", "rows"], [*rows, ["total", str(total)]], right=["rows"])
    click.echo(f"Copied {total} rows from {shown_url(source)} to {shown_url(target)}.")
