"""Who may do what: roles (owner / trader / viewer), the audit of refusals, notification choices
and who receives which event. Transport-free: an actor is identified by a key such as "tg:111".

Owners listed in TRADEBOT_TELEGRAM_ADMINS are owners without a row in `users`; everyone else
has the role granted with /users, or none (refused).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from trading.errors import InvalidRequest, NotFound
from trading.events import Event
from trading.ports import Stores

log = logging.getLogger(__name__)


class Role(StrEnum):
    VIEWER = "viewer"
    TRADER = "trader"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        return {"viewer": 1, "trader": 2, "owner": 3}[self.value]


@dataclass(frozen=True, slots=True)
class Actor:
    """Someone acting through a transport: `key` goes to the audit log (`tg:111`)."""

    key: str
    role: Role | None
    name: str = ""
    user_id: int | None = None

    def can(self, needed: Role) -> bool:
        return self.role is not None and self.role.rank >= needed.rank

    @property
    def shown(self) -> str:
        """How the actor is named in messages ("by alice")."""
        return self.name or self.key


SYSTEM = Actor("system", Role.OWNER, "system")
# The shell user of `tradebot` (the host's operator): trusted as an owner, audited as "cli".
CLI = Actor("cli", Role.OWNER, "cli")

# What a user can switch on or off with /notify, and what each covers.
NOTIFY_KINDS: dict[str, str] = {
    "trades": "positions opened, added, reduced, closed",
    "stops": "stop-loss, take-profit, trailing hits",
    "refusals": "refused alerts and webhooks",
    "errors": "errors and late executions",
    "system": "start-up, shutdown, kill switch",
}
STOP_REASONS = frozenset({"stop_loss", "take_profit", "trailing_stop"})


def notify_kind(event: Event) -> str | None:
    """The /notify switch an event falls under; None for events that are not notifications."""
    kind = event.kind
    if kind in ("opened", "added", "reduced"):
        return "trades"
    if kind == "closed":
        return "stops" if getattr(event, "reason", "") in STOP_REASONS else "trades"
    if kind in ("refused", "webhook_refused"):
        return "refusals"
    if kind in ("error", "late"):
        return "errors"
    if kind in ("lifecycle", "control"):
        return "system"
    if kind in ("approval", "out_of_sync"):
        return kind
    return None


@dataclass(frozen=True, slots=True)
class Destination:
    chat_id: int
    thread_id: int | None = None


@dataclass(frozen=True, slots=True)
class Member:
    user_id: int
    role: Role
    username: str | None
    from_settings: bool
    notify: dict[str, bool]


class AccessService:
    def __init__(self, admins: Iterable[int], *, stores: Stores) -> None:
        # In settings order: the first is the owner a `tradebot login-link` is for by default.
        self.admin_order = tuple(dict.fromkeys(int(a) for a in admins))
        self.admins = frozenset(self.admin_order)
        self.stores = stores

    # ------------------------------------------------------------ identity

    async def actor(self, user_id: int, name: str = "") -> Actor:
        if user_id in self.admins:
            return Actor(f"tg:{user_id}", Role.OWNER, name, user_id)
        record = await self.stores.users.user(user_id)
        role = Role(record.role) if record and record.role in Role._value2member_map_ else None
        return Actor(f"tg:{user_id}", role, name, user_id)

    async def refused(self, actor: Actor, action: str, why: str, **details: Any) -> None:
        """Every refused attempt is an audit row (who, what, when, outcome)."""
        log.info("refused actor=%s action=%s why=%s", actor.key, action, why)
        await self.stores.audit.audit(
            actor.key,
            action[:64],
            outcome="refused",
            why=why,
            role=actor.role.value if actor.role else None,
            name=actor.name[:64],
            **details,
        )

    async def first_delivery(self, update_id: int) -> bool:
        """False when this Telegram update was handled before (redelivery)."""
        return await self.stores.users.remember_update(update_id)

    async def forget_old_updates(self, days: int = 7) -> int:
        """Telegram redelivers for a day at most: older update ids need not be kept."""
        return await self.stores.users.forget_updates_before(
            datetime.now(UTC) - timedelta(days=days)
        )

    # ------------------------------------------------------------ users and roles

    async def members(self) -> list[Member]:
        rows = {record.telegram_id: record for record in await self.stores.users.list_users()}
        members = [
            Member(
                admin,
                Role.OWNER,
                rows[admin].username if admin in rows else None,
                True,
                rows[admin].notify if admin in rows else {},
            )
            for admin in sorted(self.admins)
        ]
        for record in rows.values():
            if record.telegram_id in self.admins or record.role not in Role._value2member_map_:
                continue
            members.append(
                Member(record.telegram_id, Role(record.role), record.username, False, record.notify)
            )
        return members

    async def grant(self, actor: Actor, user_id: int, role: str) -> Member:
        if role not in Role._value2member_map_:
            raise InvalidRequest(f"role must be owner, trader or viewer, not {role!r}")
        if user_id in self.admins:
            raise InvalidRequest(f"{user_id} is an owner from TRADEBOT_TELEGRAM_ADMINS")
        if user_id <= 0:
            raise InvalidRequest("a user id is a positive number (ask them for it: /start)")
        record = await self.stores.users.set_role(user_id, role)
        await self.stores.audit.audit(actor.key, "user.grant", str(user_id), role=role)
        return Member(user_id, Role(role), record.username, False, record.notify)

    async def revoke(self, actor: Actor, user_id: int) -> None:
        if user_id in self.admins:
            raise InvalidRequest(
                f"{user_id} is an owner from TRADEBOT_TELEGRAM_ADMINS; change that setting"
            )
        if not await self.stores.users.delete_user(user_id):
            raise NotFound(f"user {user_id} has no role")
        await self.stores.audit.audit(actor.key, "user.revoke", str(user_id))

    # ------------------------------------------------------------ notifications

    @staticmethod
    def defaults(role: Role) -> dict[str, bool]:
        """Owners get everything until they opt out; others subscribe with /notify."""
        return {kind: role is Role.OWNER for kind in NOTIFY_KINDS}

    async def notify_choices(self, actor: Actor) -> dict[str, bool]:
        assert actor.role is not None and actor.user_id is not None
        record = await self.stores.users.user(actor.user_id)
        return {**self.defaults(actor.role), **(record.notify if record else {})}

    async def toggle_notify(self, actor: Actor, kind: str) -> dict[str, bool]:
        if kind not in NOTIFY_KINDS:
            raise InvalidRequest(f"unknown notification kind {kind!r}")
        assert actor.role is not None and actor.user_id is not None
        choices = await self.notify_choices(actor)
        choices[kind] = not choices[kind]
        await self.stores.users.set_notify(actor.user_id, choices, actor.role.value)
        await self.stores.audit.audit(actor.key, "notify.set", kind, on=choices[kind])
        return choices

    async def recipients(self, event: Event) -> list[Destination]:
        """Private chats of the users who want this event, and the bot's group chat if set."""
        kind = notify_kind(event)
        if kind is None:
            return []
        destinations: list[Destination] = []
        for member in await self.members():
            if kind == "approval":
                wanted = member.role.rank >= Role.TRADER.rank
            elif kind == "out_of_sync":
                wanted = member.role is Role.OWNER
            else:
                wanted = {**self.defaults(member.role), **member.notify}.get(kind, False)
            if wanted:
                destinations.append(Destination(member.user_id))
        bot = getattr(event, "bot", None)
        if bot and kind != "system":
            chat = (await self.stores.bots.bot_chats()).get(bot)
            if chat is not None:
                destinations.append(Destination(chat[0], chat[1]))
        return destinations
