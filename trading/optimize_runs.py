"""Strategy optimisations asked for from the chat: one at a time per process, executed elsewhere
(the composition root hands in `execute`, which runs the search in a worker process so the
event loop keeps serving webhooks), and each finished run's best parameters kept for an hour
under a short id, so a button can apply them to a bot through `ControlService.edit_bot` (the
audited call a bot edit makes) without carrying the parameters itself.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trading.errors import InvalidRequest, NotFound, TradingError
from trading.events import Event, Lifecycle
from trading.strategies import registry

if TYPE_CHECKING:
    from trading.access import Actor
    from trading.backtest.data import Ohlcv
    from trading.backtest.engine import BacktestConfig
    from trading.bots import BotConfig
    from trading.control import ControlService
    from trading.optimize.search import Progress as SearchProgress
    from trading.optimize.space import Dimension
    from trading.optimize.walkforward import Optimization

log = logging.getLogger(__name__)

KEEP_SECONDS = 3600.0  # how long a finished run's parameters can be applied


@dataclass(frozen=True, slots=True)
class OptimizeJob:
    """What to search: everything `trading.optimize.optimize` needs besides the bars."""

    strategy: str
    space: tuple[Dimension, ...]
    trials: int
    objective: str
    walk_forward: int
    min_trades: int
    config: BacktestConfig | None = None
    seed: int | None = None

    def run(self, data: Ohlcv, progress: SearchProgress | None = None) -> Optimization:
        """The search itself, with one job (wherever it runs: the chat's worker process)."""
        from trading.optimize.walkforward import optimize

        return optimize(
            data,
            self.strategy,
            list(self.space),
            walk_forward=self.walk_forward,
            trials=self.trials,
            objective=self.objective,
            min_trades=self.min_trades,
            seed=self.seed,
            jobs=1,
            config=self.config,
            progress=progress,
        )


@dataclass(frozen=True, slots=True)
class Progress:
    done: int
    total: int
    best: float | None  # the best objective so far of the search over all bars


class OptimizeFailed(TradingError):
    """The search ended without a result (no trial qualified, too few bars…): said as is."""


# Runs the search somewhere else and reports progress (in the event loop) as it goes.
Execute = Callable[["Ohlcv", OptimizeJob, Callable[[Progress], None]], Awaitable["Optimization"]]


@dataclass(slots=True)
class Run:
    """The optimisation under way: who started it, on what, and how far it is."""

    id: str
    by: str
    strategy: str
    source: str  # the symbol, or the file's name
    progress: Progress | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def percent(self) -> int:
        if self.progress is None or not self.progress.total:
            return 0
        return min(100, 100 * self.progress.done // self.progress.total)


@dataclass(frozen=True, slots=True)
class Finished:
    """A finished run's best parameters (complete: the strategy's defaults filled in, exactly
    the set that was backtested), kept for `KEEP_SECONDS`."""

    id: str
    strategy: str
    source: str
    params: dict[str, Any]
    objective: str
    value: float | None
    at: float


@dataclass(frozen=True, slots=True)
class Applied:
    bot: BotConfig
    changes: list[tuple[str, Any, Any]]  # (parameter, before, after) for every parameter


class OptimizeBusy(TradingError):
    def __init__(self, run: Run) -> None:
        super().__init__(
            f"One optimisation is running (started by {run.by}, {run.percent}% done); "
            "try again when it ends."
        )


class OptimizeService:
    """One optimisation at a time in this process; its task ends (and its worker with it) when
    the process stops (`Lifecycle` "stopping", published by the chat's runtime)."""

    def __init__(
        self,
        execute: Execute,
        control: ControlService,
        *,
        keep_seconds: float = KEEP_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._execute = execute
        self.control = control
        self.keep_seconds = keep_seconds
        self.clock = clock
        self.running: Run | None = None
        self._task: asyncio.Task[None] | None = None
        self._finished: dict[str, Finished] = {}

    # ------------------------------------------------------------ running

    def start(
        self,
        by: str,
        strategy: str,
        source: str,
        work: Callable[[Run], Coroutine[Any, Any, None]],
    ) -> Run:
        """Claim the one slot for `work(run)` (loading the bars, `execute`, showing the result)
        and run it in the background; the slot is free again when it ends, however it ends."""
        if self.running is not None:
            raise OptimizeBusy(self.running)
        run = Run(secrets.token_urlsafe(6), by, strategy, source)
        self.running = run
        self._task = asyncio.create_task(self._guarded(run, work), name=f"optimize-{run.id}")
        log.info("optimisation started id=%s strategy=%s on=%s by=%s", run.id, strategy, source, by)
        return run

    async def _guarded(self, run: Run, work: Callable[[Run], Coroutine[Any, Any, None]]) -> None:
        try:
            await work(run)
        except asyncio.CancelledError:
            log.info("optimisation stopped id=%s", run.id)
            raise
        except Exception:
            log.exception("optimisation failed id=%s", run.id)
        finally:
            self.running = None
            self._task = None

    async def execute(self, run: Run, data: Ohlcv, job: OptimizeJob) -> tuple[Optimization, str]:
        """Run the search (progress lands in `run.progress`); returns the result and the id
        under which its best parameters can be applied for the next hour."""

        def progress(update: Progress) -> None:
            run.progress = update

        result = await self._execute(data, job, progress)
        best = result.best.best
        params = registry.validate_params(job.strategy, dict(best.params))
        self._forget_expired()
        self._finished[run.id] = Finished(
            run.id, job.strategy, run.source, params, job.objective, best.objective, self.clock()
        )
        log.info(
            "optimisation done id=%s strategy=%s %s=%s params=%s",
            run.id,
            job.strategy,
            job.objective,
            best.objective,
            params,
        )
        return result, run.id

    def publish(self, event: Event) -> None:
        """The process is stopping: end the run (and its worker process) now."""
        if isinstance(event, Lifecycle) and event.what == "stopping" and self._task is not None:
            self._task.cancel()

    # ------------------------------------------------------------ applying

    def _forget_expired(self) -> None:
        now = self.clock()
        for key in [k for k, f in self._finished.items() if now - f.at > self.keep_seconds]:
            del self._finished[key]

    def finished(self, run_id: str) -> Finished:
        self._forget_expired()
        found = self._finished.get(run_id)
        if found is None:
            raise NotFound(
                "that optimisation's result is no longer kept (results are kept for an hour "
                "in the process that found them): optimise again"
            )
        return found

    async def bots_for(self, run_id: str) -> tuple[Finished, list[BotConfig]]:
        """The finished run and the bots its parameters fit (those trading its strategy)."""
        found = self.finished(run_id)
        bots = [bot for bot in await self.control.bots() if bot.strategy == found.strategy]
        return found, bots

    async def apply(self, actor: Actor, run_id: str, bot_id: int) -> Applied:
        """Set a bot's strategy parameters to a finished run's best (audited `bot.edit`)."""
        found = self.finished(run_id)
        bot = await self.control.bot_by_id(bot_id)
        if bot.strategy != found.strategy:
            raise InvalidRequest(
                f"{bot.name} trades {bot.strategy}, not {found.strategy}: nothing changed"
            )
        before = registry.validate_params(bot.strategy, dict(bot.strategy_params))
        edited = await self.control.edit_bot(actor, bot.id, {"strategy_params": found.params})
        after = registry.validate_params(edited.strategy, dict(edited.strategy_params))
        changes = [(key, before.get(key), after.get(key)) for key in after]
        return Applied(edited, changes)
