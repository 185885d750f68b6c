"""Pictures for the CLI and the chat: a backtest's equity curve, drawdown and trades; a symbol's
recent bars with a bot's entries and exits; the account's equity curve with its drawdown
(`/pnl chart`); a parameter search's trials, heatmap and walk-forward equity (`optimize`).

Everything here is synchronous CPU work that touches no shared state: each call draws on its
own `Figure` with the Agg canvas (never pyplot, whose global figure registry is not
thread-safe), so the chat runs these through `asyncio.to_thread` and stays responsive:

    history = await load_history(series, symbol)              # trading.backtest.history
    photo = await asyncio.to_thread(backtest_photo, history, request)
    await message.answer_photo(BufferedInputFile(photo.png, "backtest.png"), caption=photo.caption)
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np

from handlers.telegram.formatting.figures import CRYPTO_QUOTES
from trading.backtest.engine import BacktestResult, run_backtest
from trading.backtest.history import BacktestRequest, ChartData, History
from trading.backtest.report import build_report
from trading.figures import EquityCurve
from trading.series import bar_end, interval_label

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from trading.backtest.data import Ohlcv
    from trading.backtest.engine import BacktestConfig
    from trading.backtest.indicator_lines import IndicatorLines
    from trading.optimize import Optimization
    from trading.risk import RiskRules

GREEN = "#1a9850"
RED = "#d73027"
BLUE = "#2166ac"
GREY = "#888888"
INDICATOR_COLOURS = ("#762a83", "#e08214", "#35978f", "#5aae61")
MAX_POINTS = 4000
MAX_MARKERS = 400


@dataclass(frozen=True, slots=True)
class Photo:
    """A PNG and the caption to send with it (Telegram HTML, under 1,024 characters)."""

    png: bytes
    caption: str


def _figure(height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(10, height), dpi=100, layout="constrained")


def _png(fig: Figure, fmt: str = "png") -> bytes:
    """The figure as PNG (or `fmt`: svg, pdf; matplotlib picks the canvas for the format)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    out = io.BytesIO()
    fig.savefig(out, format=fmt)
    return out.getvalue()


def _dates(epoch_seconds: np.ndarray) -> np.ndarray:
    return epoch_seconds.astype("datetime64[s]")


