"""Stop-loss / take-profit / trailing levels: an absolute price or a percentage ("2%")."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict

HUNDRED = Decimal(100)


class Level(BaseModel):
    model_config = ConfigDict(frozen=True)

    value: Decimal
    percent: bool

    @classmethod
    def parse(cls, raw: Any) -> Level:
        if isinstance(raw, Level):
            return raw
        if isinstance(raw, dict):
            return cls.model_validate(raw)
        if isinstance(raw, bool) or raw is None:
            raise ValueError("must be a price or a percentage such as '2%'")
        text = str(raw).strip()
        percent = text.endswith("%")
        try:
            value = Decimal(text.removesuffix("%").strip())
        except InvalidOperation:
            raise ValueError(
                f"must be a price or a percentage such as '2%', got {text[:20]!r}"
            ) from None
        if not value.is_finite() or value <= 0:
            raise ValueError("must be a positive price or percentage")
        if percent and value >= 100:
            raise ValueError("percentage must be below 100%")
        if value >= Decimal("1e15"):
            raise ValueError("is too large")
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
