"""Position rules (TradingView semantics) and fill arithmetic, worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from trading.positions import (
    Fill,
    OrderPlan,
    PositionState,
    Skip,
    apply_fill,
    plan_order,
    plan_target,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def fill(side: str, qty: str, price: str, fee: str, minutes: int = 0) -> Fill:
    return Fill(side, D(qty), D(price), D(fee), T0 + timedelta(minutes=minutes))  # type: ignore[arg-type]


def long(qty: str, price: str, entries: int = 1) -> PositionState:
    return PositionState("long", D(qty), D(price), entries, D(qty), T0)


def test_open_add_reduce_reverse_arithmetic() -> None:
    # buy 1 @ 100, fee 0.10
    first = apply_fill(None, fill("buy", "1", "100", "0.10"))
    assert first.position is not None and first.closed is None
    assert (first.position.side, first.position.qty, first.position.avg_price) == (
        "long",
        D(1),
        D(100),
    )
    assert first.position.realized_pnl == D("-0.10")

    # buy 1 @ 110, fee 0.11: average (100 + 110) / 2 = 105
    second = apply_fill(first.position, fill("buy", "1", "110", "0.11", 1))
    pos = second.position
    assert pos is not None
    assert (pos.qty, pos.avg_price, pos.entries) == (D(2), D(105), 2)
    assert pos.fees == D("0.21")

    # sell 0.5 @ 120, fee 0.06: gross (120 - 105) * 0.5 = 7.5
    third = apply_fill(pos, fill("sell", "0.5", "120", "0.06", 2))
    pos = third.position
    assert pos is not None and third.closed is None
    assert [leg.kind for leg in third.legs] == ["reduce"]
    assert third.legs[0].gross_pnl == D("7.5")
    assert pos.qty == D("1.5") and pos.avg_price == D(105)
    assert pos.realized_pnl == D("-0.21") + D("7.5") - D("0.06")

    # sell 3 @ 100, fee 0.30 split 1.5:1.5 -> 0.15 closes, 0.15 opens the short
    fourth = apply_fill(pos, fill("sell", "3", "100", "0.30", 3))
    assert [leg.kind for leg in fourth.legs] == ["close", "open"]
    trade = fourth.closed
    assert trade is not None
    assert trade.qty == D(2)  # the total the position opened
    assert trade.entry_price == D(105)
    assert trade.exit_price == (D("120") * D("0.5") + D("100") * D("1.5")) / 2
    assert trade.fees == D("0.10") + D("0.11") + D("0.06") + D("0.15")
    # 7.5 - 7.5 gross, minus every fee
    assert trade.pnl == D("7.5") - D("7.5") - trade.fees
    assert trade.closed_at - trade.opened_at == timedelta(minutes=3)
    short = fourth.position
    assert short is not None
    assert (short.side, short.qty, short.avg_price, short.fees) == (
        "short",
        D("1.5"),
        D(100),
        D("0.15"),
    )


def test_short_profit_and_unrealized() -> None:
    opened = apply_fill(None, fill("sell", "2", "50", "0"))
    assert opened.position is not None
    assert opened.position.unrealized_pnl(D(45)) == D(10)
    closed = apply_fill(opened.position, fill("buy", "2", "45", "0.09"))
    assert closed.closed is not None and closed.position is None
    assert closed.closed.pnl == D(10) - D("0.09")


def plan(
    position: PositionState | None,
    signal: str,
    qty: str | None = None,
    default: str = "1",
    direction: str = "both",
    max_entries: int = 3,
) -> OrderPlan | Skip:
    return plan_order(
        position,
        signal,
        qty=D(qty) if qty else None,
        default_qty=D(default),  # type: ignore[arg-type]
        direction=direction,
        max_entries=max_entries,
    )  # type: ignore[arg-type]


def test_sell_qty_2_while_long_1_reverses_on_a_two_way_bot() -> None:
    result = plan(long("1", "100"), "sell", qty="2")
    assert result == OrderPlan("sell", D(2), "reverse", D(1), D(1))


def test_long_only_bot_just_closes() -> None:
    result = plan(long("1", "100"), "sell", qty="2", direction="long")
    assert result == OrderPlan("sell", D(1), "close", D(1), D(0))


def test_opposite_signal_without_qty_closes_and_opens_default_size() -> None:
    result = plan(long("0.5", "100"), "sell", default="2")
    assert result == OrderPlan("sell", D("2.5"), "reverse", D("0.5"), D(2))


def test_partial_close_with_qty() -> None:
    assert plan(long("2", "100"), "close", qty="0.5") == OrderPlan(
        "sell", D("0.5"), "reduce", D("0.5"), D(0)
    )
    assert plan(long("2", "100"), "close", qty="5") == OrderPlan("sell", D(2), "close", D(2), D(0))


def test_pyramiding_stops_at_max_entries() -> None:
    assert plan(long("2", "100", entries=2), "buy", max_entries=3) == OrderPlan(
        "buy", D(1), "add", D(0), D(1)
    )
    refused = plan(long("3", "100", entries=3), "buy", max_entries=3)
    assert isinstance(refused, Skip) and "max entries" in refused.reason


@pytest.mark.parametrize(
    ("position", "signal", "direction", "expected"),
    [
        (None, "close", "both", "no open position"),
        (long("1", "100"), "close_short", "both", "no short position"),
        (None, "buy", "short", "short only"),
        (None, "sell", "long", "long only"),
    ],
)
def test_signals_that_trade_nothing_say_why(position, signal, direction, expected) -> None:
    result = plan(position, signal, direction=direction)
    assert isinstance(result, Skip)
    assert expected in result.reason


def test_target_position_wins_over_qty() -> None:
    # TradingView: long 1, strategy reverses to short 2 -> one sell of 3
    assert plan_target(long("1", "100"), D(-2), direction="both", max_entries=1) == OrderPlan(
        "sell", D(3), "reverse", D(1), D(2)
    )
    # flat target closes
    assert plan_target(long("1", "100"), D(0), direction="both", max_entries=1) == OrderPlan(
        "sell", D(1), "close", D(1), D(0)
    )
    # a long-only bot told to go short 2 goes flat
    assert plan_target(long("1", "100"), D(-2), direction="long", max_entries=1) == OrderPlan(
        "sell", D(1), "close", D(1), D(0)
    )
    same = plan_target(long("1", "100"), D(1), direction="both", max_entries=1)
    assert isinstance(same, Skip)
