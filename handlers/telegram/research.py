"""/backtest STRATEGY SYMBOL [key=value …] (equity-curve picture) and /chart SYMBOL [BOT].

Loading prices is async (the database); running the backtest and drawing are CPU work, done in
a worker thread (`asyncio.to_thread`) so the chat and the trading loop stay responsive.
"""

from __future__ import annotations

import asyncio

from aiogram import Router
from aiogram.enums import ChatAction
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message

from handlers.charts import backtest_photo, chart_photo
from trading.backtest.history import ResearchService, parse_request
from trading.errors import InvalidRequest
from trading.symbols import normalize_symbol

BACKTEST_USAGE = (
    "usage: /backtest STRATEGY SYMBOL [key=value …], e.g. /backtest rsi BTCUSDT period=14 sl=2%"
)


def _symbol(raw: str) -> str:
    try:
        return normalize_symbol(raw)
    except ValueError as exc:
        raise InvalidRequest(f"symbol {raw[:20]!r}: {exc}") from None


async def backtest(message: Message, command: CommandObject, research: ResearchService) -> None:
    words = (command.args or "").split()
    if len(words) < 2:
        raise InvalidRequest(BACKTEST_USAGE)
    request = parse_request(words[0].lower(), words[2:])
    history = await research.history(_symbol(words[1]))
    telegram = message.bot
    assert telegram is not None  # updates reach handlers mounted on the Bot that fed them
    await telegram.send_chat_action(message.chat.id, ChatAction.UPLOAD_PHOTO)
    photo = await asyncio.to_thread(backtest_photo, history, request)
    await message.answer_photo(
        BufferedInputFile(photo.png, f"backtest-{request.strategy}.png"), caption=photo.caption
    )


async def chart(message: Message, command: CommandObject, research: ResearchService) -> None:
    words = (command.args or "").split()
    if not words or len(words) > 2:
        raise InvalidRequest("usage: /chart SYMBOL [BOT], e.g. /chart BTCUSDT")
    data = await research.chart(_symbol(words[0]), bot=words[1] if len(words) > 1 else None)
    photo = await asyncio.to_thread(chart_photo, data)
    await message.answer_photo(
        BufferedInputFile(photo.png, f"chart-{data.symbol}.png"), caption=photo.caption
    )


def router() -> Router:
    r = Router(name=__name__)
    r.message.register(backtest, Command("backtest"))
    r.message.register(chart, Command("chart"))
    return r
