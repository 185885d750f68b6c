"""The first ten minutes of a new user: every mistake is one line naming it (exit 2, no
traceback, no stray file), the server says where it really listens, `--version`, `-h` and
examples everywhere, a `.env.example` that is the settings class, and a command line that
starts without importing the trading stack."""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
from aiohttp import ClientSession
from click.testing import CliRunner

from bot.cli import COMMANDS, EXAMPLES, listen, main, shown_address
from bot.cli_common import Mistake
from bot.config import ENV_PREFIX, ConfigError, Settings, load_settings
from tests.fakes.exchange import API_KEY, SECRET, FakeBinance
from tests.processes import free_port
from tests.waiting import answering

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 120.0  # seconds for one command in its own process (a busy machine starts slowly)
# The commands the issue and the README promise, all listed by `tradebot -h`.
EVERY_COMMAND = {
    "alert", "alerts", "backtest", "bots", "chat", "close", "closeall", "data", "db",
    "login-link", "migrate", "monitor", "optimize", "pnl", "positions", "resume", "risk", "serve",
    "stopentry", "trades",
}  # fmt: skip


NOT_MIGRATED = "database not migrated: run `tradebot migrate`"


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBOT_")}
    env.update(values)
    return env


# ---------------------------------------------------------------- the rule


@dataclass
class Case:
    """A mistake made on purpose: `tradebot ARGS` in a fresh directory, with `env`; stderr must
    be one line containing `names`."""

    name: str
    args: list[str]
    names: str
    env: dict[str, str] = field(default_factory=dict)
    migrated: bool = False  # a migrated database at ./db.sqlite3, made before the snapshot
    files: dict[str, bytes] = field(default_factory=dict)  # made before the snapshot


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_every_mistake_is_one_line_exit_2_no_traceback_no_stray_file(
    tmp_path: Path, template_db: Path, busy_port: int
) -> None:
    latin1 = "time,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,2,0.5,1.5,10 \xe9\n"
    cases = [
        Case("CLI before migrate", ["bots", "list"], NOT_MIGRATED),
        Case("busy port", ["serve"], "TRADEBOT_PORT", {"TRADEBOT_PORT": str(busy_port)}),
        Case("busy port, monitor", ["monitor"], "TRADEBOT_PORT", {"TRADEBOT_PORT": str(busy_port)}),
        Case("unknown host", ["serve"], "TRADEBOT_HOST", {"TRADEBOT_HOST": "nosuch.invalid"}),
        Case("foreign address", ["serve"], "TRADEBOT_HOST", {"TRADEBOT_HOST": "192.0.2.1"}),
        Case(
            "database refuses",
            ["bots", "list"],
            "TRADEBOT_DATABASE_URL",
            {"TRADEBOT_DATABASE_URL": "postgres://127.0.0.1:1/x"},
        ),
        Case(
            "database host unknown",
            ["serve"],
            "TRADEBOT_DATABASE_URL",
            {"TRADEBOT_DATABASE_URL": "postgres://tradebot:pw@nosuch.invalid/x"},
        ),
        Case(
            "sqlite folder is a file",
            ["migrate"],
            "TRADEBOT_DATABASE_URL",
            {"TRADEBOT_DATABASE_URL": "sqlite://afile/x/db.sqlite3"},
            files={"afile": b"not a folder"},
        ),
        Case(
            "sqlite folder missing",
            ["positions"],
            NOT_MIGRATED,
            {"TRADEBOT_DATABASE_URL": "sqlite://nowhere/at/all.sqlite3"},
        ),
        Case(
            "not UTF-8 CSV",
            ["backtest", "--strategy", "rsi", "--csv", "bars.csv"],
            "bars.csv",
            files={"bars.csv": latin1.encode("latin-1")},
        ),
        Case("CSV missing", ["backtest", "--csv", "nosuch.csv"], "nosuch.csv"),
        Case("bad flag", ["bots", "list", "--colour"], "--colour"),
        Case("bad top-level flag", ["--colour"], "--colour"),
        Case("unknown command", ["tarde"], "tarde"),
        Case("unknown bot", ["bots", "show", "ghost"], "ghost", migrated=True),
        Case("bad setting", ["bots", "list"], "TRADEBOT_PORT", {"TRADEBOT_PORT": "eighty"}),
        Case("bad log level", ["migrate"], "TRADEBOT_LOG_LEVEL", {"TRADEBOT_LOG_LEVEL": "loud"}),
        Case(
            "ccxt broker without exchange",
            ["serve"],
            "TRADEBOT_CCXT_EXCHANGE",
            {"TRADEBOT_BROKER": "ccxt"},
        ),
    ]
    # All at once (each is a Python start-up): the test takes as long as the slowest case.
    running = []
    for number, case in enumerate(cases):
        cwd = tmp_path / f"case{number}"
        cwd.mkdir()
        env = {"TRADEBOT_HOST": "127.0.0.1", "TRADEBOT_PORT": str(free_port())}
        if case.migrated:
            shutil.copy(template_db, cwd / "db.sqlite3")
            env["TRADEBOT_DATABASE_URL"] = f"sqlite://{cwd / 'db.sqlite3'}"
        for name, content in case.files.items():
            (cwd / name).write_bytes(content)
        before = sorted(p.name for p in cwd.iterdir())
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", *case.args],
            cwd=cwd,
            env=clean_env(**{**env, **case.env}),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        running.append((case, cwd, before, process))
    failures = []
    for case, cwd, before, process in running:
        try:
            out, err = process.communicate(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        lines = err.strip().splitlines()
        after = sorted(p.name for p in cwd.iterdir())
        problems = [
            f"exit {process.returncode}" if process.returncode != 2 else "",
            f"{len(lines)} lines on stderr" if len(lines) != 1 else "",
            f"does not name {case.names!r}" if case.names not in err else "",
            "a traceback" if "Traceback" in out + err else "",
            f"printed {out!r}" if out else "",
            f"new files {sorted(set(after) - set(before))}" if after != before else "",
        ]
        if any(problems):
            shown = "; ".join(p for p in problems if p)
            failures.append(f"{case.name} (tradebot {' '.join(case.args)}): {shown}\n{err}")
    assert failures == [], "\n".join(failures)


def test_a_busy_port_or_a_foreign_address_is_refused_before_anything_starts(
    busy_port: int,
) -> None:
    with pytest.raises(Mistake) as busy:
        listen("127.0.0.1", busy_port)
    assert busy.value.format_message().startswith(f"TRADEBOT_PORT: 127.0.0.1:{busy_port} is")
    with pytest.raises(Mistake) as foreign:
        listen("192.0.2.1", free_port())
    assert foreign.value.format_message().startswith("TRADEBOT_HOST: 192.0.2.1 is not")


@pytest.mark.parametrize(
    ("host", "shown"),
    [("127.0.0.1", "http://127.0.0.1:{port}"), ("0.0.0.0", "0.0.0.0:{port} (all interfaces)")],
)
def test_the_address_shown_is_the_one_listened_on(host: str, shown: str) -> None:
    port = free_port()
    sockets = listen(host, port)
    try:
        assert [s.getsockname()[:2] for s in sockets] == [(host, port)]
        assert shown_address(sockets[0]) == shown.format(port=port)
    finally:
        for sock in sockets:
            sock.close()


def test_safe_by_default_loopback_and_the_image_opts_into_every_interface(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRADEBOT_HOST", raising=False)
    assert load_settings().host == "127.0.0.1"
    assert "TRADEBOT_HOST=0.0.0.0" in (ROOT / "Dockerfile").read_text()


# ---------------------------------------------------------------- serve with a real exchange


async def test_serve_on_an_exchange_creates_no_demo_bot_and_shows_where_it_listens(
    tmp_path: Path,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with FakeBinance(balances={"USDT": "1000"}) as exchange:
        env = clean_env(
            TRADEBOT_DATABASE_URL=f"sqlite://{tmp_path / 'db.sqlite3'}",
            TRADEBOT_HOST="127.0.0.1",
            TRADEBOT_PORT=str(port),
            TRADEBOT_BROKER="ccxt",
            TRADEBOT_CCXT_EXCHANGE="binance",
            TRADEBOT_CCXT_API_KEY=API_KEY,
            TRADEBOT_CCXT_SECRET=SECRET,
            TRADEBOT_CCXT_API_URL=exchange.url,
            TRADEBOT_CCXT_OPTIONS='{"recvWindow": 5000}',
        )
        log = tmp_path / "serve.log"
        with log.open("wb") as output:
            server = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "serve", cwd=tmp_path, env=env, stdout=output,
                stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            try:
                async with ClientSession() as http:
                    await answering(http, base, server)
            finally:
                server.send_signal(signal.SIGINT)
                try:
                    await asyncio.wait_for(server.wait(), timeout=30)
                except TimeoutError:
                    server.kill()
                    await server.wait()
    printed = log.read_text()
    assert f"Tradebot listening on {base};" in printed, printed
    assert "Dashboard: " in printed and "/app (sign in with" in printed, printed
    assert "broker ccxt" in printed
    assert "Created bot" not in printed and "Traceback" not in printed, printed
    listing = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "bots", "list", "--json", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(listing.communicate(), timeout=DEADLINE)
    assert listing.returncode == 0, err.decode()
    assert json.loads(out) == []


# ---------------------------------------------------------------- help, version, examples


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, f"tradebot {' '.join((*path, name))} does not load"
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


def test_version_is_the_package_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"tradebot {importlib.metadata.version('tradebot')}\n"


def test_every_command_answers_dash_h_as_it_answers_help() -> None:
    runner = CliRunner()
    paths = [(), *_commands(main)]
    assert len(paths) > len(EVERY_COMMAND)
    for path in paths:
        short = runner.invoke(main, [*path, "-h"], prog_name="tradebot")
        long = runner.invoke(main, [*path, "--help"], prog_name="tradebot")
        assert short.exit_code == 0, (path, short.output)
        assert short.output == long.output
        assert short.output.startswith(f"Usage: {' '.join(('tradebot', *path))} ")


def test_every_promised_command_is_listed_with_its_own_help() -> None:
    """The list of commands comes from a map (so `tradebot -h` imports none of them): each entry
    must import and carry the help its command states."""
    assert set(main.list_commands(click.Context(main))) == EVERY_COMMAND
    drifted = {}
    for name, lazy in COMMANDS.items():
        command = lazy.load()
        assert command is not None, f"{lazy.target} is missing"
        if command.get_short_help_str(limit=1000) != lazy.help:
            drifted[name] = command.get_short_help_str(limit=1000)
    assert drifted == {}, "update COMMANDS in bot/cli.py"


def _example_lines(text: str) -> list[list[str]]:
    commands = []
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("tradebot ") or " tradebot " in line:
            for part in line.split("&&"):
                words = shlex.split(part)
                while words and "=" in words[0]:  # VARIABLE=value prefix
                    words.pop(0)
                commands.append(words[1:])
    return commands


def test_help_examples_name_real_commands_and_options() -> None:
    """Each example in a help text parses: its command exists and takes those options (help is
    eager, so `EXAMPLE -h` stops before running but after refusing an unknown option)."""
    runner = CliRunner()
    own = [main.get_command(click.Context(main), n) for n in ("serve", "migrate", "monitor")]
    epilogs = [EXAMPLES, *(command.epilog or "" for command in own if command is not None)]
    examples = [words for text in epilogs for words in _example_lines(text)]
    assert len(examples) >= 8
    for words in examples:
        result = runner.invoke(main, [*words, "-h"])
        assert result.exit_code == 0, (words, result.output)
    help_text = runner.invoke(main, ["-h"]).output
    assert "Examples:" in help_text and "tradebot serve -h" in help_text


def test_help_imports_no_trading_stack() -> None:
    probe = (
        "import sys\n"
        "from bot.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('aiogram', 'aiohttp', 'tortoise', 'talib', 'numpy', 'ccxt', 'pydantic', 'rich',"
        " 'matplotlib', 'bot.config', 'trading')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=DEADLINE, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


# ---------------------------------------------------------------- settings


def test_log_level_is_any_case_and_a_bad_one_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for typed, level in (("debug", "DEBUG"), ("Warning", "WARNING"), (" info ", "INFO")):
        monkeypatch.setenv("TRADEBOT_LOG_LEVEL", typed)
        assert load_settings().log_level == level
    monkeypatch.setenv("TRADEBOT_LOG_LEVEL", "loud")
    with pytest.raises(ConfigError, match=r"^TRADEBOT_LOG_LEVEL: .*'loud'"):
        load_settings()


def _load_generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "make_env_example", ROOT / "scripts" / "make_env_example.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_env_example_is_generated_from_the_settings_and_up_to_date() -> None:
    committed = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert committed == _load_generator().render(), "run python scripts/make_env_example.py"


def test_env_example_uncommented_gives_the_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every variable is in the file, and each value shown is the default, as a .env parses it."""
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    assignments = re.findall(rf"^# ({ENV_PREFIX}[A-Z0-9_]+=.*)$", text, flags=re.MULTILINE)
    names = [line.partition("=")[0] for line in assignments]
    assert names == [f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields]
    (tmp_path / ".env").write_text("\n".join(assignments) + "\n")
    for name in names:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    from_file = load_settings().model_dump()
    (tmp_path / ".env").unlink()
    assert from_file == load_settings().model_dump()
