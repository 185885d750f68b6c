"""The control surface's services, free of any transport (freqtrade's `rpc.py`): bot management,
manual closes, the kill switch, manual approvals and position sync.

Handlers parse, call one of these, and format; every state change is an audit row (who, what,
when, outcome), refusals raise a TradingError whose message the chat shows as is. Trades go
through `TradingService`, the same path a webhook alert takes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from db import bots_admin, repo
from trading.access import SYSTEM, Actor
from trading.alerts import Alert, build_alert, parse_decimal
from trading.bots import NAME, BotConfig, BotSpec, parse_size
from trading.brokers.base import Balance, BaseBroker
from trading.control_events import ApprovalRequested, ApprovalResolved, ControlAction, OutOfSync
from trading.errors import InvalidRequest, NotFound, TradingError
from trading.events import EventSink
from trading.positions import allowed_target
from trading.series import is_interval
from trading.service import TradingService
from trading.strategies import registry
from trading.views import BotView, ExecutionResult, PositionView

log = logging.getLogger(__name__)

PENDING_APPROVAL = "pending_approval"  # webhook_logs.status while an alert waits (16 chars max)
ZERO = Decimal(0)

# Fields an owner may change from the chat, with how to ask for them.
EDITABLE: dict[str, str] = {
    "symbols": "symbols, comma separated (BTCUSDT,ETHUSDT)",
    "strategy": "strategy name",
    "size": "order size: 0.01 (base qty), 100USDT (quote amount) or 5% (of equity)",
    "direction": "long, short or both",
    "max_entries": "max entries (pyramiding), 1-100",
    "interval": "bar interval as TradingView names it (15, 60, 240, 1D, 1W), or - for none",
    "sl": "stop-loss: a price or a percentage such as 2%, or - for none",
    "tp": "take-profit: a price or a percentage such as 4%, or - for none",
    "trail": "trailing stop: a percentage such as 1%, or - for none",
    "max_lag_seconds": "max alert lag in seconds (also how long an approval waits), 1-86400",
    "approval": "auto or manual",
    "passphrase": "passphrase (4-128 characters), or - for none",
    "max_alerts_per_minute": "alerts accepted per minute (more are answered 429), 0 for no cap",
}
_NONE_WORDS = {"-", "none", "off", "no", "clear"}


def validation_message(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def spec_of(bot: BotConfig) -> dict[str, Any]:
    """A bot's settings as BotSpec fields, to validate an edit the same way as a creation."""
    return {
        "name": bot.name,
        "symbols": list(bot.symbols),
        "strategy": bot.strategy,
        "strategy_params": dict(bot.strategy_params),
        "size": f"{bot.size_value.normalize():f}"
        + {"qty": "", "quote": "QUOTE", "equity_pct": "%"}[bot.size_kind],
        "direction": bot.direction,
        "max_entries": bot.max_entries,
        "sl": str(bot.sl) if bot.sl else None,
        "tp": str(bot.tp) if bot.tp else None,
        "trail": str(bot.trail) if bot.trail else None,
        # A stored interval an older version accepted and this one does not (`3M`) is dropped,
        # so the bot can still be edited (its interval too) instead of failing every edit.
        "interval": bot.interval if bot.interval and is_interval(bot.interval) else None,
        "max_lag_seconds": bot.max_lag_seconds,
        "approval": bot.approval,
        "passphrase": bot.passphrase,
        "allow_ips": list(bot.allow_ips),
        "max_alerts_per_minute": bot.max_alerts_per_minute,
    }


def check_field(field_name: str, raw: str) -> Any:
    """Validate one BotSpec field on its own (each step of the /newbot dialogue)."""
    draft: dict[str, Any] = {"name": "draft", "symbols": ["BTCUSDT"]}
    value: Any = raw.strip()
    if (
        field_name in ("sl", "tp", "trail", "passphrase", "interval")
        and value.lower() in _NONE_WORDS
    ):
        return None
    draft[field_name] = value
    try:
        spec = BotSpec.model_validate(draft)
    except ValidationError as exc:
        raise InvalidRequest(validation_message(exc)) from None
    return getattr(spec, field_name)


