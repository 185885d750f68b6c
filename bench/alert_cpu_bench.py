"""CPU time per alert in one process: the whole app, without wrk's and the machine's noise.

`create_app` on a fresh SQLite file (migrated, a `load` bot added through the CLI, as the wrk
bench does), served on 127.0.0.1, and 3,000 alerts posted by aiohttp's client from the same
process at a fixed concurrency; `time.process_time()` over the timed part divided by the
alerts (client included: the same for any tree measured). Steadier than req/s on a shared
machine, so two trees can be compared alternately (docs/benchmarks.md, issue 13):

    python -m bench.alert_cpu_bench --alerts 3000 --concurrency 16
    cd ../other-tree && PYTHONPATH=. python -m bench.alert_cpu_bench   # the tree to compare
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import tempfile
import time
from pathlib import Path

from bench.webhook_bench import create_load_bot, product_env

WARM_UP = 200


def prepare(tmp: Path, *, rules: bool = False) -> str:
    """The database migrated and a `load` bot on it (as the wrk bench does; `rules`: with every
    risk rule set, `webhook_bench.EVERY_RULE`); its webhook path."""
    db_path = tmp / "alerts.sqlite3"
    env = product_env(db_path, 8080)  # the port is unused: `measure` serves on one of its own
    env["TRADEBOT_LOG_LEVEL"] = "WARNING"
    key = create_load_bot(env, tmp, db_path, rules=rules)
    os.environ.update(env)
    return f"/webhook/{key}"


async def measure(path: str, alerts: int, concurrency: int) -> tuple[float, float]:
    """(ms of CPU per alert, alerts per second of wall time)."""
    from aiohttp import ClientSession, web

    from bot.app import create_app
    from bot.config import load_settings

    logging.disable(logging.INFO)
    runner = web.AppRunner(create_app(load_settings()), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}{path}"
    gc.freeze()  # as `tradebot serve` does once started
    numbers = iter(range(10**9))

    async def post(session: ClientSession) -> None:
        n = next(numbers)
        body = json.dumps(
            {
                "action": "buy" if n % 2 == 0 else "sell",
                "symbol": "BINANCE:BTCUSDT",
                "price": "100",  # one price: equity never moves (`webhook_bench.EVERY_RULE`)
                "qty": "1",
                "id": f"a{n}",
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        )
        async with session.post(url, data=body, headers={"Content-Type": "text/plain"}) as answer:
            await answer.read()
            if answer.status != 200:
                raise SystemExit(f"alert {n} answered {answer.status}")

    async def worker(session: ClientSession, count: int) -> None:
        for _ in range(count):
            await post(session)

    each = alerts // concurrency
    try:
        async with ClientSession() as session:
            await asyncio.gather(
                *(worker(session, WARM_UP // concurrency) for _ in range(concurrency))
            )
            cpu, wall = time.process_time(), time.perf_counter()
            await asyncio.gather(*(worker(session, each) for _ in range(concurrency)))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await runner.cleanup()
    done = each * concurrency
    return cpu / done * 1000, done / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rules", action="store_true", help="every risk rule set (issue 14)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tradebot-cpu-") as name:
        path = prepare(Path(name), rules=args.rules)
        cpu_ms, rate = asyncio.run(measure(path, args.alerts, args.concurrency))
    print(
        f"c{args.concurrency}{' every risk rule' if args.rules else ''}: "
        f"{cpu_ms:.3f} ms CPU per alert (client included), "
        f"{rate:,.0f} alerts/s, {args.alerts:,} alerts"
    )


if __name__ == "__main__":
    main()
