"""Setting and seeing the risk rules, and the kill switch: one service for the chat, the read API
and the CLI (SPEC §6a). The check before entries is `trading.risk_gate`; the rules themselves
are `trading.risk`.

`show` gives each rule with its limit, where it comes from (the account, the bot, or `off` on the
bot), its current value and the headroom left, per quote currency. `set` changes the account's
rules or a bot's own (audited as `risk.set`). The kill switch stops entries only: exits, stops
and closes go on. It is kept in the database (it holds across restarts and applies to bots
created while it is on) until an owner resumes; a kill switch of before the upgrade paused whole
bots, and the first resume after the upgrade resumes those bots too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from trading import money
from trading.access import Actor
from trading.account_book import AccountBook
from trading.bots import BotConfig
from trading.control import audited
from trading.control_events import ControlAction
from trading.equity import KillSwitchState
from trading.errors import InvalidRequest
from trading.events import EventSink
from trading.ports import Stores
from trading.risk import (
    KEYS,
    MINUS,
    OFF,
    AccountFigures,
    Amount,
    RiskRules,
    StopGuard,
    day_start,
    drawdown,
    effective,
    set_rules,
)
from trading.risk_gate import RiskGate, stops_since

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RuleLine:
    """One rule as shown: `limit` as set ("150", "5% (500 USDT)"), None when not set."""

    key: str
    limit: str | None
    source: str  # "account", "bot", "off" (the bot turned the account's off) or "" (not set)
    current: str | None = None
    headroom: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "limit": self.limit,
            "source": self.source or None,
            "current": self.current,
            "headroom": self.headroom,
        }


@dataclass(frozen=True, slots=True)
class CurrencyRisk:
    quote: str
    equity: Decimal
    peak: Decimal
    drawdown: Decimal  # share of the peak, 0.1 = 10%
    today_pnl: Decimal
    open_positions: int
    open_notional: Decimal
    lines: list[RuleLine]

    def to_json(self) -> dict[str, Any]:
        return {
            "quote": self.quote,
            "equity": money.plain(money.q12(self.equity)),
            "peak": money.plain(money.q12(self.peak)),
            "drawdown_pct": pct(self.drawdown),
            "today_pnl": money.plain(money.q12(self.today_pnl)),
            "open_positions": self.open_positions,
            "open_notional": money.plain(money.q12(self.open_notional)),
            "rules": [line.to_json() for line in self.lines],
        }


@dataclass(frozen=True, slots=True)
class RiskReport:
    bot: str | None  # None: the account's rules
    own: RiskRules  # as set on the account, or on the bot (`off` kept)
    rules: RiskRules  # in force (for a bot: its own over the account's)
    kill_switch: KillSwitchState
    currencies: list[CurrencyRisk] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "bot": self.bot,
            "set": self.own.to_json(),
            "in_force": self.rules.to_json(),
            "kill_switch": kill_switch_json(self.kill_switch),
            "currencies": [c.to_json() for c in self.currencies],
        }


def kill_switch_json(switch: KillSwitchState) -> dict[str, Any]:
    """The kill switch as `GET /risk` and the CLI's `--json` show it."""
    return {
        "on": switch.on,
        "by": switch.by or None,
        "since": switch.since.isoformat() if switch.since else None,
        "rule": switch.rule,
        "reason": switch.reason or None,
        "legacy_paused": list(switch.legacy_paused),  # bots an older kill switch paused
    }


@dataclass(frozen=True, slots=True)
class Resumed:
    was: KillSwitchState
    bots: list[str]  # bots an older kill switch had paused, resumed now


def pct(share: Decimal) -> str:
    return money.plain(money.CONTEXT.multiply(share, Decimal(100)).quantize(Decimal("0.01")))


def _m(value: Decimal) -> str:
    text = money.plain(value.quantize(Decimal("0.01")) if abs(value) < 10**20 else value)
    return MINUS + text[1:] if text.startswith("-") else text


