"""Paper-account arithmetic: what one fill adds to its currency's realized PnL and exposure.

The paper ledger (`trading.ports.PaperLedgerStore`) derives a currency's figures from stored
rows: realized = closed trades + open positions' realized part, exposure = open positions'
qty × entry price. A fill queued and not committed yet is counted by the paper broker with the
moves computed here, by the same rule, so both agree once it is stored."""

from __future__ import annotations

from decimal import Decimal

from trading import money
from trading.positions import FillOutcome, PositionState


def account_moves(before: PositionState | None, outcome: FillOutcome) -> tuple[Decimal, Decimal]:
    """(realized PnL, exposure) the fill adds, from the position `before` it (None: flat)."""
    after = outcome.position
    with money.wide():  # exact for any stored position (`trading.money`)
        realized = (after.realized_pnl if after else Decimal(0)) - (
            before.realized_pnl if before else Decimal(0)
        )
        if outcome.closed is not None:
            realized += outcome.closed.pnl
        exposure = (after.qty * after.avg_price if after else Decimal(0)) - (
            before.qty * before.avg_price if before else Decimal(0)
        )
    return realized, exposure
