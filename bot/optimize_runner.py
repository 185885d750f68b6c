"""The chat's optimisations run in a worker process of their own (`spawn`: a fresh interpreter,
nothing inherited from the server's threads, loop or database connections), one search with
`jobs=1`, so the event loop keeps answering webhooks and the chat while trials run.

Progress and the result come back over a pipe the event loop watches (`add_reader`: no thread
waits on it). Cancelling the awaiting task (the process stopping) terminates the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import signal
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from trading.errors import TradingError
from trading.optimize_runs import OptimizeFailed, OptimizeJob, OptimizeService, Progress

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from bot.assembly import Assembly
    from trading.backtest.data import Ohlcv
    from trading.optimize.search import Trial
    from trading.optimize.walkforward import Optimization

log = logging.getLogger(__name__)

PROGRESS_EVERY = 0.25  # seconds between progress messages from the worker
STOP_WAIT = 5.0  # seconds a terminated worker gets to exit before it is killed


def optimize_service(assembly: Assembly) -> OptimizeService:
    """The chat's optimisation service, ended with the process (it hears `Lifecycle`)."""
    service = OptimizeService(run_in_process, assembly.control)
    assembly.events.subscribe(service)
    return service


async def run_in_process(
    data: Ohlcv, job: OptimizeJob, on_progress: Callable[[Progress], None]
) -> Optimization:
    """Search in a new worker process; `on_progress` is called in the event loop."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe(duplex=True)
    # The bars go over the pipe once the worker runs, from a thread: `start` writes its
    # arguments to the new interpreter synchronously, in the event loop, so they stay small.
    worker = context.Process(target=_work, args=(theirs,), name="tradebot-optimize", daemon=True)
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

    def readable() -> None:
        try:
            inbox.put_nowait(ours.recv())
        except (EOFError, OSError):
            loop.remove_reader(ours.fileno())
            inbox.put_nowait(("exited",))

    worker.start()
    theirs.close()  # the worker holds the only other end: its exit is our end of file
    try:
        await asyncio.to_thread(_send, ours, (data, job))
        loop.add_reader(ours.fileno(), readable)
        while True:
            kind, *rest = await inbox.get()
            if kind == "progress":
                on_progress(Progress(*rest))
            elif kind == "done":
                result: Optimization = rest[0]
                return result
            elif kind == "refused":
                raise OptimizeFailed(rest[0])
            elif kind == "crashed":
                log.error("optimisation worker failed:\n%s", rest[0])
                raise RuntimeError("optimisation worker failed")
            else:
                await asyncio.to_thread(worker.join, STOP_WAIT)
                raise OptimizeFailed(
                    f"the optimisation stopped unexpectedly (worker exit code {worker.exitcode})"
                )
    finally:
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(ours.fileno())
        ours.close()
        await _stop(worker)


def _send(connection: Connection, payload: object) -> None:
    """A worker that died before reading shows as the end of file that follows."""
    with contextlib.suppress(OSError):
        connection.send(payload)


async def _stop(worker: multiprocessing.process.BaseProcess) -> None:
    if worker.is_alive():
        worker.terminate()
        await asyncio.to_thread(worker.join, STOP_WAIT)
        if worker.is_alive():
            worker.kill()
            await asyncio.to_thread(worker.join, STOP_WAIT)
    worker.close()


def _work(out: Connection) -> None:
    """The worker process: the bars and the job in, progress (at most every
    `PROGRESS_EVERY` seconds) and the result out."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's: it ends this run
    try:
        data, job = out.recv()
    except (EOFError, OSError):  # the server went away before sending the bars
        return
    best: float | None = None
    last = 0.0

    def progress(done: int, total: int, trial: Trial) -> None:
        nonlocal best, last
        if (
            done <= job.trials  # the search over all bars comes first; folds search subsets
            and trial.state == "complete"
            and trial.objective is not None
            and (best is None or trial.objective > best)
        ):
            best = trial.objective
        now = time.monotonic()
        if now - last >= PROGRESS_EVERY or done >= total:
            last = now
            out.send(("progress", done, total, best))

    try:
        result = job.run(data, progress)
    except (TradingError, ValueError) as exc:  # the core's one-line refusals
        message = exc.user_message if isinstance(exc, TradingError) else str(exc)
        _tell(out, ("refused", message))
    except (BrokenPipeError, ConnectionResetError):  # the server went away: nobody to tell
        return
    except Exception:
        _tell(out, ("crashed", traceback.format_exc()))
    else:
        _tell(out, ("done", result))
    finally:
        out.close()


def _tell(out: Connection, message: tuple[object, ...]) -> None:
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        out.send(message)
