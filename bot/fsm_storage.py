"""Where the chat's dialogues (aiogram's FSM state) are kept: Redis when it is set, so a dialogue
survives a restart and continues on another process; else this process's memory."""

from __future__ import annotations

from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage

from bot.config import Settings


def make_storage(settings: Settings) -> BaseStorage:
    """FSM state in Redis when scaled out (dialogues survive a restart), else in memory."""
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        return RedisStorage.from_url(settings.redis_url)
    return MemoryStorage()
