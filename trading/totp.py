"""TOTP second factor (RFC 6238, via pyotp) that owners may switch on for dangerous actions.

The helpers at the top are pure; `SecondFactor` adds storage and the audit. A code is accepted
for the current 30-second step or one step either side (clock drift), and never for a step at or
before the last one accepted: the database records that step with a conditional UPDATE, so two
processes cannot both accept one code. Neither the secret nor a code is ever logged or audited.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import pyotp

from trading.access import Actor
from trading.ports import Stores

log = logging.getLogger(__name__)

ISSUER = "tradebot"
DIGITS = 6
VALID_WINDOW = 1  # steps accepted either side of the current one
# Brute-force brake: this many wrong codes within the window refuse every code until it passes.
LOCK_AFTER = 6
LOCK_WINDOW = timedelta(minutes=15)
WRONG_CODE = "2fa.wrong_code"  # the audit action counted for the lock

_CODE = re.compile(rf"\d{{{DIGITS}}}")


# ---------------------------------------------------------------- pure helpers


def new_secret() -> str:
    """A random base32 secret of 160 bits (what authenticator apps expect)."""
    return pyotp.random_base32()


def provisioning_uri(secret: str, name: str) -> str:
    """The otpauth:// URI an authenticator app reads (as a QR code or a link)."""
    return pyotp.TOTP(secret).provisioning_uri(name=name or "owner", issuer_name=ISSUER)


def normalize(code: str) -> str | None:
    """The 6 digits of a typed code (spaces tolerated: "123 456"), or None if it is not one."""
    digits = "".join(code.split())
    return digits if _CODE.fullmatch(digits) else None


def matching_step(code: str, secret: str, now: float) -> int | None:
    """The time step (current ±1) whose code this is, ignoring replay; None if none matches."""
    digits = normalize(code)
    if digits is None:
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(datetime.fromtimestamp(now, UTC))
    found = None
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        # Compare every candidate in constant time; the latest match wins.
        if hmac.compare_digest(totp.generate_otp(step), digits):
            found = step
    return found


def verify(code: str, secret: str, last_step: int | None, now: float) -> int | None:
    """The step to record if this code is accepted now, or None (wrong, or already used)."""
    step = matching_step(code, secret, now)
    if step is None or (last_step is not None and step <= last_step):
        return None
    return step


# ---------------------------------------------------------------- the service


class Verdict(StrEnum):
    OK = "ok"
    WRONG = "wrong"  # not the code (or not 6 digits)
    REUSED = "reused"  # a valid code already accepted once
    LOCKED = "locked"  # too many wrong codes lately
    OFF = "off"  # the user has no second factor (any more)


@dataclass(frozen=True, slots=True)
class Enrolment:
    secret: str
    uri: str

    def __repr__(self) -> str:  # never print the secret by accident
        return "Enrolment(secret=***, uri=***)"


@dataclass(frozen=True, slots=True)
class Status:
    enabled: bool
    pending: bool  # a setup was started and not confirmed


