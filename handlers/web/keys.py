"""Typed aiohttp app keys shared by the composition root (`bot/`) and the HTTP handlers, and
`WebConfig`: the few settings the handlers read (they never see `bot.config.Settings`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from handlers.status import Status
from handlers.web.metrics import Metrics
from trading.brokers.base import BaseBroker
from trading.control import ControlService
from trading.events import EventBus
from trading.intake import WebhookIntake
from trading.reports import ReportService
from trading.risk_service import RiskService
from trading.service import TradingService


@dataclass(frozen=True, slots=True)
class WebConfig:
    """What the HTTP handlers need from the settings, built by the composition root."""

    api_token: str = field(repr=False)  # the read API's bearer token; empty: API off (404)
    webhook_body_timeout: float  # seconds to receive a request's body


WEB = web.AppKey("web_config", WebConfig)
METRICS = web.AppKey("metrics", Metrics)
EVENTS = web.AppKey("events", EventBus)
BROKER = web.AppKey("broker", BaseBroker)
TRADING = web.AppKey("trading", TradingService)
INTAKE = web.AppKey("intake", WebhookIntake)
CONTROL = web.AppKey("control", ControlService)
REPORTS = web.AppKey("reports", ReportService)
RISK = web.AppKey("risk", RiskService)
STATUS = web.AppKey("status", Status)
# The exceptions that mean "storage cannot be reached" (`Stores.unavailable`): answer 503.
STORAGE_UNAVAILABLE: web.AppKey[tuple[type[Exception], ...]] = web.AppKey("storage_unavailable")
