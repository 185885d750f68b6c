"""/stopentry and /resume: the kill switch (SPEC §6a). It stops new entries only: exits, stops,
take-profits and closes go on. It is kept in the database (it holds across restarts and covers
bots created while it is on) until an owner sends /resume; lifting a kill switch that
`max_drawdown` tripped asks for a second-factor code first when the owner has switched it on
(the CLI's `tradebot resume`, run on the host, is exempt). Bots that the kill switch of before
the upgrade paused are resumed by the first /resume, and named."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from handlers.telegram.formatting.risk import NOT_ON, format_resumed, format_stopped
from handlers.telegram.security import RESUME, AwaitingCode, ask_code, code_accepted
from trading.access import Actor
from trading.risk_service import RiskService
from trading.totp import SecondFactor

OWNER = {"role": "owner"}
TRADER = {"role": "trader"}
TEXT = (F.text, ~F.text.startswith("/"))


async def stop_entries(message: Message, risk: RiskService, actor: Actor) -> None:
    was = await risk.kill_switch()
    state = await risk.stop_entries(actor)
    await message.answer(format_stopped(state, already=was.on))


async def resume(
    message: Message,
    state: FSMContext,
    risk: RiskService,
    actor: Actor,
    second_factor: SecondFactor,
) -> None:
    was = await risk.kill_switch()
    if not was.on:
        await message.answer(NOT_ON)
        return
    if RiskService.resume_needs_code(was) and await ask_code(
        message,
        state=state,
        actor=actor,
        second_factor=second_factor,
        action=RESUME,
        what="lift the kill switch that max_drawdown tripped",
    ):
        return
    await message.answer(format_resumed(await risk.resume_entries(actor)))


async def resume_with_code(
    message: Message,
    state: FSMContext,
    risk: RiskService,
    actor: Actor,
    second_factor: SecondFactor,
) -> None:
    if await code_accepted(message, state, actor, second_factor) is None:
        return
    if not (await risk.kill_switch()).on:  # lifted meanwhile (another owner, the CLI)
        await message.answer(NOT_ON)
        return
    await message.answer(format_resumed(await risk.resume_entries(actor)))


def router() -> Router:
    r = Router(name=__name__)
    r.message.register(stop_entries, Command("stopentry"), flags=TRADER)
    r.message.register(resume, Command("resume"), flags=OWNER)
    r.message.register(resume_with_code, *TEXT, AwaitingCode(RESUME), flags=OWNER)
    return r
