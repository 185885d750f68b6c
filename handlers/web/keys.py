"""Typed aiohttp app keys shared by the app factory and the HTTP handlers."""

from __future__ import annotations

from aiohttp import web

from bot.config import Settings
from handlers.status import Status
from handlers.web.metrics import Metrics
from trading.brokers.base import BaseBroker
from trading.events import EventBus
from trading.intake import WebhookIntake
from trading.service import TradingService

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
EVENTS = web.AppKey("events", EventBus)
BROKER = web.AppKey("broker", BaseBroker)
TRADING = web.AppKey("trading", TradingService)
INTAKE = web.AppKey("intake", WebhookIntake)
STATUS = web.AppKey("status", Status)
