"""The figures a trader reads after a backtest.

Definitions (all from the equity at each bar's close, cash plus open PnL, after fees):

* total return: final equity / initial cash − 1; buy & hold: last close / first close − 1;
* CAGR: the total return compounded per year of 365.25 days between the first and last bar;
* max drawdown: the deepest fall of equity from its running peak (negative, like
  backtesting.py's "Max. Drawdown");
* Sharpe: mean / standard deviation of per-bar equity returns, times √(bars per year), risk-free
  rate 0 (crypto trades every day, so a year is 365.25 days of bars);
* win rate: trades with PnL > 0 among closed trades; profit factor: gross profit / gross loss
  (None when there is no losing trade);
* exposure: share of bars that close with a position open;
* refused orders: orders the balance could not pay for, and why the first one was
  (`refused_reason`: `cash 10,000.00 < notional 12,000.00 + fee 12.00`); with risk rules (SPEC
  §6a), `refused` counts the entries each rule refused (every rule set, 0 included; those the
  tripped `max_drawdown` kill switch refused count as `max_drawdown`), apart from those;
* warnings: what makes the figures misleading, e.g. every entry staking under 1 % of equity.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from trading.views import plain

SMALL_ENTRY_PCT = 1.0  # entries below this share of equity barely move the figures

if TYPE_CHECKING:
    from trading.backtest.engine import BacktestResult

YEAR_SECONDS = 365.25 * 86400


@dataclass(frozen=True, slots=True)
class Report:
    strategy: str
    params: dict[str, Any]
    start: datetime
    end: datetime
    bars: int
    initial_cash: Decimal
    final_equity: Decimal
    total_return_pct: float
    buy_and_hold_pct: float
    cagr_pct: float | None
    max_drawdown_pct: float
    sharpe: float | None
    win_rate_pct: float | None
    profit_factor: float | None
    trades: int
    exposure_pct: float
    fees: Decimal
    refused_orders: int
    size: str
    direction: str
    risk: dict[str, str] | None = None  # the rules as given (`RiskRules.to_json`); None: none
    refused: dict[str, int] | None = None  # entries refused per rule (with `risk` only)
    kill_switch: datetime | None = None  # when `max_drawdown` tripped it
    refused_reason: str | None = None  # the first refused order: when, and why
    largest_entry_pct: float | None = None  # the largest entry's share of equity
    warnings: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        def num(value: float | None, digits: int = 4) -> float | None:
            return None if value is None or not math.isfinite(value) else round(value, digits)

        figures = {
            "strategy": self.strategy,
            "params": self.params,
            "start": self.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": self.end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "bars": self.bars,
            "size": self.size,
            "direction": self.direction,
            "initial_cash": plain(self.initial_cash),
            "final_equity": plain(self.final_equity),
            "total_return_pct": num(self.total_return_pct),
            "buy_and_hold_pct": num(self.buy_and_hold_pct),
            "cagr_pct": num(self.cagr_pct),
            "max_drawdown_pct": num(self.max_drawdown_pct),
            "sharpe": num(self.sharpe),
            "win_rate_pct": num(self.win_rate_pct),
            "profit_factor": num(self.profit_factor),
            "trades": self.trades,
            "exposure_pct": num(self.exposure_pct),
            "fees": plain(self.fees),
            "refused_orders": self.refused_orders,
            "refused_reason": self.refused_reason,
            "largest_entry_pct": num(self.largest_entry_pct),
            "warnings": list(self.warnings),
        }
        if self.risk is not None:  # keys only a run with risk rules has
            figures["risk"] = self.risk
            figures["refused"] = self.refused or {}
            figures["kill_switch"] = _iso(self.kill_switch) if self.kill_switch else None
        return figures

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs for a terminal table."""
        params = ", ".join(f"{k}={v}" for k, v in self.params.items()) or "–"
        return [
            ("Strategy", f"{self.strategy} ({params})"),
            ("Period", f"{_day(self.start)} → {_day(self.end)} ({self.bars:,} bars)"),
            ("Order size", f"{self.size} · {self.direction}"),
            ("Initial cash", _money(self.initial_cash)),
            ("Final equity", _money(self.final_equity)),
            ("Total return", _pct(self.total_return_pct)),
            ("Buy & hold", _pct(self.buy_and_hold_pct)),
            ("CAGR", _pct(self.cagr_pct)),
            ("Max drawdown", _pct(self.max_drawdown_pct)),
            ("Sharpe", _ratio(self.sharpe)),
            ("Win rate", _pct(self.win_rate_pct, signed=False)),
            ("Profit factor", self.profit_factor_text()),
            ("Trades", str(self.trades)),
            ("Exposure", _pct(self.exposure_pct, signed=False)),
            ("Fees", _money(self.fees)),
            *([("Refused orders", str(self.refused_orders))] if self.refused_orders else []),
            *self._risk_rows(),
        ]

    def _risk_rows(self) -> list[tuple[str, str]]:
        if self.risk is None:
            return []
        rules = ", ".join(f"{key}={value}" for key, value in self.risk.items()) or "–"
        refused = " · ".join(f"{key} {n}" for key, n in (self.refused or {}).items()) or "–"
        rows = [("Risk rules", rules), ("Refused by risk", refused)]
        if self.kill_switch is not None:
            rows.append(("Kill switch", f"tripped {self.kill_switch:%Y-%m-%d %H:%M} UTC"))
        return rows

    def refused_text(self) -> str:
        """`3 orders refused, the first 2024-01-05 14:00: insufficient balance: cash …`."""
        if not self.refused_orders:
            return "no order refused"
        orders = "order" if self.refused_orders == 1 else "orders"
        return f"{self.refused_orders} {orders} refused, the first {self.refused_reason}"

    def profit_factor_text(self) -> str:
        if self.profit_factor is not None:
            return f"{self.profit_factor:.2f}"
        return "∞" if self.trades and self.win_rate_pct else "–"

    def caption(self, symbol: str, note: str = "") -> str:
        """A Telegram photo caption (HTML, well under 1,024 characters)."""
        marker = "📈" if self.total_return_pct >= 0 else "📉"
        params = ", ".join(f"{k}={v}" for k, v in self.params.items())
        lines = [
            f"{marker} Backtest {html.escape(self.strategy)} · {html.escape(symbol)}",
            f"<code>{html.escape(params)}</code>" if params else "",
            f"{_day(self.start)} → {_day(self.end)} · {self.bars:,} bars",
            f"Return <b>{_pct(self.total_return_pct)}</b> (buy & hold "
            f"{_pct(self.buy_and_hold_pct)}) · CAGR {_pct(self.cagr_pct)}",
            f"Max DD {_pct(self.max_drawdown_pct)} · Sharpe {_ratio(self.sharpe)}",
            f"{self.trades} trades · win {_pct(self.win_rate_pct, signed=False)} · "
            f"PF {self.profit_factor_text()} · exposure {_pct(self.exposure_pct, signed=False)}",
            f"Size {html.escape(self.size)} · fees {_money(self.fees)}",
            *([html.escape(self.refused_text())] if self.refused_orders else []),
            *(f"⚠️ {html.escape(warning)}" for warning in self.warnings),
        ]
        if note:
            lines.append(html.escape(note))
        return "\n".join(line for line in lines if line)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _pct(value: float | None, signed: bool = True) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:+.2f}%" if signed else f"{value:.2f}%"


