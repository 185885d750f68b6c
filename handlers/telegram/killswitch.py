"""/stopentry and /resume: the kill switch (every bot paused, then exactly those resumed)."""

from __future__ import annotations

from html import escape

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from trading.access import Actor
from trading.control import ControlService


async def stop_entries(message: Message, control: ControlService, actor: Actor) -> None:
    paused = await control.stop_entries(actor)
    names = escape(", ".join(paused)) if paused else "none were active"
    await message.answer(
        f"🛑 <b>Kill switch on</b>: no new entries.\nPaused {len(paused)} bot(s): {names}\n"
        "Open positions stay open; /closeall closes them. /resume undoes this."
    )


async def resume(message: Message, control: ControlService, actor: Actor) -> None:
    resumed = await control.resume_entries(actor)
    names = escape(", ".join(resumed)) if resumed else "none (all were deleted or resumed)"
    await message.answer(f"▶️ <b>Kill switch off</b>. Resumed {len(resumed)} bot(s): {names}")


def router() -> Router:
    r = Router(name=__name__)
    r.message.register(stop_entries, Command("stopentry"), flags={"role": "trader"})
    r.message.register(resume, Command("resume"), flags={"role": "owner"})
    return r
