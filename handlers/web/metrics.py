"""Prometheus metrics, one registry per app so tests can build several apps in one process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from trading.events import ErrorEvent, Event, OrderFinished


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.alerts = Counter(
            "tradebot_alerts",
            "Webhook requests by answer status",
            ["status", "http_status"],
            registry=self.registry,
        )
        self.orders = Counter(
            "tradebot_orders",
            "Orders sent to the broker by outcome",
            ["status", "intent"],
            registry=self.registry,
        )
        self.errors = Counter(
            "tradebot_errors", "Unexpected errors by place", ["where"], registry=self.registry
        )
        self.webhook_latency = Histogram(
            "tradebot_webhook_latency_seconds",
            "Time to answer a webhook request",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3),
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "tradebot_webhook_rate_limited",
            "Webhook requests refused by a rate limit",
            ["scope"],
            registry=self.registry,
        )
        self.client_errors = Counter(
            "tradebot_webhook_client_errors",
            "Webhook requests the sender broke off (not our fault: nothing to retry)",
            ["kind"],
            registry=self.registry,
        )
        self.background = Gauge(
            "tradebot_alerts_in_background",
            "Alerts answered 202 still executing",
            registry=self.registry,
        )

    def publish(self, event: Event) -> None:
        if isinstance(event, OrderFinished):
            self.orders.labels(event.status, event.intent).inc()
        elif isinstance(event, ErrorEvent):
            self.errors.labels(event.where.split(" ")[0]).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
