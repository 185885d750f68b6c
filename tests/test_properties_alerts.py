"""Property tests of the alert parser (SPEC §5, issue 6 §5): whatever bytes a sender posts,
`parse_alert` returns a valid Alert or raises AlertError naming a field, never anything else;
a valid alert survives being stored and rebuilt."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trading.alerts import Action, Alert, parse_alert
from trading.approvals import rebuild_alert
from trading.errors import AlertError
from trading.intake import redacted_alert
from trading.levels import Level
from trading.numbers import MAX_NOTIONAL, MAX_NUMBER, MAX_PRICE, MAX_QTY
from trading.series import interval_seconds, normalize_interval

FAST = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

CANONICAL = {
    "buy": Action.BUY,
    "long": Action.BUY,
    "sell": Action.SELL,
    "short": Action.SELL,
    "close": Action.CLOSE,
    "exit": Action.CLOSE,
    "flat": Action.CLOSE,
    "close_long": Action.CLOSE_LONG,
    "exit_long": Action.CLOSE_LONG,
    "close_short": Action.CLOSE_SHORT,
    "exit_short": Action.CLOSE_SHORT,
    "tick": Action.TICK,
    "price": Action.TICK,
}
FIELDS = [
    "action", "symbol", "exchange", "price", "qty", "market_position", "position_size",
    "order_id", "comment", "interval", "time", "bar_time", "sl", "tp", "trail", "tp1",
    "tp1_share", "tp2", "tp2_share", "id", "passphrase", "take_profits", "rsi",
]  # fmt: skip
SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9.]{1,30}$")

# ---------------------------------------------------------------- strategies

HOSTILE_NUMBERS = [
    "1e400", "-1e400", "1" + "0" * 400, "9" * 5000, "NaN", "nan", "-NaN", "sNaN", "Infinity",
    "-Infinity", "inf", "-0", "0", "0.0", "-1", "-0.000001", "1e-20", "1e-13",
    "1e999999999999999999", "1e-999999999999999999", "12abc", "", " ", "1,000.5", "1_000",
    "１２", "\u0661\u0662", "\u00b2", "{{close}}", "5%", "-2%", "100%", "99.99%", "0%", "%",
    "2%%", "0x10", "1e15", "999999999999999.9", "0.000000000001", "65000", "0.01",
]  # fmt: skip
HOSTILE_TEXT = [
    "\u202e", "\u200b", "\ufeff", "\ud800", "\udfff", "\ud83d", "\u0000", "ＢＴＣ", "БТЦ", "𝟙",
    "ß", "ﬃ", "🙂", "<b>", "&amp;", "{{ticker}}", "BINANCE:", ":", "/", ".P", "\n", "\t",
    "BTCUSDT", "buy", "sell", "close", "long", "flat", "x" * 200,
]  # fmt: skip
# Raw JSON tokens json.dumps would never write.
RAW_TOKENS = ["NaN", "Infinity", "-Infinity", "-0", "1e400", "-1e400", "1" + "0" * 400,
              "1e-400", "0.0", "-1.5", "1E+999999999"]  # fmt: skip

hostile_text = st.one_of(
    st.sampled_from(HOSTILE_TEXT),
    st.text(max_size=30),
    st.lists(st.sampled_from(HOSTILE_TEXT + HOSTILE_NUMBERS), max_size=4).map("".join),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(HOSTILE_NUMBERS),
    hostile_text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3),
    max_leaves=8,
)


def field_value(name: str) -> st.SearchStrategy[Any]:
    if name == "action":
        return st.one_of(st.sampled_from(sorted(CANONICAL)), json_values)
    if name == "symbol":
        return st.one_of(st.sampled_from(["BTCUSDT", "BINANCE:BTCUSDT", "btc/usdt"]), json_values)
    return json_values


hostile_dicts = st.fixed_dictionaries(
    {"action": field_value("action"), "symbol": field_value("symbol")},
    optional={name: field_value(name) for name in FIELDS[2:]},
)


def encode(data: Any, *, ascii_only: bool) -> bytes:
    """JSON as a sender writes it; without ensure_ascii a lone surrogate becomes bytes that
    are not UTF-8 (CESU-8), which the parser must refuse as such."""
    text = json.dumps(data, ensure_ascii=ascii_only, allow_nan=True)
    return text.encode("utf-8", "surrogatepass")


@st.composite
def with_raw_token(draw: st.DrawFn) -> bytes:
    """A valid-looking alert with one field set to a raw token (NaN, 1e400, -0 ...)."""
    field = draw(st.sampled_from(["price", "qty", "position_size", "sl", "tp", "time", "id"]))
    token = draw(st.sampled_from(RAW_TOKENS))
    return f'{{"action": "buy", "symbol": "BTCUSDT", "{field}": {token}}}'.encode()


TEXT_WORDS = [*sorted(CANONICAL), "BTCUSDT", "BINANCE:ETHUSDT", "x", "=", "=1", "qty=", "%"]
text_tokens = st.one_of(
    st.sampled_from(TEXT_WORDS),
    st.builds(
        lambda key, value: f"{key}={value}",
        st.sampled_from([*FIELDS, "QTY", "Price", "tp3", "tp1_SHARE", ""]),
        st.sampled_from(HOSTILE_NUMBERS + HOSTILE_TEXT),
    ),
    st.text(max_size=12),
)
separators = st.sampled_from([" ", "  ", "\t", "\n", "\u00a0", "\u3000", "\r\n"])


@st.composite
def text_forms(draw: st.DrawFn) -> bytes:
    words = draw(st.lists(text_tokens, max_size=8))
    out = ""
    for word in words:
        out += word + draw(separators)
    return out.encode("utf-8", "surrogatepass")


def hostile_alert_bodies() -> st.SearchStrategy[bytes]:
    """Every kind of body the tests throw at the parser (also used on the live server)."""
    return st.one_of(
        st.binary(max_size=200),
        st.builds(encode, json_values, ascii_only=st.booleans()),
        st.builds(encode, hostile_dicts, ascii_only=st.booleans()),
        with_raw_token(),
        text_forms(),
    )


# ---------------------------------------------------------------- the oracle


def positive(value: Decimal | None, maximum: Decimal = MAX_NUMBER) -> None:
    if value is not None:
        assert isinstance(value, Decimal) and value.is_finite()
        assert Decimal("1e-12") <= value < maximum, value


def valid_level(level: Level | None) -> None:
    if level is None:
        return
    assert level.value.is_finite() and level.value >= Decimal("1e-12"), level
    assert level.value < (100 if level.percent else MAX_NUMBER), level


def assert_valid(alert: Alert) -> None:
    assert isinstance(alert.action, Action)
    assert SYMBOL.match(alert.symbol), alert.symbol
    positive(alert.price, MAX_PRICE)
    positive(alert.qty, MAX_QTY)
    if alert.price is not None and alert.qty is not None:
        assert alert.price * alert.qty < MAX_NOTIONAL
    if alert.position_size is not None:
        assert alert.position_size.is_finite() and abs(alert.position_size) < MAX_QTY
    for level in (alert.sl, alert.tp, alert.trail):
        valid_level(level)
    for target in alert.take_profits:
        valid_level(target.level)
        if target.share is not None:
            assert 0 < target.share <= 1, target.share
    for moment in (alert.time, alert.bar_time):
        assert moment is None or (isinstance(moment, datetime) and moment.tzinfo is not None)
        assert moment is None or moment <= datetime.now(UTC) + timedelta(minutes=5)
    if alert.interval is not None:
        assert 1 <= (interval_seconds(normalize_interval(alert.interval)) or 0) <= 31 * 86400
    assert len(alert.take_profits) <= 10
    assert sum((t.share for t in alert.take_profits if t.share is not None), Decimal(0)) <= 1
    for text in (alert.id, alert.comment, alert.order_id, alert.passphrase, alert.interval):
        assert text is None or len(text) <= 128
    # What the intake stores must be storable: Tortoise writes JSON with orjson, which refuses
    # lone surrogates and nesting past 254 levels.
    orjson.dumps(redacted_alert(alert))
    for text in (alert.id, alert.symbol, alert.action.value):
        if text is not None:
            text.encode("utf-8")


def check(body: bytes) -> Alert | None:
    """parse_alert's contract: a valid Alert, or AlertError naming a field. Nothing else."""
    try:
        alert = parse_alert(body)
    except AlertError as exc:
        assert exc.field and isinstance(exc.field, str)
        assert exc.user_message.startswith(f"{exc.field}: ")
        assert exc.user_message.removeprefix(f"{exc.field}: ").strip()
        assert "\n" not in exc.user_message and len(exc.user_message) < 400, exc.user_message
        return None
    assert_valid(alert)
    return alert


