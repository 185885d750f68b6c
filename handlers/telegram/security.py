"""/totp (a second factor an owner may switch on) and the gate in front of dangerous actions.

A dangerous handler calls `ask_code` first: for a user without the second factor it returns False
and the action runs at once; otherwise the action (its name and ids, never a secret) is parked in
FSM data and the user is asked for a code. The feature router that owns the action registers a
handler for `AwaitingCode(ACTION)` that calls `code_accepted` and then does the action, with the
same role flag as the original command (so a role lost meanwhile is refused by the middleware).
"""

from __future__ import annotations

import logging
from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import BaseFilter, Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, ForceReply, Message

from trading.access import Actor
from trading.errors import InvalidRequest
from trading.totp import LOCK_WINDOW, SecondFactor, Verdict, normalize

log = logging.getLogger(__name__)
OWNER = {"role": "owner"}
MAX_TRIES = 3

# The guarded actions (the audit names of what they do).
CLOSE_ALL = "position.close_all"
ROTATE_KEY = "bot.rotate_key"
GRANT = "user.grant"
REVOKE = "user.revoke"
DISABLE = "2fa.off"
RESUME = "kill_switch.off"  # only when max_drawdown tripped it (handlers/telegram/killswitch.py)
GUARDED = (CLOSE_ALL, ROTATE_KEY, GRANT, REVOKE, DISABLE, RESUME)

USAGE = "use /totp, /totp on, or /totp off [CODE]"
CODE_PLACEHOLDER = "6-digit code"
LOCKED = (
    f"🔒 Too many wrong codes lately: codes are refused for up to "
    f"{int(LOCK_WINDOW.total_seconds() // 60)} minutes."
)


class TwoFactor(StatesGroup):
    setup = State()  # waiting for the first code from a newly added app
    code = State()  # waiting for a code before a parked dangerous action


class AwaitingCode(BaseFilter):
    """A message answering the code question for one of `actions`. In a group, only something
    that looks like a code counts (other talk there is not meant for us)."""

    def __init__(self, *actions: str) -> None:
        self.actions = actions

    async def __call__(
        self, message: Message, state: FSMContext, addressed_elsewhere: bool = False
    ) -> bool:
        if await state.get_state() != TwoFactor.code.state:
            return False
        if addressed_elsewhere and normalize(message.text or "") is None:
            return False
        return (await state.get_data()).get("action") in self.actions


async def unknown_pending(message: Message, state: FSMContext) -> bool:
    """In the code state with an action this version does not guard (an older release's)."""
    if await state.get_state() != TwoFactor.code.state:
        return False
    return (await state.get_data()).get("action") not in GUARDED


async def _say(event: Message | CallbackQuery, text: str, **kwargs: Any) -> None:
    target = event.message if isinstance(event, CallbackQuery) else event
    assert isinstance(target, Message)
    await target.answer(text, **kwargs)


async def ask_code(
    event: Message | CallbackQuery,
    *,
    state: FSMContext,
    actor: Actor,
    second_factor: SecondFactor,
    action: str,
    what: str,
    target: str = "",
    params: dict[str, Any] | None = None,
) -> bool:
    """The gate in front of every dangerous action. False: no second factor, run it now.
    True: stop here; a code was asked for (the action waits in FSM data) or codes are locked.
    `what` completes "send your code to ...", in HTML."""
    verdict = await second_factor.challenge(actor, action, target)
    if verdict is Verdict.OFF:
        return False
    if isinstance(event, CallbackQuery):
        await event.answer("Code needed" if verdict is Verdict.OK else "Locked")
        if isinstance(event.message, Message):  # the question's buttons must not be pressed twice
            await event.message.edit_text(
                f"🔐 Waiting for your code to {what}." if verdict is Verdict.OK else LOCKED
            )
    elif verdict is Verdict.LOCKED:
        await event.answer(LOCKED)
    if verdict is Verdict.LOCKED:
        return True
    await state.set_state(TwoFactor.code)
    await state.set_data(
        {"action": action, "target": target, "what": what, "params": params or {}, "tries": 0}
    )
    await _say(
        event,
        f"🔐 Send the 6-digit code from your authenticator app to {what}, or /cancel.",
        reply_markup=ForceReply(input_field_placeholder=CODE_PLACEHOLDER),
    )
    return True


