"""Trades from webhooks are reported in the owners' chat, through flood control."""

from __future__ import annotations

from tests.conftest import OWNER_ID, World
from tests.test_webhook import SlowBroker


def _to_owner(params: dict) -> bool:
    return params.get("chat_id") == OWNER_ID


async def test_opened_and_closed_notifications_with_pnl(start_world) -> None:
    world: World = await start_world(telegram=True)
    await world.add_bot("demo")
    fake = world.telegram
    assert fake is not None
    await world.send_alert(action="buy", price="65120.50", qty="0.02", sl="2%")
    [opened] = await fake.wait_for("sendMessage", lambda p: "Opened" in p["text"] and _to_owner(p))
    text = opened.params["text"]
    assert "🟢 Opened long BTCUSDT · demo" in text
    assert "0.02 @ 65,120.50 USDT" in text and "fee 1.30" in text
    assert "SL 63,818.09 (−2.00%)" in text
    await world.send_alert(action="close", price="66000")
    [closed] = await fake.wait_for("sendMessage", lambda p: "PnL" in p["text"])
    # (66000 - 65120.5) * 0.02 = 17.59 gross; fees 1.30241 + 1.32 -> 14.97
    assert "PnL <b>+14.97 USDT</b>" in closed.params["text"]


async def test_flood_control_delays_but_does_not_drop(start_world) -> None:
    world: World = await start_world(telegram=True)
    await world.add_bot("demo")
    fake = world.telegram
    assert fake is not None
    await fake.wait_for("sendMessage", lambda p: "started" in p["text"])  # start-up notice
    fake.fail_next("sendMessage", status=429, retry_after=1, count=1)
    await world.send_alert(action="buy", price="100")
    calls = await fake.wait_for("sendMessage", lambda p: "Opened" in p["text"], timeout=10)
    assert len(calls) == 1
    assert len(fake.failed_calls) == 1 and "Opened" in fake.failed_calls[0].params["text"]


async def test_slow_alert_answered_202_is_reported_when_done(start_world) -> None:
    broker = SlowBroker()
    world: World = await start_world(telegram=True, broker=broker, webhook_answer_timeout=0.2)
    await world.add_bot("demo")
    status, _ = await world.send_alert(action="buy", price="100")
    assert status == 202
    broker.release.set()
    [late] = await world.telegram.wait_for(  # type: ignore[union-attr]
        "sendMessage", lambda p: "finished in the background" in p["text"]
    )
    assert "executed" in late.params["text"]
