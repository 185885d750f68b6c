"""Manual approvals: alerts of bots with `approval: manual` wait in `webhook_logs` (status
pending_approval) until someone approves, rejects or resizes them, or the bot's max_lag passes.
Also the position-sync check that runs after an alert, whoever executed it.

Transport-free like `trading.control`: the intake asks for an approval, the chat answers it, and
recovery expires what waited too long; every outcome is an audit row.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from trading.access import SYSTEM, Actor
from trading.alerts import Alert, build_alert, parse_decimal
from trading.answers import ACCEPTED
from trading.bots import BotConfig
from trading.control_events import ApprovalRequested, ApprovalResolved, OutOfSync
from trading.errors import InvalidRequest, NotFound
from trading.events import EventSink
from trading.ports import PositionStore, Stores
from trading.positions import allowed_target
from trading.records import LoggedAlert
from trading.service import TradingService
from trading.views import ExecutionResult

log = logging.getLogger(__name__)

PENDING_APPROVAL = "pending_approval"  # webhook_logs.status while an alert waits (16 chars max)
ZERO = Decimal(0)


async def check_position_sync(
    bot: BotConfig, alert: Alert, events: EventSink, positions: PositionStore
) -> bool:
    """After an alert ran: publish OutOfSync when the bot's position is not the one the alert
    states (max entries, a broker refusal, a manual close...). True when in sync or unstated.

    Only `signal` bots follow the alert's position; other strategies decide for themselves.
    Never raises: a failed check must not turn an executed alert into an error."""
    try:
        target = alert.target_position
        if target is None or bot.strategy != "signal":
            return True
        target = allowed_target(target, bot.direction)
        stored = await positions.load_position(bot.id, alert.symbol)
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


class ApprovalService:
    """Built once by the composition root and shared by the intake, recovery and the chat."""

    def __init__(self, trading: TradingService, events: EventSink, *, stores: Stores) -> None:
        self.trading = trading
        self.events = events
        self.stores = stores

    async def request(self, bot: BotConfig, alert: Alert, log_id: int) -> ExecutionResult:
        """Called by the intake instead of executing; answers the webhook `accepted`."""
        expires_at = datetime.now(UTC) + timedelta(seconds=bot.max_lag_seconds)
        await self.stores.alerts.move_log_status(
            log_id,
            "received",
            PENDING_APPROVAL,
            http_status=ACCEPTED,
            reason=f"awaiting approval until {expires_at:%H:%M:%S} UTC",
        )
        log.info("alert awaits approval bot=%s symbol=%s log=%d", bot.name, alert.symbol, log_id)
        try:
            allowed = await self.trading.preview(bot, alert)
        except Exception:  # the card goes out without it
            log.exception("risk preview failed bot=%s log=%d", bot.name, log_id)
            allowed = None
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
                risk=allowed,
            )
        )
        return ExecutionResult(
            status="accepted", reason="awaiting approval in Telegram", bot=bot.name
        )

    async def _pending(self, log_id: int) -> tuple[LoggedAlert, BotConfig]:
        logged = await self.stores.alerts.logged_alert(log_id)
        if logged is None or logged.bot_id is None or logged.alert is None:
            raise NotFound(f"alert #{log_id} not found")
        if logged.status != PENDING_APPROVAL:
            raise InvalidRequest(f"alert #{log_id} was already handled ({logged.status})")
        bot = await self.stores.bots.bot_by_id(logged.bot_id)
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
        if not await self.stores.alerts.move_log_status(log_id, PENDING_APPROVAL, "approved"):
            raise InvalidRequest(f"alert #{log_id} was already handled")
        result = await self.trading.run_stored_alert(bot, alert, log_id)
        await self.stores.alerts.update_webhook_log(
            log_id,
            status=result.status,
            reason=f"{result.reason} (approved by {actor.shown})",
            order_id=(result.order or {}).get("id"),
            finished_at=datetime.now(UTC),
        )
        await self.stores.audit.audit(
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
                by=actor.shown,
                status=result.status,
                reason=result.reason,
            )
        )
        if qty is None:
            await check_position_sync(bot, alert, self.events, self.stores.positions)
        return result

    async def reject(self, actor: Actor, log_id: int) -> None:
        logged, bot = await self._pending(log_id)
        if not await self.stores.alerts.move_log_status(
            log_id,
            PENDING_APPROVAL,
            "rejected",
            reason=f"rejected by {actor.shown}",
            finished_at=datetime.now(UTC),
        ):
            raise InvalidRequest(f"alert #{log_id} was already handled")
        await self.stores.audit.audit(actor.key, "alert.reject", f"#{log_id} {bot.name}", "ok")
        self.events.publish(
            ApprovalResolved(
                bot=bot.name,
                symbol=logged.symbol or "",
                webhook_log_id=log_id,
                outcome="rejected",
                by=actor.shown,
            )
        )

    async def expire(self, log_id: int) -> bool:
        logged = await self.stores.alerts.logged_alert(log_id)
        moved = await self.stores.alerts.move_log_status(
            log_id,
            PENDING_APPROVAL,
            "expired",
            reason="not approved within the bot's max_lag",
            finished_at=datetime.now(UTC),
        )
        if moved and logged is not None:
            bot = await self.stores.bots.bot_by_id(logged.bot_id) if logged.bot_id else None
            log.info("approval expired log=%d bot=%s", log_id, bot.name if bot else "-")
            await self.stores.audit.audit(
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
        for logged in await self.stores.alerts.logs_with_status(PENDING_APPROVAL):
            if logged.bot_id is None:
                continue
            bot = await self.stores.bots.bot_by_id(logged.bot_id)
            if now > logged.received_at + timedelta(seconds=bot.max_lag_seconds):
                count += await self.expire(logged.id)
        return count

    async def pending_count(self) -> int:
        """How many alerts wait for an approval now (the /status card)."""
        return len(await self.stores.alerts.logs_with_status(PENDING_APPROVAL))


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
