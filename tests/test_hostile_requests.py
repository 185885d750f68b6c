"""Hostile and malformed requests on `POST /webhook/{key}` through the real server (issue 6 §5):
every one gets a clear 4xx naming the field (or `200 rejected` where SPEC §5 says so), never a
5xx, and afterwards the database holds no order, no position and no half-written row."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from tortoise import Tortoise

from db.models import CurrentPosition, Order, PositionEntry, TradeHistory, WebhookLog
from tests.conftest import World
from tests.examples import run_examples
from tests.test_properties_alerts import hostile_alert_bodies

T = TypeVar("T")

# ---------------------------------------------------------------- helpers


async def nothing_traded() -> None:
    assert await Order.all().count() == 0
    assert await CurrentPosition.all().count() == 0
    assert await PositionEntry.all().count() == 0
    assert await TradeHistory.all().count() == 0


async def no_half_written_rows() -> None:
    """Every request's log row is finished (a status and an HTTP answer), and SQLite agrees
    the file is sound."""
    for log in await WebhookLog.all():
        assert log.status != "received" and log.http_status >= 200, (log.id, log.status)
    connection = Tortoise.get_connection("default")
    [row] = await connection.execute_query_dict("PRAGMA integrity_check")
    assert list(row.values()) == ["ok"]
    assert await connection.execute_query_dict("PRAGMA foreign_key_check") == []


@dataclass(frozen=True)
class Case:
    label: str
    body: bytes
    status: int = 400
    field: str | None = None  # the field a 400 must name

    def check(self, status: int, answer: dict[str, Any]) -> str | None:
        """What is wrong with the answer, or None."""
        if status != self.status:
            return f"{self.label}: {status} {answer}, expected {self.status}"
        reason = str(answer.get("reason", ""))
        if self.field is not None:
            if answer.get("field") != self.field or not reason.startswith(f"{self.field}:"):
                return f"{self.label}: expected field {self.field!r}, got {answer}"
        if not reason:
            return f"{self.label}: no reason in {answer}"
        return None


def alert(**fields: Any) -> bytes:
    return json.dumps({"action": "buy", "symbol": "BTCUSDT", **fields}).encode()


def raw(text: str) -> bytes:
    """A JSON body written by hand (tokens json.dumps would never produce)."""
    return text.encode()


async def post_all(world: World, cases: list[Case]) -> None:
    key = world.bots["demo"].webhook_key
    problems = []
    for case in cases:
        status, answer = await world.post(key, case.body)
        problem = case.check(status, answer)
        if problem:
            problems.append(problem)
    assert not problems, "\n".join(problems)
    await nothing_traded()
    await no_half_written_rows()


# ---------------------------------------------------------------- bodies

MALFORMED = [
    Case("truncated JSON", raw('{"action": "buy",'), field="body"),
    Case("unclosed object", raw('{"action": "buy", "symbol": "BTCUSDT"'), field="body"),
    Case("trailing garbage", raw('{"action": "buy", "symbol": "BTCUSDT"} x'), field="body"),
    Case("single quotes", raw("{'action': 'buy', 'symbol': 'BTCUSDT'}"), field="body"),
    Case("raw control character", raw('{"action": "buy\x00", "symbol": "BTCUSDT"}'), field="body"),
    Case("deep brackets", b"{" * 5000, field="body"),
    Case("deep objects", raw('{"a":' * 3000 + "1" + "}" * 3000), field="body"),
    Case("top-level list", b'[{"action": "buy", "symbol": "BTCUSDT"}]', field="body"),
    Case("top-level null", b"null", field="body"),
    Case("top-level number", b"123", field="body"),
    Case("top-level string", b'"buy BTCUSDT"', field="action"),  # read as the text form
    Case("empty body", b"", field="body"),
    Case("only whitespace", b" \r\n\t ", field="body"),
    Case("only a BOM", "\ufeff".encode(), field="body"),
    Case("invalid UTF-8", b"\xff\xfe\xfd", field="body"),
    Case("invalid UTF-8 in JSON", b'{"action": "buy", "symbol": "BTC\xffUSDT"}', field="body"),
    Case(
        "CESU-8 surrogate bytes",
        b'{"action": "buy", "symbol": "BTCUSDT", "x": "\xed\xa0\x80"}',
        field="body",
    ),
    Case("text form: one word", b"buy", field="body"),
    Case("text form: no value", b"buy BTCUSDT qty", field="body"),
    Case("text form: no key", b"buy BTCUSDT =1", field="body"),
    Case("NUL bytes", b"\x00\x00\x00\x00", field="body"),
]

WRONG_TYPES = [
    Case("action number", raw('{"action": 1, "symbol": "BTCUSDT"}'), field="action"),
    Case("action true", raw('{"action": true, "symbol": "BTCUSDT"}'), field="action"),
    Case("action null", raw('{"action": null, "symbol": "BTCUSDT"}'), field="action"),
    Case("action list", alert(action=["buy"]), field="action"),
    Case("action object", alert(action={"buy": 1}), field="action"),
    Case("symbol number", raw('{"action": "buy", "symbol": 2}'), field="symbol"),
    Case("symbol list", alert(symbol=["BTCUSDT"]), field="symbol"),
    Case("symbol object", alert(symbol={"s": "BTCUSDT"}), field="symbol"),
    Case("symbol empty", alert(symbol=""), field="symbol"),
    Case("price true", alert(price=True), field="price"),
    Case("price list", alert(price=[100]), field="price"),
    Case("price object", alert(price={"v": 100}), field="price"),
    Case("price text", alert(price="12abc"), field="price"),
    Case("qty list", alert(qty=[1]), field="qty"),
    Case("qty placeholder", alert(qty="{{strategy.order.contracts}}"), field="qty"),
    Case("position_size text", alert(position_size="lots"), field="position_size"),
    Case("market_position number", alert(market_position=5), field="market_position"),
    Case("time true", alert(time=True), field="time"),
    Case("time object", alert(time={"t": 1}), field="time"),
    Case("time text", alert(time="yesterday"), field="time"),
    Case("time before year 1 in UTC", alert(time="0001-01-01T00:00:00+01:00"), field="time"),
    Case("time after 9999 in UTC", alert(time="9999-12-31T23:59:59-01:00"), field="time"),
    Case("bar_time superscript digit", alert(bar_time="\u00b2"), field="bar_time"),
    Case("sl list", alert(sl=["2%"]), field="sl"),
    Case("sl object", alert(sl={"value": "-5", "percent": False}), field="sl"),
    Case("tp true", alert(tp=True), field="tp"),
    Case("trail text", alert(trail="wide"), field="trail"),
    Case("tp1 object", alert(tp1={"x": 1}), field="tp1"),
    Case("tp1_share text", alert(tp1="2%", tp1_share="half"), field="tp1_share"),
    Case("take_profits text", alert(take_profits="2%"), field="take_profits"),
    Case(
        "take_profits negative level",
        alert(take_profits=[{"level": {"value": "-1", "percent": True}}]),
        field="take_profits.0.level",
    ),
    Case("id list", alert(id=["a"]), field="id"),
    Case("id object", alert(id={"a": 1}), field="id"),
    Case("id too long", alert(id="i" * 129), field="id"),
    Case("comment true", alert(comment=True), field="comment"),
    Case("passphrase list", alert(passphrase=["x"]), field="passphrase"),
    Case("exchange object", alert(exchange={"a": 1}), field="exchange"),
]

HUGE = [
    Case(
        "price 1e400 number",
        raw('{"action": "buy", "symbol": "BTCUSDT", "price": 1e400}'),
        field="price",
    ),
    Case("price 1e400 string", alert(price="1e400"), field="price"),
    Case(
        "qty 10**400 number",
        raw('{"action": "buy", "symbol": "BTCUSDT", "qty": 1' + "0" * 400 + "}"),
        field="qty",
    ),
    Case("qty 10**400 string", alert(qty="1" + "0" * 400), field="qty"),
    Case("qty 5000 digits", alert(qty="9" * 5000), field="qty"),
    Case("qty exponent 1e999999999999999999", alert(qty="1e999999999999999999"), field="qty"),
    Case("price exponent -999999999999999999", alert(price="1e-999999999999999999"), field="price"),
    Case("price 1e-20", alert(price="1e-20"), field="price"),
    Case(
        "qty 1e-20 number", raw('{"action": "buy", "symbol": "BTCUSDT", "qty": 1e-20}'), field="qty"
    ),
    Case("position_size -1e400", alert(position_size="-1e400"), field="position_size"),
    Case("sl 1e400", alert(sl="1e400"), field="sl"),
    Case("sl 1e-999999999", alert(sl="1e-999999999"), field="sl"),
    Case("tp 1e999999999999999999%", alert(tp="1e999999999999999999%"), field="tp"),
    Case("time 1e400", raw('{"action": "buy", "symbol": "BTCUSDT", "time": 1e400}'), field="time"),
    Case("time 400 digits", alert(time="9" * 400), field="time"),
    Case("tp1_share 500", alert(tp1="2%", tp1_share="500"), field="tp1_share"),
]

NOT_FINITE = [
    Case(
        f"{name} token in {field}",
        raw(f'{{"action": "buy", "symbol": "BTCUSDT", "{field}": {name}}}'),
        field=field,
    )
    for name in ("NaN", "Infinity", "-Infinity")
    for field in ("price", "qty", "position_size", "sl")
] + [
    Case(f"{text!r} string in {field}", alert(**{field: text}), field=field)
    for text in ("NaN", "nan", "-NaN", "sNaN", "Infinity", "-Infinity", "inf", "-inf")
    for field in ("price", "qty", "position_size", "tp")
]

NOT_POSITIVE = [
    Case(f"{field}={value!r}", alert(**{field: value}), field=field)
    for field, value in [
        ("qty", "0"),
        ("qty", "-1"),
        ("qty", "-0"),
        ("qty", "0.0"),
        ("qty", "-0.000001"),
        ("price", "0"),
        ("price", "-100"),
        ("sl", "-2%"),
        ("sl", "0"),
        ("tp", "0%"),
        ("tp", "100%"),
        ("trail", "-1"),
    ]
] + [
    Case("qty 0 number", raw('{"action": "buy", "symbol": "BTCUSDT", "qty": 0}'), field="qty"),
    Case("qty -0 number", raw('{"action": "buy", "symbol": "BTCUSDT", "qty": -0}'), field="qty"),
    Case(
        "price -1.5 number",
        raw('{"action": "buy", "symbol": "BTCUSDT", "price": -1.5}'),
        field="price",
    ),
    Case("tp1 0", alert(tp1="0"), field="tp1"),
    Case("tp1_share -50", alert(tp1="2%", tp1_share="-50"), field="tp1_share"),
    Case("text form qty=-1", b"buy BTCUSDT qty=-1 price=100", field="qty"),
    Case("text form price=0", b"buy BTCUSDT qty=1 price=0", field="price"),
]

UNICODE = [
    Case("cyrillic symbol", alert(symbol="БТЦUSDT"), field="symbol"),
    Case("zero-width space in symbol", alert(symbol="BTC\u200bUSDT"), field="symbol"),
    Case("RTL override in symbol", alert(symbol="\u202eTDSUCTB"), field="symbol"),
    Case("full-width symbol", alert(symbol="ＢＴＣＵＳＤＴ"), field="symbol"),
    Case("emoji symbol", alert(symbol="🚀USDT"), field="symbol"),
    Case("lone surrogate symbol", alert(symbol="\ud800"), field="symbol"),
    Case("NUL in symbol", alert(symbol="BTC\u0000USDT"), field="symbol"),
    Case("full-width action", alert(action="ｂｕｙ"), field="action"),
    Case("zero-width in action", alert(action="buy\u200b"), field="action"),
    Case("cyrillic action", alert(action="\u0412UY"), field="action"),
    Case("RTL action", alert(action="\u202eyub"), field="action"),
    Case("lone surrogate action", alert(action="\udfff"), field="action"),
    Case("text form RTL", "\u202ebuy BTCUSDT".encode(), field="action"),
    Case("arabic digits as time", alert(time="\u0661\u0662"), field="time"),
]

# A string field may hold any text, but a lone surrogate cannot be stored (it is not UTF-8):
# refused naming the field, never a 500 when the log row is written.
SURROGATES = [
    Case("lone surrogate comment", alert(comment="\ud800"), field="comment"),
    Case("lone surrogate id", alert(id="a\udfffb"), field="id"),
    Case("lone surrogate in an extra field", alert(note="\ud83d"), field="note"),
    Case("lone surrogate key", alert(**{"x\ud800": "1"}), field="body"),
    Case("lone surrogate deep inside", alert(meta={"a": ["\udc00"]}), field="meta"),
]


def nested(depth: int) -> Any:
    value: Any = "junk"
    for _ in range(depth):
        value = {"a": [value]}
    return value


NESTED = [
    Case("nested object as price", alert(price={"a": {"b": [1, 2, {"c": None}]}}), field="price"),
    Case("nested list as qty", alert(qty=[[[[1]]]]), field="qty"),
    Case("nested junk as symbol", alert(symbol={"a": ["BTCUSDT"]}), field="symbol"),
    Case("nested junk as action", alert(action=[{"buy": ["sell"]}]), field="action"),
    # Extra fields are kept for the strategy, but junk nested past what storage takes is not.
    Case("extra field nested 300 deep", alert(price="100", meta=nested(150)), field="meta"),
]


async def test_malformed_bodies_are_400_naming_the_body(world: World) -> None:
    await post_all(world, MALFORMED)


async def test_wrong_types_are_400_naming_the_field(world: World) -> None:
    await post_all(world, WRONG_TYPES)


async def test_huge_and_tiny_numbers_are_400_naming_the_field(world: World) -> None:
    await post_all(world, HUGE)


async def test_nan_and_infinity_tokens_and_strings_are_400_naming_the_field(world: World) -> None:
    await post_all(world, NOT_FINITE)


async def test_zero_and_negative_quantities_prices_and_levels_are_400(world: World) -> None:
    await post_all(world, NOT_POSITIVE)


async def test_unicode_symbols_and_actions_are_400_naming_the_field(world: World) -> None:
    await post_all(world, UNICODE)


async def test_lone_surrogates_are_400_not_a_storage_crash(world: World) -> None:
    await post_all(world, SURROGATES)


async def test_nested_junk_is_400_naming_the_field(world: World) -> None:
    await post_all(world, NESTED)


async def test_unknown_symbol_is_200_rejected_naming_it_and_trades_nothing(world: World) -> None:
    await post_all(
        world,
        [
            Case("unknown symbol", alert(symbol="DOGEUSDT", price="1"), status=200),
            Case("unknown symbol, text form", b"sell NOPE123 qty=1 price=1", status=200),
        ],
    )
    logs = await WebhookLog.filter(status="rejected").order_by("id")
    assert [log.symbol for log in logs] == ["DOGEUSDT", "NOPE123"]
    assert all("is not traded by bot demo" in (log.reason or "") for log in logs)


async def test_a_valid_alert_still_trades_after_the_garbage(world: World) -> None:
    """The refusals above are no accident of a broken fixture: the same world trades."""
    await post_all(world, MALFORMED[:3] + SURROGATES[:1])
    status, answer = await world.send_alert(action="buy", price="100", qty="0.5")
    assert status == 200 and answer["status"] == "executed", answer
    assert await Order.all().count() == 1


# ---------------------------------------------------------------- keys and paths


async def raw_request(world: World, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send bytes as they are (no client normalisation) and read the status line and body."""
    assert world.server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", world.server.port)
    try:
        writer.write(head + body)
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
        with suppress(ConnectionError):
            await writer.wait_closed()
    status_line, _, rest = response.partition(b"\r\n")
    return int(status_line.split()[1]), rest


