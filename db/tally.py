"""Running figures over rows written once and never changed (`trade_history`, `equity_snapshots`),
kept per key and brought up to date by reading only the rows added since the last look.

A `Tally` remembers, per key (a quote currency), the count and highest id of the rows it has
folded in and the figure so far; `plan` adds to a `sql.Batch` the statements that read what is
new, and `value` folds it in once the batch has run, so a caller reads its other rows in the
same single trip. On SQLite ids are handed out under the single writer's lock, so they grow in
commit order and "id above the last one seen" is exact. Elsewhere a transaction can commit a
lower id after a higher one, so the count is read as well (after the new rows, so it can only
see more): when it does not add up, the rows of the last `WINDOW` ids are read, and those not
seen yet folded in when that accounts for every row (a transaction that commits late took its
id a moment before, among the last ones); otherwise, or where the order of the rows matters
(`restart`), every row of the key is read and folded again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from db import sql
from trading import money

# (the figure so far or None, the new values) -> the figure
Fold = Callable[[Decimal | None, Iterable[Decimal]], Decimal | None]


def add_up(prior: Decimal | None, values: Iterable[Decimal]) -> Decimal:
    """The exact sum (`money.total`); 0 over no rows."""
    return money.total([prior if prior is not None else Decimal(0), *values])


def highest(prior: Decimal | None, values: Iterable[Decimal]) -> Decimal | None:
    """The largest value; None over no rows."""
    return max([*([] if prior is None else [prior]), *values], default=None)


# Ids below the highest seen whose rows may still be missing when the count does not add up
WINDOW = 256


@dataclass(frozen=True, slots=True)
class _Seen:
    count: int
    top: int
    value: Decimal | None
    recent: frozenset[int] = frozenset()  # the ids seen among the last WINDOW below `top`


@dataclass(frozen=True, slots=True)
class Planned:
    """Where a tally's statements are in a batch (`Tally.plan`)."""

    key: str
    rows: int
    counted: int | None


class Tally:
    """`fold` over the money column `column` of `table`'s rows whose `key_column` is the key."""

    def __init__(
        self,
        table: str,
        column: str,
        key_column: str,
        fold: Fold,
        *,
        restart: tuple[str, str] | None = None,
    ) -> None:
        """`restart=(column, value)`: a row whose `column` is `value` starts the figure afresh
        from its own amount (rows are folded in id order)."""
        self._fold = fold
        self._restart = restart
        self._seen: dict[str, _Seen] = {}
        where = f'FROM "{table}" WHERE "{key_column}" = ?'
        marker = f', "{restart[0]}"' if restart else ""
        self._all = f'SELECT "id", "{column}"{marker} {where}'
        self._new = f'{self._all} AND "id" > ?'
        self._all += ' ORDER BY "id"'
        self._new += ' ORDER BY "id"'
        self._count = f'SELECT COUNT("id") {where}'

    def _folded(self, prior: Decimal | None, rows: list) -> Decimal | None:  # type: ignore[type-arg]
        if self._restart is None:
            return self._fold(prior, (money.from_column(row[1]) for row in rows))
        value = prior
        for row in rows:
            amount = money.from_column(row[1])
            value = amount if row[2] == self._restart[1] else self._fold(value, (amount,))
        return value

    def plan(self, batch: sql.Batch, key: str) -> Planned:
        """Add the reads that bring `key` up to date to `batch` (run it, then `value`)."""
        seen = self._seen.get(key)
        rows = batch.fetch(self._new, key, seen.top if seen else 0)
        counted = None if sql.ids_in_commit_order() else batch.fetch(self._count, key)
        return Planned(key, rows, counted)

    async def value(self, planned: Planned, results: list[object]) -> Decimal | None:
        """The figure of `planned.key`, from the results of the batch it was planned in."""
        seen = self._seen.get(planned.key) or _Seen(0, 0, None)
        new_rows: list = results[planned.rows]  # type: ignore[assignment]
        state = self._fold_in(seen, new_rows, track=planned.counted is not None)
        if planned.counted is not None:
            counted: list = results[planned.counted]  # type: ignore[assignment]
            if int(counted[0][0] or 0) != state.count:  # committed out of id order
                late = await self._late(planned.key, seen, new_rows, state)
                state = late or await self._again(planned.key)
        self._seen[planned.key] = state
        return state.value

    def _fold_in(self, seen: _Seen, rows: list, *, track: bool = True) -> _Seen:  # type: ignore[type-arg]
        """`seen` with `rows` (not seen yet) folded in; `track`: keep the recent ids (where ids
        may be committed out of order)."""
        if not rows:
            return seen
        ids = [int(row[0]) for row in rows]
        top = max(seen.top, *ids)
        recent = (
            frozenset(i for i in (*seen.recent, *ids) if i > top - WINDOW) if track else frozenset()
        )
        return _Seen(seen.count + len(rows), top, self._folded(seen.value, rows), recent)

    async def _late(
        self,
        key: str,
        seen: _Seen,
        new_rows: list,  # type: ignore[type-arg]
        state: _Seen,
    ) -> _Seen | None:
        """`state` (`seen` with `new_rows`) with the rows committed late folded in, read among
        the ids above the last `WINDOW` below `seen.top`; None when some are older, or the
        rows' order matters."""
        if self._restart is not None:
            return None
        low = max(seen.top - WINDOW, 0)  # `seen.recent`: every id folded above it
        batch = sql.Batch()
        rows_at = batch.fetch(self._new, key, low)
        count_at = batch.fetch(self._count, key)
        results = await sql.run(batch)
        folded = seen.recent.union(int(row[0]) for row in new_rows)
        found: list = results[rows_at]  # type: ignore[assignment]
        missing = [row for row in found if int(row[0]) not in folded]
        late = self._fold_in(state, missing)
        total = int(results[count_at][0][0] or 0)  # type: ignore[index]
        return late if total == late.count else None

    async def _again(self, key: str) -> _Seen:
        """Every row of `key` read and folded afresh."""
        batch = sql.Batch()
        batch.fetch(self._all, key)
        (rows,) = await sql.run(batch)
        return self._fold_in(_Seen(0, 0, None), rows)
