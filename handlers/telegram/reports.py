"""Read-only views: /trades [N], /pnl [chart], /daily, /weekly, /performance [PERIOD], /balance,
/alerts (/risk: handlers/telegram/risk.py)."""

from __future__ import annotations

import asyncio

from aiogram import Router
from aiogram.enums import ChatAction
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message

from handlers.charts import equity_photo
from handlers.telegram.formatting.positions import format_trades
from handlers.telegram.formatting.reports import (
    format_alerts,
    format_balances,
    format_performance,
    format_periods,
    format_pnl,
)
from trading.control import ControlService
from trading.errors import InvalidRequest
from trading.figures import Period, parse_period
from trading.numbers import whole_number
from trading.reports import ReportService

MAX_TRADES = 50


def _count(args: str | None, default: int, maximum: int) -> int:
    text = (args or "").strip()
    if not text:
        return default
    count = whole_number(text, 1, maximum)
    if count is None:
        raise InvalidRequest(f"give a number from 1 to {maximum}, e.g. /trades 10")
    return count


async def trades(message: Message, command: CommandObject, reports: ReportService) -> None:
    limit = _count(command.args, 10, MAX_TRADES)
    await message.answer(format_trades(await reports.trades(limit)))


PNL_USAGE = "usage: /pnl (today, week, month, all time) or /pnl chart (equity and drawdown)"
NO_CURVE = (
    "📈 No equity history yet: the account's equity is sampled on every fill and every hour, "
    "so the curve appears once a bot has traded."
)


async def pnl(message: Message, command: CommandObject, reports: ReportService) -> None:
    words = (command.args or "").lower().split()
    if not words:
        await message.answer(format_pnl(await reports.stats()))
    elif words == ["chart"]:
        await pnl_chart(message, reports)
    else:
        raise InvalidRequest(PNL_USAGE)


async def pnl_chart(message: Message, reports: ReportService) -> None:
    curves = await reports.equity_curve()
    if not any(curve.points for curve in curves):
        await message.answer(NO_CURVE)
        return
    telegram = message.bot
    assert telegram is not None  # updates reach handlers mounted on the Bot that fed them
    await telegram.send_chat_action(message.chat.id, ChatAction.UPLOAD_PHOTO)
    photo = await asyncio.to_thread(equity_photo, curves)
    if photo is None:
        await message.answer(NO_CURVE)
        return
    await message.answer_photo(BufferedInputFile(photo.png, "equity.png"), caption=photo.caption)


async def daily(message: Message, command: CommandObject, reports: ReportService) -> None:
    days = _count(command.args, 7, 31)
    await message.answer(format_periods(f"📅 <b>Last {days} days</b>", await reports.daily(days)))


async def weekly(message: Message, command: CommandObject, reports: ReportService) -> None:
    weeks = _count(command.args, 4, 26)
    await message.answer(
        format_periods(f"🗓 <b>Last {weeks} weeks</b>", await reports.weekly(weeks))
    )


def _period(args: str | None) -> Period:
    text = (args or "").strip()
    if not text:
        return "all"
    try:
        return parse_period(text)
    except ValueError as exc:
        raise InvalidRequest(f"/performance [day|week|month|all]: {exc}") from None


async def performance(message: Message, command: CommandObject, reports: ReportService) -> None:
    period = _period(command.args)
    await message.answer(format_performance(await reports.performance(period), period))


async def balance(message: Message, control: ControlService) -> None:
    await message.answer(format_balances(await control.balances(), control.broker_name))


async def alerts(message: Message, command: CommandObject, control: ControlService) -> None:
    limit = _count(command.args, 15, 25)
    await message.answer(format_alerts(await control.recent_alerts(limit)))


def router() -> Router:
    r = Router(name=__name__)
    r.message.register(trades, Command("trades"))
    r.message.register(pnl, Command("pnl"))
    r.message.register(daily, Command("daily"))
    r.message.register(weekly, Command("weekly"))
    r.message.register(performance, Command("performance"))
    r.message.register(balance, Command("balance"))
    r.message.register(alerts, Command("alerts"))
    return r