async def check_position_sync(bot: BotConfig, alert: Alert, events: EventSink) -> bool:
    """After an alert ran: publish OutOfSync when the bot's position is not the one the alert
    states (max entries, a broker refusal, a manual close...). True when in sync or unstated.

    Only `signal` bots follow the alert's position; other strategies decide for themselves.
    Never raises: a failed check must not turn an executed alert into an error."""
    try:
        target = alert.target_position
        if target is None or bot.strategy != "signal":
            return True
        target = allowed_target(target, bot.direction)
        stored = await repo.load_position(bot.id, alert.symbol)
        actual = stored.state.signed_qty if stored else ZERO
        if actual == target:
            return True
    except Exception:
        log.exception("position sync check failed bot=%s symbol=%s", bot.name, alert.symbol)
        return True
    log.warning(
        "position out of sync bot=%s symbol=%s expected=%s actual=%s",
        bot.name,
        alert.symbol,
        target,
        actual,
    )
    events.publish(
        OutOfSync(
            bot=bot.name,
            bot_id=bot.id,
            symbol=alert.symbol,
            expected=target,
            actual=actual,
            reason="",
        )
    )
    return False


@dataclass(frozen=True, slots=True)
class Closed:
    position: PositionView  # as it was before the close
    result: ExecutionResult


@dataclass(frozen=True, slots=True)
class KillSwitch:
    on: bool
    by: str = ""
    since: datetime | None = None
    paused: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Overview:
    bots: int
    paused: int
    positions: list[PositionView]
    kill_switch: KillSwitch
    pending_approvals: int
    broker: str
    reconciliation: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Health:
    checks: dict[str, dict[str, str]]

    @property
    def overall(self) -> str:
        if self.checks.get("db", {}).get("status") != "ok":
            return "down"
        if any(check.get("status") not in ("ok", "off") for check in self.checks.values()):
            return "degraded"
        return "ok"


HEALTH_TIMEOUT = 2.0  # a check that has not answered by then counts as down


async def check_health(
    broker: BaseBroker, extra: dict[str, dict[str, str]], timeout: float = HEALTH_TIMEOUT
) -> Health:
    """The database and the broker checked now, with the parts that report their own state
    (Telegram, monitor) in `extra`: for `GET /health` and `/health` in the chat alike."""
    checks: dict[str, dict[str, str]] = {}
    try:
        await asyncio.wait_for(repo.ping(), timeout)
        checks["db"] = {"status": "ok"}
    except Exception as exc:
        checks["db"] = {"status": "down", "detail": type(exc).__name__}
    try:
        ok, detail = await asyncio.wait_for(broker.health(), timeout)
        checks["broker"] = {"status": "ok" if ok else "down", "detail": detail}
    except Exception as exc:
        checks["broker"] = {"status": "down", "detail": type(exc).__name__}
    checks.update(extra)
    return Health(checks)


@asynccontextmanager
async def audited(
    actor: Actor, action: str, target: str = "", /, **details: Any
) -> AsyncIterator[dict[str, Any]]:
    """Audit a state change: `ok` with the details gathered, or `failed` with the reason."""
    extra: dict[str, Any] = dict(details)
    try:
        yield extra
    except TradingError as exc:
        await repo.audit(actor.key, action, target, "failed", error=exc.user_message, **extra)
        raise
    except Exception as exc:
        await repo.audit(actor.key, action, target, "failed", error=type(exc).__name__, **extra)
        raise
    await repo.audit(actor.key, action, target, "ok", **extra)


def _who(actor: Actor) -> str:
    return actor.name or actor.key


