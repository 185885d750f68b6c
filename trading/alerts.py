"""TradingView alert parsing (SPEC §5).

The body is parsed by its content, never its header: TradingView sends `text/plain` for anything
that is not valid JSON, and other senders get the header wrong. Numbers may be JSON numbers or
numeric strings (placeholders expand into text). Every error names the field.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from trading import numbers
from trading.errors import AlertError
from trading.levels import Level
from trading.series import MAX_FUTURE, normalize_interval
from trading.symbols import normalize_symbol

MAX_BODY_BYTES = 64 * 1024
MAX_TP_LEVELS = 10
MAX_DEPTH = 16  # nesting of a field's value (an extra field's JSON, kept for the strategy)

_ACTIONS = {
    "buy": "buy",
    "long": "buy",
    "sell": "sell",
    "short": "sell",
    "close": "close",
    "exit": "close",
    "flat": "close",
    "close_long": "close_long",
    "exit_long": "close_long",
    "close_short": "close_short",
    "exit_short": "close_short",
    "tick": "tick",
    "price": "tick",
}
_PLACEHOLDER = re.compile(r"\{\{[^}]*\}\}")
# A JSON member: its key (raw, escapes not decoded) and its value (a string or a bare token).
# A value's closing quote may be missing: a body cut short (the first 4 KiB of an oversized one).
_SECRET_JSON = re.compile(r'"((?:[^"\\]|\\.){1,64})"(\s*:\s*)("(?:[^"\\]|\\.)*"?|[^,{}\[\]\s"]+)')
_SECRET_TEXT = re.compile(
    r"(\b(?:pass[\W_]{0,2}phrase|pass[\W_]?word|(?:api[\W_]?)?secret|api[\W_]?key|token)"
    r"\s*=\s*)(\S+)",
    re.IGNORECASE,
)
_SECRET_NAMES = {"passphrase", "password", "secret", "apisecret", "apikey", "token"}
_LETTERS = re.compile(r"[^a-z]")
_SECRET_HINTS = ("pass", "secret", "apikey", "token")  # every name in _SECRET_NAMES has one
MIN_SECRET_SHOWN = 3  # a known secret shorter than this is redacted by its field name only
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_TP_KEY = re.compile(r"tp([0-9]+)(_share)?")
_FIELD_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


class Action(StrEnum):
    BUY = "buy"
    SELL = "sell"
    CLOSE = "close"
    CLOSE_LONG = "close_long"
    CLOSE_SHORT = "close_short"
    TICK = "tick"


def parse_decimal(value: Any, *, allow_negative: bool = False, allow_zero: bool = False) -> Decimal:
    """A finite decimal in the plain-decimal grammar (`trading.numbers`), within sane bounds."""
    return numbers.bounded(value, allow_negative=allow_negative, allow_zero=allow_zero)


def parse_time(value: Any) -> datetime:
    """ISO-8601 (TradingView's {{timenow}}) or epoch seconds / milliseconds, as aware UTC."""
    if isinstance(value, bool):
        raise ValueError("must be a time")
    if isinstance(value, int | float) or (
        isinstance(value, str) and value.strip().isascii() and value.strip().isdigit()
    ):
        number = float(value)
        if number > 1e11:  # milliseconds
            number /= 1000
        try:
            return datetime.fromtimestamp(number, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError("is out of range") from None
    if not isinstance(value, str):
        raise ValueError("must be an ISO-8601 time or epoch seconds")
    text = value.strip()
    if _PLACEHOLDER.search(text):
        raise ValueError("is an unexpanded TradingView placeholder")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"must be an ISO-8601 time, got {text[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise ValueError("is out of range") from None


def parse_share(value: Any) -> Decimal | None:
    """The part of a position a take-profit level closes: 0.5 or 50 (per cent) mean half."""
    if value is None or value == "":
        return None
    share = parse_decimal(value)
    if share > 1:
        share = share / 100  # "50" means 50 %
    if share > 1:
        raise ValueError("must be at most 100%")
    return share


class TakeProfitLevel(BaseModel):
    level: Level
    share: Decimal | None = None

    # A sender may post `take_profits` itself (or a stored alert is rebuilt): same rules as tpN.
    @field_validator("level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Level:
        return Level.parse(value)

    @field_validator("share", mode="before")
    @classmethod
    def _share(cls, value: Any) -> Decimal | None:
        return parse_share(value)


class Alert(BaseModel):
    """A validated alert. Unknown fields are kept in `fields` for the strategy."""

    model_config = ConfigDict(extra="allow", frozen=True)

    action: Action
    symbol: str
    exchange: str | None = None
    price: Decimal | None = None
    qty: Decimal | None = None
    market_position: str | None = None
    position_size: Decimal | None = None
    order_id: str | None = None
    comment: str | None = None
    interval: str | None = None
    time: datetime | None = None
    bar_time: datetime | None = None
    sl: Level | None = None
    tp: Level | None = None
    trail: Level | None = None
    take_profits: list[TakeProfitLevel] = []
    id: str | None = None
    passphrase: str | None = None

    @field_validator("action", mode="before")
    @classmethod
    def _action(cls, value: Any) -> str:
        if not isinstance(value, str):  # a list or an object is unhashable: no dict lookup
            raise ValueError("must be a string such as buy, sell or close")
        text = value.strip().lower()
        if _PLACEHOLDER.search(text):
            raise ValueError("is an unexpanded TradingView placeholder")
        if text not in _ACTIONS:
            raise ValueError(
                f"must be one of buy, sell, long, short, close, close_long, "
                f"close_short, tick (got {str(value)[:20]!r})"
            )
        return _ACTIONS[text]

    @field_validator("symbol", mode="before")
    @classmethod
    def _symbol(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if _PLACEHOLDER.search(value):
            raise ValueError("is an unexpanded TradingView placeholder")
        return normalize_symbol(value)

    @field_validator("price", mode="before")
    @classmethod
    def _price(cls, value: Any) -> Decimal | None:
        return None if value is None or value == "" else numbers.price(value)

    @field_validator("qty", mode="before")
    @classmethod
    def _qty(cls, value: Any) -> Decimal | None:
        return None if value is None or value == "" else numbers.quantity(value)

    @field_validator("position_size", mode="before")
    @classmethod
    def _signed(cls, value: Any) -> Decimal | None:
        if value is None or value == "":
            return None
        return numbers.quantity(value, allow_negative=True, allow_zero=True)

    @field_validator("market_position", mode="before")
    @classmethod
    def _market_position(cls, value: Any) -> str | None:
        if value is None or value == "":
            return None
        text = str(value).strip().lower()
        if text not in ("long", "short", "flat"):
            raise ValueError("must be long, short or flat")
        return text

    @field_validator("time", "bar_time", mode="before")
    @classmethod
    def _time(cls, value: Any) -> datetime | None:
        if value is None or value == "":
            return None
        moment = parse_time(value)
        if moment > datetime.now(UTC) + MAX_FUTURE:
            raise ValueError(
                f"is in the future ({moment:%Y-%m-%d %H:%M:%S} UTC; at most 5 minutes of clock "
                f"skew are allowed)"
            )
        return moment

    @field_validator("interval", mode="after")
    @classmethod
    def _interval(cls, value: str | None) -> str | None:
        if value is not None:
            normalize_interval(value)  # ValueError names what is accepted
        return value

    @field_validator("sl", "tp", "trail", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Level | None:
        return None if value is None or value == "" else Level.parse(value)

    @field_validator(
        "exchange", "order_id", "comment", "interval", "id", "passphrase", mode="before"
    )
    @classmethod
    def _text(cls, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError("must be a string")
        text = str(value).strip()
        if len(text) > 128:
            raise ValueError("must be at most 128 characters")
        return text or None

    @model_validator(mode="before")
    @classmethod
    def _take_profits(cls, data: Any) -> Any:
        """Collect tp1, tp2, ... and tpN_share into `take_profits`; refuse levels beyond
        MAX_TP_LEVELS and shares that add up to more than the whole position."""
        if not isinstance(data, dict):
            return data
        for key in data:
            match = _TP_KEY.fullmatch(str(key).lower())
            if match is None:
                continue
            n = int(match.group(1)) if len(match.group(1)) <= 4 else 0
            if not 1 <= n <= MAX_TP_LEVELS:
                raise AlertError(
                    str(key)[:16], f"at most {MAX_TP_LEVELS} take-profit levels (tp1 … tp10)"
                )
            if match.group(2) and data.get(f"tp{n}") in (None, ""):
                raise AlertError(str(key), f"is given without tp{n}")
        levels = []
        total = Decimal(0)
        for n in range(1, MAX_TP_LEVELS + 1):
            raw = data.get(f"tp{n}")
            if raw is None or raw == "":
                continue
            try:
                level = Level.parse(raw)
            except ValueError as exc:
                raise AlertError(f"tp{n}", str(exc)) from None
            try:
                parsed_share = parse_share(data.get(f"tp{n}_share"))
            except ValueError as exc:
                raise AlertError(f"tp{n}_share", str(exc)) from None
            if parsed_share is not None:
                total += parsed_share
                if total > 1:
                    raise AlertError(
                        f"tp{n}_share", f"the shares add up to {total * 100:f}%, over 100%"
                    )
            levels.append({"level": level, "share": parsed_share})
        if levels:
            data = dict(data)
            data["take_profits"] = levels
        return data

    @model_validator(mode="after")
    def _shares_fit(self) -> Alert:
        """Sizes within the notional bound at the alert's price; however the levels came (tpN or
        a posted `take_profits`): at most MAX_TP_LEVELS, and the given shares leave something
        for every level without one."""
        if self.price is not None:
            for name in ("qty", "position_size"):
                size = getattr(self, name)
                if size is not None and (size * self.price).copy_abs() >= numbers.MAX_NOTIONAL:
                    raise AlertError(
                        name,
                        f"{size:f} at price {self.price:f} is over the notional limit "
                        f"(1e{numbers.MAX_NOTIONAL.adjusted()})",
                    )
        levels = self.take_profits
        if len(levels) > MAX_TP_LEVELS:
            raise AlertError("take_profits", f"at most {MAX_TP_LEVELS} take-profit levels")
        given = [level.share for level in levels if level.share is not None]
        total = sum(given, Decimal(0))
        if total > 1:
            raise AlertError("take_profits", f"the shares add up to {total * 100:f}%, over 100%")
        if total >= 1 and len(given) < len(levels):
            raise AlertError(
                "take_profits",
                "the shares given add up to 100%, leaving nothing for the levels without one",
            )
        return self

    @property
    def target_position(self) -> Decimal | None:
        """The signed position a buy / sell / close states with `market_position` /
        `position_size` (TradingView's strategy placeholders), if it states one."""
        if self.action not in (Action.BUY, Action.SELL, Action.CLOSE):
            return None
        if self.market_position == "flat":
            return Decimal(0)
        if self.position_size is None:
            return None
        size = abs(self.position_size)
        if self.market_position == "short" or (
            self.market_position is None and self.position_size < 0
        ):
            return -size
        return size

    @property
    def fields(self) -> dict[str, Any]:
        """Fields the contract does not name (an `rsi` value from the chart, say)."""
        return dict(self.model_extra or {})


@functools.lru_cache(maxsize=4096)  # the same few field names, alert after alert
def is_secret_name(name: str) -> bool:
    """Whether a field of this name holds a secret, however it is spelled or escaped
    (`Passphrase`, `pass_phrase`, `"pass\\u0070hrase"` once decoded)."""
    return _LETTERS.sub("", name.casefold()) in _SECRET_NAMES


def _json_key(raw: str) -> str:
    if "\\" not in raw:
        return raw
    try:
        return str(json.loads(f'"{raw}"'))
    except ValueError:
        return raw


def _redact_pair(match: re.Match[str]) -> str:
    if not is_secret_name(_json_key(match.group(1))):
        return match.group(0)
    return f'"{match.group(1)}"{match.group(2)}"***"'


def redact(body: str, secrets: Iterable[str | None] = ()) -> str:
    """`body` (or a reason) with secrets replaced, for `webhook_logs`, the log and the chat:
    the value of every field whose name is a secret's, in JSON (any nesting, any escape, even
    when the JSON is malformed) and in the text form (`passphrase=` with or without spaces);
    and every occurrence of the `secrets` known (the bot's passphrase, the one the alert gave)."""
    # The patterns run only where a secret's name could be: escaped (`\u0070`), or its letters
    # there once everything but letters is dropped (as `is_secret_name` reads a name).
    # Text that is not ASCII gets the patterns whatever it says (case-insensitive matching
    # reads the dotless `ı` as `i`).
    letters = _LETTERS.sub("", body.casefold())
    if "\\" in body or not body.isascii() or any(name in letters for name in _SECRET_HINTS):
        body = _SECRET_JSON.sub(_redact_pair, body)
        body = _SECRET_TEXT.sub(r"\1***", body)
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET_SHOWN:
            body = body.replace(secret, "***")
            escaped = json.dumps(secret)[1:-1]
            if escaped != secret:
                body = body.replace(escaped, "***")
    return body


def redact_value(value: Any, secrets: Iterable[str | None] = ()) -> Any:
    """A parsed structure with the value of every secret-named field, at any depth, and every
    known secret in its strings replaced."""
    known = [s for s in secrets if s and len(s) >= MIN_SECRET_SHOWN]
    if isinstance(value, dict):
        return {
            key: "***" if is_secret_name(str(key)) else redact_value(item, known)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact_value(item, known) for item in value]
    if isinstance(value, str) and known:
        for secret in known:
            value = value.replace(secret, "***")
    return value


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise AlertError("body", "must be UTF-8 text") from None


def _parse_text_form(text: str) -> dict[str, Any]:
    """`buy BTCUSDT qty=0.01 price=100 sl=2% tp=4%`."""
    words = text.split()
    if len(words) < 2:
        raise AlertError(
            "body", "expected JSON or 'ACTION SYMBOL key=value ...', e.g. 'buy BTCUSDT qty=0.01'"
        )
    data: dict[str, Any] = {"action": words[0], "symbol": words[1]}
    for word in words[2:]:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise AlertError("body", f"expected key=value, got {redact(word)[:40]!r}")
        if not value:  # `passphrase= x`: the next word is not this key's value, nor shown
            field = key.lower() if _FIELD_NAME.match(key) else "body"
            raise AlertError(field, "has no value (write key=value, no space after '=')")
        data[key.lower()] = value
    return data


def parse_alert_payload(body: bytes) -> dict[str, Any]:
    """Raw alert fields from a body, JSON or the one-line text form."""
    text = _decode(body).strip()
    if not text:
        raise AlertError("body", "is empty")
    if text.startswith("{"):
        try:
            # NaN / Infinity tokens become text, so the field they are in is named when refused.
            data = json.loads(text, parse_float=str, parse_int=str, parse_constant=str)
        except json.JSONDecodeError as exc:
            raise AlertError(
                "body", f"malformed JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
            ) from None
        except RecursionError:
            raise AlertError("body", f"nested deeper than {MAX_DEPTH} levels") from None
        if not isinstance(data, dict):
            raise AlertError("body", "must be a JSON object")
    elif text.startswith("["):
        raise AlertError("body", "must be a JSON object, not a list")
    else:
        data = _parse_text_form(text)
    _check_storable(data)
    return data


def _check_storable(data: dict[str, Any]) -> None:
    """Refuse what the log row could not store: text with a NUL or a lone surrogate (not
    UTF-8, from a `\\ud800` escape) and nesting deeper than MAX_DEPTH (orjson stops at 254)."""
    for key, value in data.items():
        if _UNSTORABLE.search(key):
            raise AlertError("body", "a field name has a NUL character or a lone surrogate")
        field = key if _FIELD_NAME.match(key) else "body"  # never echo a junk name as a field
        pending: list[tuple[Any, int]] = [(value, 1)]
        while pending:
            item, depth = pending.pop()
            if depth > MAX_DEPTH:
                raise AlertError(field, f"nested deeper than {MAX_DEPTH} levels")
            if isinstance(item, str):
                if _UNSTORABLE.search(item):
                    raise AlertError(field, "has a NUL character or a lone surrogate")
            elif isinstance(item, dict):
                for inner_key, inner in item.items():
                    pending.append((inner_key, depth + 1))
                    pending.append((inner, depth + 1))
            elif isinstance(item, list):
                pending.extend((inner, depth + 1) for inner in item)


def build_alert(data: dict[str, Any]) -> Alert:
    for required in ("action", "symbol"):
        if data.get(required) in (None, ""):
            raise AlertError(required, "is required")
    try:
        return Alert.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "body"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise AlertError(field, message) from None


def parse_alert(body: bytes) -> Alert:
    """Parse and validate an alert body; raises AlertError naming the field."""
    return build_alert(parse_alert_payload(body))
