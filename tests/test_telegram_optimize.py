"""/optimize in the chat: the search runs in its own process while one message shows how far it
is, ends with the report, the chart and an "Apply to bot…" button that only owners may use; a
second run waits for the first; bad arguments get one polite line."""

from __future__ import annotations

import html
import multiprocessing
import re
from collections.abc import Callable
from typing import Any

import pytest

from bot.assembly import assemble
from bot.config import Settings
from db.models import AuditLog
from db.stores import sql_stores
from handlers.telegram.optimize import (
    DEFAULT_SPACES,
    Bars,
    OptimizeCb,
    parse_args,
    progress_text,
)
from tests.conftest import OWNER_ID, World
from tests.fakes.memory_stores import MemoryAuditStore, MemoryBotStore, memory_stores
from tests.telegram_helpers import Chat
from trading.access import CLI
from trading.backtest.data import Ohlcv, read_csv, to_csv
from trading.backtest.engine import backtestable
from trading.backtest.history import SAMPLE
from trading.bots import BotSpec
from trading.brokers.paper import PaperBroker
from trading.errors import InvalidRequest, NotFound
from trading.optimize import parse_space
from trading.optimize_runs import OptimizeJob, OptimizeService, Progress, Run

VIEWER = 222
TRADER = 333
FEW_TRIALS = "trials=6 seed=1"  # seeded: the same trials every run


async def optimize_world(start_world: Callable[..., Any]) -> tuple[World, Chat]:
    world: World = await start_world(telegram=True)
    assert world.telegram is not None
    await world.telegram.wait_for("setMyCommands")
    return world, Chat(world.telegram, OWNER_ID)


async def granted(owner: Chat, user_id: int, role: str) -> Chat:
    await owner.say(f"/users grant {user_id} {role}", role)
    return Chat(owner.fake, user_id)


def sample_csv(bars: int) -> bytes:
    return to_csv(read_csv(SAMPLE).slice(0, bars)).encode()


def best_params(report: str) -> dict[str, float]:
    """The parameters on the report's "Best …: <code>k=v …</code>" line."""
    match = re.search(r"Best \w+ <b>[^<]*</b>: <code>([^<]*)</code>", report)
    assert match, report
    return {key: float(value) for key, value in (w.split("=") for w in match.group(1).split())}


async def finished_report(chat: Chat, source: str) -> str:
    """The run's message once it shows the report (the HTML the bot sent)."""

    def done(params: dict[str, Any]) -> bool:
        text = str(params.get("text", ""))
        return params.get("chat_id") == chat.id and text.startswith(f"✅ Optimised rsi on {source}")

    [call] = await chat.fake.wait_for("editMessageText", done, timeout=60)
    return str(call.params["text"])


async def test_a_run_shows_progress_in_one_message_then_the_report_and_the_chart(
    start_world: Callable[..., Any],
) -> None:
    _world, owner = await optimize_world(start_world)
    owner.fake.push_message(OWNER_ID, f"/optimize rsi BTCUSDT {FEW_TRIALS}")
    report = await finished_report(owner, "BTCUSDT")
    [photo] = await owner.fake.wait_for("sendPhoto", timeout=30)

    # One message: sent when the run started, then only edited (the report included).
    [started] = [m for m in owner.fake.calls_of("sendMessage") if "Optimising" in m.params["text"]]
    assert started.params["text"].startswith("⏳ Optimising rsi on BTCUSDT")
    edits = owner.fake.calls_of("editMessageText")
    assert {e.params["message_id"] for e in edits} == {started.result["message_id"]}

    # What the trader reads: the best parameters and figure, the honest test, where bars came from.
    assert "6 trials" in report and "Best sharpe" in report
    assert set(best_params(report)) == {"period", "oversold", "overbought"}
    assert "The defaults:" in report
    assert "Walk-forward, 2 folds" in report  # 2,000 bars: walk-forward 2 by default
    assert "synthetic sample data" in report  # no stored bars of BTCUSDT yet
    assert "Apply to bot" in str(edits[-1].params["reply_markup"])

    assert photo.params["chat_id"] == OWNER_ID
    assert photo.params["photo"].size > 10_000
    assert "rsi · BTCUSDT" in photo.params["caption"]


async def test_a_second_run_waits_for_the_first_and_a_csv_file_can_be_the_bars(
    start_world: Callable[..., Any],
) -> None:
    _world, owner = await optimize_world(start_world)
    viewer = await granted(owner, VIEWER, "viewer")
    owner.fake.hold_downloads()  # the first run is loading its file until the test says so
    owner.fake.push_document(OWNER_ID, sample_csv(400), "bars.csv", f"/optimize rsi {FEW_TRIALS}")
    await owner.fake.wait_for("downloadFile")

    refusal = await viewer.say(f"/optimize ma_cross BTCUSDT {FEW_TRIALS}", "⚠️")
    assert "One optimisation is running (started by User111, 0% done)" in refusal
    assert "try again when it ends" in refusal
    assert viewer.sent("Optimising") == []  # nothing started for the viewer

    owner.fake.release_downloads()
    report = await finished_report(owner, "bars.csv")
    assert "400 bars" in report
    assert "Walk-forward" not in report  # too few bars for three segments of 200
    assert "add walk_forward=2" in report
    [photo] = await owner.fake.wait_for("sendPhoto", timeout=30)
    assert photo.params["chat_id"] == OWNER_ID

    # The slot is free again: the viewer's run goes ahead now.
    viewer.fake.push_message(VIEWER, "/optimize rsi BTCUSDT trials=3 seed=1 walk_forward=0")
    assert "3 trials" in await finished_report(viewer, "BTCUSDT")


