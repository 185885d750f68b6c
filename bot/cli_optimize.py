"""`tradebot optimize` (SPEC §7a): search a strategy's parameters, each trial being a backtest.

    tradebot optimize --strategy rsi --csv FILE --space period=5..30 --space oversold=20..40:5
    tradebot optimize --strategy ma_cross --csv FILE --space fast=5..30 --space slow=40..120:10 \\
        --space ma=sma,ema --objective calmar --walk-forward 3 --seed 7 --plot search.png
    tradebot optimize --strategy rsi --csv FILE --space period=5..30 --jobs 2 --json

Every trial is `run_backtest` with the account options `tradebot backtest` takes (the very same
click options), so the printed `tradebot backtest … --param` line reproduces the best report
exactly. Every bad option is one line naming it, exit code 2.
"""

from __future__ import annotations

import json
import math
import shlex
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from bot.cli_backtest import _config, _plot_path, _read, _risk, account_options
from bot.cli_common import CLICK_CONTEXT, Mistake
from bot.cli_tables import print_table, terminal
from trading.backtest.engine import backtestable
from trading.optimize import OBJECTIVES, SearchFailed, SpaceError, parse_space
from trading.optimize import optimize as run_optimization

if TYPE_CHECKING:
    from rich.progress import Progress as Bar

    from trading.optimize import Optimization, Trial
    from trading.optimize.search import Progress

TOP = 10  # trials in the results table


@click.command(
    "optimize",
    context_settings=CLICK_CONTEXT,
    epilog="""\b
Examples:
  tradebot optimize --strategy rsi --csv bars.csv --space period=5..30 --space oversold=20..40:5
  tradebot optimize --strategy ma_cross --csv bars.csv --space fast=5..30 --space slow=40..120:10 \\
      --space ma=sma,ema --walk-forward 3 --plot search.png
  tradebot optimize --strategy rsi --csv bars.csv --space period=5..30 --seed 7 --json""",
)
@click.option("--strategy", required=True, help=f"One of: {', '.join(backtestable())}.")
@click.option(
    "--csv",
    "csv_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Bars: time,open,high,low,close,volume (time ISO-8601 or epoch seconds).",
)
@click.option(
    "--space",
    "spaces",
    multiple=True,
    metavar="KEY=LO..HI[:STEP]",
    help="A parameter to search: a range (whole numbers for a whole-number parameter; every "
    "STEP from LO when given), or choices as KEY=A,B,C. Repeat for each parameter.",
)
@click.option(
    "--trials",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Backtests to run; the first is the strategy's defaults (moved into the space).",
)
@click.option(
    "--objective",
    type=click.Choice(OBJECTIVES),
    default="sharpe",
    show_default=True,
    help="The figure the search maximises.",
)
@click.option(
    "--min-trades",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    help="A trial with fewer trades is pruned, so a 2-trade fluke cannot win.",
)
@click.option(
    "--walk-forward",
    type=click.IntRange(min=0),
    default=0,
    metavar="K",
    help="K folds: the bars cut in K+1 equal segments, fold k chooses its parameters on "
    "segments 1..k and is scored on segment k+1 alone (out-of-sample). 0: none.",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**32 - 1),
    default=None,
    help="The same seed gives the same result (0 to 4294967295).",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Trials run at once, each in a process of its own, at most one per core (with more "
    "than 1, the order of trials, and so the result, may vary from run to run).",
)
@account_options
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the chart (objective over trials, the two most important parameters as a "
    "heatmap, walk-forward equity) to this file: .png, .svg or .pdf.",
)
@click.option("--json", "as_json", is_flag=True, help="Print {best, folds, trials} as JSON.")
def optimize(
    strategy: str,
    csv_path: Path,
    spaces: tuple[str, ...],
    trials: int,
    objective: str,
    min_trades: int,
    walk_forward: int,
    seed: int | None,
    jobs: int,
    risk_items: tuple[str, ...],
    plot: Path | None,
    as_json: bool,
    **account: Any,
) -> None:
    """Search a strategy's parameters on a CSV of bars, with walk-forward."""
    if strategy not in backtestable():
        raise click.BadParameter(
            f"{strategy!r} cannot be optimised; choose one of {', '.join(backtestable())}",
            param_hint="'--strategy'",
        )
    try:
        space = parse_space(strategy, spaces)
    except SpaceError as exc:
        raise _space_mistake(str(exc)) from None
    config = _config(account)
    risk = _risk(risk_items)
    chart_format = _plot_path(plot)
    data = _read(csv_path)
    options: dict[str, Any] = {
        "walk_forward": walk_forward,
        "trials": trials,
        "objective": objective,
        "min_trades": min_trades,
        "seed": seed,
        "jobs": jobs,
        "config": config,
        "risk": risk,
    }
    stderr = Console(stderr=True)
    try:
        if stderr.is_terminal:
            with _progress_bar(stderr) as bar:
                progress = _progress(bar, objective, trials, walk_forward)
                result = run_optimization(data, strategy, space, progress=progress, **options)
        else:
            result = run_optimization(data, strategy, space, **options)
    except SearchFailed as exc:  # names --min-trades, --objective or the space
        raise Mistake(exc.user_message) from None
    except SpaceError as exc:
        raise _space_mistake(str(exc)) from None
    except ValueError as exc:  # "--walk-forward 40: 50 bars cannot make 41 segments …"
        if not str(exc).startswith("--"):
            raise  # not a refusal of an option: a defect, with its traceback
        raise Mistake(str(exc)) from None

    if plot is not None and chart_format is not None:
        from handlers.charts import optimize_chart

        drawing = optimize_chart(
            result,
            data,
            config=config,
            risk=risk,
            title=f"{strategy} · {csv_path.name}",
            fmt=chart_format,
        )
        try:
            plot.parent.mkdir(parents=True, exist_ok=True)
            plot.write_bytes(drawing)
        except OSError as exc:
            raise click.BadParameter(
                f"cannot write {plot}: {exc.strerror}", param_hint="'--plot'"
            ) from None

    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    console = terminal()
    searched = [dim.name for dim in space if not dim.fixed] or [dim.name for dim in space]
    line = backtest_line(strategy, csv_path, result.best.best.params, account, risk_items)
    _print(result, searched, line, console)
    if plot is not None:
        click.echo(f"chart written to {plot}")


