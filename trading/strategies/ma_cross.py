"""`ma_cross`: a fast moving average crossing a slow one (20/50 SMA by default).

The fast average crossing above the slow one → buy; crossing below → sell. An explicit buy/sell
alert passes only in the trend it goes with (fast above slow for a buy).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from trading import indicators
from trading.strategies.base import (
    FastSlowParams,
    FloatArray,
    IndicatorStrategy,
    SignalArray,
    crosses,
)


class MaCrossParams(FastSlowParams):
    fast: int = Field(default=20, ge=2, le=1000)
    slow: int = Field(default=50, ge=2, le=1000)
    ma: Literal["sma", "ema"] = "sma"


class MaCrossStrategy(IndicatorStrategy):
    name = "ma_cross"
    Params = MaCrossParams
    params: MaCrossParams

    @property
    def warmup(self) -> int:
        return self.params.slow + 1  # the slow average on this bar and the one before

    def _label(self, period: int) -> str:
        return f"{self.params.ma.upper()}{period}"

    def indicators(self, closes: FloatArray) -> dict[str, FloatArray]:
        average = indicators.sma if self.params.ma == "sma" else indicators.ema
        return {
            "fast": average(closes, self.params.fast),
            "slow": average(closes, self.params.slow),
        }

    def rule(self, closes: FloatArray, values: dict[str, FloatArray]) -> SignalArray:
        return crosses(values["fast"], values["slow"])

    def describe(self, closes: FloatArray, values: dict[str, FloatArray], i: int) -> str:
        fast, slow = float(values["fast"][i]), float(values["slow"][i])
        relation = "above" if fast > slow else "below" if fast < slow else "at"
        return (
            f"{self._label(self.params.fast)} {fast:,.2f} {relation} "
            f"{self._label(self.params.slow)} {slow:,.2f}"
        )

    def refusal(
        self,
        side: Literal["buy", "sell"],
        closes: FloatArray,
        values: dict[str, FloatArray],
        i: int,
    ) -> str | None:
        fast, slow = float(values["fast"][i]), float(values["slow"][i])
        f, s = self._label(self.params.fast), self._label(self.params.slow)
        if side == "buy" and not fast > slow:
            return f"{f} {fast:,.2f} is not above {s} {slow:,.2f}"
        if side == "sell" and not fast < slow:
            return f"{f} {fast:,.2f} is not below {s} {slow:,.2f}"
        return None
