"""`tradebot pnl [--period day|week|month|all] [--json]`: the account figures of GET /stats in the
terminal, from the same service."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from tortoise import Tortoise

from db.config import tortoise_config
from db.models import TradeHistory, TradingBot


@pytest.fixture(autouse=True)
def _account(monkeypatch: pytest.MonkeyPatch) -> None:
    """A paper balance of 5000, and rich wide enough for whole rows (for the `cli` fixture)."""
    monkeypatch.setenv("TRADEBOT_PAPER_BALANCE", "5000")
    monkeypatch.setenv("COLUMNS", "200")


def closed_trades(*rows: tuple[str, str, str, int]) -> None:
    """(symbol, pnl, fees, days ago) trades of the bot `swing`, an hour long each."""

    async def write() -> None:
        await Tortoise.init(config=tortoise_config(os.environ["TRADEBOT_DATABASE_URL"]))
        try:
            bot = await TradingBot.get(name="swing")
            now = datetime.now(UTC)
            for n, (symbol, pnl, fees, days) in enumerate(rows, start=1):
                closed = now - timedelta(days=days)
                await TradeHistory.create(
                    position_id=n, bot_id=bot.id, symbol=symbol, quote="USDT", side="long",
                    qty=Decimal(1), entry_price=Decimal(100), exit_price=Decimal(101),
                    pnl=Decimal(pnl), fees=Decimal(fees), entries=1,
                    opened_at=closed - timedelta(hours=1), closed_at=closed, reason="signal",
                )  # fmt: skip
        finally:
            await Tortoise.close_connections()

    asyncio.run(write())


def test_pnl_in_the_terminal_and_as_json(cli) -> None:
    code, out = cli("pnl")
    assert code == 0 and "no trades or open positions yet" in out
    assert cli("bots", "add", "--name", "swing", "--symbol", "BTCUSDT")[0] == 0
    # 40 and more days ago: in no day, week or month, in all time
    closed_trades(
        ("BTCUSDT", "12.345678", "0.1", 50),
        ("BTCUSDT", "-2.005", "0.1", 45),
        ("ETHUSDT", "0.01", "0.02", 40),
    )
    code, out = cli("pnl", "--json")
    assert code == 0, out
    data = json.loads(out)
    usdt = data["currencies"]["USDT"]
    assert usdt["balance"] == "5000"  # TRADEBOT_PAPER_BALANCE: no snapshot yet
    assert usdt["equity"] == "5010.350678"  # 5000 + 12.345678 − 2.005 + 0.01
    assert usdt["periods"]["all"]["realized"] == "10.350678"
    assert usdt["periods"]["all"]["trades"] == 3 and usdt["periods"]["all"]["fees"] == "0.22"
    assert [usdt["periods"][p]["realized"] for p in ("day", "week", "month")] == ["0"] * 3
    btc, eth = data["performance"]
    assert (btc["symbol"], btc["pnl"], btc["trades"], btc["wins"]) == ("BTCUSDT", "10.340678", 2, 1)
    assert btc["profit_factor"] == "6.1574"  # 12.345678 / 2.005 = 6.15744...
    assert (btc["avg_win"], btc["avg_loss"]) == ("12.345678", "-2.005")
    assert btc["avg_duration_seconds"] == 3600 and btc["win_rate"] == "50"
    assert (eth["symbol"], eth["pnl"]) == ("ETHUSDT", "0.01")

    code, out = cli("pnl", "--period", "week", "--json")
    week = json.loads(out)
    assert list(week["currencies"]["USDT"]["periods"]) == ["week"]
    assert week["performance"] == [] and week["performance_period"] == "week"

    code, out = cli("pnl")
    assert code == 0, out
    assert "equity 5010.35 " in out and "all time" in out and "+10.35 " in out  # cents
    assert "swing" in out and "BTCUSDT" in out and "6.1574" in out and "1h" in out
    code, out = cli("pnl", "--period", "month")
    assert code == 0 and "no closed trades this month" in out

    code, out = cli("pnl", "--period", "year")
    assert code == 2 and "--period" in out
