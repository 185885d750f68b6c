"""TradingService: the one path every trade takes, from a webhook, a chat button or the monitor.

decide (strategy) → plan (position rules) → write the order row → broker → store the fill
(order, position, entries, trade) in one transaction → publish events.

Exactly one closer at a time: an order that closes (part of) a position claims the position in
the transaction that writes the order row (`closing_token` = that order's client id). Another
closer (a stop in another monitor, a chat button) finds the claim and is told the position is
already being closed; an alert waits its turn instead, as it does while other processes' fills
keep moving the position (`_settle`): a valid alert is never dropped because its position is busy.
The claim is given back when the broker refuses, cleared when the fill is stored, and taken over
after `claim_ttl` seconds only once the broker confirms that the order it guarded does not exist
(a crashed closer).

Prices an alert carries go to the `watcher` (the position monitor) before the alert's own
decision, so a tick that crosses a stop closes the position first, as the backtester checks
stops before the signal of a bar; positions that changed are handed to the watcher afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from db import repo
from trading.alerts import Action, Alert
from trading.bots import BotConfig, order_size
from trading.brokers.base import BaseBroker, OrderFill, OrderRequest
from trading.brokers.reconcile import (
    HoldingsReport,
    ReconcileReport,
    check_holdings,
    reconcile_pending,
)
from trading.errors import (
    BrokerRefusal,
    BrokerUnavailable,
    InvalidRequest,
    NotFound,
    TradingError,
)
from trading.events import (
    AlertRefused,
    ErrorEvent,
    EventSink,
    OrderFinished,
    PositionAdded,
    PositionClosed,
    PositionOpened,
    PositionReduced,
)
from trading.locks import ArrivalOrder, KeyedLocks
from trading.numbers import notional_error
from trading.positions import (
    Fill,
    FillOutcome,
    Intent,
    OrderPlan,
    PositionState,
    Skip,
    apply_fill,
    plan_order,
    plan_target,
)
from trading.protection import (
    NO_LEVELS,
    AlertLevels,
    Protection,
    protection_after_fill,
    take_profit_qty,
)
from trading.strategies.base import Decision
from trading.strategy_runner import StrategyRunner
from trading.views import ExecutionResult, plain

log = logging.getLogger(__name__)

DEFAULT_CLAIM_TTL = 60.0
# How long an alert waits for a busy position (moved by other processes' fills, or being closed
# by someone else) before it is refused with nothing traded: the default `max_lag`, past which
# an alert is stale. Past the answer timeout the sender has its 202 and the wait goes on in the
# background (`trading.intake`).
DEFAULT_BUSY_PATIENCE = 60.0
MAX_BUSY_PAUSE = 0.25  # the longest pause between two plans of a busy alert, in seconds
TAKEN_OVER = (
    "taken over by another process's start-up recovery, which executes it; nothing traded here"
)


def _plain(value: Decimal | None) -> str | None:
    return None if value is None else plain(value)


class _SettledElsewhere(Exception):
    """The pending order whose fill was being stored was settled by someone else."""


class PositionBusy(TradingError):
    """Someone else is closing the position (its claim is held), or it changed meanwhile."""


class PositionWatcher(Protocol):
    """The position monitor, as the service sees it."""

    async def price_seen(
        self, symbol: str, price: Decimal, at: datetime, source: str, *, bot_id: int | None
    ) -> None:
        """A price arrived in this process, bot `bot_id`'s (its alert: only its own stops act
        on it) or the exchange's (None: every bot's); triggers it reaches are executed before
        return."""

    async def position_changed(self, bot_id: int, symbol: str) -> None:
        """A fill changed (or closed) the bot's position in `symbol`."""


def observed_at(alert: Alert, now: datetime) -> datetime:
    """When the alert's price was seen: its `time` (when TradingView fired it), else now."""
    if alert.time is None or alert.time > now:
        return now
    return alert.time


@dataclass
class AlertLog:
    """The webhook log row of the alert being executed. When the alert fills, the fill's own
    transaction writes the outcome on this row too (one commit instead of two) and `finished`
    says so; `answered_late()` tells whether the sender was already answered 202 (then the
    row's answer code stays 202). `price_stored`: the alert's price was written with the row."""

    id: int
    answered_late: Callable[[], bool]
    finished: bool = False
    price_stored: bool = False


@dataclass(frozen=True, slots=True)
class _Order:
    """What an order is for, fixed while it is planned (again, if the position moved)."""

    bot: BotConfig
    symbol: str
    base: str
    quote: str
    price: Decimal
    reason: str
    levels: AlertLevels
    webhook_log_id: int | None
    take_profit: int | None

    def answer_reason(self, plan: OrderPlan) -> str:
        reason = self.reason if self.reason != "signal" else plan.intent
        return f"{reason}; {plan.note}" if plan.note else reason


@dataclass(frozen=True, slots=True)
class _InFlight:
    """An instant fill queued to the writer: what to report once it is committed."""

    order: _Order
    plan: OrderPlan
    fill: OrderFill
    client_order_id: str
    outcome: FillOutcome
    stops: Protection
    pending: repo.PendingFill
    alert_log: AlertLog | None


@dataclass(frozen=True, slots=True)
class _Refused:
    """An instant broker's refusal, recorded once it is final."""

    order: _Order
    plan: OrderPlan
    row: dict[str, Any]
    reason: str


@dataclass(frozen=True, slots=True)
class _Busy:
    """A plan that sent nothing because the position is busy (PositionBusy): planned again."""

    reason: str


