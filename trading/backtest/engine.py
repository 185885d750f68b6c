"""The backtester: OHLCV through a strategy and the live position rules.

Same strategy, same rules as live trading:

* the strategy's rule is `IndicatorStrategy.signals`, the function the live `decide` applies to
  the bot's series; a signal fills at the close of the bar that produced it, as the live path
  fills at the alert's price (the bar's close, sent as a `tick` with `bar_time`);
* every order is planned by `trading.positions.plan_order` and applied by `apply_fill`, filled
  at the paper broker's price (slippage against the trader) and fee (on each fill's notional),
  refused like the paper broker refuses when the balance cannot pay for the exposure;
* stop-loss / take-profit prices come from the bot's levels and the average entry, as
  `TradingService` sets them;
* with `risk` rules (SPEC §6a), every entry is checked by `trading.risk.check_entry` first
  (and sized by `risk_per_trade`), with the figures `trading.backtest.risk_rules` keeps.

Speed: indicators and signals are computed once, vectorised (TA-Lib, numpy); the Python loop
visits only bars with a signal, and bars between them only to look for stops (vectorised
too). Decimal arithmetic happens at those bars only.

Stops (live, the monitor executes them on ticks): in a bar, the stop-loss (or trailing stop) is
checked against the low (a short: the high) and the take-profit against the high; when both
are inside one bar's range the stop is assumed to come first (the cautious reading of a bar). A
stop fills at its price, or at the bar's open when the bar opened beyond it (a gap). Stops
apply from the bar after the fill. A trailing stop trails the best price since the entry (the
entry's reference price, then the highs of the bars before; a short: the lows), as the monitor
trails the prices it sees. Fed bars whose open, high, low and close are one price (a replay of
closes), this is exactly what the live monitor does with one tick per bar. Bar times are bar
open times, as in the CSV.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from trading.backtest.data import Ohlcv
from trading.backtest.risk_rules import BacktestRisk
from trading.bots import BotConfig, order_size, parse_size
from trading.brokers.paper import PaperBroker
from trading.errors import InvalidRequest
from trading.levels import Level
from trading.positions import (
    ZERO,
    Direction,
    Fill,
    OrderPlan,
    OrderSide,
    PositionState,
    Side,
    Skip,
    apply_fill,
    plan_order,
    q12,
)
from trading.protection import NO_LEVELS, Protection, protection_after_fill
from trading.risk import Refusal, RiskRules
from trading.strategies import registry
from trading.strategies.base import BUY, IndicatorStrategy
from trading.views import plain

# A backtest's default order size is a share of equity, not a new bot's fixed quantity (0.001
# BTC is 0.4 % of 10,000 at 42,000: a run whose figures barely move). A run that stakes less
# than 1 % of equity on every entry says so in its report (`report.SMALL_ENTRY_PCT`).
DEFAULT_SIZE = "10%"
Progress = Callable[[int, int], None]


class TooFewBars(InvalidRequest):
    """The data is shorter than the strategy's warm-up: no bar could give a signal."""

    def __init__(self, need: int, have: int, label: str) -> None:
        super().__init__(f"needs at least {need} bars for {label}, the data has {have}")
        self.need, self.have, self.label = need, have, label


