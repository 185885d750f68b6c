"""TradingService: the one path every trade takes, from a webhook, a chat button or the monitor.

decide (strategy) → plan (`trading.planning`) → write the order row → broker → store the fill
(order, position, entries, trade) in one transaction (`trading.fill_pipeline`) → publish events
→ answer (`trading.answers`).

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
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from trading.alerts import Action, Alert
from trading.answers import AlertLog, ignored, position_answer, rejected
from trading.bots import BotConfig, order_size
from trading.brokers.base import BaseBroker, OrderFill
from trading.brokers.reconcile import (
    HoldingsReport,
    ReconcileReport,
    check_holdings,
    reconcile_pending,
)
from trading.errors import InvalidRequest, NotFound, TradingError
from trading.events import ErrorEvent, EventSink, OrderFinished
from trading.fill_pipeline import (
    Busy,
    FillPipeline,
    InFlight,
    PositionBusy,
    Refused,
    committed,
    pause,
)
from trading.locks import ArrivalOrder, KeyedLocks
from trading.planning import OrderSpec, bounded, needs_bot_size, plan_decision
from trading.ports import Stores
from trading.positions import OrderPlan
from trading.protection import NO_LEVELS, AlertLevels, take_profit_qty
from trading.records import AlertTaken, ConcurrentUpdate, StoredPosition
from trading.risk import Refusal
from trading.risk_gate import NOTHING, Admission, Entry, RiskGate, plan_side
from trading.strategies.base import Decision, StrategyContext, follow_alert
from trading.strategy_runner import StrategyRunner
from trading.views import ExecutionResult

log = logging.getLogger(__name__)

DEFAULT_CLAIM_TTL = 60.0
# How long an alert waits for a busy position (moved by other processes' fills, or being closed
# by someone else) before it is refused with nothing traded: the default `max_lag`, past which
# an alert is stale. Past the answer timeout the sender has its 202 and the wait goes on in the
# background (`trading.intake`).
DEFAULT_BUSY_PATIENCE = 60.0


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


class TradingService:
    def __init__(
        self,
        broker: BaseBroker,
        events: EventSink,
        *,
        stores: Stores,
        locks: KeyedLocks | None = None,
        strategies: StrategyRunner | None = None,
        claim_ttl: float = DEFAULT_CLAIM_TTL,
        busy_patience: float = DEFAULT_BUSY_PATIENCE,
        risk: RiskGate | None = None,
    ) -> None:
        self.broker = broker
        self.risk = risk  # None: no risk rules (tests of the trade path alone)
        self.events = events
        self.stores = stores
        self.locks = locks or KeyedLocks()
        self.arrivals = ArrivalOrder()
        self.strategies = strategies or StrategyRunner(series=stores.series)
        self.watcher: PositionWatcher | None = None
        self.fills = FillPipeline(
            broker, events, stores, claim_ttl=claim_ttl, busy_patience=busy_patience
        )

    @property
    def claim_ttl(self) -> float:
        """Seconds after which another closer's claim on a position counts as a crashed one's."""
        return self.fills.claim_ttl

    @property
    def busy_patience(self) -> float:
        """Seconds an alert waits for a busy position before it is refused, nothing traded."""
        return self.fills.busy_patience

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
        give_up_at = loop.time() + self.fills.busy_patience  # from arrival: waiting a turn counts
        if not await self.arrivals.turn(key, ticket, give_up_at - loop.time()):
            return self._busy_too_long(bot, symbol, "alerts before it kept it busy")
        async with self.locks.hold(key):
            base, quote = await self.stores.prices.ensure_instrument(symbol)
            stored, basis = await self.fills.position(bot.id, symbol)
            decision = await self.strategies.decide(bot, alert, stored.state if stored else None)
            if decision.signal is None:
                return ignored(bot.name, decision.reason)
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
        # this fill leaves while its commit is on the way (`FillPipeline.position`).
        result = await self._settle(
            key, order, decision, step, basis, alert_log, ticket, give_up_at
        )
        await self._changed(bot, symbol, result)
        return result

    async def _settle(
        self,
        key: str,
        order: OrderSpec,
        decision: Decision,
        step: ExecutionResult | InFlight | Refused | Busy,
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
        fills = self.fills
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            busy = "it kept changing"
            if isinstance(step, Busy):
                busy = step.reason
            elif isinstance(step, ExecutionResult | Refused):
                if basis is None or await committed(basis):
                    if isinstance(step, Refused):
                        return await fills.record_refusal(step)
                    return step
            else:
                try:
                    return await fills.finish(step)
                except ConcurrentUpdate:
                    pass
                except AlertTaken:
                    return fills.taken_over(order)
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
                await asyncio.sleep(pause(failures))
            # an earlier alert still waiting goes first
            if not await self.arrivals.turn(key, ticket, give_up_at - loop.time()):
                return self._busy_too_long(bot, symbol, busy)
            async with self.locks.hold(key):
                stored, basis = await fills.position(bot.id, symbol)
                step = await self._attempt(order, stored, decision, alert_log)

    def _busy_too_long(self, bot: BotConfig, symbol: str, busy: str) -> ExecutionResult:
        """Past `busy_patience` seconds since the alert arrived (its turn and its retries): an
        alert that late would trade on a stale signal, so it is refused, nothing traded."""
        return self.fills.refuse(
            bot,
            symbol,
            f"{bot.name} {symbol} position stayed busy for {self.fills.busy_patience:g} s "
            f"({busy}); nothing was traded",
        )

    async def _attempt(
        self,
        order: OrderSpec,
        stored: StoredPosition | None,
        decision: Decision,
        alert_log: AlertLog | None,
    ) -> ExecutionResult | InFlight | Refused | Busy:
        """`_step` for an alert: a position someone else is closing (PositionBusy, raised
        before anything is sent) is a step to plan again, not an answer."""
        try:
            return await self._step(order, stored, decision, alert_log)
        except PositionBusy as exc:
            return Busy(exc.user_message)

    async def preview(self, bot: BotConfig, alert: Alert) -> str | None:
        """What the alert would send now as the risk rules allow it, changing nothing: the size
        an approval card shows before Approve ("buy 0.5 (sized by risk_per_trade 1%)", or the
        refusal). None when there is nothing to say (no rules touch it, or no plan)."""
        if self.risk is None:
            return None
        try:
            base, quote = await self.stores.prices.ensure_instrument(alert.symbol)
            stored = await self.fills.stored_position(bot.id, alert.symbol)
            position = stored.state if stored else None
            decision = follow_alert(StrategyContext(alert, position, bot.strategy_params))
            if decision.signal is None:
                return None
            levels = AlertLevels(alert.sl, alert.tp, alert.trail, tuple(alert.take_profits))
            price = alert.price or await self.stores.prices.last_price(alert.symbol, bot.id)
            if price is None:
                return None
            order = OrderSpec(bot, alert.symbol, base, quote, price, "signal", levels, None, None)
            default_qty = (
                await self._default_qty(bot, price, quote) if needs_bot_size(decision) else None
            )
            plan = plan_decision(order, position, decision, default_qty)
            if isinstance(plan, ExecutionResult) or plan.open_qty <= 0:
                return None
            allowed = await self.risk.preview(entry_of(order, plan), position, plan)
        except TradingError as exc:
            return exc.user_message
        if isinstance(allowed, Refusal):
            return allowed.reason
        if allowed.open_qty == plan.open_qty:
            return f"risk rules allow {allowed.side} {allowed.qty.normalize():f}"
        return f"risk rules allow {allowed.side} {allowed.qty.normalize():f} ({allowed.note})"

    async def run_stored_alert(
        self, bot: BotConfig, alert: Alert, log_id: int, alert_log: AlertLog | None = None
    ) -> ExecutionResult:
        """`execute_alert` for an alert stored as webhook log `log_id` (fresh from the intake,
        approved, or recovered): a refusal is a rejected result, and any other failure is
        logged, reported and answered as an internal error naming the row. Never raises."""
        try:
            return await self.execute_alert(bot, alert, webhook_log_id=log_id, alert_log=alert_log)
        except TradingError as exc:
            return rejected(bot.name, exc.user_message)
        except Exception as exc:
            log.exception("alert failed bot=%s symbol=%s log=%d", bot.name, alert.symbol, log_id)
            self.events.publish(
                ErrorEvent(where=f"alert #{log_id} ({bot.name})", message=type(exc).__name__)
            )
            return rejected(bot.name, f"internal error (webhook log #{log_id})")

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
            prices = self.stores.prices
            await prices.ensure_instrument(symbol)
            await prices.record_price(symbol, price, at, source, bot_id=bot_id)
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
            return ignored(bot.name, exc.user_message)

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
            stored = await self.fills.stored_position(bot.id, symbol)
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
            base, quote = await self.stores.prices.ensure_instrument(symbol)
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
            stored = await self.fills.stored_position(bot.id, symbol)
            if stored is None:
                raise NotFound(f"{bot.name} has no open {symbol} position")
            await self.stores.positions.update_stops(stored.committed_id, sl, tp, trail)
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
        report = await reconcile_pending(self.broker, await self.stores.orders.pending_orders())
        for order_id, fill in report.found:
            await self.store_reconciled_fill(order_id, fill)
        for resolution in report.failed:
            await self.fail_pending(resolution.order_id, resolution.detail)
        holdings = await check_holdings(self.broker, await self.stores.positions.list_positions())
        return report, holdings

    async def store_reconciled_fill(self, order_id: int, fill: OrderFill) -> ExecutionResult | None:
        """The fill of a pending order that reconciliation found at the broker, stored as
        `_trade` would have, onto the position as it is now; stops from the bot's defaults.
        None when the call that sent it stored it meanwhile (/status during an execution)."""
        orders = self.stores.orders
        order = await orders.order_by_id(order_id)
        bot = await self.stores.bots.bot_by_id(order.bot_id)
        symbol = order.symbol
        async with self.locks.hold(f"{bot.id}:{symbol}"):
            order = await orders.order_by_id(order_id)
            if order.status != "pending":
                return None
            base, quote = await self.stores.prices.ensure_instrument(symbol)
            stored = await self.stores.positions.load_position(bot.id, symbol)
            price = order.price or fill.price
            sent = OrderSpec(bot, symbol, base, quote, price, order.reason, NO_LEVELS, None, None)
            plan = OrderPlan(
                side=order.side,  # type: ignore[arg-type]
                qty=fill.qty,
                intent=order.intent,  # type: ignore[arg-type]
                close_qty=Decimal(0),
                open_qty=fill.qty,
            )
            claim = order.client_order_id
            stored_fill = await self.fills.store_fill(
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
        self.fills.publish(bot, symbol, quote, outcome, order.reason, stored_fill.stops)
        log.info("reconciled fill stored bot=%s symbol=%s order=%s", bot.name, symbol, claim)
        result = ExecutionResult(
            status="executed",
            reason="reconciled",
            bot=bot.name,
            position=position_answer(stored_fill.position_id, outcome.position, symbol),
        )
        await self._changed(bot, symbol, result)
        return result

    async def fail_pending(self, order_id: int, reason: str) -> None:
        """A pending order the broker never got: failed, and its claim on a position given back."""
        order = await self.stores.orders.order_by_id(order_id)
        await self.stores.orders.finish_order(order_id, "failed", reason)
        positions = self.stores.positions
        stored = await positions.load_position(order.bot_id, order.symbol)
        if stored is not None and stored.closing_token == order.client_order_id:
            await positions.release_claim(stored.committed_id, order.client_order_id)

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
    ) -> OrderSpec | ExecutionResult:
        """What an order will be for, or the refusal when no price is known."""
        if price is None:
            price = await self.stores.prices.last_price(symbol, bot.id)
        if price is None:
            return self.fills.refuse(
                bot, symbol, f"no price known for {symbol}: send price in the alert"
            )
        return OrderSpec(
            bot, symbol, base, quote, price, reason, levels, webhook_log_id, take_profit
        )

    async def _step(
        self,
        order: OrderSpec,
        stored: StoredPosition | None,
        decision: Decision,
        alert_log: AlertLog | None,
    ) -> ExecutionResult | InFlight | Refused:
        """Plan the decision's order on `stored` and send it: the outcome, an instant fill
        whose commit is on the way, or an instant broker's refusal not recorded yet."""
        now = datetime.now(UTC)
        plan, admission = await self._plan(order, stored, decision, now)
        if isinstance(plan, ExecutionResult):
            return plan
        step: ExecutionResult | InFlight | Refused
        try:
            if not self.broker.instant_fills:
                step = await self.fills.send(order, stored, plan, now, alert_log)
            else:
                step = await self.fills.fill_instantly(order, stored, plan, alert_log)
        except BaseException:
            await admission.release()
            raise
        if isinstance(step, InFlight):  # counted by the risk figures until it is stored
            admission.release_when(step.pending.future)
        else:
            await admission.release()
        return step

    async def _trade(
        self,
        bot: BotConfig,
        symbol: str,
        base: str,
        quote: str,
        stored: StoredPosition | None,
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
        if isinstance(step, Refused):
            return await self.fills.record_refusal(step)
        try:
            return await self.fills.finish(step)
        except ConcurrentUpdate:
            raise PositionBusy(f"{bot.name} {symbol} position changed meanwhile") from None

    async def _plan(
        self,
        order: OrderSpec,
        stored: StoredPosition | None,
        decision: Decision,
        now: datetime,
    ) -> tuple[OrderPlan | ExecutionResult, Admission]:
        """The order the decision needs on the position as stored, or why there is none; an
        entry as the risk rules allow it (`trading.risk_gate`), with its Admission."""
        bot = order.bot
        if stored is not None and stored.claimed_by_other(None, now, self.fills.claim_ttl):
            raise PositionBusy(
                f"{bot.name} {order.symbol} position is already being closed "
                f"(order {stored.closing_token})"
            )
        default_qty = (
            await self._default_qty(bot, order.price, order.quote)
            if needs_bot_size(decision)
            else None
        )
        position = stored.state if stored else None
        plan = plan_decision(order, position, decision, default_qty)
        if self.risk is None or isinstance(plan, ExecutionResult) or plan.open_qty <= 0:
            return plan, NOTHING
        allowed, admission = await self.risk.admit(entry_of(order, plan), position, plan, now=now)
        if isinstance(allowed, Refusal):
            return rejected(bot.name, allowed.reason), NOTHING
        if allowed is plan:
            return plan, admission
        checked = bounded(order, position, allowed)  # a risk-sized entry: the columns' bounds
        if isinstance(checked, ExecutionResult):
            await admission.release()
        return checked, admission


def entry_of(order: OrderSpec, plan: OrderPlan) -> Entry:
    """The entry the gate checks: the stop-loss it will have is the alert's, else the bot's."""
    level = order.levels.sl or order.bot.sl
    stop = level.stop_price(order.price, plan_side(plan)) if level is not None else None
    return Entry(order.bot, order.symbol, order.quote, order.price, stop)


__all__ = [
    "Action",
    "AlertLog",
    "InvalidRequest",
    "PositionBusy",
    "PositionWatcher",
    "TradingService",
    "observed_at",
]