def _stride(n: int) -> int:
    return max(1, -(-n // MAX_POINTS))


def _style(ax: Axes) -> None:
    ax.grid(True, alpha=0.25)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _thin(indices: list[int]) -> list[int]:
    """At most MAX_MARKERS markers, evenly spread, so a long run stays readable."""
    if len(indices) <= MAX_MARKERS:
        return indices
    step = len(indices) / MAX_MARKERS
    return [indices[int(k * step)] for k in range(MAX_MARKERS)]


def backtest_chart(result: BacktestResult, *, title: str = "", fmt: str = "png") -> bytes:
    """Price with trade markers (and the strategy's bands or averages), the indicator panel
    with its levels (RSI with oversold/overbought), equity against buy & hold, and drawdown,
    stacked: one PNG (or `fmt`: svg, pdf)."""
    from trading.backtest.indicator_lines import indicator_lines

    data = result.data
    step = _stride(len(data))
    when = _dates(data.time)
    lines = indicator_lines(result)
    panel = lines is not None and not lines.on_price
    fig = _figure(9.5 if panel else 7.5)
    axes = fig.subplots(
        4 if panel else 3,
        1,
        sharex=True,
        gridspec_kw={"height_ratios": [3, 1.5, 2, 1] if panel else [3, 2, 1]},
    )
    price_ax, equity_ax, dd_ax = axes[0], axes[-2], axes[-1]
    price_ax.plot(when[::step], data.close[::step], color=GREY, linewidth=0.8, label="close")
    if lines is not None and lines.on_price:
        for (label, values), colour in zip(lines.lines.items(), INDICATOR_COLOURS, strict=False):
            price_ax.plot(when[::step], values[::step], color=colour, linewidth=0.7, label=label)
    elif lines is not None:
        _indicator_panel(axes[1], when, step, lines)
    entries = _thin([i for i, f in enumerate(result.fills) if f.kind in ("open", "add")])
    exits = _thin([i for i, f in enumerate(result.fills) if f.kind in ("reduce", "close")])
    for chosen, filled in ((entries, True), (exits, False)):
        fills = [result.fills[i] for i in chosen]
        for side, marker, colour in (("buy", "^", GREEN), ("sell", "v", RED)):
            picked = [f for f in fills if f.side == side]
            if not picked:
                continue
            price_ax.scatter(
                [when[f.bar] for f in picked],
                [float(f.price) for f in picked],
                marker=marker,
                s=36 if filled else 30,
                facecolors=colour if filled else "none",
                edgecolors=colour,
                linewidths=1.2,
                zorder=3,
                label=f"{side} {'entry' if filled else 'exit'}",
            )
    price_ax.set_ylabel("price")
    price_ax.legend(loc="upper left", fontsize=8, ncols=5, frameon=False)
    report = build_report(result)
    price_ax.set_title(
        title
        or f"{result.strategy} · return {report.total_return_pct:+.2f}% · "
        f"max DD {report.max_drawdown_pct:.2f}% · {report.trades} trades",
        fontsize=11,
    )

    equity = result.equity
    initial = float(result.config.initial_cash)
    hold = initial * data.close / data.close[0]  # the initial cash in the asset at the first close
    equity_ax.plot(when[::step], equity[::step], color=BLUE, linewidth=1.0, label="strategy")
    equity_ax.plot(
        when[::step], hold[::step], color=GREY, linewidth=0.8, alpha=0.8, label="buy & hold"
    )
    equity_ax.axhline(initial, color=GREY, linewidth=0.6, ls="--")
    equity_ax.set_ylabel("equity")
    equity_ax.legend(loc="upper left", fontsize=8, ncols=2, frameon=False)

    peak = np.maximum.accumulate(equity)
    drawdown = (equity / peak - 1) * 100
    dd_ax.fill_between(when[::step], drawdown[::step], 0, color=RED, alpha=0.35, linewidth=0)
    dd_ax.set_ylabel("drawdown %")
    for ax in axes:
        _style(ax)
    fig.autofmt_xdate()
    return _png(fig, fmt)


def _indicator_panel(ax: Axes, when: np.ndarray, step: int, lines: IndicatorLines) -> None:
    """The strategy's indicator with the levels its rule compares it with."""
    for (label, values), colour in zip(lines.lines.items(), INDICATOR_COLOURS, strict=False):
        if label == lines.histogram:
            shown = np.nan_to_num(values[::step])
            seconds = when.astype(np.int64)
            spacing = float(np.median(np.diff(seconds))) if len(seconds) > 1 else 3600.0
            width = 0.8 * spacing * step / 86400  # in days, as matplotlib measures dates
            colours = np.where(shown >= 0, GREEN, RED)
            ax.bar(when[::step], shown, color=colours, alpha=0.4, width=width, label=label)
        else:
            ax.plot(when[::step], values[::step], color=colour, linewidth=0.8, label=label)
    for label, value in lines.levels:
        ax.axhline(value, color=GREY, linewidth=0.7, ls="--")
        ax.annotate(
            label,
            xy=(1.0, value),
            xycoords=("axes fraction", "data"),
            xytext=(-2, 2),
            textcoords="offset points",
            ha="right",
            fontsize=7,
            color=GREY,
        )
    if lines.limits is not None:
        ax.set_ylim(*lines.limits)
    ax.set_ylabel(lines.title)
    ax.legend(loc="upper left", fontsize=8, ncols=4, frameon=False)


def backtest_photo(history: History, request: BacktestRequest) -> Photo:
    """Run the backtest `request` over `history` and draw it: for `/backtest`, in a thread."""
    result = run_backtest(history.data, request.strategy, request.params, request.config)
    report = build_report(result)
    title = (
        f"{request.strategy} · {history.symbol}"
        f"{f' · {interval_label(history.interval)}' if history.interval else ''} · "
        f"return {report.total_return_pct:+.2f}%"
    )
    return Photo(
        backtest_chart(result, title=title),
        report.caption(history.symbol, note=history.note),
    )


def price_chart(chart: ChartData) -> bytes:
    """Candles of the recent bars with the entries (filled triangles) and exits (hollow)."""
    bars = chart.bars
    ends = np.array([bar_end(b.open_time, chart.interval).timestamp() for b in bars], dtype=float)
    starts = np.array([b.open_time.timestamp() for b in bars], dtype=float)
    opens = np.array([float(b.open) for b in bars])
    closes = np.array([float(b.close) for b in bars])
    highs = np.array([float(b.high) for b in bars])
    lows = np.array([float(b.low) for b in bars])
    fig = _figure(5.5)
    ax = fig.subplots()
    # Bars are drawn over their own time span, so a fill lands inside the bar it happened in.
    mids = _dates(((starts + ends) / 2).astype(np.int64))
    width = np.median(ends - starts) / 86400 * 0.7 if len(bars) else 0.02
    up = closes >= opens
    colours = np.where(up, GREEN, RED)
    ax.vlines(mids, lows, highs, colors=colours, linewidth=0.8)
    ax.bar(
        mids,
        np.maximum(np.abs(closes - opens), (highs.max() - lows.min()) * 1e-3),
        bottom=np.minimum(opens, closes),
        width=width,
        color=colours,
        edgecolor=colours,
    )
    for fill in chart.fills:
        entering = fill.kind in ("open", "add")
        colour = GREEN if fill.side == "buy" else RED
        ax.scatter(
            [np.datetime64(int(fill.time.timestamp()), "s")],
            [float(fill.price)],
            marker="^" if fill.side == "buy" else "v",
            s=70,
            facecolors=colour if entering else "none",
            edgecolors="black" if entering else colour,
            linewidths=1.4,
            zorder=3,
        )
    who = f" · {chart.bot}" if chart.bot else ""
    ax.set_title(f"{chart.symbol} · {interval_label(chart.interval)}{who}", fontsize=11)
    ax.set_ylabel("price")
    _style(ax)
    fig.autofmt_xdate()
    return _png(fig)


def chart_photo(chart: ChartData) -> Photo:
    """`/chart SYMBOL`: the picture and a caption with the last price and the fills shown."""
    last = chart.bars[-1]
    first = chart.bars[0]
    change = (last.close / first.open - 1) * 100 if first.open else 0
    entries = sum(1 for f in chart.fills if f.kind in ("open", "add"))
    exits = len(chart.fills) - entries
    when = last.open_time.astimezone(UTC)
    lines = [
        f"📊 {html.escape(chart.symbol)} · {interval_label(chart.interval)} · last "
        f"<code>{last.close.normalize():,f}</code> ({change:+.2f}% over {len(chart.bars)} bars)",
        f"{entries} entries ▲ · {exits} exits △"
        + (f" · {html.escape(chart.bot)}" if chart.bot else " · all bots"),
        f"last bar {when:%Y-%m-%d %H:%M} UTC" + ("" if last.closed else " (forming)"),
    ]
    return Photo(price_chart(chart), "\n".join(lines))


MAX_CURVES = 4  # currencies drawn in one picture


def _amount(value: Decimal, quote: str) -> str:
    return f"{float(value):,.{6 if quote in CRYPTO_QUOTES else 2}f}"


def equity_chart(curves: list[EquityCurve]) -> bytes:
    """Per currency, equity (with its running peak) over drawdown from the peak, stacked."""
    shown = curves[:MAX_CURVES]
    fig = _figure(3.6 * len(shown) + 0.4)
    axes = fig.subplots(
        2 * len(shown),
        1,
        squeeze=False,
        sharex=True,
        gridspec_kw={"height_ratios": [3, 1] * len(shown)},
    )[:, 0]
    for n, curve in enumerate(shown):
        equity_ax, dd_ax = axes[2 * n], axes[2 * n + 1]
        when = _dates(np.array([int(p.at.timestamp()) for p in curve.points], dtype=np.int64))
        equity = np.array([float(p.equity) for p in curve.points])
        peak = np.array([float(p.peak) for p in curve.points])
        drawdown = np.array([-float(p.drawdown_pct) for p in curve.points])
        step = _stride(len(when))
        marker = "o" if len(when) < 3 else None
        equity_ax.plot(when[::step], equity[::step], color=BLUE, linewidth=1.2, marker=marker)
        equity_ax.plot(when[::step], peak[::step], color=GREY, linewidth=0.7, ls="--")
        equity_ax.set_ylabel(f"equity {curve.quote}")
        last = curve.points[-1]
        equity_ax.set_title(
            f"{curve.quote} · equity {_amount(last.equity, curve.quote)} · drawdown "
            f"{float(last.drawdown_pct):.2f}% from peak {_amount(last.peak, curve.quote)}",
            fontsize=11,
        )
        dd_ax.fill_between(when[::step], drawdown[::step], 0, color=RED, alpha=0.35, linewidth=0)
        dd_ax.plot(when[::step], drawdown[::step], color=RED, linewidth=0.8, marker=marker)
        dd_ax.set_ylabel("drawdown %")
        for ax in (equity_ax, dd_ax):
            _style(ax)
    fig.autofmt_xdate()
    return _png(fig)


def equity_photo(curves: list[EquityCurve]) -> Photo | None:
    """`/pnl chart`: the picture and its caption; None when there is no history to draw."""
    curves = [c for c in curves if c.points]
    if not curves:
        return None
    lines = ["📈 <b>Equity and drawdown</b> (snapshots on every fill and hourly, UTC)"]
    for curve in curves[:MAX_CURVES]:
        first, last = curve.points[0], curve.points[-1]
        worst = max(p.drawdown_pct for p in curve.points)
        count = len(curve.points)
        lines.append(
            f"{html.escape(curve.quote)}: {_amount(first.equity, curve.quote)} → "
            f"{_amount(last.equity, curve.quote)} · max drawdown {float(worst):.2f}% · "
            f"{count} point{'s' if count != 1 else ''}"
        )
    if len(curves) > MAX_CURVES:
        lines.append(f"… and {len(curves) - MAX_CURVES} more currencies")
    return Photo(equity_chart(curves), "\n".join(lines))


# ---------------------------------------------------------------- optimisation (SPEC §7a)

ORANGE = "#e08214"
HEAT_BINS = 10  # a numeric parameter with more values than this is binned on the heatmap


def optimize_chart(
    result: Optimization,
    data: Ohlcv,
    *,
    config: BacktestConfig | None = None,
    risk: RiskRules | None = None,
    title: str = "",
    fmt: str = "png",
) -> bytes:
    """`tradebot optimize --plot` and `/optimize`'s photo: one PNG (or `fmt`: svg, pdf) of
    `optimize_figure`. `data`, `config` and `risk`: what was searched, for the best run's
    equity when there are no walk-forward folds."""
    return _png(optimize_figure(result, data, config=config, risk=risk, title=title), fmt)


def optimize_figure(
    result: Optimization,
    data: Ohlcv,
    *,
    config: BacktestConfig | None = None,
    risk: RiskRules | None = None,
    title: str = "",
) -> Figure:
    """Three panels: the objective of every trial with the running best (pruned trials apart),
    the two most important parameters as a heatmap of the mean objective (one parameter: the
    objective along it), and the walk-forward equity (each fold's in-sample run and its
    out-of-sample test; without folds, the best run's equity)."""
    fig = _figure(8.5)
    axes = fig.subplot_mosaic([["trials", "heatmap"], ["equity", "equity"]])
    _trials_panel(axes["trials"], result)
    _heatmap_panel(fig, axes["heatmap"], result)
    if result.folds:
        _folds_panel(axes["equity"], result)
    else:
        _best_run_panel(axes["equity"], result, data, config, risk)
    search = result.best
    fig.suptitle(
        f"{title + ' · ' if title else ''}{len(search.trials)} trials · best "
        f"{result.objective} {search.best.objective:.3f} · "
        + " ".join(f"{k}={_shown_value(v)}" for k, v in search.best.params.items()),
        fontsize=11,
    )
    for ax in (axes["trials"], axes["equity"]):
        _style(ax)
    _concise_dates(axes["equity"])
    return fig


def _concise_dates(ax: Axes) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def _shown_value(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _trials_panel(ax: Axes, result: Optimization) -> None:
    trials = result.best.trials
    done = [t for t in trials if t.state == "complete" and t.objective is not None]
    pruned = [t for t in trials if t.state == "pruned"]
    ax.scatter(
        [t.number for t in done],
        [t.objective for t in done],
        s=16,
        color=BLUE,
        alpha=0.75,
        label="trial",
        zorder=2,
    )
    running: list[tuple[int, float]] = []
    for trial in sorted(done, key=lambda t: t.number):
        assert trial.objective is not None
        if not running or trial.objective > running[-1][1]:
            running.append((trial.number, trial.objective))
    if running:
        xs = [n for n, _ in running] + [max(t.number for t in trials)]
        ys = [v for _, v in running] + [running[-1][1]]
        ax.step(xs, ys, where="post", color=GREEN, linewidth=1.4, label="best so far")
    defaults = result.best.defaults
    if defaults is not None and defaults.objective is not None:
        ax.scatter([0], [defaults.objective], marker="D", s=36, color=ORANGE, label="defaults")
    if pruned:  # no objective: marked along the bottom edge
        ax.scatter(
            [t.number for t in pruned],
            [0.02] * len(pruned),
            transform=ax.get_xaxis_transform(),
            marker="x",
            s=18,
            color=GREY,
            label=f"pruned ({len(pruned)})",
        )
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(result.objective)
    ax.set_title(f"{result.objective} over trials", fontsize=10)
    ax.legend(loc="lower right", fontsize=8, frameon=False)


def _searched(result: Optimization) -> list[str]:
    """Parameters that vary between trials, the most important first."""
    trials = [t for t in result.best.trials if t.state == "complete"]
    if not trials:
        return []
    varied = [k for k in trials[0].params if len({repr(t.params[k]) for t in trials}) > 1]
    ranked = [k for k in result.best.importance if k in varied]
    return ranked + [k for k in varied if k not in ranked]


def _axis(values: list[object]) -> tuple[np.ndarray, list[str]]:
    """Each trial's cell along one parameter, and the cells' labels: every value when there are
    at most HEAT_BINS, else HEAT_BINS equal bins labelled with their range (`5–7`)."""
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    distinct = sorted(set(values), key=lambda v: (0, v) if numeric else (1, str(v)))
    if not numeric or len(distinct) <= HEAT_BINS:
        where = {v: i for i, v in enumerate(distinct)}
        return np.array([where[v] for v in values]), [_shown_value(v) for v in distinct]
    numbers = np.array(values, dtype=float)
    edges = np.linspace(numbers.min(), numbers.max(), HEAT_BINS + 1)
    cells = np.clip(np.searchsorted(edges, numbers, side="right") - 1, 0, HEAT_BINS - 1)
    if all(isinstance(v, int) for v in values):  # whole numbers: the ones each bin holds
        lows = np.ceil(edges[:-1]).astype(int)
        highs = np.append(np.ceil(edges[1:-1]).astype(int) - 1, int(edges[-1]))
        labels = [f"{lo}" if lo >= hi else f"{lo}–{hi}" for lo, hi in zip(lows, highs, strict=True)]
    else:
        labels = [f"{lo:.3g}–{hi:.3g}" for lo, hi in pairwise(edges)]
    return cells, labels


def _heatmap_panel(fig: Figure, ax: Axes, result: Optimization) -> None:
    done = [t for t in result.best.trials if t.state == "complete" and t.objective is not None]
    names = _searched(result)
    objective = result.objective
    if not names:
        ax.text(0.5, 0.5, "one set of parameters only: nothing to map", ha="center", va="center")
        ax.set_axis_off()
        return
    scores = np.array([t.objective for t in done], dtype=float)
    best = result.best.best
    if len(names) == 1:
        name = names[0]
        cells, labels = _axis([t.params[name] for t in done])
        values = [t.params[name] for t in done]
        ordered = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        filled = [i for i in range(len(labels)) if (cells == i).any()]
        means = [float(scores[cells == i].mean()) for i in filled]
        ax.scatter(cells, scores, s=14, color=BLUE, alpha=0.5, label="trial")
        ax.plot(  # a line between choices (sma, ema) would suggest values between them
            filled,
            means,
            color=GREEN,
            marker="o",
            linewidth=1.2 if ordered else 0,
            label="mean",
        )
        ax.set_xlim(-0.5, len(labels) - 0.5)
        ax.set_xticks(range(len(labels)), labels, fontsize=8, rotation=45)
        ax.set_xlabel(name)
        ax.set_ylabel(objective)
        ax.set_title(f"{objective} by {name} (one parameter searched)", fontsize=10)
        ax.legend(loc="lower right", fontsize=8, frameon=False)
        _style(ax)
        return
    x_name, y_name = names[0], names[1]
    xs, x_labels = _axis([t.params[x_name] for t in done])
    ys, y_labels = _axis([t.params[y_name] for t in done])
    total = np.zeros((len(y_labels), len(x_labels)))
    count = np.zeros_like(total)
    np.add.at(total, (ys, xs), scores)
    np.add.at(count, (ys, xs), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        grid = np.where(count > 0, total / count, np.nan)
    from matplotlib import colormaps

    cmap = colormaps["RdYlGn"].with_extremes(bad="#f0f0f0")
    image = ax.imshow(grid, origin="lower", aspect="auto", cmap=cmap, interpolation="nearest")
    fig.colorbar(image, ax=ax, label=f"mean {objective}")
    at = next(i for i, t in enumerate(done) if t.number == best.number)
    ax.scatter([xs[at]], [ys[at]], marker="*", s=160, color="black")
    ax.set_xticks(range(len(x_labels)), x_labels, fontsize=8, rotation=45)
    ax.set_yticks(range(len(y_labels)), y_labels, fontsize=8)
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)
    ax.set_title(
        f"mean {objective} by {x_name} × {y_name}"
        + (" (most important)" if len(names) > 2 else "")
        + " · ★ best",
        fontsize=10,
    )


def _folds_panel(ax: Axes, result: Optimization) -> None:
    for n, fold in enumerate(result.folds, start=1):
        first = n == 1
        step = _stride(len(fold.time_in))
        ax.plot(
            _dates(fold.time_in)[::step],
            fold.equity_in[::step],
            color=BLUE,
            linewidth=0.8,
            alpha=0.35 + 0.5 * n / len(result.folds),
            label="in-sample (each fold's training bars)" if first else None,
        )
        step = _stride(len(fold.time_out))
        ax.plot(
            _dates(fold.time_out)[::step],
            fold.equity_out[::step],
            color=ORANGE,
            linewidth=1.6,
            label="out-of-sample (the fold's test bars)" if first else None,
        )
        ax.axvline(_dates(fold.time_out[:1])[0], color=GREY, linewidth=0.6, ls="--")
        ax.annotate(
            f"fold {n}",
            xy=(_dates(fold.time_out[:1])[0], 0.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, 3),
            textcoords="offset points",
            fontsize=7,
            color=GREY,
        )
    initial = result.best.report.initial_cash
    ax.axhline(float(initial), color=GREY, linewidth=0.6, ls=":")
    ax.set_ylabel("equity")
    ax.set_title(
        f"walk-forward: {len(result.folds)} folds, each chosen on its training bars "
        "and tested on the next segment",
        fontsize=10,
    )
    ax.legend(loc="upper left", fontsize=8, frameon=False)


def _best_run_panel(
    ax: Axes,
    result: Optimization,
    data: Ohlcv,
    config: BacktestConfig | None,
    risk: RiskRules | None,
) -> None:
    search = result.best
    run = run_backtest(data, search.report.strategy, search.best.params, config, risk=risk)
    when = _dates(run.data.time)
    step = _stride(len(when))
    initial = float(run.config.initial_cash)
    hold = initial * run.data.close / run.data.close[0]
    ax.plot(when[::step], run.equity[::step], color=BLUE, linewidth=1.0, label="best parameters")
    ax.plot(when[::step], hold[::step], color=GREY, linewidth=0.8, alpha=0.8, label="buy & hold")
    ax.axhline(initial, color=GREY, linewidth=0.6, ls=":")
    ax.set_ylabel("equity")
    ax.set_title(
        "the best run's equity, in-sample only (--walk-forward K tests it out of sample)",
        fontsize=10,
    )
    ax.legend(loc="upper left", fontsize=8, frameon=False)
