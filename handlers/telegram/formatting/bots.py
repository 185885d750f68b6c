"""Trading bots: the list, a bot's card and its webhook (risk rules: `formatting.risk`)."""

from __future__ import annotations

from html import escape

from handlers.telegram.formatting.figures import price, qty
from handlers.telegram.formatting.lists import MAX_ROWS, more
from trading.bots import BotConfig
from trading.templates import alert_kind, alert_template
from trading.views import BotView, PositionView


def format_bot_line(bot: BotConfig, open_count: int) -> str:
    state = "⏸" if bot.paused else "▶️"
    extra = f" · {open_count} open" if open_count else ""
    manual = " · manual" if bot.approval == "manual" else ""
    return (
        f"{state} <b>{escape(bot.name)}</b> · {escape(', '.join(bot.symbols))} · "
        f"{escape(bot.strategy)} · {bot.direction}{manual}{extra}"
    )


def format_bots(bots: list[BotConfig], open_counts: dict[int, int]) -> str:
    if not bots:
        return "🤖 No bots yet. Create one with /newbot."
    lines = [f"🤖 <b>Bots ({len(bots)})</b>"]
    lines += [format_bot_line(bot, open_counts.get(bot.id, 0)) for bot in bots[: 2 * MAX_ROWS]]
    lines += more(len(bots), 2 * MAX_ROWS)
    lines.append("Tap one for its card, or /bot NAME.")
    return "\n".join(lines)


def format_bot_card(view: BotView, positions: list[PositionView], chat: str = "") -> str:
    state = "⏸ paused" if view.paused else "▶️ active"
    stops = " · ".join(
        f"{label} {value}"
        for label, value in (("SL", view.sl), ("TP", view.tp), ("trail", view.trail))
        if value
    )
    lines = [
        f"🤖 <b>{escape(view.name)}</b> · {state}",
        f"{escape(', '.join(view.symbols))} · {escape(view.strategy)} · {view.direction}",
        f"Size {escape(view.size)} · max entries {view.max_entries} · approval {view.approval}",
        f"{stops or 'No SL/TP'} · max lag {view.max_lag_seconds}s",
        "Webhook: "
        + (f"{view.max_alerts_per_minute} alerts/min" if view.max_alerts_per_minute else "no cap")
        + (" · passphrase" if view.has_passphrase else "")
        + (" · signed" if view.signed else ""),
    ]
    for p in positions:
        lines.append(
            f"Position: {p.side} <code>{qty(p.qty)} @ {price(p.avg_price)}</code> {p.symbol}"
        )
    if not positions:
        lines.append("No open position")
    if chat:
        lines.append(chat)
    return "\n".join(lines)


def format_webhook(view: BotView, bot: BotConfig) -> str:
    """The webhook URL, which TradingView alert to make for the bot's strategy and the message
    to paste."""
    return (
        f"🔗 <b>{escape(view.name)}</b> webhook URL:\n<code>{escape(view.webhook_url)}</code>\n\n"
        f"{escape(alert_kind(bot))}\n"
        f"📋 TradingView alert message:\n<pre>{escape(alert_template(bot))}</pre>"
    )
