"""`bollinger`: mean reversion on Bollinger Bands (20 bars, 2 standard deviations by default).

A close below the lower band → buy; above the upper band → sell. An explicit buy/sell alert
passes only when the close is outside the band on its side.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from trading import indicators
from trading.strategies.base import (
    BUY,
    SELL,
    FloatArray,
    IndicatorStrategy,
    SignalArray,
    StrategyParams,
    fmt,
)


class BollingerParams(StrategyParams):
    period: int = Field(default=20, ge=2, le=1000)
    k: float = Field(default=2.0, gt=0, le=10)


class BollingerStrategy(IndicatorStrategy):
    name = "bollinger"
    Params = BollingerParams
    params: BollingerParams

    @property
    def warmup(self) -> int:
        return self.params.period

    def indicators(self, closes: FloatArray) -> dict[str, FloatArray]:
        upper, middle, lower = indicators.bollinger(closes, self.params.period, self.params.k)
        return {"upper": upper, "middle": middle, "lower": lower}

    def rule(self, closes: FloatArray, values: dict[str, FloatArray]) -> SignalArray:
        out = np.zeros(len(closes), dtype=np.int8)
        with np.errstate(invalid="ignore"):
            out[closes < values["lower"]] = BUY
            out[closes > values["upper"]] = SELL
        return out

    def describe(self, closes: FloatArray, values: dict[str, FloatArray], i: int) -> str:
        close = float(closes[i])
        lower, upper = float(values["lower"][i]), float(values["upper"][i])
        bands = f"BB({self.params.period}, {fmt(self.params.k)})"
        if close < lower:
            return f"close {close:,.2f} below the lower band {lower:,.2f} of {bands}"
        if close > upper:
            return f"close {close:,.2f} above the upper band {upper:,.2f} of {bands}"
        return f"close {close:,.2f} inside {bands} {lower:,.2f}–{upper:,.2f}"

    def refusal(
        self,
        side: Literal["buy", "sell"],
        closes: FloatArray,
        values: dict[str, FloatArray],
        i: int,
    ) -> str | None:
        close = float(closes[i])
        lower, upper = float(values["lower"][i]), float(values["upper"][i])
        if side == "buy" and not close < lower:
            return f"close {close:,.2f} is not below the lower band {lower:,.2f}"
        if side == "sell" and not close > upper:
            return f"close {close:,.2f} is not above the upper band {upper:,.2f}"
        return None
