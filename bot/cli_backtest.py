"""`tradebot backtest` (SPEC §2, §7): replay a CSV of bars through a strategy.

    tradebot backtest --strategy rsi --csv samples/synthetic_btcusdt_1h.csv --plot out.png
    tradebot backtest --strategy rsi --csv FILE --param period=10 --size 0.05 --json
    tradebot backtest --csv FILE --sl 2% --risk risk_per_trade=1% --risk max_drawdown=10%

Every bad option is one line naming it, exit code 2. The default order size is 10 % of equity
(not a new bot's 0.001, whose figures barely move); a run whose entries all stake under 1 % of
equity says so under the report.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from bot.cli_common import CLICK_CONTEXT
from bot.cli_options import bad_parameter, key_values
from trading.backtest import (
    BacktestConfig,
    BacktestResult,
    DataError,
    Ohlcv,
    build_report,
    read_csv,
    run_backtest,
)
from trading.backtest.engine import DEFAULT_SIZE, TooFewBars
from trading.errors import InvalidRequest, TradingError
from trading.risk import RiskRules, set_rules
from trading.strategies import registry

LONG_FILE_BYTES = 8 * 1024 * 1024  # about 150,000 bars: from here on a run takes seconds
CHART_FORMATS = ("png", "svg", "pdf")


def _plot_path(plot: Path | None) -> str | None:
    """The chart's format from `--plot`'s extension; checked before the run, with the folder."""
    if plot is None:
        return None
    kind = plot.suffix.lower().lstrip(".")
    if kind not in CHART_FORMATS:
        raise click.BadParameter(
            f"{plot}: the chart is written as {', '.join('.' + k for k in CHART_FORMATS)}; "
            f"got {plot.suffix or 'no extension'!r}",
            param_hint="'--plot'",
        )
    folder = plot.parent  # created when the chart is written: nothing is left by a failed run
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise click.BadParameter(
            f"cannot write {plot}: {folder} is not a writable folder", param_hint="'--plot'"
        )
    if plot.is_dir() or (plot.exists() and not os.access(plot, os.W_OK)):
        raise click.BadParameter(f"cannot write {plot}", param_hint="'--plot'")
    return kind


def _params(items: tuple[str, ...], strategy: str) -> dict[str, Any]:
    raw = key_values(items, "--param", split=True)
    try:
        return registry.validate_params(strategy, raw)
    except ValueError as exc:  # the strategy name was checked before
        raise click.BadParameter(str(exc), param_hint="'--param'") from None


def _config(options: dict[str, Any]) -> BacktestConfig:
    from pydantic import ValidationError

    try:
        return BacktestConfig(**{k: v for k, v in options.items() if v is not None})
    except ValidationError as exc:
        raise bad_parameter(
            exc,
            {
                "max_entries": "max-entries",
                "fee_bps": "fee-bps",
                "slippage_bps": "slippage-bps",
                "initial_cash": "cash",
            },
        ) from None


def _risk(items: tuple[str, ...]) -> RiskRules | None:
    """`--risk KEY=VALUE …` as the account's rules (SPEC §6a); None when none is given."""
    if not items:
        return None
    try:
        return set_rules(RiskRules(), items)
    except InvalidRequest as exc:
        raise click.BadParameter(exc.user_message, param_hint="'--risk'") from None


def _read(path: Path) -> Ohlcv:
    try:
        return read_csv(path)
    except DataError as exc:
        raise click.BadParameter(f"{path}: {exc}", param_hint="'--csv'") from None


def _run(
    csv_path: Path,
    data: Ohlcv,
    strategy: str,
    params: dict[str, Any],
    config: BacktestConfig,
    risk: RiskRules | None,
    progress: Any = None,
) -> BacktestResult:
    try:
        return run_backtest(data, strategy, params, config, progress=progress, risk=risk)
    except TooFewBars as exc:
        raise click.BadParameter(
            f"{csv_path}: needs at least {exc.need} bars for {exc.label}, the file has {exc.have}",
            param_hint="'--csv'",
        ) from None
    except TradingError as exc:
        raise click.BadParameter(exc.user_message, param_hint="'--strategy'") from None


def _table(result: BacktestResult, console: Console) -> None:
    report = build_report(result)
    table = Table(title="Backtest", show_header=False, title_justify="left")
    table.add_column(style="bold", no_wrap=True)
    table.add_column(justify="right")
    for label, value in report.rows():
        table.add_row(label, value)
    console.print(table)
    if report.refused_orders:
        console.print(report.refused_text(), markup=False, highlight=False, soft_wrap=True)
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    if not result.trades:
        console.print("no trades")
        return
    trades = Table(title=f"Trades ({len(result.trades)})", title_justify="left")
    for name in ("#", "side", "entry", "entry price", "exit", "exit price", "qty", "pnl"):
        trades.add_column(name, no_wrap=True, justify="left" if name in ("side",) else "right")
    trades.add_column("reason", no_wrap=True)
    shown = result.trades if len(result.trades) <= 40 else result.trades[-40:]
    first = len(result.trades) - len(shown) + 1
    for n, trade in enumerate(shown, start=first):
        colour = "green" if trade.pnl >= 0 else "red"
        trades.add_row(
            str(n),
            trade.side,
            trade.entry_time.strftime("%Y-%m-%d %H:%M"),
            f"{trade.entry_price.normalize():f}",
            trade.exit_time.strftime("%Y-%m-%d %H:%M"),
            f"{trade.exit_price.normalize():f}",
            f"{trade.qty.normalize():f}",
            f"[{colour}]{trade.pnl:,.2f}[/]",
            trade.reason,
        )
    if len(result.trades) > len(shown):
        console.print(f"(last {len(shown)} of {len(result.trades)} trades)")
    console.print(trades)


