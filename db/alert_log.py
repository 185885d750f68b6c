"""The webhook log (the `AlertLogStore`): one row per request, the alert's execution state on
it, accepted signatures, start-up recovery's reads and the rows of alerts waiting for approval."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from db import sql
from db.models import Order, UsedSignature, WebhookLog
from db.prices import bot_price_upsert, ensure_instrument
from trading.answers import ACCEPTED
from trading.records import (
    ALERT_RUNNING,
    AlertOrder,
    AlertTaken,
    DuplicateKey,
    LoggedAlert,
    RecentRequest,
    UnfinishedAlert,
)

# The condition of a log row still its intake's to finish (`ALERT_RUNNING`, not finished)
ALERT_IS_RUNNING = '"id" = ? AND "status" IN (?, ?) AND "finished_at" IS NULL'

# The answer code written on a log row, unless the sender was answered `ACCEPTED` meanwhile:
# then the row keeps it (the rule's home: `trading.answers`)
_ANSWER_UNLESS_ACCEPTED = (
    f'UPDATE "webhook_logs" SET "http_status" = ? WHERE "id" = ? AND "http_status" <> {ACCEPTED}'
)


def still_running(batch: sql.Batch, log_id: int) -> None:
    """Refuse the batch (AlertTaken) unless the alert's log row is still its intake's."""
    batch.execute(
        f'UPDATE "webhook_logs" SET "status" = "status" WHERE {ALERT_IS_RUNNING}',
        log_id,
        *ALERT_RUNNING,
        require=AlertTaken(f"webhook log {log_id} is no longer running here"),
    )


def answer_unless_accepted(batch: sql.Batch, log_id: int, code: int) -> None:
    """Write `code` as the row's answer code, unless the row is at `ACCEPTED` (kept)."""
    batch.execute(_ANSWER_UNLESS_ACCEPTED, code, log_id)


def answer_unless_accepted_set(code: int) -> tuple[str, tuple[int]]:
    """`answer_unless_accepted` as one more assignment of an UPDATE of the row
    (`sql.Batch.update(also=...)`): one statement instead of two."""
    return (f'"http_status" = CASE WHEN "http_status" <> {ACCEPTED} THEN ? ELSE "http_status" END',
            (code,))  # fmt: skip


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


