"""`tradebot backtest` as a trader runs it: a table (or JSON) of the report and trades, a chart
file, and one clear line for every bad option."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

from click.testing import CliRunner

from bot.cli_backtest import backtest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "synthetic_btcusdt_1h.csv"

# RSI(2): two losses -> RSI 0 on bar 2 (buy at 98); +1 -> 50; +2 -> 83.3 (sell at 101).
CSV = """time,open,high,low,close,volume
2024-01-01T00:00:00Z,100,100,100,100,1
2024-01-01T01:00:00Z,100,100,99,99,1
2024-01-01T02:00:00Z,99,99,98,98,1
2024-01-01T03:00:00Z,98,99,98,99,1
2024-01-01T04:00:00Z,99,101,99,101,1
"""


def write_csv(tmp_path: Path, text: str = CSV, name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_json_report_and_trades(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        backtest,
        [
            "--strategy",
            "rsi",
            "--csv",
            str(write_csv(tmp_path)),
            "--param",
            "period=2",
            "--qty",
            "1",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["trades"] == [
        {
            "side": "long",
            "entry_time": "2024-01-01T02:00:00Z",
            "entry_price": "98",
            "exit_time": "2024-01-01T04:00:00Z",
            "exit_price": "101",
            "qty": "1",
            "pnl": "2.801",  # 3 - fees 0.098 - 0.101
            "fees": "0.199",
            "entries": 1,
            "reason": "signal",
        }
    ]
    report = data["report"]
    assert report["trades"] == 1 and report["win_rate_pct"] == 100
    assert report["final_equity"] == "10002.801"
    assert report["total_return_pct"] == round(2.801 / 100, 4)
    assert report["exposure_pct"] == 40
    assert report["params"] == {"period": 2, "oversold": 30.0, "overbought": 70.0}


def test_parameters_can_share_one_option(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        backtest,
        ["--csv", str(write_csv(tmp_path)), "--param", "period=2,oversold=20", "--json"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)["report"]
    assert report["params"] == {"period": 2, "oversold": 20.0, "overbought": 70.0}
    assert report["size"] == "10%"  # the backtest default: a share of equity
    for key in ("cagr_pct", "max_drawdown_pct", "sharpe", "profit_factor", "buy_and_hold_pct"):
        assert key in report


def test_an_open_position_is_closed_at_the_last_close(tmp_path: Path) -> None:
    text = "\n".join(CSV.splitlines()[:5]) + "\n"  # ends on bar 3 (close 99), still long
    result = CliRunner().invoke(
        backtest,
        ["--csv", str(write_csv(tmp_path, text)), "--param", "period=2", "--qty", "1", "--json"],
    )
    trade = json.loads(result.output)["trades"][0]
    assert (trade["exit_price"], trade["reason"]) == ("99", "end_of_data")
    assert D(trade["pnl"]) == D(1) - (D(98) + D(99)) * D("0.001")


def test_table_and_chart_for_the_sample(tmp_path: Path) -> None:
    plot = tmp_path / "charts" / "out.png"
    result = CliRunner().invoke(
        backtest, ["--strategy", "rsi", "--csv", str(SAMPLE), "--qty", "0.1", "--plot", str(plot)]
    )
    assert result.exit_code == 0, result.output
    for label in (
        "Total return",
        "CAGR",
        "Max drawdown",
        "Sharpe",
        "Win rate",
        "Profit factor",
        "Trades",
        "Exposure",
        "2,000 bars",
    ):
        assert label in result.output
    assert f"chart written to {plot}" in result.output
    png = plot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (1000, 950)  # price, RSI, equity, drawdown


def test_every_strategy_runs_on_the_sample() -> None:
    for name in ("rsi", "ma_cross", "macd", "bollinger"):
        result = CliRunner().invoke(
            backtest,
            ["--strategy", name, "--csv", str(SAMPLE), "--json", "--size", "10%", "--sl", "3%"],
        )
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        assert data["report"]["strategy"] == name and data["report"]["trades"] > 0
        equity = D(data["report"]["final_equity"])
        assert equity == D(10000) + sum(D(t["pnl"]) for t in data["trades"])


def test_bad_options_are_one_line_naming_the_option(tmp_path: Path) -> None:
    csv_path = str(write_csv(tmp_path))
    cases = [
        (["--csv", csv_path, "--param", "period=1"], "'--param'", "rsi parameter period"),
        (["--csv", csv_path, "--param", "oops"], "'--param'", "expected key=value"),
        (["--csv", csv_path, "--strategy", "nope"], "'--strategy'", "unknown strategy 'nope'"),
        (["--csv", csv_path, "--strategy", "signal"], "'--strategy'", "nothing to replay"),
        (["--csv", csv_path, "--size", "lots"], "'--size'", "size must be a quantity"),
        (["--csv", csv_path, "--sl", "x%"], "'--sl'", "must be a price or a percentage"),
        (["--csv", str(tmp_path / "missing.csv")], "'--csv'", "does not exist"),
        (
            ["--csv", str(write_csv(tmp_path, CSV.replace(",98,1", ",x,1"), "bad.csv"))],
            "'--csv'",
            "line 4: close must be a number",
        ),
    ]
    for args, option, message in cases:
        result = CliRunner().invoke(backtest, args)
        assert result.exit_code == 2, (args, result.output)
        error = [line for line in result.output.splitlines() if line.startswith("Error")]
        assert len(error) == 1 and option in error[0] and message in error[0], result.output
