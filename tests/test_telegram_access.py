"""Who may do what in the chat: owners from settings, roles granted with /users, strangers
refused once and politely, every refusal audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from db.models import AuditLog, CurrentPosition, User
from tests.conftest import OWNER_ID, World
from tests.telegram_helpers import REFUSAL, Chat

STRANGER = 999
VIEWER = 222
TRADER = 333

PHOTO = "<photo>"

# Every command of SPEC §8, with what an owner's answer contains.
SPEC_COMMANDS: list[tuple[str, str]] = [
    ("/start", "you are"),
    ("/help", "Commands"),
    ("/status", "Bots 1"),
    ("/bots", "Bots (1)"),
    ("/bot demo", "demo"),
    ("/newbot", "New bot"),
    ("/cancel", "Cancelled"),
    ("/positions", "No open positions"),
    ("/close demo", "no open position"),
    ("/closeall", "No open positions"),
    ("/trades 5", "No closed trades"),
    ("/pnl", "PnL"),
    ("/daily", "Last 7 days"),
    ("/weekly", "Last 4 weeks"),
    ("/performance", "No closed trades"),
    ("/balance", "Balance"),
    ("/risk", "Risk rules"),
    ("/stopentry", "Kill switch on"),
    ("/resume", "Kill switch off"),
    ("/backtest rsi BTCUSDT", PHOTO),
    ("/chart BTCUSDT", "no price bars"),
    ("/alerts", "webhook"),
    ("/alerttemplate demo", "TradingView alert message"),
    ("/users", "Users"),
    ("/notify", "Notifications"),
    ("/app", "dashboard"),
    ("/logout", "dashboard sessions"),
    ("/health", "Health"),
]


async def telegram_world(start_world: Callable[..., Any]) -> World:
    world: World = await start_world(telegram=True)
    await world.add_bot("demo")
    assert world.telegram is not None
    await world.telegram.wait_for("setMyCommands")
    return world


async def test_every_command_is_registered_with_set_my_commands(
    start_world: Callable[..., Any],
) -> None:
    world = await telegram_world(start_world)
    assert world.telegram is not None
    [call] = await world.telegram.wait_for("setMyCommands")
    registered = {c["command"] for c in call.params["commands"]}
    assert {cmd.split()[0].lstrip("/") for cmd, _ in SPEC_COMMANDS} <= registered


async def test_owner_gets_an_answer_to_every_command(start_world: Callable[..., Any]) -> None:
    world = await telegram_world(start_world)
    assert world.telegram is not None
    owner = Chat(world.telegram, OWNER_ID)
    for command, expected in SPEC_COMMANDS:
        if expected == PHOTO:
            owner.fake.push_message(OWNER_ID, command)
            [photo] = await owner.fake.wait_for("sendPhoto", timeout=20)
            assert photo.params["chat_id"] == OWNER_ID
            continue
        reply = await owner.say(command, expected)
        assert REFUSAL not in reply
        assert "Unknown command" not in reply, command
        assert "Something went wrong" not in reply, command


async def test_stranger_is_refused_politely_once_per_attempt_and_audited(
    start_world: Callable[..., Any],
) -> None:
    world = await telegram_world(start_world)
    assert world.telegram is not None
    stranger = Chat(world.telegram, STRANGER)
    for n, (command, _) in enumerate(SPEC_COMMANDS, start=1):
        reply = await stranger.say(command, REFUSAL)
        assert str(STRANGER) in reply
        assert len(stranger.sent()) == n  # one polite refusal, nothing else
    rows = await AuditLog.filter(actor=f"tg:{STRANGER}").order_by("id")
    assert [r.action for r in rows] == [c.split()[0] for c, _ in SPEC_COMMANDS]
    assert {r.outcome for r in rows} == {"refused"}
    assert all(r.created_at is not None for r in rows)


async def test_stranger_button_press_is_refused_and_trades_nothing(
    start_world: Callable[..., Any],
) -> None:
    world = await telegram_world(start_world)
    assert world.telegram is not None
    await world.send_alert(action="buy", price="100")
    owner = Chat(world.telegram, OWNER_ID)
    await owner.say("/positions", "Open positions")
    message_id, data = owner.find_button("Close BTCUSDT")
    stranger = Chat(world.telegram, STRANGER)
    answer = await stranger.press_data(data.replace("close", "yes"), message_id)
    assert REFUSAL in answer["text"] and answer.get("show_alert") is True
    assert await CurrentPosition.all().count() == 1
    row = await AuditLog.get(actor=f"tg:{STRANGER}")
    assert (row.outcome, row.action) == ("refused", "button pos:yes:1")


async def test_strangers_chatting_in_a_group_are_ignored(start_world: Callable[..., Any]) -> None:
    world = await telegram_world(start_world)
    assert world.telegram is not None
    group = Chat(world.telegram, STRANGER, chat_id=-100500)
    world.telegram.push_message(STRANGER, "hello everyone", chat_id=-100500)
    reply = await group.say("/positions", REFUSAL)  # a command is an attempt: refused
    assert REFUSAL in reply
    assert len(group.sent()) == 1
    assert await AuditLog.filter(actor=f"tg:{STRANGER}").count() == 1


async def test_viewer_reads_but_cannot_trade(start_world: Callable[..., Any]) -> None:
    world = await telegram_world(start_world)
    assert world.telegram is not None
    await world.send_alert(action="buy", price="100")
    owner = Chat(world.telegram, OWNER_ID)
    assert "is now viewer" in await owner.say(f"/users grant {VIEWER} viewer", "viewer")
    viewer = Chat(world.telegram, VIEWER)
    text = await viewer.say("/positions", "Open positions (1)")
    assert "BTCUSDT" in text
    last = world.telegram.sent_messages(VIEWER)[-1]
    assert "reply_markup" not in last  # no Close buttons for a viewer
    refusal = await viewer.say("/closeall", "needs the trader role")
    assert "you are viewer" in refusal
    answer = await viewer.press_data("pos:yes:1", 1)
    assert "needs the trader role" in answer["text"]
    assert await CurrentPosition.all().count() == 1
    refused = await AuditLog.filter(actor=f"tg:{VIEWER}", outcome="refused").count()
    assert refused == 2


async def test_granted_trader_can_close_and_loses_access_when_revoked(
    start_world: Callable[..., Any],
) -> None:
    world = await telegram_world(start_world)
    assert world.telegram is not None
    await world.send_alert(action="buy", price="100")
    owner = Chat(world.telegram, OWNER_ID)
    await owner.say(f"/users grant {TRADER} trader", "trader")
    assert (await User.get(telegram_id=TRADER)).role == "trader"
    trader = Chat(world.telegram, TRADER)
    assert "owner role" in await trader.say("/users", "role")  # traders do not manage users
    closed = await trader.say("/close demo", "Closed <b>")
    assert "PnL" in closed
    users = await owner.say("/users", "Users (2)")
    assert str(TRADER) in users and "trader" in users
    await owner.say(f"/users revoke {TRADER}", "no access")
    assert REFUSAL in await trader.say("/positions", REFUSAL)
    grant = await AuditLog.get(action="user.grant")
    assert (grant.actor, grant.target, grant.outcome) == (f"tg:{OWNER_ID}", str(TRADER), "ok")
    assert await AuditLog.filter(action="user.revoke", outcome="ok").count() == 1


async def test_owner_from_settings_cannot_be_revoked_and_bad_roles_are_explained(
    start_world: Callable[..., Any],
) -> None:
    world = await telegram_world(start_world)
    assert world.telegram is not None
    owner = Chat(world.telegram, OWNER_ID)
    assert "TRADEBOT_TELEGRAM_ADMINS" in await owner.say(f"/users revoke {OWNER_ID}", "⚠️")
    assert "owner, trader or viewer" in await owner.say("/users grant 5 admin", "⚠️")
    assert "/users grant" in await owner.say("/users frobnicate", "⚠️")


async def test_a_trader_cannot_forge_owner_buttons(start_world: Callable[..., Any]) -> None:
    """Button data names only ids, and every press is authorized as the presser: a trader who
    crafts an owner's button (new key, delete, edit, position sync) is refused and nothing
    changes."""
    from db.models import TradingBot

    world = await telegram_world(start_world)
    assert world.telegram is not None
    bot_id = world.bots["demo"].id
    owner = Chat(world.telegram, OWNER_ID)
    await owner.say(f"/users grant {TRADER} trader", "trader")
    trader = Chat(world.telegram, TRADER)
    before = await TradingBot.get(id=bot_id)
    for data in (f"bot:rot_yes:{bot_id}", f"bot:del_yes:{bot_id}", f"bed:{bot_id}:size",
                 f"sync:{bot_id}:BTCUSDT:5"):  # fmt: skip
        answer = await trader.press_data(data, 1)
        assert "needs the owner role" in answer["text"], data
    after = await TradingBot.get(id=bot_id)
    assert (after.webhook_key, after.deleted_at, after.size_value) == (
        before.webhook_key, None, before.size_value,
    )  # fmt: skip
    assert await CurrentPosition.all().count() == 0
    assert await AuditLog.filter(actor=f"tg:{TRADER}", outcome="refused").count() == 4
