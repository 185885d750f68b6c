"""The dashboard's app keys and the few settings its routes read."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from trading.dashboard_auth import DashboardAuth
from trading.dashboard_feed import DashboardFeed


@dataclass(frozen=True, slots=True)
class DashboardConfig:
    public_url: str  # TRADEBOT_PUBLIC_URL ("" when unset): its origin is ours too; https -> Secure
    telegram_token: str = field(repr=False)  # checks Mini App initData; "" -> that sign-in is off
    version: str = "0"  # added to the static files' URLs so a new release is not read from cache


DASHBOARD = web.AppKey("dashboard_auth", DashboardAuth)
FEED = web.AppKey("dashboard_feed", DashboardFeed)
DASHBOARD_WEB = web.AppKey("dashboard_config", DashboardConfig)