def _ratio(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.2f}"


def _warnings(result: BacktestResult) -> tuple[str, ...]:
    largest = result.largest_entry_pct
    if largest is not None and largest < SMALL_ENTRY_PCT:
        return (
            f"every entry staked under {SMALL_ENTRY_PCT:g}% of equity (at most {largest:.2f}%, "
            f"size {result.config.size}): the figures barely move; try a size like 10%",
        )
    return ()


def _refused_reason(result: BacktestResult) -> str | None:
    if not result.refused:
        return None
    bar, why = result.refused[0]
    return f"{result.data.datetime_at(bar):%Y-%m-%d %H:%M}: {why}"


def build_report(result: BacktestResult) -> Report:
    data = result.data
    config = result.config
    equity = result.equity
    initial = config.initial_cash
    final = result.final_equity
    n = len(data)
    span = float(data.time[-1] - data.time[0])

    total = float(final / initial - 1) * 100
    cagr: float | None = None
    if span > 0:
        growth = float(final / initial)
        if growth <= 0:
            cagr = -100.0
        else:
            exponent = math.log(growth) * YEAR_SECONDS / span
            cagr = math.expm1(exponent) * 100 if exponent < 700 else None  # else: overflow

    peak = np.maximum.accumulate(equity)
    max_dd = float(np.min(equity / peak - 1)) * 100 if n else 0.0

    sharpe: float | None = None
    if n > 2:
        returns = np.diff(equity) / equity[:-1]
        std = float(np.std(returns, ddof=1))
        step = float(np.median(np.diff(data.time)))
        if std > 0 and step > 0:
            sharpe = float(np.mean(returns)) / std * math.sqrt(YEAR_SECONDS / step)
        elif step > 0:
            sharpe = 0.0

    pnls = [trade.pnl for trade in result.trades]
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    win_rate = len(wins) / len(pnls) * 100 if pnls else None
    gross_loss = -sum(losses, Decimal(0))
    profit_factor = float(sum(wins, Decimal(0)) / gross_loss) if gross_loss > 0 else None

    return Report(
        strategy=result.strategy,
        params=result.params,
        start=data.datetime_at(0),
        end=data.datetime_at(n - 1),
        bars=n,
        initial_cash=initial,
        final_equity=final,
        total_return_pct=total,
        buy_and_hold_pct=float(data.close[-1] / data.close[0] - 1) * 100,
        cagr_pct=cagr,
        max_drawdown_pct=max_dd,
        sharpe=sharpe,
        win_rate_pct=win_rate,
        profit_factor=profit_factor,
        trades=len(result.trades),
        exposure_pct=float(np.count_nonzero(result.position)) / n * 100,
        fees=sum((fill.fee for fill in result.fills), Decimal(0)),
        refused_orders=len(result.refused),
        size=config.size,
        direction=config.direction,
        risk=result.risk.to_json() if result.risk is not None else None,
        refused=dict(result.risk_counts) if result.risk is not None else None,
        kill_switch=data.datetime_at(result.kill_switch[0]) if result.kill_switch else None,
        refused_reason=_refused_reason(result),
        largest_entry_pct=result.largest_entry_pct,
        warnings=_warnings(result),
    )
