"""The ccxt broker's configuration, importable without importing ccxt (slow to import)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class CcxtConfig:
    """What `TRADEBOT_CCXT_*` configure (SPEC §3). Secrets stay out of `repr`."""

    exchange: str
    api_key: str = field(default="", repr=False)
    secret: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    sandbox: bool = False
    api_url: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    timeout_ms: int = 10_000
