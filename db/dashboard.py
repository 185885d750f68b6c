"""The dashboard's sign-in links and sessions, on Tortoise (`trading.ports.DashboardStore`).

Rows are found by the SHA-256 of a token, never by the token. Using a link is one conditional
UPDATE, so of two processes redeeming the same link only one sees a row changed.
"""

from __future__ import annotations

from datetime import datetime

from tortoise.expressions import Q

from db.models import DashboardSession, LoginLink
from trading.ports import DashboardSessionRecord


class SqlDashboardStore:
    """`trading.ports.DashboardStore`: the `login_links` and `dashboard_sessions` tables."""

    async def add_link(
        self, token_hash: str, user_id: int, created_at: datetime, expires_at: datetime
    ) -> None:
        await LoginLink.create(
            token_hash=token_hash, user_id=user_id, created_at=created_at, expires_at=expires_at
        )

    async def use_link(self, token_hash: str, now: datetime) -> int | None:
        used = await LoginLink.filter(
            token_hash=token_hash, used_at__isnull=True, expires_at__gt=now
        ).update(used_at=now)
        if not used:
            return None
        # The row is this call's now; its user never changes.
        users = await LoginLink.filter(token_hash=token_hash).values_list("user_id", flat=True)
        return int(users[0]) if users else None

    async def add_session(
        self, token_hash: str, user_id: int, via: str, created_at: datetime, expires_at: datetime
    ) -> None:
        await DashboardSession.create(
            token_hash=token_hash,
            user_id=user_id,
            via=via,
            created_at=created_at,
            expires_at=expires_at,
        )

    async def session(self, token_hash: str, now: datetime) -> DashboardSessionRecord | None:
        row = await DashboardSession.get_or_none(
            token_hash=token_hash, revoked_at__isnull=True, expires_at__gt=now
        )
        if row is None:
            return None
        return DashboardSessionRecord(
            row.token_hash, int(row.user_id), row.via, row.created_at, row.expires_at
        )

    async def revoke_sessions(self, user_id: int, now: datetime) -> int:
        return await DashboardSession.filter(
            user_id=user_id, revoked_at__isnull=True, expires_at__gt=now
        ).update(revoked_at=now)

    async def forget_expired(self, now: datetime) -> int:
        links = await LoginLink.filter(expires_at__lte=now).delete()
        sessions = await DashboardSession.filter(
            Q(expires_at__lte=now) | Q(revoked_at__isnull=False)
        ).delete()
        return links + sessions
