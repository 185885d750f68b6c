"""Events written by one process and sent by another (the notification outbox, SPEC §11) come
back exactly: every Event class, every field, decimals to the last digit, times in UTC."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import pkgutil
import subprocess
import sys
import types
import typing
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import handlers
import trading
from trading import event_codec
from trading.events import Event, PositionClosed

OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))])
DECIMALS = st.decimals(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [Decimal("0E-12"), Decimal("-0.0"), Decimal("1E+30"), Decimal("0.000000000001")]
)


def _strategy(annotation: Any) -> st.SearchStrategy[Any]:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return st.one_of(*[_strategy(arg) for arg in typing.get_args(annotation)])
    if typing.get_origin(annotation) is tuple:
        item, _ellipsis = typing.get_args(annotation)
        return st.lists(_strategy(item), max_size=4).map(tuple)
    simple: dict[Any, st.SearchStrategy[Any]] = {
        type(None): st.none(),
        str: st.text(max_size=40),
        int: st.integers(),
        bool: st.booleans(),
        float: st.floats(allow_nan=False, allow_infinity=False),
        Decimal: DECIMALS,
        # Any instant the codec's UTC form can hold (year 1 at +02:00 is year 0 in UTC: none).
        datetime: st.datetimes(
            min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=OFFSETS
        ),
    }
    return simple[annotation]


def _events(cls: type[Event]) -> st.SearchStrategy[Event]:
    hints = typing.get_type_hints(cls)
    fields = {f.name: _strategy(hints[f.name]) for f in dataclasses.fields(cls) if f.init}
    return st.builds(cls, **fields)


def _defined_events() -> dict[str, type[Event]]:
    """Every Event class defined in the core and the chat, found by importing their modules."""
    found = {}
    for package in (trading, handlers):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            for value in vars(importlib.import_module(module.name)).values():
                if isinstance(value, type) and issubclass(value, Event) and value is not Event:
                    found[value.__name__] = value
    return found


EVENT_CLASSES = sorted(_defined_events().items())


def test_every_event_class_of_the_core_and_the_chat_is_known_by_name() -> None:
    defined = dict(EVENT_CLASSES)
    assert {"PositionClosed", "ApprovalRequested", "RiskRefused", "RefusalSummary"} <= set(defined)
    assert {name: event_codec.event_classes().get(name) for name in defined} == defined


def test_a_relay_that_imported_nothing_else_knows_every_event_the_core_publishes() -> None:
    """The leader decodes rows other processes wrote: the codec alone knows the core's events
    (the chat's own RefusalSummary is made by the notifier and never stored)."""
    script = "from trading import event_codec; print(sorted(event_codec.event_classes()))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    core = {name for name, cls in EVENT_CLASSES if cls.__module__.startswith("trading.")}
    assert core <= set(ast.literal_eval(out.stdout))


@pytest.mark.parametrize("name,cls", EVENT_CLASSES, ids=[name for name, _ in EVENT_CLASSES])
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_every_event_round_trips_through_json(name: str, cls: type[Event], data: Any) -> None:
    event = data.draw(_events(cls))
    kind, payload = event_codec.to_record(event)
    assert kind == name
    stored = json.loads(json.dumps(payload))  # what the database gives back
    back = event_codec.from_record(kind, stored)
    assert back == event
    assert type(back) is cls
    for field in dataclasses.fields(cls):
        value, original = getattr(back, field.name), getattr(event, field.name)
        if isinstance(original, Decimal):  # same digits and exponent, not only equal
            assert value.as_tuple() == original.as_tuple()
        if isinstance(original, datetime):
            assert value.tzinfo is UTC


def test_decimals_keep_every_digit_and_times_come_back_in_utc() -> None:
    event = PositionClosed(
        bot="demo", symbol="BTCUSDT", quote="USDT", side="long",
        qty=Decimal("0.000000000001"), entry_price=Decimal("65120.500000000000"),
        exit_price=Decimal("12345678901234567890123456.123456789012"),
        pnl=Decimal("-27.53"), fees=Decimal("0E-12"), entries=1,
        opened_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
        closed_at=datetime(2026, 1, 2, 9, 0, tzinfo=UTC), reason="stop_loss",
    )  # fmt: skip
    kind, payload = event_codec.to_record(event)
    assert payload["exit_price"] == "12345678901234567890123456.123456789012"
    assert payload["fees"] == "0E-12"
    back = event_codec.from_record(kind, json.loads(json.dumps(payload)))
    assert str(back.exit_price) == "12345678901234567890123456.123456789012"  # type: ignore[attr-defined]
    assert back.opened_at == datetime(2026, 1, 2, 1, 4, 5, tzinfo=UTC)  # type: ignore[attr-defined]
    assert back.opened_at.tzinfo is UTC  # type: ignore[attr-defined]


def test_an_unknown_type_is_refused_by_name() -> None:
    with pytest.raises(event_codec.UnknownEvent, match="NoSuchEvent"):
        event_codec.from_record("NoSuchEvent", {})
