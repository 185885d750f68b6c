"""The strategy interface: a strategy turns an alert (and the bot's prices) into a signal.

A strategy never sizes or sends orders; `trading.positions.plan_order` applies the bot's rules
(direction, pyramiding) to what it decides, the same way live and in the backtester.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from trading.alerts import Alert
from trading.positions import PositionState, Signal


class StrategyParams(BaseModel):
    """Parameters of a strategy; subclasses add fields with defaults and bounds."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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
    alert: Alert
    position: PositionState | None
    params: StrategyParams
    fields: dict[str, Any] = field(default_factory=dict)


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
