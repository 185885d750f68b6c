"""The README's commands run as pasted.

Conventions in README.md (light, and visible to a reader only as code blocks):

- every ```sh block is run, in document order, one command at a time (a line, or lines joined
  by a trailing backslash), with bash, from a fresh working directory that holds the
  repository's `.venv` and `samples/` (so `.venv/bin/tradebot …` runs as pasted from the root), in
  one shell session: the variables a command sets (`URL=$(…)`) are there for the next ones.
  Every command must exit 0.
- a comment line `# → TEXT` under a command is what its output shows: each part of TEXT between
  `…` must appear in that command's output, in that order. Other comments are the reader's.
- a ```sh block right after `<!-- tour-test: server -->` starts the server: its one line is
  `[VARIABLE=value …] make run`. `make run` installs and migrates first, too slow for a test
  (its own tests cover it), so the test (re)starts `.venv/bin/tradebot serve` with those
  variables in its place, on a free port, and waits for `/health`. The first ```text block after
  it is a sample of what it prints: each line's parts between `…` must appear in one line of the
  server's output, in order.
- `<!-- tour-test: skip (why) -->` before a ```sh block leaves it out (`make test` would run
  this test inside itself). Other blocks (```text, ```json, ```console) are samples, not run.
- inline code in the tour that looks like a command to paste (`.venv/bin/…`, `curl …`,
  `make …`) must be one of the tour's ```sh commands: a command shown only inline is not run
  here, so it could not be trusted.

The server listens on a free port, and the only thing changed in what is pasted is
`127.0.0.1:8080` → `127.0.0.1:<that port>` (commands and samples); the commands also see
`TRADEBOT_PORT` (as a user's shell sees the server's defaults: `tradebot bots show` prints the
webhook URL on the port the server uses). The database is the default one, `data/` in the
working directory; no `.env` is there and no `TRADEBOT_*` variable of the test's environment
leaks in.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

from tests.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TOUR_HEADING = "## A 5-minute tour"
DEFAULT_ADDRESS = "127.0.0.1:8080"
COMMAND_DEADLINE = 120.0  # seconds for one command (a busy machine starts Python slowly)
SERVER_DEADLINE = 120.0  # seconds for the server to answer /health
FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*tour-test:\s*(server|skip\b.*?)\s*-->\s*$")
ELLIPSIS = re.compile(r"…|\.\.\.")
PASTEABLE = ("./", ".venv/bin/", "curl ", "make ")
ASSIGNMENT = re.compile(r"([A-Za-z_]\w*)=")


@dataclass
class Command:
    line: int  # 1-based line in README.md
    text: str
    expected: list[str] = field(default_factory=list)  # `# →` lines under it


@dataclass
class Block:
    line: int
    lang: str
    marker: str  # "", "server" or "skip…"
    body: list[str]  # dedented lines

    @property
    def runs(self) -> bool:
        return self.lang == "sh" and not self.marker.startswith("skip")

    def commands(self) -> list[Command]:
        found: list[Command] = []
        pending = ""
        for offset, raw in enumerate(self.body, start=1):
            stripped = raw.strip()
            if not pending and stripped.startswith("#"):
                if stripped.startswith("# →"):
                    assert found, f"README.md:{self.line + offset}: `# →` under no command"
                    found[-1].expected.append(stripped.removeprefix("# →").strip())
                continue
            if not stripped and not pending:
                continue
            if stripped.endswith("\\"):
                pending += stripped[:-1].rstrip() + " "
                continue
            found.append(Command(self.line + offset, pending + stripped))
            pending = ""
        assert not pending, f"README.md:{self.line}: a block ends in a continued line"
        return found


def blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown text, with the marker comment right before each."""
    lines = text.splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if opened is None:
            i += 1
            continue
        indent, lang = opened.group(1), opened.group(2)
        previous = lines[i - 1] if i else ""
        marked = MARKER.match(previous)
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not re.match(rf"^{re.escape(indent)}```\s*$", lines[j]):
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        assert j < len(lines), f"README.md:{i + 1}: a code block is never closed"
        found.append(Block(i + 1, lang, marked.group(1) if marked else "", body))
        i = j + 1
    return found


