"""What a search may try: one dimension per strategy parameter (SPEC §7a `--space`).

A spec is `KEY=LO..HI[:STEP]` (a range) or `KEY=A,B,C` (choices; one value pins the parameter).
A range over a whole-number parameter (`period`) is whole numbers (STEP 1 unless given); over
any other number it is continuous, or every STEP from LO when STEP is given. When STEP does
not divide HI − LO the range ends at the last step below HI (`5..30:10` is 5, 15, 25).

Refused, each in one line that names the spec: an unknown strategy or key (the line lists the
strategy's keys), LO ≥ HI, STEP ≤ 0 or above HI − LO, a key given twice, a value that is not a
number, a fraction for a whole-number parameter, a value the parameter itself refuses at LO,
at HI or as a choice (`period=1..30`: the period must be at least 2), and no spec at all.
Combinations the strategy refuses (`fast` ≥ `slow`, `oversold` ≥ `overbought`) are no error
here: the search prunes those trials.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from trading.errors import InvalidRequest
from trading.numbers import parse_number
from trading.strategies import registry
from trading.strategies.base import IndicatorStrategy

Kind = Literal["int", "float", "choice"]
SPEC_FORM = "KEY=LO..HI[:STEP] or KEY=A,B,C"
# No parameter goes near these; they keep the arithmetic on a spec exact and cheap.
LARGEST = Decimal("1e12")
SMALLEST = Decimal("1e-9")


class SpaceError(ValueError):
    """A `--space` spec that cannot be searched; the message is one line naming it."""


@dataclass(frozen=True, slots=True)
class Dimension:
    """One parameter's range (`int`, `float`: low..high, every `step` when set) or choices."""

    name: str
    kind: Kind
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def __str__(self) -> str:
        if self.kind == "choice":
            return f"{self.name}={','.join(_text(c) for c in self.choices)}"
        step = f":{_text(self.step)}" if self.step is not None and self.kind == "float" else ""
        if self.kind == "int" and self.step not in (None, 1):
            step = f":{_text(self.step)}"
        return f"{self.name}={_text(self.low)}..{_text(self.high)}{step}"

    @property
    def fixed(self) -> bool:
        """One value only: the parameter is pinned, not searched."""
        return self.kind == "choice" and len(self.choices) == 1

    def contains(self, value: Any) -> bool:
        if self.kind == "choice":
            return value in self.choices
        assert self.low is not None and self.high is not None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if not self.low <= value <= self.high:
            return False
        if self.step is None:
            return True
        steps = (Decimal(repr(value)) - _dec(self.low)) / _dec(self.step)
        return steps == steps.to_integral_value()

    def nearest(self, value: Any) -> Any:
        """The value of this dimension closest to `value` (None: `value` is not among choices)."""
        if self.kind == "choice":
            return value if value in self.choices else None
        assert self.low is not None and self.high is not None
        clipped = min(max(float(value), self.low), self.high)
        return self.snap(clipped)

    def snap(self, value: float) -> Any:
        """`value` on this range's grid (the nearest step), as the parameter's type."""
        assert self.low is not None and self.high is not None
        if self.step is None:
            return float(value)
        low, step = _dec(self.low), _dec(self.step)
        count = int(((Decimal(repr(float(value))) - low) / step).to_integral_value())
        last = int(((_dec(self.high) - low) / step).to_integral_value())
        on_grid = low + min(max(count, 0), last) * step
        return int(on_grid) if self.kind == "int" else float(on_grid)


