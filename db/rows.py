"""Reading rows for the views: one by one (a bad row is left out, never hides the others),
filtered by a bot's name, with the bots' names."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

from db import sql
from db.models import TradingBot

log = logging.getLogger(__name__)


def decoded(model: type[Any], rows: list[Any], names: tuple[str, ...]) -> list[SimpleNamespace]:
    """Rows of `model` decoded one by one: a row that cannot be read (a value no column type
    allows, written by hand) is left out and logged, and never hides the others."""
    result = []
    for row in rows:
        try:
            result.append(SimpleNamespace(**sql.decode(model, row, names)))
        except Exception:
            log.exception("%s row id=%r cannot be read: left out", model.__name__, row[0])
    return result


def filters(bot_name: str | None, **equal: Any) -> tuple[str, list[Any]]:
    """A WHERE clause (empty when nothing to filter) on the bot's name and equal columns."""
    where, params = [], []
    if bot_name:
        where.append('"bot_id" IN (SELECT "id" FROM "trading_bots" WHERE "name" = ?)')
        params.append(bot_name)
    for column, value in equal.items():
        if value is not None:
            where.append(f'"{column}" = ?')
            params.append(value)
    return (f" WHERE {' AND '.join(where)}" if where else ""), params


async def bot_names(bot_ids: set[int]) -> dict[int, str]:
    return dict(await TradingBot.filter(id__in=bot_ids).values_list("id", "name"))  # type: ignore[arg-type]
