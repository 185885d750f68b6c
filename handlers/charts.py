"""Pictures for the CLI and the chat: a backtest's equity curve, drawdown and trades; a symbol's
recent bars with a bot's entries and exits; the account's equity curve with its drawdown
(`/pnl chart`).

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

    from trading.backtest.indicator_lines import IndicatorLines

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
