"""Logging: one line per event, text or JSON, secrets masked as a last line of defence."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from bot.config import Settings


class SecretMask(logging.Filter):
    """Replace known secret values wherever they would appear in a record."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if len(s) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg, record.args = self.mask(record.getMessage()), None
            if record.exc_info:  # a traceback can quote a URL or a request holding a secret
                record.exc_text = self.mask(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
            if record.stack_info:
                record.stack_info = self.mask(record.stack_info)
        return True

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exc"] = record.exc_text
        return json.dumps(data)


def setup_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    secrets = [
        settings.telegram_token.get_secret_value(),
        settings.api_token.get_secret_value(),
        settings.telegram_webhook_secret.get_secret_value(),
        settings.ccxt_api_key.get_secret_value(),
        settings.ccxt_secret.get_secret_value(),
        settings.ccxt_password.get_secret_value(),
    ]
    handler.addFilter(SecretMask(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # aiohttp's access log would print every webhook URL, and the URL holds the bot's key.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    # Database drivers log every statement with its parameters at DEBUG, and parameters include
    # webhook keys and passphrases: they stay quiet whatever TRADEBOT_LOG_LEVEL says.
    for name in ("tortoise", "aiosqlite", "asyncpg"):
        logging.getLogger(name).setLevel(logging.WARNING)
