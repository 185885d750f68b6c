"""`tradebot optimize` as a trader runs it (SPEC §7a): the JSON shape, a best run that
`tradebot backtest` replays to the same figures, the same seed giving the same answer,
walk-forward folds side by side, the chart's three panels, and one line for every bad option.

The bars are a seeded, mean-reverting walk (a few thousand hourly bars), so RSI parameters
matter and trade often enough; each search runs 12 trials to stay fast."""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

Cli = Callable[..., tuple[int, str]]
BARS = 2400
SEARCH = (
    "--strategy", "rsi", "--csv", "bars.csv",
    "--space", "period=5..30", "--space", "oversold=20..40", "--space", "overbought=60..80:5",
    "--trials", "12", "--seed", "7",
)  # fmt: skip


def write_bars(folder: Path, n: int = BARS) -> Path:
    """Hourly bars: a cycle of about 94 bars under noise that reverts, so RSI extremes revert."""
    rng = np.random.default_rng(5)
    level = np.zeros(n)
    for i in range(1, n):
        level[i] = 0.9 * level[i - 1] + rng.normal(0, 0.004)
    close = np.round(100 * np.exp(level + 0.04 * np.sin(np.arange(n) / 15)), 2)
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) + 0.05
    low = np.minimum(open_, close) - 0.05
    start = 1_704_067_200  # 2024-01-01T00:00:00Z
    times = start + 3600 * np.arange(n)
    lines = ["time,open,high,low,close,volume"]
    for row in zip(times, open_, high, low, close, strict=True):
        lines.append(f"{int(row[0])},{row[1]:.2f},{row[2]:.2f},{row[3]:.2f},{row[4]:.2f},1")
    path = folder / "bars.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def bars(tmp_path: Path) -> Path:
    return write_bars(tmp_path)


def run_json(cli: Cli, *args: str) -> dict[str, Any]:
    code, output = cli("optimize", *args, "--json")
    assert code == 0, output
    return json.loads(output)


def test_json_is_the_spec_shape_and_the_best_beats_the_defaults(cli: Cli, bars: Path) -> None:
    data = run_json(cli, *SEARCH)
    assert set(data) == {"best", "folds", "trials"}
    assert set(data["best"]) == {"params", "objective", "report"}
    assert data["folds"] == [] and data["trials"] == 12
    best = data["best"]
    assert set(best["params"]) == {"period", "oversold", "overbought"}
    assert 5 <= best["params"]["period"] <= 30 and best["params"]["overbought"] % 5 == 0
    assert best["report"]["params"] == best["params"]
    assert best["report"]["trades"] >= 5  # --min-trades 5 by default
    defaults = run_json(
        cli, "--strategy", "rsi", "--csv", "bars.csv", "--space", "period=14", "--trials", "1"
    )
    assert best["objective"] >= defaults["best"]["objective"]


def test_the_printed_backtest_line_reproduces_the_best_report(cli: Cli, bars: Path) -> None:
    account = ("--size", "25%", "--fee-bps", "5", "--sl", "3%", "--risk", "max_drawdown=30%")
    code, text = cli("optimize", *SEARCH, *account)
    assert code == 0, text
    line = next(row.strip() for row in text.splitlines() if "tradebot backtest" in row)
    words = shlex.split(line)
    assert words[:2] == ["tradebot", "backtest"] and "--size" in words and "--risk" in words
    best = run_json(cli, *SEARCH, *account)["best"]

    code, replay = cli(*words[1:], "--json")
    assert code == 0, replay
    assert json.loads(replay)["report"] == best["report"]
    assert f"sharpe {best['objective']:,.3f}" in text


def test_the_same_seed_gives_the_same_answer(cli: Cli, bars: Path) -> None:
    assert run_json(cli, *SEARCH) == run_json(cli, *SEARCH)


