"""Stops keep working while entries are stopped: a paused bot's alerts still carry prices."""

from __future__ import annotations

from db.models import CurrentPosition, TradeHistory
from db.stores import sql_stores
from tests.conftest import World


async def test_a_paused_bots_tick_still_fires_its_stop(world: World) -> None:
    await world.send_alert(action="buy", price="100", sl="2%")
    await sql_stores().bots.set_paused("demo", True)
    _, answer = await world.send_alert(action="tick", price="97")
    assert answer["status"] == "rejected" and "paused" in answer["reason"]
    trade = await TradeHistory.get()
    assert trade.reason == "stop_loss" and trade.exit_price == 97
    assert await CurrentPosition.all().count() == 0
