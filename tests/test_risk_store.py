"""The risk store (SPEC §6a) on a real SQLite file and a real PostgreSQL: rules and the kill
switch round-trip, an entry's figures in one read match arithmetic done by hand, PostgreSQL's
entry lock makes a second holder wait (in another session too), and migration 4 carries an
existing database's `risk` values and kill switch over onto the §6a keys."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import shutil
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from aerich import Command
from hypothesis import given, settings
from hypothesis import strategies as st
from tortoise import Tortoise, connections
from tortoise.backends.base.executor import EXECUTOR_CACHE

from db.config import migrations_location, tortoise_config
from db.migrate import upgrade
from db.models import AccountSettings, AuditLog, CurrentPosition, TradeHistory, TradingBot
from db.prices import SqlPriceStore, ensure_instrument
from db.risk import LOCK_SPACE, SqlRiskStore, _lock_key
from db.risk_migration import ALIASES, legacy_kill_switch, mapped_rules
from db.stores import sql_stores
from tests.processes import migrated_postgres, postgres_database
from tests.waiting import eventually
from trading.bots import BotSpec
from trading.equity import EquitySnapshot, KillSwitchState
from trading.errors import InvalidRequest, NotFound
from trading.records import EXCHANGE_SOURCE
from trading.risk import KEYS, OFF, Amount, RiskRules, StopGuard, StopLoss

R = TypeVar("R")
T = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # "now" of the scenarios
DAY = T.replace(hour=0)  # the risk day's start (daily_reset_hour 0)


# ---------------------------------------------------------------- databases


@asynccontextmanager
async def _opened(url: str) -> AsyncIterator[SqlRiskStore]:
    await Tortoise.init(config=tortoise_config(url))
    try:
        yield SqlRiskStore()
    finally:
        await Tortoise.close_connections()


@asynccontextmanager
async def _sqlite(tmp_path: Path, template_db: Path) -> AsyncIterator[SqlRiskStore]:
    """A migrated SQLite file (a copy of the session's template), Tortoise open on it."""
    target = tmp_path / "risk.sqlite3"
    shutil.copy(template_db, target)
    async with _opened(f"sqlite://{target}") as store:
        yield store


@pytest.fixture
async def sqlite_store(tmp_path: Path, template_db: Path) -> AsyncIterator[SqlRiskStore]:
    async with _sqlite(tmp_path, template_db) as store:
        yield store


@pytest.fixture
async def postgres_url(tmp_path: Path) -> AsyncIterator[str]:
    """A PostgreSQL database migrated by `tradebot migrate` (skipped without a server, failed
    under TRADEBOT_REQUIRE_SERVICES=1)."""
    async with migrated_postgres("tradebot_risk", tmp_path) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, template_db: Path
) -> AsyncIterator[SqlRiskStore]:
    """Each kind of database in turn, migrated, with a fresh store."""
    if request.param == "sqlite":
        async with _sqlite(tmp_path, template_db) as store:
            yield store
        return
    async with migrated_postgres("tradebot_risk", tmp_path) as url, _opened(url) as store:
        yield store


async def _bot(name: str) -> int:
    spec = BotSpec(name=name, symbols=["BTCUSDT"], size="1")
    return (await sql_stores().bots.create_bot(spec)).id


async def _position(
    bot_id: int, symbol: str, side: str, qty: str, avg: str, realized: str = "0"
) -> None:
    _, quote = await ensure_instrument(symbol)
    await CurrentPosition.create(
        bot_id=bot_id,
        symbol=symbol,
        quote=quote,
        side=side,
        qty=D(qty),
        avg_price=D(avg),
        opened_qty=D(qty),
        realized_pnl=D(realized),
        opened_at=T - timedelta(hours=3),
    )


async def _trade(
    bot_id: int, pnl: str, closed_at: datetime, reason: str = "signal", symbol: str = "BTCUSDT"
) -> None:
    _, quote = await ensure_instrument(symbol)
    position_id = await TradeHistory.all().count() + 1000
    await TradeHistory.create(
        position_id=position_id,
        bot_id=bot_id,
        symbol=symbol,
        quote=quote,
        side="long",
        qty=D(1),
        entry_price=D(100),
        exit_price=D(101),
        pnl=D(pnl),
        fees=D(0),
        opened_at=closed_at - timedelta(minutes=5),
        closed_at=closed_at,
        reason=reason,
    )


def _snapshot(quote: str, at: datetime, equity: str, balance: str = "1000") -> EquitySnapshot:
    return EquitySnapshot(
        quote=quote,
        at=at,
        equity=D(equity),
        balance=D(balance),
        realized=D(equity) - D(balance),
        unrealized=D(0),
        open_positions=0,
        open_notional=D(0),
        cause="hourly",
    )


