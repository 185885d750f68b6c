"""SQLite transactions take the write lock when they begin (BEGIN IMMEDIATE): a transaction that
reads and then writes cannot fail because another process wrote in between; that process finds
the lock taken and waits its turn (busy timeout) instead."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

import pytest
from tortoise.transactions import in_transaction

from db.models import Instrument
from tests.conftest import World


async def test_read_then_write_survives_another_writer(world: World, db_url: str) -> None:
    await world.send_alert(action="tick", price="100")  # the instrument row exists
    await Instrument.filter(symbol="BTCUSDT").update(
        last_price=Decimal(100)
    )  # (alerts' are per bot)
    other = sqlite3.connect(db_url.removeprefix("sqlite://"), timeout=0)  # another process
    try:
        async with in_transaction():
            row = await Instrument.get(symbol="BTCUSDT")  # a read first...
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                # ...the other writer cannot slip in between: the lock is already ours
                other.execute("UPDATE instruments SET last_price = '1' WHERE symbol = 'BTCUSDT'")
            await Instrument.filter(id=row.id).update(last_price=row.last_price + 1)  # ...write
        assert (await Instrument.get(symbol="BTCUSDT")).last_price == Decimal("101")
        other.execute("UPDATE instruments SET last_price = '1' WHERE symbol = 'BTCUSDT'")
        other.commit()  # after our commit its turn comes
        assert (await Instrument.get(symbol="BTCUSDT")).last_price == Decimal("1")
    finally:
        other.close()
