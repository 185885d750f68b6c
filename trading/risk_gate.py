"""The one place an entry meets the risk rules and the kill switch (SPEC §6a).

`TradingService` plans every order the same way, whatever sent it (a webhook, an approval card,
the chat's out-of-sync fix, the CLI's test alert); a plan that opens or adds (`open_qty > 0`)
comes here before anything is sent. Exits never do: a close, a reversal's closing part, stops,
take-profits and manual closes plan no opening quantity, so nothing here can refuse them.

What happens to an entry, in order:

1. The account's rows for its quote currency are read once (`AccountBook.rows`: rules, kill
   switch, realized PnL, open positions at their prices, snapshots, the bot's recent stops).
2. The kill switch on: refused (`risk: kill switch on …`).
3. `risk_per_trade`: the opening quantity is sized so that its stop-loss (the alert's `sl`, else
   the bot's) loses that share of equity, rounded down to the broker's lot step; then capped to
   the headroom of `max_position_qty`, `max_position_value` and `max_exposure`.
4. `check_entry`: the first rule broken refuses the entry. `max_drawdown` also trips the kill
   switch, which holds until an owner resumes.
5. A refused reversal keeps its closing part and stays flat, saying why (`OrderPlan.note`).

Account-wide limits hold while entries run at once: in this process the check and the reservation
of what it allows are one step under a lock per currency, and entries admitted but not stored yet
count in the figures until their fill is stored (`Admission.release`). Across processes
(PostgreSQL) `RiskStore.entry_lock` is held from the check until the fill is stored, and the
process lock with it, so that one process holds at most one database connection waiting for it.

Refusals are told to the owners once per rule and bot (`RiskRefused`) until that bot's entries
pass again; the webhook's answer and log row carry the reason every time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, cast

from trading import money
from trading.account_book import AccountBook
from trading.bots import BotConfig
from trading.equity import AccountRows, KillSwitchState, equity_of, peak_of
from trading.events import Event, EventSink
from trading.positions import OrderPlan, PositionState
from trading.risk import (
    OFF,
    AccountFigures,
    Amount,
    EntryRequest,
    Refusal,
    RiskRules,
    capped,
    check_entry,
    effective,
    risk_size,
)

log = logging.getLogger(__name__)

DEFAULT_STEP = Decimal("0.00000001")
# what reading a stored value that is not a number raises (decimal.InvalidOperation is one)
UNREADABLE = (ArithmeticError, ValueError, TypeError)
KILL_SWITCH = "kill_switch"


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskRefused(Event):
    """An entry refused by a risk rule: told once per rule and bot until it clears."""

    bot: str
    symbol: str
    rule: str
    reason: str

    @property
    def kind(self) -> str:
        return "refused"


@dataclass(frozen=True, slots=True, kw_only=True)
class KillSwitchTripped(Event):
    """`max_drawdown` turned the kill switch on: entries stop until an owner resumes."""

    reason: str

    @property
    def kind(self) -> str:
        return "control"


@dataclass(frozen=True, slots=True)
class Entry:
    """What the gate needs of an entry, from the order being planned."""

    bot: BotConfig
    symbol: str
    quote: str
    price: Decimal
    stop_price: Decimal | None  # the stop-loss the entry will have (alert's or bot's), if any


@dataclass(eq=False)
class Admission:
    """An entry admitted: counted in this process's figures until `release` (its fill stored, or
    nothing sent); holds the cross-process lock until then where there is one."""

    quote: str
    notional: Decimal
    opens: bool
    gate: RiskGate | None = None
    _exits: AsyncExitStack | None = None
    _released: bool = False

    async def release(self) -> None:
        if self._released:
            return
        self._released = True
        if self.gate is not None:
            self.gate._forget(self)
        if self._exits is not None:
            await self._exits.aclose()

    def release_when(self, future: asyncio.Future[Any]) -> None:
        """Release once `future` is done (an instant fill's commit)."""

        def done(_: asyncio.Future[Any]) -> None:
            task = asyncio.ensure_future(self.release())
            _background.add(task)
            task.add_done_callback(_background.discard)

        future.add_done_callback(done)


_background: set[asyncio.Task[None]] = set()
LOCK_NEEDED = object()  # `_check` without the lock found a rule in force
NOTHING = Admission(quote="", notional=Decimal(0), opens=False)


@dataclass
class _Account:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    admitted: list[Admission] = field(default_factory=list)


class RiskGate:
    def __init__(
        self,
        book: AccountBook,
        events: EventSink,
        *,
        lot_step: Callable[[str], Awaitable[Decimal]] | None = None,
        cross_process: bool = False,
    ) -> None:
        self.book = book
        self.events = events
        self.lot_step = lot_step
        self.cross_process = cross_process
        self._accounts: dict[str, _Account] = {}
        self._noticed: set[tuple[str, str]] = set()  # (bot, rule) told and not cleared
        self._bot_rules: dict[tuple[tuple[str, str], ...], RiskRules] = {}
        self._account_rules = RiskRules()  # as last read: which stops to read, the reset hour

    # ------------------------------------------------------------ the check

    async def admit(
        self,
        entry: Entry,
        position: PositionState | None,
        plan: OrderPlan,
        *,
        now: datetime | None = None,
    ) -> tuple[OrderPlan | Refusal, Admission]:
        """The plan as the rules allow it (sized, or kept to its closing part), or the Refusal
        of its entry; with the Admission to release once its fill is stored or nothing is sent."""
        if plan.open_qty <= 0:
            return plan, NOTHING
        now = now or datetime.now(UTC)
        account = self._accounts.setdefault(entry.quote, _Account())
        if not effective(self._account_rules, self.bot_rules(entry.bot)).items():
            # As last seen, no rule applies to this bot: the kill switch alone needs no
            # serialising, so the rows are read without the lock (SQLite and PostgreSQL alike)
            # unless they show rules after all (set meanwhile): then as below, under the lock.
            unlocked = await self._check(entry, position, plan, account, now, unlocked=True)
            if unlocked is not LOCK_NEEDED:
                return cast(OrderPlan | Refusal, unlocked), NOTHING
        exits = AsyncExitStack()
        try:
            await exits.enter_async_context(account.lock)
            if self.cross_process:
                await exits.enter_async_context(self.book.stores.entry_lock(entry.quote))
            outcome = cast(
                OrderPlan | Refusal, await self._check(entry, position, plan, account, now)
            )
        except BaseException:
            await exits.aclose()
            raise
        if isinstance(outcome, Refusal) or outcome.open_qty <= 0:
            await exits.aclose()
            return outcome, NOTHING
        admission = Admission(
            quote=entry.quote,
            notional=money.CONTEXT.multiply(outcome.open_qty, entry.price),
            opens=position is None or plan.close_qty > 0,
            gate=self,
        )
        account.admitted.append(admission)
        if self.cross_process:
            admission._exits = exits  # held until the fill is stored
        else:
            await exits.aclose()
        return outcome, admission

    async def preview(
        self,
        entry: Entry,
        position: PositionState | None,
        plan: OrderPlan,
        *,
        now: datetime | None = None,
    ) -> OrderPlan | Refusal:
        """What `admit` would answer now, changing nothing (no notice, no kill switch, nothing
        reserved): the size an approval card shows before Approve."""
        if plan.open_qty <= 0:
            return plan
        now = now or datetime.now(UTC)
        account = self._accounts.setdefault(entry.quote, _Account())
        return cast(
            OrderPlan | Refusal, await self._check(entry, position, plan, account, now, dry=True)
        )

    def _forget(self, admission: Admission) -> None:
        account = self._accounts.get(admission.quote)
        if account is not None and admission in account.admitted:
            account.admitted.remove(admission)

    async def _check(
        self,
        entry: Entry,
        position: PositionState | None,
        plan: OrderPlan,
        account: _Account,
        now: datetime,
        *,
        dry: bool = False,
        unlocked: bool = False,
    ) -> OrderPlan | Refusal | object:
        """The entry checked (`admit`); `unlocked`: LOCK_NEEDED as soon as a rule applies."""
        bot = entry.bot
        own = self.bot_rules(bot)
        # Entries admitted and not stored yet, taken before the rows are read: one stored during
        # the read is then counted twice for a moment (a refusal at the edge), never missed.
        admitted = list(account.admitted)
        try:
            rows = await self._rows(entry, own, now)
            if rows.state.rules != self._account_rules:
                self._account_rules = rows.state.rules  # changed elsewhere: read again
                rows = await self._rows(entry, own, now)
        except UNREADABLE as exc:  # a stored value no column allows (written by hand)
            return await self._unreadable(entry, own, plan, exc, dry)
        state = rows.state
        if state.kill_switch.on:
            return self._refused(bot, entry.symbol, kill_switch_refusal(state.kill_switch), dry)
        rules = effective(state.rules, own)
        if not rules.items():
            if not dry:
                self._cleared(bot)
            return plan
        if unlocked:
            return LOCK_NEEDED
        if plan.close_qty > 0:  # a reversal: its opening part is checked on the account after
            rows = after_close(rows, bot.id, entry.symbol, entry.price)  # its closing part
        figures = await self.figures(rows, bot.id, admitted, now, rules)
        side = plan_side(plan)
        held = position.qty if position is not None and plan.close_qty == 0 else Decimal(0)
        open_qty = plan.open_qty
        if isinstance(rules.risk_per_trade, Amount):
            step = await self.lot_step(entry.symbol) if self.lot_step else DEFAULT_STEP
            sized = risk_size(
                figures.equity,
                rules.risk_per_trade.fraction,
                entry.price,
                entry.stop_price,
                step,
                side=side,
            )
            if isinstance(sized, Refusal):
                return self._refuse_or_close(bot, entry, plan, sized, dry)
            open_qty = capped(sized, rules, figures, entry.price, held, step)
            if open_qty <= 0:
                open_qty = sized  # nothing fits: check_entry names the rule
        request = EntryRequest(
            bot=bot.name,
            symbol=entry.symbol,
            quote=entry.quote,
            side=side,
            qty=open_qty,
            price=entry.price,
            position_qty=held + open_qty,
            position_value=money.CONTEXT.multiply(held + open_qty, entry.price),
            opens_position=held == 0,
            now=now,
        )
        refusal = check_entry(rules, figures, request)
        if refusal is not None:
            if refusal.trips_kill_switch and not dry:
                await self.trip(refusal.reason, now)
            return self._refuse_or_close(bot, entry, plan, refusal, dry)
        if not dry:
            self._cleared(bot)
        if open_qty == plan.open_qty:
            return plan
        note = f"sized by risk_per_trade {rules.risk_per_trade}"
        return replace(plan, qty=plan.close_qty + open_qty, open_qty=open_qty, note=note)

    async def _unreadable(
        self, entry: Entry, own: RiskRules, plan: OrderPlan, exc: Exception, dry: bool
    ) -> OrderPlan | Refusal:
        """The currency's rows cannot be read: with no rule in force (and the kill switch off)
        the entry goes on; otherwise no limit can be checked, so it is refused, saying why."""
        log.error("risk figures unreadable bot=%s quote=%s: %s", entry.bot.name, entry.quote, exc)
        state = await self.book.stores.account_state()
        if state.kill_switch.on:
            return self._refused(
                entry.bot, entry.symbol, kill_switch_refusal(state.kill_switch), dry
            )
        rules = effective(state.rules, own)
        if not rules.items():
            return plan
        refusal = Refusal(
            "figures",
            f"risk: the account's {entry.quote} figures cannot be read (a stored value is not "
            "a number; see the log), so no limit can be checked: entries are refused until it "
            "is repaired",
        )
        return self._refuse_or_close(entry.bot, entry, plan, refusal, dry)

    async def _rows(self, entry: Entry, own: RiskRules, now: datetime) -> AccountRows:
        rules = effective(self._account_rules, own)
        return await self.book.rows(
            entry.quote,
            now,
            reset_hour=rules.reset_hour,
            bot_id=entry.bot.id,
            stops_since=stops_since(rules, now),
        )

    async def figures(
        self,
        rows: AccountRows,
        bot_id: int | None,
        admitted: list[Admission],
        now: datetime,
        rules: RiskRules,
    ) -> AccountFigures:
        """The figures the rules are checked on: the stored rows plus what this process admitted
        and has not stored yet (counted twice for a moment once stored, never missed)."""
        equity = equity_of(rows, await self.book.balance(rows))
        with money.wide():
            pending = sum((a.notional for a in admitted), Decimal(0))
            opening = sum(1 for a in admitted if a.opens)
            bot_notional = sum(
                (p.notional for p in rows.positions if p.bot_id == bot_id), Decimal(0)
            )
            now_equity = equity.equity
            day_start = rows.day_start_equity
            if day_start is None:
                day_start = equity.balance
            peak = peak_of(rows, equity)
            return AccountFigures(
                quote=rows.quote,
                equity=now_equity,
                day_start_equity=day_start,
                equity_peak=peak,
                open_positions=equity.open_positions + opening,
                open_notional=equity.open_notional + pending,
                bot_open_notional=bot_notional,
                today_pnl=now_equity - day_start,
                stop_losses=rows.stop_losses,
            )

    def bot_rules(self, bot: BotConfig) -> RiskRules:
        """The bot's own rules, parsed once per stored form; a stored value that no longer
        parses is dropped (logged), so a bad row never blocks trading."""
        key = tuple(sorted((str(k), str(v)) for k, v in (bot.risk or {}).items()))
        rules = self._bot_rules.get(key)
        if rules is None:
            kept: dict[str, Any] = {}
            for name, value in key:
                try:
                    kept[name] = RiskRules.from_json({name: value}).items()[0][1]
                except Exception:
                    log.warning("bot risk rule dropped bot=%s rule=%s", bot.name, name)
            rules = RiskRules(**kept)
            if len(self._bot_rules) > 1024:
                self._bot_rules.clear()
            self._bot_rules[key] = rules
        return rules

    # ------------------------------------------------------------ outcomes

    def _refuse_or_close(
        self, bot: BotConfig, entry: Entry, plan: OrderPlan, refusal: Refusal, dry: bool
    ) -> OrderPlan | Refusal:
        self._refused(bot, entry.symbol, refusal, dry)
        if plan.close_qty <= 0:
            return refusal
        log.info(
            "reversal kept to its close bot=%s symbol=%s: %s",
            bot.name,
            entry.symbol,
            refusal.reason,
        )
        return OrderPlan(
            plan.side,
            plan.close_qty,
            "close",
            plan.close_qty,
            Decimal(0),
            f"no new position: {refusal.reason}",
        )

    def _refused(self, bot: BotConfig, symbol: str, refusal: Refusal, dry: bool) -> Refusal:
        if dry:
            return refusal
        log.info("entry refused bot=%s symbol=%s rule=%s", bot.name, symbol, refusal.rule)
        key = (bot.name, refusal.rule)
        if key not in self._noticed:
            self._noticed.add(key)
            self.events.publish(
                RiskRefused(bot=bot.name, symbol=symbol, rule=refusal.rule, reason=refusal.reason)
            )
        return refusal

    def _cleared(self, bot: BotConfig) -> None:
        if self._noticed:
            self._noticed = {key for key in self._noticed if key[0] != bot.name}

    async def trip(self, reason: str, now: datetime) -> None:
        """`max_drawdown` reached: the kill switch goes on (once) and holds until resumed."""
        stores = self.book.stores
        state = await stores.account_state()
        if state.kill_switch.on:
            return
        await stores.set_kill_switch(
            KillSwitchState(
                on=True, by="max_drawdown", since=now, reason=reason, rule="max_drawdown"
            )
        )
        log.warning("kill switch tripped rule=max_drawdown: %s", reason)
        self.events.publish(KillSwitchTripped(reason=reason))


def plan_side(plan: OrderPlan) -> Literal["long", "short"]:
    """The side of the position the plan's opening part makes."""
    return "long" if plan.side == "buy" else "short"


def kill_switch_refusal(state: KillSwitchState) -> Refusal:
    since = f" since {state.since.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if state.since else ""
    why = f" ({state.reason})" if state.reason and state.rule else ""
    return Refusal(
        KILL_SWITCH,
        f"risk: kill switch on{since} by {state.by or 'an owner'}{why}; "
        "no new entries until an owner resumes (/resume)",
    )


def stops_since(rules: RiskRules, now: datetime) -> datetime | None:
    """How far back the bot's stop-losses matter to `cooldown_after_stop` and `stop_guard`."""
    minutes = 0
    if isinstance(rules.cooldown_after_stop, int):
        minutes = rules.cooldown_after_stop
    if rules.stop_guard is not None and rules.stop_guard is not OFF:
        minutes = max(minutes, 2 * rules.stop_guard.minutes)  # type: ignore[union-attr]
    return now - timedelta(minutes=minutes) if minutes else None


def after_close(rows: AccountRows, bot_id: int, symbol: str, price: Decimal) -> AccountRows:
    """The rows as a reversal's closing part leaves them: the bot's position on `symbol` closed
    at `price` (its PnL realized, before the closing fee, which only the broker knows)."""
    kept, closed = [], Decimal(0)
    for p in rows.positions:
        if p.bot_id == bot_id and p.symbol == symbol:
            gross = replace(p, price=price).unrealized
            closed = money.total((closed, p.realized_pnl, gross))
        else:
            kept.append(p)
    realized = money.total((rows.closed_realized, closed))
    return replace(rows, positions=tuple(kept), closed_realized=realized)
