"""Tortoise configuration for a database URL, and the `TORTOISE_ORM` that aerich reads.

The application passes the URL from its settings (`tortoise_config(settings.database_url)`);
the aerich CLI, which only imports `TORTOISE_ORM`, gets it from the variable those settings
read (`TRADEBOT_DATABASE_URL`, in the environment or `.env`), so storage never imports the
composition root. Migrations are SQL, so each dialect keeps its own folder:
`db/migrations/sqlite` and `db/migrations/postgres` (generate both with
`make migration NAME=...`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from tortoise.backends.base.config_generator import expand_db_url

MIGRATIONS_ROOT = Path(__file__).parent / "migrations"

# The setting `bot.config.Settings.database_url` (prefix TRADEBOT_) and its default.
DATABASE_URL_VARIABLE = "TRADEBOT_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite://data/tradebot.sqlite3"

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
    elif connection["engine"].endswith("asyncpg"):
        from db.tortoise_seam import LeanResetConnection  # (asyncpg only where it is used)

        # a connection that a lean batch gives back clean skips the pool's reset round trip
        connection["credentials"].setdefault("connection_class", LeanResetConnection)
    return {
        "connections": {"default": connection},
        "apps": {
            "models": {"models": ["db.models", "aerich.models"], "default_connection": "default"}
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def database_url_from_environment(env_file: str | Path = ".env") -> str:
    """The database URL as the settings read it: `TRADEBOT_DATABASE_URL` from the environment
    (any case, as pydantic-settings matches it), else from `env_file`, else the default."""
    for source in (os.environ, dotenv_values(env_file)):
        for variable, value in source.items():
            if variable.upper() == DATABASE_URL_VARIABLE and value is not None:
                return value
    return DEFAULT_DATABASE_URL


def __getattr__(name: str) -> Any:
    """`TORTOISE_ORM` for the aerich CLI, computed on access so importing never reads the
    environment."""
    if name == "TORTOISE_ORM":
        return tortoise_config(database_url_from_environment())
    raise AttributeError(name)
