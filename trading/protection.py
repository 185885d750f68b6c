"""A position's protective levels after a fill: stop-loss, take-profit levels, trailing stop.

Pure rules, shared by the live service (which stores them) and the monitor (which acts on them):

* Levels come from the alert (`sl`, `tp`, `trail`, `tp1`…), else from the bot, as a price or a
  percentage of the average entry. An add recomputes them from the new average entry; a reduce
  keeps them.
* Several take-profit levels (`tp1`, `tp2`, … with `tpN_share`): each closes its share of the
  position as it stood after its latest entry; shares not given split what the given ones leave
  (equal shares when none is given); the last level closes whatever remains when the shares add
  up to the whole. The `tp` column shows the next level. After the first level fills, a bot with
  `break_even_after_tp1` moves its stop-loss to the average entry price (fees not included).
* A trailing stop trails the best price since the position opened (the reference price of the
  opening order, then every tick the monitor sees); an add keeps the best price.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal
from typing import Any

from trading import money
from trading.alerts import TakeProfitLevel
from trading.bots import QTY_STEP
from trading.levels import Level
from trading.positions import FillOutcome, PositionState, Side
from trading.trigger_index import trail_stop_price

WHOLE = Decimal("0.999999")
ZERO = Decimal(0)
ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class TakeProfit:
    level: str  # as given: "2%" or a price
    price: Decimal
    share: Decimal  # of `base`
    base: Decimal  # the position's quantity when the levels were set
    filled: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "price": format(self.price, "f"),
            "share": format(self.share, "f"),
            "base": format(self.base, "f"),
            "filled": self.filled,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TakeProfit:
        return cls(
            level=str(data["level"]),
            price=Decimal(str(data["price"])),
            share=Decimal(str(data["share"])),
            base=Decimal(str(data["base"])),
            filled=bool(data.get("filled", False)),
        )


def _level_price(value: Decimal) -> Decimal:
    """A stop or target price as stored: at 12 places, saturated at the column's bound (a
    percentage of a huge stored average price may not fit; the entry is never failed for it)."""
    return money.fit(value, "level price")


def load_take_profits(raw: Any) -> tuple[TakeProfit, ...]:
    if not raw:
        return ()
    return tuple(TakeProfit.from_json(item) for item in raw)


@dataclass(frozen=True, slots=True)
class Protection:
    sl: Decimal | None = None
    tp: Decimal | None = None
    trail: str | None = None
    take_profits: tuple[TakeProfit, ...] = ()
    trail_peak: Decimal | None = None
    trail_stop: Decimal | None = None
    # Whether this fill sets the trailing peak (an open, or a trail newly set); otherwise the
    # stored peak, which the monitor ratchets, is left as it is.
    sets_trail_peak: bool = False

    def next_take_profit(self) -> int | None:
        for i, level in enumerate(self.take_profits):
            if not level.filled:
                return i
        return None


@dataclass(frozen=True, slots=True)
class AlertLevels:
    """The levels an alert asks for (None: the bot's, or those the position has)."""

    sl: Level | None = None
    tp: Level | None = None
    trail: Level | None = None
    take_profits: tuple[TakeProfitLevel, ...] = ()


NO_LEVELS = AlertLevels()


def _shares(given: list[Decimal | None]) -> list[Decimal]:
    known = [s for s in given if s is not None]
    total = sum(known, ZERO)
    unknown = len(given) - len(known)
    if total > ONE:
        return [ZERO if s is None else s / total for s in given]
    rest = (ONE - total) / unknown if unknown else ZERO
    return [rest if s is None else s for s in given]


def take_profit_levels(
    levels: tuple[TakeProfitLevel, ...], avg_price: Decimal, side: Side, qty: Decimal
) -> tuple[TakeProfit, ...]:
    """Levels from an alert's `tp1`, `tp2`…, nearest first."""
    shares = _shares([item.share for item in levels])
    built = [
        TakeProfit(
            str(item.level), _level_price(item.level.target_price(avg_price, side)), share, qty
        )
        for item, share in zip(levels, shares, strict=True)
    ]
    built.sort(key=lambda t: t.price if side == "long" else -t.price)
    return tuple(built)


def take_profit_qty(levels: tuple[TakeProfit, ...], index: int, position_qty: Decimal) -> Decimal:
    """How much level `index` closes of a position of `position_qty`."""
    unfilled = [i for i, level in enumerate(levels) if not level.filled]
    if unfilled and unfilled[-1] == index and sum((t.share for t in levels), ZERO) >= WHOLE:
        return position_qty
    level = levels[index]
    qty = (level.share * level.base).quantize(QTY_STEP, rounding=ROUND_DOWN)
    return min(position_qty, max(qty, QTY_STEP))


def _rebased(levels: tuple[TakeProfit, ...], state: PositionState) -> tuple[TakeProfit, ...]:
    """Unfilled levels after an add: prices from the new average entry, shares of the new qty."""
    rebuilt = []
    for level in levels:
        if level.filled:
            rebuilt.append(level)
            continue
        parsed = Level.parse(level.level)
        price = _level_price(parsed.target_price(state.avg_price, state.side))
        rebuilt.append(replace(level, price=price, base=state.qty))
    return tuple(rebuilt)


def _trail_stop(peak: Decimal | None, trail: str | None, side: Side) -> Decimal | None:
    if peak is None or trail is None:
        return None
    return _level_price(trail_stop_price(peak, Level.parse(trail), side))


def protection_after_fill(
    *,
    bot_levels: tuple[Level | None, Level | None, Level | None],
    alert: AlertLevels,
    outcome: FillOutcome,
    before: Protection | None,
    reference_price: Decimal,
    take_profit_filled: int | None = None,
    break_even: bool = False,
) -> Protection:
    """The levels the position has after `outcome` (None fields: none set)."""
    state = outcome.position
    if state is None:
        return Protection()
    entering = any(leg.kind in ("open", "add") for leg in outcome.legs)
    fresh = before is None or outcome.reopened
    if not fresh and not entering:
        assert before is not None
        return _after_reduce(before, state, take_profit_filled, break_even)

    sl_level = alert.sl or bot_levels[0]
    tp_level = alert.tp or bot_levels[1]
    trail_level = alert.trail or bot_levels[2]
    sl = _level_price(sl_level.stop_price(state.avg_price, state.side)) if sl_level else None
    tp = _level_price(tp_level.target_price(state.avg_price, state.side)) if tp_level else None
    trail = str(trail_level) if trail_level else None
    take_profits: tuple[TakeProfit, ...] = ()
    if alert.take_profits:
        take_profits = take_profit_levels(
            alert.take_profits, state.avg_price, state.side, state.qty
        )
    if not fresh:
        assert before is not None
        sl = sl if sl_level else before.sl
        tp = tp if tp_level else before.tp
        trail = trail or before.trail
        if not alert.take_profits:
            take_profits = _rebased(before.take_profits, state)
    protection = Protection(sl=sl, tp=tp, trail=trail, take_profits=take_profits)
    following = protection.next_take_profit()
    if following is not None:
        protection = replace(protection, tp=take_profits[following].price)

    if trail is None:
        return protection
    if not fresh and before is not None and before.trail_peak is not None:
        return replace(protection, trail_peak=before.trail_peak, trail_stop=before.trail_stop)
    return replace(
        protection,
        trail_peak=reference_price,
        trail_stop=_trail_stop(reference_price, trail, state.side),
        sets_trail_peak=True,
    )


def _after_reduce(
    before: Protection, state: PositionState, filled: int | None, break_even: bool
) -> Protection:
    if filled is None or filled >= len(before.take_profits):
        return replace(before, sets_trail_peak=False)
    first = all(not level.filled for level in before.take_profits)
    levels = tuple(
        replace(level, filled=True) if i == filled else level
        for i, level in enumerate(before.take_profits)
    )
    after = replace(before, take_profits=levels, sets_trail_peak=False)
    following = after.next_take_profit()
    after = replace(after, tp=levels[following].price if following is not None else None)
    if first and break_even:
        after = replace(after, sl=state.avg_price)
    return after