class ControlService:
    def __init__(self, trading: TradingService, events: EventSink, *, base_url: str) -> None:
        self.trading = trading
        self.events = events
        self.base_url = base_url.rstrip("/")

    # ------------------------------------------------------------ bots

    @staticmethod
    def strategies() -> list[str]:
        return registry.names()

    async def bots(self) -> list[BotConfig]:
        return await repo.list_bots()

    async def bot(self, name: str) -> BotConfig:
        name = name.strip()
        if not NAME.match(name):  # what cannot be a name is not looked up (the column is 64)
            raise NotFound(f"no bot named {name[:32]!r}")
        return await repo.bot_by_name(name)

    async def bot_by_id(self, bot_id: int) -> BotConfig:
        bot = await repo.active_bot_by_id(bot_id)
        if bot is None:
            await repo.bot_by_id(bot_id)  # NotFound when there never was one
            raise NotFound("that bot was deleted")
        return bot

    def view(self, bot: BotConfig) -> BotView:
        return repo.bot_view(bot, self.base_url)

    def webhook_url(self, bot: BotConfig) -> str:
        return f"{self.base_url}/webhook/{bot.webhook_key}"

    async def open_symbols(self, bot: BotConfig) -> list[str]:
        return list(await repo.open_positions_of(bot.id))

    async def create_bot(self, actor: Actor, spec: BotSpec) -> BotConfig:
        async with audited(actor, "bot.create", spec.name, symbols=spec.symbols):
            bot = await repo.create_bot(spec)
        log.info("bot created bot=%s by=%s", bot.name, actor.key)
        return bot

    async def set_paused(self, actor: Actor, bot_id: int, paused: bool) -> BotConfig:
        bot = await self.bot_by_id(bot_id)
        async with audited(actor, "bot.pause" if paused else "bot.resume", bot.name):
            bot = await repo.set_paused(bot.name, paused)
        return bot

    async def rotate_key(self, actor: Actor, bot_id: int) -> BotConfig:
        bot = await self.bot_by_id(bot_id)
        async with audited(actor, "bot.rotate_key", bot.name):
            bot = await repo.rotate_key(bot.name)
        return bot

    async def update_bot(self, actor: Actor, bot_id: int, field_name: str, raw: str) -> BotConfig:
        if field_name not in EDITABLE:
            raise InvalidRequest(f"{field_name!r} cannot be edited from the chat")
        bot = await self.bot_by_id(bot_id)
        shown = "***" if field_name == "passphrase" else raw.strip()[:64]
        async with audited(actor, "bot.edit", bot.name, field=field_name, value=shown):
            data = spec_of(bot)
            text = raw.strip()
            if (
                field_name in ("sl", "tp", "trail", "passphrase", "interval")
                and text.lower() in _NONE_WORDS
            ):
                data[field_name] = None
            else:
                data[field_name] = text
            if field_name == "strategy":
                data["strategy_params"] = {}
            try:
                spec = BotSpec.model_validate(data)
            except ValidationError as exc:
                raise InvalidRequest(validation_message(exc)) from None
            if field_name == "strategy":
                await bots_admin.set_strategy(bot.id, spec.strategy, {})
            elif field_name == "size":
                kind, value = parse_size(spec.size)
                await bots_admin.update_bot(bot.id, size_kind=kind, size_value=value)
            else:
                await bots_admin.update_bot(bot.id, **{field_name: getattr(spec, field_name)})
        return await self.bot_by_id(bot.id)

    async def delete_bot(self, actor: Actor, bot_id: int) -> str:
        bot = await self.bot_by_id(bot_id)
        async with audited(actor, "bot.delete", bot.name):
            open_symbols = await self.open_symbols(bot)
            if open_symbols:
                raise InvalidRequest(
                    f"{bot.name} still has open positions ({', '.join(open_symbols)}); "
                    "close them first"
                )
            if not await bots_admin.soft_delete_bot(bot.id):
                raise NotFound(f"no bot named {bot.name!r}")
        self.events.publish(ControlAction(what=f"bot {bot.name} deleted", by=_who(actor)))
        return bot.name

    async def bind_chat(
        self, actor: Actor, bot_id: int, chat_id: int | None, topic_id: int | None = None
    ) -> BotConfig:
        bot = await self.bot_by_id(bot_id)
        action = "bot.chat.bind" if chat_id is not None else "bot.chat.unbind"
        async with audited(actor, action, bot.name, chat_id=chat_id, topic_id=topic_id):
            await bots_admin.bind_chat(bot.id, chat_id, topic_id)
        return bot

    async def chat_of(self, bot_id: int) -> tuple[int | None, int | None]:
        return await bots_admin.chat_of(bot_id)

    # ------------------------------------------------------------ positions

    async def positions(self, bot_name: str | None = None) -> list[PositionView]:
        return await repo.list_positions(bot_name)

    async def position(self, position_id: int) -> PositionView:
        found = await repo.list_positions(position_id=position_id)
        if not found:
            raise NotFound(f"position #{position_id} is already closed")
        return found[0]

    async def close_position(self, actor: Actor, position_id: int) -> Closed:
        position = await self.position(position_id)
        where = await repo.position_by_id(position_id)
        if where is None:
            raise NotFound(f"position #{position_id} is already closed")
        bot = await repo.bot_by_id(where[0])
        async with audited(actor, "position.close", f"{bot.name} {position.symbol}") as extra:
            result = await self.trading.close_position(bot, position.symbol, reason="manual")
            extra.update(status=result.status, order=(result.order or {}).get("id"))
            if result.status == "rejected":
                raise InvalidRequest(f"could not close {position.symbol}: {result.reason}")
        return Closed(position, result)

    async def close(self, actor: Actor, target: str) -> list[Closed]:
        """`/close 12` closes position #12; `/close demo` closes every position of bot demo."""
        target = target.strip().lstrip("#")
        if not target:
            raise InvalidRequest("say what to close: /close BOT_NAME or /close POSITION_ID")
        if target.isascii() and target.isdigit():
            if len(target) > 15:
                raise NotFound(f"no open position #{target[:15]}…")
            return [await self.close_position(actor, int(target))]
        bot = await self.bot(target)
        positions = await repo.list_positions(bot.name)
        if not positions:
            raise NotFound(f"{bot.name} has no open position")
        return [await self.close_position(actor, p.id) for p in positions]

    async def close_all(self, actor: Actor) -> list[Closed]:
        """Every open position at market, one by one; a refusal does not stop the others."""
        closed: list[Closed] = []
        async with audited(actor, "position.close_all") as extra:
            for position in await repo.list_positions():
                try:
                    closed.append(await self.close_position(actor, position.id))
                except TradingError as exc:
                    failed = ExecutionResult(
                        status="rejected", reason=exc.user_message, bot=position.bot
                    )
                    closed.append(Closed(position, failed))
            extra.update(
                closed=sum(c.result.status == "executed" for c in closed), total=len(closed)
            )
        return closed

    async def sync_position(
        self, actor: Actor, bot_id: int, symbol: str, target: Decimal
    ) -> ExecutionResult:
        """Bring a position to the one TradingView states, through the alert path."""
        bot = await self.bot_by_id(bot_id)
        if bot.strategy != "signal":
            raise InvalidRequest(f"{bot.name} runs {bot.strategy}: its strategy sets positions")
        if symbol not in bot.symbols:
            raise InvalidRequest(f"{bot.name} does not trade {symbol}")
        target = allowed_target(target, bot.direction)
        side = "long" if target > 0 else "short" if target < 0 else "flat"
        action = {"long": "buy", "short": "sell", "flat": "close"}[side]
        alert = build_alert(
            {
                "action": action,
                "symbol": symbol,
                "market_position": side,
                "position_size": f"{abs(target).normalize():f}",
                "comment": f"sync by {_who(actor)}",
            }
        )
        # The owner asked for exactly this position: the pyramiding limit does not apply.
        unlimited = bot.model_copy(update={"max_entries": 1_000_000})
        async with audited(actor, "position.sync", f"{bot.name} {symbol}", to=str(target)):
            result = await self.trading.execute_alert(unlimited, alert)
        return result

    # ------------------------------------------------------------ kill switch

    async def kill_switch(self) -> KillSwitch:
        last = await bots_admin.last_audit(bots_admin.KILL_SWITCH_ACTIONS)
        if last is None or last.action != "kill_switch.on":
            return KillSwitch(on=False)
        return KillSwitch(
            on=True,
            by=str(last.details.get("by", last.actor)),
            since=last.created_at,
            paused=list(last.details.get("paused", [])),
        )

    async def stop_entries(self, actor: Actor) -> list[str]:
        """Pause every active bot; remembered in the audit log so /resume undoes exactly this."""
        state = await self.kill_switch()
        paused = await bots_admin.pause_active_bots()
        names = sorted({*state.paused, *paused}) if state.on else paused
        await repo.audit(
            actor.key, "kill_switch.on", "all bots", "ok", paused=names, by=_who(actor)
        )
        log.warning("kill switch on by=%s paused=%s", actor.key, ",".join(paused))
        self.events.publish(
            ControlAction(
                what="🛑 Kill switch on",
                by=_who(actor),
                detail=f"{len(paused)} bot(s) paused"
                + (f": {', '.join(paused)}" if paused else ""),
            )
        )
        return paused

    async def resume_entries(self, actor: Actor) -> list[str]:
        state = await self.kill_switch()
        if not state.on:
            raise InvalidRequest(
                "the kill switch is not on; resume a single bot from its card: /bot NAME"
            )
        resumed = await bots_admin.unpause_bots(state.paused)
        await repo.audit(actor.key, "kill_switch.off", "all bots", "ok", resumed=resumed)
        log.warning("kill switch off by=%s resumed=%s", actor.key, ",".join(resumed))
        self.events.publish(
            ControlAction(
                what="▶️ Kill switch off",
                by=_who(actor),
                detail=f"{len(resumed)} bot(s) resumed"
                + (f": {', '.join(resumed)}" if resumed else ""),
            )
        )
        return resumed

    # ------------------------------------------------------------ overview

    async def overview(self) -> Overview:
        """The /status card; it also reconciles pending orders and holdings with the broker."""
        try:
            report, holdings = await self.trading.reconcile()
            findings = report.lines() + holdings.lines()
        except TradingError as exc:
            findings = [f"reconciliation skipped: {exc.user_message}"]
        bots = await repo.list_bots()
        pending = await bots_admin.logs_with_status(PENDING_APPROVAL)
        return Overview(
            bots=len(bots),
            paused=sum(b.paused for b in bots),
            positions=await repo.list_positions(),
            kill_switch=await self.kill_switch(),
            pending_approvals=len(pending),
            broker=self.trading.broker.name,
            reconciliation=findings,
        )

    @property
    def broker_name(self) -> str:
        return self.trading.broker.name

    async def balances(self) -> list[Balance]:
        return await self.trading.broker.balances()

    async def health(self, extra: dict[str, dict[str, str]]) -> Health:
        return await check_health(self.trading.broker, extra)

    async def recent_alerts(self, limit: int = 15) -> list[repo.RecentRequest]:
        return await repo.recent_webhook_logs(limit)


