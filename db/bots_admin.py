"""Bot administration from the chat: edits, soft delete, chat binding, the kill switch, and the
webhook-log rows of alerts waiting for a manual approval."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.transactions import in_transaction

from db.models import AuditLog, StrategyConfig, TradingBot, WebhookLog

KILL_SWITCH_ACTIONS = ("kill_switch.on", "kill_switch.off")


async def update_bot(bot_id: int, **fields: Any) -> bool:
    return bool(await TradingBot.filter(id=bot_id, deleted_at=None).update(**fields))


async def set_strategy(bot_id: int, strategy: str, params: dict[str, Any]) -> None:
    async with in_transaction():
        await TradingBot.filter(id=bot_id, deleted_at=None).update(strategy=strategy)
        await StrategyConfig.create(bot_id=bot_id, strategy=strategy, params=params)


async def soft_delete_bot(bot_id: int) -> bool:
    """Keep the row (trades refer to it) but free the name and kill the webhook URL."""
    row = await TradingBot.get_or_none(id=bot_id, deleted_at=None)
    if row is None:
        return False
    now = datetime.now(UTC)
    return bool(
        await TradingBot.filter(id=bot_id, deleted_at=None).update(
            deleted_at=now,
            paused=True,
            name=f"{row.name}#deleted{row.id}"[:64],
            webhook_key=f"deleted-{row.id}-{now.timestamp():.0f}",
        )
    )


async def bind_chat(bot_id: int, chat_id: int | None, topic_id: int | None) -> bool:
    return bool(
        await TradingBot.filter(id=bot_id, deleted_at=None).update(
            chat_id=chat_id, topic_id=topic_id
        )
    )


async def bot_chats() -> dict[str, tuple[int, int | None]]:
    """Bot name → (chat id, forum topic id) for bots that post to a group chat."""
    rows = await TradingBot.filter(deleted_at=None, chat_id__not_isnull=True).values_list(
        "name", "chat_id", "topic_id"
    )
    return {name: (chat_id, topic_id) for name, chat_id, topic_id in rows}


async def chat_of(bot_id: int) -> tuple[int | None, int | None]:
    row = await TradingBot.get_or_none(id=bot_id)
    return (row.chat_id, row.topic_id) if row else (None, None)


async def pause_active_bots() -> list[str]:
    """Pause every active bot; the names of those this call paused."""
    async with in_transaction():
        names = await TradingBot.filter(deleted_at=None, paused=False).values_list(
            "name", flat=True
        )
        await TradingBot.filter(name__in=list(names), deleted_at=None).update(paused=True)
    return [str(name) for name in names]


async def unpause_bots(names: list[str]) -> list[str]:
    """Un-pause the named bots that still exist and are paused; the names un-paused."""
    async with in_transaction():
        found = await TradingBot.filter(name__in=names, deleted_at=None, paused=True).values_list(
            "name", flat=True
        )
        await TradingBot.filter(name__in=list(found), deleted_at=None).update(paused=False)
    return [str(name) for name in found]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    actor: str
    action: str
    target: str
    outcome: str
    details: dict[str, Any]
    created_at: datetime


async def last_audit(actions: tuple[str, ...], outcome: str = "ok") -> AuditRecord | None:
    row = await AuditLog.filter(action__in=list(actions), outcome=outcome).order_by("-id").first()
    if row is None:
        return None
    return AuditRecord(
        row.actor, row.action, row.target, row.outcome, dict(row.details), row.created_at
    )


# ---------------------------------------------------------------- alerts waiting for approval


@dataclass(frozen=True, slots=True)
class LoggedAlert:
    id: int
    bot_id: int | None
    status: str
    alert: dict[str, Any] | None
    symbol: str | None
    action: str | None
    reason: str | None
    received_at: datetime


def _logged(row: WebhookLog) -> LoggedAlert:
    return LoggedAlert(
        id=row.id,
        bot_id=row.bot_id,  # type: ignore[attr-defined]
        status=row.status,
        alert=dict(row.alert) if row.alert else None,
        symbol=row.symbol,
        action=row.action,
        reason=row.reason,
        received_at=row.received_at,
    )


async def logged_alert(log_id: int) -> LoggedAlert | None:
    row = await WebhookLog.get_or_none(id=log_id)
    return _logged(row) if row else None


async def move_log_status(log_id: int, expected: str, new: str, **fields: Any) -> bool:
    """Change a log row's status only if it still has `expected` (first writer wins)."""
    return bool(await WebhookLog.filter(id=log_id, status=expected).update(status=new, **fields))


async def logs_with_status(status: str) -> list[LoggedAlert]:
    return [_logged(row) for row in await WebhookLog.filter(status=status).order_by("id")]