def post_head(path: bytes, length: int | None, extra: bytes = b"") -> bytes:
    size = b"" if length is None else b"Content-Length: %d\r\n" % length
    return (
        b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Content-Type: text/plain\r\n" + size + extra + b"\r\n"
    )


BAD_KEYS: list[bytes] = [
    b"%00",
    b"abc%00def%00ghijklmnopqrstuvwxyz0123",
    b"%00" * 40,
    b"k" * 15,
    b"k" * 16,
    b"k" * 128,
    b"k" * 129,
    b"k" * 5000,
    "ключ-ключ-ключ-ключ-ключ".encode(),
    b"%D0%BA%D0%BB%D1%8E%D1%87" * 4,  # percent-encoded cyrillic
    b"%F0%9F%9A%80" * 10,
    b"%ED%A0%80" * 8,  # a UTF-8-encoded lone surrogate
    b"%FF%FE" * 10,  # not UTF-8 at all
    b"..%2F..%2F..%2Fetc%2Fpasswd%2F%2F%2F",
    b"%20" * 20,
    b"a%0d%0aX-Injected:%201" * 3,
    b"%25" * 30,
]


async def test_odd_keys_are_4xx_and_logged_without_a_bot(world: World) -> None:
    body = alert(price="100")
    problems = []
    for key in BAD_KEYS:
        status, answer = await raw_request(world, post_head(b"/webhook/" + key, len(body)), body)
        if not 400 <= status < 500:
            problems.append(f"{key[:40]!r}: {status} {answer[:200]!r}")
    assert not problems, "\n".join(problems)
    for path in (b"/webhook/", b"/webhook", b"/webhook/" + b"k" * 20000):
        status, _ = await raw_request(world, post_head(path, len(body)), body)
        assert 400 <= status < 500, (path[:30], status)
    await nothing_traded()
    await no_half_written_rows()
    assert await WebhookLog.filter(bot_id__not_isnull=True).count() == 0


