"""`tradebot login-link [--user ID] [--json]` (SPEC §10): a one-time sign-in link to the dashboard
for a browser, from the host, the same `DashboardAuth.login_link` the chat's /app calls.

Without --user it signs in as an owner: the first id in TRADEBOT_TELEGRAM_ADMINS, or the local
owner when there is none (so it works without Telegram). The link is printed alone on its first
line, to copy or to pipe.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from bot.cli_common import CLICK_CONTEXT, Mistake, print_json, with_services
from trading.access import CLI
from trading.errors import InvalidRequest, NotFound

if TYPE_CHECKING:
    from bot.assembly import Assembly


@click.command(
    "login-link",
    context_settings=CLICK_CONTEXT,
    epilog="""\b
Examples:
  tradebot login-link                   as the first owner in TRADEBOT_TELEGRAM_ADMINS
  tradebot login-link --user 222        as that user, with their role
  tradebot login-link --json

Open it in a browser that reaches TRADEBOT_PUBLIC_URL; /logout in the chat ends the sessions.""",
)
@click.option(
    "--user", "user_id", type=click.IntRange(min=1), default=None, metavar="ID",
    help="Sign in as this Telegram user (they need a role). Default: an owner.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the link, user and expiry as JSON.")
@with_services
async def login_link(services: Assembly, user_id: int | None, as_json: bool) -> None:
    """Print a one-time sign-in link to the dashboard (10 minutes)."""
    auth = services.dashboard_auth
    try:
        actor = await auth.link_owner(user_id)
    except (InvalidRequest, NotFound) as exc:
        where = "" if user_id is None else f"--user {user_id}: "
        raise Mistake(where + exc.user_message) from None
    link = await auth.login_link(actor, by=CLI)
    url = link.url(services.control.base_url)
    role = actor.role.value if actor.role else "-"
    who = actor.name or f"user {link.user_id}"
    if as_json:
        print_json(
            {
                "url": url,
                "user": {"id": link.user_id, "name": who, "role": role},
                "expires_at": link.expires_at.isoformat(),
            }
        )
        return
    click.echo(url)
    click.echo(
        f"Signs in as {who} ({role}) · works once, until {link.expires_at:%Y-%m-%d %H:%M} UTC"
    )
    if not services.settings.public_url:
        click.echo("TRADEBOT_PUBLIC_URL is not set: the link points at this machine's own address.")
