"""The risk rules and the kill switch as an owner reaches them (SPEC §2, §4, §6a, §8): the CLI's
`tradebot risk show|set`, `stopentry` and `resume`, the chat's /risk (with a button per rule for
owners), /risk set, /stopentry and /resume (a code first when max_drawdown tripped it and the
owner has two-factor on), the notices, and `GET /risk`. Real aiogram against the fake Bot API,
real SQLite, the real HTTP server.

Paper account: 10000 USDT, fee 10 bps of each fill's notional, no slippage.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from html import unescape
from typing import Any

import pytest

from bot.resources import ASSEMBLY
from db.models import AuditLog, TradingBot
from db.stores import sql_stores
from handlers.telegram.formatting.risk import format_risk
from tests.conftest import OWNER_ID, World
from tests.telegram_helpers import Chat, buttons
from tests.test_telegram_totp import ASK, switch_on, totp_world
from trading.access import CLI
from trading.equity import KillSwitchState
from trading.risk import KEYS, RiskRules
from trading.risk_gate import KillSwitchTripped
from trading.risk_service import CurrencyRisk, RiskReport, RuleLine

VIEWER = 333
TRIPPED = KillSwitchState(
    on=True,
    by="max_drawdown",
    since=datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
    reason="risk: max_drawdown 10% reached (−12% from peak 10000.00 USDT, equity 8800.00)",
    rule="max_drawdown",
)


# ---------------------------------------------------------------- the CLI


def audit_rows(db_url: str) -> list[tuple[str, str, str, str]]:
    with sqlite3.connect(db_url.removeprefix("sqlite://")) as db:
        return db.execute(
            "SELECT actor, action, target, outcome FROM audit_log ORDER BY id"
        ).fetchall()


def test_cli_risk_set_and_show_the_account_and_a_bot(cli, db_url: str) -> None:
    assert cli("bots", "add", "--name", "swing", "--symbol", "BTCUSDT")[0] == 0
    code, out = cli("risk", "set", "max_exposure=20%", "daily_loss_limit=150", "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["bot"] is None
    assert report["set"] == {"max_exposure": "20%", "daily_loss_limit": "150"}
    [usdt] = report["currencies"]
    rules = {rule["key"]: rule for rule in usdt["rules"]}
    assert rules["max_exposure"] == {
        "key": "max_exposure",
        "limit": "20% (2000 USDT)",  # of the paper account's 10000 USDT
        "source": "account",
        "current": "0 USDT",
        "headroom": "2000 USDT",
    }
    assert (
        rules["max_position_qty"]["limit"] is None and rules["max_position_qty"]["source"] is None
    )

    # A bot's own rules win; `off` turns the account's rule off for that bot alone.
    code, out = cli("risk", "set", "--bot", "swing", "max_position_qty=0.5", "max_exposure=off")
    assert code == 0, out
    assert "risk rules of swing set" in out
    code, out = cli("risk", "show", "--bot", "swing", "--json")
    report = json.loads(out)
    assert report["bot"] == "swing"
    assert report["set"] == {"max_position_qty": "0.5", "max_exposure": "off"}
    assert report["in_force"] == {"max_position_qty": "0.5", "daily_loss_limit": "150"}
    sources = {r["key"]: r["source"] for r in report["currencies"][0]["rules"]}
    assert sources["max_position_qty"] == "bot" and sources["max_exposure"] == "off"
    assert sources["daily_loss_limit"] == "account"

    code, out = cli("risk", "show")
    assert code == 0, out
    assert "kill switch: off" in out
    for text in ("max_exposure", "20% (2000 USDT)", "daily_loss_limit", "150 USDT", "not set"):
        assert text in out, text
    code, out = cli("risk", "show", "--bot", "swing")
    assert code == 0 and "bot swing" in out and "bot's own" in out and "off for this bot" in out
    assert audit_rows(db_url)[1:] == [
        ("cli", "risk.set", "account", "ok"),
        ("cli", "risk.set", "swing", "ok"),
    ]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["max_exposure=abc"], "expected a quote amount such as 1000, or a share of equity"),
        (["max_drawdown=150"], "max_drawdown: must be a percentage"),
        (["colour=blue"], "unknown risk rule 'colour'; the rules are max_position_qty"),
        (["max_exposure"], "expected KEY=VALUE, got 'max_exposure'"),
        (["stop_guard=3"], "stop_guard: must be N/M"),
        (["--bot", "ghost", "max_exposure=10%"], "no bot named 'ghost'"),
        (["max_exposure=10%", "max_exposure=20%"], "max_exposure: given twice"),
        (["max_exposure=10%", "daily_reset_hour=25"], "daily_reset_hour"),
    ],
)
def test_cli_risk_set_mistakes_are_one_line_exit_2_and_store_nothing(
    cli, args: list[str], named: str
) -> None:
    code, out = cli("risk", "set", *args)
    assert code == 2, out
    errors = [line for line in out.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and named in errors[0], out
    assert "Traceback" not in out
    code, out = cli("risk", "show", "--json")
    assert json.loads(out)["set"] == {}


def test_cli_risk_show_of_an_unknown_bot(cli) -> None:
    code, out = cli("risk", "show", "--bot", "ghost")
    assert code == 2 and "Error: no bot named 'ghost'" in out


def test_cli_stopentry_and_resume_hold_across_processes(cli, db_url: str) -> None:
    assert cli("bots", "add", "--name", "swing", "--symbol", "BTCUSDT")[0] == 0
    code, out = cli("stopentry")
    assert code == 0 and "kill switch on: no new entries" in out
    code, out = cli("stopentry", "--json")
    state = json.loads(out)
    assert state["already_on"] is True and state["kill_switch"]["on"] is True
    assert state["kill_switch"]["by"] == "cli"
    # Entries stop; no bot is paused for it.
    assert json.loads(cli("bots", "list", "--json")[1])[0]["paused"] is False

    # Another process (a new `tradebot`) sees it: it is in the database.
    env = {**os.environ, "TRADEBOT_DATABASE_URL": db_url}
    other = subprocess.run(
        [sys.executable, "-m", "bot", "risk", "show", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert other.returncode == 0, other.stderr
    assert json.loads(other.stdout)["kill_switch"]["on"] is True
    code, out = cli("risk", "show")
    assert "kill switch: ON" in out and "by cli" in out

    code, out = cli("resume", "--json")
    assert code == 0, out
    resumed = json.loads(out)
    assert resumed["kill_switch"]["on"] is False and resumed["was"]["on"] is True
    assert resumed["resumed_bots"] == []
    code, out = cli("resume")
    assert code == 1 and "the kill switch is not on" in out
    assert audit_rows(db_url)[1:] == [
        ("cli", "kill_switch.on", "entries", "ok"),
        ("cli", "kill_switch.on", "entries", "ok"),
        ("cli", "kill_switch.off", "entries", "ok"),
    ]


def test_cli_resume_needs_no_code_and_resumes_bots_the_old_kill_switch_paused(
    cli, db_url: str
) -> None:
    for name in ("a", "b", "held"):
        assert cli("bots", "add", "--name", name, "--symbol", "BTCUSDT")[0] == 0
        assert cli("bots", "pause", name)[0] == 0
    with sqlite3.connect(db_url.removeprefix("sqlite://")) as db:  # as the upgrade leaves it
        db.execute(
            "UPDATE account_settings SET kill_switch = 1, kill_switch_by = 'max_drawdown', "
            "kill_switch_rule = 'max_drawdown', legacy_paused = ? WHERE id = 1",
            (json.dumps(["a", "b"]),),
        )
        assert db.total_changes == 1
    code, out = cli("resume")
    assert code == 0, out
    assert "kill switch off" in out
    assert "resumed 2 bot(s) the old kill switch had paused: a, b" in out
    assert "tripped by max_drawdown" in out
    paused = {b["name"]: b["paused"] for b in json.loads(cli("bots", "list", "--json")[1])}
    assert paused == {"a": False, "b": False, "held": True}


# ---------------------------------------------------------------- GET /risk


async def test_get_risk_needs_the_token_and_answers_the_report(world: World) -> None:
    assert (await world.get("/risk", token=None))[0] == 401
    assert (await world.get("/risk", token="wrong"))[0] == 401
    risk = world.server.app[ASSEMBLY].risk
    await risk.set(CLI, ["max_open_positions=2", "max_drawdown=10%"])
    await risk.set(CLI, ["max_open_positions=1"], "demo")
    await world.send_alert(action="buy", qty="1", price="100")

    status, body = await world.get("/risk")
    assert status == 200
    assert body["bot"] is None and body["kill_switch"]["on"] is False
    assert body["set"] == {"max_open_positions": "2", "max_drawdown": "10%"}
    [usdt] = body["currencies"]
    assert usdt["quote"] == "USDT" and usdt["open_positions"] == 1
    assert usdt["open_notional"] == "100"
    rules = {r["key"]: r for r in usdt["rules"]}
    assert (rules["max_open_positions"]["current"], rules["max_open_positions"]["headroom"]) == (
        "1",
        "1",
    )
    assert rules["max_drawdown"]["source"] == "account"

    status, body = await world.get("/risk?bot=demo")
    assert status == 200 and body["bot"] == "demo"
    assert body["set"] == {"max_open_positions": "1"}
    rules = {r["key"]: r for r in body["currencies"][0]["rules"]}
    assert rules["max_open_positions"]["source"] == "bot"
    assert rules["max_open_positions"]["headroom"] == "0"

    status, body = await world.get("/risk?bot=ghost")
    assert status == 404 and "ghost" in body["error"] and body["field"] == "bot"
    status, body = await world.get("/risk?bot=no%20such!")
    assert status == 400 and body["field"] == "bot"

    await risk.stop_entries(CLI)
    _, body = await world.get("/risk")
    assert body["kill_switch"]["on"] is True and body["kill_switch"]["by"] == "cli"


async def test_get_risk_is_off_without_a_token(start_world) -> None:
    world = await start_world(api_token="")
    assert (await world.get("/risk", token="anything"))[0] == 404


# ---------------------------------------------------------------- the chat


async def chat_world(start_world: Callable[..., Any]) -> tuple[World, Chat]:
    world: World = await start_world(telegram=True)
    await world.add_bot("demo")
    assert world.telegram is not None
    await world.telegram.wait_for("setMyCommands")
    return world, Chat(world.telegram, OWNER_ID)


async def account_rules() -> dict[str, str]:
    return (await sql_stores().risk.account_state()).rules.to_json()


def markup_of(chat: Chat, contains: str) -> list[dict[str, Any]]:
    """The buttons of the newest message to `chat` whose text has `contains`."""
    found = [m for m in chat.fake.sent_messages(chat.id) if contains in m.get("text", "")]
    return buttons(found[-1])


async def test_risk_in_the_chat_for_a_viewer_and_an_owner(start_world: Callable[..., Any]) -> None:
    world, owner = await chat_world(start_world)
    await world.server.app[ASSEMBLY].risk.set(CLI, ["max_exposure=20%", "daily_loss_limit=150"])
    await world.send_alert(action="buy", qty="2", price="100")
    assert "is now viewer" in await owner.say(f"/users grant {VIEWER} viewer", "viewer")
    viewer = Chat(owner.fake, VIEWER)

    text = await viewer.say("/risk", "Risk rules")
    assert "🟢 Kill switch off" in text
    # equity 9999.80 (the buy's fee 0.20): 20% of it is 1999.96
    assert "<b>max_exposure</b> 20% (1999.96 USDT) · account" in text
    assert "now 200 USDT · room 1799.96 USDT" in text
    assert "<b>daily_loss_limit</b> 150 USDT" in text
    assert "Not set: max_position_qty" in text
    assert markup_of(viewer, "Risk rules") == []  # no buttons for a viewer
    assert "needs the owner role" in await viewer.say("/risk set max_exposure=1%", "🔒")
    answer = await viewer.press_data("risk:max_exposure:0", 1)
    assert "needs the owner role" in answer["text"]
    assert await account_rules() == {"max_exposure": "20%", "daily_loss_limit": "150"}

    text = await owner.say("/risk", "Risk rules")
    assert "Tap a rule to change it" in text
    labels = [b["text"] for b in markup_of(owner, "Risk rules")]
    assert len(labels) == 10 and "✏️ max exposure" in labels

    # A button, the question, a value that does not parse, then one that does.
    await owner.press("max exposure")
    question = await owner.wait_message("Send the new value for")
    assert "<b>max_exposure</b> on the account (now 20%)" in question.params["text"]
    assert question.params["reply_markup"]["force_reply"] is True
    error = await owner.say("lots", "Send another value for max_exposure")
    assert "expected a quote amount such as 1000, or a share of equity such as 20%" in error
    assert await account_rules() == {"max_exposure": "20%", "daily_loss_limit": "150"}
    done = await owner.say("35%", "Risk rules of")
    assert "Risk rules of the account changed: <code>max_exposure=35%</code>" in done
    assert "<b>max_exposure</b> 35% (3499.93 USDT)" in done
    assert await account_rules() == {"max_exposure": "35%", "daily_loss_limit": "150"}
    assert "Send a command" in await owner.say("10%", "Send a command")  # the question is over

    # A bot's rules: its own buttons; `off` turns the account's rule off for it.
    text = await owner.say("/risk demo", "Risk rules")
    assert "bot <b>demo</b>" in text and "· the account's" in text
    await owner.press("max exposure")
    question = await owner.wait_message("Send the new value for", after=1)
    assert "on bot <b>demo</b> (now 35%, the account's)" in question.params["text"]
    assert "inherit" in question.params["text"]
    done = await owner.say("off", "Risk rules of")
    assert "Risk rules of demo changed" in done and "Off for this bot: max_exposure" in done
    assert (await TradingBot.get(name="demo")).risk == {"max_exposure": "off"}

    rows = await AuditLog.filter(action="risk.set").order_by("id")
    assert [(r.actor, r.target, r.outcome) for r in rows] == [
        ("cli", "account", "ok"),
        (f"tg:{OWNER_ID}", "account", "failed"),
        (f"tg:{OWNER_ID}", "account", "ok"),
        (f"tg:{OWNER_ID}", "demo", "ok"),
    ]
    assert rows[2].details["after"]["max_exposure"] == "35%"


async def test_risk_set_in_the_chat_and_its_polite_errors(start_world: Callable[..., Any]) -> None:
    _world, owner = await chat_world(start_world)
    done = await owner.say("/risk set max_open_positions=3 risk_per_trade=1%", "Risk rules of")
    assert "<code>max_open_positions=3, risk_per_trade=1%</code>" in done
    assert await account_rules() == {"max_open_positions": "3", "risk_per_trade": "1%"}
    assert "Tap a rule" in done and len(markup_of(owner, "Risk rules of")) == 10
    done = await owner.say("/risk set cooldown_after_stop=30 stop_guard=3/60", "Risk rules of")
    assert "<b>cooldown_after_stop</b> 30 min" in done
    assert "<b>stop_guard</b> 3 stop-losses in 60 min" in done
    await owner.say("/risk set cooldown_after_stop=off stop_guard=off", "Risk rules of")
    done = await owner.say("/risk set demo max_position_qty=0.5", "Risk rules of")
    assert "Risk rules of demo changed" in done
    done = await owner.say("/risk set --bot demo max_position_qty=inherit", "Risk rules of")
    assert (await TradingBot.get(name="demo")).risk == {}

    for command, expected in [
        ("/risk set max_exposure=lots", "max_exposure: "),
        ("/risk set max_drawdown=5", "max_drawdown: must be a percentage"),
        ("/risk set colour=blue", "unknown risk rule 'colour'"),
        ("/risk set", "give KEY=VALUE pairs"),
        ("/risk set ghost max_exposure=1", "no bot named 'ghost'"),
        ("/risk set --bot", "--bot needs a bot's name"),
        ("/risk set max_exposure=inherit", "inherit is for a bot's rules"),
        ("/risk ghost", "no bot named 'ghost'"),
        ("/risk demo extra", "usage: /risk"),
    ]:
        reply = unescape(await owner.say(command, "⚠️"))
        assert expected in reply, (command, reply)
        assert "Something went wrong" not in reply
    assert await account_rules() == {"max_open_positions": "3", "risk_per_trade": "1%"}
    help_text = await owner.say("/help", "Commands")
    assert "/risk [BOT] · Risk rules" in help_text
    assert "/risk set [BOT] KEY=VALUE… · Change risk rules" in help_text
    assert "/stopentry · Kill switch: stop new entries" in help_text


async def test_stopentry_stops_entries_only_and_resume_lifts_it(
    start_world: Callable[..., Any],
) -> None:
    world, owner = await chat_world(start_world)
    assert "is now trader" in await owner.say("/users grant 444 trader", "trader")
    trader = Chat(owner.fake, 444)
    await world.send_alert(action="buy", qty="1", price="100")

    stopped = await trader.say("/stopentry", "Kill switch on")
    assert "no new entries on any bot" in stopped and "Exits go on" in stopped
    assert "already on" in await trader.say("/stopentry", "already on")
    assert "needs the owner role" in await trader.say("/resume", "🔒")

    _, body = await world.send_alert(action="buy", qty="1", price="101")
    assert body["status"] == "rejected" and body["reason"].startswith("risk: kill switch")
    _, body = await world.send_alert(action="buy", qty="1", price="102")  # told once, not twice
    assert body["status"] == "rejected"
    await world.add_bot("late", symbols=["ETHUSDT"])  # created while it is on: held too
    _, body = await world.send_alert("late", symbol="ETHUSDT", action="buy", qty="1", price="9")
    assert body["status"] == "rejected" and body["reason"].startswith("risk: kill switch")
    _, body = await world.send_alert(action="close", price="103")  # exits go on
    assert body["status"] == "executed"
    assert not any(b.paused for b in await TradingBot.all())

    notice = await owner.wait_message("⛔ Risk rule · demo BTCUSDT")
    assert "risk: kill switch on" in notice.params["text"]
    await owner.wait_message("Closed")  # published after the refusals: they are all sent
    assert len(owner.sent("⛔ Risk rule · demo")) == 1
    assert "kill switch on" in await owner.say("/status", "Tradebot")
    assert "Kill switch on" in await owner.say("/risk", "Risk rules")

    resumed = await owner.say("/resume", "Kill switch off")
    assert "entries are allowed again" in resumed and "Resumed" not in resumed
    _, body = await world.send_alert(action="buy", qty="1", price="100")
    assert body["status"] == "executed"
    assert "kill switch is not on" in await owner.say("/resume", "not on")
    rows = await AuditLog.filter(action__startswith="kill_switch").order_by("id")
    assert [(r.actor, r.action) for r in rows] == [
        ("tg:444", "kill_switch.on"),
        ("tg:444", "kill_switch.on"),
        (f"tg:{OWNER_ID}", "kill_switch.off"),
    ]


async def test_the_first_resume_resumes_bots_an_older_kill_switch_paused(
    start_world: Callable[..., Any],
) -> None:
    world, owner = await chat_world(start_world)
    await world.add_bot("eth", symbols=["ETHUSDT"])
    await world.add_bot("idle", symbols=["SOLUSDT"])
    stores = sql_stores()
    for name in ("demo", "eth", "idle"):
        await stores.bots.set_paused(name, True)
    await stores.risk.set_kill_switch(
        KillSwitchState(on=True, by="alice", legacy_paused=("demo", "eth"))
    )
    text = await owner.say("/risk", "Risk rules")
    assert "Paused by the kill switch of before the upgrade" in text and "demo, eth" in text
    resumed = await owner.say("/resume", "Kill switch off")
    assert "Resumed 2 bot(s) the kill switch of before the upgrade had paused: demo, eth" in resumed
    paused = {b.name: b.paused for b in await TradingBot.all()}
    assert paused == {"demo": False, "eth": False, "idle": True}


async def test_resume_after_max_drawdown_asks_an_owner_with_two_factor_for_a_code(
    start_world: Callable[..., Any],
) -> None:
    world, owner, clock = await totp_world(start_world)
    app = await switch_on(owner, clock)
    risk = world.server.app[ASSEMBLY].risk

    # Stopped by hand: no code asked, even with two-factor on.
    await risk.stop_entries(CLI)
    assert "Kill switch off" in await owner.say("/resume", "Kill switch off")

    await sql_stores().risk.set_kill_switch(TRIPPED)
    question = await owner.say("/resume", ASK)
    assert "lift the kill switch that max_drawdown tripped" in question
    assert (await risk.kill_switch()).on
    assert "2 tries left" in await owner.say(app.wrong_code(), "not the code")
    assert (await risk.kill_switch()).on
    resumed = await owner.say(app.next_code(), "Kill switch off")
    assert "tripped by max_drawdown" in resumed
    assert not (await risk.kill_switch()).on
    _, body = await world.send_alert(action="buy", qty="1", price="100")
    assert body["status"] == "executed"

    # /cancel leaves it on.
    await sql_stores().risk.set_kill_switch(TRIPPED)
    await owner.say("/resume", ASK)
    assert "did not lift the kill switch" in await owner.say("/cancel", "Cancelled")
    assert (await risk.kill_switch()).on

    rows = await AuditLog.filter(actor=f"tg:{OWNER_ID}").order_by("id")
    assert [(r.action, r.target, r.outcome) for r in rows][2:] == [
        ("kill_switch.off", "entries", "ok"),
        ("2fa.ask", "kill_switch.off", "ok"),
        ("2fa.wrong_code", "kill_switch.off", "refused"),
        ("2fa.code", "kill_switch.off", "ok"),
        ("kill_switch.off", "entries", "ok"),
        ("2fa.ask", "kill_switch.off", "ok"),
        ("2fa.cancel", "kill_switch.off", "refused"),
    ]


async def test_resume_after_max_drawdown_without_two_factor_needs_no_code(
    start_world: Callable[..., Any],
) -> None:
    _world, owner = await chat_world(start_world)
    await sql_stores().risk.set_kill_switch(TRIPPED)
    text = await owner.say("/risk", "Risk rules")
    assert "Kill switch on</b> since 2026-01-05 09:30 UTC" in text
    assert "tripped by max_drawdown" in text and "−12% from peak" in text
    resumed = await owner.say("/resume", "Kill switch off")
    assert "tripped by max_drawdown" in resumed


async def test_a_tripped_kill_switch_is_told_to_owners(start_world: Callable[..., Any]) -> None:
    world, owner = await chat_world(start_world)
    risk = world.server.app[ASSEMBLY].risk
    await risk.set(CLI, ["max_drawdown=10%"])
    _, body = await world.send_alert(action="buy", qty="5", price="1000")
    assert body["status"] == "executed"
    await world.server.app[ASSEMBLY].equity.drain()  # samples: start 10000, after the fill 9995
    await world.send_alert(action="tick", price="700")  # unrealized −1500: equity 8495
    _, body = await world.send_alert(action="buy", qty="1", price="700")
    assert body["status"] == "rejected" and body["reason"].startswith("risk: max_drawdown 10%")
    tripped = await owner.wait_message("🛑 Kill switch tripped")
    assert tripped.params["text"] == (
        "🛑 Kill switch tripped: max_drawdown 10% reached (−15.05% from peak 10000.00 "
        "USDT, equity 8495.00). Entries stop until an owner sends /resume."
    )
    notice = await owner.wait_message("⛔ Risk rule · demo BTCUSDT")
    assert "risk: max_drawdown 10% reached" in notice.params["text"]
    assert any(isinstance(e, KillSwitchTripped) for e in world.server.app[ASSEMBLY].events.recent)


def test_many_currencies_stay_within_one_telegram_message() -> None:
    lines = [
        RuleLine(key, "20% (123456789.12 USDT)", "account", "−123456.78 USDT today", "1.00 USDT")
        for key in KEYS
    ]
    currencies = [
        CurrencyRisk(
            f"Q{n:02d}",
            Decimal(10**9),
            Decimal(10**9),
            Decimal(0),
            Decimal(0),
            3,
            Decimal(10**6),
            lines,
        )
        for n in range(12)
    ]
    report = RiskReport(None, RiskRules(), RiskRules(), KillSwitchState(), currencies)
    text = format_risk(report, owner=True)
    assert len(text) < 4096
    assert "<b>Q00</b>" in text and "<b>Q11</b>" not in text
    assert "more currencies: <code>tradebot risk show</code>" in text
