"""The one rule for money arithmetic: safe for every value the storage columns can hold.

Money columns are NUMERIC(38,12) (`db.models.MONEY`): 26 digits before the point and 12 after,
so a stored quantity, price or amount lies within ±`LIMIT` (10^26 − 10^-12), and whatever the
door accepts today, older versions, the CLI, a migration or a manual edit may have stored any of
them. Python's default decimal context keeps 28 significant digits: a product of two stored
values (up to 76 digits) is silently rounded there, `-x` and `abs(x)` of a 38-digit value are
rounded too, and quantizing anything of 17 or more integer digits to 12 places raises
`InvalidOperation`. Hence:

* **Arithmetic** on money runs in `CONTEXT` (`with wide(): ...`): 100 digits, so sums and
  products of stored values are exact and rounding them to 12 places (`q12`) never raises.
  `q12` is total: a finite value too large to quantize even there is returned as it is.
* **Ratios** (averages, percentages, profit factors) go through `ratio` / `percent`, which answer
  None when the divisor is zero instead of raising.
* **Storing** a computed value goes through `fit`: rounded to 12 places and, when it does not
  fit the column, *saturated* at ±`LIMIT` (and logged). Nothing that closes or reduces a position
  is refused for it: a close always goes through and its trade is recorded, with a realized PnL
  of 1e30 stored as +`LIMIT`. A stored value at ±`LIMIT` is the visible marker "at least this
  much" (`at_limit`): the chat shows it as `≥…` / `≤…`; the read API gives the column's bound
  `99999999999999999999999999.999999999999`. Entries are different: an order that would make a
  position's quantity too large to store is refused before it is sent (`trading.positions`).
* **Showing** a value: `plain` writes it in full (`0.5`, `65000`, never `5E-1`), without the
  28-digit rounding of `Decimal.normalize()`.
* **Reading** a stored value: `from_column` (used by the ORM field and the lean SQL decoder).
* **Lists** (`/positions`, `/status`, `/pnl`, `/trades`, `GET /positions`, `GET /trades`) read and
  show their rows one by one: a row that still cannot be read or shown (a value no column type
  allows, written by hand) is left out or marked, and logged, never failing the list of every bot.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import Any, ParamSpec, TypeVar

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

PLACES = 12
QUANTUM = Decimal(1).scaleb(-PLACES)  # 1e-12, the columns' resolution
LIMIT = Decimal("99999999999999999999999999.999999999999")  # the largest NUMERIC(38,12)
FLOOR = LIMIT.copy_negate()  # exact: `-LIMIT` in the default context rounds to -1E+26
ZERO = Decimal(0)
HUNDRED = Decimal(100)

# Two stored values multiplied have at most 76 significant digits, and a product of them still
# rounds to 12 places within 100: every computation the product makes over stored values is exact
# (divisions aside, which round at 100 digits).
PRECISION = 100
CONTEXT = Context(
    prec=PRECISION,
    rounding=ROUND_HALF_EVEN,
    Emin=-999999,
    Emax=999999,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)


def wide() -> AbstractContextManager[Context]:
    """`with wide(): ...` runs the block's decimal arithmetic in `CONTEXT`."""
    return localcontext(CONTEXT)


def exact(func: Callable[P, R]) -> Callable[P, R]:
    """A function whose decimal arithmetic runs in `CONTEXT` (`wide()` around its body)."""

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with localcontext(CONTEXT):
            return func(*args, **kwargs)

    return run


def q12(value: Decimal) -> Decimal:
    """`value` rounded (half even) to the columns' 12 decimal places, for any finite value."""
    try:
        return value.quantize(QUANTUM, rounding=ROUND_HALF_EVEN, context=CONTEXT)
    except InvalidOperation:
        # Beyond 88 integer digits: no column holds it, and 12 places are noise at that size.
        return value


def fit(value: Decimal, what: str = "value") -> Decimal:
    """`value` as a money column can hold it: rounded to 12 places, saturated at ±LIMIT."""
    rounded = q12(value)
    if rounded > LIMIT or rounded < FLOOR:
        log.warning(
            "%s %s does not fit NUMERIC(38,12): stored saturated at %s",
            what,
            format(value, ".6e"),
            "+LIMIT" if rounded > 0 else "-LIMIT",
        )
        return LIMIT if rounded > 0 else FLOOR
    return rounded


def at_limit(value: Decimal) -> bool:
    """Whether `value` is a saturated stored value (`fit` met a value too large to store).
    A computed value beyond the limit (an unrealized PnL, never stored) is exact, not this."""
    return value.is_finite() and value.copy_abs() == LIMIT


def total(values: Iterable[Decimal]) -> Decimal:
    """The exact sum of `values`."""
    result = ZERO
    for value in values:
        result = CONTEXT.add(result, value)
    return result


def ratio(part: Decimal, whole: Decimal) -> Decimal | None:
    """`part / whole` in `CONTEXT`; None when `whole` is zero."""
    if whole.is_zero():
        return None
    return CONTEXT.divide(part, whole)


def percent(part: Decimal, whole: Decimal) -> Decimal | None:
    """`part` as a percentage of `whole`; None when `whole` is zero."""
    share = ratio(part, whole)
    return None if share is None else CONTEXT.multiply(share, HUNDRED)


def plain(value: Decimal) -> str:
    """A decimal as a trader writes it: `0.5`, `65000`, never `5E-1` or `6.5E+4`; every digit
    kept (`Decimal.normalize()` in the default context would round a 38-digit value to 28)."""
    if value.is_zero():
        return "0"  # not "-0", nor "0E-12"
    return format(value.normalize(CONTEXT), "f")


def from_column(value: Any) -> Decimal:
    """A stored money value (text on SQLite, a number elsewhere) as the columns' 12-place
    Decimal: exact, whatever its size."""
    return q12(value if isinstance(value, Decimal) else Decimal(value))
