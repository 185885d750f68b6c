"""The one rule for numbers a sender types (SPEC §5), and the bounds of what the product trades.

A number is a plain decimal: an optional sign, ASCII digits, an optional `.` and digits, an
optional exponent. No grouping (`1,000`, `1_000`, `1 000`), no decimal comma (`0,01`), no other
scripts' digits, no NaN or infinity: anything else is refused, never read as some other
magnitude. (Python's `Decimal` alone reads `1_000`, `١٠٠` and `NaN`; it is never handed a
sender's text before this grammar has matched it.)

Bounds: storage columns are NUMERIC(38,12), 26 digits before the point. Quantities and prices
are kept under 10^12 and an order's notional under 10^15, so any position the product opens,
valued at any accepted price, still fits the columns (10^12 × 10^12 = 10^24).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from trading.money import QUANTUM

MIN_VALUE = QUANTUM  # the columns' resolution: 12 decimals
MAX_QTY = Decimal("1e12")
MAX_PRICE = Decimal("1e12")
MAX_NOTIONAL = Decimal("1e15")
MAX_NUMBER = Decimal("1e15")  # any other number a sender gives (an indicator value, say)

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,6})?")
_PLACEHOLDER = re.compile(r"\{\{[^}]*\}\}")


def parse_number(value: Any) -> Decimal:
    """A finite decimal from a JSON number or a string in the plain-decimal grammar.

    Raises ValueError saying what was wrong (the caller names the field).
    """
    if isinstance(value, bool) or value is None:
        raise ValueError("must be a number")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("must be a finite number")
        return value
    if isinstance(value, int):
        text = str(value) if abs(value) < 10**40 else "1e40"  # beyond every bound, no int->str
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise ValueError("must be a number")
    if _PLACEHOLDER.search(text):
        raise ValueError("is an unexpanded TradingView placeholder")
    if not _NUMBER.fullmatch(text):
        if text.lstrip("+-").lower() in ("nan", "snan", "inf", "infinity"):
            raise ValueError("must be a finite number (no NaN or infinity)")
        if "," in text:
            raise ValueError(
                f"must be a plain decimal with '.' as the decimal mark and no grouping, "
                f"got {text[:40]!r}"
            )
        raise ValueError(f"must be a number, got {text[:40]!r}")
    try:
        number = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the grammar admits only what Decimal reads
        raise ValueError(f"must be a number, got {text[:40]!r}") from None
    if not number.is_finite():
        raise ValueError("must be a finite number")
    return number


def bounded(
    value: Any,
    *,
    maximum: Decimal = MAX_NUMBER,
    allow_negative: bool = False,
    allow_zero: bool = False,
) -> Decimal:
    """`parse_number`, then within ±`maximum` and rounded to the columns' 12 decimals; a
    non-zero value that would round to zero is refused (1e-20 must not become 0)."""
    number = parse_number(value)
    if number.copy_abs() >= maximum:  # copy_abs: exact, no Overflow on 1e999999
        raise ValueError(f"is too large (must be under 1e{maximum.adjusted()})")
    if number < 0 and not allow_negative:
        raise ValueError("must not be negative")
    if number.as_tuple().exponent < -12:  # type: ignore[operator]
        rounded = to_columns(number)
        if rounded == 0 and number != 0:
            raise ValueError("is too small (under 1e-12)")
        if rounded.copy_abs() >= maximum:  # 999999999999.9999999999999 rounds up to 1e12
            raise ValueError(f"is too large (must be under 1e{maximum.adjusted()})")
        number = rounded
    if number == 0 and not allow_zero:
        raise ValueError("must be greater than zero")
    return number


def to_columns(number: Decimal) -> Decimal:
    """`number` at the columns' 12 decimals (as stored), for a value under the bounds; more
    decimals than that round, fewer stay as they are."""
    if number.as_tuple().exponent >= -12 or number.copy_abs() >= MAX_NUMBER:  # type: ignore[operator]
        return number
    return number.quantize(QUANTUM).normalize()


def quantity(value: Any, *, allow_negative: bool = False, allow_zero: bool = False) -> Decimal:
    return bounded(value, maximum=MAX_QTY, allow_negative=allow_negative, allow_zero=allow_zero)


def price(value: Any) -> Decimal:
    return bounded(value, maximum=MAX_PRICE)


def notional_error(qty: Decimal, at_price: Decimal) -> str | None:
    """Why an order of `qty` at `at_price` is too large to trade, if it is."""
    if qty.copy_abs() >= MAX_QTY:
        return f"order quantity {qty:f} is over the limit (1e{MAX_QTY.adjusted()})"
    if (qty * at_price).copy_abs() >= MAX_NOTIONAL:
        return (
            f"order notional {qty:f} × {at_price:f} is over the limit (1e{MAX_NOTIONAL.adjusted()})"
        )
    return None


def whole_number(text: str, low: int, high: int) -> int | None:
    """A whole number from `low` to `high` as a person or a sender writes it (ASCII digits,
    leading zeros allowed), or None. Checked before `int()`: `int` reads `1_000` and other
    scripts' digits, and refuses more than 4,300 digits; `'²'.isdigit()` is true."""
    digits = text.lstrip("0") or ("0" if text else "")
    if (
        not digits
        or len(digits) > len(str(high))
        or not (digits.isascii() and digits.isdigit())
        or not low <= int(digits) <= high
    ):
        return None
    return int(digits)