_ACCOUNT_OPTIONS = (
    click.option(
        "--size",
        "--qty",
        "size",
        default=None,
        help=f"Order size: 0.01 (base qty), 100USDT (quote), or 10% (of equity; the default is "
        f"{DEFAULT_SIZE}). A run staking under 1% of equity per entry is flagged.",
    ),
    click.option(
        "--direction",
        type=click.Choice(["long", "short", "both"]),
        default=None,
        help="Default: long.",
    ),
    click.option("--max-entries", type=int, default=None, help="Pyramiding: entries per position."),
    click.option("--sl", default=None, help="Stop-loss: a price or a percentage like 2%."),
    click.option("--tp", default=None, help="Take-profit: a price or a percentage like 4%."),
    click.option("--trail", default=None, help="Trailing stop distance, e.g. 1%."),
    click.option("--fee-bps", type=str, default=None, help="Fee per fill in bps (default 10)."),
    click.option("--slippage-bps", type=str, default=None, help="Slippage in bps (default 0)."),
    click.option("--cash", "initial_cash", type=str, default=None, help="Initial cash (10000)."),
    click.option(
        "--risk",
        "risk_items",
        multiple=True,
        metavar="KEY=VALUE",
        help="A risk rule checked before every entry, as `tradebot risk set` takes it: "
        "max_position_qty, max_position_value, max_open_positions, max_exposure, daily_loss_limit, "
        "daily_reset_hour, max_drawdown, cooldown_after_stop, stop_guard, risk_per_trade (sizes by "
        "--sl). Repeat.",
    ),
)


def account_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The simulated account (`--size` … `--cash`) and `--risk`: what `backtest` and `optimize`
    share, so a best run found by `optimize` replays with the very same options."""
    for option in reversed(_ACCOUNT_OPTIONS):
        command = option(command)
    return command


@click.command("backtest", context_settings=CLICK_CONTEXT)
@click.option(
    "--strategy",
    default=registry.DEFAULT,
    show_default=True,
    help=f"One of: {', '.join(registry.names())}.",
)
@click.option(
    "--csv",
    "csv_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Bars: time,open,high,low,close,volume (time ISO-8601 or epoch seconds).",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    help="Strategy parameter k=v; repeat, or separate with commas: period=10,oversold=25.",
)
@account_options
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the chart (price with trades, the strategy's indicator, equity against buy & "
    "hold, drawdown) to this file: .png, .svg or .pdf.",
)
@click.option("--json", "as_json", is_flag=True, help="Print {report, trades} as JSON.")
def backtest(
    strategy: str,
    csv_path: Path,
    params: tuple[str, ...],
    risk_items: tuple[str, ...],
    plot: Path | None,
    as_json: bool,
    **options: Any,
) -> None:
    """Replay a CSV of bars through a strategy with the live position rules."""
    if strategy not in registry.names():
        raise click.BadParameter(
            f"unknown strategy {strategy!r}; choose one of {', '.join(registry.names())}",
            param_hint="'--strategy'",
        )
    checked = _params(params, strategy)
    config = _config(options)
    risk = _risk(risk_items)
    chart_format = _plot_path(plot)
    console = Console(stderr=True)
    long_run = csv_path.stat().st_size >= LONG_FILE_BYTES
    if long_run and not as_json and console.is_terminal:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            reading = bar.add_task(f"reading {csv_path.name}", total=None)
            data = _read(csv_path)
            bar.update(reading, total=1, completed=1)
            task = bar.add_task("backtesting", total=len(data))
            result = _run(
                csv_path,
                data,
                strategy,
                checked,
                config,
                risk,
                progress=lambda done, total: bar.update(task, completed=done),
            )
    else:
        result = _run(csv_path, _read(csv_path), strategy, checked, config, risk)

    if plot is not None and chart_format is not None:
        from handlers.charts import backtest_chart

        drawing = backtest_chart(result, title=f"{strategy} · {csv_path.name}", fmt=chart_format)
        try:
            plot.parent.mkdir(parents=True, exist_ok=True)
            plot.write_bytes(drawing)
        except OSError as exc:
            raise click.BadParameter(
                f"cannot write {plot}: {exc.strerror}", param_hint="'--plot'"
            ) from None

    if as_json:
        click.echo(
            json.dumps(
                {
                    "report": build_report(result).as_json(),
                    "trades": [trade.as_json() for trade in result.trades],
                },
                indent=2,
            )
        )
        return
    _table(result, Console(file=sys.stdout, width=None if sys.stdout.isatty() else 120))
    if plot is not None:
        click.echo(f"chart written to {plot}")