def test_the_report_lists_the_best_trials_and_the_pruned_ones(cli: Cli, bars: Path) -> None:
    code, text = cli("optimize", *SEARCH, "--min-trades", "12")
    assert code == 0, text
    assert "Best " in text and " of 12 trials" in text
    header = ["trial", "period", "oversold", "overbought", "sharpe", "return", "drawdown", "trades"]
    assert header in [row.split() for row in text.splitlines()]  # a column per parameter
    assert "pruned, never ranked" in text and "under --min-trades 12" in text
    assert "Best: trial " in text and "Parameter importance: " in text


def test_walk_forward_folds_never_train_on_their_test_bars(cli: Cli, bars: Path) -> None:
    data = run_json(cli, *SEARCH, "--walk-forward", "2")
    folds = data["folds"]
    assert len(folds) == 2
    segment = BARS // 3
    hour = 3600
    start = 1_704_067_200

    def iso(bar: int) -> str:
        from datetime import UTC, datetime

        return datetime.fromtimestamp(start + bar * hour, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    for k, fold in enumerate(folds, start=1):
        assert fold["train"] == [iso(0), iso(k * segment - 1)]  # anchored at the first bar
        assert fold["test"] == [iso(k * segment), iso((k + 1) * segment - 1)]
        for side in ("in_sample", "out_of_sample"):
            figures = fold[side]
            assert {"objective", "total_return_pct", "max_drawdown_pct", "trades"} <= set(figures)
        assert fold["out_of_sample"]["start"] == fold["test"][0]
        assert fold["in_sample"]["end"] == fold["train"][1]

    code, text = cli("optimize", *SEARCH, "--walk-forward", "2")
    assert code == 0, text
    assert "Walk-forward: 2 folds" in text
    rows = [row.split() for row in text.splitlines() if row.startswith(("1 in", "1 out"))]
    assert [row[:2] for row in rows] == [["1", "in"], ["1", "out"]]


def test_plot_writes_the_chart(cli: Cli, bars: Path, tmp_path: Path) -> None:
    code, text = cli("optimize", *SEARCH, "--walk-forward", "2", "--plot", "charts/search.png")
    assert code == 0, text
    chart = tmp_path / "charts" / "search.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"chart written to {Path('charts/search.png')}" in text
    code, text = cli("optimize", *SEARCH, "--plot", "search.svg", "--json")
    assert code == 0, text
    assert (tmp_path / "search.svg").read_text().lstrip().startswith("<?xml")


def _panels(figure: Any) -> list[Any]:
    return [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]


def test_the_chart_has_three_panels(tmp_path: Path) -> None:
    from handlers.charts import optimize_chart, optimize_figure
    from trading.backtest import read_csv
    from trading.optimize import optimize, parse_space

    data = read_csv(write_bars(tmp_path))
    space = parse_space("rsi", ["period=5..30", "oversold=20..40", "overbought=60..80:5"])
    result = optimize(data, "rsi", space, trials=12, seed=7, walk_forward=2)
    figure = optimize_figure(result, data)
    trials, heatmap, equity = _panels(figure)
    assert trials.get_title() == "sharpe over trials"
    assert "mean sharpe by" in heatmap.get_title()
    assert heatmap.get_images()  # the heatmap itself
    assert equity.get_title().startswith("walk-forward: 2 folds")
    assert {line.get_label() for line in equity.get_lines()} >= {
        "in-sample (each fold's training bars)",
        "out-of-sample (the fold's test bars)",
    }
    assert optimize_chart(result, data)[:4] == b"\x89PNG"

    one = optimize(data, "rsi", parse_space("rsi", ["period=5..30"]), trials=8, seed=7)
    trials, along, equity = _panels(optimize_figure(one, data))
    assert along.get_title() == "sharpe by period (one parameter searched)"
    assert equity.get_title().startswith("the best run's equity")


def test_a_choice_parameter_maps_on_the_heatmap(tmp_path: Path) -> None:
    from handlers.charts import optimize_figure
    from trading.backtest import read_csv
    from trading.optimize import optimize, parse_space

    data = read_csv(write_bars(tmp_path))
    space = parse_space("ma_cross", ["fast=3..15", "slow=20..60:10", "ma=sma,ema"])
    result = optimize(data, "ma_cross", space, trials=12, seed=3, min_trades=1)
    _, heatmap, _ = _panels(optimize_figure(result, data))
    labels = [t.get_text() for t in [*heatmap.get_xticklabels(), *heatmap.get_yticklabels()]]
    assert heatmap.get_images() and labels


BAD_OPTIONS = [
    (["--space", "period=30..5"], "--space period=30..5"),
    (["--space", "nope=1..5"], "--space nope=1..5"),
    (["--space", "period=1..30"], "--space period=1..30"),
    (["--space", "period=5..30", "--space", "period=6..9"], "period is given twice"),
    (["--objective", "alpha"], "'--objective'"),
    (["--walk-forward", "2000"], "--walk-forward 2000"),
    (["--jobs", "0"], "'--jobs'"),
    (["--trials", "0"], "'--trials'"),
    (["--min-trades", "100000"], "--min-trades 100000"),
    (["--strategy", "signal"], "'--strategy'"),
    (["--plot", "search.gif"], "'--plot'"),
    (["--risk", "bogus=1"], "'--risk'"),
    (["--size", "lots"], "'--size'"),
    (["--seed", "-1"], "'--seed'"),
    (["--seed", "4294967296"], "'--seed'"),
    (["--space", "period=1_0..20"], "--space period=1_0..20"),
    (["--space", "period=٥..١٠"], "--space period=٥..١٠"),
]


@pytest.mark.parametrize(("extra", "named"), BAD_OPTIONS)
def test_a_bad_option_is_one_line_naming_it(
    cli: Cli, bars: Path, extra: list[str], named: str
) -> None:
    base = ["--strategy", "rsi", "--csv", "bars.csv", "--trials", "3"]
    has_space = any(word == "--space" for word in extra)
    code, output = cli("optimize", *base, *([] if has_space else ["--space", "period=5..30"]),
                       *extra)  # fmt: skip
    assert code == 2, output
    assert output.count("\n") == 1 and output.startswith("Error: "), output
    assert named in output


def test_no_space_says_which_parameters_there_are(cli: Cli, bars: Path) -> None:
    code, output = cli("optimize", "--strategy", "rsi", "--csv", "bars.csv")
    assert code == 2
    assert output == (
        "Error: no --space given: search at least one of rsi's parameters (period, oversold, "
        "overbought), as KEY=LO..HI[:STEP] or KEY=A,B,C\n"
    )


def test_the_help_examples_parse(cli: Cli) -> None:
    from bot.cli_optimize import optimize

    assert optimize.epilog is not None
    text = optimize.epilog.replace("\\\n", " ")
    examples = [shlex.split(row) for row in text.splitlines() if "tradebot optimize" in row]
    assert len(examples) == 3
    for words in examples:
        code, output = cli(*words[1:], "-h")
        assert code == 0, (words, output)


def test_defaults_outside_the_space_are_not_called_the_defaults(cli: Cli, bars: Path) -> None:
    code, output = cli(
        "optimize", "--strategy", "rsi", "--csv", "bars.csv", "--trials", "5", "--seed", "3",
        "--space", "period=20..40", "--space", "oversold=35,40",
    )  # fmt: skip
    assert code == 0, output
    assert "the strategy's defaults lie outside the space" in output
    assert "(the defaults, trial 0" not in output


async def test_killing_the_command_leaves_no_worker_process(bars: Path) -> None:
    """`--jobs 2` workers die with their parent (a killed search leaves nothing running)."""
    import asyncio
    import signal
    import sys

    from tests.processes import stop_processes
    from tests.waiting import until

    parent = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "optimize", "--strategy", "rsi", "--csv", str(bars),
        "--space", "period=5..30", "--space", "oversold=5..45", "--trials", "100000",
        "--jobs", "2", "--json",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        children = await until(lambda: _children(parent.pid), "two worker processes", 60)
        os.kill(parent.pid, signal.SIGKILL)
        await parent.wait()
        await until(lambda: not [c for c in children if _alive(c)], "the workers to end", 30)
    finally:
        await stop_processes([parent])


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found if len(found) >= 2 else []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
