"""/optimize STRATEGY SYMBOL [KEY=LO..HI …] [trials=N] [objective=NAME]: a parameter search on
the stored bars of a symbol, or on a CSV file sent with the caption `/optimize STRATEGY …`.

One run at a time per process, in a worker process (`bot.optimize_runner`), so webhooks and
the chat stay responsive. One message shows the progress (edited at most every 2 s) and then
the report; the chart follows as a photo, and "Apply to bot…" lets an owner set the best
parameters on a bot of that strategy (`ControlService.edit_bot`, audited like any bot edit).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Any, Literal

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    Document,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.keyboard import InlineKeyboardBuilder
from aiohttp import ClientError

from trading.access import Actor
from trading.backtest.data import DataError, Ohlcv, read_csv
from trading.backtest.engine import BacktestConfig
from trading.backtest.history import CONFIG_KEYS, ResearchService, parse_request
from trading.errors import InvalidRequest, TradingError
from trading.optimize.objectives import OBJECTIVES
from trading.optimize.space import Dimension, SpaceError, default_params, parse_space
from trading.optimize_runs import OptimizeJob, OptimizeService, Run
from trading.series import interval_label
from trading.symbols import normalize_symbol

if TYPE_CHECKING:
    from trading.optimize.walkforward import Optimization

log = logging.getLogger(__name__)
OWNER = {"role": "owner"}

USAGE = (
    "usage: /optimize STRATEGY SYMBOL [KEY=LO..HI …] [trials=N] [objective=NAME], "
    "e.g. /optimize rsi BTCUSDT period=5..30 trials=50; or send a CSV file with the caption "
    "/optimize STRATEGY"
)
# Searched when no KEY=LO..HI is given: the ranges traders usually try, per strategy.
DEFAULT_SPACES: dict[str, tuple[str, ...]] = {
    "rsi": ("period=5..30", "oversold=15..40:5", "overbought=60..85:5"),
    "ma_cross": ("fast=5..50:5", "slow=20..200:10"),
    "macd": ("fast=6..20:2", "slow=20..40:2", "signal=5..15"),
    "bollinger": ("period=10..40:2", "k=1..3:0.25"),
}
DEFAULT_TRIALS = 50
MAX_TRIALS = 500
DEFAULT_MIN_TRADES = 5
MAX_WALK_FORWARD = 5
# Walk-forward 2 (three equal segments) when each segment has at least 200 bars, else none.
WALK_FORWARD = 2
WALK_FORWARD_MIN_BARS = 600
PROGRESS_EVERY = 2.0  # seconds between edits of the progress message
MAX_FILE_BYTES = 20 * 1024 * 1024  # what the Bot API lets a bot download


class OptimizeCb(CallbackData, prefix="opt"):
    """`apply`: list the bots the run's parameters fit; `to`: set them on bot `bot`. `run` is
    the finished run's short id; the parameters stay in the process (for an hour)."""

    action: Literal["apply", "to"]
    run: str
    bot: int = 0


@dataclass
class Request:
    strategy: str
    symbol: str | None  # None: the bars come from a file
    space: list[Dimension]
    trials: int = DEFAULT_TRIALS
    objective: str = "sharpe"
    walk_forward: int | None = None  # None: decided by the number of bars
    min_trades: int = DEFAULT_MIN_TRADES
    seed: int | None = None
    config: BacktestConfig | None = None

    def job(self, bars: int) -> OptimizeJob:
        walk_forward = self.walk_forward
        if walk_forward is None:
            walk_forward = WALK_FORWARD if bars >= WALK_FORWARD_MIN_BARS else 0
        return OptimizeJob(
            strategy=self.strategy,
            space=tuple(self.space),
            trials=self.trials,
            objective=self.objective,
            walk_forward=walk_forward,
            min_trades=self.min_trades,
            config=self.config,
            seed=self.seed,
        )


@dataclass(frozen=True, slots=True)
class Bars:
    source: str  # what the messages call the bars: BTCUSDT · 1h, or the file's name
    data: Ohlcv
    note: str = ""


