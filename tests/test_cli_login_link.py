"""`tradebot login-link [--user ID] [--json]`: a one-time dashboard sign-in link from the host,
as an owner by default, without Telegram."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.assembly import assemble
from bot.cli_common import database
from bot.config import load_settings
from trading.access import CLI, Role
from trading.dashboard_auth import SignedIn
from trading.errors import InvalidRequest

LINK = re.compile(r"^https://bot\.example\.com/app/login/([A-Za-z0-9_\-]+)$")


def on_the_server(use: str, *args: object) -> object:
    """Call `assembly.<use>(*args)` (e.g. "dashboard_auth.redeem") as the server would, with
    the settings and database the CLI used."""

    async def go() -> object:
        settings = load_settings()
        async with database(settings):
            target: object = assemble(settings, defer_broker=True)
            for name in use.split("."):
                target = getattr(target, name)
            return await target(*args)  # type: ignore[operator]

    return asyncio.run(go())


def redeem(token: str) -> SignedIn:
    signed_in = on_the_server("dashboard_auth.redeem", token)
    assert isinstance(signed_in, SignedIn)
    return signed_in


def token_of(out: str) -> str:
    match = LINK.match(out.splitlines()[0])
    assert match, out
    return match.group(1)


def test_the_link_signs_in_once_as_the_first_admin(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEBOT_TELEGRAM_ADMINS", "333,111")  # the first as written
    code, out = cli("login-link")
    assert code == 0, out
    assert "user 333 (owner)" in out.splitlines()[1] and "works once" in out
    signed_in = redeem(token_of(out))
    assert (signed_in.actor.user_id, signed_in.actor.role) == (333, Role.OWNER)
    with pytest.raises(InvalidRequest, match="already used or has expired"):
        redeem(token_of(out))


def test_without_admins_it_signs_in_as_the_local_owner(cli) -> None:
    code, out = cli("login-link")  # no Telegram token, no admins: the SQLite default
    assert code == 0, out
    assert "local owner" in out
    assert redeem(token_of(out)).actor.role is Role.OWNER


def test_user_signs_in_with_their_own_role(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEBOT_TELEGRAM_ADMINS", "111")
    on_the_server("access.grant", CLI, 222, "viewer")
    code, out = cli("login-link", "--user", "222")
    assert code == 0, out
    assert "(viewer)" in out
    signed_in = redeem(token_of(out))
    assert (signed_in.actor.user_id, signed_in.actor.role) == (222, Role.VIEWER)
    made = on_the_server("stores.audit.last_audit", ("dashboard.link",))
    assert (made.actor, made.target) == ("cli", "222")  # type: ignore[attr-defined]


@pytest.mark.parametrize("user", ["999", "abc", "0"])
def test_a_user_without_a_role_is_one_line_naming_user(cli, user: str) -> None:
    code, out = cli("login-link", "--user", user)
    assert code == 2
    [line] = out.strip().splitlines()
    assert "--user" in line and "/app/login/" not in line


def test_json(cli) -> None:
    code, out = cli("login-link", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert set(data) == {"url", "user", "expires_at"}
    assert LINK.match(data["url"])
    assert data["user"] == {"id": 0, "name": "local owner", "role": "owner"}
    expires = datetime.fromisoformat(data["expires_at"])
    assert timedelta(minutes=9) < expires - datetime.now(UTC) <= timedelta(minutes=10)
    assert redeem(LINK.match(data["url"]).group(1)).actor.role is Role.OWNER  # type: ignore[union-attr]
