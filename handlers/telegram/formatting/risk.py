"""/risk: each rule set, with its limit, where it is set, its current value and the headroom left,
per quote currency, and the kill switch (`trading.risk_service.RiskReport`); the prompt that asks
an owner for a rule's new value; the kill switch's answers."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from handlers.telegram.formatting.figures import CRYPTO_QUOTES, age, money
from trading.equity import KillSwitchState
from trading.risk import SPECS
from trading.risk_service import CurrencyRisk, Resumed, RiskReport, RuleLine

BUDGET = 3000  # characters of currency blocks in one message (Telegram's limit is 4096)
DRAWDOWN = "max_drawdown"


def _when(moment: datetime | None, now: datetime | None) -> str:
    if moment is None:
        return ""
    return f" since {moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC ({age(moment, now)})"


def format_kill_switch(switch: KillSwitchState, now: datetime | None = None) -> str:
    if not switch.on:
        return "🟢 Kill switch off: entries allowed."
    who = "tripped by max_drawdown" if switch.rule == DRAWDOWN else f"by {escape(switch.by)}"
    lines = [
        f"🛑 <b>Kill switch on</b>{_when(switch.since, now)} {who}: no new entries; exits, "
        "stops and closes go on. An owner lifts it with /resume."
    ]
    if switch.reason:
        lines.append(escape(switch.reason))
    if switch.legacy_paused:
        lines.append(
            "Paused by the kill switch of before the upgrade (resumed by /resume): "
            + escape(", ".join(switch.legacy_paused))
        )
    return "\n".join(lines)


def _places(quote: str) -> int:
    return 6 if quote in CRYPTO_QUOTES else 2


def _currency_head(c: CurrencyRisk) -> str:
    places = _places(c.quote)
    drawdown = money(c.drawdown * 100, 2)
    head = (
        f"<b>{escape(c.quote)}</b> equity {money(c.equity, places)} · peak "
        f"{money(c.peak, places)} · drawdown {'−' if c.drawdown > 0 else ''}{drawdown}% · "
        f"today {money(c.today_pnl, places, signed=True)}"
    )
    if c.open_positions:
        head += f"\n{c.open_positions} open · notional {money(c.open_notional, places)}"
    return head


def _source(line: RuleLine, for_bot: bool) -> str:
    if line.source == "bot":
        return "this bot's own"
    if line.source == "account" and for_bot:
        return "the account's"
    return line.source


def _short(text: str) -> bool:
    """A headroom used up: nothing, or less than nothing, left."""
    return text.startswith(("−", "-")) or text.split(" ", 1)[0].strip("%") in ("0", "0.00")


def _limit(key: str, limit: str) -> str:
    """A limit as read: `30 min`, `3 stop-losses in 60 min`, `06:00 UTC`."""
    if key == "cooldown_after_stop" and limit.isdigit():
        return f"{limit} min"
    count, slash, minutes = limit.partition("/")
    if key == "stop_guard" and slash and count.isdigit() and minutes.isdigit():
        return f"{count} stop-loss{'' if count == '1' else 'es'} in {minutes} min"
    if key == "daily_reset_hour" and limit.isdigit():
        return f"{int(limit):02d}:00 UTC"
    return limit


def _rule_line(line: RuleLine, for_bot: bool) -> str:
    limit = escape(_limit(line.key, line.limit or ""))
    text = f"• <b>{line.key}</b> {limit} · {_source(line, for_bot)}"
    details = []
    if line.current:
        details.append(f"now {escape(line.current)}")
    if line.headroom:
        mark = "⚠️ " if _short(line.headroom) else ""
        details.append(f"{mark}room {escape(line.headroom)}")
    if details:
        text += "\n   " + " · ".join(details)
    return text


def format_risk(report: RiskReport, *, owner: bool, now: datetime | None = None) -> str:
    """The rules in force, the figures they are checked on, and the kill switch."""
    for_bot = report.bot is not None
    scope = f"bot <b>{escape(report.bot or '')}</b>" if for_bot else "account"
    lines = [f"🛡 <b>Risk rules</b> · {scope}", format_kill_switch(report.kill_switch, now)]
    shown = 0
    for currency in report.currencies:
        block = ["", _currency_head(currency)]
        block += [_rule_line(line, for_bot) for line in currency.lines if line.limit is not None]
        if not any(line.limit is not None for line in currency.lines):
            block.append("No rule set: entries are checked against nothing but the kill switch.")
        if shown and len("\n".join(lines + block)) > BUDGET:
            break
        lines += block
        shown += 1
    if len(report.currencies) > shown:
        more = len(report.currencies) - shown
        lines.append(f"… and {more} more currencies: <code>tradebot risk show</code>, GET /risk")
    sample = report.currencies[0].lines if report.currencies else []
    off = [line.key for line in sample if line.limit is None and line.source == "off"]
    unset = [line.key for line in sample if line.limit is None and line.source != "off"]
    lines.append("")
    if off:
        lines.append(f"Off for this bot: {', '.join(off)}")
    if unset:
        lines.append(f"Not set: {', '.join(unset)}")
    lines.append(_footer(report.bot, owner))
    return "\n".join(lines)


def _footer(bot: str | None, owner: bool) -> str:
    if not owner:
        return "" if bot else "A bot's own rules: /risk NAME"
    if bot:
        return (
            f"Tap a rule to change it for {escape(bot)}, or "
            f"<code>/risk set {escape(bot)} KEY=VALUE</code>. <code>off</code> turns the "
            "account's rule off for this bot, <code>inherit</code> follows the account again."
        )
    return (
        "Tap a rule to change it, or <code>/risk set KEY=VALUE …</code> "
        "(<code>off</code> removes it). A bot's own: /risk NAME"
    )


def format_value_prompt(report: RiskReport, key: str) -> str:
    """The question after a rule's button: what to send."""
    bot = report.bot
    scope = f"bot <b>{escape(bot)}</b>" if bot else "the account"
    own = report.own.to_json().get(key)
    in_force = report.rules.to_json().get(key)
    if own is not None:
        current = f"now {escape(own)}"
    elif in_force is not None:
        current = f"now {escape(in_force)}, the account's"
    else:
        current = "not set"
    extra = (
        "<code>off</code> to turn the account's rule off for this bot, or "
        "<code>inherit</code> to follow the account's"
        if bot
        else "or <code>off</code> to remove it"
    )
    return (
        f"✏️ Send the new value for <b>{key}</b> on {scope} ({current}): "
        f"{escape(SPECS[key][0])}; {extra}. /cancel to stop."
    )