def _whole(key: str, text: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not low <= value <= high or not text.strip().isascii():
        raise InvalidRequest(f"{key}: a whole number from {low} to {high} (got {text[:20]!r})")
    return value


def parse_args(words: list[str], *, with_symbol: bool) -> Request:
    """The words after /optimize; InvalidRequest (one line, naming the argument) if wrong."""
    if not words or (with_symbol and len(words) < 2):
        raise InvalidRequest(USAGE)
    strategy = words[0].lower()
    rest = words[1:]
    symbol = None
    if with_symbol:
        raw = rest.pop(0)
        if "=" in raw:
            raise InvalidRequest(f"which symbol? {USAGE}")
        try:
            symbol = normalize_symbol(raw)
        except ValueError as exc:
            raise InvalidRequest(f"symbol {raw[:20]!r}: {exc}") from None
    request = Request(strategy, symbol, [])
    specs: list[str] = []
    settings: list[str] = []
    for word in rest:
        key, sep, value = word.partition("=")
        key = key.strip().lower().replace("-", "_")
        if not sep or not key or not value.strip():
            raise InvalidRequest(f"expected KEY=LO..HI or key=value, got {word[:40]!r}")
        if key == "trials":
            request.trials = _whole("trials", value, 1, MAX_TRIALS)
        elif key == "objective":
            if value.lower() not in OBJECTIVES:
                raise InvalidRequest(
                    f"objective: one of {', '.join(OBJECTIVES)} (got {value[:20]!r})"
                )
            request.objective = value.lower()
        elif key in ("walk_forward", "wf"):
            request.walk_forward = _whole("walk_forward", value, 0, MAX_WALK_FORWARD)
        elif key == "min_trades":
            request.min_trades = _whole("min_trades", value, 0, 100_000)
        elif key == "seed":
            request.seed = _whole("seed", value, 0, 2**32 - 1)
        elif key in CONFIG_KEYS:
            settings.append(f"{key}={value}")
        else:
            specs.append(f"{key}={value}")
    # The strategy (known, and one a backtest can replay) and the bot settings, as /backtest.
    request.config = parse_request(strategy, settings).config
    if not specs:
        if strategy not in DEFAULT_SPACES:
            keys = ", ".join(default_params(strategy))
            raise InvalidRequest(f"name what to search: KEY=LO..HI for {strategy}'s {keys}")
        specs = list(DEFAULT_SPACES[strategy])
    try:
        request.space = parse_space(strategy, specs)
    except SpaceError as exc:
        raise InvalidRequest(in_chat(str(exc))) from None
    return request


# ---------------------------------------------------------------- texts


# The core's messages name the command line's options; the chat's arguments are key=value.
CLI_WORDS = {
    "--min-trades ": "min_trades=",
    "--walk-forward ": "walk_forward=",
    "--objective ": "objective=",
    "--trials ": "trials=",
    "--space ": "",
}


def in_chat(text: str) -> str:
    for option, argument in CLI_WORDS.items():
        text = text.replace(option, argument)
    return text.replace("--objective", "objective=").replace("--space", "KEY=LO..HI")


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}" if not value.is_integer() else str(int(value))
    return str(value)


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{key}={_num(value)}" for key, value in params.items())


def _figure(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}".replace("-", "−")


def _pct(value: Any) -> str:
    if not isinstance(value, int | float):
        return "–"
    return f"{value:+.1f}%".replace("-", "−")


def _day(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d}"


def progress_text(run: Run, job: OptimizeJob, bars: Bars) -> str:
    head = f"⏳ Optimising {escape(job.strategy)} on {escape(bars.source)}"
    progress = run.progress
    if progress is None:
        folds = f" + walk-forward {job.walk_forward}" if job.walk_forward else ""
        return f"{head}: starting {job.trials} trials{folds} on {len(bars.data):,} bars…"
    best = f" · best {job.objective} {_figure(progress.best)}" if progress.best is not None else ""
    return f"{head}: {progress.done}/{progress.total} trials{best}"


