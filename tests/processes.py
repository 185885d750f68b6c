"""Helpers for tests that run the product as its own process, and for the services
(PostgreSQL, Redis) the scale-out tests need."""

from __future__ import annotations

import asyncio
import atexit
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from tortoise.backends.base.executor import EXECUTOR_CACHE

REDIS_URL = os.environ.get("TRADEBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def services_required() -> bool:
    return os.environ.get("TRADEBOT_REQUIRE_SERVICES") == "1"


def psql(url: str, sql: str) -> str:
    """One statement through `psql` (a client the product does not use), its rows as text."""
    url = url.replace("postgres://", "postgresql://", 1)
    done = subprocess.run(
        ["psql", url, "-At", "-c", sql], capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def distinct_ports(count: int) -> list[int]:
    """`count` free ports, all different (two servers on one port would look like one)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def tail(log: Path, size: int = 4000) -> str:
    """The end of a process's log, for a failure message."""
    return log.read_text(errors="replace")[-size:]


async def stop_processes(processes: Iterable[asyncio.subprocess.Process]) -> None:
    """SIGTERM to every process still running, then wait for each (bounded: killed after 60 s,
    a busy machine stops a server slowly)."""
    processes = list(processes)
    for process in processes:
        if process.returncode is None:
            process.terminate()
    for process in processes:
        try:
            await asyncio.wait_for(process.wait(), timeout=60)
        except TimeoutError:
            process.kill()
            await process.wait()


CLI_DEADLINE = 300.0  # seconds for one `tradebot` command (migrate, bots add)


async def run_cli(env: dict[str, str], cwd: Path, *args: str) -> str:
    """`python -m bot ARGS` in its own process; its output, or the test fails with it."""
    status, out = await run_cli_status(env, cwd, *args)
    assert status == 0, out
    return out


async def run_cli_status(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str]:
    """`python -m bot ARGS` in its own process: its exit status and output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:  # a generous deadline: a busy machine is slow to start Python
        out, _ = await asyncio.wait_for(process.communicate(), timeout=CLI_DEADLINE)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(
            f"tradebot {' '.join(args)}: not done within {CLI_DEADLINE:g} s"
        ) from None
    assert process.returncode is not None  # communicate() returned: it has exited
    return process.returncode, out.decode()


def postgres_or_skip() -> None:
    try:
        import asyncpg  # noqa: F401

        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        if services_required():
            pytest.fail("PostgreSQL on 127.0.0.1:5432 is required (TRADEBOT_REQUIRE_SERVICES=1)")
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")


async def redis_or_skip() -> Any:
    """A client of the test Redis (the caller closes it)."""
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        if services_required():
            raise
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    return client


@contextmanager
def postgres_database(prefix: str, *, template: str | None = None) -> Iterator[str]:
    """A PostgreSQL database of its own (skipped, or failed with TRADEBOT_REQUIRE_SERVICES,
    without a server), a copy of `template` when given, dropped afterwards; its Tortoise URL."""
    postgres_or_skip()
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = ["psql", POSTGRES_ADMIN, "-q", "-c"]
    copy = f' TEMPLATE "{template}"' if template else ""
    subprocess.run([*admin, f'CREATE DATABASE "{name}"{copy}'], check=True, timeout=30)
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        subprocess.run([*admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], timeout=30)


@asynccontextmanager
async def migrated_postgres(prefix: str, cwd: Path) -> AsyncIterator[str]:
    """`postgres_database`, migrated by `tradebot migrate` as a user would. Tortoise caches each
    model's INSERT per connection name, built for the dialect it met first: this test process
    ran SQLite tests before (a real process never switches), so the cache is cleared around."""
    template = await _migrated_template(cwd)
    with postgres_database(prefix, template=template) as url:
        EXECUTOR_CACHE.clear()
        try:
            yield url
        finally:
            EXECUTOR_CACHE.clear()


_TEMPLATE: list[str] = []  # this test process's migrated template database, once made


async def _migrated_template(cwd: Path) -> str:
    """A database migrated once per test process by `tradebot migrate`, as a user would; each
    `migrated_postgres` is a copy of it (CREATE DATABASE … TEMPLATE: a fraction of a second,
    where migrating takes seconds). Dropped when the process exits."""
    if not _TEMPLATE:
        postgres_or_skip()
        name = f"tradebot_template_{uuid.uuid4().hex[:8]}"
        admin = ["psql", POSTGRES_ADMIN, "-q", "-c"]
        create = [*admin, f'CREATE DATABASE "{name}"']
        await asyncio.to_thread(subprocess.run, create, check=True, timeout=30)
        atexit.register(
            subprocess.run, [*admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], timeout=30
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBOT_")}
        url = f"postgres://postgres@127.0.0.1:5432/{name}"
        await run_cli({**env, "TRADEBOT_DATABASE_URL": url}, cwd, "migrate")
        _TEMPLATE.append(name)
    return _TEMPLATE[0]
