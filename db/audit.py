"""The audit trail (the `AuditStore`): who did what, when, with what outcome."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from db.models import AuditLog
from trading.records import HEARTBEAT_ACTIONS, AuditRecord


class SqlAuditStore:
    """`trading.ports.AuditStore` on the `audit_logs` table."""

    async def audit(
        self, actor: str, action: str, target: str = "", outcome: str = "ok", **details: Any
    ) -> None:
        await AuditLog.create(
            actor=actor, action=action, target=target[:128], outcome=outcome, details=details
        )

    async def last_heartbeat_notice(self, bot_name: str) -> tuple[str, datetime] | None:
        """The latest heartbeat warning or all-clear recorded for a bot, so a restarted monitor
        neither repeats a warning nor forgets to give the all-clear."""
        row = (
            await AuditLog.filter(action__in=HEARTBEAT_ACTIONS, target=bot_name)
            .order_by("-id")
            .first()
        )
        return (row.action, row.created_at) if row else None

    async def last_audit(self, actions: tuple[str, ...], outcome: str = "ok") -> AuditRecord | None:
        row = (
            await AuditLog.filter(action__in=list(actions), outcome=outcome).order_by("-id").first()
        )
        if row is None:
            return None
        return AuditRecord(
            row.actor, row.action, row.target, row.outcome, dict(row.details), row.created_at
        )

    async def count_audit(self, actor: str, action: str, since: datetime) -> int:
        """How many audit rows of one action an actor left since a moment (the wrong-code
        brake)."""
        return await AuditLog.filter(actor=actor, action=action, created_at__gte=since).count()
