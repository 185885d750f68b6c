"""What migration 4 (`risk_and_equity`) does to the rows already stored, as plain functions.

Before it, `trading_bots.risk` was free-form JSON that `/risk` showed and nothing enforced, and
the kill switch lived in the audit log (the latest `kill_switch.on|off`, which paused whole bots).
The migration, on either dialect (`move_data`):

* rewrites every bot's `risk` onto the SPEC §6a keys (`mapped_rules`): a §6a key keeps its
  value, a known alias is renamed, and whatever then does not parse as that rule is dropped (an
  unknown key too), so every stored value is one `RiskRules.from_json` reads;
* inserts the account's single `account_settings` row (no rules of its own), with the kill
  switch on when the audit log's latest switch was `kill_switch.on`: by and since from it, and
  the bots it paused kept in `legacy_paused` for the first resume after the upgrade.

The SQL names the tables as they were at that migration (no model is imported): a later change
of `db.models` must not change what an old migration did.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from trading.errors import InvalidRequest
from trading.money import plain
from trading.risk import KEYS, parse_rules, parse_value

log = logging.getLogger(__name__)

# Legacy key -> §6a key. A §6a key given as well wins; among aliases of one key, the first listed.
ALIASES: dict[str, str] = {
    "max_qty": "max_position_qty",
    "max_position": "max_position_qty",
    "max_value": "max_position_value",
    "max_notional": "max_position_value",
    "max_positions": "max_open_positions",
    "max_open": "max_open_positions",
    "exposure": "max_exposure",
    "max_total_exposure": "max_exposure",
    "max_daily_loss": "daily_loss_limit",
    "daily_loss": "daily_loss_limit",
    "drawdown": "max_drawdown",
    "max_dd": "max_drawdown",
    "cooldown": "cooldown_after_stop",
    "cooldown_minutes": "cooldown_after_stop",
    "risk": "risk_per_trade",
    "risk_pct": "risk_per_trade",
}
# Rules that take only a share of equity: a bare number there meant a percentage.
PERCENT_ONLY = frozenset({"max_drawdown", "risk_per_trade"})
KILL_SWITCH_ON, KILL_SWITCH_OFF = "kill_switch.on", "kill_switch.off"
MAX_BY = 128  # account_settings.kill_switch_by


def _text(value: Any) -> str | None:
    """A stored value as rule text (numbers as plain decimals), or None for no rule value."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        return plain(Decimal(repr(value))) if math.isfinite(value) else None
    if isinstance(value, int | Decimal):
        try:
            return plain(Decimal(value))
        except (InvalidOperation, ValueError):
            return None
    if isinstance(value, str):
        return value.strip()
    return None


def _as_percent(text: str) -> str:
    """`10` → `10%` (a bare number for a rule that takes only a share of equity)."""
    try:
        Decimal(text)
    except InvalidOperation:
        return text
    return f"{text}%"


def mapped_rules(legacy: Any) -> dict[str, str]:
    """A bot's stored `risk` (any JSON) as §6a rules in `RiskRules.to_json` form: §6a keys and
    their aliases (`ALIASES`) whose value parses as that rule; the rest dropped."""
    if not isinstance(legacy, Mapping):
        return {}
    given = {str(key).strip().lower(): value for key, value in legacy.items()}
    candidates: dict[str, list[str]] = {key: [] for key in KEYS}
    for key in KEYS:  # the §6a key first, then its aliases in `ALIASES` order
        if key in given:
            candidates[key].append(key)
    for alias, key in ALIASES.items():
        if alias in given and alias not in KEYS:
            candidates[key].append(alias)
    kept: dict[str, str] = {}
    for key, names in candidates.items():
        for name in names:
            text = _text(given[name])
            if not text:
                continue
            if key in PERCENT_ONLY and not text.endswith("%"):
                text = _as_percent(text)
            try:
                parse_value(key, text)
            except InvalidRequest:
                continue
            kept[key] = text
            break
    dropped = sorted(set(given) - {name for names in candidates.values() for name in names})
    if dropped:
        log.info("risk: legacy keys dropped (not SPEC §6a rules): %s", ", ".join(dropped))
    return parse_rules(kept).to_json()


def legacy_kill_switch(action: str, actor: str, details: Any) -> tuple[bool, str, list[str]]:
    """(on, by, bots it paused) from the audit log's latest kill switch row."""
    if action != KILL_SWITCH_ON:
        return False, "", []
    details = details if isinstance(details, Mapping) else {}
    by = str(details.get("by", actor))[:MAX_BY]
    paused = details.get("paused", [])
    names = [str(name) for name in paused] if isinstance(paused, list) else []
    return True, by, names


def _json(raw: Any) -> Any:
    """A JSON column's value as read by the driver (text on SQLite, often text on asyncpg)."""
    if isinstance(raw, str | bytes):
        try:
            return json.loads(raw)
        except ValueError:
            return None
    return raw


def _marks(dialect: Literal["sqlite", "postgres"], count: int) -> list[str]:
    return ["?"] * count if dialect == "sqlite" else [f"${i}" for i in range(1, count + 1)]


async def move_data(db: Any, dialect: Literal["sqlite", "postgres"]) -> None:
    """The migration's data part, on its transaction's connection `db` (the tables exist)."""
    _, bots = await db.execute_query('SELECT "id", "risk" FROM "trading_bots" ORDER BY "id"')
    risk, bot = _marks(dialect, 2)
    for row in bots:
        rules = mapped_rules(_json(row[1]))
        await db.execute_query(
            f'UPDATE "trading_bots" SET "risk" = {risk} WHERE "id" = {bot}',
            [json.dumps(rules), row[0]],
        )
    _, last = await db.execute_query(
        'SELECT "action", "actor", "details", "created_at" FROM "audit_log" '
        f"WHERE \"action\" IN ('{KILL_SWITCH_ON}', '{KILL_SWITCH_OFF}') AND \"outcome\" = 'ok' "
        'ORDER BY "id" DESC LIMIT 1'
    )
    on, by, paused = (
        legacy_kill_switch(last[0][0], last[0][1], _json(last[0][2])) if last else (False, "", [])
    )
    since = last[0][3] if on else None
    switch, who, when, bots_paused = _marks(dialect, 4)
    await db.execute_query(
        'INSERT INTO "account_settings" ("id", "risk", "kill_switch", "kill_switch_by", '
        '"kill_switch_since", "kill_switch_reason", "kill_switch_rule", "legacy_paused") '
        f"VALUES (1, '{{}}', {switch}, {who}, {when}, '', NULL, {bots_paused}) "
        'ON CONFLICT ("id") DO NOTHING',
        [on, by, since, json.dumps(paused)],
    )
    if on:
        log.warning("kill switch on before the upgrade (by %s): kept; paused bots %s", by, paused)
