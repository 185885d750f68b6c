"""Everything the chat can do, the CLI does too, through the same services (SPEC §2): editing and
deleting bots, closing positions, the webhook log; and what it prints fits an 80-column terminal
with figures a trader can read."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import World
from tests.processes import run_cli_status
from trading.views import amount, figure

Cli = Callable[..., tuple[int, str]]


def audit_rows(db_url: str, *actions: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db_url.removeprefix("sqlite://")) as db:
        rows = db.execute(
            "SELECT actor, action, target, outcome, details FROM audit_log ORDER BY id"
        ).fetchall()
    return [(*row[:4], json.loads(row[4])) for row in rows if row[1] in actions]


def shown(cli: Cli, name: str) -> dict[str, Any]:
    code, out = cli("bots", "show", name, "--json")
    assert code == 0, out
    return json.loads(out)


def in_services(body: Callable[[Any], Any]) -> Any:
    """Run `body(services)` with the product's services on the test's database (what the chat's
    handlers are given), as the chat would call them."""
    from bot.assembly import assemble
    from bot.cli_common import opened
    from bot.config import load_settings

    async def run() -> Any:
        async with opened(assemble(load_settings(), defer_broker=True)) as services:
            try:
                return await body(services)
            finally:
                await services.equity.drain()  # a fill's equity sample, before closing

    return asyncio.run(run())


def open_position(name: str, symbol: str, price: str, qty: str, action: str = "buy") -> None:
    """An alert executed for bot `name`, through the path a webhook alert takes."""
    from trading.alerts import build_alert

    async def body(services: Any) -> None:
        bot = await services.control.bot(name)
        alert = build_alert({"action": action, "symbol": symbol, "price": price, "qty": qty})
        result = await services.trading.execute_alert(bot, alert)
        assert result.status == "executed", result

    in_services(body)


# ---------------------------------------------------------------- bots add / edit / show


def test_a_new_bot_is_a_webhook_bot_by_default_and_takes_manual_approval(cli: Cli) -> None:
    code, out = cli("bots", "add", "--name", "hook", "--symbol", "BTCUSDT", "--approval", "manual")
    assert code == 0, out
    bot = shown(cli, "hook")
    assert (bot["strategy"], bot["approval"]) == ("signal", "manual")
    assert "{{strategy.order.action}}" in out  # the template of a webhook-driven bot


def test_edit_changes_every_setting_given_at_once_and_is_audited_as_cli(
    cli: Cli, db_url: str
) -> None:
    assert cli("bots", "add", "--name", "swing", "--symbol", "BTCUSDT")[0] == 0
    code, out = cli(
        "bots", "edit", "swing",
        "--symbol", "ETHUSDT", "--symbol", "BINANCE:SOLUSDT",
        "--strategy", "rsi", "--param", "oversold=25", "--interval", "1h",
        "--qty", "100USDT", "--direction", "both", "--max-entries", "3",
        "--sl", "2%", "--tp", "4%", "--trail", "1%", "--break-even",
        "--max-lag", "120", "--passphrase", "open-sesame", "--sign",
        "--allow-ip", "tradingview", "--allow-ip", "10.0.0.0/8",
        "--max-alerts-per-minute", "5", "--heartbeat", "90", "--approval", "manual",
    )  # fmt: skip
    assert code == 0, out
    secret = out.split("HMAC secret (shown once): ")[1].split()[0]
    assert len(secret) >= 40
    bot = shown(cli, "swing")
    expected = {
        "symbols": ["ETHUSDT", "SOLUSDT"],
        "strategy": "rsi",
        "interval": "60",
        "size": "100 USDT",
        "direction": "both",
        "max_entries": 3,
        "sl": "2%",
        "tp": "4%",
        "trail": "1%",
        "break_even_after_tp1": True,
        "max_lag_seconds": 120,
        "has_passphrase": True,
        "signed": True,
        "allow_ips": ["tradingview", "10.0.0.0/8"],
        "max_alerts_per_minute": 5,
        "heartbeat_minutes": 90,
        "approval": "manual",
    }
    assert {key: bot[key] for key in expected} == expected
    assert bot["strategy_params"]["oversold"] == 25
    # shown once: never again, nor the passphrase
    for command in (("bots", "show", "swing"), ("bots", "show", "swing", "--json")):
        text = cli(*command)[1]
        assert secret not in text and "open-sesame" not in text.split("TradingView alert")[0]
    [row] = audit_rows(db_url, "bot.edit")
    assert row[:4] == ("cli", "bot.edit", "swing", "ok")
    assert row[4]["changes"]["passphrase"] == "***" and row[4]["changes"]["signed"] is True
    assert secret not in json.dumps(row)


def test_edit_clears_what_can_be_unset(cli: Cli) -> None:
    assert cli(
        "bots", "add", "--name", "swing", "--symbol", "BTCUSDT", "--sl", "2%", "--tp", "4%",
        "--trail", "1%", "--break-even", "--heartbeat", "30", "--passphrase", "open-sesame",
        "--sign", "--allow-ip", "tradingview", "--interval", "4h",
    )[0] == 0  # fmt: skip
    code, out = cli(
        "bots", "edit", "swing", "--sl", "off", "--tp", "-", "--trail", "none",
        "--no-break-even", "--heartbeat", "off", "--no-passphrase", "--no-sign",
        "--allow-ip", "-", "--interval", "-",
    )  # fmt: skip
    assert code == 0, out
    assert "HMAC secret" not in out
    bot = shown(cli, "swing")
    assert (bot["sl"], bot["tp"], bot["trail"], bot["interval"]) == (None, None, None, None)
    assert bot["break_even_after_tp1"] is False and bot["heartbeat_minutes"] is None
    assert bot["has_passphrase"] is False and bot["signed"] is False and bot["allow_ips"] == []


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--max-entries", "0"], "--max-entries"),
        (["--heartbeat", "0"], "--heartbeat"),
        (["--heartbeat", "soon"], "--heartbeat"),
        (["--sl", "two"], "--sl"),
        (["--qty", "lots"], "--qty"),
        (["--param", "colour=blue"], "--param"),
        (["--strategy", "astrology"], "--strategy"),
        (["--interval", "fortnight"], "--interval"),
        (["--allow-ip", "not-an-ip"], "--allow-ip"),
        (["--symbol", "BTC USDT!"], "--symbol"),
        (["--passphrase", "abc"], "--passphrase"),
        (["--approval", "sometimes"], "--approval"),
    ],
)
def test_a_wrong_edit_names_its_option_and_changes_nothing(
    cli: Cli, args: list[str], option: str
) -> None:
    assert cli("bots", "add", "--name", "swing", "--symbol", "BTCUSDT", "--sl", "3%")[0] == 0
    before = shown(cli, "swing")
    code, out = cli("bots", "edit", "swing", "--tp", "9%", *args)
    assert code == 2, out
    assert option in out and len(out.strip().splitlines()) == 1 and "Traceback" not in out
    assert shown(cli, "swing") == before  # not even the valid --tp


def test_the_chat_and_the_cli_edit_by_the_same_rule(cli: Cli, db_url: str) -> None:
    from trading.access import Actor, Role

    assert cli("bots", "add", "--name", "swing", "--symbol", "BTCUSDT")[0] == 0
    code, out = cli("bots", "edit", "swing", "--sl", "two")
    assert code == 2
    owner = Actor("tg:111", Role.OWNER, "owner")

    async def chat_edit(services: Any) -> str:
        bot = await services.control.bot("swing")
        try:
            await services.control.update_bot(owner, bot.id, "sl", "two")
        except Exception as exc:
            return str(exc)
        raise AssertionError("the chat accepted a stop-loss of 'two'")

    chat_error = in_services(chat_edit)
    cli_row, chat_row = audit_rows(db_url, "bot.edit")
    assert (cli_row[0], chat_row[0]) == ("cli", "tg:111")
    assert cli_row[4]["error"] == chat_row[4]["error"] == chat_error
    assert chat_error.removeprefix("sl: ") in out


def test_show_lists_every_setting_and_a_url_to_copy_at_80_columns(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert cli(
        "bots", "add", "--name", "a-bot-with-a-rather-long-name", "--symbol", "1000SHIBUSDT",
        "--sl", "2%", "--heartbeat", "15", "--passphrase", "open-sesame", "--sign",
        "--allow-ip", "tradingview",
    )[0] == 0  # fmt: skip
    code, out = cli("bots", "show", "a-bot-with-a-rather-long-name")
    assert code == 0, out
    settings = out.split("TradingView alert message")[0]
    for label in ("symbols", "strategy", "params", "interval", "qty", "direction", "max entries",
                  "stop-loss", "take-profit", "trailing stop", "break-even", "approval",
                  "max lag", "heartbeat", "alerts/minute", "allowed IPs", "passphrase",
                  "signatures"):  # fmt: skip
        assert f"\n{label} " in settings, label
    assert "open-sesame" not in settings and "1000SHIBUSDT" in settings
    url = shown(cli, "a-bot-with-a-rather-long-name")["webhook_url"]
    assert url in out.splitlines()  # whole, on a line of its own
    key = url.rsplit("/", 1)[1]
    assert out.count(key) == 1  # the key only inside the URL


# ---------------------------------------------------------------- delete


def test_delete_asks_for_yes_and_refuses_a_bot_with_open_positions(cli: Cli, db_url: str) -> None:
    assert cli("bots", "add", "--name", "swing", "--symbol", "BTCUSDT")[0] == 0
    code, out = cli("bots", "delete", "swing")  # no terminal to ask on
    assert code == 2 and "--yes" in out and shown(cli, "swing")["name"] == "swing"
    open_position("swing", "BTCUSDT", "100", "1")
    code, out = cli("bots", "delete", "swing", "--yes")
    assert code == 2 and "still has open positions (BTCUSDT)" in out
    assert cli("close", "swing", "--yes")[0] == 0
    code, out = cli("bots", "delete", "swing", "--yes", "--json")
    assert code == 0 and json.loads(out) == {"deleted": "swing"}
    assert cli("bots", "show", "swing")[0] == 2
    assert [row[3] for row in audit_rows(db_url, "bot.delete")] == ["failed", "ok"]


def test_delete_asks_on_a_terminal(tmp_path: Path, db_url: str) -> None:
    """On a terminal the question is asked; no answer but y does nothing."""
    import pty
    import subprocess

    env = {**os.environ, "TRADEBOT_DATABASE_URL": db_url}
    subprocess.run(
        [sys.executable, "-m", "bot", "bots", "add", "--name", "swing", "--symbol", "BTCUSDT"],
        env=env, cwd=tmp_path, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    for answer, deleted in ((b"n\n", False), (b"y\n", True)):
        leader, follower = pty.openpty()
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "bots", "delete", "swing"],
            env=env, cwd=tmp_path, stdin=follower, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        os.close(follower)
        os.write(leader, answer)
        out, _ = process.communicate(timeout=60)
        os.close(leader)
        assert b"Delete bot swing?" in out, out
        assert (process.returncode == 0) is deleted, out
    with sqlite3.connect(db_url.removeprefix("sqlite://")) as db:
        assert db.execute("SELECT deleted_at IS NOT NULL FROM trading_bots").fetchall() == [(1,)]


# ---------------------------------------------------------------- close / closeall


def test_close_by_name_and_id_closes_at_market_like_the_chat(cli: Cli, db_url: str) -> None:
    for name in ("swing", "scalp"):
        code, out = cli(
            "bots", "add", "--name", name, "--symbol", "BTCUSDT", "--symbol", "ETHUSDT",
            "--direction", "both", "--max-entries", "3",
        )  # fmt: skip
        assert code == 0, out
    open_position("swing", "BTCUSDT", "43000.5", "0.02")
    open_position("swing", "BTCUSDT", "43275.25", "0.01")  # an average of many digits
    open_position("scalp", "ETHUSDT", "2300", "0.5", action="sell")
    code, out = cli("close", "swing")  # no terminal: nothing closed without --yes
    assert code == 2 and "--yes" in out
    position_id = json.loads(cli("positions", "--bot", "scalp", "--json")[1])[0]["id"]

    code, out = cli("close", "swing", "--yes")
    assert code == 0, out
    assert "closed #" in out and "swing BTCUSDT long 0.03 @ 43275.25 · PnL " in out
    assert "1 of 1 closed" in out
    code, out = cli("close", str(position_id), "--yes", "--json")
    assert code == 0, out
    [closed] = json.loads(out)
    assert closed["result"]["status"] == "executed" and closed["position"]["bot"] == "scalp"
    trades = json.loads(cli("trades", "--json")[1])
    assert sorted((t["bot"], t["reason"]) for t in trades) == [
        ("scalp", "manual"),
        ("swing", "manual"),
    ]
    assert [row[:4] for row in audit_rows(db_url, "position.close")] == [
        ("cli", "position.close", "swing BTCUSDT", "ok"),
        ("cli", "position.close", "scalp ETHUSDT", "ok"),
    ]
    code, out = cli("close", "swing", "--yes")
    assert code == 2 and out.strip() == "Error: swing has no open position"


def test_closeall_closes_every_position_and_says_the_pnl(cli: Cli, db_url: str) -> None:
    code, out = cli("closeall", "--yes")
    assert code == 0 and "no open positions" in out
    code, out = cli("bots", "add", "--name", "swing", "--symbol", "BTCUSDT", "--symbol", "ETHUSDT")
    assert code == 0, out
    open_position("swing", "BTCUSDT", "65000", "0.01")
    open_position("swing", "ETHUSDT", "2300", "0.5")
    code, out = cli("closeall", "--yes")
    assert code == 0, out
    assert out.count("closed #") == 2 and "2 of 2 closed · PnL " in out
    assert json.loads(cli("positions", "--json")[1]) == []
    assert [row[1] for row in audit_rows(db_url, "position.close_all")] == ["position.close_all"]


# ---------------------------------------------------------------- reads


def test_positions_and_trades_of_a_bot_that_does_not_exist(cli: Cli) -> None:
    for command in ("positions", "trades"):
        code, out = cli(command, "--bot", "nosuch")
        assert code == 2 and out.strip() == "Error: no bot named 'nosuch'"


def test_tables_fit_80_columns_with_whole_symbols_and_rounded_figures(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert cli(
        "bots", "add", "--name", "momentum-long-bot", "--symbol", "1000SHIBUSDT",
        "--symbol", "BTCUSDT", "--max-entries", "3",
    )[0] == 0  # fmt: skip
    open_position("momentum-long-bot", "BTCUSDT", "43137.625199999995", "0.013")
    open_position("momentum-long-bot", "BTCUSDT", "43275.0801", "0.007")
    open_position("momentum-long-bot", "1000SHIBUSDT", "0.012345678901", "1000")
    for command in (("positions",), ("bots", "list")):
        code, out = cli(*command)
        assert code == 0, out
        assert "…" not in out and max(len(line) for line in out.splitlines()) <= 80, out
        assert "1000SHIBUSDT" in out and "momentum-long-bot" in out
    code, out = cli("positions")
    assert "43137.625199999995" not in out and "0.000000000000" not in out
    average = Decimal(json.loads(cli("positions", "--json")[1])[0]["avg_price"])
    assert len(str(average)) > 12 and figure(average) in out  # the average, to 8 digits
    assert cli("closeall", "--yes")[0] == 0
    code, out = cli("trades")
    assert code == 0 and "…" not in out and max(len(line) for line in out.splitlines()) <= 80
    assert "1000SHIBUSDT" in out and "manual" in out


# ---------------------------------------------------------------- alerts / alert


async def test_alert_by_bot_name_and_a_rejected_answer_exits_1(
    world: World, db_url: str, tmp_path: Path
) -> None:
    from db.stores import sql_stores

    await sql_stores().bots.set_hmac_secret("demo", "a-secret-of-the-demo-bot-0123456789")
    env = {
        **os.environ,
        "TRADEBOT_DATABASE_URL": db_url,
        "TRADEBOT_PUBLIC_URL": world.url("").rstrip("/"),
    }
    # by name: the bot's signature is added, the alert executes
    code, out = await run_cli_status(env, tmp_path, "alert", "demo", "--price", "100", "--qty", "1")
    assert code == 0 and "HTTP 200" in out and '"executed"' in out, out
    # HTTP 200, status rejected (a symbol the bot does not trade): exit 1
    code, out = await run_cli_status(env, tmp_path, "alert", "demo", "--symbol", "DOGEUSDT")
    assert code == 1 and "HTTP 200" in out and '"rejected"' in out, out
    # a name that is no bot: one line, exit 2, nothing sent
    code, out = await run_cli_status(env, tmp_path, "alert", "nosuch")
    assert code == 2 and out.strip() == "Error: no bot named 'nosuch'", out
    # a key still works (unsigned here: refused, 401)
    key = world.bots["demo"].webhook_key
    code, out = await run_cli_status(env, tmp_path, "alert", key, "--price", "100")
    assert code == 1 and "HTTP 401" in out

    # the webhook log, as the chat's /alerts shows it
    code, out = await run_cli_status(env, tmp_path, "alerts", "--limit", "3")
    assert code == 0, out
    requests = [line for line in out.splitlines() if line.startswith("#")]
    assert [line.split(" ", 3)[3] for line in requests] == [  # newest first
        "demo - · refused",
        "demo buy DOGEUSDT · rejected",
        "demo buy BTCUSDT · executed",
    ]
    assert "\n    symbol DOGEUSDT is not traded by bot demo" in out  # why, under it
    code, out = await run_cli_status(env, tmp_path, "alerts", "--json")
    logged = json.loads(out)
    assert [(row["bot"], row["status"]) for row in logged] == [
        ("demo", "refused"),
        ("demo", "rejected"),
        ("demo", "executed"),
    ]


# ---------------------------------------------------------------- figures


def test_log_lines_write_decimals_from_the_database_plainly(
    cli: Cli, caplog: pytest.LogCaptureFixture
) -> None:
    """The database returns `65000.000000000000`; a log line says `price=65000`."""
    from bot.logs import install_redaction

    install_redaction()  # as `serve` and `create_app` do
    caplog.set_level(logging.INFO, logger="trading")
    assert cli("bots", "add", "--name", "swing", "--symbol", "BTCUSDT", "--sl", "2%")[0] == 0
    open_position("swing", "BTCUSDT", "65000", "0.03")
    assert cli("close", "swing", "--yes")[0] == 0  # its quantity and price read back
    fills = [r.getMessage() for r in caplog.records if "order filled" in r.getMessage()]
    assert len(fills) == 2
    assert all(" qty=0.03 price=65000 " in line for line in fills), fills


@given(
    st.decimals(min_value=Decimal("-1e15"), max_value=Decimal("1e15"), places=12, allow_nan=False)
)
def test_a_figure_is_the_value_rounded_never_padded_nor_in_exponent_form(value: Decimal) -> None:
    text = figure(value)
    assert "E" not in text and "e" not in text and text != "-0"
    decimals = text.partition(".")[2]
    assert len(decimals) <= 8 and not decimals.endswith("0")
    digits = len(text.lstrip("-").replace(".", "").lstrip("0"))
    assert digits <= 8 or not decimals  # 8 significant digits, every integer digit kept
    # rounded to 8 significant digits, or to 8 decimals (half a unit of the last place)
    error = abs(Decimal(text) - value)
    assert error <= max(abs(value) * Decimal("5e-8"), Decimal("5e-9"))


@given(
    st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=12, allow_nan=False),
    st.sampled_from(["USDT", "USD", "BTC"]),
)
def test_an_amount_has_its_currency_s_decimals(value: Decimal, quote: str) -> None:
    text = amount(value, quote, signed=True)
    places = 8 if quote == "BTC" else 2
    assert len(text.partition(".")[2]) == places
    assert abs(Decimal(text) - value) <= Decimal(1).scaleb(-places) / 2
    assert text.startswith("+") == (Decimal(text) > 0)


def test_figures_people_read() -> None:
    assert figure(Decimal("65000.000000000000")) == "65000"
    assert figure(Decimal("43137.625199999995")) == "43137.625"
    assert figure(Decimal("0.000012340000")) == "0.00001234"
    assert figure(Decimal("-0.000000000001")) == "0"
    assert amount(Decimal("-4.4999"), "USDT", signed=True) == "-4.50"
