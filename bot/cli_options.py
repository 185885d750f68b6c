"""Option parsing shared by the `tradebot` commands."""

from __future__ import annotations

import click
from pydantic import ValidationError


def key_values(items: tuple[str, ...], option: str, *, split: bool = False) -> dict[str, str]:
    """`--param a=1 --param b=2` as a dict (with `split`, also `a=1,b=2 c=3` in one item);
    a malformed item names the option."""
    pairs: dict[str, str] = {}
    words = (w for raw in items for w in raw.replace(",", " ").split()) if split else items
    for item in words:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected key=value, got {item!r}", param_hint=f"'{option}'")
        pairs[key.strip()] = value.strip()
    return pairs


def bad_parameter(exc: ValidationError, options: dict[str, str]) -> click.BadParameter:
    """The first validation error as a CLI error naming the option: `options` maps a field to
    its option where the names differ (`max_entries` -> `max-entries`)."""
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else "?"
    message = str(error["msg"]).removeprefix("Value error, ")
    return click.BadParameter(message, param_hint=f"'--{options.get(field, field)}'")