# ---------------------------------------------------------------- rules and the kill switch


async def test_rules_round_trip_for_the_account_and_a_bot_with_off_kept(
    store: SqlRiskStore,
) -> None:
    fresh = await store.account_state()
    assert fresh.rules == RiskRules() and not fresh.kill_switch.on

    account = RiskRules(
        max_exposure=Amount(D("50"), percent=True),
        daily_loss_limit=Amount(D("150")),
        stop_guard=StopGuard(3, 60),
        daily_reset_hour=7,
    )
    await store.save_account_rules(account.to_json())
    assert (await store.account_state()).rules == account

    bot_id = await _bot("demo")
    own = RiskRules(max_exposure=OFF, max_position_qty=Amount(D("0.5")))
    await store.save_bot_rules(bot_id, own.to_json())
    stored = (await sql_stores().bots.bot_by_id(bot_id)).risk
    assert stored == {"max_position_qty": "0.5", "max_exposure": "off"}
    assert RiskRules.from_json(stored) == own

    with pytest.raises(NotFound):
        await store.save_bot_rules(bot_id + 99, own.to_json())
    with pytest.raises(InvalidRequest, match="max_drawdown"):
        await store.save_account_rules({"max_drawdown": "lots"})
    assert (await store.account_state()).rules == account  # the refused one stored nothing


async def test_a_stored_value_that_no_longer_parses_is_dropped_with_a_warning(
    store: SqlRiskStore, caplog: pytest.LogCaptureFixture
) -> None:
    await AccountSettings.filter(id=1).update(
        risk={"max_drawdown": "lots", "max_open_positions": "3", "retired_rule": "1"}
    )
    with caplog.at_level(logging.WARNING, logger="db.risk"):
        state = await store.account_state()
    assert state.rules == RiskRules(max_open_positions=3)
    warned = " ".join(record.getMessage() for record in caplog.records)
    assert "max_drawdown" in warned and "retired_rule" in warned


async def test_the_kill_switch_is_stored_and_each_change_returns_the_state_it_replaced(
    store: SqlRiskStore,
) -> None:
    by_hand = KillSwitchState(on=True, by="alice", since=T, reason="stopentry")
    assert await store.set_kill_switch(by_hand) == KillSwitchState()
    assert (await store.account_state()).kill_switch == by_hand

    tripped = KillSwitchState(
        on=True,
        by="risk",
        since=T + timedelta(minutes=5),
        reason="risk: max_drawdown 10% reached",
        rule="max_drawdown",
        legacy_paused=("old-bot",),
    )
    assert await store.set_kill_switch(tripped) == by_hand
    assert await store.set_kill_switch(KillSwitchState()) == tripped
    assert (await store.account_state()).kill_switch == KillSwitchState()


async def test_the_account_row_is_made_when_missing(store: SqlRiskStore) -> None:
    await AccountSettings.all().delete()
    assert (await store.account_state()).kill_switch == KillSwitchState()
    on = KillSwitchState(on=True, by="cli", since=T)
    assert await store.set_kill_switch(on) == KillSwitchState()
    await AccountSettings.all().delete()
    await store.save_account_rules({"max_open_positions": "2"})
    assert (await store.account_state()).rules == RiskRules(max_open_positions=2)


# ---------------------------------------------------------------- an entry's figures


