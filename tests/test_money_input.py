"""Money-moving input (issue 12 §1, §3, §4, §12): numbers in one plain-decimal grammar, sizes
bounded at the door, times and intervals that cannot poison a series, take-profit shares that
add up. Each class is swept over every numeric field, in JSON and in the one-line text form,
through the real server: a 400 naming the field and nothing traded, never a guessed magnitude."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from db.models import CurrentPosition, Order
from tests.conftest import World
from tests.examples import run_examples
from tests.test_hostile_requests import Case, alert, post_all
from trading.alerts import parse_alert
from trading.errors import AlertError
from trading.numbers import MAX_NOTIONAL, MAX_PRICE, MAX_QTY, parse_number, whole_number

# Every field a number goes into, with a valid value to disguise and what else the field needs.
NUMERIC_FIELDS: dict[str, dict[str, str]] = {
    "price": {},
    "qty": {},
    "position_size": {},
    "sl": {},
    "tp": {},
    "trail": {},
    "tp1": {},
    "tp1_share": {"tp1": "2%"},
}


def disguises(number: str) -> list[str]:
    """Ways a person or a locale writes a number that are not the plain-decimal grammar."""
    whole, _, frac = number.partition(".")
    frac = frac or "5"
    return [
        f"{whole},{frac}",  # decimal comma
        f"1,{whole.zfill(3)}",  # thousands grouping
        f"1,{whole.zfill(3)}.{frac}",
        f"1_{whole.zfill(3)}",  # Python's grouping, which Decimal() reads
        f"1 {whole.zfill(3)}",  # grouping with a space
        f"1\u00a0{whole.zfill(3)}",  # a no-break space
        f"1'{whole.zfill(3)}",  # Swiss grouping
        f"{whole}.{frac}.0",
        "".join(chr(0x0660 + int(d)) if d.isdigit() else d for d in number),  # Arabic-Indic
        "".join(chr(0xFF10 + int(d)) if d.isdigit() else d for d in number),  # full-width
        f"0x{whole}",
        f"{whole}e",
        f"{number}f",
    ]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=24))
def test_the_number_grammar_reads_only_plain_decimals_and_reads_them_exactly(text: str) -> None:
    try:
        number = parse_number(text)
    except ValueError:
        return
    stripped = text.strip()
    assert stripped.isascii() and "," not in stripped and "_" not in stripped, text
    assert " " not in stripped and number == Decimal(stripped) and number.is_finite(), text


@settings(max_examples=200, deadline=None)
@given(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal(99), places=2),
    st.sampled_from(sorted(NUMERIC_FIELDS)),
    st.booleans(),
)
def test_no_disguised_number_in_any_field_is_read_as_a_number(
    value: Decimal, field: str, text_form: bool
) -> None:
    """`0,01` is never 1, `100,5` never 1005: every disguise of every valid number is refused
    naming its field, in JSON and in the text form."""
    suffix = "%" if field in ("sl", "tp", "trail", "tp1") else ""
    for disguised in disguises(f"{value:f}"):
        fields = {**NUMERIC_FIELDS[field], field: disguised + suffix}
        if text_form:
            if any(c.isspace() for c in disguised):
                continue  # the text form splits on spaces: another field's problem
            body = ("buy BTCUSDT " + " ".join(f"{k}={v}" for k, v in fields.items())).encode()
        else:
            body = alert(**fields)
        with pytest.raises(AlertError) as refused:
            parse_alert(body)
        assert refused.value.field == field, (disguised, refused.value)


def test_plain_decimals_in_every_form_tradingview_writes_are_read() -> None:
    for text, expected in [
        ("65000", Decimal(65000)),
        ("65000.5", Decimal("65000.5")),
        ("0.01", Decimal("0.01")),
        (".5", Decimal("0.5")),
        ("1.", Decimal(1)),
        ("+2", Decimal(2)),
        ("1e-5", Decimal("0.00001")),
        ("1.5E+3", Decimal(1500)),
        (" 42 ", Decimal(42)),
    ]:
        assert parse_number(text) == expected, text


# ---------------------------------------------------------------- through the server

AMBIGUOUS = [
    Case("qty decimal comma", alert(qty="0,01", price="100"), field="qty"),
    Case("price decimal comma", alert(qty="1", price="100,5"), field="price"),
    Case("text form price decimal comma", b"buy BTCUSDT qty=1 price=100,5", field="price"),
    Case("text form qty grouping", b"buy BTCUSDT qty=1,000 price=1", field="qty"),
    Case("qty underscores", alert(qty="1_000"), field="qty"),
    Case("price arabic digits", alert(price="\u0661\u0660\u0660"), field="price"),
    Case("sl decimal comma", alert(sl="1,5%"), field="sl"),
    Case("tp grouping", alert(tp="70,000"), field="tp"),
    Case("position_size decimal comma", alert(position_size="-0,5"), field="position_size"),
    Case("tp1_share decimal comma", alert(tp1="2%", tp1_share="0,5"), field="tp1_share"),
]

OVERSIZED = [
    Case(
        "the attack: 1e14 qty at 1e-12",
        b"buy BTCUSDT qty=99999999999999 price=0.000000000001",
        field="qty",
    ),
    Case("qty at the bound", alert(qty=f"{MAX_QTY:f}"), field="qty"),
    Case("price at the bound", alert(price=f"{MAX_PRICE:f}"), field="price"),
    Case("sl price at the bound", alert(sl=f"{MAX_PRICE:f}"), field="sl"),
    Case("notional over the bound", alert(qty="1000000", price="1000000000"), field="qty"),
    Case(
        "position_size notional over the bound",
        alert(action="buy", position_size="1000000", price="1000000000"),
        field="position_size",
    ),
]

FUTURE = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
POISON = [
    Case(
        "far-future bar_time",
        alert(action="tick", price="100", interval="60", bar_time="9999-12-31T00:00:00Z"),
        field="bar_time",
    ),
    Case(
        "tomorrow's bar_time", alert(price="100", interval="60", bar_time=FUTURE), field="bar_time"
    ),
    Case("tomorrow's time", alert(price="100", time=FUTURE), field="time"),
    Case("epoch ms far in the future", alert(time="99999999999999"), field="time"),
    Case("interval of 11 digits of months", alert(interval="99999999999M"), field="interval"),
    Case("interval of 30 digits", alert(interval="9" * 30), field="interval"),
    Case("interval over a month", alert(interval="2M"), field="interval"),
    Case("interval zero", alert(interval="0"), field="interval"),
    Case("interval words", alert(interval="hourly"), field="interval"),
]

TAKE_PROFITS = [
    Case(
        "shares over 100%",
        alert(tp1="1%", tp1_share="60", tp2="2%", tp2_share="50"),
        field="tp2_share",
    ),
    Case(
        "shares at 100% leave nothing for tp3",
        alert(tp1="1%", tp1_share="50", tp2="2%", tp2_share="50", tp3="3%"),
        field="take_profits",
    ),
    Case("tp11", alert(tp11="1%"), field="tp11"),
    Case("tp1000", alert(tp1000="1%"), field="tp1000"),
    Case("tp0", alert(tp0="1%"), field="tp0"),
    Case("a share without its level", alert(tp3_share="50"), field="tp3_share"),
    Case(
        "a thousand posted levels",
        json.dumps(
            {
                "action": "buy",
                "symbol": "BTCUSDT",
                "take_profits": [{"level": "1%"}] * 1000,
            }
        ).encode(),
        field="take_profits",
    ),
    Case(
        "posted shares over 100%",
        alert(take_profits=[{"level": "1%", "share": "0.7"}, {"level": "2%", "share": "0.7"}]),
        field="take_profits",
    ),
]


async def test_ambiguous_numbers_are_400_naming_the_field_and_trade_nothing(world: World) -> None:
    await post_all(world, AMBIGUOUS)


async def test_sizes_over_the_bounds_are_400_naming_the_field(world: World) -> None:
    await post_all(world, OVERSIZED)


async def test_future_times_and_unreal_intervals_are_400_naming_the_field(world: World) -> None:
    await post_all(world, POISON)


async def test_take_profit_levels_and_shares_that_do_not_add_up_are_400(world: World) -> None:
    await post_all(world, TAKE_PROFITS)


async def test_disguised_numbers_over_the_live_server_never_trade(world: World) -> None:
    """The grammar property, end to end: any disguise of any number in any numeric field is a
    400 naming that field, and no order exists afterwards."""
    loop = asyncio.get_running_loop()
    key = world.bots["demo"].webhook_key

    async def check(example: tuple[str, Decimal, int]) -> None:
        field, value, which = example
        disguised = disguises(f"{value:f}")[which]
        suffix = "%" if field in ("sl", "tp", "trail", "tp1") else ""
        fields: dict[str, Any] = {"price": "100", **NUMERIC_FIELDS[field]}
        fields[field] = disguised + suffix
        status, answer = await world.post(key, alert(**fields))
        assert status == 400 and answer.get("field") == field, (fields, status, answer)

    await asyncio.to_thread(
        run_examples,
        loop,
        st.tuples(
            st.sampled_from(sorted(NUMERIC_FIELDS)),
            st.decimals(min_value=Decimal("0.01"), max_value=Decimal(99), places=2),
            st.integers(min_value=0, max_value=len(disguises("1.5")) - 1),
        ),
        check,
        max_examples=40,
    )
    assert await Order.all().count() == 0


async def test_a_plain_decimal_at_the_edge_of_the_bounds_still_trades(
    start_world: Any,
) -> None:
    """The bounds refuse only what is over them: a large but fitting order executes."""
    world = await start_world(paper_balance=MAX_NOTIONAL)
    await world.add_bot("demo")
    qty = MAX_NOTIONAL / Decimal(100_000) / 2
    status, answer = await world.send_alert(action="buy", qty=f"{qty:f}", price="100000")
    assert (status, answer["status"]) == (200, "executed"), answer
    assert Decimal(answer["order"]["qty"]) == qty


async def test_a_bot_size_that_comes_to_too_large_an_order_is_refused_not_sent(
    world: World,
) -> None:
    """A quote-amount size at a tiny price would be a huge quantity: refused with the limit,
    nothing traded; a close of what is held is never refused by the bounds."""
    await world.add_bot("dust", size="100000000USDT", symbols=["DUSTUSDT"])
    status, answer = await world.send_alert("dust", action="buy", symbol="DUSTUSDT", price="1e-12")
    assert (status, answer["status"]) == (200, "rejected"), answer
    assert "over the limit" in answer["reason"]
    assert await Order.filter(status="filled").count() == 0


async def test_a_reversal_whose_new_position_would_be_too_large_closes_and_stays_flat(
    world: World,
) -> None:
    """Exits are never refused: the closing part of a reversal goes through even when its
    opening part is over the bounds; the too-large new position is left out."""
    for fields in (
        {"action": "sell", "qty": "999999999999"},
        {"action": "sell", "market_position": "short", "position_size": "-999999999998"},
    ):
        await world.send_alert(action="buy", qty="1", price="2000")
        status, answer = await world.send_alert(**fields)
        assert (status, answer["status"]) == (200, "executed"), answer
        assert Decimal(answer["order"]["qty"]) == 1
        assert answer["reason"].startswith("close; no new position: order notional"), answer
        assert await CurrentPosition.all().count() == 0


async def test_a_level_written_with_more_decimals_than_kept_is_stored_rounded(
    world: World,
) -> None:
    """`trail=1.0000000000000000000000000000000000001%` is 1% to the columns' 12 decimals: the
    alert trades and the level is stored, never an internal error."""
    status, answer = await world.send_alert(
        action="buy", qty="1", price="100", trail="1.0000000000000000000000000000000000001%"
    )
    assert (status, answer["status"]) == (200, "executed"), answer
    assert (await CurrentPosition.get()).trail == "1%"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12), st.integers(0, 10**6))
def test_a_whole_number_is_ascii_digits_within_its_bounds_or_nothing(text: str, high: int) -> None:
    """The one rule behind `limit=`, `/trades N`, user ids and HMAC timestamps."""
    number = whole_number(text, 0, high)
    if number is None:
        return
    assert text.isascii() and text.isdigit() and int(text) == number <= high, text
