"""Telegram Mini App `initData` as the dashboard checks it (SPEC §10): Telegram's signature with
this bot's token, `auth_date` at most 24 h old and not ahead of our clock, a user in it; whatever
else arrives is refused with `InitDataRefused`, never another exception."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.web.dashboard.init_data import InitDataRefused, check_init_data
from tests.test_dashboard_api import TOKEN, init_data


def test_good_init_data_names_its_user() -> None:
    user = check_init_data(TOKEN, init_data(222))
    assert (user.id, user.name) == (222, "alice")


@pytest.mark.parametrize(
    ("label", "data", "reason"),
    [
        ("another bot's token", init_data(222, token="43:OTHER"), "signature"),
        ("one minute past 24 h", init_data(222, age=24 * 3600 + 60), "expired"),
        ("an hour ahead", init_data(222, age=-3600), "future"),
        ("empty", "", "missing"),
        ("huge", "a=" + "b" * 10_000, "too long"),
    ],
)
def test_refused(label: str, data: str, reason: str) -> None:
    with pytest.raises(InitDataRefused, match=reason):
        check_init_data(TOKEN, data)


def test_just_inside_24_hours_is_accepted_and_the_age_is_measured_from_now() -> None:
    data = init_data(222, age=0)
    auth = datetime.fromtimestamp(int(dict(parse_qsl(data))["auth_date"]), UTC)
    check_init_data(TOKEN, data, now=auth + timedelta(hours=24))
    with pytest.raises(InitDataRefused, match="expired"):
        check_init_data(TOKEN, data, now=auth + timedelta(hours=24, seconds=1))


@pytest.mark.parametrize("field", ["user", "auth_date", "query_id"])
def test_any_signed_field_changed_breaks_the_signature(field: str) -> None:
    fields = dict(parse_qsl(init_data(222)))
    fields[field] = fields[field].replace("2", "3").replace("A", "B").replace("alice", "eve")
    with pytest.raises(InitDataRefused, match="signature"):
        check_init_data(TOKEN, urlencode(fields))


GOOD = init_data(222)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=300),
        st.builds(
            lambda good, cut, junk: good[:cut] + junk + good[cut:],
            st.just(GOOD),
            st.integers(0, 300),
            st.text(max_size=8),
        ),
    )
)
def test_anything_else_is_refused_and_nothing_else_is_raised(data: str) -> None:
    try:
        check_init_data(TOKEN, data)
    except InitDataRefused:
        return
    # only a string that still carries a valid signature may pass
    assert dict(parse_qsl(data)).get("hash") == dict(parse_qsl(GOOD)).get("hash")