async def code_accepted(
    message: Message, state: FSMContext, actor: Actor, second_factor: SecondFactor
) -> dict[str, Any] | None:
    """Check the code for the parked action: its params when accepted (the state is cleared),
    else None after a polite reply. Three wrong codes cancel the action."""
    data = await state.get_data()
    action, target, what = str(data["action"]), str(data["target"]), str(data["what"])
    verdict = await second_factor.check(actor, message.text or "", action, target)
    if verdict is Verdict.OK:
        await state.clear()
        return dict(data["params"])
    if verdict is Verdict.WRONG:
        tries = int(data.get("tries", 0)) + 1
        if tries >= MAX_TRIES:
            await state.clear()
            await second_factor.cancelled(actor, action, target, f"{MAX_TRIES} wrong codes")
            await message.answer(f"❌ Wrong code {MAX_TRIES} times. Cancelled: I did not {what}.")
            return None
        await state.update_data(tries=tries)
        left = MAX_TRIES - tries
        await message.answer(
            f"❌ That is not the code ({left} {'try' if left == 1 else 'tries'} left). "
            "Use the <b>tradebot</b> entry of your app; /cancel to stop.",
            reply_markup=ForceReply(input_field_placeholder=CODE_PLACEHOLDER),
        )
    elif verdict is Verdict.REUSED:
        await message.answer(
            "⏳ That code was used already. Send the next one (it changes every 30 s).",
            reply_markup=ForceReply(input_field_placeholder=CODE_PLACEHOLDER),
        )
    elif verdict is Verdict.LOCKED:
        await state.clear()
        await message.answer(f"{LOCKED}\nCancelled: I did not {what}.")
    else:  # switched off meanwhile (another chat, another process)
        await state.clear()
        await message.answer("Two-factor is off now; send the command again.")
    return None


# ---------------------------------------------------------------- /totp


def _setup_text(secret: str, uri: str) -> str:
    return (
        "🔐 <b>Two-factor setup</b>\n"
        "1. In an authenticator app (Google Authenticator, Aegis, 1Password…) add an account "
        f"with this key:\n<code>{escape(secret)}</code>\n"
        f"or open this link on the phone that has the app:\n<code>{escape(uri)}</code>\n"
        "2. Send me the 6-digit code it shows. /cancel to stop.\n"
        "⚠️ This message holds your key: I delete it once the code is confirmed. "
        "Do not forward it."
    )


async def _delete(reply_to: Message, message_id: int | None) -> bool:
    """Delete message `message_id` of the chat `reply_to` came from (the one holding the key)."""
    if message_id is None:
        return True
    telegram = reply_to.bot
    assert telegram is not None  # updates reach handlers mounted on the Bot that fed them
    chat_id = reply_to.chat.id
    try:
        return await telegram.delete_message(chat_id, message_id)
    except TelegramBadRequest as exc:  # older than 48 h, or deleted already
        log.info("could not delete the 2fa setup message chat=%s: %s", chat_id, exc.message)
        return False


async def totp_command(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    actor: Actor,
    second_factor: SecondFactor,
) -> None:
    words = (command.args or "").split()
    verb = words[0].lower() if words else ""
    if not words:
        status = await second_factor.status(actor)
        if status.enabled:
            await message.answer(
                "🔐 Two-factor is <b>on</b>: /closeall, new webhook keys, /users grant|revoke "
                "and /resume after a max_drawdown trip ask for a code from your app.\n"
                "/totp off to switch it off (needs a code)."
            )
        else:
            await message.answer(
                "🔓 Two-factor is <b>off</b>. /totp on protects /closeall, new webhook keys, "
                "role changes and lifting a tripped max_drawdown with a code from an "
                "authenticator app."
            )
    elif verb == "on" and len(words) == 1:
        await start_setup(message, state, actor, second_factor)
    elif verb == "off":
        await switch_off(message, " ".join(words[1:]), state, actor, second_factor)
    else:
        raise InvalidRequest(USAGE)


async def start_setup(
    message: Message, state: FSMContext, actor: Actor, second_factor: SecondFactor
) -> None:
    if message.chat.type != "private":
        await message.answer("🔐 Set up two-factor in a private chat with me: the key is secret.")
        return
    if await state.get_state() == TwoFactor.setup.state:  # a second /totp on: the old key goes
        await _delete(message, (await state.get_data()).get("secret_message"))
    enrolment = await second_factor.start_setup(actor)
    if enrolment is None:
        await message.answer("🔐 Two-factor is on already. /totp off first to move to a new app.")
        return
    sent = await message.answer(_setup_text(enrolment.secret, enrolment.uri))
    await state.set_state(TwoFactor.setup)
    await state.set_data({"secret_message": sent.message_id, "tries": 0})