def tour_section(text: str) -> str:
    start = text.index(TOUR_HEADING)
    after = text.find("\n## ", start + len(TOUR_HEADING))
    return text[start : after if after != -1 else len(text)]


def inline_commands(markdown: str) -> list[str]:
    """Inline code spans (outside fenced blocks) that look like commands to paste."""
    prose = re.sub(r"```.*?```", "", markdown, flags=re.S)
    spans = re.findall(r"`([^`\n]+)`", prose)
    return [span for span in spans if span.startswith(PASTEABLE)]


def parts(sample: str) -> list[str]:
    return [part.strip() for part in ELLIPSIS.split(sample) if part.strip()]


def shows(output: str, sample: str, *, one_line: bool = False) -> bool:
    """Whether `output` has the parts of `sample` in order (within one line if `one_line`)."""
    pattern = (r"[^\n]*?" if one_line else r".*?").join(re.escape(p) for p in parts(sample))
    return re.search(pattern, output, flags=0 if one_line else re.S) is not None


# ------------------------------------------------------------ the session


class Server:
    """`.venv/bin/tradebot serve` in the working directory, in place of `make run`."""

    def __init__(self, cwd: Path, env: dict[str, str], port: int) -> None:
        self.cwd, self.env, self.port = cwd, env, port
        self.process: subprocess.Popen[bytes] | None = None
        self.log: IO[bytes] | None = None
        self.starts = 0

    def start(self, extra: dict[str, str]) -> str:
        """Start it (stopping the one before); what it printed until it answered /health."""
        self.stop()
        self.starts += 1
        log_path = self.cwd / f"serve-{self.starts}.log"
        self.log = log_path.open("wb")
        env = {**self.env, **extra, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [str(self.cwd / ".venv/bin/tradebot"), "serve"],
            cwd=self.cwd,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        health = f"http://127.0.0.1:{self.port}/health"
        deadline = _now() + SERVER_DEADLINE
        while True:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the server exited with {self.process.returncode}:\n{log_path.read_text()}"
                )
            try:
                with urllib.request.urlopen(health, timeout=2):
                    return log_path.read_text()
            except urllib.error.HTTPError:  # it answers: degraded is still up
                return log_path.read_text()
            except OSError:
                pass
            if _now() > deadline:
                raise AssertionError(f"no /health within {SERVER_DEADLINE:g} s")
            _pause()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log is not None:
            self.log.close()
        self.process, self.log = None, None


def _now() -> float:
    return time.monotonic()


def _pause() -> None:
    time.sleep(0.05)  # a bounded poll of /health, not a wait for an outcome


class Shell:
    """bash, one command at a time, keeping the variables the tour sets."""

    def __init__(self, cwd: Path, env: dict[str, str], names: set[str]) -> None:
        self.cwd, self.env, self.names = cwd, env, sorted(names)
        self.state = cwd / ".tour-state.sh"
        self.state.write_text("")

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        keep = " ".join(self.names)
        script = (
            f"source {shlex.quote(str(self.state))}\n"
            "set -o pipefail\n"
            f"{command}\n"
            "status=$?\n"
            + (f"declare -p {keep} > {shlex.quote(str(self.state))} 2>/dev/null\n" if keep else "")
            + "exit $status\n"
        )
        return subprocess.run(
            ["bash", "-c", script],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,  # nothing typed: an interactive command reads the end
            capture_output=True,
            text=True,
            timeout=COMMAND_DEADLINE,
        )


def assigned_names(commands: list[Command]) -> set[str]:
    return {m.group(1) for c in commands if (m := ASSIGNMENT.match(c.text))}


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """A fresh directory laid out as the repository's root for what the commands read."""
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    (tmp_path / "samples").symlink_to(ROOT / "samples")
    yield tmp_path


