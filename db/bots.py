"""Trading bots (the `BotStore`): settings, webhook keys, chat binding, pause switches."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from tortoise.transactions import in_transaction

from db import sql
from db.models import StrategyConfig, TradingBot
from db.prices import ensure_instrument
from trading.bots import BotConfig, BotSpec, check_heartbeat_minutes, new_webhook_key, parse_size
from trading.errors import InvalidRequest, NotFound
from trading.records import HeartbeatBot


async def _strategy_params(bot_ids: list[int]) -> dict[int, dict[str, Any]]:
    rows = await StrategyConfig.filter(bot_id__in=bot_ids).order_by("id")
    params: dict[int, dict[str, Any]] = {}
    for row in rows:
        params[row.bot_id] = row.params  # type: ignore[attr-defined]
    return params


def _config(row: TradingBot, params: dict[str, Any]) -> BotConfig:
    return BotConfig(
        id=row.id,
        name=row.name,
        symbols=list(row.symbols),
        strategy=row.strategy,
        strategy_params=params,
        size_kind=row.size_kind,  # type: ignore[arg-type]
        size_value=row.size_value,
        direction=row.direction,  # type: ignore[arg-type]
        max_entries=row.max_entries,
        sl=row.sl,
        tp=row.tp,
        trail=row.trail,
        interval=row.interval,
        max_lag_seconds=row.max_lag_seconds,
        approval=row.approval,  # type: ignore[arg-type]
        paused=row.paused,
        webhook_key=row.webhook_key,
        passphrase=row.passphrase,
        allow_ips=list(row.allow_ips),
        risk=dict(row.risk),
        hmac_secret=row.hmac_secret,
        max_alerts_per_minute=row.max_alerts_per_minute,
        heartbeat_minutes=row.heartbeat_minutes,
        break_even_after_tp1=bool(row.break_even_after_tp1),
    )


async def _configs(rows: list[TradingBot]) -> list[BotConfig]:
    params = await _strategy_params([row.id for row in rows])
    return [_config(row, params.get(row.id, {})) for row in rows]


async def _update_named(name: str, **fields: Any) -> None:
    """Set `fields` on the active bot named `name`; NotFound when there is none."""
    if not await TradingBot.filter(name=name, deleted_at=None).update(**fields):
        raise NotFound(f"no bot named {name!r}")


_PARAMS_BY_KEY = (
    'SELECT "params" FROM "strategy_configs" WHERE "bot_id" = (SELECT "id" FROM "trading_bots" '
    'WHERE "webhook_key" = ? AND "deleted_at" IS NULL) ORDER BY "id" DESC LIMIT 1'
)


class SqlBotStore:
    """`trading.ports.BotStore` on the `trading_bots` and `strategy_configs` tables."""

    async def create_bot(self, spec: BotSpec) -> BotConfig:
        kind, value = parse_size(spec.size)
        async with in_transaction():
            if await TradingBot.filter(name=spec.name, deleted_at=None).exists():
                raise InvalidRequest(f"a bot named {spec.name!r} already exists")
            row = await TradingBot.create(
                name=spec.name,
                symbols=spec.symbols,
                strategy=spec.strategy,
                size_kind=kind,
                size_value=value,
                direction=spec.direction,
                max_entries=spec.max_entries,
                sl=spec.sl,
                tp=spec.tp,
                trail=spec.trail,
                interval=spec.interval,
                max_lag_seconds=spec.max_lag_seconds,
                approval=spec.approval,
                webhook_key=new_webhook_key(),
                passphrase=spec.passphrase,
                hmac_secret=spec.hmac_secret,
                max_alerts_per_minute=spec.max_alerts_per_minute,
                allow_ips=spec.allow_ips,
                heartbeat_minutes=spec.heartbeat_minutes,
                break_even_after_tp1=spec.break_even_after_tp1,
            )
            await StrategyConfig.create(
                bot=row, strategy=spec.strategy, params=spec.strategy_params
            )
            for symbol in spec.symbols:
                await ensure_instrument(symbol)
        return _config(row, spec.strategy_params)

    async def list_bots(self) -> list[BotConfig]:
        return await _configs(await TradingBot.filter(deleted_at=None).order_by("id"))

    async def count_bots(self) -> int:
        return await TradingBot.filter(deleted_at=None).count()

    async def bot_by_key(self, key: str) -> BotConfig | None:
        """The bot a webhook key belongs to (every alert asks: lean SQL, one trip)."""
        names, select = sql.select_all(TradingBot)
        batch = sql.Batch()
        batch.fetch(f'{select} WHERE "webhook_key" = ? AND "deleted_at" IS NULL', key)
        batch.fetch(_PARAMS_BY_KEY, key)
        bots, params = await sql.run(batch)
        if not bots:
            return None
        row = SimpleNamespace(**sql.decode(TradingBot, bots[0], names))
        field = sql.field_of(StrategyConfig, "params")
        return _config(row, field.to_python_value(params[0][0]) if params else {})  # type: ignore[arg-type]

    async def bot_by_name(self, name: str) -> BotConfig:
        row = await TradingBot.get_or_none(name=name, deleted_at=None)
        if row is None:
            raise NotFound(f"no bot named {name!r}")
        return (await _configs([row]))[0]

    async def bot_by_id(self, bot_id: int) -> BotConfig:
        """Deleted bots too: their orders and trades still name them."""
        row = await TradingBot.get_or_none(id=bot_id)
        if row is None:
            raise NotFound(f"no bot with id {bot_id}")
        return (await _configs([row]))[0]

    async def active_bot_by_id(self, bot_id: int) -> BotConfig | None:
        row = await TradingBot.get_or_none(id=bot_id, deleted_at=None)
        return (await _configs([row]))[0] if row else None

    async def set_paused(self, name: str, paused: bool) -> BotConfig:
        await _update_named(name, paused=paused)
        return await self.bot_by_name(name)

    async def set_monitoring(
        self, name: str, *, heartbeat_minutes: int | None, break_even_after_tp1: bool
    ) -> None:
        """What the monitor watches for a bot: the alert heartbeat (None: none) and the move
        of the stop-loss to break-even after the first take-profit."""
        check_heartbeat_minutes(heartbeat_minutes)
        await _update_named(
            name, heartbeat_minutes=heartbeat_minutes, break_even_after_tp1=break_even_after_tp1
        )

    async def break_even_after_tp1(self, bot_id: int) -> bool:
        row = await TradingBot.get_or_none(id=bot_id)
        return bool(row and row.break_even_after_tp1)

    async def heartbeat_bots(self) -> list[HeartbeatBot]:
        """Active bots that expect an alert at least every N minutes."""
        rows = await TradingBot.filter(
            heartbeat_minutes__isnull=False, deleted_at=None, paused=False
        ).order_by("id")
        return [
            HeartbeatBot(row.id, row.name, int(row.heartbeat_minutes or 0), row.created_at)
            for row in rows
        ]

    async def set_hmac_secret(self, name: str, secret: str | None) -> BotConfig:
        await _update_named(name, hmac_secret=secret)
        return await self.bot_by_name(name)

    async def rotate_key(self, name: str) -> BotConfig:
        await _update_named(name, webhook_key=new_webhook_key())
        return await self.bot_by_name(name)

    # ------------------------------------------------------------ administration from the chat

    async def update_bot(self, bot_id: int, **fields: Any) -> bool:
        """Set columns of an active bot and, with `strategy_params`, record its strategy's
        parameters (of `fields["strategy"]` or the bot's own): in one transaction."""
        params = fields.pop("strategy_params", None)
        async with in_transaction():
            row = await TradingBot.get_or_none(id=bot_id, deleted_at=None)
            if row is None:
                return False
            if fields:
                await TradingBot.filter(id=bot_id, deleted_at=None).update(**fields)
            if params is not None:
                strategy = fields.get("strategy", row.strategy)
                await StrategyConfig.create(bot_id=bot_id, strategy=strategy, params=params)
        return True

    async def soft_delete_bot(self, bot_id: int) -> bool:
        """Keep the row (trades refer to it) but free the name and kill the webhook URL."""
        row = await TradingBot.get_or_none(id=bot_id, deleted_at=None)
        if row is None:
            return False
        now = datetime.now(UTC)
        return bool(
            await TradingBot.filter(id=bot_id, deleted_at=None).update(
                deleted_at=now,
                paused=True,
                name=f"{row.name}#deleted{row.id}"[:64],
                webhook_key=f"deleted-{row.id}-{now.timestamp():.0f}",
            )
        )

    async def bind_chat(self, bot_id: int, chat_id: int | None, topic_id: int | None) -> bool:
        return bool(
            await TradingBot.filter(id=bot_id, deleted_at=None).update(
                chat_id=chat_id, topic_id=topic_id
            )
        )

    async def bot_chats(self) -> dict[str, tuple[int, int | None]]:
        """Bot name → (chat id, forum topic id) for bots that post to a group chat."""
        rows = await TradingBot.filter(deleted_at=None, chat_id__not_isnull=True).values_list(
            "name", "chat_id", "topic_id"
        )
        return {name: (chat_id, topic_id) for name, chat_id, topic_id in rows}

    async def chat_of(self, bot_id: int) -> tuple[int | None, int | None]:
        row = await TradingBot.get_or_none(id=bot_id)
        return (row.chat_id, row.topic_id) if row else (None, None)

    async def pause_active_bots(self) -> list[str]:
        """Pause every active bot; the names of those this call paused."""
        async with in_transaction():
            names = await TradingBot.filter(deleted_at=None, paused=False).values_list(
                "name", flat=True
            )
            await TradingBot.filter(name__in=list(names), deleted_at=None).update(paused=True)
        return [str(name) for name in names]

    async def unpause_bots(self, names: list[str]) -> list[str]:
        """Un-pause the named bots that still exist and are paused; the names un-paused."""
        async with in_transaction():
            found = await TradingBot.filter(
                name__in=names, deleted_at=None, paused=True
            ).values_list("name", flat=True)
            await TradingBot.filter(name__in=list(found), deleted_at=None).update(paused=False)
        return [str(name) for name in found]
