"""The control surface's services, free of any transport (freqtrade's `rpc.py`): bot management,
manual closes, the kill switch, position sync, and the reads every front end shows (bots,
positions, health). Manual approvals are `trading.approvals`.

The chat, the read API and the CLI parse, call one of these, and render; every state change is an
audit row (who, what, when, outcome) written here, whoever asks, and refusals raise a
TradingError whose message the front end shows as is. Trades go through `TradingService`, the
same path a webhook alert takes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from trading.access import Actor
from trading.alerts import build_alert
from trading.approvals import ApprovalService
from trading.bots import NAME, BotConfig, BotSpec, parse_size
from trading.brokers.base import Balance, BaseBroker
from trading.control_events import ControlAction
from trading.errors import InvalidRequest, NotFound, TradingError
from trading.events import EventSink
from trading.ports import AuditStore, HealthStore, Stores
from trading.positions import allowed_target
from trading.records import RecentRequest
from trading.series import is_interval
from trading.service import TradingService
from trading.signatures import new_hmac_secret
from trading.strategies import registry
from trading.views import BotView, ExecutionResult, PositionView, bot_view

log = logging.getLogger(__name__)

# A bot as a front end names it: its id (chat buttons) or its name (typed: CLI, commands).
BotRef = int | str

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


@dataclass(frozen=True, slots=True)
class Closed:
    position: PositionView  # as it was before the close
    result: ExecutionResult


@dataclass(frozen=True, slots=True)
class KillSwitch:
    on: bool
    by: str = ""
    since: datetime | None = None
    paused: list[str] = field(default_factory=list)  # by a kill switch of before the upgrade
    reason: str = ""


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
    broker: BaseBroker,
    health: HealthStore,
    extra: dict[str, dict[str, str]],
    timeout: float = HEALTH_TIMEOUT,
) -> Health:
    """The database and the broker checked now, with the parts that report their own state
    (Telegram, monitor) in `extra`: for `GET /health` and `/health` in the chat alike."""
    checks: dict[str, dict[str, str]] = {}
    try:
        await asyncio.wait_for(health.ping(), timeout)
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
    audit: AuditStore, actor: Actor, action: str, target: str = "", /, **details: Any
) -> AsyncIterator[dict[str, Any]]:
    """Audit a state change: `ok` with the details gathered, or `failed` with the reason."""
    extra: dict[str, Any] = dict(details)
    try:
        yield extra
    except TradingError as exc:
        await audit.audit(actor.key, action, target, "failed", error=exc.user_message, **extra)
        raise
    except Exception as exc:
        await audit.audit(actor.key, action, target, "failed", error=type(exc).__name__, **extra)
        raise
    await audit.audit(actor.key, action, target, "ok", **extra)


class ControlService:
    """One path for every front end: the chat, the read API and the CLI call these methods."""

    def __init__(
        self,
        trading: TradingService,
        events: EventSink,
        *,
        stores: Stores,
        approvals: ApprovalService,
        base_url: str,
    ) -> None:
        self.trading = trading
        self.events = events
        self.stores = stores
        self.approvals = approvals
        self.base_url = base_url.rstrip("/")

    def _audited(
        self, actor: Actor, action: str, target: str = "", /, **details: Any
    ) -> AbstractAsyncContextManager[dict[str, Any]]:
        return audited(self.stores.audit, actor, action, target, **details)

    # ------------------------------------------------------------ bots

    @staticmethod
    def strategies() -> list[str]:
        return registry.names()

    async def bots(self) -> list[BotConfig]:
        return await self.stores.bots.list_bots()

    async def bot_views(self) -> list[BotView]:
        """Every active bot as shown outside (`GET /bots`, `tradebot bots list`)."""
        return [self.view(bot) for bot in await self.bots()]

    async def has_bots(self) -> bool:
        return bool(await self.stores.bots.count_bots())

    async def bot(self, name: str) -> BotConfig:
        name = name.strip()
        if not NAME.match(name):  # what cannot be a name is not looked up (the column is 64)
            raise NotFound(f"no bot named {name[:32]!r}")
        return await self.stores.bots.bot_by_name(name)

    async def bot_by_id(self, bot_id: int) -> BotConfig:
        bot = await self.stores.bots.active_bot_by_id(bot_id)
        if bot is None:
            await self.stores.bots.bot_by_id(bot_id)  # NotFound when there never was one
            raise NotFound("that bot was deleted")
        return bot

    def view(self, bot: BotConfig) -> BotView:
        return bot_view(bot, self.base_url)

    def webhook_url(self, bot: BotConfig) -> str:
        return f"{self.base_url}/webhook/{bot.webhook_key}"

    async def open_symbols(self, bot: BotConfig) -> list[str]:
        return list(await self.stores.positions.open_positions_of(bot.id))

    async def _change(
        self,
        actor: Actor,
        action: str,
        ref: BotRef,
        change: Callable[[BotConfig], Awaitable[BotConfig]],
    ) -> BotConfig:
        """Apply `change` to a bot, audited. A bot named by hand (a typo, a deleted one) is
        audited as a failed attempt on that name; an id from a button is checked first."""
        if isinstance(ref, int):
            bot = await self.bot_by_id(ref)
            async with self._audited(actor, action, bot.name):
                return await change(bot)
        async with self._audited(actor, action, ref):
            return await change(await self.bot(ref))

    async def create_bot(self, actor: Actor, spec: BotSpec, **details: Any) -> BotConfig:
        async with self._audited(actor, "bot.create", spec.name, symbols=spec.symbols, **details):
            bot = await self.stores.bots.create_bot(spec)
        log.info("bot created bot=%s by=%s", bot.name, actor.key)
        return bot

    async def set_paused(self, actor: Actor, bot: BotRef, paused: bool) -> BotConfig:
        async def change(found: BotConfig) -> BotConfig:
            return await self.stores.bots.set_paused(found.name, paused)

        return await self._change(actor, "bot.pause" if paused else "bot.resume", bot, change)

    async def rotate_key(self, actor: Actor, bot: BotRef) -> BotConfig:
        """A new webhook key; the old URL stops working at once."""

        async def change(found: BotConfig) -> BotConfig:
            return await self.stores.bots.rotate_key(found.name)

        return await self._change(actor, "bot.rotate_key", bot, change)

    async def set_signing(self, actor: Actor, bot: BotRef, on: bool) -> BotConfig:
        """Require HMAC-signed alerts with a new secret (the returned bot carries it, to be
        shown once), or stop requiring them."""

        async def change(found: BotConfig) -> BotConfig:
            secret = new_hmac_secret() if on else None
            return await self.stores.bots.set_hmac_secret(found.name, secret)

        return await self._change(actor, "bot.sign" if on else "bot.sign_off", bot, change)

    async def update_bot(self, actor: Actor, bot_id: int, field_name: str, raw: str) -> BotConfig:
        if field_name not in EDITABLE:
            raise InvalidRequest(f"{field_name!r} cannot be edited from the chat")
        bot = await self.bot_by_id(bot_id)
        shown = "***" if field_name == "passphrase" else raw.strip()[:64]
        async with self._audited(actor, "bot.edit", bot.name, field=field_name, value=shown):
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
                await self.stores.bots.set_strategy(bot.id, spec.strategy, {})
            elif field_name == "size":
                kind, value = parse_size(spec.size)
                await self.stores.bots.update_bot(bot.id, size_kind=kind, size_value=value)
            else:
                await self.stores.bots.update_bot(bot.id, **{field_name: getattr(spec, field_name)})
        return await self.bot_by_id(bot.id)

    async def delete_bot(self, actor: Actor, bot_id: int) -> str:
        bot = await self.bot_by_id(bot_id)
        async with self._audited(actor, "bot.delete", bot.name):
            open_symbols = await self.open_symbols(bot)
            if open_symbols:
                raise InvalidRequest(
                    f"{bot.name} still has open positions ({', '.join(open_symbols)}); "
                    "close them first"
                )
            if not await self.stores.bots.soft_delete_bot(bot.id):
                raise NotFound(f"no bot named {bot.name!r}")
        self.events.publish(ControlAction(what=f"bot {bot.name} deleted", by=actor.shown))
        return bot.name

    async def bind_chat(
        self, actor: Actor, bot_id: int, chat_id: int | None, topic_id: int | None = None
    ) -> BotConfig:
        bot = await self.bot_by_id(bot_id)
        action = "bot.chat.bind" if chat_id is not None else "bot.chat.unbind"
        async with self._audited(actor, action, bot.name, chat_id=chat_id, topic_id=topic_id):
            await self.stores.bots.bind_chat(bot.id, chat_id, topic_id)
        return bot

    async def chat_of(self, bot_id: int) -> tuple[int | None, int | None]:
        return await self.stores.bots.chat_of(bot_id)

    # ------------------------------------------------------------ positions

    async def positions(self, bot_name: str | None = None) -> list[PositionView]:
        """Open positions (of one bot when named), with their unrealized PnL."""
        return await self.stores.positions.list_positions(bot_name)

    async def position(self, position_id: int) -> PositionView:
        found = await self.stores.positions.list_positions(position_id=position_id)
        if not found:
            raise NotFound(f"position #{position_id} is already closed")
        return found[0]

    async def close_position(self, actor: Actor, position_id: int) -> Closed:
        position = await self.position(position_id)
        where = await self.stores.positions.position_by_id(position_id)
        if where is None:
            raise NotFound(f"position #{position_id} is already closed")
        bot = await self.stores.bots.bot_by_id(where[0])
        async with self._audited(actor, "position.close", f"{bot.name} {position.symbol}") as extra:
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
        positions = await self.stores.positions.list_positions(bot.name)
        if not positions:
            raise NotFound(f"{bot.name} has no open position")
        return [await self.close_position(actor, p.id) for p in positions]

    async def close_all(self, actor: Actor) -> list[Closed]:
        """Every open position at market, one by one; a refusal does not stop the others."""
        closed: list[Closed] = []
        async with self._audited(actor, "position.close_all") as extra:
            for position in await self.stores.positions.list_positions():
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
                "comment": f"sync by {actor.shown}",
            }
        )
        # The owner asked for exactly this position: the pyramiding limit does not apply.
        unlimited = bot.model_copy(update={"max_entries": 1_000_000})
        async with self._audited(actor, "position.sync", f"{bot.name} {symbol}", to=str(target)):
            result = await self.trading.execute_alert(unlimited, alert)
        return result

    # ------------------------------------------------------------ kill switch

    async def kill_switch(self) -> KillSwitch:
        """The kill switch as /status shows it (set and lifted through `RiskService`)."""
        state = (await self.stores.risk.account_state()).kill_switch
        return KillSwitch(
            on=state.on,
            by=state.by,
            since=state.since,
            paused=list(state.legacy_paused),
            reason=state.reason,
        )

    # ------------------------------------------------------------ overview

    async def overview(self) -> Overview:
        """The /status card; it also reconciles pending orders and holdings with the broker."""
        try:
            report, holdings = await self.trading.reconcile()
            findings = report.lines() + holdings.lines()
        except TradingError as exc:
            findings = [f"reconciliation skipped: {exc.user_message}"]
        bots = await self.stores.bots.list_bots()
        pending = await self.approvals.pending_count()
        return Overview(
            bots=len(bots),
            paused=sum(b.paused for b in bots),
            positions=await self.stores.positions.list_positions(),
            kill_switch=await self.kill_switch(),
            pending_approvals=pending,
            broker=self.trading.broker.name,
            reconciliation=findings,
        )

    @property
    def broker_name(self) -> str:
        return self.trading.broker.name

    async def balances(self) -> list[Balance]:
        return await self.trading.broker.balances()

    async def health(self, extra: dict[str, dict[str, str]]) -> Health:
        """`GET /health` and the chat's /health: storage and broker now, plus `extra`."""
        return await check_health(self.trading.broker, self.stores.health, extra)

    async def recent_alerts(self, limit: int = 15) -> list[RecentRequest]:
        return await self.stores.alerts.recent_webhook_logs(limit)
