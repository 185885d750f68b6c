"""Read-only views: /trades [N], /pnl, /daily, /weekly, /performance, /balance, /risk, /alerts."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from handlers.telegram.formatting.bots import format_risk
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


async def pnl(message: Message, reports: ReportService) -> None:
    await message.answer(format_pnl(await reports.pnl()))


async def daily(message: Message, command: CommandObject, reports: ReportService) -> None:
    days = _count(command.args, 7, 31)
    await message.answer(format_periods(f"📅 <b>Last {days} days</b>", await reports.daily(days)))


async def weekly(message: Message, command: CommandObject, reports: ReportService) -> None:
    weeks = _count(command.args, 4, 26)
    await message.answer(
        format_periods(f"🗓 <b>Last {weeks} weeks</b>", await reports.weekly(weeks))
    )


async def performance(message: Message, reports: ReportService) -> None:
    await message.answer(format_performance(await reports.performance()))


async def balance(message: Message, control: ControlService) -> None:
    await message.answer(format_balances(await control.balances(), control.broker_name))


async def risk(message: Message, control: ControlService) -> None:
    await message.answer(format_risk(await control.bots()))


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
    r.message.register(risk, Command("risk"))
    r.message.register(alerts, Command("alerts"))
    return r
