"""`macd`: the MACD line crossing its signal line (12/26/9 by default).

MACD crossing above its signal line → buy; crossing below → sell. An explicit buy/sell alert
passes only when the histogram is on its side (MACD above the signal line for a buy).
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


class MacdParams(FastSlowParams):
    fast: int = Field(default=12, ge=2, le=1000)
    slow: int = Field(default=26, ge=2, le=1000)
    signal: int = Field(default=9, ge=1, le=1000)


class MacdStrategy(IndicatorStrategy):
    name = "macd"
    Params = MacdParams
    params: MacdParams

    @property
    def warmup(self) -> int:
        p = self.params
        return indicators.macd_lookback(p.fast, p.slow, p.signal) + 2

    def indicators(self, closes: FloatArray) -> dict[str, FloatArray]:
        p = self.params
        line, signal, hist = indicators.macd(closes, p.fast, p.slow, p.signal)
        return {"macd": line, "signal": signal, "hist": hist}

    def rule(self, closes: FloatArray, values: dict[str, FloatArray]) -> SignalArray:
        return crosses(values["macd"], values["signal"])

    def describe(self, closes: FloatArray, values: dict[str, FloatArray], i: int) -> str:
        line, signal = float(values["macd"][i]), float(values["signal"][i])
        relation = "above" if line > signal else "below" if line < signal else "at"
        return f"MACD {line:,.4g} {relation} signal {signal:,.4g}"

    def refusal(
        self,
        side: Literal["buy", "sell"],
        closes: FloatArray,
        values: dict[str, FloatArray],
        i: int,
    ) -> str | None:
        line, signal = float(values["macd"][i]), float(values["signal"][i])
        if side == "buy" and not line > signal:
            return f"MACD {line:,.4g} is not above its signal {signal:,.4g}"
        if side == "sell" and not line < signal:
            return f"MACD {line:,.4g} is not below its signal {signal:,.4g}"
        return None
