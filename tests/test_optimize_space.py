"""`--space` specs as a trader writes them (SPEC §7a): whole-number ranges for periods, steps
or continuous ranges for levels, choices for a kind of average, and every mistake refused in
one line that quotes the spec."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.optimize import Dimension, SpaceError, default_params, parse_space


def test_a_period_range_is_whole_numbers_and_a_level_range_is_continuous_or_stepped() -> None:
    period, oversold, overbought = parse_space(
        "rsi", ["period=5..30", "oversold=20..40", "overbought=60..80:5"]
    )
    assert period == Dimension("period", "int", 5, 30, 1)
    assert isinstance(period.low, int) and isinstance(period.high, int)
    assert oversold == Dimension("oversold", "float", 20.0, 40.0, None)
    assert overbought == Dimension("overbought", "float", 60.0, 80.0, 5.0)
    assert [str(d) for d in (period, oversold, overbought)] == [
        "period=5..30",
        "oversold=20..40",
        "overbought=60..80:5",
    ]


def test_a_step_that_does_not_divide_the_range_ends_at_the_last_step_below_hi() -> None:
    (period,) = parse_space("rsi", ["period=5..30:10"])
    assert (period.low, period.high, period.step) == (5, 25, 10)  # 5, 15, 25
    (k,) = parse_space("bollinger", ["k=0.5..2.2:0.5"])
    assert (k.low, k.high, k.step) == (0.5, 2.0, 0.5)


def test_choices_take_the_parameters_type_and_one_value_pins_a_parameter() -> None:
    ma, fast, slow = parse_space("ma_cross", ["ma=SMA, ema", "fast=5,10,20", "slow=50"])
    assert ma == Dimension("ma", "choice", choices=("sma", "ema"))
    assert fast.choices == (5, 10, 20) and all(isinstance(c, int) for c in fast.choices)
    assert slow.choices == (50,) and slow.fixed
    (oversold,) = parse_space("rsi", ["oversold=25,30"])
    assert oversold.choices == (25.0, 30.0)


def test_combinations_the_strategy_refuses_are_left_to_the_search_to_prune() -> None:
    # fast 45 with slow 30 is refused per trial, not here.
    fast, slow = parse_space("ma_cross", ["fast=10..60", "slow=20..50"])
    assert (fast.low, fast.high, slow.low, slow.high) == (10, 60, 20, 50)


def test_the_defaults_are_the_strategys_own() -> None:
    assert default_params("rsi") == {"period": 14, "oversold": 30.0, "overbought": 70.0}
    assert default_params("ma_cross") == {"fast": 20, "slow": 50, "ma": "sma"}


@pytest.mark.parametrize(
    ("strategy", "specs", "message"),
    [
        ("rsi", ["period=30..5"], "--space period=30..5: LO must be below HI (30 ≥ 5)"),
        (
            "rsi",
            ["period=5..30:0"],
            "--space period=5..30:0: STEP must be above 0 and at most HI − LO (25)",
        ),
        (
            "rsi",
            ["period=5..30:40"],
            "--space period=5..30:40: STEP must be above 0 and at most HI − LO (25)",
        ),
        (
            "rsi",
            ["lookback=5..30"],
            "--space lookback=5..30: rsi has no parameter 'lookback' "
            "(it takes period, oversold, overbought)",
        ),
        ("rsi", ["period=5..30", "period=7..9"], "--space period=7..9: period is given twice"),
        ("rsi", ["period=1..30"], "--space period=1..30: period must be at least 2 (got 1)"),
        ("rsi", ["oversold=0..40"], "--space oversold=0..40: oversold must be above 0 (got 0)"),
        (
            "rsi",
            ["overbought=60..100"],
            "--space overbought=60..100: overbought must be below 100 (got 100)",
        ),
        (
            "rsi",
            ["period=5.5..30"],
            "--space period=5.5..30: period takes whole numbers (LO is 5.5)",
        ),
        (
            "rsi",
            ["period=5..30:2.5"],
            "--space period=5..30:2.5: period takes whole numbers (STEP is 2.5)",
        ),
        ("rsi", ["period=a..30"], "--space period=a..30: LO must be a number, got 'a'"),
        ("rsi", ["period=5..x"], "--space period=5..x: HI must be a number, got 'x'"),
        ("rsi", ["period=5..nan"], "--space period=5..nan: HI must be a number, got 'nan'"),
        ("rsi", ["period"], "--space period: expected KEY=LO..HI[:STEP] or KEY=A,B,C"),
        ("rsi", ["=5..9"], "--space =5..9: expected KEY=LO..HI[:STEP] or KEY=A,B,C"),
        (
            "rsi",
            ["period=7,,14"],
            "--space period=7,,14: an empty choice (two commas in a row, or one at an end)",
        ),
        ("rsi", ["period=7,7"], "--space period=7,7: the choice 7 is given twice"),
        ("rsi", ["period=1e99..2"], "--space period=1e99..2: LO 1e99 is out of range for period"),
        (
            "ma_cross",
            ["ma=sma..ema"],
            "--space ma=sma..ema: ma takes one of sma,ema: write ma=sma,ema",
        ),
        ("ma_cross", ["ma=wma"], "--space ma=wma: ma takes one of sma, ema, not 'wma'"),
        (
            "rsi",
            [],
            "no --space given: search at least one of rsi's parameters "
            "(period, oversold, overbought), as KEY=LO..HI[:STEP] or KEY=A,B,C",
        ),
        (
            "nope",
            ["x=1..2"],
            "unknown strategy 'nope'; choose one of bollinger, ma_cross, macd, rsi, signal",
        ),
        (
            "signal",
            ["x=1..2"],
            "strategy 'signal' trades what alerts say, so there is nothing to optimise; "
            "choose one of bollinger, ma_cross, macd, rsi",
        ),
    ],
)
def test_a_bad_space_is_refused_in_one_line_naming_the_spec(
    strategy: str, specs: list[str], message: str
) -> None:
    with pytest.raises(SpaceError) as caught:
        parse_space(strategy, specs)
    assert str(caught.value) == message


def test_a_spec_with_a_line_break_is_quoted_on_one_line() -> None:
    with pytest.raises(SpaceError) as caught:
        parse_space("rsi", ["peri\nod=5..9"])
    assert str(caught.value).startswith("--space peri\\nod=5..9: rsi has no parameter")
    assert "\n" not in str(caught.value)


KEYS = {
    "rsi": ["period", "oversold", "overbought"],
    "ma_cross": ["fast", "slow", "ma"],
    "macd": ["fast", "slow", "signal"],
    "bollinger": ["period", "k"],
    "signal": [],
    "?": [],
}
NUMBERS = (
    st.integers(0, 100).map(str)
    | st.integers(2, 60).map(str)
    | st.floats(-10, 1200, allow_nan=False).map(lambda v: f"{v:.3g}")
    | st.sampled_from(["0.5", "1e3", "1e-20", "1e99", "nan", "inf", "-0", "1_0", "٣", "", " 7 "])
)
WORDS = st.sampled_from(["sma", "ema", "SMA", "wma"])
PIECES = st.sampled_from(["=", "..", ":", ",", "-", ".", " ", "\n", "5", "30", "period", "ma"])


@st.composite
def spaces(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A strategy and specs: mostly its own keys with numbers, sometimes anything at all."""
    strategy = draw(st.sampled_from([*["rsi", "bollinger", "ma_cross", "macd"] * 3, "signal", "?"]))
    own = KEYS[strategy] or ["period"]
    keys = st.sampled_from([*own * 3, "x"])
    low = st.integers(2, 40).map(str) | st.integers(2, 9).map(str) | NUMBERS
    high = st.integers(41, 99).map(str) | st.integers(10, 60).map(str) | NUMBERS
    step = st.none() | st.sampled_from(["1", "2", "5", "0.5"]) | NUMBERS
    ranges = st.builds(
        lambda key, lo, hi, step: f"{key}={lo}..{hi}" + (f":{step}" if step is not None else ""),
        keys,
        low,
        high,
        step,
    )
    choices = st.builds(
        lambda key, values: f"{key}={','.join(values)}",
        keys,
        st.lists(NUMBERS | WORDS, min_size=1, max_size=4),
    )
    noise = st.lists(PIECES, max_size=8).map("".join) | st.text(max_size=12)
    if draw(st.integers(0, 4)) == 4:
        return strategy, draw(st.lists(noise, max_size=2))
    some = draw(st.sampled_from([1, 1, 1, 0]))
    specs = draw(st.lists(ranges | choices, min_size=some, max_size=3))
    return strategy, specs


@settings(max_examples=300, deadline=None)
@given(spaces())
def test_any_spec_gives_well_formed_dimensions_or_one_line_of_refusal(
    space_specs: tuple[str, list[str]],
) -> None:
    strategy, specs = space_specs
    try:
        space = parse_space(strategy, specs)
    except SpaceError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert len(space) == len(specs) == len({d.name for d in space})
    for dim in space:
        if dim.kind == "choice":
            assert dim.choices and len(set(dim.choices)) == len(dim.choices)
            continue
        assert dim.low is not None and dim.high is not None and dim.low < dim.high
        if dim.kind == "int":
            assert all(isinstance(v, int) for v in (dim.low, dim.high, dim.step))
        assert dim.contains(dim.low) and dim.contains(dim.high)
        assert dim.nearest(dim.low - 1) == dim.low and dim.nearest(dim.high + 1) == dim.high
