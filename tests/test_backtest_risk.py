"""SPEC §6a's risk rules in a backtest (`run_backtest(..., risk=...)`, `tradebot backtest --risk`):
short price paths whose refusals are worked out by hand. RSI(2) on hourly bars keeps the
signals plain: it buys on every close below the one before it (from the third bar) once two
closes fell. Fees are 0 unless told, so equity moves only with prices."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot.cli_backtest import backtest
from trading.backtest import (
    BacktestConfig,
    BacktestResult,
    Ohlcv,
    build_report,
    from_arrays,
    read_csv,
)
from trading.backtest import run_backtest as _run_backtest
from trading.risk import RiskRules, set_rules

START = 1_704_067_200  # 2024-01-01T00:00:00Z, a Monday
RSI2 = {"period": 2}
ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "synthetic_btcusdt_1h.csv"
# Falls of 3 a bar: every close is an RSI(2) buy from bar 2; a 2% stop-loss is hit inside the
# next bar (its low is its close), at 98% of the entry.
FALLING = [100, 99, 98, 95, 92, 89, 86, 83]


def path(closes: list[float], start: int = START) -> Ohlcv:
    """Hourly bars; each opens at the previous close and spans open..close."""
    opens = [closes[0], *closes[:-1]]
    high = [max(o, c) for o, c in zip(opens, closes, strict=True)]
    low = [min(o, c) for o, c in zip(opens, closes, strict=True)]
    return from_arrays([start + 3600 * i for i in range(len(closes))], opens, high, low, closes)


def run(
    closes: list[float], rules: list[str] | None, *, start: int = START, **config: Any
) -> BacktestResult:
    config.setdefault("fee_bps", D(0))
    risk = set_rules(RiskRules(), rules) if rules is not None else None
    return _run_backtest(path(closes, start), "rsi", RSI2, BacktestConfig(**config), risk=risk)


def trades(result: BacktestResult) -> list[tuple[Any, ...]]:
    return [
        (t.qty, t.entry_price, t.exit_price, t.reason, t.entry_bar, t.exit_bar, t.entries)
        for t in result.trades
    ]


def refused(result: BacktestResult) -> list[tuple[int, str]]:
    return [(bar, refusal.rule) for bar, refusal in result.risk_refusals]


# ---------------------------------------------------------------- no rules: nothing changes


def test_without_rules_the_backtest_is_what_it_was() -> None:
    config = BacktestConfig(size="10%", sl="2%", tp="3%", direction="both")
    data = read_csv(SAMPLE)
    plain = _run_backtest(data, "rsi", None, config)
    none = _run_backtest(data, "rsi", None, config, risk=None)
    empty = _run_backtest(data, "rsi", None, config, risk=RiskRules())
    assert len(plain.trades) > 10
    assert plain.trades == none.trades == empty.trades
    assert plain.final_equity == none.final_equity == empty.final_equity
    assert build_report(plain).as_json() == build_report(none).as_json()
    assert "refused" not in build_report(plain).as_json()
    report = build_report(empty).as_json()
    assert (report["risk"], report["refused"], report["kill_switch"]) == ({}, {}, None)


# ---------------------------------------------------------------- size limits


def test_max_position_qty_refuses_the_add_that_would_exceed_it() -> None:
    # Buy 1 at 98, add 1 at 97 (position 2: at the limit, allowed), add at 96 (3): refused.
    # Bar 5 (99) sells the 2 at an average of 97.5.
    result = run([100, 99, 98, 97, 96, 99], ["max_position_qty=2"], size="1", max_entries=3)
    assert trades(result) == [(2, D("97.5"), 99, "signal", 2, 5, 2)]
    assert refused(result) == [(4, "max_position_qty")]
    assert result.risk_refusals[0][1].reason == (
        "risk: max_position_qty 2 would be exceeded (SYMBOL position 3 after the order)"
    )
    assert result.risk_counts == {"max_position_qty": 1}


def test_max_position_value_is_the_position_after_the_order_at_its_price() -> None:
    # 1 at 98 = 98 > 97.5: refused. 1 at 97 = 97: opened. Adding 1 at 96: 2 × 96 = 192: refused.
    result = run([100, 99, 98, 97, 96, 99], ["max_position_value=97.5"], size="1", max_entries=3)
    assert trades(result) == [(1, 97, 99, "signal", 3, 5, 1)]
    assert refused(result) == [(2, "max_position_value"), (4, "max_position_value")]
    # As a share of equity now: at bar 3 (long 1 at 98, close 97) equity is 9,999, 1% of it
    # 99.99; adding 1 at 97 makes 2 × 97 = 194: refused. The position stays at 1 (sold at 101).
    result = run([100, 99, 98, 97, 99, 101], ["max_position_value=1%"], size="1", max_entries=2)
    assert trades(result) == [(1, 98, 101, "signal", 2, 5, 1)]
    assert result.risk_refusals[0][1].reason == (
        "risk: max_position_value 1% (99.99 QUOTE) would be exceeded "
        "(SYMBOL position 194.00 QUOTE after the order)"
    )


def test_max_exposure_counts_the_open_notional_and_allows_landing_on_the_limit() -> None:
    # Open 1 at 98 (notional 98); the add of 1 at 97 makes 195.
    at_limit = run([100, 99, 98, 97, 96, 99], ["max_exposure=195"], size="1", max_entries=3)
    assert trades(at_limit) == [(2, D("97.5"), 99, "signal", 2, 5, 2)]
    assert refused(at_limit) == [(4, "max_exposure")]  # 195 + 96 = 291
    assert "(195.00 open + 96.00 order = 291.00)" in at_limit.risk_refusals[0][1].reason
    below = run([100, 99, 98, 97, 96, 99], ["max_exposure=194.99"], size="1", max_entries=3)
    # 98 + 97 = 195 > 194.99: the add at 97 is refused, the one at 96 (98 + 96) goes through.
    assert trades(below) == [(2, 97, 99, "signal", 2, 5, 2)]
    assert refused(below) == [(3, "max_exposure")]


# ---------------------------------------------------------------- losses


def test_daily_loss_limit_counts_from_the_days_start_at_the_reset_hour() -> None:
    # Long 1 at 98, stopped at 96.04 (−1.96) in bar 3, long again at 95: today −1.96 < 3.
    # Stopped at 93.10 (−1.90) in bar 4: today −3.86 has reached 3, the entries of bar 4 on
    # are refused all day (the day starts at 00:00 UTC, at the close of bar 0: 10,000).
    midnight = run(FALLING[:7], ["daily_loss_limit=3"], size="1", sl="2%")
    assert trades(midnight) == [
        (1, 98, D("96.04"), "stop_loss", 2, 3, 1),
        (1, 95, D("93.1"), "stop_loss", 3, 4, 1),
    ]
    assert refused(midnight) == [
        (4, "daily_loss_limit"),
        (5, "daily_loss_limit"),
        (6, "daily_loss_limit"),
    ]
    assert midnight.risk_refusals[0][1].reason == (
        "risk: daily_loss_limit 3 QUOTE reached (−3.86 today)"
    )
    # With the day starting at 05:00 UTC, bar 5 (05:00) is the new day's first bar: its close
    # (flat, 9,996.14) is the day's starting equity, so today is 0 and the buy at 89 goes
    # through; it is stopped at 87.22 in bar 6 (−1.78 today, under 3): long again at 86.
    five = run(FALLING[:7], ["daily_loss_limit=3", "daily_reset_hour=5"], size="1", sl="2%")
    assert trades(five) == [
        (1, 98, D("96.04"), "stop_loss", 2, 3, 1),
        (1, 95, D("93.1"), "stop_loss", 3, 4, 1),
        (1, 89, D("87.22"), "stop_loss", 5, 6, 1),
        (1, 86, 86, "end_of_data", 6, 6, 1),
    ]
    assert refused(five) == [(4, "daily_loss_limit")]
    assert five.risk_counts == {"daily_loss_limit": 1}  # daily_reset_hour refuses nothing


def test_daily_loss_limit_as_a_share_counts_unrealized_losses_too() -> None:
    # size 10: long 10 at 98 (bar 2). Bar 3 closes at 88: unrealized −100 = 1% of the day's
    # starting 10,000: the add is refused (max_entries 2); bar 4's add at 80 too (−180).
    result = run([100, 99, 98, 88, 80, 99], ["daily_loss_limit=1%"], size="10", max_entries=2)
    assert refused(result) == [(3, "daily_loss_limit"), (4, "daily_loss_limit")]
    assert "daily_loss_limit 1% (100 QUOTE) reached (−100.00 today)" in (
        result.risk_refusals[0][1].reason
    )
    assert trades(result) == [(10, 98, 99, "signal", 2, 5, 1)]


def test_max_drawdown_trips_a_kill_switch_that_holds_for_the_rest_of_the_backtest() -> None:
    # Long 10 at 98 (peak 10,000). Bar 3 closes at 88: equity 9,900, 1% under the peak: the
    # add is refused and the kill switch trips. Bar 5 sells at 110 (+120: equity 10,120, a new
    # peak); bar 8's buy at 95 would be within 1% of it, but the kill switch holds.
    closes = [100, 99, 98, 88, 100, 110, 105, 100, 95]
    result = run(closes, ["max_drawdown=1%"], size="10", max_entries=2)
    assert trades(result) == [(10, 98, 110, "signal", 2, 5, 1)]
    assert refused(result) == [(3, "max_drawdown"), (8, "max_drawdown")]
    assert result.risk_refusals[0][1].reason == (
        "risk: max_drawdown 1% reached (−1% from peak 10000.00 QUOTE, equity 9900.00)"
    )
    assert "tripped the kill switch at 2024-01-01 03:00 UTC" in result.risk_refusals[1][1].reason
    assert result.kill_switch is not None and result.kill_switch[0] == 3
    report = build_report(result)
    assert report.refused == {"max_drawdown": 2}
    assert report.as_json()["kill_switch"] == "2024-01-01T03:00:00Z"
    assert ("Kill switch", "tripped 2024-01-01 03:00 UTC") in report.rows()
    # 1.01%: bar 3's add goes through (20 at 93), and bar 8 buys again.
    loose = run(closes, ["max_drawdown=1.01%"], size="10", max_entries=2)
    assert trades(loose) == [
        (20, 93, 110, "signal", 2, 5, 2),
        (10, 95, 95, "end_of_data", 8, 8, 1),
    ]
    assert loose.risk_refusals == [] and loose.kill_switch is None


def test_the_peak_is_sampled_at_bar_closes_between_fills() -> None:
    # Long 10 at 98; bar 3 closes at 120: equity 10,220, the peak, sampled at a close with no
    # fill. Bar 5 closes at 100, an RSI(2) buy below oversold 35: equity 10,020, 200 under the
    # peak = 1.9569%. overbought 99 keeps the RSI from selling.
    closes = [100, 99, 98, 120, 110, 100]
    data = path(closes)
    risk = set_rules(RiskRules(), ["max_drawdown=1.5%"])
    params = {"period": 2, "overbought": 99, "oversold": 35}
    config = BacktestConfig(size="10", max_entries=3, fee_bps=D(0))
    result = _run_backtest(data, "rsi", params, config, risk=risk)
    assert [(bar, refusal.rule) for bar, refusal in result.risk_refusals] == [(5, "max_drawdown")]
    assert "from peak 10220.00 QUOTE, equity 10020.00" in result.risk_refusals[0][1].reason
    assert [(t.qty, t.entries, t.reason) for t in result.trades] == [(10, 1, "end_of_data")]


# ---------------------------------------------------------------- stop-losses


def test_cooldown_after_stop_waits_its_minutes_from_the_stop_losss_bar() -> None:
    # Stops in bars 3 (03:00), then entries one bar later. 60 min: the buy at bar 3's close
    # (0 min after) is refused, bar 4's (60 min) goes through; and so on.
    sixty = run(FALLING, ["cooldown_after_stop=60"], size="1", sl="2%")
    assert [(t.entry_bar, t.exit_bar, t.reason) for t in sixty.trades] == [
        (2, 3, "stop_loss"),
        (4, 5, "stop_loss"),
        (6, 7, "stop_loss"),
    ]
    assert refused(sixty) == [
        (3, "cooldown_after_stop"),
        (5, "cooldown_after_stop"),
        (7, "cooldown_after_stop"),
    ]
    assert sixty.risk_refusals[0][1].reason == (
        "risk: cooldown_after_stop 60 min (stop-loss on SYMBOL at 2024-01-01 03:00:00 UTC); "
        "entries from 2024-01-01 04:00:00 UTC"
    )
    # 61 min: bar 4 (60 min after) is refused too.
    longer = run(FALLING, ["cooldown_after_stop=61"], size="1", sl="2%")
    assert [t.entry_bar for t in longer.trades] == [2, 5]
    assert [bar for bar, _ in refused(longer)] == [3, 4, 6, 7]


def test_stop_guard_pauses_entries_for_its_window_after_n_stops() -> None:
    # Stops at 03:00 and 04:00: 2 within 120 min: entries pause until 06:00 (bars 4 and 5).
    # Bar 6 buys at 86; its stop at 07:00 is 180 min after 04:00: no new pause, bar 7 buys.
    result = run(FALLING, ["stop_guard=2/120"], size="1", sl="2%")
    assert [(t.entry_bar, t.reason) for t in result.trades] == [
        (2, "stop_loss"),
        (3, "stop_loss"),
        (6, "stop_loss"),
        (7, "end_of_data"),
    ]
    assert refused(result) == [(4, "stop_guard"), (5, "stop_guard")]
    assert result.risk_refusals[0][1].reason.endswith(
        "entries paused until 2024-01-01 06:00:00 UTC"
    )


def test_trailing_stops_and_take_profits_are_not_stop_losses() -> None:
    # The same fall with a trailing stop: it closes as trailing_stop, and no cooldown follows.
    result = run(FALLING[:5], ["cooldown_after_stop=600"], size="1", trail="2%")
    assert {t.reason for t in result.trades} == {"trailing_stop", "end_of_data"}
    assert result.risk_refusals == []


# ---------------------------------------------------------------- risk-based sizing


def test_risk_per_trade_sizes_equity_times_share_over_the_stop_distance() -> None:
    # 1% of 10,000 = 100 to lose; entry 98, stop 2% = 96.04: 100 / 1.96 = 51.020408163…,
    # rounded down to 1e-8. It loses 51.02040816 × 1.96 = 99.9999999936; the next entry (95,
    # stop 93.10) risks 1% of 9,900.0000000064: 99.000000000064 / 1.90 = 52.105263158…
    result = run(FALLING[:5], ["risk_per_trade=1%"], size="1", sl="2%")
    first, second, _ = result.trades
    assert first.qty == D("51.02040816") == (D(100) / D("1.96")).quantize(D("1e-8"), "ROUND_DOWN")
    assert first.pnl == D("-99.9999999936")
    equity = D(10000) + first.pnl
    assert second.qty == (equity / 100 / D("1.9")).quantize(D("1e-8"), "ROUND_DOWN")
    assert second.qty == D("52.10526315")
    assert result.risk_counts == {"risk_per_trade": 0}


def test_risk_per_trade_is_capped_by_the_size_limits() -> None:
    result = run(FALLING[:5], ["risk_per_trade=1%", "max_position_qty=50"], size="1", sl="2%")
    assert [t.qty for t in result.trades] == [50, 50, 50]
    assert result.risk_refusals == []


def test_risk_per_trade_refuses_an_entry_without_a_stop_loss() -> None:
    result = run(FALLING[:5], ["risk_per_trade=1%"], size="1")
    assert result.trades == []
    assert refused(result) == [(2, "risk_per_trade"), (3, "risk_per_trade"), (4, "risk_per_trade")]
    assert result.risk_refusals[0][1].reason == (
        "risk: risk_per_trade 1% needs a stop-loss (none on this entry)"
    )


# ---------------------------------------------------------------- reversals and exits


def test_a_reversal_whose_opening_part_is_refused_closes_and_stays_flat() -> None:
    # Long 1 at 98; bar 4's sell at 101 would close it and open a short of 1: 101 > 100.
    result = run([100, 99, 98, 99, 101], ["max_position_value=100"], size="1", direction="both")
    assert trades(result) == [(1, 98, 101, "signal", 2, 4, 1)]
    assert [f.kind for f in result.fills] == ["open", "close"]
    assert refused(result) == [(4, "max_position_value")]
    # An absolute stop at 97 is below a short's entry: risk_per_trade refuses the short, but
    # the long (98 − 97 = 1 to the stop: 100 / 1 = 100) opens and its close goes through.
    sized = run([100, 99, 98, 99, 101], ["risk_per_trade=1%"], sl="97", direction="both")
    assert trades(sized) == [(100, 98, 101, "signal", 2, 4, 1)]
    assert "needs a stop-loss above the entry for a short" in sized.risk_refusals[0][1].reason


def test_exits_go_through_whatever_the_rules_say() -> None:
    # Every rule as tight as it goes: the stop-losses and the final close still fill.
    rules = ["daily_loss_limit=0.01", "max_position_qty=1", "cooldown_after_stop=1"]
    result = run(FALLING[:4], rules, size="1", sl="2%")
    assert [(t.reason, t.exit_bar) for t in result.trades] == [("stop_loss", 3)]
    assert refused(result) == [(3, "daily_loss_limit")]


# ---------------------------------------------------------------- the CLI


CSV_HEAD = "time,open,high,low,close,volume\n"


def write_csv(tmp_path: Path, closes: list[float]) -> Path:
    data = path(closes)
    lines = [
        f"{data.datetime_at(i):%Y-%m-%dT%H:%M:%SZ},{data.open[i]},{data.high[i]},"
        f"{data.low[i]},{data.close[i]},1"
        for i in range(len(closes))
    ]
    target = tmp_path / "bars.csv"
    target.write_text(CSV_HEAD + "\n".join(lines) + "\n")
    return target


def test_cli_risk_options_apply_the_rules_and_report_the_refusals(tmp_path: Path) -> None:
    csv_path = str(write_csv(tmp_path, FALLING[:7]))
    base = ["--csv", csv_path, "--param", "period=2", "--qty", "1", "--sl", "2%", "--fee-bps", "0"]
    result = CliRunner().invoke(
        backtest, [*base, "--risk", "daily_loss_limit=3", "--risk", "daily_reset_hour=5", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [t["entry_price"] for t in data["trades"]] == ["98", "95", "89", "86"]
    report = data["report"]
    assert report["risk"] == {"daily_loss_limit": "3", "daily_reset_hour": "5"}
    assert report["refused"] == {"daily_loss_limit": 1}
    assert report["kill_switch"] is None

    plain = CliRunner().invoke(backtest, [*base, "--json"])
    assert plain.exit_code == 0, plain.output
    report = json.loads(plain.output)["report"]
    assert "refused" not in report and "risk" not in report and "kill_switch" not in report
    assert len(json.loads(plain.output)["trades"]) == 5

    # Stopped at 96.04 in bar 3: 9,998.04 is 0.0196% under the peak: bar 3's entry trips the
    # kill switch, which refuses bars 4, 5 and 6 too.
    table = CliRunner().invoke(backtest, [*base, "--risk", "max_drawdown=0.01%"])
    assert table.exit_code == 0, table.output
    assert "Refused by risk" in table.output and "max_drawdown 4" in table.output
    assert "Kill switch" in table.output and "tripped 2024-01-01 03:00 UTC" in table.output


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("max_drawdown=ten", "max_drawdown: "),
        ("max_drawdown=150%", "max_drawdown: must be at most 100%"),
        ("daily_reset_hour=24", "daily_reset_hour: must be a whole number from 0 to 23"),
        ("stop_guard=3", "stop_guard: must be N/M"),
        ("max_leverage=2", "unknown risk rule 'max_leverage'"),
        ("max_drawdown", "expected KEY=VALUE"),
        ("max_exposure=inherit", "max_exposure: inherit is for a bot's rules"),
    ],
)
def test_cli_bad_risk_values_are_one_line_naming_the_option_and_key(
    tmp_path: Path, value: str, message: str
) -> None:
    csv_path = str(write_csv(tmp_path, FALLING[:5]))
    result = CliRunner().invoke(backtest, ["--csv", csv_path, "--risk", value])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and "'--risk'" in errors[0] and message in errors[0], result.output


def test_cli_the_same_key_twice_is_refused(tmp_path: Path) -> None:
    csv_path = str(write_csv(tmp_path, FALLING[:5]))
    result = CliRunner().invoke(
        backtest, ["--csv", csv_path, "--risk", "max_drawdown=5%", "--risk", "max_drawdown=6%"]
    )
    assert result.exit_code == 2
    assert "'--risk'" in result.output and "max_drawdown: given twice" in result.output
