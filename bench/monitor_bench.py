"""Position monitor speed: the cost of one price tick with 1,000, 10,000 and 100,000 open
positions, beside a linear scan of the same positions in the same run, and the latency from a
triggering tick to the closing order at the paper broker.

Run with ``python -m bench.monitor_bench`` (or ``make bench`` for every benchmark).

* Positions: half long, half short, one symbol (the worst case: every position is on the tick's
  symbol); each has a stop-loss and a take-profit 1-20 % away, and 30 % of them a trailing stop
  of 1-5 % (random to the hundredth of a percent, so trails rarely share a value). Decimal
  prices, as the monitor holds them.
* Ticks: a random walk that stays within ±0.4 % of 100, so nothing triggers while trailing
  peaks keep ratcheting; the same ticks for the index and the scan.
* "index": `TriggerIndex.check`, the O(log n + k) look-up. "tick": `Monitor.on_price`, the
  monitor's own entry point (price cache, staleness, index, ratchet bookkeeping; the trailing
  peaks' database write happens later, off the tick path). "scan": a loop over every position
  doing the same comparisons and peak updates on the same Decimal levels; "float scan": the
  cheapest scan there is, the same loop over float tuples (what a scan costs at best).
* Latency: a real SQLite database (WAL, synchronous=FULL, in a temporary directory), the real
  TradingService and PaperBroker; 100,000 other positions on the same symbol in the index. A
  position is opened with a 2 % stop, then a tick below the stop goes through
  `Monitor.on_price`; measured: from the call to the broker's `place_order` (the claim and the
  order row are written before it), and to the fill stored (trade row written).

Figures are per tick, best of ``REPEATS`` runs for the tick costs; the latency is the median
(and 90th percentile) over ``LATENCY_SAMPLES`` triggers.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from trading.brokers.base import OrderFill, OrderRequest
from trading.brokers.paper import PaperBroker
from trading.events import EventBus
from trading.levels import Level
from trading.monitor import Monitor, MonitorConfig
from trading.service import TradingService
from trading.trigger_index import TriggerIndex, Watch, trail_stop_price

SIZES = (1_000, 10_000, 100_000)
TICKS = 20_000
SCAN_TICKS = {1_000: 2_000, 10_000: 200, 100_000: 20}
REPEATS = 3
LATENCY_SAMPLES = 200
SYMBOL = "BTCUSDT"
CENTER = Decimal(100)


def make_positions(n: int, seed: int = 5) -> list[Watch]:
    rng = random.Random(seed)
    watches = []
    for pid in range(1, n + 1):
        side = "long" if pid % 2 else "short"
        sign = 1 if side == "long" else -1
        sl = CENTER * (1 - sign * Decimal(rng.randint(100, 2000)) / 10000)
        tp = CENTER * (1 + sign * Decimal(rng.randint(100, 2000)) / 10000)
        trail = None
        if rng.random() < 0.3:
            trail = Level(value=Decimal(rng.randint(100, 500)) / 100, percent=True)
        watches.append(
            Watch(
                pid,
                0,
                1,
                SYMBOL,
                side,
                sl=sl,
                tp=tp,
                trail=trail,
                trail_peak=CENTER if trail else None,
            )
        )
    return watches


def make_ticks(n: int, seed: int = 9) -> list[Decimal]:
    rng = random.Random(seed)
    ticks, cents = [], 10000
    for _ in range(n):
        cents = min(10040, max(9960, cents + rng.randint(-5, 5)))
        ticks.append(Decimal(cents) / 100)
    return ticks


class FloatScan:
    """The scan at its cheapest: float levels in tuples, trailing stops precomputed factors."""

    def __init__(self, watches: list[Watch]) -> None:
        self.rows = []
        for w in watches:
            factor = None
            if w.trail is not None:
                f = float(w.trail.value) / 100
                factor = 1 - f if w.side == "long" else 1 + f
            peak = float(w.trail_peak) if w.trail_peak is not None else 0.0
            self.rows.append([w.side == "long", float(w.sl or 0), float(w.tp or 0), factor, peak])

    def check(self, price: float) -> int:
        fired = 0
        for row in self.rows:
            long, sl, tp, factor, peak = row
            if long:
                if price <= sl or price >= tp:
                    fired += 1
                if factor is not None:
                    if price <= peak * factor:
                        fired += 1
                    elif price > peak:
                        row[4] = price
            else:
                if price >= sl or price <= tp:
                    fired += 1
                if factor is not None:
                    if price >= peak * factor:
                        fired += 1
                    elif price < peak:
                        row[4] = price
        return fired


class LinearScan:
    """Every position checked on every tick: the obvious algorithm, for comparison."""

    def __init__(self, watches: list[Watch]) -> None:
        self.rows = [[w.side == "long", w.sl, w.tp, w.trail, w.trail_peak, w.side] for w in watches]

    def check(self, price: Decimal) -> int:
        fired = 0
        for row in self.rows:
            long, sl, tp, trail, peak, side = row
            if long:
                if price <= sl or price >= tp:
                    fired += 1
                if trail is not None:
                    if price <= trail_stop_price(peak, trail, side):
                        fired += 1
                    elif price > peak:
                        row[4] = price
            else:
                if price >= sl or price <= tp:
                    fired += 1
                if trail is not None:
                    if price >= trail_stop_price(peak, trail, side):
                        fired += 1
                    elif price < peak:
                        row[4] = price
        return fired


def _best(fn: Any, repeats: int = REPEATS) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


class _NoLedger:
    async def realized(self) -> dict[str, Decimal]:
        return {}

    async def exposure(self) -> dict[str, Decimal]:
        return {}

    async def account(self, quote: str) -> tuple[Decimal, Decimal]:
        return Decimal(0), Decimal(0)


def _monitor(watches: list[Watch]) -> Monitor:
    from db.stores import sql_stores  # never queried: only the index is measured

    events = EventBus()
    stores = sql_stores()
    trading = TradingService(PaperBroker(_NoLedger()), events, stores=stores)
    monitor = Monitor(trading, events, stores=stores)
    for watch in watches:
        monitor.index.add(watch)
    return monitor


async def tick_costs(n: int, ticks: list[Decimal]) -> dict[str, float]:
    """µs per tick for the index, the monitor's entry point and a linear scan."""
    watches = make_positions(n)
    index = TriggerIndex()
    for watch in watches:
        index.add(watch)

    def index_run() -> None:
        check = index.check
        for price in ticks:
            if check(SYMBOL, price):
                raise AssertionError("a tick triggered")
        index.ratchets.clear()

    monitor = _monitor(watches)
    now = datetime.now(UTC)

    def tick_run() -> None:
        on_price = monitor.on_price
        for price in ticks:
            if on_price(SYMBOL, price, now, "tick", bot_id=None):
                raise AssertionError("a tick triggered")

    scan_ticks = ticks[: SCAN_TICKS.get(n, 20)]
    float_ticks = [float(t) for t in scan_ticks]

    def scan_run() -> None:
        scan = LinearScan(watches)
        started = time.perf_counter()
        for price in scan_ticks:
            if scan.check(price):
                raise AssertionError("a tick triggered")
        timings.append(time.perf_counter() - started)

    def float_run() -> None:
        scan = FloatScan(watches)
        started = time.perf_counter()
        for price in float_ticks:
            if scan.check(price):
                raise AssertionError("a tick triggered")
        timings.append(time.perf_counter() - started)

    index_us = _best(index_run) / len(ticks) * 1e6
    tick_us = _best(tick_run) / len(ticks) * 1e6
    await monitor.flush()  # the trailing peaks the ticks raised, written behind them
    await monitor.close()
    timings: list[float] = []
    _best(scan_run)
    scan_us = min(timings) / len(scan_ticks) * 1e6
    timings.clear()
    _best(float_run)
    float_us = min(timings) / len(scan_ticks) * 1e6
    return {"index_us": index_us, "tick_us": tick_us, "scan_us": scan_us, "float_scan_us": float_us}


