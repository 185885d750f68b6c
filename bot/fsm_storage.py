"""Where the chat's dialogues (aiogram's FSM state) are kept: Redis when it is set, so a dialogue
survives a restart and continues on another process; else this process's memory.

In Redis: `tradebot:fsm:<bot id>:<chat>:<user>:state|data`, expiring a day after the dialogue's
last step. A Redis that does not answer within a second pauses dialogues only
(`handlers.telegram.dialogue_store`): other commands, webhooks and trading go on.
"""

from __future__ import annotations

from datetime import timedelta

from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder
from aiogram.fsm.storage.memory import MemoryStorage

from bot.config import Settings
from handlers.telegram.dialogue_store import GuardedStorage

KEY_PREFIX = "tradebot:fsm"
IDLE_EXPIRY = timedelta(days=1)  # an abandoned dialogue does not stay in Redis for ever
TIMEOUT = 1.0  # seconds to connect or answer: the chat must not hang on a Redis that is gone


def make_storage(settings: Settings) -> BaseStorage:
    """FSM state in Redis when scaled out (dialogues survive a restart), else in memory."""
    if not settings.redis_url:
        return MemoryStorage()
    from aiogram.fsm.storage.redis import RedisStorage
    from redis.asyncio import ConnectionPool, Redis
    from redis.exceptions import RedisError

    pool = ConnectionPool.from_url(
        settings.redis_url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT
    )
    storage = RedisStorage(
        Redis(connection_pool=pool),
        # the bot's id in the key: deployments of different bots can share one Redis
        key_builder=DefaultKeyBuilder(prefix=KEY_PREFIX, with_bot_id=True),
        state_ttl=IDLE_EXPIRY,
        data_ttl=IDLE_EXPIRY,
    )
    return GuardedStorage(storage, (RedisError, OSError))
