"""Schema upgrades with aerich; safe to run twice (applied versions are skipped)."""

from __future__ import annotations

from aerich import Command

from db.config import migrations_location, tortoise_config


async def upgrade(database_url: str) -> list[str]:
    """Apply every migration not applied yet; returns the versions applied now."""
    command = Command(
        tortoise_config(database_url), app="models", location=migrations_location(database_url)
    )
    async with command:
        await command.init()
        return await command.upgrade(run_in_transaction=True)
