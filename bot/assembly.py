"""The composition root: the stores and every service, built once and handed in.

`assemble` is what `tradebot serve` (through `create_app`), `tradebot monitor` (through
`create_monitor_app`) and the CLI commands call; whatever front end then asks (the chat, the read
API, the CLI), it reaches the same `ControlService`, `ReportService`, `ApprovalService`... The
stores are Tortoise's (`db.stores.sql_stores`) unless a caller passes others.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from bot.config import Settings
from db.stores import sql_stores
from handlers.web.keys import WebConfig
from handlers.web.metrics import Metrics
from trading.access import AccessService
from trading.account_book import AccountBook, StartingBalance
from trading.approvals import ApprovalService
from trading.backtest.history import ResearchService
from trading.brokers.base import BaseBroker
from trading.brokers.ccxt_config import CcxtConfig
from trading.brokers.factory import create_broker
from trading.brokers.paper import PaperLedger
from trading.control import ControlService
from trading.dashboard_auth import DashboardAuth
from trading.equity_recorder import EquityRecorder
from trading.events import EventBus
from trading.intake import RateLimits, WebhookIntake
from trading.monitor import Monitor, MonitorConfig, TickerSource, TickerStream
from trading.ports import Stores
from trading.price_feed import PriceFeed, exchange_feed, require_exchange
from trading.ratelimit import Limiter, TokenBuckets
from trading.recovery import AlertRecovery
from trading.reports import ReportService
from trading.risk_gate import DEFAULT_STEP, RiskGate
from trading.risk_service import RiskService
from trading.service import TradingService
from trading.strategy_runner import StrategyRunner
from trading.totp import SecondFactor


@dataclass(frozen=True, slots=True)
class Assembly:
    """Everything one process runs, wired once. `intake` and `recovery` exist where webhooks are
    served; `monitor` where the position monitor runs in this process."""

    settings: Settings
    stores: Stores
    metrics: Metrics
    events: EventBus
    broker: BaseBroker
    trading: TradingService
    approvals: ApprovalService
    control: ControlService
    access: AccessService
    reports: ReportService
    research: ResearchService
    second_factor: SecondFactor
    book: AccountBook
    risk: RiskService
    equity: EquityRecorder
    dashboard_auth: DashboardAuth
    intake: WebhookIntake | None = None
    recovery: AlertRecovery | None = None
    monitor: Monitor | None = None
    price_feed: PriceFeed | None = None  # TRADEBOT_PRICE_FEED=ccxt, where the monitor runs

    @property
    def web(self) -> WebConfig:
        return web_config(self.settings)


def assemble(
    settings: Settings,
    *,
    broker: BaseBroker | None = None,
    stores: Stores | None = None,
    webhooks: bool = False,
    monitor: bool = False,
    defer_broker: bool = False,
) -> Assembly:
    """Build the services of one process: `webhooks` adds the intake and the start-up alert
    recovery (`tradebot serve`), `monitor` the position monitor. With `defer_broker` (the CLI)
    the broker is built when first used, so a command that never trades neither imports ccxt
    nor needs complete broker settings."""
    stores = stores or sql_stores()
    metrics = Metrics()
    events = EventBus()
    events.subscribe(metrics)
    ledger = stores.ledger
    if broker is None and defer_broker:
        broker = cast(BaseBroker, BrokerOnFirstUse(lambda: build_broker(settings, ledger)))
    broker = broker or build_broker(settings, ledger)
    # With an exchange behind it, a price series starts from the exchange's candles.
    candles = broker if webhooks and hasattr(broker, "fetch_candles") else None
    book = AccountBook(stores.risk, starting_balance(settings, broker))
    gate = RiskGate(
        book,
        events,
        lot_step=lot_step(broker),
        cross_process=settings.database_url.startswith(("postgres", "asyncpg")),
    )
    equity = EquityRecorder(book, trip=gate.trip)
    events.subscribe(equity)
    trading = TradingService(
        broker,
        events,
        stores=stores,
        claim_ttl=settings.monitor_claim_ttl,
        strategies=StrategyRunner(series=stores.series, candles=candles),  # type: ignore[arg-type]
        risk=gate,
    )
    approvals = ApprovalService(trading, events, stores=stores)
    intake = recovery = watcher = None
    if webhooks:
        intake = WebhookIntake(
            trading,
            events,
            stores=stores,
            approvals=approvals,
            answer_timeout=settings.webhook_answer_timeout,
            limiter=build_limiter(settings, metrics),
            limits=RateLimits(
                key_rate=settings.webhook_rate_per_key,
                key_burst=settings.webhook_burst_per_key,
                ip_rate=settings.webhook_rate_per_ip,
                ip_burst=settings.webhook_burst_per_ip,
            ),
            trusted_proxies=settings.trusted_proxies,
            ip_allowlist=settings.webhook_ip_allowlist,
            require_client_cert=settings.webhook_require_client_cert,
        )
        recovery = AlertRecovery(trading, events, stores=stores, approvals=approvals)
    feed = None
    if settings.price_feed == "ccxt" and (webhooks or monitor):
        require_exchange(ccxt_config(settings))  # even where the feed runs elsewhere
    if monitor:
        tickers = broker if isinstance(broker, TickerSource | TickerStream) else None
        if settings.price_feed == "ccxt":
            feed = tickers = build_price_feed(settings, broker, stores)
        watcher = Monitor(trading, events, monitor_config(settings), stores=stores, tickers=tickers)
        trading.watcher = watcher  # alert prices and position changes reach it
    access = AccessService(settings.telegram_admins, stores=stores)
    return Assembly(
        settings=settings,
        stores=stores,
        metrics=metrics,
        events=events,
        broker=broker,
        trading=trading,
        approvals=approvals,
        control=ControlService(
            trading, events, stores=stores, approvals=approvals, base_url=settings.base_url()
        ),
        access=access,
        reports=ReportService(stores=stores, book=book),
        research=ResearchService(series=stores.series),
        second_factor=SecondFactor(stores=stores),
        book=book,
        risk=RiskService(stores=stores, book=book, gate=gate, events=events),
        equity=equity,
        dashboard_auth=DashboardAuth(access, stores=stores),
        intake=intake,
        recovery=recovery,
        monitor=watcher,
        price_feed=feed,
    )


def starting_balance(settings: Settings, broker: BaseBroker) -> StartingBalance:
    """What a currency's equity starts from (SPEC §6a): the paper broker's balance, or what the
    exchange holds of that currency when the currency is first sampled (0 if it cannot say)."""

    async def balance(quote: str) -> Decimal:
        if settings.broker == "paper":
            return settings.paper_balance
        try:
            held = {b.currency: b.total for b in await broker.balances()}
        except Exception:
            return Decimal(0)
        return held.get(quote, Decimal(0))

    return balance


def lot_step(broker: BaseBroker) -> Callable[[str], Awaitable[Decimal]]:
    async def step(symbol: str) -> Decimal:
        return await broker.lot_step(symbol) or DEFAULT_STEP

    return step


def web_config(settings: Settings) -> WebConfig:
    return WebConfig(
        api_token=settings.api_token.get_secret_value(),
        webhook_body_timeout=settings.webhook_body_timeout,
    )


def monitor_config(settings: Settings) -> MonitorConfig:
    return MonitorConfig(
        price_max_age=settings.price_max_age,
        interval=settings.monitor_interval,
        resync_interval=settings.monitor_resync_interval,
        heartbeat_interval=settings.monitor_heartbeat_interval,
        retry_backoff=settings.monitor_retry_backoff,
        max_attempts=settings.monitor_max_attempts,
    )


def build_limiter(settings: Settings, metrics: Metrics) -> Limiter:
    """Rate-limit buckets in Redis when it is configured (one budget for every process), else in
    this process."""
    if not settings.redis_url:
        return TokenBuckets()
    from redis.asyncio import Redis

    from db.limits import RedisBuckets

    client = Redis.from_url(settings.redis_url, socket_timeout=1, socket_connect_timeout=1)
    # One namespace per database: processes of one deployment share buckets, others do not.
    namespace = hashlib.sha256(settings.database_url.encode()).hexdigest()[:12]
    return RedisBuckets(
        client, on_error=metrics.errors.labels("ratelimit_store").inc, namespace=namespace
    )


def build_price_feed(settings: Settings, broker: BaseBroker, stores: Stores) -> PriceFeed:
    """The live price feed (`trading.price_feed`): through the broker when it is the ccxt
    exchange already, else a key-less client of the same exchange."""

    async def symbols() -> set[str]:
        bots = await stores.bots.list_bots()
        return {s for bot in bots for s in bot.symbols} | set(await stores.positions.open_symbols())

    # The ccxt broker is that exchange already: one client, one rate limit.
    shared = broker if settings.broker == "ccxt" and isinstance(broker, TickerSource) else None
    return exchange_feed(
        ccxt_config(settings),
        broker=shared,  # type: ignore[arg-type]
        symbols=symbols,
        refresh=settings.monitor_resync_interval,
        max_age=settings.price_max_age,
    )


def ccxt_config(settings: Settings) -> CcxtConfig:
    """`TRADEBOT_CCXT_*` as the ccxt broker and the price feed take them."""
    return CcxtConfig(
        exchange=settings.ccxt_exchange,
        api_key=settings.ccxt_api_key.get_secret_value(),
        secret=settings.ccxt_secret.get_secret_value(),
        password=settings.ccxt_password.get_secret_value(),
        sandbox=settings.ccxt_sandbox,
        api_url=settings.ccxt_api_url,
        options=settings.ccxt_options,
    )


def build_broker(settings: Settings, ledger: PaperLedger) -> BaseBroker:
    """The broker the settings name; the paper broker keeps its account in `ledger` (one per
    process: it caches what it has read)."""
    return create_broker(
        settings.broker,
        ledger=ledger,
        fee_bps=settings.paper_fee_bps,
        slippage_bps=settings.paper_slippage_bps,
        initial_balance=settings.paper_balance,
        ccxt=ccxt_config(settings),
    )


class BrokerOnFirstUse:
    """The configured broker, built the first time anything of it is read (`__getattr__`), and
    closed only if it was built."""

    def __init__(self, build: Callable[[], BaseBroker]) -> None:
        self._build = build
        self._broker: BaseBroker | None = None

    def __getattr__(self, name: str) -> Any:
        if self._broker is None:
            self._broker = self._build()
        return getattr(self._broker, name)

    async def close(self) -> None:
        if self._broker is not None:
            await self._broker.close()