def report_text(result: Optimization, job: OptimizeJob, bars: Bars) -> str:
    search = result.best
    best, report = search.best, search.report
    pruned = sum(1 for trial in search.trials if trial.state == "pruned")
    lines = [
        f"✅ Optimised {escape(job.strategy)} on {escape(bars.source)} · "
        f"{len(search.trials)} trials ({pruned} pruned)",
        f"{_day(report.start)} → {_day(report.end)} · {report.bars:,} bars · size "
        f"{escape(report.size)} {escape(report.direction)}",
        f"Best {job.objective} <b>{_figure(best.objective)}</b>: "
        f"<code>{escape(_params(best.params))}</code>",
        f"Return {_pct(report.total_return_pct)} · max DD {_pct(report.max_drawdown_pct)} · "
        f"{report.trades} trades · PF {report.profit_factor_text()}",
    ]
    first = search.defaults
    if first is not None:
        shown = (
            f"{job.objective} {_figure(first.objective)}"
            if first.state == "complete"
            else f"pruned: {escape(in_chat(first.reason))}"
        )
        lines.append(f"The defaults: {shown}")
    if result.folds:
        lines.append(
            f"Walk-forward, {len(result.folds)} folds (chosen on the bars before, scored on "
            "the next), in-sample → out-of-sample:"
        )
        for n, fold in enumerate(result.folds, start=1):
            inside, outside = fold.in_sample, fold.out_of_sample
            lines.append(
                f"{n}. {_day(fold.test[0])} → {_day(fold.test[1])} · {job.objective} "
                f"{_figure(inside.get('objective'))} in → "
                f"<b>{_figure(outside.get('objective'))}</b> out · return out "
                f"{_pct(outside.get('total_return_pct'))} · "
                f"<code>{escape(_params(fold.params))}</code>"
            )
    divergence = result.divergence()
    if divergence:
        lines.append(f"⚠️ {escape(divergence)}")
    elif not result.folds:
        lines.append("In-sample only: past bars flatter; add walk_forward=2 for an honest test.")
    if bars.note:
        lines.append(escape(bars.note))
    return "\n".join(lines)


def apply_keyboard(run_id: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text="🔧 Apply to bot…", callback_data=OptimizeCb(action="apply", run=run_id))
    return builder.as_markup()


# ---------------------------------------------------------------- the command


async def _download(telegram: Bot, document: Document) -> Bars:
    name = (document.file_name or "file.csv")[:64]
    if document.file_size is not None and document.file_size > MAX_FILE_BYTES:
        raise InvalidRequest("over 20 MB, more than a bot may download")
    buffer = io.BytesIO()
    try:
        await telegram.download(document, destination=buffer)
    except (TelegramAPIError, ClientError) as exc:
        raise InvalidRequest(f"Telegram did not hand the file over ({exc})") from None
    try:
        text = buffer.getvalue().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidRequest("not a UTF-8 text file") from None
    try:
        data = await asyncio.to_thread(read_csv, io.StringIO(text))
    except DataError as exc:
        raise InvalidRequest(str(exc)) from None
    return Bars(name, data)


async def _stored(research: ResearchService, symbol: str) -> Bars:
    history = await research.history(symbol)
    label = f" · {interval_label(history.interval)}" if history.interval else ""
    return Bars(f"{history.symbol}{label}", history.data, history.note)


