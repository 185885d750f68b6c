"""Stop-loss / take-profit / trailing levels: an absolute price or a percentage ("2%")."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from trading.numbers import MAX_PRICE, MIN_VALUE, parse_number, to_columns

HUNDRED = Decimal(100)
MAX_VALUE = MAX_PRICE


class Level(BaseModel):
    model_config = ConfigDict(frozen=True)

    value: Decimal
    percent: bool

    @classmethod
    def parse(cls, raw: Any) -> Level:
        if isinstance(raw, Level):
            return raw
        if isinstance(raw, dict):
            # The stored form {"value": "2", "percent": true}; a sender can post it too, so it
            # passes the same checks as "2%" (model_validate alone let -5 and 1e-99 through).
            value, percent = raw.get("value"), raw.get("percent")
            if (
                set(raw) != {"value", "percent"}
                or not isinstance(percent, bool)
                or isinstance(value, bool)
                or not isinstance(value, str | int | float | Decimal)
                or "%" in str(value)
            ):
                raise ValueError("must be a price or a percentage such as '2%'")
            return cls._checked(str(value).strip(), percent)
        if isinstance(raw, bool) or raw is None:
            raise ValueError("must be a price or a percentage such as '2%'")
        text = str(raw).strip()
        return cls._checked(text.removesuffix("%").strip(), text.endswith("%"))

    @classmethod
    def _checked(cls, text: str, percent: bool) -> Level:
        try:
            value = parse_number(text)
        except ValueError:
            raise ValueError(
                f"must be a price or a percentage such as '2%' (a plain decimal, '.' as the "
                f"decimal mark), got {text[:20]!r}"
            ) from None
        # the columns' 12 decimals, before the bounds (which the rounded value must meet); also
        # keeps the level's text short enough to store
        value = to_columns(value)
        if not value.is_finite() or value <= 0:
            raise ValueError("must be a positive price or percentage")
        if percent and value >= 100:
            raise ValueError("percentage must be below 100%")
        if value >= MAX_VALUE:
            raise ValueError(f"is too large (must be under 1e{MAX_VALUE.adjusted()})")
        if value < MIN_VALUE:  # 1e-999999999 would round to a stop at 0 (or at the entry)
            raise ValueError("is too small (under 1e-12)")
        return cls(value=value, percent=percent)

    def __str__(self) -> str:
        return f"{self.value}%" if self.percent else str(self.value)

    def stop_price(self, entry: Decimal, side: str) -> Decimal:
        """Stop-loss price: below the entry for a long, above it for a short."""
        if not self.percent:
            return self.value
        move = entry * self.value / HUNDRED
        return entry - move if side == "long" else entry + move

    def target_price(self, entry: Decimal, side: str) -> Decimal:
        """Take-profit price: above the entry for a long, below it for a short."""
        if not self.percent:
            return self.value
        move = entry * self.value / HUNDRED
        return entry + move if side == "long" else entry - move


def parse_optional_level(raw: str | None) -> Level | None:
    return None if raw in (None, "") else Level.parse(raw)