# ---------------------------------------------------------------- properties


@FAST
@given(st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_name_a_field(body: bytes) -> None:
    check(body)


@FAST
@given(json_values, st.booleans())
def test_arbitrary_json_values_parse_or_name_a_field(value: Any, ascii_only: bool) -> None:
    check(encode(value, ascii_only=ascii_only))


@FAST
@given(hostile_dicts, st.booleans())
def test_alerts_with_hostile_field_values_parse_or_name_a_field(
    data: dict[str, Any], ascii_only: bool
) -> None:
    check(encode(data, ascii_only=ascii_only))


@FAST
@given(with_raw_token())
def test_raw_nan_infinity_and_huge_tokens_parse_or_name_a_field(body: bytes) -> None:
    check(body)


@FAST
@given(text_forms())
def test_text_form_with_random_tokens_parses_or_names_a_field(body: bytes) -> None:
    check(body)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([b"{", b"[", b'{"a":', b'{"a":[']), st.integers(200, 20_000))
def test_deeply_nested_json_is_refused_as_body(opener: bytes, depth: int) -> None:
    alert = check(b'{"action": "buy", "symbol": "BTCUSDT", "x": ' + opener * depth)
    assert alert is None


# ---------------------------------------------------------------- round trips

decimals = st.decimals(
    min_value=Decimal("0.000001"), max_value=Decimal("999999999"), places=6, allow_nan=False
).filter(lambda d: d > 0)
exchanges = st.sampled_from(["", "BINANCE:", "BYBIT:", "binance:"])
pairs = st.tuples(
    st.sampled_from(["BTC", "ETH", "SOL", "1000PEPE"]), st.sampled_from(["USDT", "USD", "EUR"])
)
separators_in_symbol = st.sampled_from(["", "/", "-", "_"])


