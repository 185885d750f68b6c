"""Scaled out: the web process runs without a monitor and `tradebot monitor` runs beside it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from decimal import Decimal as D
from typing import Any

from aiohttp import ClientError

from db.models import TradeHistory
from tests.conftest import World
from tests.processes import free_port
from tests.waiting import eventually


async def test_a_monitor_process_closes_what_the_web_process_opened(
    start_world, db_url: str
) -> None:
    world: World = await start_world(monitor_enabled=False)
    await world.add_bot("demo")
    await world.send_alert(action="buy", price="100", qty="1", sl="2%")

    port = free_port()
    env = {
        **os.environ,
        "TRADEBOT_DATABASE_URL": db_url,
        "TRADEBOT_HOST": "127.0.0.1",
        "TRADEBOT_PORT": str(port),
        "TRADEBOT_MONITOR_INTERVAL": "0.05",
        "TRADEBOT_MONITOR_RESYNC_INTERVAL": "0.05",
    }
    env.pop("TRADEBOT_TELEGRAM_TOKEN", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "monitor",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )

    async def monitor_health() -> dict[str, Any] | None:
        try:
            async with world.http.get(f"http://127.0.0.1:{port}/health") as response:
                return (await response.json())["checks"]["monitor"]
        except ClientError:
            return None

    async def watching(count: int) -> bool:
        health = await monitor_health()
        return health is not None and health["status"] == "ok" and health["positions"] == count

    try:
        await eventually(lambda: watching(1), timeout=30)
        await world.send_alert(action="tick", price="97")  # the web process stores the price
        [trade] = await eventually(lambda: TradeHistory.all(), timeout=10)
        assert (trade.reason, trade.exit_price) == ("stop_loss", 97)

        # a position opened after the monitor started is found too
        await world.send_alert(action="sell", price="100", qty="1", tp="4%")
        await eventually(lambda: watching(1), timeout=10)
        await world.send_alert(action="tick", price="95")
        await eventually(lambda: TradeHistory.filter(reason="take_profit").exists(), timeout=10)
        short = await TradeHistory.get(reason="take_profit")
        assert (short.side, short.exit_price, short.pnl) == (
            "short",
            95,
            D(5) - D("0.1") - D("0.095"),
        )
        _, web_health = await world.get("/health")
        assert web_health["checks"]["monitor"]["status"] == "off"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()
