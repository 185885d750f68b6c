"""Trigger levels of open positions per symbol, so a price tick costs O(log n + k), not O(n).

Everything is kept in "x-space": x = price for longs and x = -price for shorts, so one rule
serves both sides: a stop (stop-loss or trailing) fires when x <= its level, a target
(take-profit) when x >= its level, and a trailing stop's peak is the highest x seen (a long's
highest price, a short's lowest).

Per symbol and side:

* stop-losses: a max-heap of levels; a tick looks at the top only.
* take-profits (the next level of each position): a min-heap of levels.
* trailing stops, one book per kind (percentage or distance). A tick at x raises the peak of
  every position whose peak is below x to x, so positions that share a peak keep sharing it
  forever after: they form a *cohort*. Cohorts are kept sorted by peak; a tick merges the
  cohorts below x into one (small into large), so a rising market costs O(log n) per tick,
  however many positions trail. Inside a cohort every position has the same peak, so the one
  with the smallest trail fires first (a min-heap on the trail); across cohorts a max-heap of
  each cohort's highest stop says whether anything fires.

Removal is lazy: each position's entries carry a generation number, and an entry whose
generation is not the position's current one is skipped (and dropped) when it comes to the top.
Heaps are compacted when dead entries outnumber live ones, so memory stays O(n).

Whose price moves whose stops (SPEC §5): the books are kept per symbol *and bot*. A price from
a bot's own alert is checked against that bot's books only (`check(symbol, price, bot_id)`), so
another bot's alert can neither fire nor ratchet them; an exchange price (`bot_id=None`) is
checked against every bot's books of the symbol.

The index is pure (no I/O, no clock): `trading.monitor` feeds it ticks and positions.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left, insort
from dataclasses import dataclass
from decimal import Decimal
from heapq import heapify, heappop, heappush
from typing import Literal

from trading.levels import HUNDRED, Level
from trading.positions import Side

Reason = Literal["stop_loss", "take_profit", "trailing_stop"]

_COMPACT_SLACK = 64


@dataclass(frozen=True, slots=True)
class Watch:
    """What the index needs to know about one open position."""

    position_id: int
    version: int
    bot_id: int
    symbol: str
    side: Side
    sl: Decimal | None = None
    tp: Decimal | None = None  # the next take-profit level
    tp_level: int | None = None  # which entry of the position's take_profits `tp` is
    trail: Level | None = None
    trail_peak: Decimal | None = None  # best price since open (long: highest, short: lowest)


@dataclass(frozen=True, slots=True)
class Trigger:
    watch: Watch
    reason: Reason
    level: Decimal  # the stop or target price that was reached
    price: Decimal  # the tick that reached it


def trail_stop_price(peak: Decimal, trail: Level, side: Side) -> Decimal:
    """The trailing stop for a best price `peak`: below it for a long, above it for a short."""
    move = peak * (trail.value / HUNDRED) if trail.percent else trail.value
    return peak - move if side == "long" else peak + move


class _Cohort:
    """Trailing positions that share one peak (in x-space)."""

    __slots__ = ("heap", "live", "peak", "version")

    def __init__(self, peak: Decimal) -> None:
        self.peak = peak
        self.heap: list[tuple[Decimal, int, int]] = []  # (trail param, position id, generation)
        self.live = 0
        self.version = 0


class _TrailBook:
    """Trailing stops of one kind (percentage or distance) for one symbol and side."""

    __slots__ = ("_seq", "cohorts", "fire", "neg_peaks", "percent", "sign", "where")

    def __init__(self, sign: int, percent: bool) -> None:
        self.sign = sign
        self.percent = percent
        self.cohorts: dict[Decimal, _Cohort] = {}
        self.neg_peaks: list[Decimal] = []  # ascending -peak: the lowest peak is last
        self.fire: list[tuple[Decimal, int, _Cohort, int]] = []  # (-stop, seq, cohort, version)
        self.where: dict[int, _Cohort] = {}
        self._seq = itertools.count()

    def stop_x(self, peak: Decimal, param: Decimal) -> Decimal:
        if self.percent:
            # Same arithmetic as trail_stop_price, mirrored for shorts.
            return peak - peak * param if self.sign > 0 else peak + peak * param
        return peak - param

    def _top_stop(self, cohort: _Cohort, live: dict[int, int]) -> Decimal | None:
        heap = cohort.heap
        while heap:
            param, pid, gen = heap[0]
            if live.get(pid) == gen:
                return self.stop_x(cohort.peak, param)
            heappop(heap)
        return None

    def _push(self, cohort: _Cohort, live: dict[int, int]) -> None:
        cohort.version += 1
        stop = self._top_stop(cohort, live)
        if stop is not None:
            heappush(self.fire, (-stop, next(self._seq), cohort, cohort.version))
        if len(self.fire) > 2 * len(self.cohorts) + _COMPACT_SLACK:
            self.fire = [e for e in self.fire if e[2].version == e[3]]
            heapify(self.fire)

    def add(self, pid: int, gen: int, peak: Decimal, param: Decimal, live: dict[int, int]) -> None:
        cohort = self.cohorts.get(peak)
        if cohort is None:
            cohort = self.cohorts[peak] = _Cohort(peak)
            insort(self.neg_peaks, -peak)
        heappush(cohort.heap, (param, pid, gen))
        cohort.live += 1
        self.where[pid] = cohort
        # The newcomer may have the smallest trail of the cohort (a higher stop); a dead entry
        # above it in the heap would hide that, so the cohort's stop is always recomputed.
        self._push(cohort, live)

    def remove(self, pid: int, live: dict[int, int]) -> None:
        cohort = self.where.pop(pid, None)
        if cohort is None:
            return
        cohort.live -= 1
        if cohort.live <= 0:
            cohort.version += 1  # its entries in `fire` are dead now
            if self.cohorts.get(cohort.peak) is cohort:
                del self.cohorts[cohort.peak]
                at = bisect_left(self.neg_peaks, -cohort.peak)
                del self.neg_peaks[at]
        elif len(cohort.heap) > 2 * cohort.live + _COMPACT_SLACK:
            cohort.heap = [e for e in cohort.heap if live.get(e[1]) == e[2]]
            heapify(cohort.heap)

    def peak_of(self, pid: int) -> Decimal | None:
        cohort = self.where.get(pid)
        return None if cohort is None else cohort.peak

    def fired(self, x: Decimal, live: dict[int, int], out: list[tuple[int, Decimal]]) -> None:
        """Append (position id, stop in x-space) of every position whose stop is at or above x."""
        fire = self.fire
        while fire:
            neg_stop, _, cohort, version = fire[0]
            if cohort.version != version:
                heappop(fire)
                continue
            if x > -neg_stop:
                return
            heappop(fire)
            heap = cohort.heap
            while heap:
                param, pid, gen = heap[0]
                if live.get(pid) != gen:
                    heappop(heap)
                    continue
                stop = self.stop_x(cohort.peak, param)
                if x > stop:
                    break
                heappop(heap)
                out.append((pid, stop))
            self._push(cohort, live)

    def ratchet(self, x: Decimal, live: dict[int, int]) -> bool:
        """Raise every peak below x to x; True when some peak moved."""
        neg = self.neg_peaks
        if not neg or -neg[-1] >= x:
            return False
        merged = []
        while neg and -neg[-1] < x:
            merged.append(self.cohorts.pop(-neg.pop()))
        same = self.cohorts.pop(x, None)
        if same is not None:
            neg.pop()
            merged.append(same)
        survivor = max(merged, key=lambda c: len(c.heap))
        for cohort in merged:
            if cohort is survivor:
                continue
            cohort.version += 1
            for item in cohort.heap:
                if live.get(item[1]) == item[2]:
                    heappush(survivor.heap, item)
                    self.where[item[1]] = survivor
            survivor.live += cohort.live
        survivor.peak = x
        self.cohorts[x] = survivor
        neg.append(-x)
        self._push(survivor, live)
        return True


class _SideBook:
    """Every trigger of one side of one symbol."""

    __slots__ = ("dead_stops", "dead_targets", "sign", "stops", "targets", "trail_abs", "trail_pct")

    def __init__(self, sign: int) -> None:
        self.sign = sign
        self.stops: list[tuple[Decimal, int, int]] = []  # (-level, pid, gen): max-heap on level
        self.targets: list[tuple[Decimal, int, int]] = []  # (level, pid, gen): min-heap
        self.dead_stops = 0
        self.dead_targets = 0
        self.trail_pct = _TrailBook(sign, percent=True)
        self.trail_abs = _TrailBook(sign, percent=False)


class TriggerIndex:
    """Stop-loss, take-profit and trailing-stop levels of open positions, by symbol and bot."""

    def __init__(self) -> None:
        # symbol -> bot id -> (long book, short book)
        self._books: dict[str, dict[int, tuple[_SideBook, _SideBook]]] = {}
        self._live: dict[int, int] = {}  # position id -> current generation
        self._watches: dict[int, Watch] = {}
        self._gen = itertools.count(1)
        self._count: dict[str, int] = {}
        self._bot_count: dict[tuple[str, int], int] = {}
        # (symbol, bot id or None for an exchange price, side, peak price) of every tick that
        # raised some trailing peak, for the monitor to persist; it drains the list.
        self.ratchets: list[tuple[str, int | None, Side, Decimal]] = []

    # ------------------------------------------------------------ contents

    def __len__(self) -> int:
        return len(self._watches)

    def __contains__(self, position_id: int) -> bool:
        return position_id in self._watches

    def watch(self, position_id: int) -> Watch | None:
        return self._watches.get(position_id)

    def watches(self) -> list[Watch]:
        return list(self._watches.values())

    def symbols(self) -> list[str]:
        """Symbols with at least one position watched."""
        return list(self._count)

    def has_symbol(self, symbol: str) -> bool:
        return symbol in self._count

    def pairs(self) -> list[tuple[str, int]]:
        """(symbol, bot id) of every bot with a position watched in that symbol."""
        return list(self._bot_count)

    def bots(self, symbol: str) -> list[int]:
        """Bots with a position watched in `symbol`."""
        return list(self._books.get(symbol, ()))

    def watches_bot(self, symbol: str, bot_id: int) -> bool:
        return (symbol, bot_id) in self._bot_count

    def stats(self) -> dict[str, int]:
        """Sizes, for health and benchmarks: positions, heap entries (live and dead), cohorts."""
        entries = cohorts = 0
        for by_bot in self._books.values():
            for books in by_bot.values():
                for book in books:
                    entries += len(book.stops) + len(book.targets)
                    for trail in (book.trail_pct, book.trail_abs):
                        cohorts += len(trail.cohorts)
                        entries += len(trail.fire)
                        entries += sum(len(c.heap) for c in trail.cohorts.values())
        return {"positions": len(self._watches), "entries": entries, "cohorts": cohorts}

    def trail_peak(self, position_id: int) -> Decimal | None:
        """The position's current best price, as the index has ratcheted it."""
        watch = self._watches.get(position_id)
        if watch is None or watch.trail is None:
            return None
        book = self._books[watch.symbol][watch.bot_id][0 if watch.side == "long" else 1]
        trail = book.trail_pct if watch.trail.percent else book.trail_abs
        peak = trail.peak_of(position_id)
        return None if peak is None else peak * book.sign

    # ------------------------------------------------------------ changes

    def add(self, watch: Watch) -> None:
        """Watch a position (replacing what was watched for it). A position with no level at all
        is not kept."""
        self.remove(watch.position_id)
        has_trail = watch.trail is not None and watch.trail_peak is not None
        if watch.sl is None and watch.tp is None and not has_trail:
            return
        by_bot = self._books.setdefault(watch.symbol, {})
        books = by_bot.get(watch.bot_id)
        if books is None:
            books = by_bot[watch.bot_id] = (_SideBook(1), _SideBook(-1))
        book = books[0] if watch.side == "long" else books[1]
        sign = book.sign
        pid = watch.position_id
        gen = next(self._gen)
        self._live[pid] = gen
        self._watches[pid] = watch
        self._count[watch.symbol] = self._count.get(watch.symbol, 0) + 1
        key = (watch.symbol, watch.bot_id)
        self._bot_count[key] = self._bot_count.get(key, 0) + 1
        if watch.sl is not None:
            heappush(book.stops, (-(watch.sl * sign), pid, gen))
        if watch.tp is not None:
            heappush(book.targets, (watch.tp * sign, pid, gen))
        if has_trail:
            assert watch.trail is not None and watch.trail_peak is not None
            level = watch.trail
            trail = book.trail_pct if level.percent else book.trail_abs
            param = level.value / HUNDRED if level.percent else level.value
            trail.add(pid, gen, watch.trail_peak * sign, param, self._live)

    def remove(self, position_id: int) -> Watch | None:
        watch = self._watches.pop(position_id, None)
        if watch is None:
            return None
        del self._live[position_id]
        left = self._count[watch.symbol] - 1
        if left:
            self._count[watch.symbol] = left
        else:
            del self._count[watch.symbol]
        key = (watch.symbol, watch.bot_id)
        left = self._bot_count[key] - 1
        if left:
            self._bot_count[key] = left
        else:
            del self._bot_count[key]
            by_bot = self._books[watch.symbol]
            del by_bot[watch.bot_id]
            if not by_bot:
                del self._books[watch.symbol]
            return watch
        book = self._books[watch.symbol][watch.bot_id][0 if watch.side == "long" else 1]
        if watch.sl is not None:
            book.dead_stops += 1
            if book.dead_stops > len(book.stops) // 2 + _COMPACT_SLACK:
                book.stops = [e for e in book.stops if self._live.get(e[1]) == e[2]]
                heapify(book.stops)
                book.dead_stops = 0
        if watch.tp is not None:
            book.dead_targets += 1
            if book.dead_targets > len(book.targets) // 2 + _COMPACT_SLACK:
                book.targets = [e for e in book.targets if self._live.get(e[1]) == e[2]]
                heapify(book.targets)
                book.dead_targets = 0
        if watch.trail is not None:
            trail = book.trail_pct if watch.trail.percent else book.trail_abs
            trail.remove(position_id, self._live)
        return watch

    # ------------------------------------------------------------ the tick

    def check(self, symbol: str, price: Decimal, bot_id: int | None = None) -> list[Trigger]:
        """Positions of `symbol` whose stop or target `price` reaches, removed from the index;
        trailing peaks below `price` are raised to it. `bot_id`: whose price it is, the bot's
        own alert (only that bot's positions are looked at), or None for the exchange's price
        (every bot's positions)."""
        by_bot = self._books.get(symbol)
        if by_bot is None:
            return []
        if bot_id is None:
            triggers: list[Trigger] = []
            moved: set[Side] = set()
            for bot, books in list(by_bot.items()):
                triggers += self._check_books(symbol, bot, books, price, moved)
            for side in moved:
                self.ratchets.append((symbol, None, side, price))
            return triggers
        books = by_bot.get(bot_id)
        if books is None:
            return []
        moved = set()
        triggers = self._check_books(symbol, bot_id, books, price, moved)
        for side in moved:
            self.ratchets.append((symbol, bot_id, side, price))
        return triggers

    def _check_books(
        self,
        symbol: str,
        bot_id: int,
        books: tuple[_SideBook, _SideBook],
        price: Decimal,
        moved: set[Side],
    ) -> list[Trigger]:
        """One bot's books of `symbol`; adds to `moved` the sides whose trailing peaks rose."""
        long_book, short_book = books
        fired = self._fired(long_book, price)
        if fired:
            triggers = self._resolve(fired, long_book.sign, price)
        else:
            triggers = []
        neg = -price
        fired = self._fired(short_book, neg)
        if fired:
            triggers += self._resolve(fired, short_book.sign, price)
        if self._books.get(symbol, {}).get(bot_id) is not books:  # every position fired
            return triggers
        live = self._live
        for book, x, side in ((long_book, price, "long"), (short_book, neg, "short")):
            if book.trail_pct.ratchet(x, live) | book.trail_abs.ratchet(x, live):
                moved.add(side)  # type: ignore[arg-type]
        return triggers

    def _fired(self, book: _SideBook, x: Decimal) -> dict[int, tuple[Reason, Decimal]] | None:
        """Position id -> (reason, level in x-space) of everything x reaches on one side."""
        live = self._live
        found: dict[int, tuple[Reason, Decimal]] | None = None
        stops = book.stops
        while stops:
            neg_level, pid, gen = stops[0]
            if live.get(pid) != gen:
                heappop(stops)
                book.dead_stops -= 1
                continue
            if x > -neg_level:
                break
            heappop(stops)
            book.dead_stops -= 1  # popped now, counted dead again by remove()
            if found is None:
                found = {}
            found[pid] = ("stop_loss", -neg_level)
        trailing: list[tuple[int, Decimal]] = []
        if book.trail_pct.fire:
            book.trail_pct.fired(x, live, trailing)
        if book.trail_abs.fire:
            book.trail_abs.fired(x, live, trailing)
        for pid, stop in trailing:
            if found is None:
                found = {}
            known = found.get(pid)
            if known is None or stop > known[1]:  # the tighter stop is the one hit
                found[pid] = ("trailing_stop", stop)
        targets = book.targets
        while targets:
            level, pid, gen = targets[0]
            if live.get(pid) != gen:
                heappop(targets)
                book.dead_targets -= 1
                continue
            if x < level:
                break
            heappop(targets)
            book.dead_targets -= 1
            if found is None:
                found = {}
            found.setdefault(pid, ("take_profit", level))  # a stop hit on the same tick wins
        return found

    def _resolve(
        self, fired: dict[int, tuple[Reason, Decimal]], sign: int, price: Decimal
    ) -> list[Trigger]:
        triggers = []
        for pid, (reason, level_x) in fired.items():
            watch = self.remove(pid)
            if watch is not None:
                triggers.append(Trigger(watch, reason, level_x * sign, price))
        return triggers
