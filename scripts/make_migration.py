"""Generate an aerich migration for both dialects (SQLite and PostgreSQL).

Migrations are dialect-specific SQL, so each change is generated twice, each time against a
scratch database brought up to date first:

    python scripts/make_migration.py NAME [--postgres postgres://postgres@127.0.0.1:5432/postgres]

With no migration in a dialect's folder yet, the initial one is written (`aerich init-db`).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import asyncpg
from aerich import Command

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from db.config import migrations_location, tortoise_config


def _command(url: str) -> Command:
    return Command(tortoise_config(url), app="models", location=migrations_location(url))


async def _init_db(url: str) -> None:
    async with _command(url) as command:
        await command.init_db(safe=True)


async def _upgrade(url: str) -> None:
    async with _command(url) as command:
        await command.init()
        await command.upgrade(run_in_transaction=True)


async def _migrate(url: str, name: str) -> str | None:
    async with _command(url) as command:
        await command.init()
        return await command.migrate(name)


def generate(url: str, name: str) -> str | None:
    """Each step in its own event loop: aerich's Command tears down Tortoise on exit."""
    folder = Path(migrations_location(url)) / "models"
    if not any(folder.glob("*.py")):
        asyncio.run(_init_db(url))
        return "initial"
    asyncio.run(_upgrade(url))
    return asyncio.run(_migrate(url, name))


async def _admin(admin_url: str, sql: str) -> None:
    connection = await asyncpg.connect(admin_url.replace("postgres://", "postgresql://", 1))
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def with_scratch_postgres(admin_url: str, name: str) -> str | None:
    scratch = f"tradebot_gen_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{scratch}"'))
    try:
        return generate(f"{admin_url.rsplit('/', 1)[0]}/{scratch}", name)
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{scratch}"'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--only", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only is None:
        # One process per dialect: Tortoise caches each model's SQL for the first dialect it saw.
        for only in ("sqlite", "postgres"):
            subprocess.run(
                [sys.executable, __file__, args.name, "--postgres", args.postgres, "--only", only],
                check=True,
            )
    elif args.only == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            print("sqlite:", generate(f"sqlite://{tmp}/gen.sqlite3", args.name))
    else:
        print("postgres:", with_scratch_postgres(args.postgres, args.name))


if __name__ == "__main__":
    main()