def placeholder(key: str) -> str:
    """An example value for the reply field, from the accepted form ("such as 20%")."""
    form = SPECS[key][0]
    _, such, example = form.partition("such as ")
    return example.split(",")[0].split(" ")[0] if such else "value"


def format_set(report: RiskReport, words: list[str], *, owner: bool = True) -> str:
    """After `/risk set` or a value sent after a rule's button: what changed, then the rules."""
    scope = escape(report.bot) if report.bot else "the account"
    changed = ", ".join(escape(w.strip()) for w in words)
    return f"✅ Risk rules of {scope} changed: <code>{changed}</code>\n\n" + format_risk(
        report, owner=owner
    )


def format_stopped(state: KillSwitchState, already: bool, now: datetime | None = None) -> str:
    if already:
        return "🛑 The kill switch is already on.\n" + format_kill_switch(state, now)
    return (
        "🛑 <b>Kill switch on</b>: no new entries on any bot, including bots created while it "
        "is on.\nExits go on: closes, stops, take-profits and /close still work; open positions "
        "stay open (/closeall closes them). An owner lifts it with /resume."
    )


def format_resumed(resumed: Resumed) -> str:
    lines = ["▶️ <b>Kill switch off</b>: entries are allowed again."]
    if resumed.bots:
        lines.append(
            f"Resumed {len(resumed.bots)} bot(s) the kill switch of before the upgrade had "
            f"paused: {escape(', '.join(resumed.bots))}"
        )
    if resumed.was.rule == DRAWDOWN:
        lines.append(
            "It was tripped by max_drawdown: the peak starts afresh from the equity now, so the "
            "rule trips again only on a new fall of that size. See /risk."
        )
    return "\n".join(lines)


NOT_ON = (
    "🟢 The kill switch is not on: entries are allowed. A single paused bot resumes from its "
    "card: /bot NAME."
)