async def setup_code(
    message: Message, state: FSMContext, actor: Actor, second_factor: SecondFactor
) -> None:
    data = await state.get_data()
    secret_message = data.get("secret_message")
    verdict = await second_factor.confirm_setup(actor, message.text or "")
    if verdict is Verdict.OK:
        await state.clear()
        deleted = await _delete(message, secret_message)
        await message.answer(
            "✅ Two-factor is <b>on</b>. /closeall, new webhook keys, /users grant|revoke and "
            "/resume after a max_drawdown trip now ask for a code."
            + ("" if deleted else "\n⚠️ Delete the message with the key yourself.")
        )
        return
    if verdict is Verdict.OFF:  # the pending key is gone (switched off, or set up elsewhere)
        await state.clear()
        await message.answer("Nothing to confirm; /totp on to start again.")
        return
    tries = int(data.get("tries", 0)) + 1
    if tries >= MAX_TRIES:
        await state.clear()
        await second_factor.abandon_setup(actor, f"{MAX_TRIES} wrong codes")
        await _delete(message, secret_message)
        await message.answer(
            f"❌ Wrong code {MAX_TRIES} times: setup cancelled, two-factor stays off.\n"
            "Check your phone's clock is automatic, then /totp on again."
        )
        return
    await state.update_data(tries=tries)
    left = MAX_TRIES - tries
    await message.answer(
        f"❌ That is not the code ({left} {'try' if left == 1 else 'tries'} left). "
        "Send the 6 digits the app shows for <b>tradebot</b>."
    )


async def switch_off(
    message: Message, code: str, state: FSMContext, actor: Actor, second_factor: SecondFactor
) -> None:
    if not (await second_factor.status(actor)).enabled:
        await message.answer("🔓 Two-factor is off already.")
        return
    if not code:
        await ask_code(
            message,
            state=state,
            actor=actor,
            second_factor=second_factor,
            action=DISABLE,
            what="switch two-factor off",
        )
        return
    verdict = await second_factor.check(actor, code, DISABLE)
    if verdict is Verdict.OK:
        await second_factor.disable(actor)
        await message.answer("🔓 Two-factor is <b>off</b>. /totp on to set it up again.")
    elif verdict is Verdict.REUSED:
        await message.answer("⏳ That code was used already; two-factor stays on. Try the next.")
    elif verdict is Verdict.LOCKED:
        await message.answer(LOCKED)
    else:
        await message.answer("❌ That is not the code; two-factor stays on.")


async def off_with_code(
    message: Message, state: FSMContext, actor: Actor, second_factor: SecondFactor
) -> None:
    if await code_accepted(message, state, actor, second_factor) is None:
        return
    await second_factor.disable(actor)
    await message.answer("🔓 Two-factor is <b>off</b>. /totp on to set it up again.")


async def cancel(
    message: Message, state: FSMContext, actor: Actor, second_factor: SecondFactor
) -> None:
    """/cancel while a code is awaited: audited, and an unconfirmed key is forgotten."""
    data = await state.get_data()
    if await state.get_state() == TwoFactor.setup.state:
        await state.clear()
        await second_factor.abandon_setup(actor, "cancelled")
        await _delete(message, data.get("secret_message"))
        await message.answer("Cancelled; two-factor stays off.")
        return
    await state.clear()
    await second_factor.cancelled(
        actor, str(data.get("action", "")), str(data.get("target", "")), "cancelled"
    )
    await message.answer(f"Cancelled: I did not {data.get('what', 'do it')}.")


async def stale_code(message: Message, state: FSMContext) -> None:
    """A code for an action this version does not know (state from an older release)."""
    await state.clear()
    await message.answer("Nothing is waiting for a code any more; send the command again.")


def router() -> Router:
    """Before `common`: its /cancel must not skip the clean-up above."""
    r = Router(name=__name__)
    waiting = StateFilter(TwoFactor.setup, TwoFactor.code)
    r.message.register(cancel, Command("cancel"), waiting)
    r.message.register(totp_command, Command("totp"), flags=OWNER)
    text = (F.text, ~F.text.startswith("/"))
    r.message.register(setup_code, TwoFactor.setup, *text, flags=OWNER)
    r.message.register(off_with_code, *text, AwaitingCode(DISABLE), flags=OWNER)
    r.message.register(stale_code, *text, unknown_pending)
    return r