def _space_mistake(message: str) -> click.ClickException:
    """The core's line names the spec (`--space period=30..5: LO must be below HI …`)."""
    if message.startswith(("--space", "no --space")):
        return Mistake(message)
    return click.BadParameter(message, param_hint="'--space'")


# ---------------------------------------------------------------- progress


def _progress_bar(console: Console) -> Bar:
    """A rich progress bar on stderr (only on a terminal): trials done, the best so far.
    Redrawn after each trial rather than by a thread of its own: with no other thread, the
    search may fork its worker processes (`--jobs`), which start much faster than spawned ones."""
    from rich import progress

    return progress.Progress(
        progress.TextColumn("{task.description}"),
        progress.BarColumn(),
        progress.MofNCompleteColumn(),
        progress.TimeElapsedColumn(),
        progress.TimeRemainingColumn(),
        console=console,
        transient=True,
        auto_refresh=False,
    )


def _progress(bar: Bar, objective: str, trials: int, folds: int) -> Progress:
    """Trials done over all searches; the search running (all bars, then each fold's training
    bars) with its best objective so far."""
    task = bar.add_task("searching", total=None)
    best: dict[int, float] = {}

    def step(done: int, total: int, trial: Trial) -> None:
        search = (done - 1) // trials
        if trial.objective is not None and trial.objective > best.get(search, -math.inf):
            best[search] = trial.objective
        where = "all bars" if search == 0 else f"fold {search}/{folds}"
        figure = f" · best {objective} {_number(best[search])}" if search in best else ""
        bar.update(task, completed=done, total=total, description=f"{where}{figure}", refresh=True)

    return step


# ---------------------------------------------------------------- what is printed


def backtest_line(
    strategy: str,
    csv_path: Path,
    params: dict[str, Any],
    account: dict[str, Any],
    risk_items: tuple[str, ...],
) -> str:
    """The `tradebot backtest` command that replays the best trial (same account, same rules)."""
    words = ["tradebot", "backtest", "--strategy", strategy, "--csv", str(csv_path)]
    for key, value in params.items():
        words += ["--param", f"{key}={_value(value)}"]
    # Spelt as the options themselves are (the very options `backtest` has: `account_options`),
    # so an account option added there is carried into this line too.
    flags = {p.name: p.opts[0] for p in click.get_current_context().command.params}
    for name, value in account.items():
        if value is not None:
            words += [flags[name], str(value)]
    for item in risk_items:
        words += ["--risk", item]
    return shlex.join(words)


def _value(value: Any) -> str:
    """A parameter as `--param` reads it back: a float keeps every digit it has."""
    return repr(value) if isinstance(value, float) else str(value)


def _number(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:+.2f}%"


def _trials_table(result: Optimization, searched: list[str]) -> None:
    """The best trials, best first (bold): one column per searched parameter, then the figures.
    Trial 0 is the strategy's defaults."""
    search = result.best
    top = search.top(TOP)
    headers = ["trial", *searched, result.objective, "return", "drawdown", "trades"]
    rows = []
    for trial in top:
        cells = [
            str(trial.number),
            *(_value(trial.params[name]) for name in searched),
            _number(trial.objective),
            _pct(trial.return_pct),
            _pct(trial.drawdown_pct),
            str(trial.trades),
        ]
        best = trial.number == search.best.number
        rows.append([f"[bold]{cell}[/]" for cell in cells] if best else cells)
    title = f"Best {len(top)} of {len(search.trials)} trials"
    print_table(headers, rows, right=headers, title=title)