async def test_account_rows_match_arithmetic_by_hand(store: SqlRiskStore) -> None:
    alpha, beta = await _bot("alpha"), await _bot("beta")
    prices = SqlPriceStore()
    # BTCUSDT: the exchange's 110 (10 min ago); alpha's own alert said 105 (5 min ago: newer),
    # beta's own 118 (20 min ago: older than the exchange's)
    await _position(alpha, "BTCUSDT", "long", "2", "100", realized="1.5")
    await _position(beta, "BTCUSDT", "short", "1", "120", realized="-0.5")
    await prices.record_price("BTCUSDT", D(110), T - timedelta(minutes=10), EXCHANGE_SOURCE)
    await prices.record_price("BTCUSDT", D(105), T - timedelta(minutes=5), "alert", bot_id=alpha)
    await prices.record_price("BTCUSDT", D(118), T - timedelta(minutes=20), "alert", bot_id=beta)
    # ETHUSDT: only a price an alert left in instruments before prices were per bot
    await _position(alpha, "ETHUSDT", "long", "3", "50")
    await prices.record_price("ETHUSDT", D(40), T - timedelta(minutes=1), "alert")
    # SOLUSDT: no price known at all; BTCEUR: another currency
    await _position(beta, "SOLUSDT", "long", "4", "20")
    await _position(alpha, "BTCEUR", "long", "1", "90000")

    await _trade(alpha, "12.5", T - timedelta(hours=5))
    await _trade(beta, "-2.25", T - timedelta(hours=4))
    await _trade(alpha, "100", T - timedelta(hours=4), symbol="BTCEUR")
    await _trade(alpha, "-3", T - timedelta(hours=2), reason="stop_loss")  # before the window
    await _trade(alpha, "-4", T - timedelta(minutes=30), reason="stop_loss", symbol="ETHUSDT")
    await _trade(alpha, "-1", T - timedelta(minutes=20), reason="trailing_stop")  # no stop-loss
    await _trade(beta, "-5", T - timedelta(minutes=10), reason="stop_loss")  # another bot's

    for at, equity, balance in [
        (DAY - timedelta(hours=2), "1000", "1000"),
        (DAY - timedelta(hours=1), "1200", "1000"),  # the peak
        (DAY, "1100", "1000"),  # at the day's start exactly: counts as the day's start
        (DAY + timedelta(hours=1), "900", "1005"),  # the latest: its balance is the balance
    ]:
        await store.add_snapshot(_snapshot("USDT", at, equity, balance))
    await store.add_snapshot(_snapshot("EUR", DAY, "5000"))

    rows = await store.account_rows(
        "USDT", day_start=DAY, bot_id=alpha, stops_since=T - timedelta(hours=1)
    )
    assert rows.quote == "USDT"
    assert rows.closed_realized == D("12.5") - D("2.25") - 3 - 4 - 1 - 5  # = -2.75
    valued = {(p.bot_id, p.symbol): (p.side, p.qty, p.avg_price, p.price) for p in rows.positions}
    assert valued == {
        (alpha, "BTCUSDT"): ("long", D(2), D(100), D(105)),
        (beta, "BTCUSDT"): ("short", D(1), D(120), D(110)),
        (alpha, "ETHUSDT"): ("long", D(3), D(50), D(40)),
        (beta, "SOLUSDT"): ("long", D(4), D(20), None),
    }
    assert sum(p.realized_pnl for p in rows.positions) == D("1.0")
    # (105 − 100)·2 + (120 − 110)·1 + (40 − 50)·3 + nothing for the unpriced = −10
    assert sum(p.unrealized for p in rows.positions) == D(-10)
    assert sum(p.notional for p in rows.positions) == D(200 + 120 + 150 + 80)
    assert (rows.balance, rows.equity_peak, rows.day_start_equity) == (D(1005), D(1200), D(1100))
    assert rows.stop_losses == (StopLoss("ETHUSDT", T - timedelta(minutes=30)),)

    # read again after more rows: the new snapshot and trade are counted (read incrementally)
    await store.add_snapshot(_snapshot("USDT", DAY + timedelta(hours=2), "1300", "1005"))
    await _trade(beta, "0.75", T)
    again = await store.account_rows("USDT", day_start=DAY - timedelta(days=1))
    assert again.equity_peak == D(1300) and again.closed_realized == D("-2")
    assert again.day_start_equity is None and again.stop_losses == ()
    assert again.state == await store.account_state()

    euro = await store.account_rows("EUR", day_start=DAY)
    assert (euro.closed_realized, euro.equity_peak, euro.balance) == (D(100), D(5000), D(1000))
    assert [p.symbol for p in euro.positions] == ["BTCEUR"]
    nothing = await store.account_rows("GBP", day_start=DAY)
    assert (nothing.closed_realized, nothing.positions, nothing.balance) == (D(0), (), None)
    assert (nothing.equity_peak, nothing.day_start_equity) == (None, None)

    assert await store.quotes() == ["EUR", "USDT"]


async def test_snapshots_read_back_oldest_first_by_currency_and_time(store: SqlRiskStore) -> None:
    later = _snapshot("USDT", T, "1234.567890123456789")  # rounded to the columns' 12 places
    earlier = _snapshot("USDT", T - timedelta(hours=1), "1000")
    euro = _snapshot("EUR", T - timedelta(minutes=30), "50")
    for snapshot in (later, earlier, euro):
        await store.add_snapshot(snapshot)
    everything = await store.snapshots()
    assert [(s.quote, s.at) for s in everything] == [
        ("USDT", earlier.at),
        ("EUR", euro.at),
        ("USDT", later.at),
    ]
    usdt = await store.snapshots("USDT")
    assert usdt[0] == earlier
    assert usdt[1].equity == D("1234.567890123457") and usdt[1].cause == "hourly"
    assert [s.at for s in await store.snapshots("USDT", since=T - timedelta(minutes=30))] == [T]


