"""The paper account's realized PnL stays exact while it reads only the trades closed since its
last look. On SQLite ids grow in commit order (one writer holds the lock from insert to
commit); on PostgreSQL a trade another process committed out of id order is caught by the count.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from tortoise import Tortoise

from db.config import tortoise_config
from db.models import TradeHistory
from db.paper_ledger import SqlPaperLedger
from db.stores import sql_stores
from tests.conftest import World
from tests.processes import migrated_postgres
from trading.bots import BotSpec


async def _trade(bot_id: int, trade_id: int | None, pnl: str, quote: str = "USDT") -> None:
    now = datetime.now(UTC)
    await TradeHistory.create(
        **({"id": trade_id} if trade_id else {}),
        position_id=trade_id or int(now.timestamp() * 1e6),
        bot_id=bot_id,
        symbol="BTCUSDT",
        quote=quote,
        side="long",
        qty=Decimal(1),
        entry_price=Decimal(100),
        exit_price=Decimal(101),
        pnl=Decimal(pnl),
        fees=Decimal(0),
        opened_at=now,
        closed_at=now,
        reason="signal",
    )


async def test_realized_pnl_is_exact_read_incrementally(world: World) -> None:
    bot_id = world.bots["demo"].id
    ledger = SqlPaperLedger()
    assert (await ledger.account("USDT"))[0] == Decimal(0)
    await _trade(bot_id, None, "1.5")
    await _trade(bot_id, None, "-0.25")
    assert (await ledger.account("USDT"))[0] == Decimal("1.25")
    await _trade(bot_id, None, "2")  # read incrementally: only the ids above the last seen
    await _trade(bot_id, None, "0.000000000001", quote="EUR")  # another currency: not counted
    assert (await ledger.account("USDT"))[0] == Decimal("3.25")
    # the whole-account view (every row added up) agrees with the incremental one
    assert (await SqlPaperLedger().realized())["USDT"] == (await ledger.account("USDT"))[0]


@pytest.fixture
async def postgres(tmp_path: Path) -> AsyncIterator[str]:
    async with migrated_postgres("tradebot_ledger", tmp_path) as url:
        await Tortoise.init(config=tortoise_config(url))
        try:
            yield url
        finally:
            await Tortoise.close_connections()


async def test_on_postgres_a_trade_committed_out_of_id_order_is_counted(postgres: str) -> None:
    bot = await sql_stores().bots.create_bot(BotSpec(name="demo", symbols=["BTCUSDT"], size="1"))
    ledger = SqlPaperLedger()
    await _trade(bot.id, 10, "1.5")
    await _trade(bot.id, 20, "-0.25")
    assert (await ledger.account("USDT"))[0] == Decimal("1.25")
    await _trade(bot.id, 30, "2")
    assert (await ledger.account("USDT"))[0] == Decimal("3.25")
    # another process committed id 25 after this one had read up to 30: the count gives it away
    await _trade(bot.id, 25, "100")
    await _trade(bot.id, 40, "1")
    assert (await ledger.account("USDT"))[0] == Decimal("104.25")
    assert (await SqlPaperLedger().realized())["USDT"] == (await ledger.account("USDT"))[0]


async def test_the_cash_check_sees_trades_closed_through_the_product(world: World) -> None:
    await world.send_alert(action="buy", price="100", qty="1")
    await world.send_alert(action="close", price="150", qty="1")
    _, balances = await world.get("/positions")
    assert balances == []
    realized = (await SqlPaperLedger().account("USDT"))[0]
    stored = sum(await TradeHistory.all().values_list("pnl", flat=True), Decimal(0))
    assert realized == stored and realized > 49
