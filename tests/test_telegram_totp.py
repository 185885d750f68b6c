"""An owner switches on a TOTP second factor: /closeall, a new webhook key and role changes then
wait for a code from the authenticator app; a wrong code does nothing, a code counts once, three
wrong codes cancel. Codes are computed here with pyotp from the key the bot sent, against a
clock the test moves (no sleeping)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from html import unescape
from typing import Any

import pyotp
import pytest

from bot.telegram_runtime import TELEGRAM_RUNTIME
from db.models import AuditLog, CurrentPosition, TradingBot, User
from db.stores import sql_stores
from tests.conftest import OWNER_ID, World
from tests.telegram_helpers import REFUSAL, Chat, webhook_key
from trading import totp as totp_core
from trading.totp import SecondFactor

ASK = "Send the 6-digit code"


class Clock:
    """Time that moves only when the test says so; 5 s into a 30-second step."""

    def __init__(self) -> None:
        self.now = 1_750_000_005.0

    def __call__(self) -> float:
        return self.now

    def tick(self) -> None:
        self.now += 30


class App:
    """The owner's authenticator app: the key from the setup message and the same clock."""

    def __init__(self, secret: str, clock: Clock) -> None:
        self.totp = pyotp.TOTP(secret)
        self.clock = clock
        self.secret = secret

    def code(self) -> str:
        return self.totp.at(int(self.clock.now))

    def next_code(self) -> str:
        self.clock.tick()
        return self.code()

    def wrong_code(self) -> str:
        valid = {self.totp.at(int(self.clock.now), counter_offset=o) for o in (-1, 0, 1)}
        return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


async def totp_world(start_world: Callable[..., Any]) -> tuple[World, Chat, Clock]:
    world: World = await start_world(telegram=True)
    await world.add_bot("demo")
    assert world.telegram is not None
    await world.telegram.wait_for("setMyCommands")
    clock = Clock()
    second_factor: SecondFactor = world.server.app[TELEGRAM_RUNTIME].dispatcher["second_factor"]
    second_factor.clock = clock
    return world, Chat(world.telegram, OWNER_ID), clock


async def switch_on(chat: Chat, clock: Clock) -> App:
    setup = await chat.say("/totp on", "Two-factor setup")
    match = re.search(r"secret=([A-Z2-7]+)", setup)
    assert match, setup
    app = App(match.group(1), clock)
    assert f"<code>{app.secret}</code>" in setup  # the key, to type in by hand
    assert "Two-factor is <b>on</b>" in await chat.say(app.code(), "Two-factor is")
    return app


async def open_two_positions(world: World) -> None:
    await world.add_bot("eth", symbols=["ETHUSDT"], size="0.5")
    await world.send_alert(action="buy", price="100")
    await world.send_alert("eth", action="sell", symbol="ETHUSDT", price="200")
    assert await CurrentPosition.all().count() == 2


async def ask_close_all(owner: Chat) -> None:
    await owner.say("/closeall", "Close all")
    answer = await owner.press("Yes, close all")
    assert answer["text"] == "Code needed"
    await owner.wait_edit("Waiting for your code to close all open positions")
    await owner.wait_message(ASK)


def audit_text(rows: list[AuditLog]) -> str:
    return " ".join(f"{r.action} {r.target} {r.details}" for r in rows)


