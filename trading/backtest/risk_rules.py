"""SPEC §6a's risk rules in a backtest, through the live rules' own code (`trading.risk`).

A backtest is one bot trading one symbol in one quote currency, so the account's figures come
from the simulation itself:

* equity = starting cash + realized PnL (after fees) + unrealized PnL of the open position at
  the bar's close (`PositionState.unrealized_pnl`);
* the peak is the highest equity sampled, and equity is sampled at every bar's close (with the
  position held into that close) and after every fill (the position valued at the fill's
  reference price: the close for a signal, flat after a stop);
* the day's starting equity is the equity at the close of the first bar at or after the day's
  start (`risk.day_start(now, daily_reset_hour)`), sampled before a signal at that close fills;
  today's PnL = equity − the day's starting equity;
* open positions are 0 or 1, the open notional is the position's quantity × its average entry
  (the account's and the bot's alike);
* the stop-losses are the backtest's own `stop_loss` exits, at the time of the bar they hit in
  (`cooldown_after_stop`, `stop_guard`); trailing stops and take-profits are not stop-losses;
* `now` is the time of the bar whose close makes the signal (bar times are bar open times).

Entries only are checked (an open, an add, the opening part of a reversal); exits never. For a
reversal the figures are those after its closing part, and a reversal whose opening part is
refused closes and stays flat. `risk_per_trade` sizes the entry first, as the live gate does
(as `trading.risk_gate`: `risk.risk_size`, then `risk.capped` to the headroom of `max_position_qty`,
`max_position_value` and `max_exposure`); the stop is the bot's `sl` from the entry's reference
price (strategies replayed here carry no stop of their own) and the step `QTY_STEP` (1e-8, the
rounding `order_size` applies to every backtest order, and the live gate's default); no stop,
no entry. Then `check_entry` checks the entry. A tripped `max_drawdown` is the kill switch:
nobody resumes in a backtest, so it refuses every later entry (counted as `max_drawdown`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import numpy as np

from trading.backtest.data import Ohlcv
from trading.bots import QTY_STEP
from trading.levels import Level
from trading.money import CONTEXT, ZERO
from trading.positions import OrderPlan, PositionState, Side
from trading.risk import (
    KEYS,
    AccountFigures,
    Amount,
    EntryRequest,
    Refusal,
    RiskRules,
    StopGuard,
    StopLoss,
    capped,
    check_entry,
    day_start,
    effective,
    risk_size,
)

BOT = "backtest"
SYMBOL = "SYMBOL"
QUOTE = "QUOTE"  # as `BacktestConfig.size` names the quote currency ("100QUOTE")
DAY_SECONDS = 86_400


def _decimal(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def refusing_keys(rules: RiskRules) -> list[str]:
    """The rules set that can refuse an entry (all but `daily_reset_hour`), in `KEYS` order."""
    return [key for key, _ in rules.items() if key != "daily_reset_hour"]


@dataclass(slots=True)
class BacktestRisk:
    """The account's figures as the simulation goes, and the check before every entry."""

    rules: RiskRules
    data: Ohlcv
    initial_cash: Decimal
    sl_level: Level | None = None
    peak: Decimal = ZERO
    sampled_to: int = 0  # bars whose closes are sampled: those before this one
    day_first: tuple[int, Decimal] | None = None  # the latest day's first bar and its equity
    stops: list[StopLoss] = field(default_factory=list)
    refusals: list[tuple[int, Refusal]] = field(default_factory=list)
    kill_switch: tuple[int, Refusal] | None = None  # the bar and refusal that tripped it
    _first_of_day: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __post_init__(self) -> None:
        self.rules = effective(self.rules, None)  # a bot's `off` is no rule
        self.peak = self.initial_cash
        shifted = self.data.time - self.rules.reset_hour * 3600
        days = np.floor_divide(shifted, DAY_SECONDS).astype(np.int64)
        first = np.ones(len(days), dtype=bool)
        first[1:] = days[1:] != days[:-1]
        self._first_of_day = first

    # ------------------------------------------------------------ figures

    def equity_at(self, position: PositionState | None, cash: Decimal, price: Decimal) -> Decimal:
        if position is None:
            return cash
        return CONTEXT.add(cash, position.unrealized_pnl(price))

    def sample_closes(
        self, bar: int, position: PositionState | None, cash: Decimal, *, inclusive: bool
    ) -> None:
        """Sample the closes of the bars not sampled yet, up to `bar` (its own close too when
        `inclusive`), all held with `position` (nothing filled in between)."""
        start, end = self.sampled_to, bar + 1 if inclusive else bar
        if end <= start:
            return
        self.sampled_to = end
        closes = self.data.close[start:end]
        if position is None:
            best = cash
        else:
            j = int(np.argmax(closes) if position.side == "long" else np.argmin(closes))
            best = self.equity_at(position, cash, _decimal(closes[j]))
        self.peak = max(self.peak, best)
        firsts = np.flatnonzero(self._first_of_day[start:end])
        if len(firsts):
            k = start + int(firsts[-1])
            self.day_first = (k, self.equity_at(position, cash, _decimal(self.data.close[k])))

    def sample_fill(self, position: PositionState | None, cash: Decimal, ref: Decimal) -> None:
        self.peak = max(self.peak, self.equity_at(position, cash, ref))

    def stopped(self, bar: int) -> None:
        """A stop-loss closed the position in `bar`."""
        self.stops.append(StopLoss(SYMBOL, self.data.datetime_at(bar)))

    def _recent_stops(self, now: datetime) -> tuple[StopLoss, ...]:
        """The stops a rule can still see (older ones dropped, keeping each check short)."""
        minutes = 0
        if isinstance(self.rules.cooldown_after_stop, int):
            minutes = self.rules.cooldown_after_stop
        if isinstance(self.rules.stop_guard, StopGuard):
            minutes = max(minutes, 2 * self.rules.stop_guard.minutes)
        horizon = now.timestamp() - 60 * minutes
        self.stops = [stop for stop in self.stops if stop.at.timestamp() >= horizon]
        return tuple(self.stops)

    def figures(
        self, bar: int, position: PositionState | None, cash: Decimal, now: datetime
    ) -> AccountFigures:
        """The account at `bar`'s close, holding `position` (after a reversal's closing part)."""
        equity = self.equity_at(position, cash, _decimal(self.data.close[bar]))
        first = int(
            np.searchsorted(self.data.time, day_start(now, self.rules.reset_hour).timestamp())
        )
        assert self.day_first is not None and self.day_first[0] == first, "day start not sampled"
        day_equity = self.day_first[1]
        notional = (
            CONTEXT.multiply(position.qty, position.avg_price) if position is not None else ZERO
        )
        return AccountFigures(
            quote=QUOTE,
            equity=equity,
            day_start_equity=day_equity,
            equity_peak=max(self.peak, equity),
            open_positions=0 if position is None else 1,
            open_notional=notional,
            bot_open_notional=notional,
            today_pnl=CONTEXT.subtract(equity, day_equity),
            stop_losses=self._recent_stops(now),
        )

    # ------------------------------------------------------------ the check

    def entry(
        self,
        bar: int,
        plan: OrderPlan,
        ref: Decimal,
        held: PositionState | None,
        cash: Decimal,
        after_close: tuple[PositionState | None, Decimal],
    ) -> OrderPlan | None:
        """The order to send for `plan` (an entry: `open_qty` > 0) at `bar`'s close: the plan
        (sized by `risk_per_trade` when set), its closing part alone when the opening part is
        refused, or None. `held`/`cash`: the position and cash now; `after_close`: after the
        plan's closing part (the same when there is none)."""
        self.sample_closes(bar, held, cash, inclusive=True)
        now = self.data.datetime_at(bar)
        position, cash_after = after_close
        figures = self.figures(bar, position, cash_after, now)
        side: Side = "long" if plan.side == "buy" else "short"
        held_qty = position.qty if position is not None else ZERO
        refusal = self._held(now)
        if refusal is None:
            sized = self._size(figures, ref, side, held_qty)
            if isinstance(sized, Refusal):
                refusal = sized
            elif sized is not None:
                plan = OrderPlan(
                    plan.side, plan.close_qty + sized, plan.intent, plan.close_qty, sized
                )
        if refusal is None:
            qty_after = plan.open_qty + held_qty
            request = EntryRequest(
                bot=BOT,
                symbol=SYMBOL,
                quote=QUOTE,
                side=side,
                qty=plan.open_qty,
                price=ref,
                position_qty=qty_after,
                position_value=CONTEXT.multiply(qty_after, ref),
                opens_position=position is None,
                now=now,
            )
            refusal = check_entry(self.rules, figures, request)
            if refusal is not None and refusal.trips_kill_switch:
                self.kill_switch = (bar, refusal)
        if refusal is None:
            return plan
        self.refusals.append((bar, refusal))
        if plan.close_qty > 0:
            return OrderPlan(
                plan.side, plan.close_qty, "close", plan.close_qty, ZERO, refusal.reason
            )
        return None

    def _held(self, now: datetime) -> Refusal | None:
        """The kill switch, once `max_drawdown` tripped it: every later entry is refused."""
        if self.kill_switch is None:
            return None
        tripped = self.data.datetime_at(self.kill_switch[0])
        return Refusal(
            "max_drawdown",
            f"risk: max_drawdown tripped the kill switch at {tripped:%Y-%m-%d %H:%M} UTC; "
            f"entries stay stopped ({self.kill_switch[1].reason.removeprefix('risk: ')})",
        )

    def _size(
        self, figures: AccountFigures, ref: Decimal, side: Side, held: Decimal
    ) -> Decimal | Refusal | None:
        """`risk_per_trade`'s quantity, capped as live (None: the rule is not set)."""
        share = self.rules.risk_per_trade
        if not isinstance(share, Amount):
            return None
        stop = self.sl_level.stop_price(ref, side) if self.sl_level is not None else None
        sized = risk_size(figures.equity, share.fraction, ref, stop, QTY_STEP, side=side)
        if isinstance(sized, Refusal):
            return sized
        fits = capped(sized, self.rules, figures, ref, held, QTY_STEP)
        return fits if fits > 0 else sized  # nothing fits: `check_entry` names the rule

    def counts(self) -> dict[str, int]:
        """Refused entries per rule: every rule set that can refuse, 0 when it never did."""
        counts = dict.fromkeys(refusing_keys(self.rules), 0)
        for _, refusal in self.refusals:
            counts[refusal.rule] = counts.get(refusal.rule, 0) + 1
        return {key: counts[key] for key in sorted(counts, key=_key_order)}


def _key_order(key: str) -> int:
    return KEYS.index(key) if key in KEYS else len(KEYS)