# ---------------------------------------------------------------- the entry lock


async def test_on_sqlite_the_entry_lock_is_a_no_op(sqlite_store: SqlRiskStore) -> None:
    async with sqlite_store.entry_lock("USDT"), SqlRiskStore().entry_lock("USDT"):
        pass  # a second holder at once: nothing waits on SQLite (one process writes)


async def _waiting_for_the_lock(quote: str) -> bool:
    _, rows = await connections.get("default").execute_query(
        "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
        "AND classid = $1 AND objid = $2 AND database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())",
        [LOCK_SPACE, _lock_key(quote) % (1 << 32)],
    )
    return rows[0][0] > 0


@pytest.mark.services
async def test_on_postgres_a_second_holder_waits_until_the_first_leaves(postgres_url: str) -> None:
    async with _opened(postgres_url) as store:
        await _two_holders(postgres_url, store)


async def _two_holders(url: str, store: SqlRiskStore) -> None:
    other = SqlRiskStore()  # another store: as another process would, it has a lock of its own
    events: list[str] = []
    inside, leave = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with store.entry_lock("USDT"):
            events.append("first in")
            inside.set()
            await leave.wait()
            events.append("first out")

    async def second() -> None:
        await inside.wait()
        async with other.entry_lock("USDT"):
            events.append("second in")

    tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
    await inside.wait()
    await eventually(lambda: _waiting_for_the_lock("USDT"))  # the second is queued in PostgreSQL
    async with other.entry_lock("EUR"):  # another currency does not wait
        events.append("EUR in")
    # another session (another process) cannot take it either
    outside = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        taken = await outside.fetchval(
            "SELECT pg_try_advisory_lock($1, $2)", LOCK_SPACE, _lock_key("USDT")
        )
    finally:
        await outside.close()
    assert not taken
    leave.set()
    await asyncio.gather(*tasks)
    assert events == ["first in", "EUR in", "first out", "second in"]

    async def failing() -> None:  # an error inside lets go of the lock as well
        async with store.entry_lock("USDT"):
            raise KeyError("boom")

    with pytest.raises(KeyError):
        await failing()
    async with other.entry_lock("USDT"):
        events.append("after the error")
    assert events[-1] == "after the error"


# ---------------------------------------------------------------- migration 4


def test_legacy_values_map_onto_the_spec_keys() -> None:
    assert mapped_rules(
        {
            "max_qty": 0.5,
            "max_value": "1000",
            "max_positions": 3,
            "max_open": 9,  # a second alias of the same rule: the first listed wins
            "exposure": "50%",
            "max_daily_loss": 150,
            "drawdown": 10,
            "cooldown": 30.0,
            "risk_pct": "1",
            "stop_guard": "3/60",
            "Max_Position_Value": "2000",  # the §6a key itself wins over its aliases
            "leverage": 5,  # unknown: dropped
        }
    ) == {
        "max_position_qty": "0.5",
        "max_position_value": "2000",
        "max_open_positions": "3",
        "max_exposure": "50%",
        "daily_loss_limit": "150",
        "max_drawdown": "10%",
        "cooldown_after_stop": "30",
        "stop_guard": "3/60",
        "risk_per_trade": "1%",
    }
    # values that are no rule are dropped; a valid alias stands in for an invalid §6a value
    assert mapped_rules(
        {"max_drawdown": "lots", "max_dd": "15", "daily_loss": -5, "max_exposure": True}
    ) == {"max_drawdown": "15%"}
    assert mapped_rules({"max_position_qty": "off", "risk": 1e-7}) == {
        "max_position_qty": "off",
        "risk_per_trade": "0.0000001%",
    }
    assert mapped_rules(None) == mapped_rules([1, 2]) == mapped_rules("x") == {}


legacy_value = st.one_of(
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=12),
    st.from_regex(r"-?[0-9]{1,6}(\.[0-9]{1,4})?%?|[0-9]{1,3}/[0-9]{1,4}|off", fullmatch=True),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(
    legacy=st.dictionaries(
        st.sampled_from([*KEYS, *ALIASES, "leverage", "MAX_QTY "]), legacy_value, max_size=8
    )
)
def test_any_legacy_risk_maps_to_rules_that_read_back_and_map_to_themselves(
    legacy: dict[str, Any],
) -> None:
    mapped = mapped_rules(legacy)
    assert set(mapped) <= set(KEYS)
    assert RiskRules.from_json(mapped).to_json() == mapped
    assert mapped_rules(mapped) == mapped  # running it again changes nothing


