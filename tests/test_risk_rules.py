"""Risk rules (SPEC §6a) as the core checks them, against arithmetic done by hand: each rule at,
just below and just above its limit, shares of equity, a bot's own values and `off`, the reasons a
sender reads, the risk day, and risk-based sizing."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trading.errors import InvalidRequest
from trading.risk import (
    CHECK_ORDER,
    KEYS,
    OFF,
    AccountFigures,
    Amount,
    EntryRequest,
    Refusal,
    RiskRules,
    StopGuard,
    StopLoss,
    check_entry,
    day_start,
    drawdown,
    effective,
    parse_rules,
    risk_size,
    set_rules,
)

NOW = datetime(2026, 3, 2, 10, 1, tzinfo=UTC)


def figures(**changes: Any) -> AccountFigures:
    """A USDT account of 10,000, flat, at its peak, nothing lost today."""
    base = AccountFigures(
        quote="USDT",
        equity=D(10000),
        day_start_equity=D(10000),
        equity_peak=D(10000),
        open_positions=0,
        open_notional=D(0),
        bot_open_notional=D(0),
        today_pnl=D(0),
    )
    return replace(base, **changes)


def entry(**changes: Any) -> EntryRequest:
    """Bot `demo` buys 0.02 BTCUSDT at 50,000 (1,000 USDT), opening a position."""
    base = EntryRequest(
        bot="demo",
        symbol="BTCUSDT",
        quote="USDT",
        side="long",
        qty=D("0.02"),
        price=D(50000),
        position_qty=D("0.02"),
        position_value=D(1000),
        opens_position=True,
        now=NOW,
    )
    return replace(base, **changes)


def rules(*words: str) -> RiskRules:
    return set_rules(RiskRules(), words)


def refused(rule_words: str, **kw: Any) -> Refusal | None:
    entry_kw = {k: v for k, v in kw.items() if k in EntryRequest.__dataclass_fields__}
    figure_kw = {k: v for k, v in kw.items() if k not in entry_kw}
    return check_entry(rules(*rule_words.split()), figures(**figure_kw), entry(**entry_kw))


# ---- each rule at, just below and just above its limit -------------------------------------


def test_max_position_qty_refuses_only_a_position_above_it() -> None:
    assert refused("max_position_qty=0.5", position_qty=D("0.4999")) is None
    assert refused("max_position_qty=0.5", position_qty=D("0.5")) is None  # would not exceed
    refusal = refused("max_position_qty=0.5", position_qty=D("0.5001"))
    assert refusal == Refusal(
        "max_position_qty",
        "risk: max_position_qty 0.5 would be exceeded (BTCUSDT position 0.5001 after the order)",
    )


def test_max_position_value_as_amount_and_as_share_of_equity() -> None:
    for limit in ("2000", "20%"):  # 20% of 10,000 = 2,000
        assert refused(f"max_position_value={limit}", position_value=D("1999.99")) is None
        assert refused(f"max_position_value={limit}", position_value=D(2000)) is None
        assert refused(f"max_position_value={limit}", position_value=D("2000.01")) is not None
    refusal = refused("max_position_value=20%", position_value=D("2000.01"))
    assert refusal is not None and refusal.reason == (
        "risk: max_position_value 20% (2000 USDT) would be exceeded "
        "(BTCUSDT position 2000.01 USDT after the order)"
    )
    # the share follows equity: 20% of 9,000 is 1,800
    assert refused("max_position_value=20%", position_value=D(1801), equity=D(9000)) is not None
    assert refused("max_position_value=20%", position_value=D(1800), equity=D(9000)) is None


def test_max_open_positions_refuses_opening_one_beyond_and_never_an_add() -> None:
    assert refused("max_open_positions=3", open_positions=2) is None  # the 3rd may open
    refusal = refused("max_open_positions=3", open_positions=3)
    assert refusal == Refusal(
        "max_open_positions", "risk: max_open_positions 3 reached (3 open in USDT)"
    )
    assert refused("max_open_positions=3", open_positions=3, opens_position=False) is None


def test_max_exposure_counts_open_notional_plus_the_order() -> None:
    # 4,000 open + 0.02 × 50,000 = 5,000: at the limit, allowed
    assert refused("max_exposure=5000", open_notional=D(4000)) is None
    assert refused("max_exposure=5000", open_notional=D(4000), qty=D("0.0199998")) is None
    refusal = refused("max_exposure=5000", open_notional=D(4000), qty=D("0.0200002"))
    assert refusal is not None and refusal.reason == (
        "risk: max_exposure 5000 USDT would be exceeded (4000.00 open + 1000.01 order = 5000.01)"
    )
    refusal = refused("max_exposure=50%", open_notional=D("4000.01"))
    assert refusal is not None and refusal.reason == (
        "risk: max_exposure 50% (5000 USDT) would be exceeded "
        "(4000.01 open + 1000.00 order = 5000.01)"
    )


def test_max_exposure_set_on_a_bot_counts_that_bots_notional() -> None:
    account = rules("max_exposure=50%")
    bot = set_rules(RiskRules(), ["max_exposure=1500"], bot=True)
    both = effective(account, bot)
    crowded = figures(open_notional=D(9000), bot_open_notional=D(500))
    assert check_entry(both, crowded, entry()) is None  # 500 + 1,000 = 1,500
    refusal = check_entry(both, crowded, entry(qty=D("0.0200002")))
    assert refusal is not None and refusal.reason == (
        "risk: max_exposure 1500 USDT would be exceeded "
        "(bot demo: 500.00 open + 1000.01 order = 1500.01)"
    )
    # without the bot's own value, the account's 5,000 holds over all positions
    assert check_entry(effective(account, None), crowded, entry()) is not None


def test_daily_loss_limit_refuses_once_reached() -> None:
    assert refused("daily_loss_limit=150", today_pnl=D("-149.99")) is None
    refusal = refused("daily_loss_limit=150", today_pnl=D("-150"))
    assert refusal is not None and refusal.rule == "daily_loss_limit"  # reached: refused
    refusal = refused("daily_loss_limit=150", today_pnl=D("-153.20"))
    assert refusal == Refusal(
        "daily_loss_limit", "risk: daily_loss_limit 150 USDT reached (−153.20 today)"
    )
    assert refused("daily_loss_limit=150", today_pnl=D("500")) is None


def test_daily_loss_limit_share_is_of_the_days_starting_equity() -> None:
    # 1.5% of the day's 10,000 = 150, though equity is now 9,000 (1.5% of it would be 135)
    assert refused("daily_loss_limit=1.5%", today_pnl=D(-140), equity=D(9000)) is None
    refusal = refused("daily_loss_limit=1.5%", today_pnl=D(-150), equity=D(9000))
    assert refusal is not None and refusal.reason == (
        "risk: daily_loss_limit 1.5% (150 USDT) reached (−150.00 today)"
    )


def test_max_drawdown_refuses_at_the_limit_and_trips_the_kill_switch() -> None:
    assert refused("max_drawdown=10%", equity=D("9000.01")) is None
    at_limit = refused("max_drawdown=10%", equity=D(9000))  # (10,000 − 9,000) / 10,000 = 10%
    assert at_limit is not None and at_limit.trips_kill_switch
    refusal = refused("max_drawdown=10%", equity=D(8950))
    assert refusal == Refusal(
        "max_drawdown",
        "risk: max_drawdown 10% reached (−10.5% from peak 10000.00 USDT, equity 8950.00)",
        trips_kill_switch=True,
    )
    other = refused("daily_loss_limit=150", today_pnl=D(-150))
    assert other is not None and not other.trips_kill_switch


def test_cooldown_after_stop_counts_that_symbol_only() -> None:
    def stopped(ago: timedelta, symbol: str = "BTCUSDT") -> Refusal | None:
        stops = (StopLoss(symbol, NOW - ago),)
        return refused("cooldown_after_stop=30", stop_losses=stops)

    refusal = stopped(timedelta(minutes=30, seconds=-1))
    assert refusal == Refusal(
        "cooldown_after_stop",
        "risk: cooldown_after_stop 30 min (stop-loss on BTCUSDT at 2026-03-02 09:31:01 UTC); "
        "entries from 2026-03-02 10:01:01 UTC",
    )
    assert stopped(timedelta(minutes=30)) is None  # exactly 30 minutes ago: not less
    assert stopped(timedelta(minutes=31)) is None
    assert stopped(timedelta(minutes=1), symbol="ETHUSDT") is None


def test_stop_guard_pauses_the_bot_for_m_minutes_after_n_stops_within_m() -> None:
    def guard(*minutes_ago: float) -> Refusal | None:
        stops = tuple(
            StopLoss("BTCUSDT" if i % 2 else "ETHUSDT", NOW - timedelta(minutes=m))
            for i, m in enumerate(minutes_ago)
        )
        return refused("stop_guard=3/60", stop_losses=stops)

    refusal = guard(50, 30, 10)  # 3 stops in 40 minutes (any symbol): paused until 10 + 60
    assert refusal == Refusal(
        "stop_guard",
        "risk: stop_guard 3/60 hit (3 stop-losses within 60 min); "
        "entries paused until 2026-03-02 10:51:00 UTC",
    )
    assert guard(50, 30) is None  # only two
    assert guard(80, 50, 20) is not None  # exactly 60 minutes apart: within the window
    assert guard(80 + 1 / 60, 50, 20) is None  # 60 minutes and a second: not within
    assert guard(130, 100, 70) is None  # paused until 10 minutes ago
    assert guard(100, 80, 60) is None  # the pause ends now: entries resume
    assert guard(100, 80, 60 - 1 / 60) is not None  # a second before it ends


# ---- the order, overrides, exits --------------------------------------------------------------

EVERY_RULE = (
    "max_drawdown=10% daily_loss_limit=150 stop_guard=2/60 cooldown_after_stop=30 "
    "max_open_positions=1 max_exposure=100 max_position_qty=0.01 max_position_value=100"
)


def test_the_first_rule_broken_in_the_documented_order_is_named() -> None:
    assert CHECK_ORDER == (
        "max_drawdown",
        "daily_loss_limit",
        "stop_guard",
        "cooldown_after_stop",
        "max_open_positions",
        "max_exposure",
        "max_position_qty",
        "max_position_value",
    )
    broken = figures(
        equity=D(8000),
        today_pnl=D(-2000),
        open_positions=1,
        stop_losses=(StopLoss("BTCUSDT", NOW - timedelta(minutes=2)),) * 2,
    )
    current = rules(*EVERY_RULE.split())
    for key in CHECK_ORDER:
        refusal = check_entry(current, broken, entry())
        assert refusal is not None and refusal.rule == key
        assert refusal.reason.startswith(f"risk: {key} ")
        current = set_rules(current, [f"{key}=off"])
    assert check_entry(current, broken, entry()) is None


def test_a_bots_own_value_wins_and_off_removes_the_accounts() -> None:
    account = rules("daily_loss_limit=150", "max_open_positions=2")
    losing = figures(today_pnl=D(-200), open_positions=2)
    assert check_entry(effective(account, None), losing, entry()) is not None

    bot = set_rules(RiskRules(), ["daily_loss_limit=300", "max_open_positions=off"], bot=True)
    assert bot.max_open_positions is OFF
    merged = effective(account, bot)
    assert merged.daily_loss_limit == Amount(D(300)) and merged.max_open_positions is None
    assert check_entry(merged, losing, entry()) is None

    bot = set_rules(bot, ["daily_loss_limit=off"], bot=True)
    assert check_entry(effective(account, bot), figures(today_pnl=D(-9000)), entry()) is None
    back = set_rules(bot, ["daily_loss_limit=inherit"], bot=True)
    refusal = check_entry(effective(account, back), losing, entry())
    assert refusal is not None and refusal.rule == "daily_loss_limit"


def test_off_on_the_account_removes_the_rule() -> None:
    account = rules("daily_loss_limit=150", "max_drawdown=10%")
    account = set_rules(account, ["daily_loss_limit=off"])
    assert account.daily_loss_limit is None and account.to_json() == {"max_drawdown": "10%"}
    with pytest.raises(InvalidRequest, match="inherit is for a bot"):
        set_rules(account, ["max_drawdown=inherit"])


def test_no_rules_refuse_nothing_and_currencies_never_mix() -> None:
    assert check_entry(RiskRules(), figures(equity=D(-5), today_pnl=D(-99999)), entry()) is None
    with pytest.raises(ValueError, match="EUR"):
        check_entry(RiskRules(), figures(quote="EUR"), entry())
    with pytest.raises(ValueError, match="timezone-aware"):
        entry(now=datetime(2026, 3, 2, 10, 0))


# ---- parsing and storage -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "key", "form"),
    [
        ("max_leverage=3", "max_leverage", "the rules are max_position_qty"),
        ("max_exposure=1,000", "max_exposure", "a quote amount such as 1000"),
        ("max_exposure=١٠٠", "max_exposure", "share of equity such as 20%"),
        ("max_position_value=-5", "max_position_value", "must not be negative"),
        ("max_exposure=150%", "max_exposure", "at most 100%"),
        ("max_drawdown=10", "max_drawdown", "must be a percentage"),
        ("max_position_qty=5%", "max_position_qty", "a base quantity such as 0.5"),
        ("max_open_positions=0", "max_open_positions", "a whole number such as 3"),
        ("max_open_positions=2.5", "max_open_positions", "whole number from 1"),
        ("daily_loss_limit=0", "daily_loss_limit", "greater than zero"),
        ("daily_reset_hour=24", "daily_reset_hour", "an hour of the day in UTC, 0 to 23"),
        ("daily_reset_hour=-1", "daily_reset_hour", "0 to 23"),
        ("cooldown_after_stop=0", "cooldown_after_stop", "whole minutes such as 30"),
        ("stop_guard=3", "stop_guard", "N/M: N stop-losses within M minutes"),
        ("stop_guard=3/0", "stop_guard", "N/M"),
        ("stop_guard=0/60", "stop_guard", "N/M"),
        ("risk_per_trade=NaN%", "risk_per_trade", "a share of equity such as 1%"),
        ("risk_per_trade=0%", "risk_per_trade", "greater than zero"),
    ],
)
def test_bad_values_are_refused_naming_the_key_and_the_form(word: str, key: str, form: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        set_rules(RiskRules(), [word])
    assert key in raised.value.user_message and form in raised.value.user_message


def test_set_needs_key_equals_value_once() -> None:
    with pytest.raises(InvalidRequest, match="expected KEY=VALUE"):
        set_rules(RiskRules(), ["max_exposure"])
    with pytest.raises(InvalidRequest, match="max_exposure: given twice"):
        set_rules(RiskRules(), ["max_exposure=1", "max_exposure=2"])


def test_values_read_as_written() -> None:
    parsed = parse_rules(
        {
            "max_position_qty": "0.5",
            "max_position_value": " 20 % ",
            "max_open_positions": "03",
            "daily_reset_hour": "0",
            "stop_guard": "3/60",
            "risk_per_trade": "0.5%",
            "max_exposure": "OFF",
        }
    )
    assert parsed.max_position_qty == Amount(D("0.5"))
    assert parsed.max_position_value == Amount(D(20), percent=True)
    assert parsed.max_open_positions == 3 and parsed.daily_reset_hour == 0
    assert parsed.stop_guard == StopGuard(3, 60) and parsed.max_exposure is OFF
    assert parsed.risk_per_trade is not None and parsed.risk_per_trade.fraction == D("0.005")
    assert RiskRules().reset_hour == 0 and rules("daily_reset_hour=8").reset_hour == 8


def test_json_round_trip_for_the_risk_column() -> None:
    stored = set_rules(
        RiskRules(), ["daily_loss_limit=150", "max_drawdown=10%", "stop_guard=3/60"], bot=True
    )
    stored = set_rules(stored, ["max_exposure=off"], bot=True)
    data = stored.to_json()
    assert data == {
        "max_exposure": "off",
        "daily_loss_limit": "150",
        "max_drawdown": "10%",
        "stop_guard": "3/60",
    }
    assert RiskRules.from_json(data) == stored
    assert RiskRules.from_json(json.dumps(data)) == stored
    assert RiskRules.from_json({"max_open_positions": 3}).max_open_positions == 3
    with pytest.raises(InvalidRequest, match="max_leverage"):
        RiskRules.from_json({"max_leverage": "3"})
    with pytest.raises(InvalidRequest, match="max_open_positions"):
        RiskRules.from_json({"max_open_positions": True})


VALUES: dict[str, st.SearchStrategy[str]] = {
    "max_position_qty": st.decimals("0.001", "1000", places=3).map(str),
    "max_position_value": st.one_of(
        st.integers(1, 10**6).map(str), st.integers(1, 100).map(lambda n: f"{n}%")
    ),
    "max_open_positions": st.integers(1, 50).map(str),
    "max_exposure": st.decimals("0.01", "100000", places=2).map(str),
    "daily_loss_limit": st.decimals("0.1", "100", places=1).map(lambda d: f"{d}%"),
    "daily_reset_hour": st.integers(0, 23).map(str),
    "max_drawdown": st.integers(1, 100).map(lambda n: f"{n}%"),
    "cooldown_after_stop": st.integers(1, 1440).map(str),
    "stop_guard": st.tuples(st.integers(1, 10), st.integers(1, 600)).map(
        lambda t: f"{t[0]}/{t[1]}"
    ),
    "risk_per_trade": st.decimals("0.01", "5", places=2).map(lambda d: f"{d}%"),
}
SOME_RULES = st.fixed_dictionaries(
    {}, optional={key: st.one_of(st.just("off"), value) for key, value in VALUES.items()}
)


@given(SOME_RULES)
def test_any_rules_survive_the_json_round_trip(pairs: dict[str, str]) -> None:
    parsed = parse_rules(pairs)
    assert RiskRules.from_json(json.loads(json.dumps(parsed.to_json()))) == parsed
    assert set(parsed.to_json()) == set(pairs)


@given(SOME_RULES, SOME_RULES)
def test_effective_takes_the_bots_value_else_the_accounts_and_never_off(
    account_pairs: dict[str, str], bot_pairs: dict[str, str]
) -> None:
    account, bot = parse_rules(account_pairs), parse_rules(bot_pairs)
    merged = effective(account, bot)
    for key in KEYS:
        own = getattr(bot, key)
        expected = own if own is not None else getattr(account, key)
        assert getattr(merged, key) == (None if expected is OFF else expected)
    assert merged.exposure_scope == ("bot" if isinstance(bot.max_exposure, Amount) else "account")


@given(
    st.decimals("0", "20000", places=2),
    st.decimals("0.01", "5000", places=2),
    st.decimals("1", "20000", places=2),
)
def test_exposure_refuses_exactly_when_it_would_exceed(open_now: D, order: D, limit: D) -> None:
    refusal = refused(
        f"max_exposure={limit}", open_notional=open_now, qty=order / 50000, price=D(50000)
    )
    assert (refusal is not None) == (open_now + order > limit)


# ---- the risk day, drawdown, risk-based sizing ---------------------------------------------------


@pytest.mark.parametrize(
    ("now", "hour", "start"),
    [
        (datetime(2026, 3, 2, 0, 0, tzinfo=UTC), 0, datetime(2026, 3, 2, 0, 0, tzinfo=UTC)),
        (datetime(2026, 3, 2, 23, 59, 59, tzinfo=UTC), 0, datetime(2026, 3, 2, tzinfo=UTC)),
        (datetime(2026, 3, 2, 7, 59, 59, tzinfo=UTC), 8, datetime(2026, 3, 1, 8, tzinfo=UTC)),
        (datetime(2026, 3, 2, 8, 0, tzinfo=UTC), 8, datetime(2026, 3, 2, 8, tzinfo=UTC)),
        (datetime(2026, 3, 2, 0, 30, tzinfo=UTC), 23, datetime(2026, 3, 1, 23, tzinfo=UTC)),
        (datetime(2026, 3, 1, 23, 0, tzinfo=UTC), 23, datetime(2026, 3, 1, 23, tzinfo=UTC)),
        (datetime(2026, 1, 1, 3, 0, tzinfo=UTC), 5, datetime(2025, 12, 31, 5, tzinfo=UTC)),
        # 09:30 at UTC+2 is 07:30 UTC: before the 08:00 UTC reset
        (
            datetime(2026, 3, 2, 9, 30, tzinfo=timezone(timedelta(hours=2))),
            8,
            datetime(2026, 3, 1, 8, tzinfo=UTC),
        ),
    ],
)
def test_day_start_across_the_reset_hour_and_midnight(
    now: datetime, hour: int, start: datetime
) -> None:
    result = day_start(now, hour)
    assert result == start and result.tzinfo == UTC


@given(
    st.datetimes(datetime(2000, 1, 2), datetime(2100, 1, 1), timezones=st.just(UTC)),
    st.integers(0, 23),
)
def test_day_start_is_the_last_reset_hour_at_or_before_now(now: datetime, hour: int) -> None:
    start = day_start(now, hour)
    assert start <= now < start + timedelta(days=1)
    assert (start.hour, start.minute, start.second, start.microsecond) == (hour, 0, 0, 0)


def test_day_start_refuses_naive_times_and_impossible_hours() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        day_start(datetime(2026, 3, 2), 0)
    with pytest.raises(ValueError, match="0 to 23"):
        day_start(NOW, 24)


def test_drawdown_is_the_share_below_the_peak() -> None:
    assert drawdown(D(9000), D(10000)) == D("0.1")
    assert drawdown(D(8950), D(10000)) == D("0.105")
    assert drawdown(D(10500), D(10000)) == 0
    assert drawdown(D(-5), D(0)) == 0


def test_risk_size_loses_the_share_at_the_stop_rounded_down() -> None:
    one_percent = D("0.01")
    # 1% of 10,000 = 100 to lose; 2 to the stop: 50
    assert risk_size(D(10000), one_percent, D(100), D(98), D("0.001"), side="long") == 50
    # 100 / 3 = 33.333…: down to the step
    assert risk_size(D(10000), one_percent, D(100), D(97), D("0.001"), side="long") == D("33.333")
    assert risk_size(D(10000), one_percent, D(100), D(103), D("0.01"), side="short") == D("33.33")
    assert risk_size(D(10000), one_percent, D(100), D(97), D(5), side="long") == 30


def test_risk_size_refuses_an_entry_without_a_usable_stop() -> None:
    one_percent = D("0.01")
    assert risk_size(D(10000), one_percent, D(100), None, D("0.001"), side="long") == Refusal(
        "risk_per_trade", "risk: risk_per_trade 1% needs a stop-loss (none on this entry)"
    )
    wrong = risk_size(D(10000), one_percent, D(100), D(101), D("0.001"), side="long")
    assert wrong == Refusal(
        "risk_per_trade",
        "risk: risk_per_trade 1% needs a stop-loss below the entry for a long "
        "(stop 101, entry 100)",
    )
    for side, stop in (("long", D(100)), ("short", D(99)), ("short", D(100))):
        result = risk_size(D(10000), one_percent, D(100), stop, D("0.001"), side=side)  # type: ignore[arg-type]
        assert isinstance(result, Refusal) and result.rule == "risk_per_trade"
    tiny = risk_size(D(100), one_percent, D(100), D(50), D(1), side="long")  # 1 to lose, 50 a unit
    assert isinstance(tiny, Refusal) and "less than one step 1" in tiny.reason
    broke = risk_size(D(-10), one_percent, D(100), D(50), D(1), side="long")
    assert isinstance(broke, Refusal) and "no equity" in broke.reason


@given(
    equity=st.decimals("1", "10000000", places=2),
    share=st.decimals("0.0001", "0.05", places=4),
    entry_price=st.decimals("0.0001", "100000", places=4),
    stop_share=st.decimals("0.001", "0.5", places=3),
    step=st.sampled_from([D("0.00001"), D("0.001"), D("0.1"), D(1), D(10)]),
    side=st.sampled_from(["long", "short"]),
)
def test_risk_size_never_loses_more_than_the_share_and_one_more_step_would(
    equity: D, share: D, entry_price: D, stop_share: D, step: D, side: str
) -> None:
    move = entry_price * stop_share
    stop = entry_price - move if side == "long" else entry_price + move
    result = risk_size(equity, share, entry_price, stop, step, side=side)  # type: ignore[arg-type]
    budget = share * equity
    distance = abs(entry_price - stop)
    if isinstance(result, Refusal):
        assert result.rule == "risk_per_trade" and step * distance > budget
        return
    assert result > 0 and result % step == 0
    assert result * distance <= budget
    assert (result + step) * distance > budget
