"""Closing by hand closes what the user confirmed, one by one: a position opened while they read
the confirmation stays open, and one that cannot be closed is reported beside the others instead
of stopping them (the chat's /close and /closeall and the CLI's close and closeall)."""

from __future__ import annotations

from handlers.web.keys import CONTROL
from tests.conftest import World
from trading.access import CLI


async def open_longs(world: World, *bots: str) -> None:
    for name in bots:
        await world.add_bot(name)
        status, body = await world.send_alert(name, action="buy", price="100", qty="1")
        assert (status, body["status"]) == (200, "executed"), body


async def test_close_all_closes_only_the_positions_shown(world: World) -> None:
    control = world.server.app[CONTROL]
    await open_longs(world, "first")
    shown = await control.positions()
    await open_longs(world, "second")  # opened while the confirmation was on screen

    closed = await control.close_all(CLI, shown=shown)

    assert [(c.position.bot, c.result.status) for c in closed] == [("first", "executed")]
    assert [p.bot for p in await control.positions()] == ["second"]


async def test_one_position_that_cannot_be_closed_does_not_stop_the_others(world: World) -> None:
    control = world.server.app[CONTROL]
    await open_longs(world, "first", "second")
    shown = await control.positions()
    gone = next(p for p in shown if p.bot == "first")
    await control.close_position(CLI, gone.id)  # closed meanwhile (another user, a stop)

    closed = await control.close_all(CLI, shown=shown)

    outcome = {c.position.bot: (c.result.status, c.result.reason) for c in closed}
    assert outcome["first"][0] == "rejected"
    assert "already closed" in outcome["first"][1]
    assert outcome["second"][0] == "executed"
    assert await control.positions() == []


async def test_close_by_bot_name_reports_each_position(world: World) -> None:
    control = world.server.app[CONTROL]
    await world.add_bot("first", symbols=["BTCUSDT", "ETHUSDT"])
    for symbol in ("BTCUSDT", "ETHUSDT"):
        status, body = await world.send_alert("first", action="buy", price="100", symbol=symbol)
        assert (status, body["status"]) == (200, "executed"), body
    shown = await control.to_close("first")
    await control.close_position(CLI, shown[0].id)  # closed meanwhile

    closed = await control.close(CLI, "first", shown=shown)

    assert [c.result.status for c in closed] == ["rejected", "executed"]
    assert await control.positions() == []