# ---------------------------------------------------------------- size


TEN_MB = 10 * 1024 * 1024


async def post_big(world: World, *, chunked: bool) -> int:
    """Post 10 MB, answering as soon as the server does (it need not read it all)."""
    assert world.server.port is not None
    path = f"/webhook/{world.bots['demo'].webhook_key}".encode()
    head = post_head(
        path, None if chunked else TEN_MB, b"Transfer-Encoding: chunked\r\n" if chunked else b""
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", world.server.port)

    async def send() -> None:
        piece = b'{"comment": "' + b"x" * 65536
        with suppress(ConnectionError):
            writer.write(head)
            sent = 0
            while sent < TEN_MB:
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
                await writer.drain()
            if chunked:
                writer.write(b"0\r\n\r\n")
            await writer.drain()

    sender = asyncio.create_task(send())
    try:
        status_line = await asyncio.wait_for(reader.readline(), timeout=30)
    finally:
        sender.cancel()
        with suppress(asyncio.CancelledError, ConnectionError):
            await sender
        writer.close()
        with suppress(ConnectionError):
            await writer.wait_closed()
    return int(status_line.split()[1])


async def test_ten_megabytes_with_or_without_content_length_are_413(world: World) -> None:
    assert await post_big(world, chunked=False) == 413
    assert await post_big(world, chunked=True) == 413
    assert await WebhookLog.filter(http_status=413).count() >= 1
    await nothing_traded()
    await no_half_written_rows()
    status, answer = await world.send_alert(action="buy", price="100")
    assert status == 200 and answer["status"] == "executed"


# ---------------------------------------------------------------- slow clients


@pytest.fixture
async def sockets() -> AsyncIterator[list[asyncio.StreamWriter]]:
    """Raw connections a test opened, closed at its end."""
    writers: list[asyncio.StreamWriter] = []
    yield writers
    for writer in writers:
        writer.close()
        with suppress(ConnectionError):
            await writer.wait_closed()


async def stalled_request(
    world: World, sockets: list[asyncio.StreamWriter], sent: bytes, length: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Headers announcing `length` bytes, then only `sent`, then silence (the socket stays
    open)."""
    assert world.server.port is not None
    path = f"/webhook/{world.bots['demo'].webhook_key}".encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", world.server.port)
    sockets.append(writer)
    writer.write(post_head(path, length) + sent)
    await writer.drain()
    return reader, writer


async def test_stalled_and_trickling_senders_get_408_while_other_alerts_trade(
    start_world: Any, sockets: list[asyncio.StreamWriter]
) -> None:
    world = await start_world(webhook_body_timeout=0.5)
    await world.add_bot("demo")
    body = alert(price="100", id="slow-one")
    # Headers and then nothing, one byte, most of the body, all but the last byte: silence.
    readers = [
        (await stalled_request(world, sockets, body[:n], len(body)))[0]
        for n in (0, 1, 10, len(body) - 1)
    ]
    trickler, trickle = await stalled_request(world, sockets, body[:1], len(body))
    readers.append(trickler)
    # Meanwhile TradingView's alerts go through at once; the trickler sends a byte between them
    # (bytes that keep coming do not extend the deadline).
    for n in range(3):
        status, answer = await world.send_alert(action="buy", price="100", id=f"fast-{n}")
        assert status == 200 and answer["status"] == "executed", answer
        with suppress(ConnectionError):
            trickle.write(body[1 + n : 2 + n])
            await trickle.drain()
    assert await Order.filter(status="filled").count() == 3
    for reader in readers:
        status_line = await asyncio.wait_for(reader.readline(), timeout=10)
        assert status_line.split()[1] == b"408", status_line
    # every stalled sender is on record as a 408 (identical refusals share a row), none as an alert
    refused = await WebhookLog.filter(http_status=408)
    assert sum(row.repeat_count for row in refused) == len(readers)
    assert {row.reason for row in refused} == {"body: not received in time"}
    assert await WebhookLog.filter(status="received").count() == 0
    assert await Order.all().count() == 3
    await no_half_written_rows()


async def test_a_sender_that_hangs_up_mid_body_leaves_nothing(
    world: World, sockets: list[asyncio.StreamWriter]
) -> None:
    body = alert(price="100", id="hung-up")
    _, writer = await stalled_request(world, sockets, body[: len(body) // 2], len(body))
    writer.close()
    await writer.wait_closed()
    status, answer = await world.send_alert(action="buy", price="100", id="after")
    assert status == 200 and answer["status"] == "executed"
    # only the complete alert is on record: the half body left no row at all
    assert await WebhookLog.all().values_list("alert_id", flat=True) == ["after"]
    assert await Order.all().count() == 1
    await no_half_written_rows()


# ---------------------------------------------------------------- generated bodies


async def test_generated_hostile_bodies_never_get_a_5xx_or_trade_when_refused(
    world: World,
) -> None:
    key = world.bots["demo"].webhook_key
    seen: dict[int, int] = {}

    async def check(body: bytes) -> None:
        orders = await Order.all().count()
        positions = [(p.id, p.qty, p.version) for p in await CurrentPosition.all().order_by("id")]
        status, answer = await world.post(key, body)
        seen[status] = seen.get(status, 0) + 1
        assert status < 500, (body[:200], status, answer)
        if status >= 400:
            assert answer.get("reason"), answer
            assert await Order.all().count() == orders, body[:200]
            after = [(p.id, p.qty, p.version) for p in await CurrentPosition.all().order_by("id")]
            assert after == positions, body[:200]

    await asyncio.to_thread(
        run_examples, asyncio.get_running_loop(), hostile_alert_bodies(), check, max_examples=60
    )
    await no_half_written_rows()
    assert seen.get(400, 0) > 0  # the generator really does produce garbage