async def test_a_file_that_is_not_bars_is_answered_with_its_line(
    start_world: Callable[..., Any],
) -> None:
    _world, owner = await optimize_world(start_world)
    bad = b"time,open,high,low,close\n2024-01-01,1,2,0.5,1.5\n2024-01-02,x,2,1,1\n"
    owner.fake.push_document(OWNER_ID, bad, "mine.csv", "/optimize rsi")
    text = await owner.wait_edit("⚠️ Optimising rsi on mine.csv failed")
    assert "line 3: open must be a number" in text
    owner.fake.push_document(OWNER_ID, b"", "empty.csv", "/optimize rsi period=5..9")
    assert "empty.csv" in await owner.wait_edit("⚠️ Optimising rsi on empty.csv failed")


BAD_ARGUMENTS = [
    ("/optimize", "usage: /optimize STRATEGY SYMBOL"),
    ("/optimize rsi", "usage: /optimize STRATEGY SYMBOL"),
    ("/optimize rsi period=5..9", "which symbol?"),
    ("/optimize astrology BTCUSDT", "unknown strategy 'astrology'"),
    ("/optimize signal BTCUSDT", "trades what alerts say"),
    ("/optimize rsi $$$", "symbol '$$$'"),
    ("/optimize rsi BTCUSDT trials=0", "trials: a whole number from 1 to 500 (got '0')"),
    ("/optimize rsi BTCUSDT trials=lots", "trials: a whole number from 1 to 500"),
    ("/optimize rsi BTCUSDT objective=luck", "objective: one of sharpe, sortino"),
    ("/optimize rsi BTCUSDT walk_forward=9", "walk_forward: a whole number from 0 to 5"),
    ("/optimize rsi BTCUSDT period=30..5", "period=30..5: LO must be below HI"),
    ("/optimize rsi BTCUSDT colour=1..5", "rsi has no parameter 'colour'"),
    ("/optimize rsi BTCUSDT period=1..9", "period must be at least 2"),
    ("/optimize rsi BTCUSDT period", "expected KEY=LO..HI or key=value, got 'period'"),
    ("/optimize rsi BTCUSDT size=lots", "size"),
]


async def test_bad_arguments_get_one_polite_line_naming_the_argument(
    start_world: Callable[..., Any],
) -> None:
    _world, owner = await optimize_world(start_world)
    for command, expected in BAD_ARGUMENTS:
        reply = html.unescape(await owner.say(command, "⚠️"))
        assert expected in reply, command
        assert "\n" not in reply.strip(), command
    assert owner.sent("Optimising") == []  # nothing started


async def test_an_owner_applies_the_best_parameters_to_a_bot_of_that_strategy(
    start_world: Callable[..., Any],
) -> None:
    world, owner = await optimize_world(start_world)
    before = {"period": 21, "oversold": 20, "overbought": 80}  # off the search's grid
    await world.add_bot("demo", strategy="rsi", strategy_params=before)
    await world.add_bot("crossy", strategy="ma_cross")
    owner.fake.push_message(OWNER_ID, f"/optimize rsi BTCUSDT {FEW_TRIALS} walk_forward=0")
    best = best_params(await finished_report(owner, "BTCUSDT"))

    await owner.press("Apply to bot")
    question = owner.sent("on which bot?")[-1]
    assert "period=" in question
    message_id, _ = owner.find_button("demo")
    shown = [
        b["text"]
        for b in owner.fake.message(OWNER_ID, message_id)["reply_markup"]["inline_keyboard"][0]
    ]
    assert shown == ["demo"]  # the ma_cross bot is not offered

    answer = await owner.press("demo")
    assert answer.get("text") == "Applied"
    result = owner.fake.message(OWNER_ID, message_id)
    assert result is not None and result["text"].startswith("✅ demo (rsi) parameters set")
    for key, value in best.items():  # says what changed: period 21 → 14 …
        assert f"{key} {before[key]} → {value:g}" in result["text"]

    stored = await sql_stores().bots.bot_by_name("demo")
    assert {key: float(value) for key, value in stored.strategy_params.items()} == best
    [row] = await AuditLog.filter(action="bot.edit", target="demo")
    assert (row.actor, row.outcome) == (f"tg:{OWNER_ID}", "ok")
    assert row.details["field"] == "strategy_params"


