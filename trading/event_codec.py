"""Events as JSON, so that one process can write them and another send them (the notification
outbox, SPEC §11).

One pydantic `TypeAdapter` per `Event` dataclass, found by class name: the events stay plain
frozen dataclasses (the core builds them everywhere), and the codec only reads their fields.
Decimals travel as strings, so every digit and the exponent come back (`Decimal("0E-12")` stays
that); datetimes as ISO 8601 with their offset, read back as UTC.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter

# The modules whose events are published on the bus: imported so their classes are known here
# even in a process that has not imported them yet (the relay decodes what others wrote).
from trading import control_events, risk_gate
from trading.events import Event

_KNOWN_MODULES = (control_events, risk_gate)


class UnknownEvent(ValueError):
    """A stored event whose class this version does not know (written by a newer version, or a
    class that was renamed): the relay skips it with a log line."""


_adapters: dict[type[Event], TypeAdapter[Any]] = {}
_lock = threading.Lock()
_by_name: dict[str, type[Event]] = {}  # `event_classes()` as last walked: read for each row


def event_classes() -> dict[str, type[Event]]:
    """Every `Event` subclass imported so far, by class name (each name once)."""
    found: dict[str, type[Event]] = {}
    pending = list(Event.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if getattr(sys.modules.get(cls.__module__), cls.__qualname__, None) is not cls:
            continue  # `dataclass(slots=True)` leaves the class it replaced until collected
        other = found.setdefault(cls.__name__, cls)
        if other is not cls:
            raise TypeError(f"two events named {cls.__name__}: {other!r} and {cls!r}")
    return found


def _adapter(cls: type[Event]) -> TypeAdapter[Any]:
    adapter = _adapters.get(cls)
    if adapter is None:
        with _lock:
            adapter = _adapters.get(cls) or TypeAdapter(cls)
            _adapters[cls] = adapter
    return adapter


def to_record(event: Event) -> tuple[str, dict[str, Any]]:
    """The event's class name and its fields as JSON-ready data (strings for decimals and
    datetimes)."""
    cls = type(event)
    if not dataclasses.is_dataclass(cls) or not issubclass(cls, Event):
        raise TypeError(f"not an event: {cls!r}")
    return cls.__name__, _adapter(cls).dump_python(event, mode="json")


def from_record(name: str, data: dict[str, Any]) -> Event:
    """The event `to_record` gave `name` and `data` for."""
    cls = _by_name.get(name)
    if cls is None:  # not seen yet: walk the classes again (one imported since, perhaps)
        _by_name.update(event_classes())
        cls = _by_name.get(name)
    if cls is None:
        raise UnknownEvent(f"unknown event type {name!r}")
    event = _adapter(cls).validate_python(data)
    return _in_utc(event)


def _in_utc(event: Event) -> Event:
    """Datetimes in `datetime.UTC` (pydantic reads "Z" as a tzinfo of its own)."""
    changes = {
        field.name: value.astimezone(UTC)
        for field in dataclasses.fields(event)
        if isinstance(value := getattr(event, field.name), datetime) and value.tzinfo is not None
    }
    return dataclasses.replace(event, **changes) if changes else event
