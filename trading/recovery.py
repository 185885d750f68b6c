"""Start-up recovery of alerts a stopped process stored but never finished (issue 6, crash safety).

The intake stores an alert (a `webhook_logs` row, status `received`) before it executes it, and
finishes the row after (`executed`, `ignored`, `rejected`, with `finished_at`). A process that dies
in between leaves the row unfinished: `received`, or `accepted` once the sender was answered 202.
At start-up each such row is settled exactly once:

- An order references it (`orders.webhook_log_id`): the alert ran up to the broker, so the order's
  outcome is the alert's and it is never executed again. A pending order is settled against the
  broker first (as start-up reconciliation does), then the row follows it: filled → `executed`
  with the order, refused or never sent → `rejected`.
- No order, the alert still fresh (fired within the bot's `max_lag`) and the bot active: it is
  executed now, through the same `TradingService.execute_alert` call the intake makes, and the row
  is finished as the intake finishes it.
- Otherwise it is `rejected` ("interrupted by a restart; stale after N s", or why else).

Every settled row is logged (one line: bot, symbol, log id) and published as a `LateExecution`, so
owners learn in Telegram the outcome the sender never heard.

Across processes (several web processes on one database, or two starting at once) a row is
claimed by a conditional update (`received|accepted` → `recovering`) and only the process whose
update changed it goes on. Rows received after this process started are not looked at (they are
its own, or a live peer's), and rows younger than `grace` may still be in a live peer's hands:
they are looked at again once older (`start` keeps a task for those later passes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from trading.alerts import Action, Alert
from trading.approvals import ApprovalService, check_position_sync, rebuild_alert
from trading.bots import BotConfig
from trading.brokers.reconcile import DEFAULT_MIN_AGE, PendingOrder, reconcile_pending
from trading.errors import AlertError
from trading.events import ErrorEvent, EventSink, LateExecution
from trading.ports import Stores
from trading.records import AlertOrder, UnfinishedAlert
from trading.service import TradingService
from trading.tasks import finish_task

log = logging.getLogger(__name__)

UNFINISHED = ("received", "accepted")  # what the intake leaves behind when the process dies
RECOVERING = "recovering"  # claimed by a recovering process
DEFAULT_GRACE = timedelta(seconds=10)
DEFAULT_LOOKBACK = timedelta(days=7)
# A row left `recovering` without an order once its alert is this much past its max_lag: the
# process recovering it died before sending anything.
ABANDONED_AFTER = timedelta(minutes=10)
MAX_PASSES = 30


@dataclass(frozen=True, slots=True)
class Recovered:
    """One settled row: what became of the alert."""

    log_id: int
    bot: str
    symbol: str
    status: str  # executed | ignored | rejected | pending_approval
    reason: str


@dataclass
class RecoveryReport:
    recovered: list[Recovered] = field(default_factory=list)
    waiting: dict[int, datetime] = field(default_factory=dict)  # log id -> look again at

    @property
    def retry_at(self) -> datetime | None:
        return min(self.waiting.values()) if self.waiting else None

    def lines(self) -> list[str]:
        return [
            f"alert #{r.log_id} {r.bot} {r.symbol}: {r.status} ({r.reason})" for r in self.recovered
        ]


def order_settle_age(broker_name: str, grace: timedelta) -> timedelta:
    """How old a pending order must be before the broker's "no such order" is believed. A paper
    order exists only once stored, so a pending one past the grace never filled; an exchange may
    show an order only some time after it was sent (reconciliation's own minimum)."""
    return grace if broker_name == "paper" else DEFAULT_MIN_AGE


class AlertRecovery:
    def __init__(
        self,
        trading: TradingService,
        events: EventSink,
        *,
        stores: Stores,
        approvals: ApprovalService,
        grace: timedelta = DEFAULT_GRACE,
        started_at: datetime | None = None,
        lookback: timedelta = DEFAULT_LOOKBACK,
        settle_age: timedelta | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.trading = trading
        self.events = events
        self.stores = stores
        self.approvals = approvals
        self.grace = grace
        self.clock = clock
        # This process's start: alerts received before it are a previous run's. Taken when the
        # recovery starts (after the broker, Telegram and the monitor are up) unless given.
        self._given_start = started_at
        self.started_at = started_at or clock()
        self.lookback = lookback
        self.settle_age = settle_age or order_settle_age(trading.broker.name, grace)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ running

    async def start(self) -> RecoveryReport:
        """One pass now (before the server takes new alerts, so interrupted ones go first), and
        a task for the later passes rows still waiting need."""
        self.started_at = self._given_start or self.clock()
        report = await self.run_once()
        if report.retry_at is not None:
            self._task = asyncio.create_task(self._follow_up(report), name="alert-recovery")
        return report

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop waiting; a pass under way finishes (bounded by `timeout`)."""
        self._stopping.set()
        if self._task is None:
            return
        await finish_task(self._task, timeout)
        self._task = None

    async def _follow_up(self, report: RecoveryReport) -> None:
        for _ in range(MAX_PASSES):
            retry_at = report.retry_at
            if retry_at is None:
                return
            delay = max(0.2, (retry_at - self.clock()).total_seconds())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                return
            report = await self.run_once()
        if report.waiting:
            log.warning(
                "alert recovery gave up waiting on log ids %s", ", ".join(map(str, report.waiting))
            )

    async def run_once(self) -> RecoveryReport:
        """Settle every unfinished row received before this process started; rows that must
        wait (too young, or their order not settled yet) are listed with when to look again."""
        report = RecoveryReport()
        rows = await self.stores.alerts.unfinished_alerts(
            (*UNFINISHED, RECOVERING),
            received_after=self.started_at - self.lookback,
            received_before=self.started_at,
        )
        if not rows:
            return report
        log.info("alert recovery: %d unfinished alert(s) from before the start", len(rows))
        # Orders the crash left pending first: one that claims a position would make every
        # other alert on it answer "already being closed".
        await self._settle(await self.stores.orders.pending_orders())
        for row in rows:
            try:
                await self._recover(row, report)
            except Exception as exc:  # one bad row must not stop the others, nor start-up
                log.exception("alert recovery failed log=%d", row.id)
                self.events.publish(
                    ErrorEvent(where=f"alert recovery #{row.id}", message=type(exc).__name__)
                )
        return report

    # ------------------------------------------------------------ one row

    async def _recover(self, row: UnfinishedAlert, report: RecoveryReport) -> None:
        now = self.clock()
        orders = await self.stores.alerts.orders_of_alert(row.id)
        if orders:
            await self._follow_order(row, orders, report)
            return
        if row.status == RECOVERING:
            await self._abandoned(row, now, report)
            return
        if now - row.received_at < self.grace:
            report.waiting[row.id] = row.received_at + self.grace  # a live peer may hold it
            return
        if not await self.stores.alerts.move_unfinished_log(row.id, UNFINISHED, RECOVERING):
            return  # another process claimed it first
        if await self.stores.alerts.orders_of_alert(row.id):
            # A live peer reached the broker between our look and our claim: its order decides.
            await self.stores.alerts.move_unfinished_log(row.id, (RECOVERING,), row.status)
            report.waiting[row.id] = now
            return
        await self._execute(row, report)

    async def _follow_order(
        self, row: UnfinishedAlert, orders: list[AlertOrder], report: RecoveryReport
    ) -> None:
        """The alert reached the order stage: its order's outcome is the alert's."""
        if any(order.status == "pending" for order in orders):
            await self._settle([order for order in orders if order.status == "pending"])
            orders = await self.stores.alerts.orders_of_alert(row.id)
            still = [order for order in orders if order.status == "pending"]
            if still:
                now = self.clock()
                at = max(order.created_at for order in still) + self.settle_age
                report.waiting[row.id] = at if at > now else now + self.grace
                return
        order = orders[-1]
        if order.status == "filled":
            status, reason = "executed", f"{order.intent} (settled after a restart)"
        elif order.status == "rejected":
            status, reason = "rejected", order.error or "the broker refused the order"
        else:
            status = "rejected"
            reason = (
                f"interrupted by a restart; order {order.client_order_id} never reached the broker"
            )
        if await self.stores.alerts.move_unfinished_log(
            row.id,
            (*UNFINISHED, RECOVERING),
            status,
            reason=reason,
            order_id=order.id if order.status == "filled" else None,
            finished_at=self.clock(),
        ):
            self._told(row, await self._bot(row), status, reason, report)

    async def _settle(self, orders: Sequence[PendingOrder]) -> None:
        """Settle pending orders old enough to judge, as start-up reconciliation does."""
        if not orders:
            return
        found = await reconcile_pending(
            self.trading.broker, orders, now=self.clock(), min_age=self.settle_age
        )
        for order_id, fill in found.found:
            await self.trading.store_reconciled_fill(order_id, fill)
        for resolution in found.failed:
            await self.trading.fail_pending(resolution.order_id, resolution.detail)

    async def _abandoned(self, row: UnfinishedAlert, now: datetime, report: RecoveryReport) -> None:
        """A row another recovery claimed and never finished, with no order: if even a late
        recovery would be done with it by now, that process died before trading."""
        bot = await self._bot(row)
        max_lag = timedelta(seconds=bot.max_lag_seconds if bot else 0)
        if now - row.received_at < max_lag + ABANDONED_AFTER:
            return  # perhaps still being executed elsewhere; the next start-up looks again
        reason = "interrupted by a restart during its recovery; nothing was traded"
        if await self.stores.alerts.move_unfinished_log(
            row.id, (RECOVERING,), "rejected", reason=reason, finished_at=now
        ):
            self._told(row, bot, "rejected", reason, report)

    async def _execute(self, row: UnfinishedAlert, report: RecoveryReport) -> None:
        """A claimed row with no order: execute it if it is still worth it, else reject it."""
        bot = await self._bot(row)
        alert, refusal = self._judge(row, bot)
        if refusal is not None or alert is None or bot is None:
            reason = refusal or "interrupted by a restart"
            if await self.stores.alerts.move_unfinished_log(
                row.id, (RECOVERING,), "rejected", reason=reason, finished_at=self.clock()
            ):
                self._told(row, bot, "rejected", reason, report)
            return
        pending = [
            order
            for order in await self.stores.orders.pending_orders()
            if order.bot_id == bot.id and order.symbol == alert.symbol
        ]
        if pending:
            # An order on this position is not settled yet: its fill (or not) comes first.
            await self.stores.alerts.move_unfinished_log(row.id, (RECOVERING,), row.status)
            at = max(order.created_at for order in pending) + self.settle_age
            report.waiting[row.id] = max(at, self.clock() + self.grace / 2)
            return
        if bot.approval == "manual" and alert.action is not Action.TICK:
            # It never reached the approval card: ask now, as the intake would have.
            await self.stores.alerts.move_unfinished_log(row.id, (RECOVERING,), "received")
            result = await self.approvals.request(bot, alert, row.id)
            log.info(
                "alert recovered bot=%s symbol=%s log=%d status=pending_approval",
                bot.name,
                alert.symbol,
                row.id,
            )
            report.recovered.append(
                Recovered(row.id, bot.name, alert.symbol, "pending_approval", result.reason)
            )
            return
        result = await self.trading.run_stored_alert(bot, alert, row.id)
        reason = f"{result.reason} (recovered after a restart)"
        await self.stores.alerts.move_unfinished_log(
            row.id,
            (RECOVERING,),
            result.status,
            reason=reason,
            order_id=(result.order or {}).get("id"),
            finished_at=self.clock(),
        )
        await check_position_sync(bot, alert, self.events, self.stores.positions)  # never raises
        self._told(row, bot, result.status, reason, report)

    def _judge(
        self, row: UnfinishedAlert, bot: BotConfig | None
    ) -> tuple[Alert | None, str | None]:
        """The stored alert, and why it must not run now (None: run it)."""
        prefix = "interrupted by a restart;"
        if bot is None:
            return None, f"{prefix} its bot no longer exists"
        try:
            alert = rebuild_alert(row.alert or {})
        except AlertError as exc:
            return None, f"{prefix} the stored alert cannot be read ({exc.user_message})"
        if bot.paused:
            return alert, f"{prefix} bot {bot.name} is paused"
        if alert.symbol not in bot.symbols:
            return alert, f"{prefix} symbol {alert.symbol} is no longer traded by bot {bot.name}"
        fired = alert.time if alert.time is not None and alert.time < row.received_at else None
        lag = (self.clock() - (fired or row.received_at)).total_seconds()
        if lag > bot.max_lag_seconds:
            return alert, f"{prefix} stale after {lag:.0f} s (max_lag {bot.max_lag_seconds} s)"
        return alert, None

    async def _bot(self, row: UnfinishedAlert) -> BotConfig | None:
        if row.bot_id is None:
            return None
        return await self.stores.bots.active_bot_by_id(row.bot_id)  # a deleted bot trades nothing

    def _told(
        self,
        row: UnfinishedAlert,
        bot: BotConfig | None,
        status: str,
        reason: str,
        report: RecoveryReport,
    ) -> None:
        name = bot.name if bot else "?"
        symbol = row.symbol or "?"
        log.info(
            "alert recovered bot=%s symbol=%s log=%d status=%s reason=%s",
            name,
            symbol,
            row.id,
            status,
            reason,
        )
        report.recovered.append(Recovered(row.id, name, symbol, status, reason))
        self.events.publish(
            LateExecution(
                bot=name, symbol=symbol, status=status, reason=reason, webhook_log_id=row.id
            )
        )
