"""The paper account's realized PnL stays exact while it reads only the trades closed since its
last look, including a trade another process committed out of id order."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from db import repo
from db.models import TradeHistory
from tests.conftest import World


async def _trade(world: World, trade_id: int | None, pnl: str, quote: str = "USDT") -> None:
    now = datetime.now(UTC)
    await TradeHistory.create(
        **({"id": trade_id} if trade_id else {}),
        position_id=trade_id or int(now.timestamp() * 1e6),
        bot_id=world.bots["demo"].id,
        symbol="BTCUSDT",
        quote=quote,
        side="long",
        qty=Decimal(1),
        entry_price=Decimal(100),
        exit_price=Decimal(101),
        pnl=Decimal(pnl),
        fees=Decimal(0),
        opened_at=now,
        closed_at=now,
        reason="signal",
    )


async def test_realized_pnl_is_exact_incrementally_and_after_out_of_order_commits(
    world: World,
) -> None:
    ledger = repo.DbPaperLedger()
    assert await ledger.realized("USDT") == {"USDT": Decimal(0)}
    await _trade(world, 10, "1.5")
    await _trade(world, 20, "-0.25")
    assert await ledger.realized("USDT") == {"USDT": Decimal("1.25")}
    await _trade(world, 30, "2")  # read incrementally: only id > 20
    await _trade(world, None, "0.000000000001", quote="EUR")  # another currency: not counted
    assert await ledger.realized("USDT") == {"USDT": Decimal("3.25")}
    # another process committed id 25 after this one had read up to 30: the count gives it away
    await _trade(world, 25, "100")
    await _trade(world, 40, "1")
    assert await ledger.realized("USDT") == {"USDT": Decimal("104.25")}
    # and the whole-account view agrees with a fresh ledger
    assert await repo.DbPaperLedger().realized() == await ledger.realized()


async def test_the_cash_check_sees_trades_closed_through_the_product(world: World) -> None:
    await world.send_alert(action="buy", price="100", qty="1")
    await world.send_alert(action="close", price="150", qty="1")
    _, balances = await world.get("/positions")
    assert balances == []
    realized = (await repo.DbPaperLedger().realized("USDT"))["USDT"]
    stored = sum(await TradeHistory.all().values_list("pnl", flat=True), Decimal(0))
    assert realized == stored and realized > 49
