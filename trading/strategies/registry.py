"""Strategies by name. A new strategy is one class passed to `register`."""

from __future__ import annotations

from typing import Any

from trading.errors import InvalidRequest
from trading.strategies.base import BaseStrategy
from trading.strategies.signal import SignalStrategy

_STRATEGIES: dict[str, type[BaseStrategy]] = {}


def register(cls: type[BaseStrategy]) -> type[BaseStrategy]:
    _STRATEGIES[cls.name] = cls
    return cls


def names() -> list[str]:
    return sorted(_STRATEGIES)


def create(name: str, params: dict[str, Any] | None = None) -> BaseStrategy:
    try:
        cls = _STRATEGIES[name]
    except KeyError:
        raise InvalidRequest(
            f"unknown strategy {name!r}; choose one of {', '.join(names())}"
        ) from None
    return cls(cls.validate_params(params or {}))


register(SignalStrategy)