class SecondFactor:
    """Setup, verification and switching off of a user's TOTP; every outcome is audited.

    `clock` (seconds since the epoch) may be replaced, so tests step through codes without waiting.
    """

    def __init__(self, clock: Callable[[], float] = time.time, *, stores: Stores) -> None:
        self.clock = clock
        self.stores = stores

    async def status(self, actor: Actor) -> Status:
        state = await self.stores.users.totp_state(_user_id(actor))
        if state is None:
            return Status(False, False)
        return Status(state.enabled, not state.enabled and state.secret is not None)

    async def required(self, actor: Actor) -> bool:
        """Whether this actor must give a code before a dangerous action (opt-in per user)."""
        return actor.user_id is not None and (await self.status(actor)).enabled

    async def locked(self, actor: Actor) -> bool:
        since = datetime.now(UTC) - LOCK_WINDOW
        return await self.stores.audit.count_audit(actor.key, WRONG_CODE, since) >= LOCK_AFTER

    # ------------------------------------------------------------ setup and switching off

    async def start_setup(self, actor: Actor) -> Enrolment | None:
        """A new pending secret, or None when the second factor is already on."""
        secret = new_secret()
        if not await self.stores.users.set_totp_pending(_user_id(actor), secret):
            return None
        await self.stores.audit.audit(actor.key, "2fa.setup", outcome="ok")
        log.info("2fa setup started actor=%s", actor.key)
        name = actor.name or str(actor.user_id)
        return Enrolment(secret, provisioning_uri(secret, name))

    async def confirm_setup(self, actor: Actor, code: str) -> Verdict:
        """The first valid code from the app switches the second factor on."""
        state = await self.stores.users.totp_state(_user_id(actor))
        if state is None or state.secret is None:
            return Verdict.OFF
        if state.enabled:
            return Verdict.OK
        step = verify(code, state.secret, state.last_step, self.clock())
        if step is None or not await self.stores.users.enable_totp(
            _user_id(actor), state.secret, step
        ):
            await self.stores.audit.audit(
                actor.key, "2fa.enable", outcome="refused", why="wrong code"
            )
            return Verdict.WRONG
        await self.stores.audit.audit(actor.key, "2fa.enable", outcome="ok")
        log.info("2fa enabled actor=%s", actor.key)
        return Verdict.OK

    async def abandon_setup(self, actor: Actor, why: str) -> None:
        """Forget a secret that was never confirmed (the second factor stays off)."""
        if await self.stores.users.drop_pending_totp(_user_id(actor)):
            await self.stores.audit.audit(actor.key, "2fa.setup", outcome="refused", why=why)

    async def disable(self, actor: Actor) -> None:
        """Switch off; call it only after `check` accepted a code for "2fa.off"."""
        await self.stores.users.disable_totp(_user_id(actor))
        await self.stores.audit.audit(actor.key, "2fa.off", outcome="ok")
        log.info("2fa disabled actor=%s", actor.key)

    # ------------------------------------------------------------ codes for dangerous actions

    async def challenge(self, actor: Actor, action: str, target: str = "") -> Verdict:
        """Before a dangerous action: OFF (no second factor, go ahead), LOCKED (refused), or
        OK (a code is to be asked for). Audited unless OFF."""
        if not await self.required(actor):
            return Verdict.OFF
        if await self.locked(actor):
            await self.stores.audit.audit(
                actor.key, "2fa.locked", _what(action, target), outcome="refused"
            )
            return Verdict.LOCKED
        await self.stores.audit.audit(actor.key, "2fa.ask", _what(action, target), outcome="ok")
        return Verdict.OK

    async def cancelled(self, actor: Actor, action: str, target: str, why: str) -> None:
        await self.stores.audit.audit(
            actor.key, "2fa.cancel", _what(action, target), outcome="refused", why=why
        )

    async def check(self, actor: Actor, code: str, action: str, target: str = "") -> Verdict:
        """Accept a code for `action` at most once; audit the outcome (never the code)."""
        state = await self.stores.users.totp_state(_user_id(actor))
        if state is None or not state.enabled or state.secret is None:
            return Verdict.OFF
        what = _what(action, target)
        if await self.locked(actor):
            await self.stores.audit.audit(actor.key, "2fa.locked", what, outcome="refused")
            return Verdict.LOCKED
        step = matching_step(code, state.secret, self.clock())
        if step is None:
            await self.stores.audit.audit(actor.key, WRONG_CODE, what, outcome="refused")
            log.info("2fa wrong code actor=%s action=%s", actor.key, action)
            return Verdict.WRONG
        if not await self.stores.users.accept_totp_step(_user_id(actor), step):
            await self.stores.audit.audit(actor.key, "2fa.reused_code", what, outcome="refused")
            log.info("2fa code reused actor=%s action=%s", actor.key, action)
            return Verdict.REUSED
        await self.stores.audit.audit(actor.key, "2fa.code", what, outcome="ok")
        return Verdict.OK


def _what(action: str, target: str) -> str:
    """The audit target: the guarded action and its object, e.g. `bot.rotate_key demo`."""
    return f"{action} {target}".strip()[:128]


def _user_id(actor: Actor) -> int:
    assert actor.user_id is not None, "a second factor belongs to a chat user"
    return actor.user_id
