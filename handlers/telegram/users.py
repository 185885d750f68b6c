"""/users (list, grant, revoke; a second-factor code first for users who switched it on) and
/notify (which events reach you)."""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from handlers.telegram.callbacks import NotifyCb
from handlers.telegram.formatting.admin import format_members, format_notify
from handlers.telegram.keyboards import notify_keyboard
from handlers.telegram.security import GRANT, REVOKE, AwaitingCode, ask_code, code_accepted
from trading.access import AccessService, Actor, Role
from trading.errors import InvalidRequest
from trading.numbers import whole_number
from trading.totp import SecondFactor

USAGE = "use /users, /users grant ID owner|trader|viewer or /users revoke ID"


def _user_id(raw: str) -> int:
    # At most 15 digits: Telegram ids fit in 52 bits, a longer number would overflow SQLite's
    # INTEGER when stored.
    user_id = whole_number(raw, 0, 10**15 - 1)
    if user_id is None:
        raise InvalidRequest(f"{raw[:20]!r} is not a Telegram user id (a number)")
    return user_id


async def users(
    message: Message,
    command: CommandObject,
    access: AccessService,
    actor: Actor,
    state: FSMContext,
    second_factor: SecondFactor,
) -> None:
    words = (command.args or "").split()
    if not words:
        await message.answer(format_members(await access.members()))
        return
    verb = words[0].lower()
    if verb == "grant" and len(words) == 3:
        user_id, role = _user_id(words[1]), words[2].lower()
        if role not in Role._value2member_map_:
            raise InvalidRequest(f"role must be owner, trader or viewer, not {role!r}")
        # An owner from the settings cannot be changed here: the refusal needs no code.
        if user_id not in access.admins and await ask_code(
            message,
            state=state,
            actor=actor,
            second_factor=second_factor,
            action=GRANT,
            what=f"make <code>{user_id}</code> {role}",
            target=str(user_id),
            params={"user_id": user_id, "role": role},
        ):
            return
        await message.answer(await grant(access, actor, {"user_id": user_id, "role": role}))
    elif verb == "revoke" and len(words) == 2:
        user_id = _user_id(words[1])
        if user_id not in access.admins and await ask_code(
            message,
            state=state,
            actor=actor,
            second_factor=second_factor,
            action=REVOKE,
            what=f"take all access from <code>{user_id}</code>",
            target=str(user_id),
            params={"user_id": user_id},
        ):
            return
        await message.answer(await revoke(access, actor, {"user_id": user_id}))
    else:
        raise InvalidRequest(USAGE)


async def grant(access: AccessService, actor: Actor, params: dict[str, Any]) -> str:
    member = await access.grant(actor, int(params["user_id"]), str(params["role"]))
    return f"✅ <code>{member.user_id}</code> is now {member.role.value}."


async def revoke(access: AccessService, actor: Actor, params: dict[str, Any]) -> str:
    user_id = int(params["user_id"])
    await access.revoke(actor, user_id)
    return f"✅ <code>{user_id}</code> has no access any more."


async def change_with_code(
    message: Message,
    access: AccessService,
    actor: Actor,
    state: FSMContext,
    second_factor: SecondFactor,
) -> None:
    action = (await state.get_data()).get("action")
    params = await code_accepted(message, state, actor, second_factor)
    if params is None:
        return
    change = grant if action == GRANT else revoke
    await message.answer(await change(access, actor, params))


async def notify(message: Message, access: AccessService, actor: Actor) -> None:
    choices = await access.notify_choices(actor)
    await message.answer(format_notify(choices), reply_markup=notify_keyboard(choices))


async def toggle(
    query: CallbackQuery, callback_data: NotifyCb, access: AccessService, actor: Actor
) -> None:
    choices = await access.toggle_notify(actor, callback_data.kind)
    await query.message.edit_text(  # type: ignore[union-attr]
        format_notify(choices), reply_markup=notify_keyboard(choices)
    )
    await query.answer(f"{callback_data.kind}: {'on' if choices[callback_data.kind] else 'off'}")


def router() -> Router:
    r = Router(name=__name__)
    r.message.register(users, Command("users"), flags={"role": "owner"})
    r.message.register(
        change_with_code,
        F.text,
        ~F.text.startswith("/"),
        AwaitingCode(GRANT, REVOKE),
        flags={"role": "owner"},
    )
    r.message.register(notify, Command("notify"))
    r.callback_query.register(toggle, NotifyCb.filter())
    return r