class RiskService:
    def __init__(
        self, *, stores: Stores, book: AccountBook, gate: RiskGate, events: EventSink
    ) -> None:
        self.stores = stores
        self.book = book
        self.gate = gate
        self.events = events

    # ------------------------------------------------------------ rules

    async def show(self, bot_name: str | None = None, now: datetime | None = None) -> RiskReport:
        now = now or datetime.now(UTC)
        state = await self.stores.risk.account_state()
        bot = await self._bot(bot_name)
        own = self.gate.bot_rules(bot) if bot is not None else state.rules
        rules = effective(state.rules, own if bot is not None else None)
        currencies = []
        for quote in await self.stores.risk.quotes() or ["USDT"]:
            rows = await self.book.rows(
                quote,
                now,
                reset_hour=rules.reset_hour,
                bot_id=bot.id if bot else None,
                stops_since=stops_since(rules, now),
            )
            figures = await self.gate.figures(rows, bot.id if bot else None, [], now, rules)
            positions = [p for p in rows.positions if bot is None or p.bot_id == bot.id]
            currencies.append(
                CurrencyRisk(
                    quote=quote,
                    equity=figures.equity,
                    peak=figures.equity_peak,
                    drawdown=drawdown(figures.equity, figures.equity_peak),
                    today_pnl=figures.today_pnl,
                    open_positions=figures.open_positions,
                    open_notional=figures.open_notional,
                    lines=rule_lines(own, rules, figures, positions, now, bot is not None),
                )
            )
        return RiskReport(bot.name if bot else None, own, rules, state.kill_switch, currencies)

    async def set(
        self, actor: Actor, words: Iterable[str], bot_name: str | None = None
    ) -> RiskReport:
        """`risk set [--bot NAME] KEY=VALUE …`: every pair checked before anything is stored."""
        words = [w for w in words if w.strip()]
        if not words:
            raise InvalidRequest(f"give KEY=VALUE pairs; the rules are {', '.join(KEYS)}")
        bot = await self._bot(bot_name)
        target = bot.name if bot else "account"
        async with audited(self.stores.audit, actor, "risk.set", target) as details:
            if bot is None:
                before = (await self.stores.risk.account_state()).rules
                after = set_rules(before, words)
                await self.stores.risk.save_account_rules(after.to_json())
            else:
                before = self.gate.bot_rules(bot)
                after = set_rules(before, words, bot=True)
                await self.stores.risk.save_bot_rules(bot.id, after.to_json())
            details.update(before=before.to_json(), after=after.to_json())
        log.info("risk rules set target=%s by=%s rules=%s", target, actor.key, after.to_json())
        self.events.publish(
            ControlAction(
                what=f"⚖️ Risk rules changed · {target}",
                by=actor.shown,
                detail=", ".join(words),
            )
        )
        return await self.show(bot.name if bot else None)

    async def _bot(self, name: str | None) -> BotConfig | None:
        if name is None:
            return None
        return await self.stores.bots.bot_by_name(name.strip())

    # ------------------------------------------------------------ kill switch

    async def kill_switch(self) -> KillSwitchState:
        return (await self.stores.risk.account_state()).kill_switch

    async def stop_entries(self, actor: Actor) -> KillSwitchState:
        """Kill switch on: no new entries on any bot; exits go on. Saying it twice keeps the
        first time and author."""
        async with audited(self.stores.audit, actor, "kill_switch.on", "entries", by=actor.shown):
            was = await self.kill_switch()
            if was.on:
                return was
            state = KillSwitchState(on=True, by=actor.shown, since=datetime.now(UTC))
            await self.stores.risk.set_kill_switch(state)
        log.warning("kill switch on by=%s", actor.key)
        self.events.publish(
            ControlAction(
                what="🛑 Kill switch on", by=actor.shown, detail="no new entries; exits go on"
            )
        )
        return state

    async def resume_entries(self, actor: Actor) -> Resumed:
        was = await self.kill_switch()
        if not was.on:
            raise InvalidRequest("the kill switch is not on; resume a single bot from its card")
        async with audited(self.stores.audit, actor, "kill_switch.off", "entries") as details:
            await self.stores.risk.set_kill_switch(KillSwitchState())
            resumed = (
                await self.stores.bots.unpause_bots(list(was.legacy_paused))
                if was.legacy_paused
                else []
            )
            details.update(resumed=resumed, rule=was.rule)
            if was.rule == "max_drawdown":  # the peak starts afresh from the equity now
                now = datetime.now(UTC)
                for quote in await self.stores.risk.quotes():
                    await self.book.snapshot(quote, now, "start")
        log.warning("kill switch off by=%s rule=%s", actor.key, was.rule)
        detail = "entries allowed again"
        if resumed:
            detail += f"; {len(resumed)} bot(s) paused by the old kill switch resumed"
        self.events.publish(ControlAction(what="▶️ Kill switch off", by=actor.shown, detail=detail))
        return Resumed(was, resumed)

    @staticmethod
    def resume_needs_code(state: KillSwitchState) -> bool:
        """Lifting a tripped `max_drawdown` is asked a code in the chat when TOTP is on."""
        return state.on and state.rule == "max_drawdown"


