"""Whether the database answers (the `HealthStore`), and what "cannot be reached" looks like."""

from __future__ import annotations

from tortoise.exceptions import DBConnectionError, OperationalError

from db.models import TradingBot

# The database cannot be reached or answered with an error: callers answer "retry later"
# (`trading.ports.Stores.unavailable`).
STORAGE_ERRORS: tuple[type[Exception], ...] = (
    DBConnectionError,
    OperationalError,
    ConnectionError,
    OSError,
)


class SqlHealth:
    """`trading.ports.HealthStore`."""

    async def ping(self) -> None:
        """Raise if the database does not answer."""
        await TradingBot.all().limit(1).values_list("id")
