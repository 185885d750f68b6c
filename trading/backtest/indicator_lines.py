"""What a backtest chart draws of the strategy's indicators: the values its rule read, and the
levels it compares them with (RSI's oversold and overbought lines).

The chart (`handlers.charts`) draws lines in a panel of their own, or over the price when they
are prices themselves (moving averages, Bollinger bands).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from trading.strategies import registry
from trading.strategies.base import IndicatorStrategy, fmt

if TYPE_CHECKING:
    from trading.backtest.engine import BacktestResult


@dataclass(frozen=True, slots=True)
class IndicatorLines:
    title: str  # RSI(14)
    lines: dict[str, np.ndarray]  # label -> one value per bar (NaN during warm-up)
    levels: tuple[tuple[str, float], ...] = ()  # (label, value): horizontal lines
    on_price: bool = False  # drawn over the price (they are prices), not in a panel
    histogram: str | None = None  # the label in `lines` drawn as bars (MACD's histogram)
    limits: tuple[float, float] | None = None  # the panel's fixed range (RSI: 0..100)


def indicator_lines(result: BacktestResult) -> IndicatorLines | None:
    """The indicators of `result`'s strategy over its bars (None: a strategy without any)."""
    strategy = registry.create(result.strategy, result.params)
    if not isinstance(strategy, IndicatorStrategy):
        return None
    values = strategy.indicators(result.data.close)
    p = result.params
    if result.strategy == "rsi":
        return IndicatorLines(
            f"RSI({p['period']})",
            {"RSI": values["rsi"]},
            levels=(
                (f"overbought {fmt(p['overbought'])}", float(p["overbought"])),
                (f"oversold {fmt(p['oversold'])}", float(p["oversold"])),
            ),
            limits=(0.0, 100.0),
        )
    if result.strategy == "macd":
        return IndicatorLines(
            f"MACD({p['fast']}, {p['slow']}, {p['signal']})",
            {"MACD": values["macd"], "signal": values["signal"], "histogram": values["hist"]},
            levels=(("0", 0.0),),
            histogram="histogram",
        )
    if result.strategy == "bollinger":
        return IndicatorLines(
            f"Bollinger({p['period']}, {fmt(p['k'])})",
            {"upper": values["upper"], "middle": values["middle"], "lower": values["lower"]},
            on_price=True,
        )
    if result.strategy == "ma_cross":
        kind = str(p.get("ma", "sma")).upper()
        return IndicatorLines(
            f"{kind}({p['fast']}) × {kind}({p['slow']})",
            {f"{kind} {p['fast']}": values["fast"], f"{kind} {p['slow']}": values["slow"]},
            on_price=True,
        )
    return IndicatorLines(strategy.name, dict(values))
