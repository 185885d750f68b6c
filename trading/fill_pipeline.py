"""The commit pipeline: an order planned (`trading.planning`) is sent, and its fill stored once.

Two kinds of broker. One that answers over the network has its order row written (and a position
it closes claimed) before the call, and its fill stored after, again on a fresh position if
another process moved it meanwhile (`send`, `store_fill`). One that fills in-process (the paper
broker) has its order row and fill written together, queued to the writer (`fill_instantly`):
the next order on the position is planned on the state this fill leaves while its commit is on
the way (`position`), and is not stored unless that fill is (`FillRecord.follows`).

Every fill is stored with its position, entries and trade in one transaction (`OrderStore`), and
published as events once stored.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from trading.answers import AlertLog, order_answer, position_answer, rejected, taken_over
from trading.bots import BotConfig
from trading.brokers.base import BaseBroker, OrderFill
from trading.errors import BrokerRefusal, BrokerUnavailable, TradingError
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
from trading.planning import OrderSpec, fill_effects, order_request, order_row
from trading.ports import PendingFill, Stores
from trading.positions import FillOutcome, OrderPlan
from trading.protection import Protection
from trading.records import (
    AlertTaken,
    Claim,
    ConcurrentUpdate,
    FillRecord,
    NewOrder,
    OrderSettled,
    PositionClaimed,
    StoredPosition,
)
from trading.views import ExecutionResult

log = logging.getLogger(__name__)

MAX_BUSY_PAUSE = 0.25  # the longest pause between two plans of a busy alert, in seconds


class PositionBusy(TradingError):
    """Someone else is closing the position (its claim is held), or it changed meanwhile."""


class SettledElsewhere(Exception):
    """The pending order whose fill was being stored was settled by someone else."""


@dataclass(frozen=True, slots=True)
class InFlight:
    """An instant fill queued to the writer: what to report once it is committed."""

    order: OrderSpec
    plan: OrderPlan
    fill: OrderFill
    client_order_id: str
    outcome: FillOutcome
    stops: Protection
    pending: PendingFill
    alert_log: AlertLog | None


@dataclass(frozen=True, slots=True)
class Refused:
    """An instant broker's refusal, recorded once it is final."""

    order: OrderSpec
    plan: OrderPlan
    row: NewOrder
    reason: str


@dataclass(frozen=True, slots=True)
class Busy:
    """A plan that sent nothing because the position is busy (PositionBusy): planned again."""

    reason: str


@dataclass(frozen=True, slots=True)
class StoredFill:
    outcome: FillOutcome
    position_id: int | None
    stops: Protection
    order_id: int


def pause(failures: int) -> float:
    """A random pause before planning a busy alert again, growing with its failures."""
    return random.uniform(0, min(0.002 * 2 ** min(failures, 16), MAX_BUSY_PAUSE))


async def committed(future: asyncio.Future[Any]) -> bool:
    """Whether the fill behind `future` was stored (waits for its commit)."""
    try:
        await asyncio.shield(future)
    except Exception:
        return False
    return True


