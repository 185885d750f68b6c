"""Numbers, amounts and ages as a trader reads them on a phone.

Any stored value can be shown (`trading.money`): figures of 10^15 and more are written short
(`6.50e+18`), a value saturated at the storage limit reads `≥1.00e+26` / `≤−1.00e+26`, and a
percentage of a zero amount is left out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from html import escape

from trading.money import CONTEXT, at_limit, plain, total, wide
from trading.money import percent as percent_of

MINUS = "−"
HUGE = Decimal("1e15")  # from here on a figure is written short: 6.50e+18
QTY_STEP = Decimal("1e-8")


def money(value: Decimal, places: int = 2, signed: bool = False) -> str:
    """`1,234.50`; `+12.41` / `−27.53` when signed; `6.50e+18` from 10^15 on; a value
    saturated at the storage limit (`trading.money.fit`) as `≥1.00e+26` / `≤−1.00e+26`."""
    if not value.is_finite():
        return "?"
    if value.copy_abs() >= HUGE:
        text = f"{value.copy_abs():.2e}"
        if at_limit(value):
            return f"≥{text}" if value > 0 else f"≤{MINUS}{text}"
        return f"{MINUS}{text}" if value < 0 else (f"+{text}" if signed else text)
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN, context=CONTEXT)
    text = f"{rounded.copy_abs():,.{places}f}"
    if rounded < 0:
        return f"{MINUS}{text}"
    return f"+{text}" if signed else text


def price(value: Decimal) -> str:
    """Two decimals for ordinary prices, more for small ones (0.00001234)."""
    if value.copy_abs() >= 1:
        return money(value, 2)
    return plain(value)


def qty(value: Decimal) -> str:
    """`1,234.5`: up to 8 decimals (all of a smaller quantity), short from 10^15 on."""
    magnitude = value.copy_abs()
    if not value.is_finite() or magnitude >= HUGE:
        return money(value, 0)
    if 0 < magnitude < QTY_STEP:
        return plain(value)
    text = plain(value.quantize(QTY_STEP, context=CONTEXT))
    whole, _, frac = text.partition(".")
    return f"{int(whole):,}" + (f".{frac}" if frac else "") if whole.lstrip("-").isdigit() else text


def percent(value: Decimal, signed: bool = True) -> str:
    return money(value, 2, signed=signed) + "%"


def share(part: Decimal, whole: Decimal) -> str:
    """` (+12.34%)`: `part` as a percentage of `whole`, or nothing when `whole` is zero."""
    with wide():
        ratio = percent_of(part, whole)
    return f" ({percent(ratio)})" if ratio is not None else ""


def add_to(values: dict[str, Decimal], quote: str, value: Decimal) -> None:
    """Add `value` to `values[quote]`, exactly."""
    values[quote] = total((values.get(quote, Decimal(0)), value))


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m"
    return f"{seconds}s"


def age(moment: datetime, now: datetime | None = None) -> str:
    """`3m ago`."""
    now = now or datetime.now(UTC)
    return f"{duration((now - moment).total_seconds())} ago"


def signed_position(signed: Decimal) -> str:
    if signed > 0:
        return f"long {qty(signed)}"
    if signed < 0:
        return f"short {qty(-signed)}"
    return "flat"


CRYPTO_QUOTES = frozenset({"BTC", "ETH", "BNB"})


def amounts(values: dict[str, Decimal], signed: bool = True) -> str:
    """`+12.41 USDT · −0.0001 BTC`, or `0.00` when empty."""
    if not values:
        return money(Decimal(0), signed=False)
    return " · ".join(
        f"{money(v, 6 if c in CRYPTO_QUOTES else 2, signed=signed)} {escape(c)}"
        for c, v in sorted(values.items())
    )