async def test_setup_sends_the_key_once_and_the_first_code_switches_it_on(
    start_world: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for driver in ("tortoise", "aiosqlite"):  # quiet in the product at every level (bot/logs.py)
        caplog.set_level(logging.WARNING, logger=driver)
    _world, owner, clock = await totp_world(start_world)
    assert "Two-factor is <b>off</b>" in await owner.say("/totp", "Two-factor")
    setup = await owner.say("/totp on", "Two-factor setup")
    assert "otpauth://totp/tradebot:" in unescape(setup) and "issuer=tradebot" in setup
    secret = re.search(r"secret=([A-Z2-7]+)", setup).group(1)  # type: ignore[union-attr]
    app = App(secret, clock)
    key_message = owner.fake.calls_of("sendMessage")[-1].result["message_id"]

    assert "2 tries left" in await owner.say(app.wrong_code(), "not the code")
    assert not (await User.get(telegram_id=OWNER_ID)).totp_enabled
    assert "Two-factor is <b>on</b>" in await owner.say(app.code(), "Two-factor is")
    [deleted] = owner.fake.calls_of("deleteMessage")
    assert deleted.params["message_id"] == key_message  # the key does not stay in the chat

    row = await User.get(telegram_id=OWNER_ID)
    assert row.totp_enabled and row.totp_secret == secret
    assert row.role == ""  # an owner by the settings only: this row grants no role of its own
    assert "Two-factor is <b>on</b>" in await owner.say("/totp", "Two-factor")
    assert "on already" in await owner.say("/totp on", "on already")
    assert "/totp" in await owner.say("/help", "Commands")
    listing = await owner.say("/users", "Users")
    assert secret not in listing
    actions = [r.action for r in await AuditLog.all().order_by("id")]
    assert actions == ["2fa.setup", "2fa.enable", "2fa.enable"]
    rows = await AuditLog.all()
    assert [r.outcome for r in rows if r.action == "2fa.enable"] == ["refused", "ok"]
    assert secret not in audit_text(rows)
    assert secret not in caplog.text


async def test_closeall_asks_for_a_code_after_its_confirmation_and_a_code_counts_once(
    start_world: Callable[..., Any],
) -> None:
    world, owner, clock = await totp_world(start_world)
    app = await switch_on(owner, clock)
    await open_two_positions(world)

    await ask_close_all(owner)
    assert await CurrentPosition.all().count() == 2  # nothing before the code
    assert "2 tries left" in await owner.say(app.wrong_code(), "not the code")
    assert await CurrentPosition.all().count() == 2
    code = app.next_code()
    assert "PnL" in await owner.say(code, "Closed 2 of 2")
    assert await CurrentPosition.all().count() == 0

    # The same code again, for another dangerous action: refused, the old key still works.
    old = world.bots["demo"].webhook_key
    await owner.say("/bot demo", "🤖")
    await owner.press("New key")
    await owner.press("Yes, new key")
    await owner.wait_message(ASK, after=1)
    assert "used already" in await owner.say(code, "used already")
    assert (await TradingBot.get(name="demo")).webhook_key == old
    # The next code rotates the key: the old URL stops working, the new one works.
    text = await owner.say(app.next_code(), "webhook URL")
    new = webhook_key(text)
    assert new != old
    assert (await world.post(old, "buy BTCUSDT price=100"))[0] == 401
    assert (await world.post(new, "buy BTCUSDT price=100"))[0] == 200

    rows = await AuditLog.filter(actor=f"tg:{OWNER_ID}").order_by("id")
    assert [(r.action, r.target, r.outcome) for r in rows][2:] == [
        ("2fa.ask", "position.close_all", "ok"),
        ("2fa.wrong_code", "position.close_all", "refused"),
        ("2fa.code", "position.close_all", "ok"),
        ("position.close", "demo BTCUSDT", "ok"),
        ("position.close", "eth ETHUSDT", "ok"),
        ("position.close_all", "", "ok"),
        ("2fa.ask", "bot.rotate_key demo", "ok"),
        ("2fa.reused_code", "bot.rotate_key demo", "refused"),
        ("2fa.code", "bot.rotate_key demo", "ok"),
        ("bot.rotate_key", "demo", "ok"),
    ]
    text = audit_text(list(await AuditLog.all()))
    assert app.secret not in text and code not in text


async def test_role_changes_need_a_code(start_world: Callable[..., Any]) -> None:
    _world, owner, clock = await totp_world(start_world)
    app = await switch_on(owner, clock)
    newcomer = Chat(owner.fake, 222)

    question = await owner.say("/users grant 222 trader", ASK)
    assert "make <code>222</code> trader" in question
    assert REFUSAL in await newcomer.say("/status", REFUSAL)  # not yet
    assert "is now trader" in await owner.say(app.next_code(), "is now")
    assert REFUSAL not in await newcomer.say("/status")

    await owner.say("/users revoke 222", ASK)
    assert "2 tries left" in await owner.say(app.wrong_code(), "not the code")
    assert await User.exists(telegram_id=222)
    assert "no access any more" in await owner.say(app.next_code(), "no access")
    assert not await User.exists(telegram_id=222)
    # Checks that need no code come first: a bad role, an owner from the settings.
    assert "role must be" in await owner.say("/users grant 333 boss", "⚠️")
    assert "TRADEBOT_TELEGRAM_ADMINS" in await owner.say(f"/users revoke {OWNER_ID}", "⚠️")


async def test_two_factor_is_per_user_and_off_by_default(start_world: Callable[..., Any]) -> None:
    world, owner, clock = await totp_world(start_world)
    await owner.say("/users grant 222 owner", "is now owner")  # 111 has no second factor yet
    await switch_on(owner, clock)
    other = Chat(owner.fake, 222)
    await open_two_positions(world)

    await other.say("/closeall", "Close all 2")
    await other.press("Yes, close all")
    await other.wait_edit("Closed 2 of 2")  # 222 never switched it on: not asked
    assert await CurrentPosition.all().count() == 0
    assert "is now viewer" in await other.say("/users grant 333 viewer", "is now")
    assert not await AuditLog.filter(actor="tg:222", action__startswith="2fa").exists()


async def test_three_wrong_codes_cancel_and_too_many_lock_codes_out(
    start_world: Callable[..., Any],
) -> None:
    world, owner, clock = await totp_world(start_world)
    app = await switch_on(owner, clock)
    await world.send_alert(action="buy", price="100")

    await ask_close_all(owner)
    assert "2 tries left" in await owner.say(app.wrong_code(), "not the code")
    assert "1 try left" in await owner.say("12 34 5", "not the code")  # not even 6 digits
    cancelled = await owner.say(app.wrong_code(), "Wrong code 3 times")
    assert "I did not close all open positions" in cancelled
    # Nothing waits for a code any more: the right one now does nothing.
    await owner.say(app.next_code(), "Send a command")
    assert await CurrentPosition.all().count() == 1
    cancel = await AuditLog.get(action="2fa.cancel")
    assert (cancel.target, cancel.outcome) == ("position.close_all", "refused")

    # Three more wrong codes, and codes are refused for a while, even the right one.
    await owner.say("/closeall", "Close all 1")
    await owner.press("Yes, close all")
    for _ in range(3):
        await owner.say(app.wrong_code(), "❌")
    await owner.say("/closeall", "Close all 1")
    answer = await owner.press("Yes, close all")
    assert answer["text"] == "Locked"
    assert "Too many wrong codes" in await owner.wait_edit("Too many")
    assert "Too many wrong codes" in await owner.say(f"/totp off {app.next_code()}", "Too many")
    assert await CurrentPosition.all().count() == 1
    assert (await User.get(telegram_id=OWNER_ID)).totp_enabled


async def test_switching_off_needs_a_code_and_cancel_drops_a_pending_setup(
    start_world: Callable[..., Any],
) -> None:
    world, owner, clock = await totp_world(start_world)
    app = await switch_on(owner, clock)
    assert "stays on" in await owner.say(f"/totp off {app.wrong_code()}", "stays on")
    await owner.say("/totp off", ASK)
    assert "Cancelled: I did not switch two-factor off" in await owner.say("/cancel", "Cancel")
    await owner.say("/totp off", ASK)
    assert "Two-factor is <b>off</b>" in await owner.say(app.next_code(), "Two-factor is")
    row = await User.get(telegram_id=OWNER_ID)
    assert not row.totp_enabled and row.totp_secret is None

    await world.send_alert(action="buy", price="100")
    await owner.say("/closeall", "Close all 1")
    await owner.press("Yes, close all")
    await owner.wait_edit("Closed 1 of 1")  # off: not asked any more

    # A setup given up with /cancel forgets the key and deletes the message that showed it.
    await owner.say("/totp on", "Two-factor setup")
    key_message = owner.fake.calls_of("sendMessage")[-1].result["message_id"]
    assert "stays off" in await owner.say("/cancel", "Cancel")
    assert owner.fake.calls_of("deleteMessage")[-1].params["message_id"] == key_message
    assert (await User.get(telegram_id=OWNER_ID)).totp_secret is None


async def test_the_key_is_never_sent_to_a_group(start_world: Callable[..., Any]) -> None:
    _world, owner, _clock = await totp_world(start_world)
    group = Chat(owner.fake, OWNER_ID, chat_id=-1001234567890)
    assert "private chat" in await group.say("/totp on", "private chat")
    assert not await User.exists(telegram_id=OWNER_ID)


# ---------------------------------------------------------------- the rules themselves


def test_a_code_is_good_for_the_current_step_and_one_either_side() -> None:
    secret = totp_core.new_secret()
    totp = pyotp.TOTP(secret)
    now = 1_750_000_005
    step = totp.timecode(datetime.fromtimestamp(now, UTC))
    for offset in (-1, 0, 1):
        code = totp.at(now, counter_offset=offset)
        assert totp_core.verify(code, secret, None, now) == step + offset
    assert totp_core.verify(totp.at(now, counter_offset=2), secret, None, now) is None
    assert totp_core.verify(totp.at(now, counter_offset=-2), secret, None, now) is None
    spaced = totp.at(now)[:3] + " " + totp.at(now)[3:]
    assert totp_core.verify(f" {spaced}\n", secret, None, now) == step
    assert totp_core.verify(totp.at(now), secret, step, now) is None  # used
    assert totp_core.verify(totp.at(now, counter_offset=-1), secret, step, now) is None  # older
    assert totp_core.verify("abcdef", secret, None, now) is None
    assert totp_core.verify("1234567", secret, None, now) is None


async def test_two_processes_given_the_same_code_accept_it_once(world: World) -> None:
    await sql_stores().users.set_totp_pending(555, totp_core.new_secret())
    state = await sql_stores().users.totp_state(555)
    assert state is not None and state.secret is not None and "secret" not in repr(state)
    assert await sql_stores().users.enable_totp(555, state.secret, 100)
    results = await asyncio.gather(
        *(sql_stores().users.accept_totp_step(555, 101) for _ in range(4))
    )
    assert sorted(results) == [False, False, False, True]
    assert not await sql_stores().users.accept_totp_step(555, 100)
    assert await sql_stores().users.accept_totp_step(555, 102)