def _dec(value: float) -> Decimal:
    return Decimal(value) if isinstance(value, int) else Decimal(repr(value))


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _shown(spec: str) -> str:
    """The spec as the message quotes it: on one line, and not a page long."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in spec)
    return text if len(text) <= 60 else text[:57] + "..."


def _params_model(strategy: str) -> dict[str, FieldInfo]:
    try:
        cls = registry.strategy_class(strategy)
    except InvalidRequest as exc:
        raise SpaceError(exc.user_message) from None
    if not issubclass(cls, IndicatorStrategy):
        names = ", ".join(
            n for n in registry.names() if issubclass(registry.strategy_class(n), IndicatorStrategy)
        )
        raise SpaceError(
            f"strategy {strategy!r} trades what alerts say, so there is nothing to optimise; "
            f"choose one of {names}"
        )
    return dict(cls.Params.model_fields)


def default_params(strategy: str) -> dict[str, Any]:
    """The strategy's default parameters (the search's first trial, within its space)."""
    _params_model(strategy)
    return registry.validate_params(strategy, {})


def parse_space(strategy: str, specs: Sequence[str]) -> list[Dimension]:
    """The dimensions `specs` describe for `strategy`, in the order given; SpaceError if not."""
    fields = _params_model(strategy)
    keys = ", ".join(fields) or "no parameters"
    if not specs:
        raise SpaceError(
            f"no --space given: search at least one of {strategy}'s parameters ({keys}), "
            f"as {SPEC_FORM}"
        )
    dimensions: list[Dimension] = []
    for spec in specs:
        shown = _shown(str(spec))
        key, sep, value = str(spec).partition("=")
        key = key.strip()
        if not sep or not key or not value.strip():
            raise SpaceError(f"--space {shown}: expected {SPEC_FORM}")
        if key not in fields:
            raise SpaceError(
                f"--space {shown}: {strategy} has no parameter {_shown(key)!r} (it takes {keys})"
            )
        if any(d.name == key for d in dimensions):
            raise SpaceError(f"--space {shown}: {key} is given twice")
        try:
            dimensions.append(_dimension(key, fields[key], value.strip()))
        except SpaceError as exc:
            raise SpaceError(f"--space {shown}: {exc}") from None
    return dimensions


def _dimension(key: str, info: FieldInfo, value: str) -> Dimension:
    annotation = info.annotation
    options = typing.get_args(annotation) if typing.get_origin(annotation) is Literal else ()
    if annotation is bool:
        options = (True, False)
    # The field's own bounds (`ge=2`...), without the model's checks across fields.
    check = TypeAdapter(Annotated[annotation, *info.metadata] if info.metadata else annotation)
    if options:
        if ".." in value:
            listed = ",".join(_text(o).lower() for o in options)
            raise SpaceError(f"{key} takes one of {listed}: write {key}={listed}")
        return Dimension(key, "choice", choices=_choices(key, value, options))
    whole = annotation is int
    if ".." not in value:
        choices = tuple(_number(key, text, whole) for text in _split(value))
        for choice in choices:
            _check(check, key, choice)
        return Dimension(key, "choice", choices=_distinct(choices))
    bounds, _, step_text = value.partition(":")
    low_text, _, high_text = bounds.partition("..")
    low = _decimal(key, low_text, "LO")
    high = _decimal(key, high_text, "HI")
    if low >= high:
        raise SpaceError(f"LO must be below HI ({_text(low)} ≥ {_text(high)})")
    step = _decimal(key, step_text, "STEP") if step_text.strip() else None
    if step is not None and not 0 < step <= high - low:
        raise SpaceError(f"STEP must be above 0 and at most HI − LO ({_text(high - low)})")
    if whole:
        for name, number in (("LO", low), ("HI", high), ("STEP", step)):
            if number is not None and number != number.to_integral_value():
                raise SpaceError(f"{key} takes whole numbers ({name} is {_text(number)})")
    if step is not None:
        high = low + ((high - low) // step) * step  # the last step at or below HI
    if whole:
        dim = Dimension(key, "int", int(low), int(high), int(step or 1))
    else:
        dim = Dimension(key, "float", float(low), float(high), float(step) if step else None)
    _check(check, key, dim.low)
    _check(check, key, dim.high)
    return dim


def _split(value: str) -> list[str]:
    parts = [part.strip() for part in value.split(",")]
    if any(not part for part in parts):
        raise SpaceError("an empty choice (two commas in a row, or one at an end)")
    return parts


def _distinct(choices: tuple[Any, ...]) -> tuple[Any, ...]:
    for i, choice in enumerate(choices):
        if choice in choices[:i]:
            raise SpaceError(f"the choice {_text(choice)} is given twice")
    return choices


def _choices(key: str, value: str, options: tuple[Any, ...]) -> tuple[Any, ...]:
    by_text = {_text(option).lower(): option for option in options}
    picked = []
    for part in _split(value):
        if part.lower() not in by_text:
            listed = ", ".join(by_text)
            raise SpaceError(f"{key} takes one of {listed}, not {_shown(part)!r}")
        picked.append(by_text[part.lower()])
    return _distinct(tuple(picked))


def _decimal(key: str, text: str, name: str) -> Decimal:
    try:  # the product's one number grammar (no "1_0", no other scripts' digits)
        number: Decimal | None = parse_number(text.strip())
    except ValueError:
        number = None
    if number is None or not number.is_finite():
        raise SpaceError(f"{name} must be a number, got {_shown(text.strip())!r}")
    if abs(number) > LARGEST or (number and abs(number) < SMALLEST):
        raise SpaceError(f"{name} {_shown(text.strip())} is out of range for {key}")
    return number


def _number(key: str, text: str, whole: bool) -> int | float:
    number = _decimal(key, text, "a choice")
    if whole:
        if number != number.to_integral_value():
            raise SpaceError(f"{key} takes whole numbers (a choice is {_text(number)})")
        return int(number)
    return float(number)


def _check(check: TypeAdapter[Any], key: str, value: Any) -> None:
    """The parameter's own bounds (`ge=2`...), as one line."""
    try:
        check.validate_python(value)
    except ValidationError as exc:
        error = exc.errors()[0]
        context = error.get("ctx") or {}
        bound = {
            "greater_than_equal": ("at least", "ge"),
            "greater_than": ("above", "gt"),
            "less_than_equal": ("at most", "le"),
            "less_than": ("below", "lt"),
        }.get(error["type"])
        if bound is not None and bound[1] in context:
            why = f"must be {bound[0]} {_text(context[bound[1]])}"
        else:
            why = str(error["msg"]).removeprefix("Value error, ").lower()
        raise SpaceError(f"{key} {why} (got {_text(value)})") from None
