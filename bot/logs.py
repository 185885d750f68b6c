"""Logging: one line per event, text or JSON, secrets masked at the logging layer.

Secrets must never be logged whole, by our code or by a library's (aiohttp quotes a malformed
request line, webhook key and all, in its error; a driver may quote a URL holding a token). So
every record of every logger is redacted when it is made (`install_redaction`: a LogRecord
factory, ahead of any handler, pytest's and a library's included): its message with its arguments,
its traceback and its stack. The handler `setup_logging` configures redacts its formatted output
once more, so extra fields or a record made some other way are covered too.

What is redacted:
- anything after `/webhook/` (the path segment that is a bot's key, in whatever form a request
  line carries it: percent-encoded, with a space in it, up to the end of the quoted line);
- known secret values (Telegram token, read-API token, Telegram webhook secret, exchange keys),
  registered from the settings;
- text shaped like a secret wherever it appears: a Telegram bot token, a key of 40 or more
  URL-safe characters mixing upper case, lower case and digits (webhook keys and HMAC secrets
  are 43 of them), `Bearer …`, and `passphrase`/`secret`/`token`/`password` values.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import IO, Any

from bot.config import Settings
from trading.money import plain

MASK = "***"
MIN_SECRET_LENGTH = 6


def _letters(word: str) -> str:
    """A regex for `word` whose letters may each be percent-encoded (`%77ebhook`)."""
    return "".join(f"(?:{c}|%{ord(c.lower()):02x}|%{ord(c.upper()):02x})" for c in word)


# `/webhook/` (or its percent-encoded forms) and then the key: up to a quote, a line break, real or
# escaped as in a bytes repr (`\n`), or the ` HTTP/1.1` ending a request line. Spaces do not stop
# it: a request line with a space in its path still holds the rest of the key. A hint left by an
# earlier pass (`abcd…`, never part of a key) is kept as it is.
# Every repetition is bounded or cannot overlap its neighbour, so the time is linear in the text
# (a request line of 8,000 slashes or spaces must not stall the event loop: ReDoS).
_WEBHOOK_PATH = re.compile(
    r"((?:/|%2f)" + _letters("webhook") + r"(?:/|%2f){1,8}[ \t]{0,8})"
    r"((?:(?![ \t]{1,8}HTTP/|\\[rn])[^'\"\r\n<>…])+…?)",
    re.IGNORECASE,
)
MAX_REDACTED = 32_768  # characters of one record kept; the rest is cut before any pattern runs
_TELEGRAM_TOKEN = re.compile(r"(?<!\d)(\d{3,}):[A-Za-z0-9_-]{30,}")
_KEY_SHAPED = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{40,}(?![A-Za-z0-9_-])")
_BEARER = re.compile(r"(\bBearer[ \t]+)[^\s'\",;]+", re.IGNORECASE)
# `passphrase=…`, `"secret": "…"`: the value, quoted (to its closing quote) or bare.
_NAMED_SECRET = re.compile(
    r"""(\b(?:passphrase|password|passwd|secret|hmac_secret|api_key|apikey|token|webhook_key)"""
    r"""['"]?[ \t]*[:=][ \t]*)("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|[^\s'",;&}]+)""",
    re.IGNORECASE,
)


_NAMED_WORDS = ("pass", "secret", "key", "token")  # what every name `_NAMED_SECRET` knows contains


def _key_hint(match: re.Match[str]) -> str:
    """The first four characters of the key, as `key_hint` shows them; a hint stays a hint."""
    prefix, key = match.group(1), match.group(2)
    if len(key) <= 5 and key.endswith("…"):  # redacted already (records are, then lines again)
        return match.group(0)
    return f"{prefix}{key[:4]}…" if len(key) > 8 else prefix


def _key_shaped(match: re.Match[str]) -> str:
    text = match.group(0)
    mixed = (
        any(c.isupper() for c in text)
        and any(c.islower() for c in text)
        and any(c.isdigit() for c in text)
    )
    return f"{text[:4]}…" if mixed else text


class Redactor:
    """Masks secrets in text: known values, and text shaped like one (see the module doc)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        fresh = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}
        with self._lock:
            # Longest first, so a secret containing another is masked whole.
            self._secrets = tuple(sorted(set(self._secrets) | fresh, key=len, reverse=True))

    def redact(self, text: str) -> str:
        for secret in self._secrets:  # before any cut: a secret across it is still whole here
            if secret in text:
                text = text.replace(secret, MASK)
        if len(text) > MAX_REDACTED:
            # Head and tail kept (a traceback ends with its exception), cut at a blank so no
            # part of a key-shaped word is left by the cut.
            head_words = text[: MAX_REDACTED // 2].rsplit(None, 1)
            tail_words = text[-MAX_REDACTED // 2 :].split(None, 1)
            head = head_words[0] if len(head_words) > 1 else ""
            tail = tail_words[-1] if len(tail_words) > 1 else ""
            text = f"{head} … ({len(text) - len(head) - len(tail)} characters cut) … {tail}"
        # Each pattern runs only where its anchor word could be: most lines have none (cheap
        # substring tests first, so a line costs microseconds on the alert's path). Text that
        # is not ASCII gets every pattern: case-insensitive matching reads `ſ` as `s`.
        lower = text.lower() if text.isascii() else "ebhook bearer pass secret key token"
        if "ebhook" in lower or "%" in text:  # letters of `webhook` may be percent-encoded
            text = _WEBHOOK_PATH.sub(_key_hint, text)
        if ":" in text:
            text = _TELEGRAM_TOKEN.sub(rf"\1:{MASK}", text)
        if "bearer" in lower:
            text = _BEARER.sub(rf"\1{MASK}", text)
        if any(word in lower for word in _NAMED_WORDS):
            text = _NAMED_SECRET.sub(rf"\1{MASK}", text)
        return _KEY_SHAPED.sub(_key_shaped, text) if len(text) >= 40 else text

    def scrub(self, record: logging.LogRecord) -> None:
        """Redact a record in place: message and arguments merged, traceback and stack as text
        (the exception object itself is dropped: formatting it later would quote it whole)."""
        if _redacted_by(record) is self:
            return  # by this redactor already (the record factory's): once is enough
        try:
            message = _message(record)
        except Exception:  # a call with the wrong arguments: still logged, never raising here
            message = f"{record.msg!s} {record.args!r}"
        record.msg, record.args = self.redact(message), None
        # What was redacted, and by whom: a record whose message is changed afterwards
        # (`logging.makeLogRecord`, a filter) is not taken as redacted any more.
        record.redacted = (self, record.msg)
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = self.redact(_FORMATTER.formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)


_FORMATTER = logging.Formatter()


def _message(record: logging.LogRecord) -> str:
    """The record's message with its decimals as a person writes them: `price=65000`, not the
    database's `65000.000000000000` (`trading.money.plain`: every digit kept, no padding)."""
    args = record.args
    if args:
        readable: Any = (
            {key: _readable(value) for key, value in args.items()}
            if isinstance(args, Mapping)
            else tuple(_readable(value) for value in args)
        )
        with contextlib.suppress(TypeError, ValueError):  # `%d` of a decimal: as it was
            return str(record.msg) % readable
    return record.getMessage()


def _readable(value: Any) -> Any:
    return plain(value) if isinstance(value, Decimal) and value.is_finite() else value


def _redacted_by(record: logging.LogRecord) -> Redactor | None:
    """The redactor that redacted this record as it is now (None if it changed since)."""
    mark = getattr(record, "redacted", None)
    if mark is None or record.args or record.msg is not mark[1]:
        return None
    redactor: Redactor = mark[0]
    return redactor


REDACTOR = Redactor()


class SecretMask(logging.Filter):
    """A handler filter that redacts records (for handlers set up outside `setup_logging`)."""

    def __init__(self, secrets: Iterable[str] = (), redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or Redactor(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        self.redactor.scrub(record)
        return True

    def mask(self, text: str) -> str:
        return self.redactor.redact(text)


def install_redaction(secrets: Iterable[str] = ()) -> None:
    """Redact every log record from now on, in this process (idempotent: a second call only adds
    secrets). Called by `setup_logging` and by `create_app`, so an embedded app is covered too."""
    REDACTOR.add(secrets)
    current = logging.getLogRecordFactory()
    if getattr(current, "redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        REDACTOR.scrub(record)
        return record

    factory.redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def settings_secrets(settings: Settings) -> list[str]:
    return [
        settings.telegram_token.get_secret_value(),
        settings.api_token.get_secret_value(),
        settings.webhook_secret(),
        settings.ccxt_api_key.get_secret_value(),
        settings.ccxt_secret.get_secret_value(),
        settings.ccxt_password.get_secret_value(),
    ]


class RedactingFormatter(logging.Formatter):
    """Text lines, redacted once more after formatting."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        # A record the factory redacted has nothing left to mask: its message, traceback and
        # stack are redacted text, and the rest of the line is time, level and logger name.
        return line if _redacted_by(record) is REDACTOR else REDACTOR.redact(line)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        redact: Callable[[str], str] = str if _redacted_by(record) is REDACTOR else REDACTOR.redact
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            data["exc"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            data["exc"] = redact(record.exc_text)
        if record.stack_info:
            data["stack"] = redact(record.stack_info)
        return json.dumps(data)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(settings: Settings, stream: IO[str] | None = None) -> logging.Handler:
    """One handler on the root logger (stderr, or `stream`), in TRADEBOT_LOG_FORMAT; returns it."""
    install_redaction(settings_secrets(settings))
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(RedactingFormatter(TEXT_FORMAT))
    handler.addFilter(SecretMask(redactor=REDACTOR))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # aiohttp's access log would print every webhook URL, and the URL holds the bot's key (it is
    # redacted anyway, but a line per request is noise).
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    # Database drivers log every statement with its parameters at DEBUG, and parameters include
    # webhook keys and passphrases: they stay quiet whatever TRADEBOT_LOG_LEVEL says.
    for name in ("tortoise", "aiosqlite", "asyncpg"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler
