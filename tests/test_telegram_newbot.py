"""/newbot: a guided dialogue that validates each answer, can be cancelled at any step, and
ends with a webhook URL that trades."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from html import unescape
from typing import Any

from db.models import AuditLog, CurrentPosition, TradingBot
from tests.conftest import OWNER_ID, World
from tests.telegram_helpers import Chat, webhook_key


async def owner_chat(start_world: Callable[..., Any]) -> tuple[World, Chat]:
    world: World = await start_world(telegram=True)
    assert world.telegram is not None
    await world.telegram.wait_for("setMyCommands")
    return world, Chat(world.telegram, OWNER_ID)


async def test_newbot_dialogue_validates_each_step_and_its_webhook_url_trades(
    start_world: Callable[..., Any],
) -> None:
    world, owner = await owner_chat(start_world)
    await world.add_bot("demo")
    assert "step 1/7" in await owner.say("/newbot", "New bot")

    assert "name must be" in await owner.say("bad name!", "⚠️")
    assert "already exists" in await owner.say("demo", "⚠️")
    assert "step 2/7" in await owner.say("eth-swing", "step 2/7")

    assert "symbol" in (await owner.say("$$$", "⚠️")).lower()
    step3 = await owner.say("BINANCE:ETHUSDT", "step 3/7")
    assert "signal" in step3

    assert "unknown strategy" in await owner.say("astrology", "⚠️")
    await owner.press("signal")
    await owner.wait_message("step 4/7")

    assert "size must be" in await owner.say("lots", "⚠️")
    assert "step 5/7" in await owner.say("0.5", "step 5/7")

    assert "⚠️" in await owner.say("sideways", "⚠️")
    await owner.press("both")
    await owner.wait_message("step 6/7")

    assert "⚠️" in await owner.say("0", "⚠️")
    assert "step 7/7" in await owner.say("2", "step 7/7")

    assert "⚠️" in await owner.say("2% 4% 6%", "⚠️")
    assert "percentage" in await owner.say("200% 4%", "⚠️")
    done = await owner.say("2% 4%", "created")
    assert "Bot <b>eth-swing</b> created" in done
    assert "https://bot.example.com/webhook/" in done
    template = json.loads(unescape(re.search(r"<pre>(.*)</pre>", done, re.S).group(1)))  # type: ignore[union-attr]
    assert template["action"] == "{{strategy.order.action}}"

    row = await TradingBot.get(name="eth-swing")
    assert (row.symbols, row.strategy, row.direction, row.max_entries) == (
        ["ETHUSDT"], "signal", "both", 2,
    )  # fmt: skip
    assert (row.sl, row.tp, row.size_value, row.size_kind) == ("2%", "4%", Decimal("0.5"), "qty")
    assert (await AuditLog.get(action="bot.create")).actor == f"tg:{OWNER_ID}"

    # The URL from the dialogue trades, through the same webhook path as any other bot.
    key = webhook_key(done)
    status, body = await world.post(
        key, json.dumps({"action": "buy", "symbol": "BINANCE:ETHUSDT", "price": "2000"})
    )
    assert (status, body["status"]) == (200, "executed")
    position = await CurrentPosition.get(symbol="ETHUSDT")
    assert position.qty == Decimal("0.5") and position.sl is not None
    await owner.wait_message("Opened long ETHUSDT · eth-swing")


async def test_cancel_leaves_the_dialogue_at_any_step(start_world: Callable[..., Any]) -> None:
    _world, owner = await owner_chat(start_world)
    await owner.say("/newbot", "step 1/7")
    await owner.say("abc", "step 2/7")
    await owner.say("BTCUSDT", "step 3/7")
    assert "Cancelled" in await owner.say("/cancel", "Cancelled")
    assert "Nothing to cancel" in await owner.say("/cancel", "Nothing")
    # Plain text now is not taken as an answer, and the old buttons are stale.
    assert "/help" in await owner.say("0.5", "command")
    answer = await owner.press("signal")
    assert "question is over" in answer["text"]
    assert await TradingBot.all().count() == 0


async def test_other_commands_work_in_the_middle_of_the_dialogue(
    start_world: Callable[..., Any],
) -> None:
    _world, owner = await owner_chat(start_world)
    await owner.say("/newbot", "step 1/7")
    assert "No open positions" in await owner.say("/positions", "positions")
    assert "step 2/7" in await owner.say("later", "step 2/7")


async def test_traders_cannot_create_bots(start_world: Callable[..., Any]) -> None:
    _world, owner = await owner_chat(start_world)
    await owner.say("/users grant 333 trader", "trader")
    trader = Chat(owner.fake, 333)
    assert "needs the owner role" in await trader.say("/newbot", "role")
    assert await AuditLog.filter(actor="tg:333", outcome="refused").count() == 1
