"""Signing in to the dashboard (SPEC §10), transport-free: the chat, the web pages and the CLI
call the same methods.

* A sign-in link (`/app` in the chat, `tradebot login-link`) works once and within 10 minutes.
  The web layer redeems it on a POST only, so a link preview cannot use it up; redeeming is one
  conditional UPDATE, so two processes can never both sign in with one link.
* Inside Telegram, the page's initData (checked by the web layer, at most 24 hours old) signs the
  user in directly.
* A session lasts 7 days. /logout revokes every session of the user at once. The role is looked
  up live on every request, never kept in the session: a revoked role ends dashboard access at
  once, a changed one applies at once.
* Only the SHA-256 of a token is stored; the token itself is shown once, when it is made.
* Without TRADEBOT_TELEGRAM_ADMINS, a link is for the "local owner" (user id 0), who exists only
  while that setting is empty.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from trading.access import AccessService, Actor, Role
from trading.errors import InvalidRequest
from trading.ports import Stores

log = logging.getLogger(__name__)

LINK_TTL = timedelta(minutes=10)
SESSION_TTL = timedelta(days=7)
INIT_DATA_MAX_AGE = timedelta(hours=24)  # Telegram's initData `auth_date`, checked by the web
LOCAL_OWNER_ID = 0
LOCAL_OWNER = Actor("local", Role.OWNER, "local owner", LOCAL_OWNER_ID)

USED_OR_EXPIRED = "this sign-in link was already used or has expired: ask for a new one with /app"
NO_ROLE = "you have no role here any more: ask an owner for one, then sign in again"
# What `secrets.token_urlsafe` makes (43 characters for 32 bytes), with room to spare: anything
# else is refused before storage is asked.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,128}")
_MAX_USER_ID = 2**63 - 1  # BIGINT


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What is stored of a token (hex SHA-256)."""
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_of(token_hash: str) -> str:
    """The session's CSRF token: derived, so it is the same for the session's whole life."""
    return hashlib.sha256(f"csrf:{token_hash}".encode()).hexdigest()[:32]


def well_formed(token: str) -> bool:
    return isinstance(token, str) and _TOKEN.fullmatch(token) is not None


@dataclass(frozen=True, slots=True)
class LoginLink:
    token: str = field(repr=False)  # shown once, in the link
    user_id: int
    expires_at: datetime

    def url(self, base_url: str) -> str:
        """The link a user opens: `BASE/app/login/TOKEN` (its page redeems it by POST)."""
        return f"{base_url.rstrip('/')}/app/login/{self.token}"


@dataclass(frozen=True, slots=True)
class Session:
    token: str = field(repr=False)  # only when just created, else ""
    user_id: int
    expires_at: datetime
    csrf: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class SignedIn:
    actor: Actor
    session: Session


