"""Settings from the environment (or `.env`), per SPEC §3.

A bad value must stop start-up with one line naming the variable, so `load_settings` turns
pydantic's multi-line report into `ConfigError("TRADEBOT_PORT: ...")`.
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

ENV_PREFIX = "TRADEBOT_"


class ConfigError(Exception):
    """One line naming the offending variable."""


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    database_url: str = "sqlite://data/tradebot.sqlite3"
    # Loopback by default: the container image sets 0.0.0.0; on a host a reverse proxy fronts it.
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    public_url: str = ""

    telegram_token: SecretStr = SecretStr("")
    telegram_api_url: str = "https://api.telegram.org"
    telegram_mode: Literal["polling", "webhook"] = "polling"
    telegram_webhook_secret: SecretStr = Field(
        default_factory=lambda: SecretStr(secrets.token_urlsafe(32))
    )
    telegram_admins: Annotated[list[int], NoDecode] = Field(default_factory=list)

    api_token: SecretStr = SecretStr("")

    broker: Literal["paper", "ccxt"] = "paper"
    paper_fee_bps: Decimal = Field(default=Decimal("10"), ge=0, le=1000)
    paper_slippage_bps: Decimal = Field(default=Decimal("0"), ge=0, le=1000)
    paper_balance: Decimal = Field(default=Decimal("10000"), ge=0)

    ccxt_exchange: str = ""
    ccxt_api_key: SecretStr = SecretStr("")
    ccxt_secret: SecretStr = SecretStr("")
    ccxt_password: SecretStr = SecretStr("")
    ccxt_sandbox: bool = False
    ccxt_api_url: str = ""
    ccxt_options: Annotated[dict[str, Any], NoDecode] = Field(default_factory=dict)

    # Where prices come from besides alerts: `alerts` (only alerts) or `ccxt` (the public tickers
    # of TRADEBOT_CCXT_EXCHANGE for every symbol with a bot or a position; no keys needed).
    price_feed: Literal["alerts", "ccxt"] = "alerts"

    redis_url: str = ""
    webhook_ip_allowlist: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Reverse proxies whose X-Forwarded-For is believed (e.g. 127.0.0.1 behind nginx on the host).
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # How long a webhook request may wait for execution before answering 202 (TradingView gives up
    # after 3 s).
    webhook_answer_timeout: float = Field(default=2.0, gt=0, le=2.5)
    # TradingView sends the whole alert at once and gives up after 3 s: a body still trickling in
    # after this many seconds is a slow client holding a connection, answered 408.
    webhook_body_timeout: float = Field(default=10.0, gt=0, le=60)
    # `webhook_logs` rows older than this many days are deleted, hourly (0 keeps every row).
    webhook_log_retention_days: int = Field(default=30, ge=0, le=36500)
    # Abuse limits on POST /webhook/{key}: token buckets per key and per sender IP (429 beyond).
    webhook_rate_per_key: float = Field(default=20.0, gt=0)
    webhook_burst_per_key: float = Field(default=100.0, ge=1)
    webhook_rate_per_ip: float = Field(default=100.0, gt=0)
    webhook_burst_per_ip: float = Field(default=300.0, ge=1)
    # Behind a proxy that checks TradingView's TLS client certificate (deploy/README.md): refuse
    # webhooks (403) unless a trusted proxy says X-Client-Verify: SUCCESS.
    webhook_require_client_cert: bool = False

    # Position monitor (stop-loss, take-profit, trailing stops; see trading/monitor.py).
    # TRADEBOT_MONITOR_ENABLED=false (or `serve --no-monitor`) runs none in the web process, for
    # a deployment where `tradebot monitor` runs as its own service.
    monitor_enabled: bool = True
    # A price older than this many seconds is stale: no stop acts on it, /health is degraded and
    # owners are told once. Raise it when prices only come from infrequent alerts.
    price_max_age: float = Field(default=300.0, gt=0)
    # Seconds between the monitor's passes: prices other processes stored (instruments table),
    # broker tickers, stale-price checks.
    monitor_interval: float = Field(default=1.0, gt=0, le=60)
    # Seconds between comparisons of the monitor's index with the database (positions opened or
    # changed by other processes).
    monitor_resync_interval: float = Field(default=5.0, gt=0)
    # Seconds between checks of the bots' alert heartbeats (`heartbeat_minutes`).
    monitor_heartbeat_interval: float = Field(default=30.0, gt=0)
    # Seconds after which a closer's claim on a position counts as abandoned (a crashed process);
    # must exceed the longest time the broker takes to fill an order.
    monitor_claim_ttl: float = Field(default=60.0, gt=0)
    # Seconds before a failed close is retried (doubling each time), and attempts per trigger.
    monitor_retry_backoff: float = Field(default=1.0, gt=0)
    monitor_max_attempts: int = Field(default=5, ge=1, le=100)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgres://", "postgresql://", "asyncpg://")):
            raise ValueError("must start with sqlite:// or postgres://")
        return value

    @field_validator("public_url", "telegram_api_url", "ccxt_api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("telegram_admins", mode="before")
    @classmethod
    def _admins(cls, value: Any) -> Any:
        return _split_commas(value)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: Any) -> Any:
        items = _split_commas(value)
        for item in items or []:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"{item!r} is not an IP or a CIDR") from exc
        return items

    @field_validator("webhook_ip_allowlist", mode="before")
    @classmethod
    def _allowlist(cls, value: Any) -> Any:
        items = _split_commas(value)
        for item in items or []:
            if item != "tradingview":
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError as exc:
                    raise ValueError(f"{item!r} is not an IP, a CIDR or 'tradingview'") from exc
        return items

    @field_validator("ccxt_options", mode="before")
    @classmethod
    def _options(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as exc:
                raise ValueError(f"must be a JSON object ({exc.msg})") from exc
        if not isinstance(value, dict):
            raise ValueError("must be a JSON object")
        return value

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_token.get_secret_value())

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite://")

    def base_url(self) -> str:
        """What users paste into TradingView: the public URL, or the local one as a fallback."""
        if self.public_url:
            return self.public_url
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment; raise ConfigError naming the first bad variable."""
    try:
        return Settings(**overrides)
    except SettingsError as exc:
        match = re.search(r'field "(\w+)"', str(exc))
        field = match.group(1) if match else "?"
        raise ConfigError(f"{ENV_PREFIX}{field.upper()}: cannot be parsed") from None
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "?"
        raw = error.get("input")
        shown = "" if field.endswith(("token", "secret", "key", "password")) else f" (got {raw!r})"
        if isinstance(raw, dict | list):
            shown = ""
        message = error["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{ENV_PREFIX}{field.upper()}: {message}{shown}") from None
