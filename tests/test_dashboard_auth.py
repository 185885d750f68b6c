"""Dashboard sign-in (SPEC §10) on a real SQLite file and a real PostgreSQL: a link works once and
for 10 minutes, even when two requests redeem it at the same moment; a session lasts 7 days,
follows the user's role as it is now, and ends for every device with /logout; tokens are never
stored in clear; `tradebot login-link` is for the first owner of TRADEBOT_TELEGRAM_ADMINS, or
the local owner when there is none."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st
from tortoise import Tortoise, connections

from db.config import tortoise_config
from db.models import AuditLog
from db.stores import sql_stores
from tests.conftest import OWNER_ID
from tests.examples import run_examples
from tests.processes import migrated_postgres
from trading.access import CLI, AccessService, Actor, Role
from trading.dashboard_auth import (
    LINK_TTL,
    LOCAL_OWNER_ID,
    SESSION_TTL,
    USED_OR_EXPIRED,
    DashboardAuth,
)
from trading.errors import InvalidRequest
from trading.ports import Stores

T = datetime(2026, 3, 10, 12, 0, 0, 250_000, tzinfo=UTC)  # "now" of the stories
TRADER_ID = 222
OTHER_ID = 333


class Clock:
    """The service's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = T

    def __call__(self) -> datetime:
        return self.now

    def move(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@asynccontextmanager
async def _opened(url: str) -> AsyncIterator[Stores]:
    await Tortoise.init(config=tortoise_config(url))
    try:
        yield sql_stores()
    finally:
        await Tortoise.close_connections()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
async def stores(
    request: pytest.FixtureRequest, db_url: str, tmp_path: Path
) -> AsyncIterator[Stores]:
    """Each kind of database in turn, migrated, with the product's stores on it."""
    if request.param == "sqlite":
        async with _opened(db_url) as stores:
            yield stores
        return
    async with migrated_postgres("tradebot_dashboard", tmp_path) as url, _opened(url) as stores:
        yield stores


@pytest.fixture
def clock() -> Clock:
    return Clock()


def service(stores: Stores, clock: Clock, admins: Sequence[int] = (OWNER_ID,)) -> DashboardAuth:
    return DashboardAuth(AccessService(admins, stores=stores), stores=stores, clock=clock)


@pytest.fixture
def auth(stores: Stores, clock: Clock) -> DashboardAuth:
    """The service with one owner from TRADEBOT_TELEGRAM_ADMINS (111)."""
    return service(stores, clock)


async def _rows(table: str) -> list[dict[str, Any]]:
    return await connections.get("default").execute_query_dict(f'SELECT * FROM "{table}"')


async def _audited(action: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    rows = await AuditLog.filter(action=action).order_by("id")
    return [(row.actor, row.target, row.outcome, row.details) for row in rows]


# ---------------------------------------------------------------- links


async def test_a_link_signs_in_once_and_a_second_use_is_refused(auth: DashboardAuth) -> None:
    owner = await auth.link_owner()
    link = await auth.login_link(owner)
    assert link.user_id == OWNER_ID and link.expires_at == T + LINK_TTL

    signed = await auth.redeem(link.token)
    assert signed.actor == Actor(f"tg:{OWNER_ID}", Role.OWNER, "", OWNER_ID)
    assert signed.session.token and signed.session.token != link.token
    assert signed.session.expires_at == T + SESSION_TTL
    assert (await auth.resolve(signed.session.token)) is not None

    with pytest.raises(InvalidRequest) as refused:
        await auth.redeem(link.token)
    assert refused.value.user_message == USED_OR_EXPIRED
    assert len(await _rows("dashboard_sessions")) == 1
    assert await _audited("dashboard.link") == [(f"tg:{OWNER_ID}", str(OWNER_ID), "ok", {})]
    assert await _audited("dashboard.sign_in") == [
        (f"tg:{OWNER_ID}", str(OWNER_ID), "ok", {"via": "link"})
    ]


async def test_a_link_works_for_ten_minutes_and_not_a_second_more(
    auth: DashboardAuth, clock: Clock
) -> None:
    owner = await auth.link_owner()
    early, late = await auth.login_link(owner), await auth.login_link(owner)
    clock.move(minutes=9, seconds=59)
    assert (await auth.redeem(early.token)).actor.user_id == OWNER_ID
    clock.move(seconds=2)  # 10 min + 1 s after it was made
    with pytest.raises(InvalidRequest, match="already used or has expired"):
        await auth.redeem(late.token)


async def test_two_redeems_of_one_link_at_once_open_exactly_one_session(
    auth: DashboardAuth,
) -> None:
    link = await auth.login_link(await auth.link_owner())
    outcomes = await asyncio.gather(
        *(auth.redeem(link.token) for _ in range(2)), return_exceptions=True
    )
    signed = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, InvalidRequest)]
    assert len(signed) == 1 and len(refused) == 1, outcomes
    assert len(await _rows("dashboard_sessions")) == 1