def rising_market(n: int, ticks: int = TICKS) -> float:
    """µs per tick when every tick is a new high and n trailing longs (1-5 %) all ratchet."""
    rng = random.Random(3)
    index = TriggerIndex()
    for pid in range(1, n + 1):
        trail = Level(value=Decimal(rng.randint(100, 500)) / 100, percent=True)
        index.add(Watch(pid, 0, 1, SYMBOL, "long", trail=trail, trail_peak=CENTER))
    prices = [CENTER + Decimal(i) / 100 for i in range(1, ticks + 1)]
    started = time.perf_counter()
    for price in prices:
        if index.check(SYMBOL, price):
            raise AssertionError("a tick triggered")
        index.ratchets.clear()
    return (time.perf_counter() - started) / ticks * 1e6


class _TimedBroker(PaperBroker):
    """The paper broker, noting when each closing order reaches it."""

    def __init__(self, ledger: Any) -> None:
        super().__init__(ledger)
        self.reached: float | None = None

    async def place_order(self, request: OrderRequest) -> OrderFill:
        if request.open_qty == 0:
            self.reached = time.perf_counter()
        return await super().place_order(request)


async def trigger_latency(samples: int, others: int) -> dict[str, float]:
    """ms from a triggering tick to the closing order at the broker, and to the stored fill."""
    from db.stores import sql_stores
    from trading.alerts import build_alert
    from trading.bots import BotSpec

    events = EventBus()
    broker = _TimedBroker(sql_stores().ledger)
    trading = TradingService(broker, events, stores=sql_stores())
    monitor = Monitor(trading, events, MonitorConfig(), stores=trading.stores)
    trading.watcher = monitor
    bot = await sql_stores().bots.create_bot(
        BotSpec(name="bench", symbols=[SYMBOL], strategy="signal", size="1", direction="long")
    )
    for watch in make_positions(others):
        far = Watch(watch.position_id + 10**9, 0, 0, SYMBOL, watch.side, sl=watch.sl)
        monitor.index.add(far)  # the others a tick is checked against
    buy = build_alert({"action": "buy", "symbol": SYMBOL, "price": "100", "sl": "2%"})
    to_order, to_fill = [], []
    for _ in range(samples):
        await trading.execute_alert(bot, buy)
        broker.reached = None
        started = time.perf_counter()
        tasks = monitor.on_price(SYMBOL, Decimal(97), datetime.now(UTC), "tick", bot_id=None)
        await asyncio.wait(tasks)
        done = time.perf_counter()
        assert broker.reached is not None, "the stop did not reach the broker"
        to_order.append((broker.reached - started) * 1000)
        to_fill.append((done - started) * 1000)
    await monitor.close()
    trades = await sql_stores().orders.list_trades(limit=samples + 1)
    assert len(trades) == samples and all(t.reason == "stop_loss" for t in trades)

    def p90(values: list[float]) -> float:
        return statistics.quantiles(values, n=10)[-1]

    return {
        "to_order_ms": statistics.median(to_order),
        "to_order_p90_ms": p90(to_order),
        "to_fill_ms": statistics.median(to_fill),
        "to_fill_p90_ms": p90(to_fill),
    }