class BacktestConfig(BaseModel):
    """The bot being simulated and its account; defaults are those of the paper broker (fee 10
    bps, no slippage, 10,000 of cash), and an order size of 10 % of equity (DEFAULT_SIZE)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    size: str = DEFAULT_SIZE  # 0.01 (base qty), 100USDT (quote amount) or 5% (of equity)
    direction: Direction = "long"
    max_entries: int = Field(default=1, ge=1, le=100)
    sl: str | None = None
    tp: str | None = None
    trail: str | None = None
    fee_bps: Decimal = Field(default=Decimal(10), ge=0, le=1000)
    slippage_bps: Decimal = Field(default=Decimal(0), ge=0, le=1000)
    initial_cash: Decimal = Field(default=Decimal(10000), gt=0)

    @field_validator("size")
    @classmethod
    def _size(cls, value: str) -> str:
        parse_size(value)
        return value

    @field_validator("sl", "tp", "trail")
    @classmethod
    def _level(cls, value: str | None) -> str | None:
        return None if value in (None, "") else str(Level.parse(value))

    @classmethod
    def for_bot(cls, bot: BotConfig, **account: Any) -> BacktestConfig:
        """The config that simulates `bot` (account figures: fee_bps, slippage_bps,
        initial_cash)."""
        if bot.size_kind == "equity_pct":
            size = f"{bot.size_value}%"
        elif bot.size_kind == "quote":
            size = f"{bot.size_value}QUOTE"
        else:
            size = str(bot.size_value)
        return cls(
            size=size,
            direction=bot.direction,
            max_entries=bot.max_entries,
            sl=str(bot.sl) if bot.sl else None,
            tp=str(bot.tp) if bot.tp else None,
            trail=str(bot.trail) if bot.trail else None,
            **account,
        )


@dataclass(frozen=True, slots=True)
class BacktestFill:
    bar: int
    time: datetime
    side: OrderSide
    kind: str  # open | add | reduce | close
    qty: Decimal
    price: Decimal
    fee: Decimal
    reason: str


@dataclass(frozen=True, slots=True)
class BacktestTrade:
    side: Side
    qty: Decimal  # total quantity the position opened
    entry_price: Decimal  # average
    exit_price: Decimal  # average
    pnl: Decimal  # after all fees
    fees: Decimal
    entries: int
    entry_time: datetime
    exit_time: datetime
    entry_bar: int
    exit_bar: int
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {
            "side": self.side,
            "entry_time": _iso(self.entry_time),
            "entry_price": plain(self.entry_price),
            "exit_time": _iso(self.exit_time),
            "exit_price": plain(self.exit_price),
            "qty": plain(self.qty),
            "pnl": plain(self.pnl),
            "fees": plain(self.fees),
            "entries": self.entries,
            "reason": self.reason,
        }


@dataclass(slots=True)
class BacktestResult:
    strategy: str
    params: dict[str, Any]
    config: BacktestConfig
    data: Ohlcv
    trades: list[BacktestTrade]
    fills: list[BacktestFill]
    equity: np.ndarray  # per bar, at its close
    position: np.ndarray  # signed quantity held at each bar's close
    final_equity: Decimal
    refused: list[tuple[int, str]] = field(default_factory=list)  # (bar, why) orders refused
    # The largest entry's value as a share of equity when it filled (None: no entry filled)
    largest_entry_pct: float | None = None
    risk: RiskRules | None = None  # the §6a rules the run applied (None: none)
    # (bar, refusal) of every entry the rules refused, and the kill switch's trip (bar, refusal)
    risk_refusals: list[tuple[int, Refusal]] = field(default_factory=list)
    kill_switch: tuple[int, Refusal] | None = None
    risk_counts: dict[str, int] = field(default_factory=dict)  # refused entries per rule


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _decimal(value: float) -> Decimal:
    """A float price as the decimal it was written as (CSV text, an alert's price)."""
    return Decimal(repr(float(value)))


class _NoLedger:
    """The paper broker's fill price and fee are pure; its ledger is the simulation's."""

    async def realized(self) -> dict[str, Decimal]:
        return {}

    async def exposure(self) -> dict[str, Decimal]:
        return {}

    async def account(self, quote: str) -> tuple[Decimal, Decimal]:
        return Decimal(0), Decimal(0)


class _Simulation:
    """One account, one symbol, one bot: the state the bar loop carries between signals."""

    def __init__(self, data: Ohlcv, config: BacktestConfig, risk: RiskRules | None) -> None:
        self.data = data
        self.config = config
        self.broker = PaperBroker(
            _NoLedger(),
            fee_bps=config.fee_bps,
            slippage_bps=config.slippage_bps,
            initial_balance=config.initial_cash,
        )
        self.size_kind, self.size_value = parse_size(config.size)
        self.sl_level = Level.parse(config.sl) if config.sl else None
        self.tp_level = Level.parse(config.tp) if config.tp else None
        self.trail_level = Level.parse(config.trail) if config.trail else None
        self.has_stops = bool(self.sl_level or self.tp_level or self.trail_level)
        self.position: PositionState | None = None
        self.entry_bar = 0
        self.closed_pnl = ZERO  # realized PnL of closed trades
        self.sl: Decimal | None = None
        self.tp: Decimal | None = None
        self.protection = Protection()
        self.best = 0.0  # best price since entry, for the trailing stop
        self.scan_from = 0  # first bar whose stops are not checked yet
        self.trades: list[BacktestTrade] = []
        self.fills: list[BacktestFill] = []
        self.refused: list[tuple[int, str]] = []
        self.largest_entry_pct: float | None = None
        # After each bar with fills: (bar, cash incl. realized, signed qty, avg price).
        self.changes: list[tuple[int, float, float, float]] = []
        self.gate = (
            BacktestRisk(risk, data, config.initial_cash, self.sl_level)
            if risk is not None
            else None
        )

    # ------------------------------------------------------------ money

    def equity_cash(self) -> Decimal:
        """Cash after realized PnL and fees: the paper broker's balance total."""
        realized = self.closed_pnl + (self.position.realized_pnl if self.position else ZERO)
        return self.config.initial_cash + realized

    def fill(
        self, bar: int, side: OrderSide, qty: Decimal, open_qty: Decimal, ref: Decimal, reason: str
    ) -> bool:
        """Fill at `ref` (the bar's close, or a stop's price) as the paper broker would."""
        price = self.broker.fill_price(side, ref)
        fee = self.broker.fee(qty, price)
        if open_qty > 0:
            position = self.position
            exposure = position.qty * position.avg_price if position else ZERO
            available = self.equity_cash() - exposure
            if self.broker.funds_refusal(open_qty, price, fee, available, ""):
                why = _funds_refusal(open_qty, price, fee, available)
                if self.size_kind == "equity_pct" and self.size_value > 90:
                    why += f"; a size of {plain(self.size_value)}% leaves too little for the fee"
                self.refused.append((bar, why))
                return False
            self.note_entry(open_qty * price)
        before = self.position
        when = self.data.datetime_at(bar)
        if self.gate is not None:  # the closes held before this fill (its own, at a close)
            at_close = reason in ("signal", "end_of_data")
            self.gate.sample_closes(bar, before, self.equity_cash(), inclusive=at_close)
        outcome = apply_fill(before, Fill(side, qty, price, fee, when))
        for leg in outcome.legs:
            self.fills.append(
                BacktestFill(bar, when, side, leg.kind, leg.qty, leg.price, leg.fee, reason)
            )
        if outcome.closed is not None:
            trade = outcome.closed
            self.closed_pnl += trade.pnl
            self.trades.append(
                BacktestTrade(
                    side=trade.side,
                    qty=trade.qty,
                    entry_price=trade.entry_price,
                    exit_price=trade.exit_price,
                    pnl=trade.pnl,
                    fees=trade.fees,
                    entries=trade.entries,
                    entry_time=trade.opened_at,
                    exit_time=trade.closed_at,
                    entry_bar=self.entry_bar,
                    exit_bar=bar,
                    reason=reason,
                )
            )
        state = outcome.position
        self.position = state
        if state is not None and (before is None or outcome.reopened):
            # As the live service: the trailing peak starts at the order's reference price
            # (before slippage); an add keeps it.
            self.entry_bar = bar
            self.best = float(ref)
        # The live service's rule for the levels after a fill: the bot's, from the (new)
        # average entry on an open or add; a reduce keeps them.
        self.protection = protection_after_fill(
            bot_levels=(self.sl_level, self.tp_level, self.trail_level),
            alert=NO_LEVELS,
            outcome=outcome,
            before=self.protection if before is not None else None,
            reference_price=ref,
        )
        self.sl, self.tp = self.protection.sl, self.protection.tp
        sq = float(state.qty) * (1 if state.side == "long" else -1) if state else 0.0
        avg = float(state.avg_price) if state else 0.0
        self.changes.append((bar, float(self.equity_cash()), sq, avg))
        self.scan_from = bar + 1
        if self.gate is not None:
            self.gate.sample_fill(state, self.equity_cash(), ref)
            if reason == "stop_loss":
                self.gate.stopped(bar)
        return True

    def note_entry(self, notional: Decimal) -> None:
        equity = self.equity_cash()
        if equity > 0:
            share = float(notional / equity) * 100
            self.largest_entry_pct = max(share, self.largest_entry_pct or 0.0)

    # ------------------------------------------------------------ bars

    def signal(self, bar: int, side: OrderSide) -> None:
        ref = _decimal(self.data.close[bar])
        default_qty = order_size(self.size_kind, self.size_value, ref, self.equity_cash())
        plan = plan_order(
            self.position,
            side,
            qty=None,
            default_qty=default_qty,
            direction=self.config.direction,
            max_entries=self.config.max_entries,
        )
        if isinstance(plan, Skip) or plan.qty <= 0:
            return
        if self.gate is not None and plan.open_qty > 0:
            checked = self.gate.entry(
                bar, plan, ref, self.position, self.equity_cash(), self.after_close(bar, plan, ref)
            )
            if checked is None:
                return
            plan = checked
        self.fill(bar, plan.side, plan.qty, plan.open_qty, ref, "signal")

    def after_close(
        self, bar: int, plan: OrderPlan, ref: Decimal
    ) -> tuple[PositionState | None, Decimal]:
        """The position and cash after `plan`'s closing part (a reversal's), as it would fill."""
        if plan.close_qty <= 0 or self.position is None:
            return self.position, self.equity_cash()
        price = self.broker.fill_price(plan.side, ref)
        fee = self.broker.fee(plan.close_qty, price)
        when = self.data.datetime_at(bar)
        outcome = apply_fill(self.position, Fill(plan.side, plan.close_qty, price, fee, when))
        realized = outcome.closed.pnl if outcome.closed is not None else ZERO
        return outcome.position, self.closed_pnl + realized + self.config.initial_cash

    def stops_until(self, last: int) -> None:
        """Look for a stop or target hit in bars scan_from..last (inclusive); fill the first."""
        position = self.position
        start = self.scan_from
        self.scan_from = max(start, last + 1)
        if position is None or not self.has_stops or last < start:
            return
        d = self.data
        stop = slice(start, last + 1)
        high, low, opens = d.high[stop], d.low[stop], d.open[stop]
        long = position.side == "long"
        n = last + 1 - start
        # Trailing stop level per bar, from the best price reached before that bar.
        trail_stop = None
        if self.trail_level is not None:
            extremes = high if long else low
            prior = np.empty(n)
            prior[0] = self.best
            if n > 1:
                prior[1:] = extremes[:-1]
            best = np.maximum.accumulate(prior) if long else np.minimum.accumulate(prior)
            level = self.trail_level
            distance = best * float(level.value) / 100 if level.percent else float(level.value)
            trail_stop = best - distance if long else best + distance
        sl = float(self.sl) if self.sl is not None else None
        if trail_stop is not None and sl is not None:
            stop_line = np.maximum(trail_stop, sl) if long else np.minimum(trail_stop, sl)
        elif trail_stop is not None:
            stop_line = trail_stop
        elif sl is not None:
            stop_line = np.full(n, sl)
        else:
            stop_line = None
        hits = np.zeros(n, dtype=bool)
        stop_hit = None
        if stop_line is not None:
            stop_hit = low <= stop_line if long else high >= stop_line
            hits |= stop_hit
        tp = float(self.tp) if self.tp is not None else None
        if tp is not None:
            hits |= (high >= tp) if long else (low <= tp)
        if not hits.any():
            if self.trail_level is not None:
                extreme = float(high.max()) if long else float(low.min())
                self.best = max(self.best, extreme) if long else min(self.best, extreme)
            return
        j = int(np.argmax(hits))
        bar = start + j
        open_price = float(opens[j])
        if stop_hit is not None and stop_hit[j]:
            assert stop_line is not None
            level_price = float(stop_line[j])
            trailing = trail_stop is not None and (
                sl is None or (trail_stop[j] > sl if long else trail_stop[j] < sl)
            )
            reason = "trailing_stop" if trailing else "stop_loss"
            if (long and open_price < level_price) or (not long and open_price > level_price):
                price = _decimal(open_price)
            elif trailing:
                price = q12(_decimal(level_price))
            else:
                assert self.sl is not None
                price = self.sl
        else:
            assert self.tp is not None
            reason = "take_profit"
            gapped = open_price > tp if long else open_price < tp
            price = _decimal(open_price) if gapped else self.tp
        side: OrderSide = "sell" if long else "buy"
        self.fill(bar, side, position.qty, ZERO, price, reason)
        self.scan_from = max(self.scan_from, last + 1)

    def end_of_data(self) -> None:
        last = len(self.data) - 1
        if self.position is not None:
            side: OrderSide = "sell" if self.position.side == "long" else "buy"
            ref = _decimal(self.data.close[last])
            self.fill(last, side, self.position.qty, ZERO, ref, "end_of_data")


def _funds_refusal(qty: Decimal, price: Decimal, fee: Decimal, available: Decimal) -> str:
    """The paper broker's refusal, with the figures a trader checks: `cash 10,000.00 <
    notional 42,000.00 + fee 42.00`."""
    notional = qty * price
    return (
        f"insufficient balance: cash {max(available, ZERO):,.2f} < notional {notional:,.2f} "
        f"+ fee {fee:,.2f} ({plain(qty)} at {plain(price)})"
    )


def strategy_label(name: str, params: dict[str, Any]) -> str:
    """`rsi(14)`, `macd(12, 26, 9)`: the strategy with its lengths (its integer parameters)."""
    lengths = [str(v) for v in params.values() if isinstance(v, int) and not isinstance(v, bool)]
    return f"{name}({', '.join(lengths)})" if lengths else name


def backtestable() -> list[str]:
    """Strategies with a rule to replay (every one but the pass-through `signal`)."""
    return [
        n for n in registry.names() if issubclass(registry.strategy_class(n), IndicatorStrategy)
    ]


def _strategy(name: str, params: dict[str, Any] | None) -> IndicatorStrategy:
    strategy = registry.create(name, params)
    if not isinstance(strategy, IndicatorStrategy):
        raise InvalidRequest(
            f"strategy {name!r} trades what alerts say, so there is nothing to replay; "
            f"backtest one of {', '.join(backtestable())}"
        )
    return strategy


def run_backtest(
    data: Ohlcv,
    strategy: str = registry.DEFAULT,
    params: dict[str, Any] | None = None,
    config: BacktestConfig | None = None,
    *,
    progress: Progress | None = None,
    risk: RiskRules | None = None,
    trade_from: int = 0,
) -> BacktestResult:
    """Replay `data` through `strategy` with `params` for a bot configured as `config`.

    Pure and thread-safe (no I/O, no shared state): safe in `asyncio.to_thread`.
    `progress(done_bars, total_bars)` is called now and then on long runs. `risk`: SPEC §6a's
    rules, checked before every entry as `trading.backtest.risk_rules` describes (None: none,
    and the run is exactly what it was without them).

    `trade_from`: the bars before it only warm the indicators up. The account starts flat with
    its initial cash at that bar, no order comes before it, and the result (its `data`, equity,
    positions, bar numbers, and so its report) covers the bars from it on: an out-of-sample
    test whose indicators saw earlier bars only (`trading.optimize.walkforward`).
    """
    config = config or BacktestConfig()
    rule = _strategy(strategy, params)
    n = len(data)
    if n < rule.warmup:
        label = strategy_label(rule.name, rule.params.model_dump(mode="json"))
        raise TooFewBars(rule.warmup, n, label)
    signals = rule.signals(data.close)
    if trade_from:
        if not 0 < trade_from < n:
            raise InvalidRequest(f"trade_from {trade_from} is outside the data's {n} bars")
        data, signals = data.slice(trade_from), signals[trade_from:]
        n = len(data)
    events = np.flatnonzero(signals)
    sim = _Simulation(data, config, risk)
    every = max(1, len(events) // 100)
    for count, bar in enumerate(events.tolist()):
        if sim.has_stops:
            sim.stops_until(bar)
        sim.signal(bar, "buy" if signals[bar] == BUY else "sell")
        if progress is not None and count % every == 0:
            progress(bar, n)
    if sim.has_stops:
        sim.stops_until(n - 1)
    sim.end_of_data()
    if progress is not None:
        progress(n, n)
    equity, position = _curves(data, config, sim.changes)
    return BacktestResult(
        strategy=rule.name,
        params=rule.params.model_dump(mode="json"),
        config=config,
        data=data,
        trades=sim.trades,
        fills=sim.fills,
        equity=equity,
        position=position,
        final_equity=sim.equity_cash(),
        refused=sim.refused,
        largest_entry_pct=sim.largest_entry_pct,
        **_risk_fields(sim.gate),
    )


def _risk_fields(gate: BacktestRisk | None) -> dict[str, Any]:
    if gate is None:
        return {}
    return {
        "risk": gate.rules,
        "risk_refusals": gate.refusals,
        "kill_switch": gate.kill_switch,
        "risk_counts": gate.counts(),
    }


def _curves(
    data: Ohlcv, config: BacktestConfig, changes: list[tuple[int, float, float, float]]
) -> tuple[np.ndarray, np.ndarray]:
    """Equity and signed position at every bar's close, from the state after each fill bar."""
    n = len(data)
    initial = float(config.initial_cash)
    if not changes:
        return np.full(n, initial), np.zeros(n)
    table = np.array(changes, dtype=np.float64)
    bars = table[:, 0].astype(np.int64)
    # The last change of a bar wins (a stop and a new entry on the same bar).
    keep = np.append(bars[1:] != bars[:-1], True)
    table, bars = table[keep], bars[keep]
    which = np.searchsorted(bars, np.arange(n), side="right") - 1
    held = which >= 0
    safe = np.where(held, which, 0)
    cash = np.where(held, table[safe, 1], initial)
    qty = np.where(held, table[safe, 2], 0.0)
    avg = np.where(held, table[safe, 3], 0.0)
    equity = cash + qty * (data.close - avg)
    return equity, qty