class ApprovalService:
    """Alerts of bots with `approval: manual` wait in `webhook_logs` (status pending_approval)
    until someone approves, rejects or resizes them, or the bot's max_lag passes."""

    def __init__(self, trading: TradingService, events: EventSink) -> None:
        self.trading = trading
        self.events = events

    async def request(self, bot: BotConfig, alert: Alert, log_id: int) -> ExecutionResult:
        """Called by the intake instead of executing; answers the webhook `accepted`."""
        expires_at = datetime.now(UTC) + timedelta(seconds=bot.max_lag_seconds)
        await bots_admin.move_log_status(
            log_id,
            "received",
            PENDING_APPROVAL,
            http_status=202,
            reason=f"awaiting approval until {expires_at:%H:%M:%S} UTC",
        )
        log.info("alert awaits approval bot=%s symbol=%s log=%d", bot.name, alert.symbol, log_id)
        self.events.publish(
            ApprovalRequested(
                bot=bot.name,
                bot_id=bot.id,
                symbol=alert.symbol,
                webhook_log_id=log_id,
                action=alert.action.value,
                qty=alert.qty,
                price=alert.price,
                market_position=alert.market_position,
                position_size=alert.position_size,
                expires_at=expires_at,
            )
        )
        return ExecutionResult(
            status="accepted", reason="awaiting approval in Telegram", bot=bot.name
        )

    async def _pending(self, log_id: int) -> tuple[bots_admin.LoggedAlert, BotConfig]:
        logged = await bots_admin.logged_alert(log_id)
        if logged is None or logged.bot_id is None or logged.alert is None:
            raise NotFound(f"alert #{log_id} not found")
        if logged.status != PENDING_APPROVAL:
            raise InvalidRequest(f"alert #{log_id} was already handled ({logged.status})")
        bot = await repo.bot_by_id(logged.bot_id)
        if datetime.now(UTC) > logged.received_at + timedelta(seconds=bot.max_lag_seconds):
            await self.expire(log_id)
            raise InvalidRequest(f"alert #{log_id} expired (max_lag {bot.max_lag_seconds} s)")
        return logged, bot

    async def check_pending(self, log_id: int) -> None:
        """Raise unless the alert still waits (before asking for a resize)."""
        await self._pending(log_id)

    async def approve(
        self, actor: Actor, log_id: int, qty: Decimal | None = None
    ) -> ExecutionResult:
        logged, bot = await self._pending(log_id)
        if bot.paused:
            raise InvalidRequest(f"bot {bot.name} is paused; resume it first")
        if qty is not None and (not qty.is_finite() or qty <= 0):
            raise InvalidRequest("the quantity must be a positive number")
        alert = rebuild_alert(logged.alert or {}, qty)
        if not await bots_admin.move_log_status(log_id, PENDING_APPROVAL, "approved"):
            raise InvalidRequest(f"alert #{log_id} was already handled")
        result = await self.trading.run_stored_alert(bot, alert, log_id)
        await repo.update_webhook_log(
            log_id,
            status=result.status,
            reason=f"{result.reason} (approved by {_who(actor)})",
            order_id=(result.order or {}).get("id"),
            finished_at=datetime.now(UTC),
        )
        await repo.audit(
            actor.key,
            "alert.approve",
            f"#{log_id} {bot.name}",
            "ok",
            status=result.status,
            qty=None if qty is None else f"{qty.normalize():f}",
        )
        self.events.publish(
            ApprovalResolved(
                bot=bot.name,
                symbol=alert.symbol,
                webhook_log_id=log_id,
                outcome="approved",
                by=_who(actor),
                status=result.status,
                reason=result.reason,
            )
        )
        if qty is None:
            await check_position_sync(bot, alert, self.events)
        return result

    async def reject(self, actor: Actor, log_id: int) -> None:
        logged, bot = await self._pending(log_id)
        if not await bots_admin.move_log_status(
            log_id,
            PENDING_APPROVAL,
            "rejected",
            reason=f"rejected by {_who(actor)}",
            finished_at=datetime.now(UTC),
        ):
            raise InvalidRequest(f"alert #{log_id} was already handled")
        await repo.audit(actor.key, "alert.reject", f"#{log_id} {bot.name}", "ok")
        self.events.publish(
            ApprovalResolved(
                bot=bot.name,
                symbol=logged.symbol or "",
                webhook_log_id=log_id,
                outcome="rejected",
                by=_who(actor),
            )
        )

    async def expire(self, log_id: int) -> bool:
        logged = await bots_admin.logged_alert(log_id)
        moved = await bots_admin.move_log_status(
            log_id,
            PENDING_APPROVAL,
            "expired",
            reason="not approved within the bot's max_lag",
            finished_at=datetime.now(UTC),
        )
        if moved and logged is not None:
            bot = await repo.bot_by_id(logged.bot_id) if logged.bot_id else None
            log.info("approval expired log=%d bot=%s", log_id, bot.name if bot else "-")
            await repo.audit(
                SYSTEM.key, "alert.expire", f"#{log_id} {bot.name if bot else '?'}", "ok"
            )
            self.events.publish(
                ApprovalResolved(
                    bot=bot.name if bot else "?",
                    symbol=logged.symbol or "",
                    webhook_log_id=log_id,
                    outcome="expired",
                    by=SYSTEM.name,
                )
            )
        return moved

    async def expire_overdue(self) -> int:
        """Expire what waited past its bot's max_lag (after a restart, say)."""
        count = 0
        now = datetime.now(UTC)
        for logged in await bots_admin.logs_with_status(PENDING_APPROVAL):
            if logged.bot_id is None:
                continue
            bot = await repo.bot_by_id(logged.bot_id)
            if now > logged.received_at + timedelta(seconds=bot.max_lag_seconds):
                count += await self.expire(logged.id)
        return count


def rebuild_alert(stored: dict[str, Any], qty: Decimal | None = None) -> Alert:
    """The alert as the intake stored it (passphrase redacted); a resize states the order's
    quantity, which then wins over any target position the alert stated."""
    data = {k: v for k, v in stored.items() if k != "passphrase"}
    if qty is not None:
        data["qty"] = f"{qty.normalize():f}"
        data.pop("market_position", None)
        data.pop("position_size", None)
    return build_alert(data)


def parse_qty(raw: str) -> Decimal:
    """A quantity typed in the chat, under the same rules as an alert's `qty`."""
    text = raw.strip()
    try:
        if not text.isascii():
            raise ValueError("must be a number")
        return parse_decimal(text)
    except ValueError as exc:
        if "a number" in str(exc):
            message = f"{text[:20]!r} is not a quantity; send a number like 0.5"
            raise InvalidRequest(message) from None
        raise InvalidRequest(f"the quantity {exc}") from None