def test_every_readme_command_runs_as_pasted(workdir: Path) -> None:
    text = README.read_text(encoding="utf-8")
    port = free_port()
    address = f"127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBOT_")}
    env["TRADEBOT_PORT"] = str(port)
    found = blocks(text)
    commands = [c for b in found if b.runs and b.marker != "server" for c in b.commands()]
    assert commands, "no ```sh commands in README.md"
    shell = Shell(workdir, env, assigned_names(commands))
    server = Server(workdir, env, port)
    printed: str | None = None  # what the server printed, until its sample is checked
    try:
        for block in found:
            if block.lang == "text" and printed is not None:
                for sample in block.body:
                    if parts(sample):
                        wanted = sample.replace(DEFAULT_ADDRESS, address)
                        assert shows(printed, wanted, one_line=True), (
                            f"README.md:{block.line}: the server did not print {sample!r}:\n"
                            f"{printed}"
                        )
                printed = None
            if not block.runs:
                continue
            if block.marker == "server":
                [start] = block.commands()
                words = shlex.split(start.text)
                leading = [w for w in words if not ASSIGNMENT.match(w)][:1]
                at = words.index(leading[0]) if leading else len(words)
                extra = dict(w.split("=", 1) for w in words[:at])
                assert words[at:] == ["make", "run"], (
                    f"README.md:{start.line}: a server block is `[VAR=value …] make run`"
                )
                printed = server.start(extra)
                continue
            printed = None
            for command in block.commands():
                pasted = command.text.replace(DEFAULT_ADDRESS, address)
                assert ":8080" not in pasted, f"README.md:{command.line}: another address"
                done = shell.run(pasted)
                output = done.stdout + done.stderr
                where = f"README.md:{command.line}: `{command.text}`"
                assert done.returncode == 0, f"{where} exited {done.returncode}:\n{output}"
                for sample in command.expected:
                    wanted = sample.replace(DEFAULT_ADDRESS, address)
                    assert shows(done.stdout, wanted), f"{where} did not show {sample!r}:\n{output}"
    finally:
        server.stop()
    assert server.starts >= 1, "the tour never starts the server"


def test_commands_shown_inline_in_the_tour_are_run_too() -> None:
    text = README.read_text(encoding="utf-8")
    tour = tour_section(text)
    run = "\n".join(c.text for b in blocks(tour) if b.runs for c in b.commands())
    stray = [span for span in inline_commands(tour) if span not in run]
    assert not stray, f"commands shown only inline in the tour (put them in a ```sh block): {stray}"


def test_the_conventions_catch_what_they_are_for() -> None:
    """The extraction itself: a broken tour would be seen."""
    sample = (
        "1. Look: `curl :8080/trades` or\n\n"
        "   <!-- tour-test: server -->\n"
        "   ```sh\n"
        "   TRADEBOT_API_TOKEN=secret make run\n"
        "   ```\n\n"
        "   ```sh\n"
        "   URL=$(echo x)   # a comment\n"
        "   curl -s \\\n"
        '     "$URL"\n'
        '   # → {"status": "executed"…"qty": "0.01"\n'
        "   ```\n"
        "   ```text\n"
        "   not run\n"
        "   ```\n"
    )
    found = blocks(sample)
    assert [(b.lang, b.marker, b.runs) for b in found] == [
        ("sh", "server", True),
        ("sh", "", True),
        ("text", "", False),
    ]
    commands = found[1].commands()
    assert [c.text for c in commands] == ["URL=$(echo x)   # a comment", 'curl -s "$URL"']
    assert commands[1].expected == ['{"status": "executed"…"qty": "0.01"']
    assert assigned_names(commands) == {"URL"}
    assert inline_commands(sample) == ["curl :8080/trades"]
    assert shows('{"status": "executed", "qty": "0.01"}', commands[1].expected[0])
    assert not shows('{"status": "rejected", "qty": "0.01"}', commands[1].expected[0])
    assert not shows('"qty": "0.01" {"status": "executed"', commands[1].expected[0])
