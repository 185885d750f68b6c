"""The command menu (setMyCommands) and /help, from one list."""

from __future__ import annotations

from html import escape

from aiogram.types import BotCommand

from trading.access import Actor, Role

# (command, arguments, description, role needed)
COMMANDS: list[tuple[str, str, str, Role]] = [
    ("start", "", "Start and see your role", Role.VIEWER),
    ("help", "", "What you can do", Role.VIEWER),
    ("status", "", "Bots, positions, kill switch at a glance", Role.VIEWER),
    ("positions", "", "Open positions with Close buttons", Role.VIEWER),
    ("close", "NAME|ID", "Close a bot's positions or one position", Role.TRADER),
    ("closeall", "", "Close every position (asks first)", Role.TRADER),
    ("trades", "[N]", "Last N closed trades", Role.VIEWER),
    ("pnl", "[chart]", "Equity, PnL today/week/month/all; chart", Role.VIEWER),
    ("daily", "[DAYS]", "PnL per day", Role.VIEWER),
    ("weekly", "[WEEKS]", "PnL per week", Role.VIEWER),
    ("performance", "[PERIOD]", "Performance per bot and symbol", Role.VIEWER),
    ("balance", "", "Broker balances", Role.VIEWER),
    ("bots", "", "Your trading bots", Role.VIEWER),
    ("bot", "NAME", "A bot's card: pause, edit, webhook...", Role.VIEWER),
    ("newbot", "", "Create a bot step by step", Role.OWNER),
    ("alerttemplate", "NAME", "TradingView alert message to paste", Role.OWNER),
    ("alerts", "[N]", "Recent webhook requests", Role.VIEWER),
    ("risk", "[BOT]", "Risk rules: limit, current, headroom", Role.VIEWER),
    ("stopentry", "", "Kill switch: stop new entries", Role.TRADER),
    ("resume", "", "Lift the kill switch: entries again", Role.OWNER),
    ("backtest", "STRATEGY SYMBOL [k=v…]", "Backtest with an equity curve", Role.VIEWER),
    ("optimize", "STRATEGY SYMBOL [k=lo..hi…]", "Search a strategy's parameters", Role.VIEWER),
    ("chart", "SYMBOL [BOT]", "Recent bars with a bot's trades", Role.VIEWER),
    ("notify", "", "Choose the notifications you get", Role.VIEWER),
    ("users", "", "Users and roles (grant / revoke)", Role.OWNER),
    ("totp", "[on | off]", "Two-factor codes for dangerous actions", Role.OWNER),
    ("app", "", "The dashboard: in Telegram, or a sign-in link", Role.VIEWER),
    ("logout", "", "End all your dashboard sessions", Role.VIEWER),
    ("health", "", "Health of database, broker, Telegram", Role.VIEWER),
    ("cancel", "", "Cancel the current dialogue", Role.VIEWER),
]


# More forms of a command, listed by /help under it (not in the command menu).
MORE: dict[str, list[tuple[str, str, Role]]] = {
    "optimize": [
        ("STRATEGY (caption of a CSV file)", "Search on your own bars", Role.VIEWER),
    ],
    "risk": [
        ("set [BOT] KEY=VALUE…", "Change risk rules (or tap one under /risk)", Role.OWNER),
    ],
}


def bot_commands() -> list[BotCommand]:
    return [BotCommand(command=name, description=text) for name, _, text, _ in COMMANDS]


def help_text(actor: Actor) -> str:
    lines = [f"<b>Commands</b> · you are {actor.role.value if actor.role else '-'}"]
    for name, args, text, role in COMMANDS:
        if actor.can(role):
            usage = f"/{name}" + (f" {escape(args)}" if args else "")
            lines.append(f"{usage} · {escape(text)}")
            for more_args, more_text, more_role in MORE.get(name, []):
                if actor.can(more_role):
                    lines.append(f"/{name} {escape(more_args)} · {escape(more_text)}")
    return "\n".join(lines)
