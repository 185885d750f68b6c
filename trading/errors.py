"""Domain errors. Each carries a message fit to show a trader (chat reply, HTTP reason)."""

from __future__ import annotations


class TradingError(Exception):
    """Base of every refusal the core states to a user."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class AlertError(TradingError):
    """A malformed alert; `field` names what is wrong (HTTP 400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NotFound(TradingError):
    pass


class InvalidRequest(TradingError):
    pass


class BrokerRefusal(TradingError):
    """The broker would not fill the order (insufficient balance, limits...). Nothing traded."""


class BrokerUnavailable(TradingError):
    """The broker could not be reached; whether an order exists is unknown until reconciled."""
