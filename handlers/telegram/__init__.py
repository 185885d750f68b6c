"""Telegram routers, one per feature, in the order the dispatcher tries them.

aiogram is not imported here: `handlers.telegram.formatting` (the chat's text, which the CLI
prints too) is importable without it (aiogram adds ~120 MB resident to a process).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiogram import Router


def routers() -> list[Router]:
    from handlers.telegram import (
        approvals,
        bots,
        common,
        dashboard,
        errors,
        fallback,
        killswitch,
        newbot,
        optimize,
        positions,
        reports,
        research,
        risk,
        security,
        users,
    )

    return [
        errors.router(),
        security.router(),  # /totp, and /cancel while a code is awaited (before common's)
        common.router(),  # /cancel first: it works in every state
        newbot.router(),
        bots.router(),
        positions.router(),
        approvals.router(),
        reports.router(),
        risk.router(),
        killswitch.router(),
        users.router(),
        research.router(),
        optimize.router(),
        dashboard.router(),
        fallback.router(),  # last: unknown commands, stale buttons
    ]
