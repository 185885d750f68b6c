"""`tradebot migrate` builds every table of SPEC §9 on an empty database, and is safe twice."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

from tests.processes import POSTGRES_ADMIN, postgres_or_skip

ROOT = Path(__file__).resolve().parent.parent

SPEC_TABLES = {
    "trading_bots", "instruments", "strategy_configs", "current_positions", "position_entries",
    "orders", "trade_history", "webhook_logs", "users", "audit_log", "aerich",
}  # fmt: skip


def migrate(url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRADEBOT_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "bot", "migrate"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_migrate_builds_all_tables_and_is_safe_twice(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "tradebot.sqlite3"
    first = migrate(f"sqlite://{path}", tmp_path)
    assert first.returncode == 0, first.stderr
    shipped = sorted(p.name for p in (ROOT / "db/migrations/sqlite/models").glob("*.py"))
    assert f"applied {len(shipped)} migration(s): {', '.join(shipped)}" in first.stdout
    second = migrate(f"sqlite://{path}", tmp_path)
    assert second.returncode == 0, second.stderr
    assert "up to date" in second.stdout

    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert SPEC_TABLES <= tables
        assert db.execute("SELECT count(*) FROM aerich").fetchone()[0] == len(shipped)
        # WAL persists in the file; the server's own connections also set a busy timeout.
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_server_connection_uses_wal_full_sync_and_busy_timeout(world) -> None:
    from tortoise import Tortoise

    connection = Tortoise.get_connection("default")
    rows = {}
    for pragma in ("journal_mode", "synchronous", "busy_timeout"):
        _, result = await connection.execute_query(f"PRAGMA {pragma}")
        rows[pragma] = next(iter(dict(result[0]).values()))
    assert rows == {"journal_mode": "wal", "synchronous": 2, "busy_timeout": 5000}


def test_migrate_on_postgres(tmp_path: Path) -> None:
    postgres_or_skip()
    name = f"tradebot_mig_{uuid.uuid4().hex[:8]}"
    admin = ["psql", POSTGRES_ADMIN, "-q", "-c"]
    subprocess.run([*admin, f'CREATE DATABASE "{name}"'], check=True, timeout=30)
    try:
        url = f"postgres://postgres@127.0.0.1:5432/{name}"
        first = migrate(url, tmp_path)
        assert first.returncode == 0, first.stderr
        second = migrate(url, tmp_path)
        assert "up to date" in second.stdout, second.stderr
        listing = subprocess.run(
            [
                "psql",
                f"postgresql://postgres@127.0.0.1:5432/{name}",
                "-At",
                "-c",
                "SELECT tablename FROM pg_tables WHERE schemaname='public'",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        assert SPEC_TABLES <= set(listing.stdout.split())
    finally:
        subprocess.run([*admin, f'DROP DATABASE IF EXISTS "{name}"'], timeout=30)
