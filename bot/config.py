"""Settings from the environment (or `.env`), per SPEC §3.

A bad value must stop start-up with one line naming the variable, so `load_settings` turns
pydantic's multi-line report into `ConfigError("TRADEBOT_PORT: ...")`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

ENV_PREFIX = "TRADEBOT_"
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LOG_LEVELS = get_args(LogLevel)


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

    database_url: str = Field(
        "sqlite://data/tradebot.sqlite3",
        description="The database: sqlite://PATH (relative to the working directory) or "
        "postgres://USER:PASSWORD@HOST:5432/NAME. Create or upgrade it with `tradebot migrate`.",
    )
    host: str = Field(
        "127.0.0.1",
        description="Address the web server listens on. Loopback by default: a reverse proxy on "
        "the same host forwards to it (deploy/README.md); the container image sets 0.0.0.0.",
    )
    port: int = Field(8080, ge=1, le=65535, description="Port the web server listens on.")
    public_url: str = Field(
        "",
        description="The server's public base URL (https://bot.example.com) behind the proxy: "
        "webhook URLs shown to users and Telegram's webhook mode use it.",
    )

    telegram_token: SecretStr = Field(
        SecretStr(""), description="Telegram bot token from @BotFather; empty: Telegram off."
    )
    telegram_api_url: str = Field(
        "https://api.telegram.org",
        description="Bot API server (a local Bot API server, or a stand-in for tests).",
    )
    telegram_mode: Literal["polling", "webhook"] = Field(
        "polling",
        description="How updates arrive: polling, or webhook (needs TRADEBOT_PUBLIC_URL).",
    )
    telegram_webhook_secret: SecretStr = Field(
        SecretStr(""),
        description="Checked against X-Telegram-Bot-Api-Secret-Token in webhook mode; empty: "
        "derived from the bot token (HMAC-SHA256), so every process of a deployment expects "
        "the one Telegram was given.",
    )
    telegram_admins: Annotated[list[int], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated Telegram user ids of the owners; others get answers only "
        "once an owner grants them a role.",
    )

    api_token: SecretStr = Field(
        SecretStr(""),
        description="Bearer token of the read API (GET /bots, /positions, /trades, /stats, "
        "/risk); empty: the read API is off (404).",
    )

    broker: Literal["paper", "ccxt"] = Field(
        "paper",
        description="Where orders go: paper (simulated fills, no keys) or ccxt (a real "
        "exchange: set TRADEBOT_CCXT_EXCHANGE and its keys).",
    )
    paper_fee_bps: Decimal = Field(
        Decimal("10"), ge=0, le=1000, description="Paper fills: fee on each fill's notional, bps."
    )
    paper_slippage_bps: Decimal = Field(
        Decimal("0"), ge=0, le=1000, description="Paper fills: slippage against the price, bps."
    )
    paper_balance: Decimal = Field(
        Decimal("10000"), ge=0, description="Paper account: starting balance per quote currency."
    )

    ccxt_exchange: str = Field(
        "", description="ccxt exchange id (binance, kraken, ...) for the ccxt broker and feed."
    )
    ccxt_api_key: SecretStr = Field(SecretStr(""), description="Exchange API key.")
    ccxt_secret: SecretStr = Field(SecretStr(""), description="Exchange API secret.")
    ccxt_password: SecretStr = Field(
        SecretStr(""), description="Exchange API passphrase, where the exchange has one."
    )
    ccxt_sandbox: bool = Field(False, description="Use the exchange's sandbox (test) endpoints.")
    ccxt_api_url: str = Field(
        "",
        description="Scheme and host that replace those of every REST endpoint of the exchange, "
        "paths kept (a regional endpoint, a proxy, a local stand-in).",
    )
    ccxt_options: Annotated[dict[str, Any], NoDecode] = Field(
        default_factory=dict,
        description='JSON merged into the ccxt exchange\'s options, e.g. {"defaultType": "spot"}.',
    )

    price_feed: Literal["alerts", "ccxt"] = Field(
        "alerts",
        description="Where prices come from besides alerts: alerts (only alerts) or ccxt (the "
        "public tickers of TRADEBOT_CCXT_EXCHANGE for every symbol with a bot or a position; "
        "no keys needed).",
    )

    redis_url: str = Field(
        "",
        description="Redis (redis://HOST:6379/0) for chat state and shared rate limits when "
        "several processes serve; empty: in memory.",
    )
    webhook_ip_allowlist: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated IPs/CIDRs allowed to send webhooks, or `tradingview` for "
        "TradingView's published senders; empty: any sender.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated IPs/CIDRs of reverse proxies whose X-Forwarded-For is "
        "believed (e.g. 127.0.0.1 behind nginx on the host).",
    )
    log_format: Literal["text", "json"] = Field("text", description="Log lines: text or json.")
    log_level: LogLevel = Field("INFO", description="DEBUG, INFO, WARNING or ERROR (any case).")

    webhook_answer_timeout: float = Field(
        2.0,
        gt=0,
        le=2.5,
        description="Seconds a webhook request may wait for its execution before the answer is "
        "202 (TradingView gives up after 3 s).",
    )
    webhook_body_timeout: float = Field(
        10.0,
        gt=0,
        le=60,
        description="Seconds a webhook body may take to arrive; a slower client is answered 408.",
    )
    webhook_log_retention_days: int = Field(
        30,
        ge=0,
        le=36500,
        description="Webhook log rows older than this many days are deleted, hourly (0 keeps "
        "every row).",
    )
    webhook_rate_per_key: float = Field(
        20.0, gt=0, description="Webhooks per second allowed per bot key (429 beyond)."
    )
    webhook_burst_per_key: float = Field(
        100.0, ge=1, description="Burst of webhooks allowed per bot key."
    )
    webhook_rate_per_ip: float = Field(
        100.0, gt=0, description="Webhooks per second allowed per sender IP (429 beyond)."
    )
    webhook_burst_per_ip: float = Field(
        300.0, ge=1, description="Burst of webhooks allowed per sender IP."
    )
    webhook_require_client_cert: bool = Field(
        False,
        description="Refuse webhooks (403) unless a trusted proxy says X-Client-Verify: SUCCESS "
        "(a proxy that checks TradingView's TLS client certificate, deploy/README.md).",
    )

    monitor_enabled: bool = Field(
        True,
        description="Run the position monitor (stops, take-profits, trailing) in the web "
        "process; false (or `serve --no-monitor`) when `tradebot monitor` runs as its own "
        "service.",
    )
    leader_interval: float = Field(
        2.0,
        gt=0,
        le=5,
        description="Seconds between a standby's tries of the leader lock, and between the "
        "leader's checks that it still holds it (PostgreSQL; SPEC §11): a leader that dies "
        "is replaced at a standby's next try.",
    )
    price_max_age: float = Field(
        300.0,
        gt=0,
        description="Seconds after which a price is stale: no stop acts on it, /health is "
        "degraded and owners are told once. Raise it when prices come only from rare alerts.",
    )
    monitor_interval: float = Field(
        1.0,
        gt=0,
        le=60,
        description="Seconds between the monitor's passes (stored prices, broker tickers, "
        "stale-price checks).",
    )
    monitor_resync_interval: float = Field(
        5.0,
        gt=0,
        description="Seconds between comparisons of the monitor's index with the database "
        "(positions other processes opened or changed).",
    )
    monitor_heartbeat_interval: float = Field(
        30.0, gt=0, description="Seconds between checks of the bots' alert heartbeats."
    )
    monitor_claim_ttl: float = Field(
        60.0,
        gt=0,
        description="Seconds after which a closer's claim on a position counts as abandoned (a "
        "crashed process); must exceed the broker's longest fill.",
    )
    monitor_retry_backoff: float = Field(
        1.0, gt=0, description="Seconds before a failed close is retried (doubling each time)."
    )
    monitor_max_attempts: int = Field(
        5, ge=1, le=100, description="Attempts to close a position per trigger."
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty (127.0.0.1: this machine only; 0.0.0.0: all)")
        return value.strip()

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: Any) -> Any:
        """Any case; a value that is no level stays as typed, so the error shows it."""
        if isinstance(value, str) and value.strip().upper() in LOG_LEVELS:
            return value.strip().upper()
        return value

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

    def webhook_secret(self) -> str:
        """TRADEBOT_TELEGRAM_WEBHOOK_SECRET, or one derived from the token: the same in every
        process (a random one per process would refuse the updates another one registered for),
        and known only to whoever holds the token, who controls the bot anyway."""
        given = self.telegram_webhook_secret.get_secret_value()
        if given:
            return given
        token = self.telegram_token.get_secret_value().encode()
        return hmac.new(token, b"tradebot telegram webhook secret", hashlib.sha256).hexdigest()

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