async def test_a_link_of_a_user_who_lost_their_role_signs_nobody_in(
    stores: Stores, auth: DashboardAuth
) -> None:
    await auth.access.grant(CLI, TRADER_ID, "trader")
    link = await auth.login_link(await auth.link_owner(TRADER_ID))
    await auth.access.revoke(CLI, TRADER_ID)
    with pytest.raises(InvalidRequest, match="no role"):
        await auth.redeem(link.token)
    assert await _rows("dashboard_sessions") == []
    [(actor, _, outcome, details)] = await _audited("dashboard.sign_in")
    assert (actor, outcome, details["why"], details["via"]) == (
        f"tg:{TRADER_ID}",
        "refused",
        "no role",
        "link",
    )


# ---------------------------------------------------------------- sessions


async def test_a_session_carries_the_users_role_as_it_is_now(auth: DashboardAuth) -> None:
    await auth.access.grant(CLI, TRADER_ID, "viewer")
    await auth.stores.users.set_role(TRADER_ID, "viewer", "bob")
    signed = await auth.sign_in(await auth.access.actor(TRADER_ID, "bob"), via="telegram")
    token = signed.session.token

    now = await auth.resolve(token)
    assert now is not None and now.actor == Actor(f"tg:{TRADER_ID}", Role.VIEWER, "bob", TRADER_ID)
    assert now.session.token == "" and now.session.csrf == signed.session.csrf

    await auth.access.grant(CLI, TRADER_ID, "trader")
    promoted = await auth.resolve(token)
    assert promoted is not None and promoted.actor.role is Role.TRADER

    await auth.access.revoke(CLI, TRADER_ID)
    assert await auth.resolve(token) is None


async def test_each_session_has_its_own_csrf_token_for_its_whole_life(
    auth: DashboardAuth, clock: Clock
) -> None:
    owner = await auth.link_owner()
    one, two = await auth.sign_in(owner, "telegram"), await auth.sign_in(owner, "telegram")
    assert one.session.csrf != two.session.csrf and len(one.session.csrf) == 32
    clock.move(days=6)
    later = await auth.resolve(one.session.token)
    assert later is not None and later.session.csrf == one.session.csrf


async def test_logout_ends_every_session_of_that_user_and_no_one_elses(
    auth: DashboardAuth,
) -> None:
    await auth.access.grant(CLI, TRADER_ID, "trader")
    owner, trader = await auth.link_owner(), await auth.link_owner(TRADER_ID)
    phone = await auth.sign_in(owner, "telegram")
    laptop = await auth.redeem((await auth.login_link(owner)).token)
    theirs = await auth.sign_in(trader, "telegram")

    assert await auth.logout(owner) == 2
    assert await auth.resolve(phone.session.token) is None
    assert await auth.resolve(laptop.session.token) is None
    assert await auth.resolve(theirs.session.token) is not None
    assert await auth.logout(owner) == 0  # nothing left to end
    assert [row[3] for row in await _audited("dashboard.logout")] == [
        {"sessions": 2},
        {"sessions": 0},
    ]


async def test_a_session_lasts_seven_days(auth: DashboardAuth, clock: Clock) -> None:
    signed = await auth.sign_in(await auth.link_owner(), "telegram")
    clock.move(days=7, seconds=-1)
    assert await auth.resolve(signed.session.token) is not None
    clock.move(seconds=1)
    assert await auth.resolve(signed.session.token) is None


async def test_only_a_user_with_a_role_can_sign_in(auth: DashboardAuth) -> None:
    for nobody in (await auth.access.actor(OTHER_ID), Actor("api", None), CLI):
        with pytest.raises(InvalidRequest, match="only a user with a role"):
            await auth.sign_in(nobody, "telegram")
        with pytest.raises(InvalidRequest, match="only a user with a role"):
            await auth.login_link(nobody)


# ---------------------------------------------------------------- storage


async def test_tokens_are_stored_only_as_their_sha256(auth: DashboardAuth) -> None:
    owner = await auth.link_owner()
    link = await auth.login_link(owner)
    signed = await auth.redeem(link.token)
    links, sessions = await _rows("login_links"), await _rows("dashboard_sessions")
    stored = repr(links) + repr(sessions)
    assert link.token not in stored and signed.session.token not in stored
    assert [row["token_hash"] for row in links] == [_sha256(link.token)]
    assert [row["token_hash"] for row in sessions] == [_sha256(signed.session.token)]
    assert link.token not in repr(link) and signed.session.token not in repr(signed)


