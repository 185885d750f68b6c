"""`tradebot alert NAME|KEY|URL …` (send a test alert as TradingView would) and `tradebot alerts`
(the webhook log, as the chat's /alerts) (SPEC §2)."""

from __future__ import annotations

import json
import sys
import textwrap
import urllib.error
import urllib.request
from datetime import UTC, datetime

import click

from bot.assembly import Assembly
from bot.cli_common import CLICK_CONTEXT, print_json, settings_or_exit, with_services
from bot.cli_options import key_values
from bot.cli_tables import terminal
from trading.bots import NAME
from trading.signatures import signed_headers

# ---------------------------------------------------------------- alert


@with_services
async def _bot_target(services: Assembly, name: str) -> tuple[str, str | None, str | None]:
    """A bot named on the command line: its webhook URL, passphrase and HMAC secret."""
    bot = await services.control.bot(name)
    return services.control.webhook_url(bot), bot.passphrase, bot.hmac_secret


@click.command(context_settings=CLICK_CONTEXT)
@click.argument("target", metavar="NAME|KEY|URL")
@click.option("--action", default="buy", show_default=True)
@click.option("--symbol", default="BTCUSDT", show_default=True)
@click.option("--price", default=None)
@click.option("--qty", default=None)
@click.option("--sl", default=None)
@click.option("--tp", default=None)
@click.option("--id", "alert_id", default=None, help="Alert id (repeats are answered 'duplicate').")
@click.option("--passphrase", default=None)
@click.option("--hmac-secret", default=None, help="Sign the request with this bot secret.")
@click.option("--field", "fields", multiple=True, help="Extra field key=value; repeat for more.")
@click.option(
    "--text", "text_form", is_flag=True, help="Send the one-line text form instead of JSON."
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 60),
    default=3.0,
    show_default=True,
    help="Seconds to wait, like TradingView (3 s).",
)
def alert(
    target: str,
    text_form: bool,
    timeout: float,
    fields: tuple[str, ...],
    alert_id: str | None,
    hmac_secret: str | None,
    passphrase: str | None,
    **values: str | None,
) -> None:
    """Send a test alert to a webhook URL, or to this server by bot name or key.

    By NAME, the bot's passphrase and signature are added for you. Prints the answer; exits 1
    when the alert was refused (HTTP 4xx/5xx, or the answer's status `rejected`).

    \b
    tradebot alert demo --action buy --price 65000
    tradebot alert demo --action close --price 65100 --text
    """
    if target.startswith(("http://", "https://")):
        url = target
    elif NAME.match(target):  # a webhook key is 43 characters: never a bot name (1-32)
        url, bot_passphrase, bot_secret = _bot_target(target)
        passphrase = passphrase if passphrase is not None else bot_passphrase
        hmac_secret = hmac_secret if hmac_secret is not None else bot_secret
    else:
        url = f"{settings_or_exit().base_url()}/webhook/{target}"
    payload: dict[str, str] = {k: v for k, v in values.items() if v is not None}
    if passphrase is not None:
        payload["passphrase"] = passphrase
    if alert_id:
        payload["id"] = alert_id
    payload["time"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    payload.update(key_values(fields, "--field"))
    if text_form:
        rest = " ".join(f"{k}={v}" for k, v in payload.items() if k not in ("action", "symbol"))
        body = f"{payload['action']} {payload['symbol']} {rest}".strip()
    else:
        body = json.dumps(payload)
    # TradingView sends text/plain unless the message is valid JSON; we send what it would.
    content_type = "text/plain; charset=utf-8" if text_form else "application/json; charset=utf-8"
    headers = {"Content-Type": content_type}
    if hmac_secret:
        headers.update(signed_headers(hmac_secret, body.encode()))
    request = urllib.request.Request(url, data=body.encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, answer = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, answer = exc.code, exc.read().decode()
    except (urllib.error.URLError, TimeoutError) as exc:
        raise click.ClickException(
            f"could not reach {url.split('/webhook/')[0]}: {getattr(exc, 'reason', exc)}"
        ) from None
    click.echo(f"HTTP {status}")
    click.echo(answer)
    if status >= 400 or _answer_status(answer) == "rejected":
        sys.exit(1)


def _answer_status(answer: str) -> str | None:
    try:
        data = json.loads(answer)
    except ValueError:
        return None
    return data.get("status") if isinstance(data, dict) else None


# ---------------------------------------------------------------- alerts (the webhook log)


@click.command(context_settings=CLICK_CONTEXT)
@click.option("--limit", type=click.IntRange(1, 500), default=15, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@with_services
async def alerts(services: Assembly, limit: int, as_json: bool) -> None:
    """The webhook log: the latest alerts and their answers.

    Newest first, as the chat's /alerts: each request's bot, action and symbol, what became of
    it and why."""
    logs = await services.control.recent_alerts(limit)
    if as_json:
        print_json(
            [
                {
                    "id": row.id,
                    "bot": row.bot,
                    "status": row.status,
                    "action": row.action,
                    "symbol": row.symbol,
                    "reason": row.reason,
                    "received_at": row.received_at.astimezone(UTC).isoformat(),
                    "repeats": row.repeats,
                }
                for row in logs
            ]
        )
        return
    if not logs:
        click.echo("no webhook requests yet")
        return
    click.echo("webhook requests, newest first (received UTC):")
    width = terminal().width
    for row in logs:
        what = " ".join(x for x in (row.action, row.symbol) if x) or "-"
        repeats = f" ×{row.repeats}" if row.repeats > 1 else ""
        click.echo(
            f"#{row.id} {row.received_at.astimezone(UTC):%m-%d %H:%M:%S} {row.bot or '?'} "
            f"{what} · {row.status}{repeats}"
        )
        if row.reason:
            reason = " ".join(row.reason.split())
            for line in textwrap.wrap(reason, max(width - 4, 20), break_on_hyphens=False):
                click.echo(f"    {line}")
