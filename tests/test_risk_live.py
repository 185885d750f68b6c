"""The risk rules on a running product (SPEC §6a): scripted alerts cross each limit, and the
answers, the orders and the webhook log are checked against arithmetic done by hand.

Paper account: 10000 USDT, fee 10 bps of each fill's notional, no slippage.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from bot.resources import ASSEMBLY
from db.models import Order, WebhookLog
from tests.conftest import World
from tests.waiting import eventually
from trading.access import CLI
from trading.risk_gate import KillSwitchTripped, RiskRefused

pytestmark = pytest.mark.asyncio


def assembly(world: World) -> Any:
    return world.server.app[ASSEMBLY]


async def set_rules(world: World, *words: str, bot: str | None = None) -> None:
    await assembly(world).risk.set(CLI, list(words), bot)


async def settled(world: World) -> None:
    """Let the equity samples of the fills so far be written (they run after each fill)."""
    await assembly(world).equity.drain()


async def filled_orders() -> int:
    return await Order.filter(status="filled").count()


async def test_max_position_qty_refuses_the_entry_past_it_and_never_an_exit(world: World) -> None:
    await set_rules(world, "max_position_qty=2")
    for _ in range(2):
        status, body = await world.send_alert(action="buy", qty="1", price="100")
        assert (status, body["status"]) == (200, "executed")
    status, body = await world.send_alert(action="buy", qty="1", price="100")
    assert (status, body["status"]) == (200, "rejected")
    assert body["reason"] == (
        "risk: max_position_qty 2 would be exceeded (BTCUSDT position 3 after the order)"
    )
    assert await filled_orders() == 2
    row = await WebhookLog.filter(status="rejected").order_by("-id").first()
    assert row is not None and row.reason == body["reason"]
    status, body = await world.send_alert(action="close", price="100")
    assert body["status"] == "executed"


async def test_max_exposure_counts_every_open_position(world: World) -> None:
    await world.add_bot("other", symbols=["ETHUSDT"])
    await set_rules(world, "max_exposure=1500")
    _, body = await world.send_alert(action="buy", qty="1", price="1000")
    assert body["status"] == "executed"
    _, body = await world.send_alert("other", symbol="ETHUSDT", action="buy", qty="1", price="600")
    assert body["status"] == "rejected"
    assert body["reason"] == (
        "risk: max_exposure 1500 USDT would be exceeded (1000.00 open + 600.00 order = 1600.00)"
    )
    _, body = await world.send_alert("other", symbol="ETHUSDT", action="buy", qty="1", price="500")
    assert body["status"] == "executed"  # 1500 exactly: allowed


async def test_max_open_positions_and_a_bots_off(world: World) -> None:
    await world.add_bot("other", symbols=["ETHUSDT"])
    await set_rules(world, "max_open_positions=1")
    assert (await world.send_alert(action="buy", qty="1", price="100"))[1]["status"] == "executed"
    _, body = await world.send_alert("other", symbol="ETHUSDT", action="buy", qty="1", price="10")
    assert body["reason"] == "risk: max_open_positions 1 reached (1 open in USDT)"
    # adding to the open position opens nothing new
    assert (await world.send_alert(action="buy", qty="1", price="100"))[1]["status"] == "executed"
    await set_rules(world, "max_open_positions=off", bot="other")
    _, body = await world.send_alert("other", symbol="ETHUSDT", action="buy", qty="1", price="10")
    assert body["status"] == "executed"


async def test_daily_loss_limit_counts_realized_and_fees(world: World) -> None:
    await set_rules(world, "daily_loss_limit=150")
    await world.send_alert(action="buy", qty="1", price="1000")
    _, body = await world.send_alert(action="close", price="800")
    assert body["status"] == "executed"  # an exit is never refused
    # −200 on the price, fees 1.00 + 0.80
    _, body = await world.send_alert(action="buy", qty="1", price="800")
    assert body["status"] == "rejected"
    assert body["reason"] == "risk: daily_loss_limit 150 USDT reached (−201.80 today)"


async def test_risk_per_trade_sizes_by_the_stop_distance(world: World) -> None:
    await set_rules(world, "risk_per_trade=1%")
    # equity 10000, 1% = 100 to lose; stop 2% under 1000 = 980: 100 / 20 = 5
    _, body = await world.send_alert(action="buy", price="1000", sl="2%")
    assert body["status"] == "executed"
    assert D(body["order"]["qty"]) == D(5)
    await world.send_alert(action="close", price="1000")
    _, body = await world.send_alert(action="buy", price="1000")
    assert body["status"] == "rejected"
    assert body["reason"] == "risk: risk_per_trade 1% needs a stop-loss (none on this entry)"


async def test_risk_per_trade_is_capped_by_the_size_limits(world: World) -> None:
    await set_rules(world, "risk_per_trade=1%", "max_position_qty=3")
    _, body = await world.send_alert(action="buy", price="1000", sl="980")
    assert body["status"] == "executed"
    assert D(body["order"]["qty"]) == D(3)


async def test_a_refused_reversal_closes_and_stays_flat(world: World) -> None:
    await world.send_alert(action="buy", qty="1", price="100")
    await set_rules(world, "max_position_qty=0.5")
    _, body = await world.send_alert(action="sell", qty="2", price="100")
    assert body["status"] == "executed"
    assert "no new position: risk: max_position_qty 0.5 would be exceeded" in body["reason"]
    assert body["position"] is None or D(body["position"]["qty"]) == 0
    status, positions = await world.get("/positions")
    assert status == 200 and positions == []


async def test_max_drawdown_without_a_sample_counts_from_the_start(world: World) -> None:
    """An entry checked before any equity sample was taken: the peak is the starting balance."""
    await set_rules(world, "max_drawdown=10%")
    assert (await world.send_alert(action="buy", qty="5", price="1000"))[1]["status"] == "executed"
    await world.send_alert(action="tick", price="700")
    _, body = await world.send_alert(action="buy", qty="1", price="700")
    assert body["reason"].startswith("risk: max_drawdown 10% reached (−15.05% from peak 10000")


async def test_max_drawdown_trips_the_kill_switch_until_resumed(world: World) -> None:
    events = assembly(world).events
    await set_rules(world, "max_drawdown=10%")
    _, body = await world.send_alert(action="buy", qty="5", price="1000")
    assert body["status"] == "executed"
    await settled(world)  # samples: the start (10000), then 9995 (the 5.00 fee paid)
    await world.send_alert(action="tick", price="700")  # unrealized −1500: equity 8495
    _, body = await world.send_alert(action="buy", qty="1", price="700")
    assert body["status"] == "rejected"
    assert body["reason"] == (
        "risk: max_drawdown 10% reached (−15.05% from peak 10000.00 USDT, equity 8495.00)"
    )
    assert any(isinstance(e, KillSwitchTripped) for e in events.recent)
    # exits go on; entries do not, whatever the figures say now
    _, body = await world.send_alert(action="close", price="700")
    assert body["status"] == "executed"
    await world.send_alert(action="tick", price="1000")  # the price alone changes nothing
    _, body = await world.send_alert(action="buy", qty="1", price="1000")
    assert body["status"] == "rejected" and body["reason"].startswith("risk: kill switch on")
    switch = await assembly(world).risk.kill_switch()
    assert switch.on and switch.rule == "max_drawdown"
    # resumed: the peak starts afresh from the equity now (8491.50), so entries go on ...
    await assembly(world).risk.resume_entries(CLI)
    _, body = await world.send_alert(action="buy", qty="5", price="1000")
    assert body["status"] == "executed"
    await settled(world)  # equity 8486.50 after the 5.00 fee; the peak stays 8491.50
    # ... until a new fall of 10 % from there: 5 × −170 = −850, equity 7636.50, 855 below
    await world.send_alert(action="tick", price="830")
    _, body = await world.send_alert(action="buy", qty="1", price="830")
    assert body["status"] == "rejected"
    assert body["reason"] == (
        "risk: max_drawdown 10% reached (−10.0689% from peak 8491.50 USDT, equity 7636.50)"
    )


async def test_the_kill_switch_stops_entries_only(world: World) -> None:
    await world.send_alert(action="buy", qty="1", price="100")
    await assembly(world).risk.stop_entries(CLI)
    _, body = await world.send_alert(action="buy", qty="1", price="100")
    assert body["status"] == "rejected" and body["reason"].startswith("risk: kill switch on")
    # a bot created while it is on is held too
    await world.add_bot("late", symbols=["ETHUSDT"])
    _, body = await world.send_alert("late", symbol="ETHUSDT", action="buy", qty="1", price="9")
    assert body["status"] == "rejected"
    _, body = await world.send_alert(action="close", price="100")
    assert body["status"] == "executed"


async def test_cooldown_after_a_stop_loss(world: World) -> None:
    await set_rules(world, "cooldown_after_stop=30")
    await world.send_alert(action="buy", qty="1", price="100", sl="95")
    await world.send_alert(action="tick", price="94")

    async def stopped() -> bool:
        return await Order.filter(reason="stop_loss", status="filled").exists()

    await eventually(stopped)
    _, body = await world.send_alert(action="buy", qty="1", price="94")
    assert body["status"] == "rejected"
    assert body["reason"].startswith("risk: cooldown_after_stop 30 min (stop-loss on BTCUSDT at ")


async def test_owners_hear_of_a_rule_once_until_it_clears(world: World) -> None:
    events = assembly(world).events
    await set_rules(world, "max_position_qty=1")
    await world.send_alert(action="buy", qty="1", price="100")
    for _ in range(3):
        assert (await world.send_alert(action="buy", qty="1", price="100"))[1]["status"] == (
            "rejected"
        )

    def notices() -> int:
        return sum(isinstance(e, RiskRefused) for e in events.recent)

    assert notices() == 1
    await world.send_alert(action="close", price="100")
    assert (await world.send_alert(action="buy", qty="1", price="100"))[1]["status"] == "executed"
    await world.send_alert(action="buy", qty="1", price="100")  # refused again: told again
    assert notices() == 2


async def test_the_hourly_sample_trips_max_drawdown_with_no_entry_to_find_it(world: World) -> None:
    await set_rules(world, "max_drawdown=10%")
    await world.send_alert(action="buy", qty="5", price="1000")
    await world.send_alert(action="tick", price="700")  # equity 8495, 15.05 % under 10000
    recorder = assembly(world).equity
    await recorder.drain()
    assert not (await assembly(world).risk.kill_switch()).on
    assert await recorder.hourly() == 1  # one currency sampled
    switch = await assembly(world).risk.kill_switch()
    assert switch.on and switch.rule == "max_drawdown"
    assert switch.reason.startswith("risk: max_drawdown 10% reached (−15.05% from peak 10000")
    samples = await assembly(world).stores.risk.snapshots("USDT")
    assert [s.cause for s in samples][-1] == "hourly" and samples[-1].equity == D("8495")
    _, body = await world.send_alert(action="buy", qty="1", price="700")
    assert body["reason"].startswith("risk: kill switch on")
