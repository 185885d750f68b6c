"""A trading bot's configuration, validated in one place for the CLI, the chat and the API."""

from __future__ import annotations

import re
import secrets
from decimal import ROUND_DOWN, Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from trading.errors import InvalidRequest
from trading.levels import Level
from trading.money import wide
from trading.symbols import normalize_symbol

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
SizeKind = Literal["qty", "quote", "equity_pct"]


def new_webhook_key() -> str:
    """32 random bytes, URL-safe: the bot's secret path segment. Never starting with `-`, which
    a command line would read as an option (`tradebot alert KEY`)."""
    while True:
        key = secrets.token_urlsafe(32)
        if not key.startswith("-"):
            return key


def parse_size(raw: Any) -> tuple[SizeKind, Decimal]:
    """`0.01` (base quantity), `100USDT` / `100 quote` (quote amount), `5%` (of equity)."""
    text = str(raw).strip().upper().replace(" ", "")
    kind: SizeKind = "qty"
    if text.endswith("%"):
        kind, text = "equity_pct", text[:-1]
    else:
        match = re.fullmatch(r"([0-9.]+)([A-Z]+)", text)
        if match:
            kind, text = "quote", match.group(1)
    from trading import numbers  # the one rule for numbers a sender types

    try:
        value = (
            numbers.quantity(text)
            if kind == "qty"
            else numbers.bounded(text, maximum=numbers.MAX_NOTIONAL)
        )
    except ValueError as exc:
        if "a number" not in str(exc):
            raise ValueError(f"size {exc}") from None
        raise ValueError(
            f"size must be a quantity (0.01), a quote amount (100USDT) or a percentage (5%), "
            f"got {str(raw)[:20]!r}"
        ) from None
    if kind == "equity_pct" and value > 100:
        raise ValueError("size percentage must be at most 100%")
    return kind, value


QTY_STEP = Decimal("1e-8")


def order_size(kind: str, value: Decimal, price: Decimal, equity: Decimal) -> Decimal:
    """A bot's order quantity at `price`: a fixed base qty, a quote amount, or a percentage of
    the account's equity, rounded down to 1e-8. Live and backtest size alike through this."""
    if kind == "qty":
        return value
    with wide():  # 100 USDT at a price of 1e-12 is 1e14: exact, and refused later as too large
        amount = value if kind == "quote" else equity * value / 100
        return (amount / price).quantize(QTY_STEP, rounding=ROUND_DOWN)


def format_size(kind: str, value: Decimal, quote: str = "") -> str:
    text = f"{value.normalize():f}"
    if kind == "equity_pct":
        return f"{text}% of equity"
    if kind == "quote":
        return f"{text} {quote}".strip()
    return text


class BotSpec(BaseModel):
    """What a user gives to create a bot."""

    model_config = ConfigDict(extra="forbid")

    name: str
    symbols: list[str] = Field(min_length=1, max_length=20)
    strategy: str = "rsi"
    strategy_params: dict[str, Any] = {}
    size: str = "0.001"
    direction: Literal["long", "short", "both"] = "long"
    max_entries: int = Field(default=1, ge=1, le=100)
    sl: str | None = None
    tp: str | None = None
    trail: str | None = None
    interval: str | None = None
    max_lag_seconds: int = Field(default=60, ge=1, le=86400)
    approval: Literal["auto", "manual"] = "auto"
    passphrase: str | None = Field(default=None, min_length=4, max_length=128)
    hmac_secret: str | None = Field(default=None, min_length=16, max_length=128)
    max_alerts_per_minute: int = Field(default=60, ge=0, le=100_000)
    allow_ips: list[str] = []
    heartbeat_minutes: int | None = Field(default=None, ge=1, le=10080)
    break_even_after_tp1: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("name must be 1-32 letters, digits, '-' or '_'")
        return value

    @field_validator("symbols", mode="before")
    @classmethod
    def _symbols(cls, value: Any) -> list[str]:
        items = value.split(",") if isinstance(value, str) else list(value)
        symbols = [normalize_symbol(str(item)) for item in items if str(item).strip()]
        return list(dict.fromkeys(symbols))

    @field_validator("size")
    @classmethod
    def _size(cls, value: str) -> str:
        parse_size(value)
        return value

    @field_validator("strategy_params")
    @classmethod
    def _strategy_params(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        from trading.strategies import registry

        strategy = info.data.get("strategy")
        return value if strategy is None else registry.validate_params(strategy, value)

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str | None) -> str | None:
        from trading.series import normalize_interval

        return None if value in (None, "") else normalize_interval(value)

    @field_validator("allow_ips")
    @classmethod
    def _allow_ips(cls, value: list[str]) -> list[str]:
        from trading.ipallow import parse_allowlist

        try:
            parse_allowlist(value)
        except ValueError as exc:
            raise ValueError(f"allow_ips: {exc}") from None
        return value

    @field_validator("sl", "tp", "trail")
    @classmethod
    def _level(cls, value: str | None) -> str | None:
        return None if value in (None, "") else str(Level.parse(value))

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, value: str) -> str:
        from trading.strategies import registry

        if value not in registry.names():
            raise ValueError(
                f"unknown strategy {value!r}; choose one of {', '.join(registry.names())}"
            )
        return value


class BotConfig(BaseModel):
    """A stored bot as the trading core sees it."""

    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    symbols: list[str]
    strategy: str
    strategy_params: dict[str, Any]
    size_kind: SizeKind
    size_value: Decimal
    direction: Literal["long", "short", "both"]
    max_entries: int
    sl: Level | None
    tp: Level | None
    trail: Level | None
    interval: str | None
    max_lag_seconds: int
    approval: Literal["auto", "manual"]
    paused: bool
    webhook_key: str
    passphrase: str | None
    allow_ips: list[str]
    risk: dict[str, Any]
    hmac_secret: str | None = None
    max_alerts_per_minute: int = 60
    heartbeat_minutes: int | None = None  # warn when no alert came for this long (None: never)
    break_even_after_tp1: bool = False

    @field_validator("sl", "tp", "trail", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Level | None:
        return None if value in (None, "") else Level.parse(value)


def check_heartbeat_minutes(minutes: int | None) -> None:
    """The alert heartbeat a bot may expect (None: none): between 1 minute and 7 days."""
    if minutes is not None and not 1 <= minutes <= 10080:
        raise InvalidRequest("heartbeat must be between 1 minute and 7 days")
