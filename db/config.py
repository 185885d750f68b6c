"""Tortoise configuration derived from settings, and the `TORTOISE_ORM` that aerich reads.

Migrations are SQL, so each dialect keeps its own folder: `db/migrations/sqlite` and
`db/migrations/postgres` (generate both with `make migration NAME=...`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tortoise.backends.base.config_generator import expand_db_url

MIGRATIONS_ROOT = Path(__file__).parent / "migrations"

# SQLite: WAL so readers never block the writer, FULL so a committed alert survives power loss,
# and a busy timeout so a second process waits instead of failing with "database is locked".
SQLITE_PRAGMAS = {
    "journal_mode": "WAL",
    "synchronous": "FULL",
    "busy_timeout": 5000,
    "foreign_keys": "ON",
    # Tortoise's 16 KiB would truncate the WAL after each checkpoint; growing it again costs
    # every commit that extends the file (docs/benchmarks.md).
    "journal_size_limit": 64 * 1024 * 1024,
}


def dialect(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite://") else "postgres"


def migrations_location(database_url: str) -> str:
    return str(MIGRATIONS_ROOT / dialect(database_url))


def tortoise_config(database_url: str) -> dict[str, Any]:
    connection = expand_db_url(database_url)
    if connection["engine"].endswith("sqlite"):
        connection["engine"] = "db.sqlite_engine"  # BEGIN IMMEDIATE transactions
        path = Path(connection["credentials"]["file_path"])
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        for pragma, value in SQLITE_PRAGMAS.items():
            connection["credentials"].setdefault(pragma, value)
    return {
        "connections": {"default": connection},
        "apps": {
            "models": {"models": ["db.models", "aerich.models"], "default_connection": "default"}
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def __getattr__(name: str) -> Any:
    """`TORTOISE_ORM` for the aerich CLI, computed on access so importing never reads settings."""
    if name == "TORTOISE_ORM":
        from bot.config import load_settings

        return tortoise_config(load_settings().database_url)
    raise AttributeError(name)
