"""Open positions (the `PositionStore`): their books, levels, claims and views. A fill's writes
to them are the order store's (`db.fills`)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from tortoise.expressions import Q
from tortoise.functions import Count, Max, Sum
from tortoise.transactions import in_transaction

from db import sql
from db.models import CurrentPosition
from db.prices import valuation_prices
from db.rows import bot_names, decoded, filters
from trading.errors import NotFound
from trading.positions import PositionState
from trading.prices import newest
from trading.protection import load_take_profits
from trading.records import Claim, PositionClaimed, PositionLevels, StoredPosition
from trading.views import PositionView, position_view

log = logging.getLogger(__name__)

LEVEL_COLUMNS = (
    "id",
    "version",
    "bot_id",
    "symbol",
    "side",
    "avg_price",
    "sl",
    "tp",
    "trail",
    "take_profits",
    "trail_peak",
    "closing_token",
    "closing_at",
)


def _levels(row: tuple[Any, ...]) -> PositionLevels:
    values = dict(zip(LEVEL_COLUMNS, row, strict=True))
    values["take_profits"] = load_take_profits(values["take_profits"])
    return PositionLevels(**values)


def position_state(row: Any) -> PositionState:
    """The books of a `current_positions` row (a model or a decoded row)."""
    return PositionState(
        side=row.side,
        qty=row.qty,
        avg_price=row.avg_price,
        entries=row.entries,
        opened_qty=row.opened_qty,
        opened_at=row.opened_at,
        exit_qty=row.exit_qty,
        exit_value=row.exit_value,
        realized_pnl=row.realized_pnl,
        fees=row.fees,
    )


def stored_position(row: Any) -> StoredPosition:
    return StoredPosition(
        row.id,
        row.version,
        position_state(row),
        row.sl,
        row.tp,
        row.trail,
        take_profits=load_take_profits(row.take_profits),
        trail_peak=row.trail_peak,
        trail_stop=row.trail_stop,
        closing_token=row.closing_token,
        closing_at=row.closing_at,
        bot_id=row.bot_id,
        symbol=row.symbol,
    )


def take_claim(batch: sql.Batch, claim: Claim) -> None:
    """Claim the position unless someone else holds an unexpired claim (PositionClaimed)."""
    expired = claim.at - timedelta(seconds=claim.ttl)
    batch.update(
        CurrentPosition,
        {"closing_token": claim.token, "closing_at": claim.at},
        '"id" = ? AND "version" = ? AND ("closing_token" IS NULL OR "closing_at" < ?)',
        claim.position_id,
        claim.version,
        expired,
        require=PositionClaimed(f"position {claim.position_id} is claimed or changed"),
    )


class SqlPositionStore:
    """`trading.ports.PositionStore` on the `current_positions` table."""

    async def load_position(self, bot_id: int, symbol: str) -> StoredPosition | None:
        """A bot's open position in a symbol (several times per alert: lean SQL)."""
        names, select = sql.select_all(CurrentPosition)
        batch = sql.Batch()
        batch.fetch(f'{select} WHERE "bot_id" = ? AND "symbol" = ?', bot_id, symbol)
        (rows,) = await sql.run(batch)
        if not rows:
            return None
        return stored_position(SimpleNamespace(**sql.decode(CurrentPosition, rows[0], names)))

    async def watched_positions(self) -> list[PositionLevels]:
        """Every open position with a stop, a target or a trailing stop (the monitor's index)."""
        rows = (
            await CurrentPosition.filter(
                Q(sl__isnull=False) | Q(tp__isnull=False) | Q(trail__isnull=False)
            )
            .order_by("id")
            .values_list(*LEVEL_COLUMNS)
        )
        return [_levels(row) for row in rows]

    async def positions_fingerprint(self) -> tuple[int, int, int]:
        """(count, highest id, sum of versions) of open positions: changes whenever a position
        is opened, closed, filled or has its levels changed, for one cheap query."""
        rows = (
            await CurrentPosition.all()
            .annotate(n=Count("id"), top=Max("id"), versions=Sum("version"))
            .values("n", "top", "versions")
        )
        row = rows[0] if rows else {}
        return int(row.get("n") or 0), int(row.get("top") or 0), int(row.get("versions") or 0)

    async def position_versions(self) -> dict[int, int]:
        """id -> version of every open position: what changed since the monitor last looked."""
        rows = await CurrentPosition.all().values_list("id", "version")
        return {int(pid): int(version) for pid, version in rows}

    async def positions_touched_since(self, since: datetime) -> list[PositionLevels]:
        """Positions opened, filled or given new levels since `since` (by `updated_at`)."""
        rows = await CurrentPosition.filter(updated_at__gte=since).values_list(*LEVEL_COLUMNS)
        return [_levels(row) for row in rows]

    async def positions_of(self, position_ids: list[int]) -> list[PositionLevels]:
        rows = await CurrentPosition.filter(id__in=position_ids).values_list(*LEVEL_COLUMNS)
        return [_levels(row) for row in rows]

    async def release_claim(self, position_id: int, token: str) -> None:
        """Give a claim back (the order it guarded traded nothing)."""
        await CurrentPosition.filter(id=position_id, closing_token=token).update(
            closing_token=None, closing_at=None
        )

    async def position_by_id(self, position_id: int) -> tuple[int, str] | None:
        """(bot id, symbol) of an open position."""
        row = await CurrentPosition.get_or_none(id=position_id)
        return (row.bot_id, row.symbol) if row else None  # type: ignore[attr-defined]

    async def open_positions_of(self, bot_id: int) -> list[str]:
        return await CurrentPosition.filter(bot_id=bot_id).values_list("symbol", flat=True)  # type: ignore[return-value]

    async def open_symbols(self) -> list[str]:
        """Every symbol with an open position, once each (one indexed query)."""
        rows = await CurrentPosition.all().distinct().values_list("symbol", flat=True)
        return sorted({str(symbol) for symbol in rows})

    async def list_positions(
        self, bot_name: str | None = None, position_id: int | None = None
    ) -> list[PositionView]:
        """Open positions (oldest first) with their unrealized PnL at the symbol's last price.

        Every stored value works (`trading.money`), and rows are read and shown one by one: a
        row that cannot be read is left out, one whose PnL cannot be computed is shown without
        it, each logged. One bad position never breaks `/positions`, `/status`, `/pnl` or
        `GET /positions` for every bot."""
        names, select = sql.select_all(CurrentPosition)
        where, params = filters(bot_name, id=position_id)
        batch = sql.Batch()
        batch.fetch(f'{select}{where} ORDER BY "id"', *params)
        (raw,) = await sql.run(batch)
        rows = decoded(CurrentPosition, raw, names)
        bots = await bot_names({row.bot_id for row in rows})
        shared, own = await valuation_prices(sorted({row.symbol for row in rows}))
        views = []
        for row in rows:
            price = newest(shared.get(row.symbol), own.get((row.bot_id, row.symbol)))
            try:
                views.append(
                    position_view(
                        position_id=row.id,
                        bot=bots.get(row.bot_id, "?"),
                        symbol=row.symbol,
                        state=position_state(row),
                        sl=row.sl,
                        tp=row.tp,
                        trail=row.trail,
                        quote=row.quote,
                        price=price,
                    )
                )
            except Exception:
                log.exception("position #%s %s cannot be shown: left out", row.id, row.symbol)
        return views

    async def update_stops(
        self, position_id: int, sl: Decimal | None, tp: Decimal | None, trail: str | None
    ) -> None:
        """Change a position's levels. The version moves so monitors in other processes see it."""
        async with in_transaction():
            row = await CurrentPosition.get_or_none(id=position_id)
            if row is None:
                raise NotFound(f"position #{position_id} is already closed")
            await CurrentPosition.filter(id=position_id).update(
                sl=sl, tp=tp, trail=trail, version=row.version + 1, updated_at=datetime.now(UTC)
            )

    async def ratchet_trailing(
        self,
        symbol: str,
        side: str,
        peak: Decimal,
        seen_at: datetime,
        stops: dict[str, Decimal],
        bot_id: int | None = None,
    ) -> int:
        """Raise the stored best price of `side` positions of `symbol` that trail to `peak` (a
        price seen at `seen_at`), for every position opened before then whose best price is not
        as good; `stops` gives the trailing stop at `peak` per trail setting ("1%" -> stop).
        `bot_id`: whose price it was: a bot's own alert raises that bot's positions only; None
        (the exchange's) every bot's. One statement per trail setting, whatever the number of
        positions."""
        worse = "trail_peak__lt" if side == "long" else "trail_peak__gt"
        mine = {} if bot_id is None else {"bot_id": bot_id}
        changed = 0
        async with in_transaction():
            for trail, stop in stops.items():
                changed += (
                    await CurrentPosition.filter(
                        symbol=symbol, side=side, trail=trail, opened_at__lte=seen_at, **mine
                    )
                    .filter(Q(trail_peak__isnull=True) | Q(**{worse: peak}))
                    .update(trail_peak=peak, trail_stop=stop)
                )
        return changed

    async def trail_settings(self, symbol: str, side: str, bot_id: int | None = None) -> list[str]:
        """The distinct trailing settings of open `side` positions of `symbol` (of one bot's)."""
        mine = {} if bot_id is None else {"bot_id": bot_id}
        rows = await (
            CurrentPosition.filter(symbol=symbol, side=side, trail__isnull=False, **mine)
            .distinct()
            .values_list("trail", flat=True)
        )
        return [str(row) for row in rows]
