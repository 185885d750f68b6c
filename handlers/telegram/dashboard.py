"""/app (the dashboard: a Mini App button and a one-time sign-in link for a browser) and /logout.

The link is for one person: it is given in a private chat only, with link previews off (a
preview fetches the page; the page redeems the token only by POST, so even a preview that slips
through cannot use it up). Telegram opens a Mini App only from an https address, so the button
comes with an https public URL; the link always does.
"""

from __future__ import annotations

from html import escape

from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    WebAppInfo,
)

from trading.access import Actor, Role
from trading.control import ControlService
from trading.dashboard_auth import LINK_TTL, DashboardAuth

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def dashboard_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/app"


def opens_in_telegram(base_url: str) -> bool:
    """Telegram opens Mini Apps (the button, the menu button) from https addresses only."""
    return base_url.startswith("https://")


async def dashboard(
    message: Message,
    actor: Actor,
    bot: Bot,
    control: ControlService,
    dashboard_auth: DashboardAuth,
) -> None:
    if message.chat.type != "private":
        me = await bot.me()
        with_me = f"@{escape(me.username)}" if me.username else "me"
        await message.answer(
            "🖥 The dashboard's sign-in link is for you alone: send /app in a private chat "
            f"with {with_me}."
        )
        return
    base = control.base_url
    link = await dashboard_auth.login_link(actor)
    minutes = int(LINK_TTL.total_seconds() // 60)
    url = escape(link.url(base))
    lines = ["🖥 <b>Dashboard</b>"]
    keyboard = None
    if opens_in_telegram(base):
        lines.append("Tap <b>Open dashboard</b> below, or sign in from a browser with this link:")
        keyboard = InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text="Open dashboard", web_app=WebAppInfo(url=dashboard_url(base))
                    )
                ]
            ]
        )
    else:
        lines.append("Sign in from a browser with this link:")
    lines += [
        url,
        f"It works once, within {minutes} minutes. /logout ends your dashboard sessions.",
    ]
    if keyboard is None and actor.can(Role.OWNER):
        lines.append("(Inside Telegram it opens only from an https TRADEBOT_PUBLIC_URL.)")
    await message.answer("\n".join(lines), reply_markup=keyboard, link_preview_options=NO_PREVIEW)


async def logout(message: Message, actor: Actor, dashboard_auth: DashboardAuth) -> None:
    ended = await dashboard_auth.logout(actor)
    if not ended:
        await message.answer("🚪 You had no dashboard sessions open.")
        return
    sessions = "session" if ended == 1 else "sessions"
    await message.answer(f"🚪 Signed out of the dashboard: {ended} {sessions} ended.")


def router() -> Router:
    r = Router(name=__name__)
    r.message.register(dashboard, Command("app"))
    r.message.register(logout, Command("logout"))
    return r
