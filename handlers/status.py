"""Health of the parts that run beside the web server (Telegram, monitor), for `/health`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Status:
    """`telegram` is set by the Telegram runtime; `monitor` is read live from the monitor when
    one runs in this process (`monitor_probe`), else it says why there is none; `prices` says
    where prices come from (live from the price feed when it runs here)."""

    def __init__(self) -> None:
        self.telegram: dict[str, str] = {"status": "off", "detail": "no token"}
        self._monitor: dict[str, Any] = {"status": "off", "detail": "no position monitor"}
        self.monitor_probe: Callable[[], dict[str, Any]] | None = None
        # Where prices come from (`TRADEBOT_PRICE_FEED`): set where the monitor is set up, read
        # live from the price feed when it runs in this process (`prices_probe`).
        self._prices: dict[str, Any] = {"status": "ok", "source": "alerts"}
        self.prices_probe: Callable[[], dict[str, Any]] | None = None
        # Leader or standby (SPEC §11), read live from `trading.leadership.Leadership.health`.
        self.leader_probe: Callable[[], dict[str, Any]] | None = None
        # Redis as the chat's dialogues last found it (only when Redis is set and Telegram on).
        self.redis_probe: Callable[[], dict[str, Any]] | None = None

    def checks(self) -> dict[str, dict[str, Any]]:
        """The parts' own checks, as `/health` shows them (in the web and the chat alike)."""
        return {
            "telegram": dict(self.telegram),
            "monitor": dict(self.monitor),
            "prices": dict(self.prices),  # where prices come from (TRADEBOT_PRICE_FEED)
            "leader": dict(self.leader),  # SPEC §11: a standby is healthy
        } | ({"redis": self.redis_probe()} if self.redis_probe is not None else {})

    @property
    def leader(self) -> dict[str, Any]:
        if self.leader_probe is not None:
            return self.leader_probe()
        return {"status": "ok", "role": "leader", "detail": "one process"}

    @property
    def monitor(self) -> dict[str, Any]:
        if self.monitor_probe is not None:
            return self.monitor_probe()
        return self._monitor

    @monitor.setter
    def monitor(self, value: dict[str, Any]) -> None:
        self._monitor = value
        self.monitor_probe = None

    @property
    def prices(self) -> dict[str, Any]:
        if self.prices_probe is not None:
            return self.prices_probe()
        return self._prices

    @prices.setter
    def prices(self, value: dict[str, Any]) -> None:
        self._prices = value
        self.prices_probe = None