def test_the_legacy_kill_switch_is_read_from_its_latest_audit_row() -> None:
    details = {"paused": ["a", "b"], "by": "alice"}
    assert legacy_kill_switch("kill_switch.on", "tg:1", details) == (True, "alice", ["a", "b"])
    assert legacy_kill_switch("kill_switch.on", "cli", {}) == (True, "cli", [])
    assert legacy_kill_switch("kill_switch.off", "cli", details) == (False, "", [])


async def _at_migration_3(url: str, tmp_path: Path) -> None:
    """The database as the version before this one left it (migrations 0 to 3 applied)."""
    shipped = Path(migrations_location(url)) / "models"
    older = tmp_path / "older" / shipped.parent.name
    (older / "models").mkdir(parents=True)
    for path in sorted(shipped.glob("[0-3]_*.py")):
        shutil.copy(path, older / "models" / path.name)
    command = Command(tortoise_config(url), app="models", location=str(older))
    async with command:
        await command.init()
        applied = await command.upgrade(run_in_transaction=True)
    assert [name[0] for name in applied] == ["0", "1", "2", "3"]


async def _legacy_rows(url: str) -> datetime:
    """Bots with free-form `risk` and a kill switch left on; when it was turned on."""
    await Tortoise.init(config=tortoise_config(url))
    try:
        stores = sql_stores()
        for name in ("legacy", "broken", "plain"):
            await stores.bots.create_bot(BotSpec(name=name, symbols=["BTCUSDT"], size="1"))
        risks = {
            "legacy": {"max_qty": 0.5, "drawdown": 10, "cooldown": 30, "leverage": 3},
            "broken": {"max_drawdown": "lots", "daily_loss": "150", "max_exposure": "off"},
            "plain": {},
        }
        for name, risk in risks.items():
            await TradingBot.filter(name=name).update(risk=risk)
        await stores.audit.audit("cli", "kill_switch.on", "all bots", "ok", paused=["x"])
        await stores.audit.audit("cli", "kill_switch.off", "all bots", "ok", resumed=["x"])
        await stores.audit.audit(
            "tg:1", "kill_switch.on", "all bots", "ok", paused=["legacy", "plain"], by="alice"
        )
        await stores.audit.audit("cli", "kill_switch.off", "all bots", "refused")  # not ok
        row = await AuditLog.filter(action="kill_switch.on").order_by("-id").first()
        assert row is not None
        return row.created_at
    finally:
        await Tortoise.close_connections()


async def _check_upgraded(url: str, since: datetime) -> None:
    await Tortoise.init(config=tortoise_config(url))
    try:
        risks = dict(await TradingBot.all().values_list("name", "risk"))
        assert risks == {
            "legacy": {
                "max_position_qty": "0.5",
                "max_drawdown": "10%",
                "cooldown_after_stop": "30",
            },
            "broken": {"max_exposure": "off", "daily_loss_limit": "150"},
            "plain": {},
        }
        state = await SqlRiskStore().account_state()
        assert state.rules == RiskRules()
        assert state.kill_switch == KillSwitchState(
            on=True, by="alice", since=since, legacy_paused=("legacy", "plain")
        )
        assert await SqlRiskStore().snapshots() == []
    finally:
        await Tortoise.close_connections()


def _alone(step: Coroutine[Any, Any, R]) -> asyncio.Task[R]:
    """`step` with Tortoise set up from scratch, as in a process of its own (Tortoise keeps its
    state per context, and aerich's Command does not init it again once it was)."""
    return asyncio.create_task(step, context=contextvars.Context())


async def _upgraded_from_3(url: str, tmp_path: Path) -> None:
    await _alone(_at_migration_3(url, tmp_path))
    since = await _alone(_legacy_rows(url))
    applied = [name[0] for name in await _alone(upgrade(url))]
    assert applied[:2] == ["4", "5"] and applied == sorted(applied)  # and any later ones
    await _alone(_check_upgraded(url, since))


async def test_migration_4_carries_legacy_rows_over_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'legacy.sqlite3'}"
    await _upgraded_from_3(url, tmp_path)
    assert await _alone(upgrade(url)) == []  # and safe to run again


@pytest.mark.services
async def test_migration_4_carries_legacy_rows_over_on_postgres(tmp_path: Path) -> None:
    with postgres_database("tradebot_risk_mig") as url:
        EXECUTOR_CACHE.clear()  # Tortoise's INSERTs are cached per dialect (tests.processes)
        try:
            await _upgraded_from_3(url, tmp_path)
        finally:
            EXECUTOR_CACHE.clear()
