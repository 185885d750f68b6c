"""Users and their notifications, the status overview and health."""

from __future__ import annotations

from datetime import datetime
from html import escape

from handlers.telegram.formatting.figures import age, amounts
from handlers.telegram.formatting.lists import MAX_ROWS, more
from handlers.telegram.formatting.positions import unrealized_by_quote
from trading.access import NOTIFY_KINDS, Member
from trading.control import Health, Overview


def format_members(members: list[Member]) -> str:
    lines = [f"👥 <b>Users ({len(members)})</b>"]
    for m in members[: 2 * MAX_ROWS]:
        name = f" @{escape(m.username)}" if m.username else ""
        source = " (settings)" if m.from_settings else ""
        lines.append(f"<code>{m.user_id}</code>{name} · {m.role.value}{source}")
    lines += more(len(members), 2 * MAX_ROWS)
    lines.append(
        "Grant: <code>/users grant ID owner|trader|viewer</code>\n"
        "Revoke: <code>/users revoke ID</code>"
    )
    return "\n".join(lines)


def format_notify(choices: dict[str, bool]) -> str:
    lines = ["🔔 <b>Notifications</b> · tap to switch"]
    for kind, what in NOTIFY_KINDS.items():
        lines.append(f"{'✅' if choices.get(kind) else '▫️'} {kind}: {what}")
    return "\n".join(lines)


def format_status(overview: Overview, telegram: dict[str, str], now: datetime | None = None) -> str:
    unrealized = unrealized_by_quote(overview.positions)
    switch = overview.kill_switch
    lines = [
        "🟢 <b>Tradebot</b> running"
        if not switch.on
        else "🛑 <b>Tradebot</b> · kill switch on: no new entries",
        f"Bots {overview.bots} · paused {overview.paused} · broker {escape(overview.broker)}",
        f"Open positions {len(overview.positions)} · unrealized {amounts(unrealized)}",
    ]
    if switch.on:
        since = age(switch.since, now) if switch.since else ""
        lines.append(f"Entries stopped by {escape(switch.by)} {since} · /resume")
    if overview.pending_approvals:
        lines.append(f"🟡 {overview.pending_approvals} alert(s) awaiting approval")
    for finding in overview.reconciliation[:10]:
        lines.append(f"⚠️ {escape(finding)}")
    lines.append(f"Telegram: {escape(telegram.get('detail', telegram.get('status', '')))}")
    return "\n".join(lines)


HEALTH_MARKS = {"ok": "✅", "off": "▫️", "degraded": "🟠", "down": "🔴"}


def format_health(health: Health) -> str:
    lines = [f"{HEALTH_MARKS.get(health.overall, '•')} <b>Health: {health.overall}</b>"]
    for name, check in health.checks.items():
        detail = f" · {escape(check['detail'])}" if check.get("detail") else ""
        lines.append(f"{HEALTH_MARKS.get(check.get('status', ''), '•')} {name}{detail}")
    return "\n".join(lines)