async def _run(sizes: tuple[int, ...], samples: int) -> dict[str, Any]:
    from tortoise import Tortoise

    from db.config import tortoise_config
    from db.migrate import upgrade

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite://{Path(folder) / 'bench.sqlite3'}"
        await upgrade(url)
        await Tortoise.init(config=tortoise_config(url))
        try:
            return await _measure(sizes, samples)
        finally:
            await Tortoise.close_connections()


async def _measure(sizes: tuple[int, ...], samples: int) -> dict[str, Any]:
    ticks = make_ticks(TICKS)
    figures: dict[str, Any] = {}
    for n in sizes:
        costs = await tick_costs(n, ticks)
        figures[n] = costs
        print(
            f"{n:>7,} positions: index {costs['index_us']:5.2f} µs/tick · monitor tick "
            f"{costs['tick_us']:5.2f} µs · linear scan {costs['scan_us']:9.1f} µs "
            f"(float scan {costs['float_scan_us']:8.1f} µs, "
            f"{costs['float_scan_us'] / costs['index_us']:,.0f}× the index)"
        )
    figures["rising_us"] = rising_market(max(sizes))
    print(
        f"{max(sizes):>7,} trailing longs, every tick a new high (all ratchet): index "
        f"{figures['rising_us']:.2f} µs/tick"
    )
    latency = await trigger_latency(samples, max(sizes))
    figures["latency"] = latency
    print(
        f"triggering tick → closing order at the paper broker: median "
        f"{latency['to_order_ms']:.2f} ms (p90 {latency['to_order_p90_ms']:.2f} ms); "
        f"→ fill stored: median {latency['to_fill_ms']:.2f} ms "
        f"(p90 {latency['to_fill_p90_ms']:.2f} ms), SQLite, {samples} triggers"
    )
    return figures


def run(sizes: tuple[int, ...] = SIZES, samples: int = LATENCY_SAMPLES) -> dict[str, Any]:
    """Measure and print; return the figures: per size index_us, tick_us, scan_us,
    float_scan_us; rising_us; latency: to_order_ms, to_order_p90_ms, to_fill_ms,
    to_fill_p90_ms."""
    return asyncio.run(_run(sizes, samples))


if __name__ == "__main__":
    run()