class DashboardAuth:
    """Sign-in links, sessions and sign-out; every sign-in, link and sign-out is audited.

    `clock` may be replaced, so tests move time past an expiry without waiting."""

    def __init__(
        self,
        access: AccessService,
        *,
        stores: Stores,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.access = access
        self.stores = stores
        self.clock = clock

    # ------------------------------------------------------------ who a link is for

    async def link_owner(self, user_id: int | None = None) -> Actor:
        """Whom `tradebot login-link` signs in: the user given, else the first owner of
        TRADEBOT_TELEGRAM_ADMINS, else the local owner. A user without a role is refused."""
        if user_id is None:
            if not self.access.admin_order:
                return LOCAL_OWNER
            user_id = self.access.admin_order[0]
        if user_id != LOCAL_OWNER_ID and not 0 < user_id <= _MAX_USER_ID:
            raise InvalidRequest(
                f"{user_id} is not a user id: a Telegram user id is a positive number"
            )
        actor = await self._actor(user_id)
        if actor.role is not None:
            return actor
        if user_id == LOCAL_OWNER_ID:
            raise InvalidRequest(
                "user 0 is the local owner, who exists only while TRADEBOT_TELEGRAM_ADMINS "
                "is empty: give an owner's Telegram id, or leave --user out"
            )
        raise InvalidRequest(
            f"user {user_id} has no role here: grant one first (/users grant {user_id} viewer), "
            "or leave --user out for an owner"
        )

    # ------------------------------------------------------------ signing in

    async def login_link(self, actor: Actor, by: Actor | None = None) -> LoginLink:
        """A one-time link that signs `actor` in, valid for LINK_TTL; audited as made by `by`
        (the host's operator for `tradebot login-link`), else by the actor themself."""
        user_id = _signable(actor)
        token, now = new_token(), self.clock()
        expires_at = now + LINK_TTL
        maker = by or actor
        await self.stores.dashboard.add_link(hash_token(token), user_id, now, expires_at)
        await self.stores.audit.audit(maker.key, "dashboard.link", str(user_id))
        log.info("dashboard sign-in link made actor=%s user=%s", maker.key, user_id)
        return LoginLink(token, user_id, expires_at)

    async def redeem(self, token: str) -> SignedIn:
        """Use a link (once, within LINK_TTL): a new session for its user if they still have
        a role."""
        now = self.clock()
        user_id = None
        if well_formed(token):
            user_id = await self.stores.dashboard.use_link(hash_token(token), now)
        if user_id is None:
            log.info("dashboard sign-in link refused: used, expired or unknown")
            raise InvalidRequest(USED_OR_EXPIRED)
        actor = await self._actor(user_id)
        if actor.role is None:
            await self.access.refused(actor, "dashboard.sign_in", "no role", via="link")
            raise InvalidRequest(NO_ROLE)
        return await self._start(actor, "link", now)

    async def sign_in(self, actor: Actor, via: str) -> SignedIn:
        """A new session for an actor whose identity the caller checked (Telegram initData)."""
        _signable(actor)
        return await self._start(actor, via, self.clock())

    async def _start(self, actor: Actor, via: str, now: datetime) -> SignedIn:
        assert actor.user_id is not None
        token = new_token()
        hashed = hash_token(token)
        expires_at = now + SESSION_TTL
        via = via[:16]
        await self.stores.dashboard.add_session(hashed, actor.user_id, via, now, expires_at)
        await self.stores.audit.audit(actor.key, "dashboard.sign_in", str(actor.user_id), via=via)
        log.info("dashboard signed in actor=%s via=%s", actor.key, via)
        return SignedIn(actor, Session(token, actor.user_id, expires_at, csrf_of(hashed)))

    # ------------------------------------------------------------ sessions

    async def resolve(self, token: str) -> SignedIn | None:
        """Who a session token signs in, with their role as it is now; None when the token is
        unknown, expired or revoked, or the user has no role any more."""
        if not well_formed(token):
            return None
        hashed = hash_token(token)
        record = await self.stores.dashboard.session(hashed, self.clock())
        if record is None:
            return None
        actor = await self._actor(record.user_id)
        if actor.role is None:
            return None
        return SignedIn(actor, Session("", record.user_id, record.expires_at, csrf_of(hashed)))

    async def logout(self, actor: Actor) -> int:
        """End every session of the actor's user (all devices); how many were live."""
        if actor.user_id is None:
            return 0
        ended = await self.stores.dashboard.revoke_sessions(actor.user_id, self.clock())
        await self.stores.audit.audit(
            actor.key, "dashboard.logout", str(actor.user_id), sessions=ended
        )
        log.info("dashboard signed out actor=%s sessions=%d", actor.key, ended)
        return ended

    async def forget_expired(self) -> int:
        """Delete expired links and expired or revoked sessions (a periodic job)."""
        forgotten = await self.stores.dashboard.forget_expired(self.clock())
        if forgotten:
            log.info("dashboard rows forgotten count=%d", forgotten)
        return forgotten

    # ------------------------------------------------------------ roles, live

    async def _actor(self, user_id: int) -> Actor:
        """The user's actor with their role as it is now (None: no role)."""
        if user_id == LOCAL_OWNER_ID:
            return Actor("local", None, "local owner", 0) if self.access.admins else LOCAL_OWNER
        if not 0 < user_id <= _MAX_USER_ID:
            return Actor(f"tg:{user_id}", None, "", user_id)
        record = await self.stores.users.user(user_id)
        return await self.access.actor(user_id, (record.username or "") if record else "")


def _signable(actor: Actor) -> int:
    """The user id an actor's session or link is for; refused without a role or a user."""
    if actor.role is None or actor.user_id is None:
        raise InvalidRequest("only a user with a role can sign in to the dashboard")
    return actor.user_id
