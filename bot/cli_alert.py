"""`tradebot alert URL_OR_KEY …` (SPEC §2): send a test alert as TradingView would."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime

import click

from bot.cli_common import settings_or_exit
from bot.cli_options import key_values
from trading.signatures import signed_headers

# ---------------------------------------------------------------- alert


@click.command()
@click.argument("url_or_key")
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
    url_or_key: str,
    text_form: bool,
    timeout: float,
    fields: tuple[str, ...],
    alert_id: str | None,
    hmac_secret: str | None,
    **values: str | None,
) -> None:
    """Send a test alert to a webhook URL, or to this server by bot key."""
    if url_or_key.startswith(("http://", "https://")):
        url = url_or_key
    else:
        url = f"{settings_or_exit().base_url()}/webhook/{url_or_key}"
    payload: dict[str, str] = {k: v for k, v in values.items() if v is not None}
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
    if status >= 400:
        sys.exit(1)
