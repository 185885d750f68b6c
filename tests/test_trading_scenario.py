"""A trader's session through the webhook: buy, pyramid, partial close, reverse. Every row and
every figure is what arithmetic says, fees included (paper fee 10 bps, no slippage)."""

from __future__ import annotations

from decimal import Decimal as D

from db.models import CurrentPosition, Order, PositionEntry, TradeHistory
from db.paper_ledger import SqlPaperLedger
from tests.conftest import World

FEE = D("0.001")


async def test_buy_pyramid_partial_close_reverse(world: World) -> None:
    steps = [
        {"action": "buy", "price": "100", "qty": "1", "id": "a1"},
        {"action": "buy", "price": "110", "qty": "1", "id": "a2"},
        {"action": "close", "price": "120", "qty": "0.5", "id": "a3"},
        {"action": "sell", "price": "100", "qty": "3", "id": "a4"},
    ]
    answers = []
    for step in steps:
        status, answer = await world.send_alert(**step)
        assert status == 200 and answer["status"] == "executed", answer
        answers.append(answer)
    assert [a["order"]["intent"] for a in answers] == ["open", "add", "reduce", "reverse"]

    fees = [D(1) * 100 * FEE, D(1) * 110 * FEE, D("0.5") * 120 * FEE, D(3) * 100 * FEE]
    avg = (D(100) + D(110)) / 2
    gross = (D(120) - avg) * D("0.5") + (D(100) - avg) * D("1.5")
    close_fee_share = fees[3] * D("1.5") / D(3)  # the reversing fill's fee, split by quantity
    trade_fees = fees[0] + fees[1] + fees[2] + close_fee_share

    orders = await Order.all().order_by("id")
    assert [(o.side, o.qty, o.status) for o in orders] == [
        ("buy", 1, "filled"),
        ("buy", 1, "filled"),
        ("sell", D("0.5"), "filled"),
        ("sell", 3, "filled"),
    ]
    assert [o.fee for o in orders] == fees
    assert all(o.client_order_id.startswith(f"tb{world.bots['demo'].id}-") for o in orders)

    trade = await TradeHistory.get()
    assert (trade.side, trade.qty, trade.entry_price) == ("long", D(2), avg)
    assert trade.exit_price == (D(120) * D("0.5") + D(100) * D("1.5")) / 2
    assert trade.fees == trade_fees
    assert trade.pnl == gross - trade_fees
    assert trade.reason == "signal"

    entries = await PositionEntry.all().order_by("id")
    assert [(e.kind, e.side, e.qty, e.price, e.fee) for e in entries] == [
        ("open", "buy", 1, 100, fees[0]),
        ("add", "buy", 1, 110, fees[1]),
        ("reduce", "sell", D("0.5"), 120, fees[2]),
        ("close", "sell", D("1.5"), 100, close_fee_share),
        ("open", "sell", D("1.5"), 100, fees[3] - close_fee_share),
    ]
    # every entry of the closed trade points at it; the new short has its own
    assert {e.position_id for e in entries[:4]} == {trade.position_id}
    short = await CurrentPosition.get()
    assert entries[4].position_id == short.id != trade.position_id
    assert (short.side, short.qty, short.avg_price) == ("short", D("1.5"), D(100))
    assert short.realized_pnl == -(fees[3] - close_fee_share)

    # the read API shows the same figures as decimal strings
    _, trades = await world.get("/trades?bot=demo")
    assert trades[0]["pnl"] == format((gross - trade_fees).normalize(), "f")
    assert trades[0]["qty"] == "2" and trades[0]["side"] == "long"
    _, positions = await world.get("/positions")
    assert positions[0]["side"] == "short" and positions[0]["qty"] == "1.5"


async def test_target_position_from_tradingview_wins_over_qty(world: World) -> None:
    await world.send_alert(
        action="buy", price="100", qty="1", market_position="long", position_size="1"
    )
    # strategy.entry short with contracts 3 from long 1: TradingView says position is -2
    _, answer = await world.send_alert(
        action="sell", price="100", qty="3", market_position="short", position_size="-2"
    )
    assert answer["order"]["qty"] == "3" and answer["position"]["side"] == "short"
    assert answer["position"]["qty"] == "2"
    _, answer = await world.send_alert(
        action="buy", price="100", qty="2", market_position="flat", position_size="0"
    )
    assert answer["position"] is None
    assert await TradeHistory.all().count() == 2


async def test_pyramiding_limit_and_long_only_bot(world: World) -> None:
    bot = await world.add_bot("longonly", direction="long", max_entries=2)
    for _ in range(2):
        assert (await world.send_alert(bot, action="buy", price="10"))[1]["status"] == "executed"
    _, third = await world.send_alert(bot, action="buy", price="10")
    assert third["status"] == "ignored" and "max entries" in third["reason"]
    _, sell = await world.send_alert(bot, action="sell", price="10", qty="5")
    assert sell["order"]["qty"] == "2" and sell["position"] is None  # just closes
    _, again = await world.send_alert(bot, action="sell", price="10")
    assert again["status"] == "ignored" and "long only" in again["reason"]


async def test_quote_sized_bot_buys_amount_over_price(world: World) -> None:
    bot = await world.add_bot("quote", size="250USDT")
    _, answer = await world.send_alert(bot, action="buy", price="1000")
    assert answer["order"]["qty"] == "0.25"


async def test_paper_balance_is_derived_from_stored_rows(start_world) -> None:
    world = await start_world(paper_balance="1000", paper_fee_bps="0")
    await world.add_bot("demo")
    await world.send_alert(action="buy", price="600")
    _, refused = await world.send_alert(action="buy", price="600")
    assert refused["status"] == "rejected" and "available 400" in refused["reason"]
    await world.send_alert(action="close", price="700")  # +100 realized
    _, again = await world.send_alert(action="buy", price="1100")
    assert again["status"] == "executed"  # 1000 + 100 = 1100 available


async def test_a_close_does_not_need_the_brokers_balances(start_world) -> None:
    """Only a buy or sell without qty is sized from equity: a close (a stop-loss, say) neither
    waits on the broker's balances nor fails with them."""
    from trading.brokers.paper import PaperBroker
    from trading.errors import BrokerUnavailable

    class NoBalances(PaperBroker):
        down = False

        async def balances(self):  # type: ignore[no-untyped-def]
            if self.down:
                raise BrokerUnavailable("balances unavailable")
            return await super().balances()

    broker = NoBalances(SqlPaperLedger())
    world = await start_world(broker=broker)
    await world.add_bot("pct", size="5%")
    status, opened = await world.send_alert("pct", action="buy", price="100")
    assert (status, opened["status"]) == (200, "executed")
    broker.down = True
    status, closed = await world.send_alert("pct", action="close", price="101")
    assert (status, closed["status"], closed["reason"]) == (200, "executed", "close")
    status, refused = await world.send_alert("pct", action="buy", price="101")
    assert refused["status"] == "rejected" and "balances unavailable" in refused["reason"]
