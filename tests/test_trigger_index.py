"""The trigger index finds exactly what a scan of every position finds, tick after tick."""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from trading.levels import Level
from trading.trigger_index import TriggerIndex, Watch, trail_stop_price


@dataclass
class _Position:
    watch: Watch
    peak: D | None


class LinearScan:
    """The obvious algorithm: look at every position on every tick."""

    def __init__(self) -> None:
        self.positions: dict[int, _Position] = {}

    def add(self, watch: Watch) -> None:
        self.positions[watch.position_id] = _Position(watch, watch.trail_peak)

    def remove(self, position_id: int) -> None:
        self.positions.pop(position_id, None)

    def check(self, symbol: str, price: D) -> set[tuple[int, str, D]]:
        fired = set()
        for pid, p in list(self.positions.items()):
            w = p.watch
            if w.symbol != symbol:
                continue
            long = w.side == "long"
            stop = None
            if w.sl is not None and (price <= w.sl if long else price >= w.sl):
                stop = ("stop_loss", w.sl)
            if w.trail is not None and p.peak is not None:
                level = trail_stop_price(p.peak, w.trail, w.side)
                if price <= level if long else price >= level:
                    tighter = stop is None or (level > stop[1] if long else level < stop[1])
                    if tighter:
                        stop = ("trailing_stop", level)
            if stop is not None:
                fired.add((pid, *stop))
            elif w.tp is not None and (price >= w.tp if long else price <= w.tp):
                fired.add((pid, "take_profit", w.tp))
        for pid, _, _ in fired:
            del self.positions[pid]
        for p in self.positions.values():
            if p.watch.symbol == symbol and p.peak is not None:
                p.peak = max(p.peak, price) if p.watch.side == "long" else min(p.peak, price)
        return fired


def _watch(rng: random.Random, pid: int, version: int, price: D) -> Watch:
    side = rng.choice(["long", "short"])
    sign = 1 if side == "long" else -1
    sl = tp = trail = peak = None
    if rng.random() < 0.6:
        sl = price - sign * D(rng.randint(1, 40)) / 4
    if rng.random() < 0.5:
        tp = price + sign * D(rng.randint(1, 40)) / 4
    if rng.random() < 0.6:
        if rng.random() < 0.5:
            trail = Level(value=D(rng.choice([1, 2, 5, 10, 15])) / 2, percent=True)
        else:
            trail = Level(value=D(rng.randint(1, 20)) / 2, percent=False)
        peak = price + D(rng.randint(-4, 4)) / 2
    return Watch(pid, version, 1, rng.choice(["AAA", "BBB"]), side, sl, tp, None, trail, peak)


def _run(seed: int, steps: int, max_positions: int) -> None:
    rng = random.Random(seed)
    index, scan = TriggerIndex(), LinearScan()
    price = {"AAA": D(100), "BBB": D(50)}
    next_id = 1
    for _ in range(steps):
        roll = rng.random()
        open_ids = list(scan.positions)
        if roll < 0.3 and len(open_ids) < max_positions:
            symbol_price = price[rng.choice(["AAA", "BBB"])]
            watch = _watch(rng, next_id, 0, symbol_price)
            next_id += 1
            index.add(watch)
            if watch.sl is not None or watch.tp is not None or watch.trail is not None:
                scan.add(watch)
        elif roll < 0.38 and open_ids:
            pid = rng.choice(open_ids)
            index.remove(pid)
            scan.remove(pid)
        elif roll < 0.45 and open_ids:
            # stops change (an add, a break-even move): the position is watched anew
            pid = rng.choice(open_ids)
            old = scan.positions[pid].watch
            peak = index.trail_peak(pid)
            new = _watch(rng, pid, old.version + 1, price[old.symbol])
            new = Watch(
                pid, new.version, 1, old.symbol, old.side,
                new.sl if old.side == new.side else None,
                new.tp if old.side == new.side else None,
                None, old.trail, peak,
            )  # fmt: skip
            index.add(new)
            scan.add(new)
            if new.sl is None and new.tp is None and new.trail is None:
                scan.remove(pid)
        else:
            symbol = rng.choice(["AAA", "BBB"])
            step = D(rng.randint(-12, 12)) / 4
            if rng.random() < 0.05:
                step *= 8  # a gap
            price[symbol] = max(D(1), price[symbol] + step)
            fired = index.check(symbol, price[symbol])
            got = {(t.watch.position_id, t.reason, t.level) for t in fired}
            expected = scan.check(symbol, price[symbol])
            assert got == expected, (symbol, price[symbol])
            for pid, p in scan.positions.items():
                if p.watch.trail is not None:
                    assert index.trail_peak(pid) == p.peak
        assert len(index) == len(scan.positions)


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=1, max_value=60))
def test_index_finds_what_a_linear_scan_finds(seed: int, max_positions: int) -> None:
    _run(seed, steps=300, max_positions=max_positions)


def test_index_matches_scan_with_many_positions() -> None:
    _run(seed=7, steps=20_000, max_positions=2_000)


def test_trailing_stop_ratchets_then_fires() -> None:
    index = TriggerIndex()
    trail = Level.parse("2%")
    index.add(Watch(1, 0, 1, "BTCUSDT", "long", trail=trail, trail_peak=D(100)))
    index.add(Watch(2, 0, 1, "BTCUSDT", "short", trail=trail, trail_peak=D(100)))
    assert index.check("BTCUSDT", D(99)) == []
    assert index.trail_peak(2) == D(99)  # the short's trough follows the price down
    [short] = index.check("BTCUSDT", D(105))  # its stop was 99 * 1.02 = 100.98
    assert (short.watch.position_id, short.reason, short.level) == (2, "trailing_stop", D("100.98"))
    assert index.check("BTCUSDT", D(110)) == []
    assert index.trail_peak(1) == D(110)  # the long's peak follows the price up
    assert index.check("BTCUSDT", D("107.9")) == []  # stop 107.8
    [fired] = index.check("BTCUSDT", D("107.5"))
    assert (fired.watch.position_id, fired.reason, fired.level) == (1, "trailing_stop", D("107.8"))
    assert len(index) == 0


def test_gap_through_a_stop_reports_the_level_and_the_tick() -> None:
    index = TriggerIndex()
    index.add(Watch(1, 0, 1, "BTCUSDT", "long", sl=D(98), tp=D(104)))
    [fired] = index.check("BTCUSDT", D(90))
    assert (fired.reason, fired.level, fired.price) == ("stop_loss", D(98), D(90))
    assert index.check("BTCUSDT", D(80)) == [] and len(index) == 0


def test_a_million_ticks_that_trigger_nothing_keep_memory_bounded() -> None:
    index = TriggerIndex()
    trail = Level.parse("50%")
    for pid in range(100):
        index.add(Watch(pid, 0, 1, "X", "long", sl=D(1), trail=trail, trail_peak=D(10)))
    price = D(10)
    for _ in range(20_000):
        price += D("0.01")  # a rising market: every tick ratchets every trailing stop
        assert index.check("X", price) == []
    stats = index.stats()
    assert stats["cohorts"] == 1 and stats["entries"] < 3 * 100 + 200
