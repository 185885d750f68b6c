"""/backtest sends an equity-curve picture with the report; /chart the recent bars."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.conftest import OWNER_ID, World, now_iso
from tests.telegram_helpers import Chat

START = 1_767_225_600  # 2026-01-01 00:00 UTC


async def research_world(start_world: Callable[..., Any]) -> tuple[World, Chat]:
    world: World = await start_world(telegram=True)
    assert world.telegram is not None
    await world.telegram.wait_for("setMyCommands")
    return world, Chat(world.telegram, OWNER_ID)


async def test_backtest_sends_an_equity_curve_with_the_report(
    start_world: Callable[..., Any],
) -> None:
    _world, owner = await research_world(start_world)
    owner.fake.push_message(OWNER_ID, "/backtest rsi BTCUSDT period=10 sl=2%")
    [photo] = await owner.fake.wait_for("sendPhoto", timeout=20)
    assert photo.params["chat_id"] == OWNER_ID
    assert photo.params["photo"].size > 10_000
    caption = photo.params["caption"]
    assert "Backtest rsi · BTCUSDT" in caption and "Return" in caption
    assert "period=10" in caption
    assert owner.fake.calls_of("sendChatAction")


async def test_backtest_explains_bad_requests(start_world: Callable[..., Any]) -> None:
    _world, owner = await research_world(start_world)
    assert "usage: /backtest" in await owner.say("/backtest", "⚠️")
    assert "unknown strategy" in await owner.say("/backtest astrology BTCUSDT", "⚠️")
    assert "key=value" in await owner.say("/backtest rsi BTCUSDT fast", "⚠️")
    assert "symbol" in await owner.say("/backtest rsi $$$", "⚠️")


async def test_chart_draws_the_bars_alerts_built(start_world: Callable[..., Any]) -> None:
    world, owner = await research_world(start_world)
    assert "no price bars for BTCUSDT" in await owner.say("/chart BTCUSDT", "⚠️")
    await world.add_bot("demo", interval="60")
    for i, close in enumerate([100, 101, 103, 102, 104]):
        await world.send_alert(
            action="tick",
            price=str(close),
            interval="60",
            bar_time=str(START + 3600 * i),
            time=now_iso(),
        )
    owner.fake.push_message(OWNER_ID, "/chart BTCUSDT")
    [photo] = await owner.fake.wait_for("sendPhoto", timeout=20)
    assert "BTCUSDT · 1h" in photo.params["caption"]
    assert "usage: /chart" in await owner.say("/chart", "⚠️")
