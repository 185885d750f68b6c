"""Option parsing shared by the `tradebot` commands."""

from __future__ import annotations

import click


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