@st.composite
def valid_alerts(
    draw: st.DrawFn,
) -> tuple[dict[str, Any], Action, str, Decimal | None, Decimal | None]:
    alias = draw(st.sampled_from(sorted(CANONICAL)))
    spelled = draw(st.sampled_from([alias, alias.upper(), alias.title(), f"  {alias} "]))
    base, quote = draw(pairs)
    symbol = draw(exchanges) + base + draw(separators_in_symbol) + quote
    symbol = symbol.lower() if draw(st.booleans()) else symbol
    if draw(st.booleans()):
        symbol += ".P"
    data: dict[str, Any] = {"action": spelled, "symbol": symbol}
    price = draw(st.none() | decimals)
    qty = draw(st.none() | decimals)
    if price is not None and qty is not None and price * qty >= MAX_NOTIONAL:
        qty = None  # over the notional bound: a valid alert of that size names no qty
    for name, value in (("price", price), ("qty", qty)):
        if value is not None:
            # TradingView sends strings; other senders JSON numbers
            data[name] = str(value) if draw(st.booleans()) else float(value)
    if draw(st.booleans()):
        data["sl"] = draw(st.sampled_from(["2%", "0.5%", "64000", "99.9%"]))
    if draw(st.booleans()):
        data["tp1"], data["tp1_share"] = "1%", draw(st.sampled_from(["50", "0.5", "100", "1"]))
    if draw(st.booleans()):
        data["id"] = draw(st.text(min_size=1, max_size=40).filter(str.strip).filter(_storable))
    if draw(st.booleans()):
        data["passphrase"] = "s3cret-pass"
    if draw(st.booleans()):
        data["rsi"] = draw(st.sampled_from(["28.4", 71, "n/a"]))
    return data, CANONICAL[alias], base + quote, price, qty


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _expected_number(value: Decimal | None, sent: Any) -> Decimal | None:
    if value is None:
        return None
    return Decimal(repr(sent)) if isinstance(sent, float) else value


@FAST
@given(valid_alerts(), st.booleans())
def test_a_valid_alert_parses_to_the_same_action_symbol_price_and_qty(
    case: tuple[dict[str, Any], Action, str, Decimal | None, Decimal | None], text_plain: bool
) -> None:
    data, action, symbol, price, qty = case
    alert = check(encode(data, ascii_only=text_plain))
    assert alert is not None, data
    assert alert.action is action
    assert alert.symbol == symbol
    assert alert.price == _expected_number(price, data.get("price"))
    assert alert.qty == _expected_number(qty, data.get("qty"))
    if "tp1" in data:
        [target] = alert.take_profits
        assert target.share is not None and 0 < target.share <= 1


@FAST
@given(valid_alerts())
def test_the_one_line_text_form_says_the_same_as_json(
    case: tuple[dict[str, Any], Action, str, Decimal | None, Decimal | None],
) -> None:
    data, action, symbol, price, qty = case
    words = [data["action"].strip(), data["symbol"]]
    words += [f"{k}={v}" for k, v in data.items() if k in ("price", "qty", "sl")]
    alert = check(" ".join(words).encode())
    assert alert is not None, words
    assert (alert.action, alert.symbol) == (action, symbol)
    assert alert.price == _expected_number(price, data.get("price"))
    assert alert.qty == _expected_number(qty, data.get("qty"))


@FAST
@given(valid_alerts())
def test_a_stored_alert_rebuilds_to_the_same_alert(
    case: tuple[dict[str, Any], Action, str, Decimal | None, Decimal | None],
) -> None:
    """What the intake stores (redacted, as JSON) rebuilds to the alert an approval executes."""
    data = case[0]
    alert = check(encode(data, ascii_only=False))
    assert alert is not None
    stored = orjson.loads(orjson.dumps(redacted_alert(alert)))
    rebuilt = rebuild_alert(stored)
    assert rebuilt.model_dump(exclude={"passphrase"}) == alert.model_dump(exclude={"passphrase"})
    assert rebuilt.passphrase is None
