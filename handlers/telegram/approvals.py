"""Manual approval cards (Approve / Reject / Resize) and the out-of-sync button."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from html import escape

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from handlers.telegram.callbacks import ApprovalCb, SyncCb
from handlers.telegram.formatting.approvals import format_execution
from trading.access import Actor
from trading.approvals import ApprovalService, parse_qty
from trading.control import ControlService
from trading.errors import InvalidRequest

TRADER = {"role": "trader"}


class Resize(StatesGroup):
    qty = State()


async def approve(
    query: CallbackQuery, callback_data: ApprovalCb, approvals: ApprovalService, actor: Actor
) -> None:
    result = await approvals.approve(actor, callback_data.log)
    await query.answer(f"Approved: {result.status}")


async def reject(
    query: CallbackQuery, callback_data: ApprovalCb, approvals: ApprovalService, actor: Actor
) -> None:
    await approvals.reject(actor, callback_data.log)
    await query.answer("Rejected")


async def ask_size(
    query: CallbackQuery, callback_data: ApprovalCb, approvals: ApprovalService, state: FSMContext
) -> None:
    await approvals.check_pending(callback_data.log)
    await state.set_state(Resize.qty)
    await state.update_data(log=callback_data.log)
    await query.message.answer(  # type: ignore[union-attr]
        f"📏 Quantity for alert #{callback_data.log}? e.g. <code>0.5</code> · /cancel to stop"
    )
    await query.answer()


async def resized(
    message: Message, state: FSMContext, approvals: ApprovalService, actor: Actor
) -> None:
    qty = parse_qty(message.text or "")
    log_id = int((await state.get_data())["log"])
    await state.clear()
    result = await approvals.approve(actor, log_id, qty=qty)
    await message.answer(
        f"📏 Alert #{log_id} approved at {escape(str(qty))}\n" + format_execution(result)
    )


async def sync(
    query: CallbackQuery, callback_data: SyncCb, control: ControlService, actor: Actor
) -> None:
    try:
        target = Decimal(callback_data.target)
    except InvalidOperation:
        raise InvalidRequest("this button is broken; wait for the next alert") from None
    result = await control.sync_position(actor, callback_data.bot, callback_data.symbol, target)
    await query.message.edit_text(format_execution(result))  # type: ignore[union-attr]
    await query.answer(result.status)


def router() -> Router:
    r = Router(name=__name__)
    r.callback_query.register(approve, ApprovalCb.filter(F.action == "ok"), flags=TRADER)
    r.callback_query.register(reject, ApprovalCb.filter(F.action == "no"), flags=TRADER)
    r.callback_query.register(ask_size, ApprovalCb.filter(F.action == "size"), flags=TRADER)
    r.message.register(resized, Resize.qty, F.text, ~F.text.startswith("/"), flags=TRADER)
    r.callback_query.register(sync, SyncCb.filter(), flags={"role": "owner"})
    return r