async def test_forget_expired_deletes_old_links_and_ended_sessions(
    auth: DashboardAuth, clock: Clock
) -> None:
    owner = await auth.link_owner()
    await auth.access.grant(CLI, TRADER_ID, "trader")
    trader = await auth.link_owner(TRADER_ID)
    await auth.login_link(owner)  # never used
    await auth.redeem((await auth.login_link(owner)).token)  # used; its session lives on
    ended = await auth.sign_in(trader, "telegram")
    await auth.logout(trader)
    assert await auth.forget_expired() == 1  # the revoked session only
    assert (len(await _rows("login_links")), len(await _rows("dashboard_sessions"))) == (2, 1)

    clock.move(minutes=10)
    assert await auth.forget_expired() == 2  # both links
    live = await auth.sign_in(owner, "telegram")
    clock.move(days=7, minutes=-5)
    assert await auth.forget_expired() == 1  # the link's session; the newer one lives
    assert [row["token_hash"] for row in await _rows("dashboard_sessions")] == [
        _sha256(live.session.token)
    ]
    assert await auth.resolve(ended.session.token) is None


# ---------------------------------------------------------------- whom `tradebot login-link` is for


async def test_a_link_is_for_the_first_owner_in_settings_order(
    stores: Stores, clock: Clock
) -> None:
    auth = service(stores, clock, admins=[555, OWNER_ID, 444])
    owner = await auth.link_owner()
    assert (owner.key, owner.role, owner.user_id) == ("tg:555", Role.OWNER, 555)
    assert (await auth.link_owner(OWNER_ID)).user_id == OWNER_ID


async def test_without_admins_a_link_is_for_the_local_owner_who_goes_when_admins_come(
    stores: Stores, clock: Clock
) -> None:
    local = service(stores, clock, admins=[])
    owner = await local.link_owner()
    assert owner == Actor("local", Role.OWNER, "local owner", LOCAL_OWNER_ID)
    assert await local.link_owner(LOCAL_OWNER_ID) == owner
    signed = await local.redeem((await local.login_link(owner)).token)
    assert signed.actor == owner
    resolved = await local.resolve(signed.session.token)
    assert resolved is not None and resolved.actor == owner

    with_admins = service(stores, clock)
    assert await with_admins.resolve(signed.session.token) is None
    with pytest.raises(InvalidRequest, match="local owner, who exists only while"):
        await with_admins.link_owner(LOCAL_OWNER_ID)


async def test_a_link_for_a_user_without_a_role_is_refused_saying_how_to_grant_one(
    auth: DashboardAuth,
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        await auth.link_owner(OTHER_ID)
    assert refused.value.user_message == (
        f"user {OTHER_ID} has no role here: grant one first (/users grant {OTHER_ID} viewer), "
        "or leave --user out for an owner"
    )


@pytest.mark.parametrize("user_id", [-5, 2**63, 2**70])
async def test_a_link_for_what_is_no_user_id_is_refused(auth: DashboardAuth, user_id: int) -> None:
    with pytest.raises(InvalidRequest, match="a Telegram user id is a positive number"):
        await auth.link_owner(user_id)


# ---------------------------------------------------------------- any token at all


async def test_no_made_up_token_signs_in_or_breaks_anything(db_url: str, clock: Clock) -> None:
    async with _opened(db_url) as stores:
        auth = service(stores, clock)
        owner = await auth.link_owner()
        real = [
            (await auth.login_link(owner)).token,
            (await auth.sign_in(owner, "t")).session.token,
        ]

        async def check(token: str) -> None:
            if token in real:
                return
            assert await auth.resolve(token) is None
            with pytest.raises(InvalidRequest) as refused:
                await auth.redeem(token)
            assert refused.value.user_message == USED_OR_EXPIRED

        tokens = st.one_of(
            st.text(),
            st.from_regex(r"[A-Za-z0-9_-]{43}", fullmatch=True),  # shaped like a real one
            st.sampled_from([t[:-1] + ("A" if t[-1] != "A" else "B") for t in real]),
            st.sampled_from([t + "\x00" for t in real] + [" " + t for t in real]),
        )
        await asyncio.to_thread(
            run_examples, asyncio.get_running_loop(), tokens, check, max_examples=200
        )
        assert len(await _rows("dashboard_sessions")) == 1  # the real one only
        for token in real[1:]:
            assert await auth.resolve(token) is not None


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
