"""Health of the parts that run beside the web server (Telegram, monitor), for `/health`."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Status:
    telegram: dict[str, str] = field(
        default_factory=lambda: {"status": "off", "detail": "no token"}
    )
    monitor: dict[str, str] = field(
        default_factory=lambda: {"status": "off", "detail": "position monitor not built yet"}
    )
