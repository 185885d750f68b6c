"""`python -m bench` (`make bench`): every benchmark, figures for docs/benchmarks.md.

backtesting.py, the peer the backtest is measured against, is a benchmark tool here, never a
dependency of the product: if it is missing, it is pip-installed into the running environment
(the project's .venv under `make bench`) before the run. Set TRADEBOT_BENCH_NO_INSTALL=1 to
skip that and time tradebot alone.

The webhook load bench needs the `wrk` binary (Debian: `apt-get install wrk`); without it that
part is skipped with a note. TRADEBOT_BENCH_WRK_DURATION (seconds per wrk run, 10) shortens it
for a quick try. The idle-memory part (`bench/idle_memory.py`) reads /proc and is skipped with a
note elsewhere than on Linux. The run exits 1 when the product answered a 5xx under load or an
executed alert does not have exactly one order.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

from bench import (
    backtest_bench,
    idle_memory,
    indicators_bench,
    monitor_bench,
    optimize_bench,
    webhook_bench,
)

PEER = "backtesting==0.6.6"  # the version the figures in docs/benchmarks.md were taken with


def ensure_peer() -> None:
    if importlib.util.find_spec("backtesting") is not None:
        return
    if os.environ.get("TRADEBOT_BENCH_NO_INSTALL") == "1":
        return
    print(f"installing {PEER} for the comparison (benchmark only) ...", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", PEER], check=False)
    importlib.invalidate_caches()


def main() -> None:
    print("== streaming and batch indicators ==")
    indicators_bench.run()
    print()
    print("== backtest: RSI(14) 30/70 long-only, 1,000,000 one-minute bars ==")
    ensure_peer()
    backtest_bench.run()
    print()
    print("== optimisation: 50-trial RSI search over 100,000 bars, --jobs 1 and 2 ==")
    optimize_bench.run()
    print()
    print("== position monitor: one tick with 1,000 / 10,000 / 100,000 open positions ==")
    monitor_bench.run()
    print()
    print("== idle memory: tradebot serve with 0 and 10,000 open positions, Telegram off / on ==")
    idle_memory.run([])
    print()
    print("== webhook load: wrk at concurrency 16 and 64, product and references ==")
    if not webhook_bench.run():
        sys.exit(1)


if __name__ == "__main__":
    main()