def _limit_text(value: Any, figures: AccountFigures, *, of_day: bool = False) -> str:
    if isinstance(value, Amount) and value.percent:
        base = figures.day_start_equity if of_day else figures.equity
        return f"{value} ({_m(value.of(base))} {figures.quote})"
    if isinstance(value, Amount):
        return f"{value} {figures.quote}"
    return str(value)


def rule_lines(
    own: RiskRules,
    rules: RiskRules,
    figures: AccountFigures,
    positions: list[Any],
    now: datetime,
    for_bot: bool,
) -> list[RuleLine]:
    """Each §6a key: its limit in force, where it comes from, the current value and headroom."""
    c = money.CONTEXT
    q = figures.quote
    largest_qty = max((p.qty for p in positions), default=Decimal(0))
    largest_value = max(
        (c.multiply(p.qty, p.price if p.price is not None else p.avg_price) for p in positions),
        default=Decimal(0),
    )
    lines = []
    for key in KEYS:
        value = getattr(rules, key)
        mine = getattr(own, key)
        source = "off" if mine is OFF else ("bot" if for_bot and mine is not None else "")
        if not source and value is not None:
            source = "account"
        if value is None:
            lines.append(RuleLine(key, None, source))
            continue
        current = headroom = None
        if key == "max_position_qty":
            current = money.plain(largest_qty)
            headroom = money.plain(c.subtract(value.value, largest_qty))
        elif key == "max_position_value":
            limit = value.of(figures.equity)
            current, headroom = f"{_m(largest_value)} {q}", f"{_m(limit - largest_value)} {q}"
        elif key == "max_open_positions":
            current, headroom = str(figures.open_positions), str(value - figures.open_positions)
        elif key == "max_exposure":
            limit = value.of(figures.equity)
            used = (
                figures.bot_open_notional
                if rules.exposure_scope == "bot"
                else figures.open_notional
            )
            current, headroom = f"{_m(used)} {q}", f"{_m(limit - used)} {q}"
        elif key == "daily_loss_limit":
            limit = value.of(figures.day_start_equity)
            loss = max(-figures.today_pnl, Decimal(0))
            current = f"{_m(figures.today_pnl)} {q} today"
            headroom = f"{_m(limit - loss)} {q}"
        elif key == "max_drawdown":
            share = drawdown(figures.equity, figures.equity_peak)
            fall = f"{MINUS}{pct(share)}%" if share > 0 else "0%"
            current = f"{fall} from peak {_m(figures.equity_peak)} {q}"
            headroom = f"{pct(value.fraction - share)}%"
        elif key == "cooldown_after_stop" and for_bot:
            last = max((s.at for s in figures.stop_losses), default=None)
            current = f"last stop-loss {last:%Y-%m-%d %H:%M} UTC" if last else "no stop-loss"
        elif key == "stop_guard" and for_bot and isinstance(value, StopGuard):
            window = now - timedelta(minutes=value.minutes)
            hits = sum(1 for s in figures.stop_losses if s.at >= window)
            current, headroom = f"{hits} in the last {value.minutes} min", str(value.count - hits)
        elif key == "risk_per_trade":
            current = f"{_m(c.multiply(value.fraction, figures.equity))} {q} at risk per entry"
        elif key == "daily_reset_hour":
            current = f"day started {day_start(now, value):%Y-%m-%d %H:%M} UTC"
        limit_text = _limit_text(value, figures, of_day=key == "daily_loss_limit")
        lines.append(RuleLine(key, limit_text, source, current, headroom))
    return lines
