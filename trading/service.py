"""TradingService: the one path every trade takes, from a webhook, a chat button or the monitor.

decide (strategy) → plan (position rules) → write the order row → broker → store the fill
(order, position, entries, trade) in one transaction → publish events.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from db import repo
from trading.alerts import Action, Alert
from trading.bots import BotConfig
from trading.brokers.base import BaseBroker, OrderFill, OrderRequest
from trading.errors import BrokerRefusal, BrokerUnavailable, InvalidRequest, NotFound
from trading.events import (
    AlertRefused,
    EventSink,
    OrderFinished,
    PositionAdded,
    PositionClosed,
    PositionOpened,
    PositionReduced,
)
from trading.levels import Level
from trading.locks import KeyedLocks
from trading.positions import (
    Fill,
    FillOutcome,
    OrderPlan,
    PositionState,
    Skip,
    apply_fill,
    plan_order,
    plan_target,
    q12,
)
from trading.strategies.base import Decision
from trading.strategy_runner import StrategyRunner
from trading.views import ExecutionResult

log = logging.getLogger(__name__)

QTY_STEP = Decimal("1e-8")
MAX_STORE_ATTEMPTS = 5


def _plain(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


class TradingService:
    def __init__(
        self,
        broker: BaseBroker,
        events: EventSink,
        *,
        locks: KeyedLocks | None = None,
        strategies: StrategyRunner | None = None,
    ) -> None:
        self.broker = broker
        self.events = events
        self.locks = locks or KeyedLocks()
        self.strategies = strategies or StrategyRunner()

    # ------------------------------------------------------------ entry points

    async def execute_alert(
        self, bot: BotConfig, alert: Alert, *, webhook_log_id: int | None = None
    ) -> ExecutionResult:
        """Run a validated, accepted alert through the bot's strategy and the position rules."""
        symbol = alert.symbol
        async with self.locks.hold(f"{bot.id}:{symbol}"):
            base, quote = await repo.ensure_instrument(symbol)
            if alert.price is not None:
                await repo.record_price(symbol, alert.price, datetime.now(UTC), "alert")
            stored = await repo.load_position(bot.id, symbol)
            decision = await self.strategies.decide(bot, alert, stored.state if stored else None)
            if decision.signal is None:
                return ExecutionResult(status="ignored", reason=decision.reason, bot=bot.name)
            return await self._trade(
                bot,
                symbol,
                base,
                quote,
                stored,
                decision,
                price=alert.price,
                reason="signal",
                levels=(alert.sl, alert.tp, alert.trail),
                webhook_log_id=webhook_log_id,
            )

    async def close_position(
        self,
        bot: BotConfig,
        symbol: str,
        *,
        reason: str = "manual",
        qty: Decimal | None = None,
        price: Decimal | None = None,
    ) -> ExecutionResult:
        """Close (or reduce by `qty`) a position at market: chat buttons, CLI and the monitor."""
        async with self.locks.hold(f"{bot.id}:{symbol}"):
            stored = await repo.load_position(bot.id, symbol)
            if stored is None:
                raise NotFound(f"{bot.name} has no open {symbol} position")
            base, quote = await repo.ensure_instrument(symbol)
            return await self._trade(
                bot,
                symbol,
                base,
                quote,
                stored,
                Decision(signal="close", qty=qty),
                price=price,
                reason=reason,
                levels=(None, None, None),
                webhook_log_id=None,
            )

    async def close_all(self, *, reason: str = "manual") -> list[ExecutionResult]:
        results = []
        for position in await repo.list_positions():
            bot = await repo.bot_by_name(position.bot)
            try:
                results.append(await self.close_position(bot, position.symbol, reason=reason))
            except NotFound:
                continue
        return results

    # ------------------------------------------------------------ the path

    async def _default_qty(self, bot: BotConfig, price: Decimal, quote: str) -> Decimal:
        if bot.size_kind == "qty":
            return bot.size_value
        if bot.size_kind == "quote":
            amount = bot.size_value
        else:
            balances = {b.currency: b for b in await self.broker.balances()}
            equity = balances[quote].total if quote in balances else Decimal(0)
            amount = equity * bot.size_value / 100
        return (amount / price).quantize(QTY_STEP, rounding=ROUND_DOWN)

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
        levels: tuple[Level | None, Level | None, Level | None],
        webhook_log_id: int | None,
    ) -> ExecutionResult:
        if price is None:
            price = await repo.last_price(symbol)
        if price is None:
            return self._refuse(
                bot, symbol, f"no price known for {symbol}: send price in the alert"
            )
        position = stored.state if stored else None
        default_qty = await self._default_qty(bot, price, quote)
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

        client_order_id = f"tb{bot.id}-{uuid.uuid4().hex[:24]}"
        order_id = await repo.create_order(
            client_order_id=client_order_id,
            bot_id=bot.id,
            symbol=symbol,
            side=plan.side,
            qty=plan.qty,
            price=price,
            broker=self.broker.name,
            intent=plan.intent,
            reason=reason,
            webhook_log_id=webhook_log_id,
        )
        request = OrderRequest(
            client_order_id=client_order_id,
            symbol=symbol,
            base=base,
            quote=quote,
            side=plan.side,
            qty=plan.qty,
            price=price,
            open_qty=plan.open_qty,
        )
        try:
            fill = await self.broker.place_order(request)
        except BrokerRefusal as exc:
            await repo.finish_order(order_id, "rejected", exc.user_message)
            self.events.publish(
                OrderFinished(bot=bot.name, symbol=symbol, status="rejected", intent=plan.intent)
            )
            log.info(
                "order refused bot=%s symbol=%s order=%s reason=%s",
                bot.name,
                symbol,
                client_order_id,
                exc.user_message,
            )
            return self._refuse(bot, symbol, exc.user_message)
        except BrokerUnavailable as exc:
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

        outcome, position_id, stops = await self._store_fill(
            bot, symbol, quote, order_id, plan, fill, stored, reason, levels
        )
        self.events.publish(
            OrderFinished(bot=bot.name, symbol=symbol, status="filled", intent=plan.intent)
        )
        self._publish(bot, symbol, quote, outcome, reason, stops)
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
            reason=reason if reason != "signal" else plan.intent,
            bot=bot.name,
            position=self._position_answer(position_id, outcome.position, symbol),
            order={
                "id": order_id,
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

    async def _store_fill(
        self,
        bot: BotConfig,
        symbol: str,
        quote: str,
        order_id: int,
        plan: OrderPlan,
        fill: OrderFill,
        stored: repo.StoredPosition | None,
        reason: str,
        levels: tuple[Level | None, Level | None, Level | None],
    ) -> tuple[FillOutcome, int | None, tuple[Decimal | None, Decimal | None, str | None]]:
        """Apply the fill; if another process moved the position meanwhile, apply it again to
        the fresh state: the fill happened, so it must be accounted for exactly once."""
        for attempt in range(MAX_STORE_ATTEMPTS):
            outcome = _apply(stored.state if stored else None, plan, fill)
            stops = _stops(bot, levels, outcome, stored)
            try:
                position_id = await repo.record_fill(
                    order_id=order_id,
                    fill=fill,
                    side=plan.side,
                    bot_id=bot.id,
                    symbol=symbol,
                    quote=quote,
                    before=stored,
                    outcome=outcome,
                    reason=reason,
                    stops=stops,
                )
                return outcome, position_id, stops
            except repo.ConcurrentUpdate:
                log.warning(
                    "position moved, applying fill again bot=%s symbol=%s attempt=%d",
                    bot.name,
                    symbol,
                    attempt + 1,
                )
                stored = await repo.load_position(bot.id, symbol)
        raise RuntimeError(f"could not store fill of order {order_id} after retries")

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
        stops: tuple[Decimal | None, Decimal | None, str | None],
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
                        sl=stops[0],
                        tp=stops[1],
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
                trade = outcome.closed
                self.events.publish(
                    PositionClosed(
                        bot=bot.name,
                        symbol=symbol,
                        quote=quote,
                        side=trade.side,
                        qty=trade.qty,
                        entry_price=trade.entry_price,
                        exit_price=trade.exit_price,
                        pnl=trade.pnl,
                        fees=trade.fees,
                        opened_at=trade.opened_at,
                        closed_at=trade.closed_at,
                        reason=reason,
                    )
                )


def _apply(position: PositionState | None, plan: OrderPlan, fill: OrderFill) -> FillOutcome:
    return apply_fill(position, Fill(plan.side, fill.qty, fill.price, fill.fee, fill.time))


def _stops(
    bot: BotConfig,
    levels: tuple[Level | None, Level | None, Level | None],
    outcome: FillOutcome,
    stored: repo.StoredPosition | None,
) -> tuple[Decimal | None, Decimal | None, str | None]:
    """SL/TP prices: the alert's levels, else the bot's, from the (new) average entry price.
    A reduce keeps the stops the position had."""
    state = outcome.position
    if state is None:
        return None, None, None
    entering = any(leg.kind in ("open", "add") for leg in outcome.legs)
    if stored is not None and not entering and not outcome.reopened:
        return stored.sl, stored.tp, stored.trail
    sl_level = levels[0] or bot.sl
    tp_level = levels[1] or bot.tp
    trail_level = levels[2] or bot.trail
    sl = sl_level.stop_price(state.avg_price, state.side) if sl_level else None
    tp = tp_level.target_price(state.avg_price, state.side) if tp_level else None
    if stored is not None and not outcome.reopened:
        sl = sl if sl_level else stored.sl
        tp = tp if tp_level else stored.tp
    return (
        q12(sl) if sl is not None else None,
        q12(tp) if tp is not None else None,
        str(trail_level) if trail_level else None,
    )


__all__ = ["Action", "InvalidRequest", "TradingService"]