async def test_viewers_and_traders_cannot_apply_parameters(
    start_world: Callable[..., Any],
) -> None:
    world, owner = await optimize_world(start_world)
    bot = await world.add_bot("demo", strategy="rsi", strategy_params={"period": 14})
    trader = await granted(owner, TRADER, "trader")
    viewer = await granted(owner, VIEWER, "viewer")
    trader.fake.push_message(TRADER, f"/optimize rsi BTCUSDT {FEW_TRIALS} walk_forward=0")
    await finished_report(trader, "BTCUSDT")

    refused = await trader.press("Apply to bot")
    assert refused["text"] == "🔒 That needs the owner role; you are trader."
    message_id, data = trader.find_button("Apply to bot")
    run = OptimizeCb.unpack(data).run
    forged = OptimizeCb(action="to", run=run, bot=bot.id).pack()
    assert "owner role" in (await trader.press_data(forged, message_id))["text"]
    viewer_press = await viewer.press_data(forged, message_id)
    assert viewer_press["text"] == "🔒 That needs the owner role; you are viewer."

    stored = await sql_stores().bots.bot_by_name("demo")
    assert stored.strategy_params == bot.strategy_params
    assert await AuditLog.filter(action="bot.edit").count() == 0
    refusals = await AuditLog.filter(outcome="refused", action__startswith="button opt:")
    assert {r.actor for r in refusals} == {f"tg:{TRADER}", f"tg:{VIEWER}"}


async def test_stopping_the_server_ends_the_search_and_its_process(
    start_world: Callable[..., Any],
) -> None:
    world, owner = await optimize_world(start_world)
    owner.fake.push_message(OWNER_ID, "/optimize rsi BTCUSDT trials=500 walk_forward=5")
    await owner.wait_edit("starting 500 trials")
    await world.server.close()
    assert multiprocessing.active_children() == []


# ---------------------------------------------------------------- the service, in this process


async def in_this_process(
    data: Ohlcv, job: OptimizeJob, on_progress: Callable[[Progress], None]
) -> Any:
    """`execute` without a worker process: the same search, here."""
    return job.run(data)


async def test_a_result_can_be_applied_for_an_hour_and_only_to_its_strategy() -> None:
    bots, audit = MemoryBotStore(), MemoryAuditStore()
    settings = Settings(_env_file=None, public_url="https://bot.example.com/")  # type: ignore[call-arg]
    stores = memory_stores(bots=bots, audit=audit)
    control = assemble(settings, stores=stores, broker=PaperBroker(stores.ledger)).control
    rsi_bot = await control.create_bot(
        CLI, BotSpec(name="demo", symbols=["BTCUSDT"], strategy="rsi")
    )
    other = await control.create_bot(
        CLI, BotSpec(name="crossy", symbols=["BTCUSDT"], strategy="ma_cross")
    )
    now = [0.0]
    service = OptimizeService(in_this_process, control, clock=lambda: now[0])
    job = OptimizeJob("rsi", tuple(parse_space("rsi", ["period=5..20"])), 4, "return", 0, 1, seed=7)
    run = service.start("alice", "rsi", "BTCUSDT", lambda run: _noop())
    _result, run_id = await service.execute(run, read_csv(SAMPLE).slice(0, 500), job)

    with pytest.raises(InvalidRequest, match="crossy trades ma_cross, not rsi: nothing changed"):
        await service.apply(CLI, run_id, other.id)
    now[0] += 3599
    applied = await service.apply(CLI, run_id, rsi_bot.id)
    assert applied.bot.name == "demo"
    assert (await bots.bot_by_name("demo")).strategy_params == service.finished(run_id).params
    edits = [(r.action, r.target, r.outcome) for r in audit.rows if r.action == "bot.edit"]
    assert edits == [("bot.edit", "demo", "ok")]
    now[0] += 2
    with pytest.raises(NotFound, match="no longer kept"):
        await service.apply(CLI, run_id, rsi_bot.id)


async def _noop() -> None:
    return None


def test_progress_reads_trials_done_and_the_best_so_far() -> None:
    request = parse_args(["rsi", "BTCUSDT", "trials=50"], with_symbol=True)
    bars = Bars("BTCUSDT · 1h", read_csv(SAMPLE).slice(0, 500))
    job = request.job(len(bars.data))
    run = Run("abc", "alice", "rsi", "BTCUSDT", Progress(23, 50, 1.2))
    assert progress_text(run, job, bars) == (
        "⏳ Optimising rsi on BTCUSDT · 1h: 23/50 trials · best sharpe 1.20"
    )
    assert run.percent == 46


def test_every_strategy_a_backtest_can_replay_has_a_default_space_that_parses() -> None:
    assert set(DEFAULT_SPACES) == set(backtestable())
    for strategy, specs in DEFAULT_SPACES.items():
        assert [d.name for d in parse_space(strategy, specs)] == [s.split("=")[0] for s in specs]


def test_callback_data_fits_telegram_limit() -> None:
    packed = OptimizeCb(action="to", run="A" * 8, bot=2**31 - 1).pack()
    assert len(packed.encode()) <= 64
