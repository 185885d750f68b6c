"""Backtest output a trader can trust: a default size whose figures move (and a warning when a
run stakes next to nothing), the reason orders were refused, a chart with the strategy's
indicator and buy & hold in the format the file name asks for, and CSV files as exports write
them (`;`, newest first) read, or refused naming the line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from click.testing import CliRunner, Result

from bot.cli_backtest import backtest
from handlers.charts import backtest_chart
from tests.test_backtest_cli import CSV, SAMPLE  # RSI(2): buy at 98 (bar 2), sell at 101 (bar 4)
from trading import indicators
from trading.backtest import BacktestConfig, DataError, read_csv, run_backtest
from trading.backtest.indicator_lines import indicator_lines

RSI2 = ("--param", "period=2")


def tradebot_backtest(*args: str) -> Result:
    return CliRunner().invoke(backtest, list(args))


def write(tmp_path: Path, text: str | bytes, name: str = "bars.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def one_error(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, result.output
    return errors[0]


def trades(result: Result) -> list[dict[str, str]]:
    assert result.exit_code == 0, result.output
    return list(json.loads(result.output)["trades"])


# ---------------------------------------------------------------- size


def test_the_default_size_is_ten_percent_of_equity_and_moves_the_figures(tmp_path: Path) -> None:
    result = tradebot_backtest("--csv", str(write(tmp_path, CSV)), *RSI2, "--json")
    data = json.loads(result.output)
    (trade,) = data["trades"]
    # 10 % of 10,000 at 98: 10.20408163 (rounded down to 1e-8)
    assert trade["qty"] == "10.20408163"
    assert data["report"]["size"] == "10%"
    assert data["report"]["largest_entry_pct"] == pytest.approx(10, abs=0.01)
    assert data["report"]["warnings"] == []


def test_a_run_staking_under_one_percent_of_equity_per_entry_is_flagged(tmp_path: Path) -> None:
    path = str(write(tmp_path, CSV))
    small = tradebot_backtest("--csv", path, *RSI2, "--size", "1")  # 98 of 10,000: 0.98 %
    assert small.exit_code == 0, small.output
    assert "warning: every entry staked under 1% of equity (at most 0.98%, size 1)" in small.output
    as_json = json.loads(tradebot_backtest("--csv", path, *RSI2, "--size", "1", "--json").output)
    assert as_json["report"]["warnings"] == [
        "every entry staked under 1% of equity (at most 0.98%, size 1): the figures barely "
        "move; try a size like 10%"
    ]
    enough = tradebot_backtest("--csv", path, *RSI2, "--size", "1.1")  # 107.8: 1.08 %
    assert enough.exit_code == 0 and "warning" not in enough.output


# ---------------------------------------------------------------- refusals


def test_a_refused_order_says_why_with_the_figures(tmp_path: Path) -> None:
    path = str(write(tmp_path, CSV))
    table = tradebot_backtest("--csv", path, *RSI2, "--size", "200", "--json")
    report = json.loads(table.output)["report"]
    assert report["refused_orders"] == 1
    assert report["refused_reason"] == (
        "2024-01-01 02:00: insufficient balance: cash 10,000.00 < notional 19,600.00 "
        "+ fee 19.60 (200 at 98)"
    )
    shown = tradebot_backtest("--csv", path, *RSI2, "--size", "200")
    assert shown.exit_code == 0, shown.output
    assert "Refused orders" in shown.output  # the count, in the table
    assert (
        "1 order refused, the first 2024-01-01 02:00: insufficient balance: cash 10,000.00 < "
        "notional 19,600.00 + fee 19.60 (200 at 98)\n"
    ) in shown.output
    all_in = json.loads(tradebot_backtest("--csv", path, *RSI2, "--size", "100%", "--json").output)
    assert all_in["report"]["refused_reason"].endswith(
        "(102.04081632 at 98); a size of 100% leaves too little for the fee"
    )
    fine = json.loads(tradebot_backtest("--csv", path, *RSI2, "--json").output)["report"]
    assert (fine["refused_orders"], fine["refused_reason"]) == (0, None)


# ---------------------------------------------------------------- chart


def test_the_chart_has_the_rsi_with_its_thresholds_and_buy_and_hold() -> None:
    data = read_csv(SAMPLE)
    result = run_backtest(data, "rsi", {"period": 10, "oversold": 25}, BacktestConfig())
    lines = indicator_lines(result)
    assert lines is not None and not lines.on_price
    assert lines.title == "RSI(10)" and lines.limits == (0.0, 100.0)
    assert lines.levels == (("overbought 70", 70.0), ("oversold 25", 25.0))
    np.testing.assert_array_equal(lines.lines["RSI"], indicators.rsi(data.close, 10))
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text as text, to read it
        svg = backtest_chart(result, fmt="svg").decode()
    for text in ("RSI(10)", "overbought 70", "oversold 25", "buy &amp; hold", "strategy"):
        assert text in svg, text


def test_bands_and_averages_are_drawn_over_the_price() -> None:
    data = read_csv(SAMPLE)
    bands = indicator_lines(run_backtest(data, "bollinger"))
    assert (
        bands is not None
        and bands.on_price
        and list(bands.lines)
        == [
            "upper",
            "middle",
            "lower",
        ]
    )
    cross = indicator_lines(run_backtest(data, "ma_cross", {"fast": 10, "slow": 30}))
    assert cross is not None and cross.on_price and list(cross.lines) == ["SMA 10", "SMA 30"]
    macd = indicator_lines(run_backtest(data, "macd"))
    assert macd is not None and not macd.on_price and macd.levels == (("0", 0.0),)


@pytest.mark.parametrize(
    ("name", "magic"), [("out.png", b"\x89PNG\r\n"), ("out.SVG", b"<?xml"), ("out.pdf", b"%PDF-")]
)
def test_plot_writes_the_format_its_extension_names(
    tmp_path: Path, name: str, magic: bytes
) -> None:
    plot = tmp_path / name
    result = tradebot_backtest("--csv", str(SAMPLE), "--plot", str(plot))
    assert result.exit_code == 0, result.output
    assert plot.read_bytes().startswith(magic)


def test_plot_with_another_extension_is_one_line_before_the_run(tmp_path: Path) -> None:
    for name in ("out.jpg", "charts/chart"):
        error = one_error(tradebot_backtest("--csv", str(SAMPLE), "--plot", str(tmp_path / name)))
        assert "'--plot'" in error and ".png, .svg, .pdf" in error
    (tmp_path / "notes.txt").write_text("")
    error = one_error(
        tradebot_backtest("--csv", str(SAMPLE), "--plot", str(tmp_path / "notes.txt" / "a.png"))
    )
    assert "'--plot'" in error and "is not a writable folder" in error
    short = str(write(tmp_path, CSV))  # the run fails (too short): no folder is left behind
    one_error(tradebot_backtest("--csv", short, "--plot", str(tmp_path / "charts" / "out.png")))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bars.csv", "notes.txt"]


# ---------------------------------------------------------------- input


def test_semicolons_and_newest_first_give_the_same_trades(tmp_path: Path) -> None:
    plain = trades(tradebot_backtest("--csv", str(write(tmp_path, CSV)), *RSI2, "--json"))
    header, *rows = CSV.strip().splitlines()
    semicolons = CSV.replace(",", ";")
    newest_first = "\n".join([header, *reversed(rows)]) + "\n"
    both = semicolons.splitlines()[0] + "\n" + "\n".join(reversed(semicolons.splitlines()[1:]))
    for text in (semicolons, newest_first, both):
        path = write(tmp_path, text, "other.csv")
        assert trades(tradebot_backtest("--csv", str(path), *RSI2, "--json")) == plain
        assert read_csv(path).time.tolist() == read_csv(io.StringIO(CSV)).time.tolist()


def test_the_sample_newest_first_is_the_sample(tmp_path: Path) -> None:
    header, *rows = SAMPLE.read_text().splitlines()
    path = write(tmp_path, "\n".join([header, *reversed(rows)]) + "\n")
    turned, sample = read_csv(path), read_csv(SAMPLE)
    for column in ("time", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(turned, column), getattr(sample, column))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (CSV.replace("99,98,98,1", "97,98,98,1"), "line 4: high 97 is below low 98"),
        (
            "\n".join([CSV.splitlines()[0], *reversed(CSV.replace("99,98,98,1", "97,98,98,1")
                                                      .strip().splitlines()[1:])]),
            "line 4: high 97 is below low 98",
        ),
        (CSV.replace("T03:00", "T02:00"), "line 5: times must increase"),
        (CSV.replace(",", ";").replace("T03:00", "T00:30"), "line 5: times must increase"),
    ],
)  # fmt: skip
def test_a_bad_bar_is_refused_naming_its_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_csv(io.StringIO(text))
    path = write(tmp_path, text)
    error = one_error(tradebot_backtest("--csv", str(path), *RSI2))
    assert "'--csv'" in error and str(path) in error and message in error


def test_a_file_that_is_not_utf8_is_one_line_naming_the_file_and_line(tmp_path: Path) -> None:
    latin1 = CSV.replace("volume", "volume (€)").encode("cp1252")
    late = CSV.encode() + "2024-01-01T05:00:00Z,101,101,101,101,1 ü\n".encode("latin-1")
    for name, raw, line in (
        ("latin1.csv", latin1, 1),
        ("late.csv", late, 7),
        ("utf16.csv", CSV.encode("utf-16"), 1),
    ):  # fmt: skip
        path = write(tmp_path, raw, name)
        error = one_error(tradebot_backtest("--csv", str(path)))
        assert f"{path}: line {line}: not UTF-8 text" in error and "'--csv'" in error


def test_a_file_shorter_than_the_warm_up_says_how_many_bars_it_needs(tmp_path: Path) -> None:
    path = write(tmp_path, CSV)
    error = one_error(tradebot_backtest("--csv", str(path)))
    assert f"{path}: needs at least 15 bars for rsi(14), the file has 5" in error
    error = one_error(tradebot_backtest("--csv", str(path), "--strategy", "macd"))
    assert "needs at least 35 bars for macd(12, 26, 9), the file has 5" in error
    assert tradebot_backtest("--csv", str(path), "--param", "period=4").exit_code == 0