@dataclass(frozen=True, slots=True)
class _StoredFill:
    outcome: FillOutcome
    position_id: int | None
    stops: Protection
    order_id: int


class TradingService:
    def __init__(
        self,
        broker: BaseBroker,
        events: EventSink,
        *,
        locks: KeyedLocks | None = None,
        strategies: StrategyRunner | None = None,
        claim_ttl: float = DEFAULT_CLAIM_TTL,
        busy_patience: float = DEFAULT_BUSY_PATIENCE,
    ) -> None:
        self.broker = broker
        self.events = events
        self.locks = locks or KeyedLocks()
        self.arrivals = ArrivalOrder()
        self.strategies = strategies or StrategyRunner()
        self.claim_ttl = claim_ttl
        self.busy_patience = busy_patience
        self.watcher: PositionWatcher | None = None
        # "bot:symbol" -> the last instant fill queued on the position and not known committed:
        # the state it leaves (`write.after`), its commit (`future`), its batch (a fill planned
        # on that state follows it: not stored without it)
        self._in_flight: dict[str, repo.PendingFill] = {}

    # ------------------------------------------------------------ entry points

    async def execute_alert(
        self,
        bot: BotConfig,
        alert: Alert,
        *,
        webhook_log_id: int | None = None,
        alert_log: AlertLog | None = None,
    ) -> ExecutionResult:
        """Run a validated, accepted alert through the bot's strategy and the position rules.

        A busy position (another process's fill moved it, or someone else is closing it) does
        not drop the alert: its decision is planned again until it is executed or refused on
        its merits, or the position stays busy for `busy_patience` seconds (`_settle`)."""
        symbol = alert.symbol
        if alert.price is not None:
            await self.observe_price(
                symbol,
                alert.price,
                observed_at(alert, datetime.now(UTC)),
                "alert",
                bot_id=bot.id,
                stored=alert_log is not None and alert_log.price_stored,
            )
        key = f"{bot.id}:{symbol}"
        ticket = self.arrivals.enter(key)
        try:
            return await self._execute_in_turn(bot, alert, key, ticket, webhook_log_id, alert_log)
        finally:
            await self.arrivals.leave(key, ticket)

    async def _execute_in_turn(
        self,
        bot: BotConfig,
        alert: Alert,
        key: str,
        ticket: int,
        webhook_log_id: int | None,
        alert_log: AlertLog | None,
    ) -> ExecutionResult:
        symbol = alert.symbol
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self.busy_patience  # from arrival: waiting a turn counts
        if not await self.arrivals.turn(key, ticket, give_up_at - loop.time()):
            return self._busy_too_long(bot, symbol, "alerts before it kept it busy")
        async with self.locks.hold(key):
            base, quote = await repo.ensure_instrument(symbol)
            stored, basis = await self._position(bot.id, symbol)
            decision = await self.strategies.decide(bot, alert, stored.state if stored else None)
            if decision.signal is None:
                return ExecutionResult(status="ignored", reason=decision.reason, bot=bot.name)
            levels = AlertLevels(alert.sl, alert.tp, alert.trail, tuple(alert.take_profits))
            order = await self._order(
                bot,
                symbol,
                base,
                quote,
                price=alert.price,
                reason="signal",
                levels=levels,
                webhook_log_id=alert_log.id if alert_log else webhook_log_id,
            )
            if isinstance(order, ExecutionResult):
                return order
            step = await self._attempt(order, stored, decision, alert_log)
        # The position lock is free again: the next order on it is planned on the position
        # this fill leaves while its commit is on the way (`_position`).
        result = await self._settle(
            key, order, decision, step, basis, alert_log, ticket, give_up_at
        )
        await self._changed(bot, symbol, result)
        return result

    async def _position(
        self, bot_id: int, symbol: str
    ) -> tuple[repo.StoredPosition | None, asyncio.Future[Any] | None]:
        """The position as the last order planned on it leaves it, and the commit it waits
        for: the in-flight state while that order's fill (an instant one, queued to the writer)
        is not committed, else as stored (and None). A fill planned on an in-flight state is not
        stored unless that state is (`fill_write(follows=...)`); any other outcome planned on it
        waits for it (`_settle`), and both are planned again if it was not stored."""
        key = f"{bot_id}:{symbol}"
        in_flight = self._in_flight.get(key)
        if in_flight is not None:
            if not in_flight.future.done():
                return in_flight.write.after, in_flight.future
            del self._in_flight[key]
        return await repo.load_position(bot_id, symbol), None

    async def _stored_position(self, bot_id: int, symbol: str) -> repo.StoredPosition | None:
        """The position as stored, once a fill in flight on it is committed (or not)."""
        _stored, basis = await self._position(bot_id, symbol)
        if basis is not None:
            await asyncio.wait([basis])
            return (await self._position(bot_id, symbol))[0]
        return _stored

    async def _settle(
        self,
        key: str,
        order: _Order,
        decision: Decision,
        step: ExecutionResult | _InFlight | _Refused | _Busy,
        basis: asyncio.Future[Any] | None,
        alert_log: AlertLog | None,
        ticket: int,
        give_up_at: float,
    ) -> ExecutionResult:
        """Wait, outside the position lock, for an instant fill's commit, or for the commit of
        the fill in flight the step was planned on (`basis`), and plan the same decision again
        on the position as it is now while the step stored nothing: a fill that was not stored
        because the position moved traded nothing; an outcome planned on a fill that was not
        stored (no order: max entries reached, say) was planned on a position that never was;
        a busy position (someone else's claim) sent nothing.

        Every step planned is looked at before anything is answered: the one whose fill is
        stored is the outcome. There is no count of attempts, only `busy_patience` seconds
        since the first plan (with growing pauses between plans, so that processes crowding
        one position take turns): past them the alert is refused, nothing traded."""
        bot, symbol = order.bot, order.symbol
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            busy = "it kept changing"
            if isinstance(step, _Busy):
                busy = step.reason
            elif isinstance(step, ExecutionResult | _Refused):
                if basis is None or await _committed(basis):
                    if isinstance(step, _Refused):
                        return await self._record_refusal(step)
                    return step
            else:
                try:
                    return await self._finish(step)
                except repo.ConcurrentUpdate:
                    pass
                except repo.AlertTaken:
                    return self._taken_over(order)
            failures += 1
            if loop.time() >= give_up_at:
                return self._busy_too_long(bot, symbol, busy)
            log.warning(
                "position busy, planning again bot=%s symbol=%s attempt=%d: %s",
                bot.name,
                symbol,
                failures,
                busy,
            )
            self.arrivals.delayed(key, ticket)  # later alerts on the position wait for this one
            if failures > 1:  # the first time at once: most often one other fill came first
                await asyncio.sleep(_pause(failures))
            # an earlier alert still waiting goes first
            if not await self.arrivals.turn(key, ticket, give_up_at - loop.time()):
                return self._busy_too_long(bot, symbol, busy)
            async with self.locks.hold(key):
                stored, basis = await self._position(bot.id, symbol)
                step = await self._attempt(order, stored, decision, alert_log)

    def _busy_too_long(self, bot: BotConfig, symbol: str, busy: str) -> ExecutionResult:
        """Past `busy_patience` seconds since the alert arrived (its turn and its retries): an
        alert that late would trade on a stale signal, so it is refused, nothing traded."""
        return self._refuse(
            bot,
            symbol,
            f"{bot.name} {symbol} position stayed busy for {self.busy_patience:g} s "
            f"({busy}); nothing was traded",
        )

    async def _attempt(
        self,
        order: _Order,
        stored: repo.StoredPosition | None,
        decision: Decision,
        alert_log: AlertLog | None,
    ) -> ExecutionResult | _InFlight | _Refused | _Busy:
        """`_step` for an alert: a position someone else is closing (PositionBusy, raised
        before anything is sent) is a step to plan again, not an answer."""
        try:
            return await self._step(order, stored, decision, alert_log)
        except PositionBusy as exc:
            return _Busy(exc.user_message)

    def _taken_over(self, order: _Order) -> ExecutionResult:
        log.warning(
            "alert taken over by another process's recovery bot=%s symbol=%s log=%s",
            order.bot.name,
            order.symbol,
            order.webhook_log_id,
        )
        return ExecutionResult(status="rejected", reason=TAKEN_OVER, bot=order.bot.name)

    async def run_stored_alert(
        self, bot: BotConfig, alert: Alert, log_id: int, alert_log: AlertLog | None = None
    ) -> ExecutionResult:
        """`execute_alert` for an alert stored as webhook log `log_id` (fresh from the intake,
        approved, or recovered): a refusal is a rejected result, and any other failure is
        logged, reported and answered as an internal error naming the row. Never raises."""
        try:
            return await self.execute_alert(bot, alert, webhook_log_id=log_id, alert_log=alert_log)
        except TradingError as exc:
            return ExecutionResult(status="rejected", reason=exc.user_message, bot=bot.name)
        except Exception as exc:
            log.exception("alert failed bot=%s symbol=%s log=%d", bot.name, alert.symbol, log_id)
            self.events.publish(
                ErrorEvent(where=f"alert #{log_id} ({bot.name})", message=type(exc).__name__)
            )
            return ExecutionResult(
                status="rejected", reason=f"internal error (webhook log #{log_id})", bot=bot.name
            )

    async def observe_price(
        self,
        symbol: str,
        price: Decimal,
        at: datetime,
        source: str,
        *,
        bot_id: int,
        stored: bool = False,
    ) -> None:
        """Record the price of bot `bot_id`'s alert (already done when `stored`) and let the
        monitor act on it: it moves that bot's stops only (SPEC §5)."""
        if not stored:
            await repo.ensure_instrument(symbol)
            await repo.record_price(symbol, price, at, source, bot_id=bot_id)
        if self.watcher is not None:
            try:
                await self.watcher.price_seen(symbol, price, at, source, bot_id=bot_id)
            except Exception as exc:  # the monitor's trouble must not stop the alert's trade
                self._watcher_failed("price", symbol, exc)

    async def close_position(
        self,
        bot: BotConfig,
        symbol: str,
        *,
        reason: str = "manual",
        qty: Decimal | None = None,
        price: Decimal | None = None,
    ) -> ExecutionResult:
        """Close (or reduce by `qty`) a position at market: chat buttons, CLI, webhooks.

        A position another closer is closing answers `ignored` ("already being closed")."""
        try:
            return await self.close_triggered(bot, symbol, reason=reason, qty=qty, price=price)
        except PositionBusy as exc:
            return ExecutionResult(status="ignored", reason=exc.user_message, bot=bot.name)

    async def close_triggered(
        self,
        bot: BotConfig,
        symbol: str,
        *,
        reason: str,
        qty: Decimal | None = None,
        price: Decimal | None = None,
        expected_version: int | None = None,
        expected_id: int | None = None,
        take_profit: int | None = None,
    ) -> ExecutionResult:
        """`close_position` as the monitor calls it: the same path, but a position that changed
        since `expected_version` or that someone else is closing raises PositionBusy, and
        `take_profit` names the take-profit level the close fills."""
        async with self.locks.hold(f"{bot.id}:{symbol}"):
            # A close is not planned ahead of a fill in flight: its refusals must be true.
            stored = await self._stored_position(bot.id, symbol)
            if stored is None:
                raise NotFound(f"{bot.name} has no open {symbol} position")
            if (expected_version is not None and stored.version != expected_version) or (
                expected_id is not None and stored.id != expected_id
            ):  # a new position (closed and opened again) starts again at version 0
                raise PositionBusy(f"{bot.name} {symbol} position changed meanwhile")
            levels = stored.take_profits
            if take_profit is not None and qty is None:
                if take_profit >= len(levels) or levels[take_profit].filled:
                    raise PositionBusy(f"{bot.name} {symbol} take-profit levels changed meanwhile")
                qty = take_profit_qty(levels, take_profit, stored.state.qty)
            base, quote = await repo.ensure_instrument(symbol)
            result = await self._trade(
                bot,
                symbol,
                base,
                quote,
                stored,
                Decision(signal="close", qty=qty),
                price=price,
                reason=reason,
                levels=NO_LEVELS,
                webhook_log_id=None,
                take_profit=take_profit,
            )
        await self._changed(bot, symbol, result)
        return result

    async def update_stops(
        self,
        bot: BotConfig,
        symbol: str,
        *,
        sl: Decimal | None,
        tp: Decimal | None,
        trail: str | None,
    ) -> None:
        """Change an open position's stop-loss, take-profit and trailing stop."""
        async with self.locks.hold(f"{bot.id}:{symbol}"):
            stored = await self._stored_position(bot.id, symbol)
            if stored is None:
                raise NotFound(f"{bot.name} has no open {symbol} position")
            await repo.update_stops(stored.id, sl, tp, trail)
        await self._changed(bot, symbol, ExecutionResult(status="executed", bot=bot.name))

    async def _changed(self, bot: BotConfig, symbol: str, result: ExecutionResult) -> None:
        if self.watcher is not None and result.status == "executed":
            try:
                await self.watcher.position_changed(bot.id, symbol)
            except Exception as exc:  # the trade is done; the monitor catches up on resync
                self._watcher_failed("position", symbol, exc)

    def _watcher_failed(self, what: str, symbol: str, exc: Exception) -> None:
        log.exception("monitor failed on a %s update symbol=%s", what, symbol)
        self.events.publish(
            ErrorEvent(where="monitor", message=f"{what} update {symbol}: {type(exc).__name__}")
        )

    # ------------------------------------------------------------ reconciliation

    async def reconcile(self) -> tuple[ReconcileReport, HoldingsReport]:
        """Settle orders left pending against the broker (store the fills it has, fail those
        it never got), then compare the open positions with the broker's balances."""
        report = await reconcile_pending(self.broker, await repo.pending_orders())
        for order_id, fill in report.found:
            await self.store_reconciled_fill(order_id, fill)
        for resolution in report.failed:
            await self.fail_pending(resolution.order_id, resolution.detail)
        holdings = await check_holdings(self.broker, await repo.list_positions())
        return report, holdings

    async def store_reconciled_fill(self, order_id: int, fill: OrderFill) -> ExecutionResult | None:
        """The fill of a pending order that reconciliation found at the broker, stored as
        `_trade` would have, onto the position as it is now; stops from the bot's defaults.
        None when the call that sent it stored it meanwhile (/status during an execution)."""
        order = await repo.order_by_id(order_id)
        bot = await repo.bot_by_id(order.bot_id)  # type: ignore[attr-defined]
        symbol = order.symbol
        async with self.locks.hold(f"{bot.id}:{symbol}"):
            order = await repo.order_by_id(order_id)
            if order.status != "pending":
                return None
            base, quote = await repo.ensure_instrument(symbol)
            stored = await repo.load_position(bot.id, symbol)
            price = order.price or fill.price
            sent = _Order(bot, symbol, base, quote, price, order.reason, NO_LEVELS, None, None)
            plan = OrderPlan(
                side=order.side,  # type: ignore[arg-type]
                qty=fill.qty,
                intent=order.intent,  # type: ignore[arg-type]
                close_qty=Decimal(0),
                open_qty=fill.qty,
            )
            claim = order.client_order_id
            stored_fill = await self._store_fill(
                sent,
                order.id,
                plan,
                fill,
                stored,
                claim=claim if stored is not None and stored.closing_token == claim else None,
            )
        self.events.publish(
            OrderFinished(bot=bot.name, symbol=symbol, status="filled", intent=order.intent)
        )
        outcome = stored_fill.outcome
        self._publish(bot, symbol, quote, outcome, order.reason, stored_fill.stops)
        log.info("reconciled fill stored bot=%s symbol=%s order=%s", bot.name, symbol, claim)
        result = ExecutionResult(
            status="executed",
            reason="reconciled",
            bot=bot.name,
            position=self._position_answer(stored_fill.position_id, outcome.position, symbol),
        )
        await self._changed(bot, symbol, result)
        return result

    async def fail_pending(self, order_id: int, reason: str) -> None:
        """A pending order the broker never got: failed, and its claim on a position given back."""
        order = await repo.order_by_id(order_id)
        await repo.finish_order(order_id, "failed", reason)
        stored = await repo.load_position(order.bot_id, order.symbol)  # type: ignore[attr-defined]
        if stored is not None and stored.closing_token == order.client_order_id:
            await repo.release_claim(stored.id, order.client_order_id)

    # ------------------------------------------------------------ the path

    async def _default_qty(self, bot: BotConfig, price: Decimal, quote: str) -> Decimal:
        equity = Decimal(0)
        if bot.size_kind == "equity_pct":
            balances = {b.currency: b for b in await self.broker.balances()}
            equity = balances[quote].total if quote in balances else Decimal(0)
        return order_size(bot.size_kind, bot.size_value, price, equity)

    async def _order(
        self,
        bot: BotConfig,
        symbol: str,
        base: str,
        quote: str,
        *,
        price: Decimal | None,
        reason: str,
        levels: AlertLevels,
        webhook_log_id: int | None,
        take_profit: int | None = None,
    ) -> _Order | ExecutionResult:
        """What an order will be for, or the refusal when no price is known."""
        if price is None:
            price = await repo.last_price(symbol, bot.id)
        if price is None:
            return self._refuse(
                bot, symbol, f"no price known for {symbol}: send price in the alert"
            )
        return _Order(bot, symbol, base, quote, price, reason, levels, webhook_log_id, take_profit)

    async def _step(
        self,
        order: _Order,
        stored: repo.StoredPosition | None,
        decision: Decision,
        alert_log: AlertLog | None,
    ) -> ExecutionResult | _InFlight | _Refused:
        """Plan the decision's order on `stored` and send it: the outcome, an instant fill
        whose commit is on the way, or an instant broker's refusal not recorded yet."""
        now = datetime.now(UTC)
        plan = await self._plan(order, stored, decision, now)
        if isinstance(plan, ExecutionResult):
            return plan
        if not self.broker.instant_fills:
            return await self._send(order, stored, plan, now, alert_log)
        return await self._fill_instantly(order, stored, plan, alert_log)

    async def _trade(
        self,
        bot: BotConfig,
        symbol: str,
        base: str,
        quote: str,
        stored: repo.StoredPosition | None,
        decision: Decision,
        *,
        price: Decimal | None,
        reason: str,
        levels: AlertLevels,
        webhook_log_id: int | None,
        take_profit: int | None = None,
    ) -> ExecutionResult:
        """One order, done by the time this returns (the position lock held throughout): closes
        from the monitor, the chat, the CLI. A position that moved under an instant fill is
        PositionBusy: the closer looks again."""
        order = await self._order(
            bot,
            symbol,
            base,
            quote,
            price=price,
            reason=reason,
            levels=levels,
            webhook_log_id=webhook_log_id,
            take_profit=take_profit,
        )
        if isinstance(order, ExecutionResult):
            return order
        step = await self._step(order, stored, decision, None)
        if isinstance(step, ExecutionResult):
            return step
        if isinstance(step, _Refused):
            return await self._record_refusal(step)
        try:
            return await self._finish(step)
        except repo.ConcurrentUpdate:
            raise PositionBusy(f"{bot.name} {symbol} position changed meanwhile") from None

    async def _plan(
        self,
        order: _Order,
        stored: repo.StoredPosition | None,
        decision: Decision,
        now: datetime,
    ) -> OrderPlan | ExecutionResult:
        """The order the decision needs on the position as stored, or why there is none."""
        bot, symbol = order.bot, order.symbol
        if stored is not None and stored.claimed_by_other(None, now, self.claim_ttl):
            raise PositionBusy(
                f"{bot.name} {symbol} position is already being closed "
                f"(order {stored.closing_token})"
            )
        position = stored.state if stored else None
        # The bot's own size matters only to a buy or sell without qty: a close (a stop-loss,
        # say) does not wait on the broker's balances, nor fail with them.
        sized = decision.target is None and decision.signal in ("buy", "sell")
        default_qty = (
            await self._default_qty(bot, order.price, order.quote)
            if sized and decision.qty is None
            else None
        )
        plan: OrderPlan | Skip
        if decision.target is not None:
            plan = plan_target(
                position, decision.target, direction=bot.direction, max_entries=bot.max_entries
            )
        else:
            assert decision.signal is not None
            plan = plan_order(
                position,
                decision.signal,
                qty=decision.qty,
                default_qty=default_qty,
                direction=bot.direction,
                max_entries=bot.max_entries,
            )
        if isinstance(plan, Skip):
            return ExecutionResult(status="ignored", reason=plan.reason, bot=bot.name)
        if plan.qty <= 0:
            return ExecutionResult(
                status="ignored", reason="order size rounds to zero", bot=bot.name
            )
        # Only what opens is bounded: a close of any stored position always goes through, and a
        # reversal whose new position would be too large closes and stays flat.
        held = position.qty if position is not None and plan.close_qty == 0 else Decimal(0)
        too_large = plan.open_qty and notional_error(held + plan.open_qty, order.price)
        if too_large and plan.close_qty > 0:
            assert position is not None
            intent: Intent = "close" if plan.close_qty >= position.qty else "reduce"
            log.info("reversal kept to its close bot=%s symbol=%s: %s", bot.name, symbol, too_large)
            note = f"no new position: {too_large}"
            return OrderPlan(plan.side, plan.close_qty, intent, plan.close_qty, Decimal(0), note)
        if too_large:
            return ExecutionResult(status="rejected", reason=too_large, bot=bot.name)
        return plan

    def _request(self, order: _Order, plan: OrderPlan) -> OrderRequest:
        return OrderRequest(
            client_order_id=f"tb{order.bot.id}-{uuid.uuid4().hex[:24]}",
            symbol=order.symbol,
            base=order.base,
            quote=order.quote,
            side=plan.side,
            qty=plan.qty,
            price=order.price,
            open_qty=plan.open_qty,
        )

    def _order_row(self, order: _Order, plan: OrderPlan, client_order_id: str) -> dict[str, Any]:
        return {
            "client_order_id": client_order_id,
            "bot_id": order.bot.id,
            "symbol": order.symbol,
            "side": plan.side,
            "qty": plan.qty,
            "price": order.price,
            "broker": self.broker.name,
            "intent": plan.intent,
            "reason": order.reason,
            "webhook_log_id": order.webhook_log_id,
        }

    async def _send(
        self,
        order: _Order,
        stored: repo.StoredPosition | None,
        plan: OrderPlan,
        now: datetime,
        alert_log: AlertLog | None,
    ) -> ExecutionResult:
        """An order to a broker that answers over the network: its row is written (and a
        position it closes claimed) before the call, and completed after."""
        bot, symbol = order.bot, order.symbol
        request = self._request(order, plan)
        client_order_id = request.client_order_id
        claim = None
        if stored is not None and plan.close_qty > 0:
            if stored.closing_token is not None:
                await self._take_over(bot, symbol, stored)
            claim = repo.Claim(stored.id, stored.version, client_order_id, now, self.claim_ttl)
        try:
            order_id = await repo.create_order(
                claim=claim,
                running_alert=alert_log.id if alert_log is not None else None,
                **self._order_row(order, plan, client_order_id),
            )
        except repo.PositionClaimed:
            raise PositionBusy(
                f"{bot.name} {symbol} position is already being closed, or changed meanwhile"
            ) from None
        except repo.AlertTaken:  # nothing was sent: another process's recovery runs the alert
            return self._taken_over(order)
        try:
            fill = await self.broker.place_order(request)
        except BrokerRefusal as exc:
            await repo.finish_order(order_id, "rejected", exc.user_message)
            if claim is not None:
                await repo.release_claim(claim.position_id, claim.token)
            return self._refused_order(order, plan, client_order_id, exc.user_message)
        except BrokerUnavailable as exc:
            # The order may exist: the claim stays until it expires, and is then taken over only
            # if the broker confirms it has no such order (`_take_over`).
            self.events.publish(
                OrderFinished(bot=bot.name, symbol=symbol, status="unknown", intent=plan.intent)
            )
            log.warning(
                "broker unavailable bot=%s symbol=%s order=%s: %s",
                bot.name,
                symbol,
                client_order_id,
                exc.user_message,
            )
            return self._refuse(
                bot, symbol, f"broker unavailable, order {client_order_id} will be reconciled"
            )
        try:
            stored_fill = await self._store_fill(
                order,
                order_id,
                plan,
                fill,
                stored,
                claim=claim.token if claim else None,
                alert_log=alert_log,
            )
        except _SettledElsewhere:
            return await self._settled_elsewhere(order, plan, client_order_id, order_id)
        return self._filled(order, plan, fill, client_order_id, stored_fill)

    async def _settled_elsewhere(
        self, order: _Order, plan: OrderPlan, client_order_id: str, order_id: int
    ) -> ExecutionResult:
        """The order's fill was stored (or the order failed) by someone else meanwhile, a
        reconciliation of a slow order, say: the answer says what the stored order says, so
        answer, log row and orders agree (`executed` only with a filled order)."""
        row = await repo.order_by_id(order_id)
        bot, symbol = order.bot, order.symbol
        log.warning(
            "order settled elsewhere bot=%s symbol=%s order=%s status=%s",
            bot.name,
            symbol,
            client_order_id,
            row.status,
        )
        if row.status != "filled":
            # The broker filled it, but it was marked failed meanwhile (a claim taken over, a
            # reconciliation that did not find it): the books disagree with the exchange.
            log.error(
                "filled order stored as %s bot=%s symbol=%s order=%s: holdings need checking",
                row.status,
                bot.name,
                symbol,
                client_order_id,
            )
            self.events.publish(
                ErrorEvent(
                    where=f"order {client_order_id} ({bot.name} {symbol})",
                    message=f"the broker filled it but it is stored as {row.status}: "
                    f"check the holdings (/status)",
                )
            )
            return self._refuse(
                bot, symbol, f"order {client_order_id} was {row.status} ({row.error or 'no fill'})"
            )
        return ExecutionResult(
            status="executed",
            reason=f"{order.answer_reason(plan)} (fill stored by reconciliation)",
            bot=bot.name,
            order={
                "id": order_id,
                "client_order_id": client_order_id,
                "side": plan.side,
                "qty": _plain(row.filled_qty),
                "price": _plain(row.avg_fill_price),
                "fee": _plain(row.fee),
                "intent": plan.intent,
                "status": "filled",
            },
        )

    async def _fill_instantly(
        self,
        order: _Order,
        stored: repo.StoredPosition | None,
        plan: OrderPlan,
        alert_log: AlertLog | None,
    ) -> ExecutionResult | _InFlight | _Refused:
        """An order to a broker that fills in-process (the paper broker): nothing happens
        outside until it is stored, so the order row and its fill are written together, in one
        transaction, queued to the writer; `_finish` waits for its commit. No claim is needed:
        a position that moved meanwhile fails the transaction (ConcurrentUpdate) and nothing
        was traded. An expired claim (a crashed closer's, or one from before the broker filled
        instantly) is taken over and cleared by the fill."""
        stale = None
        if stored is not None and stored.closing_token is not None:
            await self._take_over(order.bot, order.symbol, stored)
            stale = stored.closing_token
        request = self._request(order, plan)
        row = self._order_row(order, plan, request.client_order_id)
        try:
            fill = await self.broker.place_order(request)
        except BrokerRefusal as exc:  # stored once final (`_settle`: not if planned again)
            return _Refused(order, plan, row, exc.user_message)
        outcome, stops, rows = self._fill_rows(
            order,
            plan,
            fill,
            stored,
            break_even=await self._break_even(order),
            claim=stale,
            alert_log=alert_log,
        )
        key = f"{order.bot.id}:{order.symbol}"
        # `stored` is this entry's state when the entry is still here (see `_position`)
        previous = self._in_flight.get(key)
        pending = await repo.submit_fill(
            order_id=None,
            new_order=row,
            follows=previous.write.batch if previous is not None else None,
            **rows,
        )
        self._in_flight[key] = pending
        self.broker.hold_pending(order.quote, *pending.write.account_moves, pending.future)
        return _InFlight(
            order, plan, fill, request.client_order_id, outcome, stops, pending, alert_log
        )

    async def _record_refusal(self, step: _Refused) -> ExecutionResult:
        """An instant broker's refusal, once final: its order row (rejected, with the reason)."""
        await repo.create_order(**step.row, refused=step.reason)
        return self._refused_order(step.order, step.plan, step.row["client_order_id"], step.reason)

    async def _finish(self, step: _InFlight) -> ExecutionResult:
        """Wait for an instant fill's commit, then report it (ConcurrentUpdate: not stored)."""
        position_id, order_id = await step.pending.stored()
        if step.alert_log is not None:  # the alert's outcome was written with the fill
            step.alert_log.finished = True
        stored_fill = _StoredFill(step.outcome, position_id, step.stops, order_id)
        return self._filled(step.order, step.plan, step.fill, step.client_order_id, stored_fill)

    def _refused_order(
        self, order: _Order, plan: OrderPlan, client_order_id: str, reason: str
    ) -> ExecutionResult:
        bot, symbol = order.bot, order.symbol
        self.events.publish(
            OrderFinished(bot=bot.name, symbol=symbol, status="rejected", intent=plan.intent)
        )
        log.info(
            "order refused bot=%s symbol=%s order=%s reason=%s",
            bot.name,
            symbol,
            client_order_id,
            reason,
        )
        return self._refuse(bot, symbol, reason)

    def _filled(
        self,
        order: _Order,
        plan: OrderPlan,
        fill: OrderFill,
        client_order_id: str,
        stored_fill: _StoredFill,
    ) -> ExecutionResult:
        bot, symbol = order.bot, order.symbol
        outcome = stored_fill.outcome
        self.events.publish(
            OrderFinished(bot=bot.name, symbol=symbol, status="filled", intent=plan.intent)
        )
        self._publish(bot, symbol, order.quote, outcome, order.reason, stored_fill.stops)
        log.info(
            "order filled bot=%s symbol=%s order=%s side=%s qty=%s price=%s intent=%s",
            bot.name,
            symbol,
            client_order_id,
            plan.side,
            fill.qty,
            fill.price,
            plan.intent,
        )
        return ExecutionResult(
            status="executed",
            reason=order.answer_reason(plan),
            bot=bot.name,
            position=self._position_answer(stored_fill.position_id, outcome.position, symbol),
            order={
                "id": stored_fill.order_id,
                "client_order_id": client_order_id,
                "side": plan.side,
                "qty": _plain(fill.qty),
                "price": _plain(fill.price),
                "fee": _plain(fill.fee),
                "intent": plan.intent,
                "status": "filled",
                **({"trade_pnl": _plain(outcome.closed.pnl)} if outcome.closed is not None else {}),
            },
        )

    @staticmethod
    async def _break_even(order: _Order) -> bool:
        """Whether a take-profit fill moves the stop to break-even (the bot's setting)."""
        return order.take_profit is not None and await repo.break_even_after_tp1(order.bot.id)

    @staticmethod
    def _fill_rows(
        order: _Order,
        plan: OrderPlan,
        fill: OrderFill,
        stored: repo.StoredPosition | None,
        *,
        break_even: bool,
        claim: str | None,
        alert_log: AlertLog | None,
    ) -> tuple[FillOutcome, Protection, dict[str, Any]]:
        """The fill applied to `stored`: the outcome, the stops after it, and what
        `repo.fill_write` stores of it (with the alert's outcome for its log row, written in
        the fill's transaction); the order is the caller's to name."""
        bot = order.bot
        outcome = _apply(stored.state if stored else None, plan, fill)
        stops = protection_after_fill(
            bot_levels=(bot.sl, bot.tp, bot.trail),
            alert=order.levels,
            outcome=outcome,
            before=stored.protection if stored else None,
            reference_price=order.price,
            take_profit_filled=order.take_profit,
            break_even=break_even,
        )
        finish_log = None
        if alert_log is not None:
            finish_log = (
                alert_log.id,
                {
                    "status": "executed",
                    "reason": order.answer_reason(plan),
                    "finished_at": datetime.now(UTC),
                    **({} if alert_log.answered_late() else {"http_status": 200}),
                },
            )
        rows = {
            "fill": fill,
            "side": plan.side,
            "bot_id": bot.id,
            "symbol": order.symbol,
            "quote": order.quote,
            "before": stored,
            "outcome": outcome,
            "reason": order.reason,
            "stops": stops,
            "claim": claim,
            "finish_log": finish_log,
        }
        return outcome, stops, rows

    async def _store_fill(
        self,
        order: _Order,
        order_id: int,
        plan: OrderPlan,
        fill: OrderFill,
        stored: repo.StoredPosition | None,
        *,
        claim: str | None,
        alert_log: AlertLog | None = None,
    ) -> _StoredFill:
        """Apply the fill of an order sent over the network; if another process moved the
        position meanwhile, apply it again to the fresh state: the fill happened, so it must
        be accounted for exactly once (for up to `busy_patience` seconds; past them, or if
        the order was settled by someone else, reconciliation settles it)."""
        bot, symbol = order.bot, order.symbol
        break_even = await self._break_even(order)
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self.busy_patience
        failures = 0
        while True:
            outcome, stops, rows = self._fill_rows(
                order, plan, fill, stored, break_even=break_even, claim=claim, alert_log=alert_log
            )
            try:
                position_id, stored_order_id = await repo.record_fill(order_id=order_id, **rows)
                if alert_log is not None:
                    alert_log.finished = True
                return _StoredFill(outcome, position_id, stops, stored_order_id)
            except repo.OrderSettled:
                raise _SettledElsewhere from None
            except repo.ConcurrentUpdate:
                failures += 1
                if loop.time() >= give_up_at:
                    raise RuntimeError(
                        f"could not store fill of order {order_id}: position {symbol} busy"
                    ) from None
                log.warning(
                    "position moved, applying fill again bot=%s symbol=%s attempt=%d",
                    bot.name,
                    symbol,
                    failures,
                )
                if failures > 1:
                    await asyncio.sleep(_pause(failures))
                stored = await repo.load_position(bot.id, symbol)

    async def _take_over(self, bot: BotConfig, symbol: str, stored: repo.StoredPosition) -> None:
        """An expired claim: its order must be known not to exist before another is sent."""
        token = stored.closing_token
        assert token is not None
        order = await repo.pending_order(token)
        if order is None:
            return  # the order it guarded is settled: a stale claim, nothing to fear
        look_up = getattr(self.broker, "fetch_order_in", None)  # brokers that need the market
        try:
            fill = await (look_up(symbol, token) if look_up else self.broker.fetch_order(token))
        except TradingError as exc:
            raise PositionBusy(
                f"{bot.name} {symbol}: order {token} of an earlier close is in an unknown state "
                f"({exc.user_message}); reconciliation will settle it"
            ) from None
        if fill is not None:
            raise PositionBusy(
                f"{bot.name} {symbol}: order {token} of an earlier close filled at the broker "
                f"and is not stored yet; reconciliation will store it"
            )
        await repo.finish_order(order.id, "failed", "claim expired; the broker has no such order")
        log.warning(
            "took over an expired closing claim bot=%s symbol=%s order=%s", bot.name, symbol, token
        )

    def _refuse(self, bot: BotConfig, symbol: str, reason: str) -> ExecutionResult:
        self.events.publish(AlertRefused(bot=bot.name, symbol=symbol, reason=reason))
        return ExecutionResult(status="rejected", reason=reason, bot=bot.name)

    @staticmethod
    def _position_answer(
        position_id: int | None, state: PositionState | None, symbol: str
    ) -> dict[str, Any] | None:
        if state is None:
            return None
        return {
            "id": position_id,
            "symbol": symbol,
            "side": state.side,
            "qty": _plain(state.qty),
            "avg_price": _plain(state.avg_price),
            "entries": state.entries,
            "realized_pnl": _plain(state.realized_pnl),
        }

    def _publish(
        self,
        bot: BotConfig,
        symbol: str,
        quote: str,
        outcome: FillOutcome,
        reason: str,
        stops: Protection,
    ) -> None:
        for leg in outcome.legs:
            if leg.kind == "open" and outcome.position is not None:
                self.events.publish(
                    PositionOpened(
                        bot=bot.name,
                        symbol=symbol,
                        quote=quote,
                        side=outcome.position.side,
                        qty=leg.qty,
                        price=leg.price,
                        fee=leg.fee,
                        sl=stops.sl,
                        tp=stops.tp,
                    )
                )
            elif leg.kind == "add" and outcome.position is not None:
                self.events.publish(
                    PositionAdded(
                        bot=bot.name,
                        symbol=symbol,
                        quote=quote,
                        side=outcome.position.side,
                        qty=leg.qty,
                        price=leg.price,
                        fee=leg.fee,
                        total_qty=outcome.position.qty,
                        avg_price=outcome.position.avg_price,
                        entries=outcome.position.entries,
                    )
                )
            elif leg.kind == "reduce" and outcome.position is not None:
                self.events.publish(
                    PositionReduced(
                        bot=bot.name,
                        symbol=symbol,
                        quote=quote,
                        side=outcome.position.side,
                        qty=leg.qty,
                        price=leg.price,
                        fee=leg.fee,
                        remaining_qty=outcome.position.qty,
                        gross_pnl=leg.gross_pnl,
                        reason=reason,
                    )
                )
            elif leg.kind == "close" and outcome.closed is not None:
                self.events.publish(
                    PositionClosed(
                        bot=bot.name,
                        symbol=symbol,
                        quote=quote,
                        reason=reason,
                        **outcome.closed.fields(),
                    )
                )


def _pause(failures: int) -> float:
    """A random pause before planning a busy alert again, growing with its failures."""
    return random.uniform(0, min(0.002 * 2 ** min(failures, 16), MAX_BUSY_PAUSE))


async def _committed(future: asyncio.Future[Any]) -> bool:
    """Whether the fill behind `future` was stored (waits for its commit)."""
    try:
        await asyncio.shield(future)
    except Exception:
        return False
    return True


def _apply(position: PositionState | None, plan: OrderPlan, fill: OrderFill) -> FillOutcome:
    return apply_fill(position, Fill(plan.side, fill.qty, fill.price, fill.fee, fill.time))


__all__ = ["Action", "InvalidRequest", "PositionBusy", "TradingService"]