@dataclass
class _Screen:
    """The one message a run shows itself in (sent when the run starts, then edited), and the
    chat its photo goes to."""

    telegram: Bot
    chat_id: int
    thread_id: int | None
    message_id: int | None = None
    shown: str = ""

    async def show(self, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        if text == self.shown and markup is None:
            return
        try:
            if self.message_id is None:
                sent = await self.telegram.send_message(
                    self.chat_id, text, message_thread_id=self.thread_id, reply_markup=markup
                )
                self.message_id = sent.message_id
            else:
                await self.telegram.edit_message_text(
                    text, chat_id=self.chat_id, message_id=self.message_id, reply_markup=markup
                )
            self.shown = text
        except TelegramAPIError as exc:  # the message was deleted, Telegram is down…
            log.info("optimisation message not shown chat=%s: %s", self.chat_id, exc)


async def _follow(screen: _Screen, text: Callable[[], str]) -> None:
    """Edit the progress in at most every PROGRESS_EVERY seconds, while the search runs."""
    while True:
        await asyncio.sleep(PROGRESS_EVERY)
        await screen.show(text())


async def _work(
    run: Run,
    *,
    screen: _Screen,
    request: Request,
    source: str,
    load: Callable[[], Awaitable[Bars]],
    optimizer: OptimizeService,
) -> None:
    head = f"Optimising {escape(request.strategy)} on {escape(source)}"
    try:
        await screen.show(f"⏳ {head}: loading the bars…")
        bars = await load()
        head = f"Optimising {escape(request.strategy)} on {escape(bars.source)}"
        job = request.job(len(bars.data))
        await screen.show(progress_text(run, job, bars))
        follow = asyncio.create_task(_follow(screen, lambda: progress_text(run, job, bars)))
        try:
            result, run_id = await optimizer.execute(run, bars.data, job)
        finally:
            follow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follow
        await screen.show(report_text(result, job, bars), apply_keyboard(run_id))
    except TradingError as exc:
        why = in_chat(exc.user_message)[:1000]
        if request.walk_forward is None and why.startswith("walk-forward"):
            why += " (or walk_forward=0: no walk-forward test)"
        await screen.show(f"⚠️ {head} failed: {escape(why)}")
    except Exception:
        await screen.show(f"❗ {head} failed; it has been logged.")
        raise
    else:
        try:
            await _send_chart(screen, result, job, bars)
        except Exception:  # the report stands without its picture
            log.exception("optimisation chart not sent id=%s", run.id)


async def _send_chart(screen: _Screen, result: Optimization, job: OptimizeJob, bars: Bars) -> None:
    from handlers.charts import optimize_chart

    title = f"{job.strategy} · {bars.source} · {job.objective}"
    png = await asyncio.to_thread(optimize_chart, result, bars.data, config=job.config, title=title)
    await screen.telegram.send_photo(
        screen.chat_id,
        BufferedInputFile(png, f"optimize-{job.strategy}.png"),
        caption=f"📊 {escape(title)}: the objective over trials, the parameters that matter "
        f"most, {'walk-forward equity' if result.folds else 'the best run'}",
        message_thread_id=screen.thread_id,
    )


async def optimize(
    message: Message,
    command: CommandObject,
    actor: Actor,
    research: ResearchService,
    optimizer: OptimizeService,
) -> None:
    telegram = message.bot
    assert telegram is not None  # updates reach handlers mounted on the Bot that fed them
    document = message.document
    request = parse_args((command.args or "").split(), with_symbol=document is None)
    if document is not None:
        source = (document.file_name or "your file")[:64]

        async def load() -> Bars:
            return await _download(telegram, document)
    else:
        assert request.symbol is not None
        source = symbol = request.symbol

        async def load() -> Bars:
            return await _stored(research, symbol)

    screen = _Screen(telegram, message.chat.id, message.message_thread_id)

    async def work(run: Run) -> None:
        await _work(
            run, screen=screen, request=request, source=source, load=load, optimizer=optimizer
        )

    optimizer.start(actor.shown, request.strategy, source, work)  # OptimizeBusy: the answer


# ---------------------------------------------------------------- applying


async def choose_bot(
    query: CallbackQuery, callback_data: OptimizeCb, optimizer: OptimizeService
) -> None:
    found, bots = await optimizer.bots_for(callback_data.run)
    if not bots:
        await query.answer(
            f"No bot trades {found.strategy}: create one with /newbot first.", show_alert=True
        )
        return
    builder = InlineKeyboardBuilder()
    for bot in bots[:30]:
        builder.button(
            text=bot.name, callback_data=OptimizeCb(action="to", run=found.id, bot=bot.id)
        )
    builder.adjust(2)
    assert isinstance(query.message, Message)
    await query.message.answer(
        f"🔧 Set <code>{escape(_params(found.params))}</code> "
        f"({escape(found.strategy)}, best {found.objective} {_figure(found.value)} on "
        f"{escape(found.source)}) on which bot? The search used the backtest's account "
        "(its size, direction and stops), not the bot's: its figures may differ on the bot.",
        reply_markup=builder.as_markup(),
    )
    await query.answer()


async def apply_to_bot(
    query: CallbackQuery, callback_data: OptimizeCb, optimizer: OptimizeService, actor: Actor
) -> None:
    applied = await optimizer.apply(actor, callback_data.run, callback_data.bot)
    changed = [
        f"{escape(key)} {escape(_num(before))} → <b>{escape(_num(after))}</b>"
        for key, before, after in applied.changes
        if before != after
    ]
    kept = [
        f"{escape(key)} {escape(_num(after))}"
        for key, before, after in applied.changes
        if before == after
    ]
    lines = [
        f"✅ <b>{escape(applied.bot.name)}</b> ({escape(applied.bot.strategy)}) parameters set"
    ]
    lines.append(" · ".join(changed) if changed else "nothing changed: it had these already")
    if kept and changed:
        lines.append("unchanged: " + " · ".join(kept))
    assert isinstance(query.message, Message)
    await query.message.edit_text("\n".join(lines))
    await query.answer("Applied")


def router() -> Router:
    r = Router(name=__name__)
    r.message.register(optimize, Command("optimize"))
    r.callback_query.register(choose_bot, OptimizeCb.filter(F.action == "apply"), flags=OWNER)
    r.callback_query.register(apply_to_bot, OptimizeCb.filter(F.action == "to"), flags=OWNER)
    return r
