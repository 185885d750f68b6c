"""The strategy interface: a strategy turns an alert (and the bot's prices) into a signal.

A strategy never sizes or sends orders; `trading.positions.plan_order` applies the bot's rules
(direction, pyramiding) to what it decides, the same way live and in the backtester.

Indicator strategies (`IndicatorStrategy`) state their rule once, as a batch function over
closes (`signals`: one buy/sell/nothing per bar, computed with numpy and TA-Lib). The
backtester calls it over the whole history; live, `decide` calls it over the bot's series of
closed bars and acts on the last bar. One rule, two callers: a backtest and a replay of the same
bars through the webhook trade alike.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, model_validator

from trading.alerts import Action, Alert
from trading.positions import PositionState, Signal

FloatArray = npt.NDArray[np.float64]
SignalArray = npt.NDArray[np.int8]
BUY: int = 1
SELL: int = -1
EMPTY: FloatArray = np.empty(0, dtype=np.float64)
EMPTY.flags.writeable = False


class StrategyParams(BaseModel):
    """Parameters of a strategy; subclasses add fields with defaults and bounds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_booleans(cls, data: Any) -> Any:
        """`true` is not a period: pydantic would read it as 1."""
        if isinstance(data, dict):
            for key, value in data.items():
                info = cls.model_fields.get(key)
                if isinstance(value, bool) and info is not None and info.annotation is not bool:
                    raise ValueError(f"{key} must be a number, got {value!r}")
        return data


class FastSlowParams(StrategyParams):
    """Two periods where the fast one must be the shorter (moving averages, MACD)."""

    fast: int
    slow: int

    @model_validator(mode="after")
    def _fast_before_slow(self) -> FastSlowParams:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be shorter than slow ({self.slow})")
        return self


@dataclass(frozen=True, slots=True)
class Decision:
    """Trade (`signal` set) or not (`reason` says why)."""

    signal: Signal | None
    reason: str = ""
    qty: Decimal | None = None
    target: Decimal | None = None  # signed target position, when the alert states one

    @classmethod
    def ignore(cls, reason: str) -> Decision:
        return cls(signal=None, reason=reason)


@dataclass(frozen=True, slots=True)
class StrategyContext:
    """What a strategy sees: the alert, the bot's position and parameters, and the bot's price
    series (closes of closed bars, oldest first; the alert's bar included when it closed one)."""

    alert: Alert
    position: PositionState | None
    params: StrategyParams
    fields: dict[str, Any] = field(default_factory=dict)
    series: FloatArray = field(default_factory=lambda: EMPTY)
    is_bar_close: bool = False  # this alert closed a bar of the bot's series
    bar_time: datetime | None = None  # open time of the last closed bar in `series`
    interval: str | None = None
    note: str = ""  # why an alert with `bar_time` did not close a bar (late, repeated...)


class BaseStrategy(ABC):
    name: ClassVar[str]
    Params: ClassVar[type[StrategyParams]] = StrategyParams

    def __init__(self, params: StrategyParams | None = None) -> None:
        self.params = params or self.Params()

    @classmethod
    def validate_params(cls, raw: dict[str, Any]) -> StrategyParams:
        return cls.Params.model_validate(raw)

    @abstractmethod
    def decide(self, context: StrategyContext) -> Decision:
        """What to do with this alert."""


def follow_alert(context: StrategyContext) -> Decision:
    """Do what the alert says: its action, its qty, and its target position if it states one."""
    alert = context.alert
    return Decision(
        signal=alert.action.value,  # type: ignore[arg-type]
        qty=alert.qty,
        target=alert.target_position,
    )


def fmt(value: float) -> str:
    """A parameter as a trader writes it: 30, 2.5."""
    return f"{value:g}"


def crosses(a: FloatArray, b: FloatArray) -> SignalArray:
    """BUY where `a` crosses above `b` on a bar (it was at or below on the bar before), SELL
    where it crosses below; nothing where either is undefined."""
    out = np.zeros(len(a), dtype=np.int8)
    if len(a) < 2:
        return out
    diff = a - b
    before, now = diff[:-1], diff[1:]
    with np.errstate(invalid="ignore"):
        out[1:][(before <= 0) & (now > 0)] = BUY
        out[1:][(before >= 0) & (now < 0)] = SELL
    return out


class IndicatorStrategy(BaseStrategy):
    """A strategy that trades a rule on indicators of closed bars.

    On a bar close (a `tick`, or any alert that closes a bar) the rule's signal for that bar is
    the decision. An explicit `buy`/`sell` alert is filtered: it passes only when the
    indicators agree (`refusal` says why not). `close`, `close_long` and `close_short` always
    pass: a strategy never keeps a trader in a position they asked to leave.
    """

    @property
    @abstractmethod
    def warmup(self) -> int:
        """Closed bars needed before the rule can give its first signal."""

    @abstractmethod
    def indicators(self, closes: FloatArray) -> dict[str, FloatArray]:
        """The indicator arrays the rule reads (TA-Lib, batch), one value per bar."""

    @abstractmethod
    def rule(self, closes: FloatArray, values: dict[str, FloatArray]) -> SignalArray:
        """BUY / SELL / 0 for every bar, vectorised."""

    @abstractmethod
    def describe(self, closes: FloatArray, values: dict[str, FloatArray], i: int) -> str:
        """The indicators at bar `i`, for a trader: `RSI 45.2`."""

    @abstractmethod
    def refusal(
        self,
        side: Literal["buy", "sell"],
        closes: FloatArray,
        values: dict[str, FloatArray],
        i: int,
    ) -> str | None:
        """Why an explicit buy/sell at bar `i` goes against the indicators (None: it doesn't)."""

    def signals(self, closes: FloatArray) -> SignalArray:
        """The rule's signal for every bar of `closes`: what the backtester replays, and what
        `decide` acts on for the last bar."""
        closes = np.asarray(closes, dtype=np.float64)
        return self.rule(closes, self.indicators(closes))

    def explicit_without_history(
        self, context: StrategyContext, side: Literal["buy", "sell"]
    ) -> Decision | None:
        """Hook for an explicit action while the series is warming up (None: refuse)."""
        return None

    def decide(self, context: StrategyContext) -> Decision:
        action = context.alert.action
        if action in (Action.CLOSE, Action.CLOSE_LONG, Action.CLOSE_SHORT):
            return follow_alert(context)
        closes = context.series
        if action is Action.TICK and not context.is_bar_close:
            return Decision.ignore(context.note or "price updated")
        if len(closes) < self.warmup:
            warming = f"warming up ({len(closes)}/{self.warmup} bars)"
            if action is Action.TICK:
                return Decision.ignore(warming)
            side: Literal["buy", "sell"] = "buy" if action is Action.BUY else "sell"
            fallback = self.explicit_without_history(context, side)
            return fallback or Decision.ignore(f"{side} refused: {warming}")
        values = self.indicators(closes)
        last = len(closes) - 1
        if action is Action.TICK:
            signal = int(self.rule(closes, values)[last])
            state = self.describe(closes, values, last)
            if signal == BUY:
                return Decision(signal="buy", reason=state)
            if signal == SELL:
                return Decision(signal="sell", reason=state)
            return Decision.ignore(f"no signal: {state}")
        side = "buy" if action is Action.BUY else "sell"
        refused = self.refusal(side, closes, values, last)
        if refused:
            return Decision.ignore(f"{side} refused: {refused}")
        return follow_alert(context)
