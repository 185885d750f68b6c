"""The notification outbox and the approval cards, on Tortoise (`trading.outbox`'s ports)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from db.models import ApprovalCard, Notification
from trading.outbox import OutboxRow

# What PostgreSQL's jsonb (and UTF-8) cannot hold: a NUL, a lone surrogate.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: Any) -> Any:
    """`value` with every string storable (such characters become U+FFFD): one event with a NUL
    in a reason must not keep the outbox from being written."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, list):
        return [storable(item) for item in value]
    if isinstance(value, dict):
        return {key: storable(item) for key, item in value.items()}
    return value


class SqlOutbox:
    """`trading.outbox.Outbox`: the `notifications` table."""

    async def append(self, origin: str, records: Sequence[tuple[str, dict[str, Any]]]) -> None:
        now, origin = datetime.now(UTC), origin[:128]
        await Notification.bulk_create(
            [
                Notification(type=name, payload=storable(payload), origin=origin, created_at=now)
                for name, payload in records
            ]
        )

    async def unsent(self, limit: int) -> list[OutboxRow]:
        rows = (
            await Notification.filter(sent_at__isnull=True)
            .order_by("id")
            .limit(limit)
            .values_list("id", "type", "payload", "created_at", "origin")
        )
        return [
            OutboxRow(id=id_, type=type_, payload=payload, created_at=created, origin=origin)
            for id_, type_, payload, created, origin in rows
        ]

    async def mark_sent(self, ids: Sequence[int]) -> None:
        await Notification.filter(id__in=list(ids)).update(sent_at=datetime.now(UTC))

    async def forget_sent(self, before: datetime) -> int:
        return await Notification.filter(sent_at__lt=before).delete()


class SqlApprovalCards:
    """`trading.outbox.ApprovalCardStore`: the `approval_cards` table."""

    async def remember(self, webhook_log_id: int, messages: Sequence[tuple[int, int]]) -> None:
        now = datetime.now(UTC)
        await ApprovalCard.bulk_create(
            [
                ApprovalCard(
                    webhook_log_id=webhook_log_id,
                    chat_id=chat_id,
                    message_id=message_id,
                    created_at=now,
                )
                for chat_id, message_id in messages
            ]
        )

    async def take(self, webhook_log_id: int) -> list[tuple[int, int]]:
        rows = (
            await ApprovalCard.filter(webhook_log_id=webhook_log_id)
            .order_by("id")
            .values_list("id", "chat_id", "message_id")
        )
        if not rows:
            return []
        # Only the rows this call deleted are its to edit (two takers never edit one copy twice).
        taken = []
        for id_, chat_id, message_id in rows:
            if await ApprovalCard.filter(id=id_).delete():
                taken.append((int(chat_id), int(message_id)))
        return taken

    async def forget_before(self, before: datetime) -> int:
        return await ApprovalCard.filter(created_at__lt=before).delete()