class FillPipeline:
    """Sends planned orders to the broker and stores their fills, one commit each."""

    def __init__(
        self,
        broker: BaseBroker,
        events: EventSink,
        stores: Stores,
        *,
        claim_ttl: float,
        busy_patience: float,
    ) -> None:
        self.broker = broker
        self.events = events
        self.stores = stores
        self.claim_ttl = claim_ttl
        self.busy_patience = busy_patience
        # "bot:symbol" -> the last instant fill queued on the position and not known committed:
        # the state it leaves (`after`), its commit (`future`); a fill planned on that state
        # follows it (not stored without it)
        self._in_flight: dict[str, PendingFill] = {}

    # ------------------------------------------------------------ the position planned on

    async def position(
        self, bot_id: int, symbol: str
    ) -> tuple[StoredPosition | None, asyncio.Future[Any] | None]:
        """The position as the last order planned on it leaves it, and the commit it waits
        for: the in-flight state while that order's fill (an instant one, queued to the writer)
        is not committed, else as stored (and None). A fill planned on an in-flight state is not
        stored unless that state is (`FillRecord.follows`); any other outcome planned on it
        waits for it (`TradingService._settle`), and both are planned again if it was not
        stored."""
        key = f"{bot_id}:{symbol}"
        in_flight = self._in_flight.get(key)
        if in_flight is not None:
            if not in_flight.future.done():
                return in_flight.after, in_flight.future
            del self._in_flight[key]
        return await self.stores.positions.load_position(bot_id, symbol), None

    async def stored_position(self, bot_id: int, symbol: str) -> StoredPosition | None:
        """The position as stored, once a fill in flight on it is committed (or not)."""
        _stored, basis = await self.position(bot_id, symbol)
        if basis is not None:
            await asyncio.wait([basis])
            return (await self.position(bot_id, symbol))[0]
        return _stored

    # ------------------------------------------------------------ over the network

    async def send(
        self,
        order: OrderSpec,
        stored: StoredPosition | None,
        plan: OrderPlan,
        now: datetime,
        alert_log: AlertLog | None,
    ) -> ExecutionResult:
        """An order to a broker that answers over the network: its row is written (and a
        position it closes claimed) before the call, and completed after."""
        bot, symbol = order.bot, order.symbol
        orders = self.stores.orders
        request = order_request(order, plan)
        client_order_id = request.client_order_id
        claim = None
        if stored is not None and plan.close_qty > 0:
            if stored.closing_token is not None:
                await self.take_over(bot, symbol, stored)
            claim = Claim(stored.committed_id, stored.version, client_order_id, now, self.claim_ttl)
        try:
            order_id = await orders.create_order(
                order_row(order, plan, client_order_id, self.broker.name),
                claim=claim,
                running_alert=alert_log.id if alert_log is not None else None,
            )
        except PositionClaimed:
            raise PositionBusy(
                f"{bot.name} {symbol} position is already being closed, or changed meanwhile"
            ) from None
        except AlertTaken:  # nothing was sent: another process's recovery runs the alert
            return self.taken_over(order)
        try:
            fill = await self.broker.place_order(request)
        except BrokerRefusal as exc:
            await orders.finish_order(order_id, "rejected", exc.user_message)
            if claim is not None:
                await self.stores.positions.release_claim(claim.position_id, claim.token)
            return self.refused_order(order, plan, client_order_id, exc.user_message)
        except BrokerUnavailable as exc:
            # The order may exist: the claim stays until it expires, and is then taken over only
            # if the broker confirms it has no such order (`take_over`).
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
            return self.refuse(
                bot, symbol, f"broker unavailable, order {client_order_id} will be reconciled"
            )
        try:
            stored_fill = await self.store_fill(
                order,
                order_id,
                plan,
                fill,
                stored,
                claim=claim.token if claim else None,
                alert_log=alert_log,
            )
        except SettledElsewhere:
            return await self._settled_elsewhere(order, plan, client_order_id, order_id)
        return self.filled(order, plan, fill, client_order_id, stored_fill)

    async def _settled_elsewhere(
        self, order: OrderSpec, plan: OrderPlan, client_order_id: str, order_id: int
    ) -> ExecutionResult:
        """The order's fill was stored (or the order failed) by someone else meanwhile, a
        reconciliation of a slow order, say: the answer says what the stored order says, so
        answer, log row and orders agree (`executed` only with a filled order)."""
        row = await self.stores.orders.order_by_id(order_id)
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
            return self.refuse(
                bot, symbol, f"order {client_order_id} was {row.status} ({row.error or 'no fill'})"
            )
        return ExecutionResult(
            status="executed",
            reason=f"{order.answer_reason(plan)} (fill stored by reconciliation)",
            bot=bot.name,
            order=order_answer(
                order_id, client_order_id, plan, row.filled_qty, row.avg_fill_price, row.fee
            ),
        )

    async def store_fill(
        self,
        order: OrderSpec,
        order_id: int,
        plan: OrderPlan,
        fill: OrderFill,
        stored: StoredPosition | None,
        *,
        claim: str | None,
        alert_log: AlertLog | None = None,
    ) -> StoredFill:
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
            outcome, stops, record = self._fill_record(
                order,
                plan,
                fill,
                stored,
                break_even=break_even,
                claim=claim,
                alert_log=alert_log,
                order_id=order_id,
            )
            try:
                position_id, stored_order_id = await self.stores.orders.record_fill(record)
                if alert_log is not None:
                    alert_log.finished = True
                return StoredFill(outcome, position_id, stops, stored_order_id)
            except OrderSettled:
                raise SettledElsewhere from None
            except ConcurrentUpdate:
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
                    await asyncio.sleep(pause(failures))
                stored = await self.stores.positions.load_position(bot.id, symbol)

    async def take_over(self, bot: BotConfig, symbol: str, stored: StoredPosition) -> None:
        """An expired claim: its order must be known not to exist before another is sent."""
        token = stored.closing_token
        assert token is not None
        order = await self.stores.orders.pending_order(token)
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
        await self.stores.orders.finish_order(
            order.id, "failed", "claim expired; the broker has no such order"
        )
        log.warning(
            "took over an expired closing claim bot=%s symbol=%s order=%s", bot.name, symbol, token
        )

    # ------------------------------------------------------------ in-process fills

    async def fill_instantly(
        self,
        order: OrderSpec,
        stored: StoredPosition | None,
        plan: OrderPlan,
        alert_log: AlertLog | None,
    ) -> ExecutionResult | InFlight | Refused:
        """An order to a broker that fills in-process (the paper broker): nothing happens
        outside until it is stored, so the order row and its fill are written together, in one
        transaction, queued to the writer; `finish` waits for its commit. No claim is needed:
        a position that moved meanwhile fails the transaction (ConcurrentUpdate) and nothing
        was traded. An expired claim (a crashed closer's, or one from before the broker filled
        instantly) is taken over and cleared by the fill."""
        stale = None
        if stored is not None and stored.closing_token is not None:
            await self.take_over(order.bot, order.symbol, stored)
            stale = stored.closing_token
        request = order_request(order, plan)
        row = order_row(order, plan, request.client_order_id, self.broker.name)
        try:
            fill = await self.broker.place_order(request)
        except BrokerRefusal as exc:  # stored once final (`_settle`: not if planned again)
            return Refused(order, plan, row, exc.user_message)
        key = f"{order.bot.id}:{order.symbol}"
        # `stored` is this entry's state when the entry is still here (see `position`)
        outcome, stops, record = self._fill_record(
            order,
            plan,
            fill,
            stored,
            break_even=await self._break_even(order),
            claim=stale,
            alert_log=alert_log,
            new_order=row,
            follows=self._in_flight.get(key),
        )
        pending = await self.stores.orders.submit_fill(record)
        self._in_flight[key] = pending
        self.broker.hold_pending(order.quote, *pending.account_moves, pending.future)
        return InFlight(
            order, plan, fill, request.client_order_id, outcome, stops, pending, alert_log
        )

    async def record_refusal(self, step: Refused) -> ExecutionResult:
        """An instant broker's refusal, once final: its order row (rejected, with the reason)."""
        await self.stores.orders.create_order(step.row, refused=step.reason)
        return self.refused_order(step.order, step.plan, step.row.client_order_id, step.reason)

    async def finish(self, step: InFlight) -> ExecutionResult:
        """Wait for an instant fill's commit, then report it (ConcurrentUpdate: not stored)."""
        position_id, order_id = await step.pending.stored()
        if step.alert_log is not None:  # the alert's outcome was written with the fill
            step.alert_log.finished = True
        stored_fill = StoredFill(step.outcome, position_id, step.stops, order_id)
        return self.filled(step.order, step.plan, step.fill, step.client_order_id, stored_fill)

    # ------------------------------------------------------------ what is stored

    async def _break_even(self, order: OrderSpec) -> bool:
        """Whether a take-profit fill moves the stop to break-even (the bot's setting)."""
        return order.take_profit is not None and await self.stores.bots.break_even_after_tp1(
            order.bot.id
        )

    @staticmethod
    def _fill_record(
        order: OrderSpec,
        plan: OrderPlan,
        fill: OrderFill,
        stored: StoredPosition | None,
        *,
        break_even: bool,
        claim: str | None,
        alert_log: AlertLog | None,
        order_id: int | None = None,
        new_order: NewOrder | None = None,
        follows: PendingFill | None = None,
    ) -> tuple[FillOutcome, Protection, FillRecord]:
        """The fill applied to `stored`: the outcome, the stops after it, and what the order
        store writes of it (with the alert's outcome for its log row, written in the fill's
        transaction); the order is the pending row `order_id`, or `new_order` inserted."""
        outcome, stops = fill_effects(order, plan, fill, stored, break_even=break_even)
        record = FillRecord(
            order_id=order_id,
            fill=fill,
            side=plan.side,
            bot_id=order.bot.id,
            symbol=order.symbol,
            quote=order.quote,
            before=stored,
            outcome=outcome,
            reason=order.reason,
            stops=stops,
            claim=claim,
            finish_log=(
                alert_log.executed(order.answer_reason(plan)) if alert_log is not None else None
            ),
            new_order=new_order,
            follows=follows,
        )
        return outcome, stops, record

    # ------------------------------------------------------------ answers and events

    def refuse(self, bot: BotConfig, symbol: str, reason: str) -> ExecutionResult:
        self.events.publish(AlertRefused(bot=bot.name, symbol=symbol, reason=reason))
        return rejected(bot.name, reason)

    def taken_over(self, order: OrderSpec) -> ExecutionResult:
        log.warning(
            "alert taken over by another process's recovery bot=%s symbol=%s log=%s",
            order.bot.name,
            order.symbol,
            order.webhook_log_id,
        )
        return taken_over(order.bot.name)

    def refused_order(
        self, order: OrderSpec, plan: OrderPlan, client_order_id: str, reason: str
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
        return self.refuse(bot, symbol, reason)

    def filled(
        self,
        order: OrderSpec,
        plan: OrderPlan,
        fill: OrderFill,
        client_order_id: str,
        stored_fill: StoredFill,
    ) -> ExecutionResult:
        bot, symbol = order.bot, order.symbol
        outcome = stored_fill.outcome
        self.events.publish(
            OrderFinished(bot=bot.name, symbol=symbol, status="filled", intent=plan.intent)
        )
        self.publish(bot, symbol, order.quote, outcome, order.reason, stored_fill.stops)
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
            position=position_answer(stored_fill.position_id, outcome.position, symbol),
            order=order_answer(
                stored_fill.order_id,
                client_order_id,
                plan,
                fill.qty,
                fill.price,
                fill.fee,
                outcome.closed.pnl if outcome.closed is not None else None,
            ),
        )

    def publish(
        self,
        bot: BotConfig,
        symbol: str,
        quote: str,
        outcome: FillOutcome,
        reason: str,
        stops: Protection,
    ) -> None:
        """The stored fill's events, one per leg (opened, added, reduced, closed)."""
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
