"""The real services over in-memory stores (`tests.fakes.memory_stores`): no database, no
network. What a user notices: a change made from the chat or the CLI is the same change and one
audit row, a refusal is audited once with its reason, reads show what the store holds.

The end-to-end tests (real SQLite, real HTTP) stay the safety net; these show the services
depend on nothing but the ports they are given.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from bot.assembly import Assembly, assemble
from bot.config import Settings
from tests.fakes.memory_risk import MemoryRiskStore, OpenPositionRow
from tests.fakes.memory_stores import (
    MemoryAuditStore,
    MemoryBotStore,
    MemoryOrderStore,
    MemoryPaperLedger,
    MemoryPositionStore,
    MemoryReportStore,
    MemoryUserStore,
    memory_stores,
    stray_calls,
)
from trading.access import CLI, AccessService, Actor, Role
from trading.account_book import AccountBook
from trading.bots import BotConfig, BotSpec
from trading.brokers.base import Balance
from trading.brokers.paper import PaperBroker, PaperLedger
from trading.control import ControlService
from trading.errors import InvalidRequest, NotFound
from trading.events import EventBus
from trading.levels import Level
from trading.ports import (
    AuditStore,
    BotStore,
    OrderStore,
    PositionStore,
    ReportStore,
    Stores,
    UserStore,
)
from trading.records import ClosedTradeRow, UserRecord
from trading.reports import ReportService
from trading.views import PositionView, TradeView

D = Decimal
OWNER_ID = 111  # in the admins list: an owner without a user row
T = TypeVar("T")
Row = tuple[str, str, str, str, dict[str, Any]]  # actor, action, target, outcome, details


@dataclass
class World:
    bots: MemoryBotStore
    positions: MemoryPositionStore
    orders: MemoryOrderStore
    reports: MemoryReportStore
    audit: MemoryAuditStore
    users: MemoryUserStore
    ledger: MemoryPaperLedger
    events: EventBus
    control: ControlService
    access: AccessService
    report: ReportService

    def rows(self) -> list[Row]:
        return [(r.actor, r.action, r.target, r.outcome, r.details) for r in self.audit.rows]

    async def stored(self, name: str) -> BotConfig:
        return await self.bots.bot_by_name(name)

    async def new_rows(self, call: Awaitable[T]) -> tuple[T, list[Row]]:
        """The call's result and the audit rows it wrote."""
        before = len(self.audit.rows)
        result = await call
        return result, self.rows()[before:]