class SqlAlertLogStore:
    """`trading.ports.AlertLogStore` on the `webhook_logs` and `used_signatures` tables."""

    async def insert_webhook_log(
        self, *, price: tuple[str, Decimal, datetime, str] | None = None, **fields: Any
    ) -> int:
        """Insert a log row (every request: lean SQL). Raises DuplicateKey when its
        `dedup_key` was seen before. With `price` (symbol, price, seen at, source), the alert's
        price is recorded in the same transaction as the price of the row's bot (`bot_id`), as
        `record_price` does: one commit for all."""
        batch = sql.Batch()
        row = batch.insert(WebhookLog, fields)
        if price is not None:
            await ensure_instrument(price[0])
            bot_price_upsert(batch, fields["bot_id"], *price)
        try:
            results = await sql.run(batch)
        except IntegrityError as exc:
            raise DuplicateKey(str(exc)) from exc
        return int(results[row.index])

    async def update_webhook_log(self, log_id: int, **fields: Any) -> None:
        await WebhookLog.filter(id=log_id).update(**fields)

    async def finish_alert_log(
        self, log_id: int, *, status: str, reason: str, order_id: int | None, answered: int | None
    ) -> bool:
        """Finish an alert's log row with an outcome that was not written with a fill: only
        while the row is still running (not finished by a fill's own commit, nor claimed by
        another process's recovery). `answered`: the answer code, kept at `ACCEPTED` if the
        sender got that meanwhile. False when the row was not the intake's to finish any more."""
        batch = sql.Batch()
        done = batch.update(
            WebhookLog,
            {
                "status": status,
                "reason": reason,
                "order_id": order_id,
                "finished_at": datetime.now(UTC),
            },
            ALERT_IS_RUNNING,
            log_id,
            *ALERT_RUNNING,
        )
        if answered is not None:
            answer_unless_accepted(batch, log_id, answered)
        return bool((await sql.run(batch))[done])

    async def webhook_log_by_dedup(self, dedup_key: str) -> LoggedAlert | None:
        row = await WebhookLog.get_or_none(dedup_key=dedup_key)
        return _logged(row) if row else None

    async def remember_signature(self, digest: str, bot_id: int, expires_at: datetime) -> bool:
        """Record an accepted webhook signature; False when it was used before (a replay). The
        primary key makes the check atomic across processes; expired rows are pruned on the
        way."""
        now = datetime.now(UTC)
        if secrets.randbelow(50) == 0:
            await UsedSignature.filter(expires_at__lt=now).delete()
        try:
            await UsedSignature.create(digest=digest, bot_id=bot_id, expires_at=expires_at)
        except IntegrityError:
            return False
        return True

    async def bump_webhook_log(self, log_id: int, seen_at: datetime) -> bool:
        """Count one more identical refusal on an aggregated row (False if the row is gone)."""
        return bool(
            await WebhookLog.filter(id=log_id).update(
                repeat_count=F("repeat_count") + 1, last_seen_at=seen_at
            )
        )

    async def recent_webhook_logs(
        self, limit: int = 20, bot_name: str | None = None
    ) -> list[RecentRequest]:
        query = WebhookLog.all().prefetch_related("bot").order_by("-id").limit(limit)
        if bot_name:
            query = query.filter(bot__name=bot_name)
        return [
            RecentRequest(
                id=row.id,
                bot=row.bot.name if row.bot else None,
                status=row.status,
                action=row.action,
                symbol=row.symbol,
                reason=row.reason,
                received_at=row.received_at,
                repeats=row.repeat_count,
            )
            for row in await query
        ]

    async def alert_since(self, bot_id: int, since: datetime) -> datetime | None:
        """When the bot's latest alert after `since` arrived (refused requests do not count);
        None when none came. Bounded by the rows received since then (indexed on received_at)."""
        row = (
            await WebhookLog.filter(bot_id=bot_id, received_at__gt=since)
            .exclude(status="refused")
            .order_by("-received_at")
            .first()
        )
        return row.received_at if row else None

    # ------------------------------------------------------------ start-up recovery of alerts

    async def unfinished_alerts(
        self, statuses: tuple[str, ...], *, received_after: datetime, received_before: datetime
    ) -> list[UnfinishedAlert]:
        """Log rows in one of `statuses` with no `finished_at`, received in the window, oldest
        first (bounded by the received_at index)."""
        rows = await WebhookLog.filter(
            received_at__gte=received_after,
            received_at__lt=received_before,
            status__in=list(statuses),
            finished_at__isnull=True,
        ).order_by("id")
        return [
            UnfinishedAlert(
                id=row.id,
                bot_id=row.bot_id,  # type: ignore[attr-defined]
                status=row.status,
                alert=dict(row.alert) if row.alert else None,
                symbol=row.symbol,
                received_at=row.received_at,
            )
            for row in rows
        ]

    async def move_unfinished_log(
        self, log_id: int, expected: tuple[str, ...], new: str, **fields: Any
    ) -> bool:
        """Move a log row that has not finished from one of `expected` to `new`, with `fields`.
        A conditional update: of two processes racing for the row, exactly one gets True."""
        return bool(
            await WebhookLog.filter(
                id=log_id, status__in=list(expected), finished_at__isnull=True
            ).update(status=new, **fields)
        )

    async def orders_of_alert(self, log_id: int) -> list[AlertOrder]:
        """The orders an alert's execution wrote (at most one in practice), oldest first."""
        rows = await Order.filter(webhook_log_id=log_id).order_by("id")
        return [
            AlertOrder(
                id=row.id,
                client_order_id=row.client_order_id,
                symbol=row.symbol,
                status=row.status,
                intent=row.intent,
                error=row.error,
                created_at=row.created_at,
            )
            for row in rows
        ]

    async def prune_webhook_logs(self, before: datetime) -> int:
        """Delete `webhook_logs` rows received before `before` (retention); rows of alerts
        still running or waiting for approval are kept whatever their age. Returns how many
        went."""
        return int(
            await WebhookLog.filter(received_at__lt=before)
            .exclude(status__in=("received", "accepted", "pending_approval"))
            .delete()
        )

    # ------------------------------------------------------------ alerts waiting for approval

    async def logged_alert(self, log_id: int) -> LoggedAlert | None:
        row = await WebhookLog.get_or_none(id=log_id)
        return _logged(row) if row else None

    async def move_log_status(self, log_id: int, expected: str, new: str, **fields: Any) -> bool:
        """Change a log row's status only if it still has `expected` (first writer wins)."""
        return bool(
            await WebhookLog.filter(id=log_id, status=expected).update(status=new, **fields)
        )

    async def logs_with_status(self, status: str) -> list[LoggedAlert]:
        return [_logged(row) for row in await WebhookLog.filter(status=status).order_by("id")]
