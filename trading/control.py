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
MAX_ROW_ID = 2**31 - 1  # ids are INTEGER columns: a larger number names no row

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
# Settings that may be unset: a word from `_NONE_WORDS` clears them.
CLEARABLE = frozenset({"sl", "tp", "trail", "passphrase", "interval", "heartbeat_minutes"})
# What `edit_bot` may change: every setting of `BotSpec` but the name and the HMAC secret
# (signing is switched on or off, its secret is made here and shown once).
SETTINGS = frozenset(BotSpec.model_fields) - {"name", "hmac_secret"}


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
        "heartbeat_minutes": bot.heartbeat_minutes,
        "break_even_after_tp1": bot.break_even_after_tp1,
    }


class InvalidSetting(InvalidRequest):
    """A bot setting that is not valid; `field` names it (a BotSpec field), so a front end can
    name its own option for it (`--max-entries`)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


def _spec(data: dict[str, Any]) -> BotSpec:
    try:
        return BotSpec.model_validate(data)
    except ValidationError as exc:
        loc = exc.errors()[0]["loc"]
        raise InvalidSetting(str(loc[0]) if loc else "", validation_message(exc)) from None


def _raw(field_name: str, value: Any) -> Any:
    """A typed value: text trimmed, and a word for none (`-`, `off`…) on a field that may be
    unset (`sl`, `passphrase`, `heartbeat_minutes`…) as None."""
    if isinstance(value, str):
        value = value.strip()
        if field_name in CLEARABLE and value.lower() in _NONE_WORDS:
            return None
    return value


def check_field(field_name: str, raw: str) -> Any:
    """Validate one BotSpec field on its own (each step of the /newbot dialogue)."""
    draft: dict[str, Any] = {"name": "draft", "symbols": ["BTCUSDT"]}
    value = _raw(field_name, raw)
    if value is None:
        return None
    draft[field_name] = value
    return getattr(_spec(draft), field_name)


def _audited_value(value: Any) -> Any:
    """A setting as the audit log keeps it: short text, numbers and flags as they are."""
    if isinstance(value, bool | int) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k)[:32]: str(v)[:32] for k, v in list(value.items())[:20]}
    if isinstance(value, list | tuple):
        return [str(v)[:64] for v in value[:20]]
    return str(value).strip()[:64]


def _known(settings: dict[str, Any]) -> None:
    """Refuse a key that is not a bot setting, naming it."""
    unknown = sorted(set(settings) - SETTINGS)
    if unknown:
        raise InvalidSetting(unknown[0], f"{unknown[0]!r} is not a bot setting")


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
        if not 0 < bot_id <= MAX_ROW_ID:  # no such row; PostgreSQL would refuse the number
            raise NotFound(f"no bot #{bot_id}")
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
        **details: Any,
    ) -> BotConfig:
        """Apply `change` to a bot, audited (with `details`). A bot named by hand (a typo, a
        deleted one) is audited as a failed attempt on that name; an id from a button is
        checked first."""
        if isinstance(ref, int):
            bot = await self.bot_by_id(ref)
            async with self._audited(actor, action, bot.name, **details):
                return await change(bot)
        async with self._audited(actor, action, ref, **details):
            return await change(await self.bot(ref))

    async def create_bot(self, actor: Actor, spec: BotSpec, **details: Any) -> BotConfig:
        async with self._audited(actor, "bot.create", spec.name, symbols=spec.symbols, **details):
            bot = await self.stores.bots.create_bot(spec)
        log.info("bot created bot=%s by=%s", bot.name, actor.key)
        return bot

    async def add_bot(
        self, actor: Actor, name: str, settings: dict[str, Any], *, sign: bool = False
    ) -> BotConfig:
        """Create a bot from settings as typed (the fields `edit_bot` takes, by the same rules;
        `InvalidSetting` names a wrong one); `sign` gives it an HMAC secret, shown once."""
        _known(settings)
        data = {key: _raw(key, value) for key, value in settings.items()}
        data["name"] = name
        if sign:
            data["hmac_secret"] = new_hmac_secret()
        return await self.create_bot(actor, _spec(data))

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
        """One field typed in the chat (`EDITABLE`), as `edit_bot` does it."""
        if field_name not in EDITABLE:
            raise InvalidRequest(f"{field_name!r} cannot be edited from the chat")
        return await self.edit_bot(actor, bot_id, {field_name: raw})

    async def edit_bot(
        self,
        actor: Actor,
        ref: BotRef,
        changes: dict[str, Any],
        *,
        sign: bool | None = None,
    ) -> BotConfig:
        """Change several settings of a bot at once: validated together as a creation is
        (`BotSpec`), then stored in one transaction, one audit row; nothing is stored when one
        is wrong (`InvalidSetting` names it). `changes` maps BotSpec fields to values as typed
        (a word such as `-` or `off` clears `CLEARABLE` ones). A new strategy starts from its
        default parameters; `strategy_params` given are merged over the bot's (over the
        defaults with a new strategy). `sign` True gives the bot a new HMAC secret (the bot
        returned carries it, to be shown once), False stops requiring signatures."""
        _known(changes)
        if not changes and sign is None:
            raise InvalidRequest("nothing to change")
        shown = {
            key: "***" if key == "passphrase" and value is not None else _audited_value(value)
            for key, value in changes.items()
        }
        if sign is not None:
            shown["signed"] = sign
        details = (
            {"field": next(iter(shown)), "value": next(iter(shown.values()))}
            if len(shown) == 1
            else {"changes": shown}
        )

        async def change(bot: BotConfig) -> BotConfig:
            data = spec_of(bot)
            values = {key: _raw(key, value) for key, value in changes.items()}
            new_strategy = "strategy" in values and values["strategy"] != bot.strategy
            params = values.pop("strategy_params", None)
            if new_strategy:
                data["strategy_params"] = {}
            if params is not None:
                data["strategy_params"] = {**data["strategy_params"], **params}
            data.update(values)
            spec = _spec(data)
            columns: dict[str, Any] = {}
            for key in values:
                if key == "size":
                    columns["size_kind"], columns["size_value"] = parse_size(spec.size)
                else:
                    columns[key] = getattr(spec, key)
            if sign is not None:
                columns["hmac_secret"] = new_hmac_secret() if sign else None
            if new_strategy or params is not None:  # with the settings, in one transaction
                columns["strategy_params"] = spec.strategy_params
            if not await self.stores.bots.update_bot(bot.id, **columns):
                raise NotFound("that bot was deleted")
            return await self.bot_by_id(bot.id)

        return await self._change(actor, "bot.edit", ref, change, **details)

    async def delete_bot(self, actor: Actor, bot: BotRef) -> str:
        """Soft-delete a bot (its trades stay); refused while it has open positions."""

        async def change(found: BotConfig) -> BotConfig:
            open_symbols = await self.open_symbols(found)
            if open_symbols:
                raise InvalidRequest(
                    f"{found.name} still has open positions ({', '.join(open_symbols)}); "
                    "close them first"
                )
            if not await self.stores.bots.soft_delete_bot(found.id):
                raise NotFound(f"no bot named {found.name!r}")
            return found

        deleted = await self._change(actor, "bot.delete", bot, change)
        self.events.publish(ControlAction(what=f"bot {deleted.name} deleted", by=actor.shown))
        return deleted.name

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
        if not 0 < position_id <= MAX_ROW_ID:  # no such row; PostgreSQL would refuse the number
            raise NotFound(f"no open position #{position_id}")
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

    async def to_close(self, target: str) -> list[PositionView]:
        """What `close(target)` closes: position #12 for `12`, every position of bot `demo`
        for `demo` (to show before asking)."""
        target = target.strip().lstrip("#")
        if not target:
            raise InvalidRequest("say what to close: /close BOT_NAME or /close POSITION_ID")
        if target.isascii() and target.isdigit():
            if len(target) > 15:
                raise NotFound(f"no open position #{target[:15]}…")
            return [await self.position(int(target))]  # past MAX_ROW_ID: NotFound
        bot = await self.bot(target)
        positions = await self.stores.positions.list_positions(bot.name)
        if not positions:
            raise NotFound(f"{bot.name} has no open position")
        return positions

    async def close(
        self, actor: Actor, target: str, shown: list[PositionView] | None = None
    ) -> list[Closed]:
        """`/close 12` closes position #12; `/close demo` closes every position of bot demo.
        `shown`: the positions the user confirmed (from `to_close`), so none opened while they
        read is closed unseen."""
        return await self._close_each(
            actor, shown if shown is not None else await self.to_close(target)
        )

    async def close_all(
        self, actor: Actor, shown: list[PositionView] | None = None
    ) -> list[Closed]:
        """Every open position at market (or the `shown` ones the user confirmed)."""
        async with self._audited(actor, "position.close_all") as extra:
            chosen = shown if shown is not None else await self.stores.positions.list_positions()
            closed = await self._close_each(actor, chosen)
            extra.update(
                closed=sum(c.result.status == "executed" for c in closed), total=len(closed)
            )
        return closed

    async def _close_each(self, actor: Actor, positions: list[PositionView]) -> list[Closed]:
        """One by one at market; a refusal (or a position closed meanwhile) is reported with its
        reason and does not stop the others."""
        closed: list[Closed] = []
        for position in positions:
            try:
                closed.append(await self.close_position(actor, position.id))
            except TradingError as exc:
                failed = ExecutionResult(
                    status="rejected", reason=exc.user_message, bot=position.bot
                )
                closed.append(Closed(position, failed))
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
