"""The `tradebot` command line as a newcomer uses it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from tests.processes import free_port, migrated_postgres


def test_bots_add_list_show_pause_resume_rotate(cli) -> None:
    code, out = cli(
        "bots",
        "add",
        "--name",
        "swing",
        "--symbol",
        "BINANCE:ETHUSDT",
        "--qty",
        "0.5",
        "--direction",
        "both",
        "--max-entries",
        "2",
        "--sl",
        "2%",
        "--tp",
        "4%",
        "--passphrase",
        "open-sesame",
        "--json",
    )
    assert code == 0, out
    bot = json.loads(out)
    assert bot["symbols"] == ["ETHUSDT"] and bot["size"] == "0.5" and bot["sl"] == "2%"
    assert bot["webhook_url"] == f"https://bot.example.com/webhook/{bot['webhook_key']}"
    assert len(bot["webhook_key"]) >= 43  # 32 random bytes

    code, out = cli("bots", "list", "--json")
    assert [b["name"] for b in json.loads(out)] == ["swing"]
    assert "webhook_key" not in json.loads(out)[0]

    code, out = cli("bots", "show", "swing")
    assert code == 0 and "open-sesame" in out and "{{strategy.order.action}}" in out

    code, out = cli("bots", "pause", "swing", "--json")
    assert json.loads(out)["paused"] is True
    code, out = cli("bots", "resume", "swing", "--json")
    assert json.loads(out)["paused"] is False

    code, out = cli("bots", "rotate-key", "swing", "--json")
    assert json.loads(out)["webhook_url"] != bot["webhook_url"]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--qty", "lots"], "--qty"),
        (["--sl", "two"], "--sl"),
        (["--symbol", "BTC USDT!"], "--symbol"),
        (["--max-entries", "0"], "--max-entries"),
        (["--direction", "sideways"], "--direction"),
        (["--strategy", "astrology"], "--strategy"),
        (["--strategy", "rsi", "--param", "period=1"], "--param"),
        (["--strategy", "rsi", "--param", "colour=blue"], "--param"),
        (["--interval", "fortnight"], "--interval"),
    ],
)
def test_bad_options_name_the_option(cli, args: list[str], option: str) -> None:
    base = {"--name": "x", "--symbol": "BTCUSDT"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    code, out = cli("bots", "add", *[part for pair in base.items() for part in pair])
    assert code == 2
    assert option in out


def test_unknown_bot_is_a_clear_error(cli) -> None:
    code, out = cli("bots", "show", "ghost")
    assert code == 2 and out.strip() == "Error: no bot named 'ghost'"


def test_duplicate_name_is_refused(cli) -> None:
    assert cli("bots", "add", "--name", "a", "--symbol", "BTCUSDT")[0] == 0
    code, out = cli("bots", "add", "--name", "a", "--symbol", "BTCUSDT")
    assert code == 2 and "already exists" in out


def _read_until(process: subprocess.Popen[str], marker: str, deadline: float) -> str:
    seen = []
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"{marker!r} not printed; got:\n{''.join(seen)}")


def test_first_serve_creates_demo_bot_and_a_test_alert_trades(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "TRADEBOT_DATABASE_URL": f"sqlite://{tmp_path}/data/tradebot.sqlite3",
        "TRADEBOT_PORT": str(port),
        "TRADEBOT_HOST": "127.0.0.1",
        "TRADEBOT_API_TOKEN": "t0ken-abc",
    }
    env.pop("TRADEBOT_TELEGRAM_TOKEN", None)
    env.pop("TRADEBOT_PUBLIC_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out = _read_until(server, "Try it:", time.monotonic() + 180)
        assert "Telegram is off" in out
        url = re.search(r"Webhook URL:\s+(\S+)", out)
        assert url is not None
        assert url.group(1).startswith(f"http://127.0.0.1:{port}/webhook/")
        assert '"id": "{{strategy.order.id}}-{{timenow}}"' in out
        for _ in range(600):  # a generous deadline (60 s): the machine may be busy
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    assert json.loads(r.read())["status"] == "ok"
                    break
            except OSError:
                time.sleep(0.1)
        alert = subprocess.run(
            [
                sys.executable,
                "-m",
                "bot",
                "alert",
                url.group(1),
                "--action",
                "buy",
                "--price",
                "65000",
                "--qty",
                "0.01",
                "--id",
                "cli-1",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert alert.returncode == 0, alert.stdout + alert.stderr
        assert "HTTP 200" in alert.stdout and '"executed"' in alert.stdout
        text_form = subprocess.run(
            [
                sys.executable,
                "-m",
                "bot",
                "alert",
                url.group(1).rsplit("/", 1)[1],
                "--action",
                "close",
                "--price",
                "65100",
                "--text",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert '"executed"' in text_form.stdout, text_form.stdout + text_form.stderr
        trades = subprocess.run(
            [sys.executable, "-m", "bot", "trades", "--json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        [trade] = json.loads(trades.stdout)
        assert (trade["bot"], trade["qty"], trade["entry_price"], trade["exit_price"]) == (
            "demo",
            "0.01",
            "65000",
            "65100",
        )
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=15)
        finally:
            if server.poll() is None:
                server.kill()
            if server.stdout:
                server.stdout.close()
    # a second start does not create another demo bot
    listing = subprocess.run(
        [sys.executable, "-m", "bot", "bots", "list", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert [b["name"] for b in json.loads(listing.stdout)] == ["demo"]


def test_heartbeat_and_break_even_are_set_at_creation(cli) -> None:
    code, out = cli(
        "bots", "add", "--name", "hb", "--symbol", "BTCUSDT", "--heartbeat", "15", "--break-even"
    )
    assert code == 0, out
    import asyncio

    from tortoise import Tortoise

    from db.config import tortoise_config
    from db.models import TradingBot

    async def read() -> tuple[int | None, bool]:
        import os

        await Tortoise.init(config=tortoise_config(os.environ["TRADEBOT_DATABASE_URL"]))
        try:
            row = await TradingBot.get(name="hb")
            return row.heartbeat_minutes, row.break_even_after_tp1
        finally:
            await Tortoise.close_connections()

    assert asyncio.run(read()) == (15, True)


def test_sign_prints_the_secret_once_and_off_removes_it(cli) -> None:
    assert cli("bots", "add", "--name", "hook", "--symbol", "BTCUSDT")[0] == 0
    code, out = cli("bots", "sign", "hook", "--json")
    assert code == 0, out
    signed = json.loads(out)
    assert signed["signed"] is True and len(signed["hmac_secret"]) >= 40
    code, out = cli("bots", "show", "hook", "--json")
    assert signed["hmac_secret"] not in out and json.loads(out)["signed"] is True
    code, out = cli("bots", "sign", "hook", "--off", "--json")
    assert json.loads(out)["signed"] is False and "hmac_secret" not in json.loads(out)
    code, out = cli("bots", "add", "--name", "hook2", "--symbol", "BTCUSDT", "--sign", "--json")
    assert json.loads(out)["signed"] is True and json.loads(out)["hmac_secret"]


async def test_alert_command_signs_with_the_bot_secret(world) -> None:
    import asyncio

    from db.stores import sql_stores

    secret = "a-secret-of-the-demo-bot-0123456789"
    await sql_stores().bots.set_hmac_secret("demo", secret)
    url = world.url(f"/webhook/{world.bots['demo'].webhook_key}")
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(main, ["alert", url, "--price", "100", *args])
        return result.exit_code, result.output

    code, out = await asyncio.to_thread(run)
    assert code == 1 and "HTTP 401" in out and "signature" in out
    code, out = await asyncio.to_thread(run, "--hmac-secret", secret)
    assert code == 0 and "HTTP 200" in out and '"executed"' in out


def test_webhook_keys_never_look_like_an_option() -> None:
    from trading.bots import new_webhook_key

    keys = [new_webhook_key() for _ in range(2000)]  # about 30 would start with '-' by chance
    assert not [key for key in keys if key.startswith("-")]
    assert all(len(key) >= 43 for key in keys) and len(set(keys)) == len(keys)


def test_cli_changes_are_audited_including_the_failed_ones(cli, db_url: str) -> None:
    import sqlite3

    assert cli("bots", "add", "--name", "aud", "--symbol", "BTCUSDT")[0] == 0
    assert cli("bots", "pause", "aud")[0] == 0
    assert cli("bots", "pause", "ghost")[0] == 2
    with sqlite3.connect(db_url.removeprefix("sqlite://")) as db:
        rows = db.execute(
            "SELECT actor, action, target, outcome FROM audit_log ORDER BY id"
        ).fetchall()
    assert rows == [
        ("cli", "bot.create", "aud", "ok"),
        ("cli", "bot.pause", "aud", "ok"),
        ("cli", "bot.pause", "ghost", "failed"),
    ]


def test_bot_commands_never_build_the_broker(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    # Reading and administering bots trades nothing: an incomplete exchange setting (for the
    # server to refuse at start-up) does not stop the owner from listing or adding bots.
    monkeypatch.setenv("TRADEBOT_BROKER", "ccxt")
    monkeypatch.delenv("TRADEBOT_CCXT_EXCHANGE", raising=False)
    code, out = cli("bots", "add", "--name", "later", "--symbol", "BTCUSDT", "--qty", "1")
    assert code == 0, out
    code, out = cli("bots", "list", "--json")
    assert code == 0, out
    assert [bot["name"] for bot in json.loads(out)] == ["later"]


async def test_serve_no_monitor_on_postgres_says_who_polls_telegram(tmp_path: Path) -> None:
    """SPEC §11: polling is the leader's and `serve --no-monitor` never leads, so a deployment
    of such processes beside a `tradebot monitor` would read no chat in polling mode: said."""
    async with migrated_postgres("tradebot_nomonitor", tmp_path) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBOT_")}
        env.update(
            TRADEBOT_DATABASE_URL=url,
            TRADEBOT_PORT=str(free_port()),
            TRADEBOT_HOST="127.0.0.1",
            TRADEBOT_TELEGRAM_TOKEN="123456:no-monitor-test",
            # nothing listens there: Telegram stays unreachable, which is not what is tested
            TRADEBOT_TELEGRAM_API_URL=f"http://127.0.0.1:{free_port()}",
        )
        server = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "bot", "serve", "--no-monitor"),
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert server.stdout is not None
        seen: list[str] = []
        try:
            async with asyncio.timeout(180):  # a generous deadline: the machine may be busy
                while line := (await server.stdout.readline()).decode():
                    seen.append(line)
                    if "never leads" in line:
                        break
            assert "TRADEBOT_TELEGRAM_MODE=webhook" in seen[-1], "".join(seen)
        finally:
            server.terminate()
            await asyncio.wait_for(server.wait(), 60)