def assembled(stores: Stores) -> Assembly:
    """The services exactly as `bot.assembly.assemble` wires them for `tradebot serve`, over
    `stores` and the paper broker (its account in `stores.ledger`)."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, public_url="https://bot.example.com/", telegram_admins=[OWNER_ID]
    )
    return assemble(settings, stores=stores, broker=PaperBroker(stores.ledger))


@pytest.fixture
def world() -> Iterator[World]:
    """The assembled services over in-memory stores."""
    bots, positions, orders = MemoryBotStore(), MemoryPositionStore(), MemoryOrderStore()
    reports, audit, users = MemoryReportStore(), MemoryAuditStore(), MemoryUserStore()
    ledger = MemoryPaperLedger()
    stores = memory_stores(
        bots=bots,
        positions=positions,
        orders=orders,
        reports=reports,
        audit=audit,
        users=users,
        ledger=ledger,
    )
    services = assembled(stores)
    yield World(
        bots=bots,
        positions=positions,
        orders=orders,
        reports=reports,
        audit=audit,
        users=users,
        ledger=ledger,
        events=services.events,
        control=services.control,
        access=services.access,
        report=services.reports,
    )
    # A port method the fakes lack fails the test where it is called; this catches a service
    # that called one and swallowed the AssertionError.
    assert stray_calls(stores) == []


async def telegram_owner(world: World) -> Actor:
    """The actor the Telegram middleware builds for a listed owner."""
    return await world.access.actor(OWNER_ID, "alice")


async def actor_of(world: World, who: str) -> tuple[Actor, str]:
    """(actor, its key in the audit log) for "telegram" or "cli"."""
    if who == "telegram":
        return await telegram_owner(world), f"tg:{OWNER_ID}"
    return CLI, "cli"


def spec(name: str = "demo", symbols: str = "BTCUSDT") -> BotSpec:
    return BotSpec(name=name, symbols=symbols.split(","), strategy="signal")


# ---------------------------------------------------------------- creating a bot


@pytest.mark.parametrize("who", ["telegram", "cli"])
async def test_creating_a_bot_stores_it_and_audits_it_once(world: World, who: str) -> None:
    actor, key = await actor_of(world, who)

    bot, audited = await world.new_rows(world.control.create_bot(actor, spec("demo")))

    assert bot.name == "demo" and bot.symbols == ["BTCUSDT"] and not bot.paused
    assert await world.control.bots() == [bot]
    assert audited == [(key, "bot.create", "demo", "ok", {"symbols": ["BTCUSDT"]})]
    view = world.control.view(bot)
    assert view.name == "demo"
    assert world.control.webhook_url(bot) == f"https://bot.example.com/webhook/{bot.webhook_key}"


async def test_a_taken_name_is_refused_and_the_attempt_audited_once_as_failed(
    world: World,
) -> None:
    first = await world.control.create_bot(CLI, spec("demo"))
    owner = await telegram_owner(world)

    with pytest.raises(InvalidRequest, match="a bot named 'demo' already exists"):
        await world.control.create_bot(owner, spec("demo", "ETHUSDT"))

    assert await world.control.bots() == [first]  # the first bot is untouched
    assert world.rows() == [
        ("cli", "bot.create", "demo", "ok", {"symbols": ["BTCUSDT"]}),
        (
            "tg:111",
            "bot.create",
            "demo",
            "failed",
            {"error": "a bot named 'demo' already exists", "symbols": ["ETHUSDT"]},
        ),
    ]


# ---------------------------------------------------------------- changing a bot


@pytest.mark.parametrize("who", ["telegram", "cli"])
async def test_pause_resume_rotate_and_signing_change_the_store_and_audit_once_each(
    world: World, who: str
) -> None:
    """The chat names a bot by id (its buttons), the CLI by name: same change, same rows."""
    actor, key = await actor_of(world, who)
    bot = await world.bots.create_bot(spec("demo"))  # put there directly: not audited
    ref: int | str = bot.id if who == "telegram" else "demo"

    paused, audited = await world.new_rows(world.control.set_paused(actor, ref, True))
    assert paused.paused and (await world.stored("demo")).paused
    assert audited == [(key, "bot.pause", "demo", "ok", {})]

    resumed, audited = await world.new_rows(world.control.set_paused(actor, ref, False))
    assert not resumed.paused and not (await world.stored("demo")).paused
    assert audited == [(key, "bot.resume", "demo", "ok", {})]

    rotated, audited = await world.new_rows(world.control.rotate_key(actor, ref))
    assert rotated.webhook_key != bot.webhook_key
    assert (await world.stored("demo")).webhook_key == rotated.webhook_key
    assert audited == [(key, "bot.rotate_key", "demo", "ok", {})]

    signed, audited = await world.new_rows(world.control.set_signing(actor, ref, True))
    assert signed.hmac_secret and (await world.stored("demo")).hmac_secret == signed.hmac_secret
    assert audited == [(key, "bot.sign", "demo", "ok", {})]
    assert signed.hmac_secret not in repr(world.audit.rows)  # shown once, never logged

    unsigned, audited = await world.new_rows(world.control.set_signing(actor, ref, False))
    assert unsigned.hmac_secret is None and (await world.stored("demo")).hmac_secret is None
    assert audited == [(key, "bot.sign_off", "demo", "ok", {})]

    assert len(world.audit.rows) == 5


async def test_a_mistyped_name_is_audited_as_a_failed_attempt_on_that_name(
    world: World,
) -> None:
    await world.bots.create_bot(spec("demo"))

    with pytest.raises(NotFound, match="no bot named 'demoo'"):
        await world.control.set_paused(CLI, "demoo", True)

    assert not (await world.stored("demo")).paused
    assert world.rows() == [
        ("cli", "bot.pause", "demoo", "failed", {"error": "no bot named 'demoo'"})
    ]


async def test_a_button_for_a_bot_that_does_not_exist_changes_nothing(world: World) -> None:
    """An id is checked before the change (`ControlService._change`): nothing to audit."""
    with pytest.raises(NotFound, match="no bot with id 99"):
        await world.control.rotate_key(await telegram_owner(world), 99)
    assert world.rows() == []


async def test_an_edit_is_validated_stored_and_audited_without_the_secret(world: World) -> None:
    owner = await telegram_owner(world)
    bot = await world.bots.create_bot(spec("demo"))

    edited, audited = await world.new_rows(
        world.control.update_bot(owner, bot.id, "passphrase", " open-sesame ")
    )
    assert edited.passphrase == "open-sesame" == (await world.stored("demo")).passphrase
    assert audited == [
        ("tg:111", "bot.edit", "demo", "ok", {"field": "passphrase", "value": "***"})
    ]

    edited, audited = await world.new_rows(world.control.update_bot(owner, bot.id, "sl", "2%"))
    assert (await world.stored("demo")).sl == Level(value=Decimal(2), percent=True)
    assert audited == [("tg:111", "bot.edit", "demo", "ok", {"field": "sl", "value": "2%"})]

    with pytest.raises(InvalidRequest, match="max_entries"):
        await world.control.update_bot(owner, bot.id, "max_entries", "0")
    assert (await world.stored("demo")).max_entries == 1
    (row,) = world.rows()[2:]
    assert row[:4] == ("tg:111", "bot.edit", "demo", "failed")
    assert row[4]["field"] == "max_entries" and row[4]["value"] == "0"
    assert row[4]["error"].startswith("max_entries: ")


# ---------------------------------------------------------------- reads


NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


def position(position_id: int, bot: str, symbol: str, quote: str, pnl: str) -> PositionView:
    return PositionView(
        id=position_id,
        bot=bot,
        symbol=symbol,
        side="long",
        qty=Decimal(1),
        avg_price=Decimal(100),
        entries=1,
        opened_at=NOW - timedelta(hours=10 - position_id),
        sl=None,
        tp=None,
        trail=None,
        realized_pnl=Decimal(0),
        fees=Decimal("0.1"),
        last_price=Decimal(100) + Decimal(pnl),
        unrealized_pnl=Decimal(pnl),
        quote=quote,
    )


def trade(trade_id: int, bot: str, hours_ago: int) -> TradeView:
    return TradeView(
        id=trade_id,
        bot=bot,
        symbol="BTCUSDT",
        side="long",
        qty=Decimal(1),
        entry_price=Decimal(100),
        exit_price=Decimal(110),
        pnl=Decimal(10),
        fees=Decimal("0.2"),
        entries=1,
        opened_at=NOW - timedelta(hours=hours_ago + 1),
        closed_at=NOW - timedelta(hours=hours_ago),
        reason="signal",
        quote="USDT",
    )


def closed(bot: str, quote: str, pnl: str, days_ago: int) -> ClosedTradeRow:
    closed_at = NOW - timedelta(days=days_ago)
    return ClosedTradeRow(
        bot=bot,
        symbol=f"ETH{quote}",
        quote=quote,
        side="long",
        qty=Decimal(1),
        pnl=Decimal(pnl),
        fees=Decimal("0.01"),
        opened_at=closed_at - timedelta(hours=2),
        closed_at=closed_at,
        reason="signal",
    )


async def test_positions_are_the_stores_of_one_bot_or_all(world: World) -> None:
    world.positions.positions = [
        position(3, "demo", "ETHUSDT", "USDT", "5"),
        position(1, "demo", "BTCUSDT", "USDT", "-2"),
        position(2, "other", "ETHBTC", "BTC", "0.001"),
    ]

    assert [p.id for p in await world.control.positions("demo")] == [1, 3]  # oldest first
    assert [p.id for p in await world.control.positions()] == [1, 2, 3]
    assert (await world.control.position(2)).symbol == "ETHBTC"
    with pytest.raises(NotFound, match="position #9 is already closed"):
        await world.control.position(9)


async def test_trades_of_a_bot_come_from_the_store_newest_first(world: World) -> None:
    world.orders.trades = [
        trade(1, "demo", hours_ago=30),
        trade(2, "other", hours_ago=1),  # the newest is another bot's
        trade(3, "demo", hours_ago=10),
        trade(4, "demo", hours_ago=20),
    ]

    assert [t.id for t in await world.report.trades(limit=2, bot_name="demo")] == [3, 4]
    assert [t.id for t in await world.report.trades()] == [2, 3, 4, 1]


async def test_pnl_keeps_each_quote_currency_apart(world: World) -> None:
    world.reports.trades = [
        closed("demo", "USDT", "12.5", 0),
        closed("demo", "USDT", "-2.5", 3),  # Tuesday: this (calendar) week
        closed("other", "BTC", "0.002", 40),
    ]
    risk = MemoryRiskStore(
        world.reports,
        positions={
            "USDT": [OpenPositionRow(1, "BTCUSDT", "long", D(1), D(100), D(0), D(98))],
            "BTC": [OpenPositionRow(2, "ETHBTC", "long", D(1), D("0.05"), D(0), D("0.051"))],
        },
    )
    stores = dataclasses.replace(memory_stores(reports=world.reports), risk=risk)  # type: ignore[arg-type]

    async def balance(quote: str) -> Decimal:
        return D(10000)

    report = ReportService(stores=stores, book=AccountBook(risk, balance), clock=lambda: NOW)
    stats = await report.stats()

    usdt, btc = stats.currencies["USDT"], stats.currencies["BTC"]
    today, week, month, ever = (usdt.periods[p] for p in ("day", "week", "month", "all"))
    assert (today.trades, today.realized) == (1, D("12.5"))
    assert (week.trades, week.realized, month.trades) == (2, D("10.0"), 2)
    assert (ever.realized, btc.periods["all"].realized) == (D("10.0"), D("0.002"))
    assert btc.periods["month"].trades == 0
    assert (usdt.equity.unrealized, btc.equity.unrealized) == (D(-2), D("0.001"))
    assert usdt.now == D("10008.0") and btc.now == D("10000.003")
    (best, worst) = await report.performance()
    assert (best.bot, best.quote, best.trades, best.wins) == ("demo", "USDT", 2, 1)
    assert (worst.bot, worst.quote, worst.pnl) == ("other", "BTC", D("0.002"))


async def test_the_paper_balance_is_read_from_the_ledger_it_is_given(world: World) -> None:
    world.ledger.realized_by_quote["USDT"] = Decimal(250)
    world.ledger.exposure_by_quote["USDT"] = Decimal(1000)

    assert world.control.broker_name == "paper"
    assert await world.control.balances() == [Balance("USDT", Decimal(10250), Decimal(9250))]


# ---------------------------------------------------------------- roles


async def test_roles_come_from_the_admins_list_or_the_user_store(world: World) -> None:
    world.users.users[222] = UserRecord(222, "trader", "bob")
    world.users.users[333] = UserRecord(333, "superuser", "eve")  # not a role: none

    owner = await world.access.actor(OWNER_ID, "alice")
    trader = await world.access.actor(222, "bob")
    stranger = await world.access.actor(444)
    odd = await world.access.actor(333)

    assert (owner.key, owner.role) == ("tg:111", Role.OWNER)
    assert trader.can(Role.TRADER) and trader.can(Role.VIEWER) and not trader.can(Role.OWNER)
    assert stranger.role is None and not stranger.can(Role.VIEWER)
    assert odd.role is None
    assert [(m.user_id, m.role, m.from_settings) for m in await world.access.members()] == [
        (111, Role.OWNER, True),
        (222, Role.TRADER, False),
    ]


async def test_granting_and_revoking_a_role_is_stored_and_audited_once(world: World) -> None:
    owner = await telegram_owner(world)

    member = await world.access.grant(owner, 222, "viewer")
    assert member.role is Role.VIEWER
    assert (await world.access.actor(222)).role is Role.VIEWER
    with pytest.raises(InvalidRequest, match="is an owner from TRADEBOT_TELEGRAM_ADMINS"):
        await world.access.grant(owner, OWNER_ID, "viewer")
    await world.access.revoke(owner, 222)
    assert (await world.access.actor(222)).role is None
    with pytest.raises(NotFound, match="user 222 has no role"):
        await world.access.revoke(owner, 222)

    assert world.rows() == [
        ("tg:111", "user.grant", "222", "ok", {"role": "viewer"}),
        ("tg:111", "user.revoke", "222", "ok", {}),
    ]


# ---------------------------------------------------------------- the fakes themselves


async def test_a_port_method_the_fakes_lack_fails_naming_it() -> None:
    stores = memory_stores()
    control = assembled(stores).control
    with pytest.raises(AssertionError, match=r"stores\.alerts\.recent_webhook_logs\(\)"):
        await control.recent_alerts()
    with pytest.raises(AssertionError, match=r"stores\.bots\.soft_delete_bot\(\)"):
        await stores.bots.soft_delete_bot(1)
    assert stray_calls(stores) == [
        "stores.bots.soft_delete_bot",
        "stores.alerts.recent_webhook_logs",
    ]


@pytest.mark.parametrize(
    ("fake", "port"),
    [
        (MemoryBotStore, BotStore),
        (MemoryPositionStore, PositionStore),
        (MemoryOrderStore, OrderStore),
        (MemoryReportStore, ReportStore),
        (MemoryAuditStore, AuditStore),
        (MemoryUserStore, UserStore),
        (MemoryPaperLedger, PaperLedger),
    ],
)
def test_the_fakes_keep_the_ports_signatures(fake: type, port: type) -> None:
    """A port that changes shape fails here, not as a puzzling error in a service test."""

    def shape(function: Any) -> list[tuple[str, Any, Any]]:
        parameters = inspect.signature(function).parameters.values()
        return [(p.name, p.kind, p.default) for p in parameters]

    implemented = [
        name
        for name, member in vars(fake).items()
        if not name.startswith("_") and inspect.iscoroutinefunction(member)
    ]
    assert implemented
    for name in implemented:
        assert hasattr(port, name), f"{fake.__name__}.{name} is not a {port.__name__} method"
        assert shape(getattr(fake, name)) == shape(getattr(port, name)), name
