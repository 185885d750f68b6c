"""`rsi` (the default): Wilder's RSI on the bot's closed bars.

Below `oversold` → buy (open long; with direction both, also cover a short); above `overbought`
→ sell (close the long; with direction both, also go short). An explicit buy/sell alert passes
only when the RSI agrees. The rule looks at levels, not crossings, as the classic RSI 30/70
strategy does; pyramiding (the bot's max entries) decides whether a second bar below oversold
adds to the long.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from trading import indicators
from trading.alerts import parse_decimal
from trading.strategies.base import (
    BUY,
    SELL,
    Decision,
    FloatArray,
    IndicatorStrategy,
    SignalArray,
    StrategyContext,
    StrategyParams,
    fmt,
    follow_alert,
)


class RsiParams(StrategyParams):
    period: int = Field(default=14, ge=2, le=1000)
    oversold: float = Field(default=30.0, gt=0, lt=100)
    overbought: float = Field(default=70.0, gt=0, lt=100)

    @model_validator(mode="after")
    def _levels(self) -> RsiParams:
        if self.oversold >= self.overbought:
            raise ValueError(
                f"oversold ({fmt(self.oversold)}) must be below overbought ({fmt(self.overbought)})"
            )
        return self


class RsiStrategy(IndicatorStrategy):
    name = "rsi"
    Params = RsiParams
    params: RsiParams

    @property
    def warmup(self) -> int:
        return self.params.period + 1

    def indicators(self, closes: FloatArray) -> dict[str, FloatArray]:
        return {"rsi": indicators.rsi(closes, self.params.period)}

    def rule(self, closes: FloatArray, values: dict[str, FloatArray]) -> SignalArray:
        rsi = values["rsi"]
        out = np.zeros(len(rsi), dtype=np.int8)
        with np.errstate(invalid="ignore"):
            out[rsi < self.params.oversold] = BUY
            out[rsi > self.params.overbought] = SELL
        return out

    def describe(self, closes: FloatArray, values: dict[str, FloatArray], i: int) -> str:
        p = self.params
        value = float(values["rsi"][i])
        if value < p.oversold:
            return f"RSI {value:.1f} below oversold {fmt(p.oversold)}"
        if value > p.overbought:
            return f"RSI {value:.1f} above overbought {fmt(p.overbought)}"
        return f"RSI {value:.1f} between {fmt(p.oversold)} and {fmt(p.overbought)}"

    def _refusal(self, side: Literal["buy", "sell"], value: float) -> str | None:
        p = self.params
        if side == "buy" and not value < p.oversold:
            return f"RSI {value:.1f} is not below oversold {fmt(p.oversold)}"
        if side == "sell" and not value > p.overbought:
            return f"RSI {value:.1f} is not above overbought {fmt(p.overbought)}"
        return None

    def refusal(
        self,
        side: Literal["buy", "sell"],
        closes: FloatArray,
        values: dict[str, FloatArray],
        i: int,
    ) -> str | None:
        return self._refusal(side, float(values["rsi"][i]))

    def explicit_without_history(
        self, context: StrategyContext, side: Literal["buy", "sell"]
    ) -> Decision | None:
        """Before the series has enough bars, an `rsi` field the chart sent can filter."""
        raw = context.fields.get("rsi")
        if raw is None:
            return None
        try:
            value = float(parse_decimal(raw, allow_zero=True))
        except ValueError:
            return Decision.ignore(
                f"{side} refused: the alert's rsi {str(raw)[:20]!r} is not a number"
            )
        refused = self._refusal(side, value)
        if refused:
            return Decision.ignore(f"{side} refused: {refused} (the alert's rsi)")
        return follow_alert(context)