def _span(moments: tuple[datetime, datetime], *, days: bool) -> str:
    shape = "%Y-%m-%d" if days else "%Y-%m-%d %H:%M"
    return f"{moments[0]:{shape}} → {moments[1]:{shape}}"


def _folds_tables(result: Optimization, searched: list[str]) -> None:
    """The parameters each fold's search chose, then two rows a fold: in-sample (its training
    bars) over out-of-sample (the next segment; red when it falls well short). Two tables, so
    each fits an 80-column terminal."""
    folds = result.folds
    chosen = [
        [str(n), *(_value(fold.params[name]) for name in searched)]
        for n, fold in enumerate(folds, start=1)
    ]
    title = f"Walk-forward: {len(folds)} folds, each choosing its parameters on its training bars"
    print_table(["fold", *searched], chosen, right=searched, title=title)
    edges = [moment for fold in folds for moment in (*fold.train, *fold.test)]
    days = all(moment.hour == 0 and moment.minute == 0 for moment in edges)
    figures = [result.objective, "return", "drawdown", "trades"]
    rows = []
    for n, fold in enumerate(folds, start=1):
        short = fold.shortfall(result.objective) is not None
        for label, moments, sample in (
            (f"{n} in", fold.train, fold.in_sample),
            (f"{n} out", fold.test, fold.out_of_sample),
        ):
            cells = [
                _number(sample["objective"]),
                _pct(sample["total_return_pct"]),
                _pct(sample["max_drawdown_pct"]),
                str(sample["trades"]),
            ]
            if short and sample is fold.out_of_sample:
                cells = [f"[red]{cell}[/]" for cell in cells]
            rows.append([label, _span(moments, days=days), *cells])
    click.echo()
    print_table(["fold", "bars", *figures], rows, right=figures)


def _pruned_text(trials: list[Trial]) -> str:
    """`7 trials pruned, never ranked: 5 under --min-trades 5, 2 invalid (oversold (40) must …)`."""
    pruned = [t for t in trials if t.state == "pruned"]
    if not pruned:
        return ""
    kinds: dict[str, list[Trial]] = {}
    for trial in pruned:
        if "--min-trades" in trial.reason:
            kind = f"under --min-trades {trial.reason.rpartition(' ')[2]}"
        elif trial.reason.startswith("invalid:"):
            kind = "invalid"
        else:
            kind = "no figure"
        kinds.setdefault(kind, []).append(trial)
    parts = []
    for kind, group in kinds.items():
        example = group[0].reason.removeprefix("invalid: ")
        parts.append(f"{len(group)} {kind}" + ("" if kind.startswith("under") else f" ({example})"))
    noun = "trial" if len(pruned) == 1 else "trials"
    return f"{len(pruned)} {noun} pruned, never ranked: {', '.join(parts)}"


def _print(result: Optimization, searched: list[str], line: str, console: Console) -> None:
    search = result.best
    best, report = search.best, search.report
    _trials_table(result, searched)
    pruned = _pruned_text(search.trials)
    if pruned:
        console.print(pruned, highlight=False, soft_wrap=True)
    defaults = search.defaults
    against = " (the strategy's defaults lie outside the space)" if defaults is None else ""
    if defaults is not None and best.number != 0:
        shown = _number(defaults.objective) if defaults.state == "complete" else "pruned"
        against = f" (the defaults, trial 0: {shown})"
    console.print(
        f"Best: trial {best.number}, {result.objective} [bold]{_number(best.objective)}[/]"
        f"{against}",
        highlight=False,
    )
    console.print(
        f"return {_pct(report.total_return_pct)} · max drawdown {_pct(report.max_drawdown_pct)}"
        f" · {report.trades} trades · profit factor {report.profit_factor_text()} · "
        f"{report.bars:,} bars (in-sample: the bars it was chosen on)",
        highlight=False,
        soft_wrap=True,
    )
    if search.importance:
        shares = sorted(search.importance.items(), key=lambda kv: -kv[1])
        console.print(
            "Parameter importance: " + ", ".join(f"{k} {v:.0%}" for k, v in shares),
            highlight=False,
        )
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    if result.folds:
        click.echo()
        _folds_tables(result, searched)
        divergence = result.divergence()
        if divergence:
            console.print(f"[yellow]warning:[/] {divergence}", highlight=False, soft_wrap=True)
        else:
            console.print("Out-of-sample keeps up with in-sample in every fold.", highlight=False)
    console.print()
    console.print("The best parameters, as a backtest (the same figures):", highlight=False)
    console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
