"""Strategies by name. A new strategy is one class passed to `register`."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from trading.errors import InvalidRequest
from trading.strategies.base import BaseStrategy
from trading.strategies.bollinger import BollingerStrategy
from trading.strategies.ma_cross import MaCrossStrategy
from trading.strategies.macd import MacdStrategy
from trading.strategies.rsi import RsiStrategy
from trading.strategies.signal import SignalStrategy

DEFAULT = "rsi"

_STRATEGIES: dict[str, type[BaseStrategy]] = {}


def register(cls: type[BaseStrategy]) -> type[BaseStrategy]:
    _STRATEGIES[cls.name] = cls
    return cls


def names() -> list[str]:
    return sorted(_STRATEGIES)


def strategy_class(name: str) -> type[BaseStrategy]:
    try:
        return _STRATEGIES[name]
    except KeyError:
        raise InvalidRequest(
            f"unknown strategy {name!r}; choose one of {', '.join(names())}"
        ) from None


def _explain(name: str, cls: type[BaseStrategy], exc: ValidationError) -> str:
    """One line naming the parameter, for a trader."""
    error = exc.errors()[0]
    loc = ".".join(str(part) for part in error["loc"])
    takes = ", ".join(cls.Params.model_fields) or "no parameters"
    if error["type"] == "extra_forbidden":
        return f"{name} has no parameter {loc!r} (it takes {takes})"
    message = str(error["msg"]).removeprefix("Value error, ")
    if not loc:
        return f"{name} parameters: {message}"
    return f"{name} parameter {loc}: {message[:1].lower()}{message[1:]} (got {error['input']!r})"


def validate_params(name: str, raw: dict[str, Any] | None) -> dict[str, Any]:
    """The strategy's parameters, checked and completed with defaults, as plain JSON values.

    Raises ValueError with one line naming the strategy or the parameter that is wrong, so bot
    creation (CLI, chat, API) can refuse it with a clear message.
    """
    try:
        cls = strategy_class(name)
    except InvalidRequest as exc:
        raise ValueError(exc.user_message) from None
    if raw is not None and not isinstance(raw, dict):
        raise ValueError(f"{name} parameters must be a mapping of name to value")
    try:
        params = cls.validate_params(dict(raw or {}))
    except ValidationError as exc:
        raise ValueError(_explain(name, cls, exc)) from None
    return params.model_dump(mode="json")


def create(name: str, params: dict[str, Any] | None = None) -> BaseStrategy:
    cls = strategy_class(name)
    try:
        return cls(cls.validate_params(params or {}))
    except ValidationError as exc:
        raise InvalidRequest(_explain(name, cls, exc)) from None


for _cls in (SignalStrategy, RsiStrategy, MaCrossStrategy, MacdStrategy, BollingerStrategy):
    register(_cls)
