"""`tradebot data download` against a local Binance stand-in (tests/fakes/exchange.py), through
the real ccxt client: paged, resumable without duplicates, safe to interrupt, and the file it
writes is what `tradebot backtest` reads. Every mistake is one line naming it, exit 2, and
leaves no file behind."""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from bot.cli_backtest import backtest
from bot.cli_data import data
from tests.fakes.exchange import FakeBinance
from tests.processes import free_port
from trading.backtest import read_csv
from trading.backtest.download import CandleRequest, DownloadError, download

START = datetime(2024, 1, 1, tzinfo=UTC)
HOUR_MS = 3_600_000
BARS = 2_000  # 2024-01-01 00:00 .. 2024-03-24 07:00, hourly


def candle(i: int) -> list[Any]:
    """Bar i: a slow wave with a drift, so that RSI(14) crosses 30 and 70 now and then."""
    opened = int((START + timedelta(hours=i)).timestamp() * 1000)
    close = round(40_000 + 1_500 * ((i % 96) / 48 - 1) ** 3 + 2 * i, 2)
    open_ = round(close - 12.5 if i % 3 else close + 7.25, 2)
    return [opened, open_, max(open_, close) + 20.5, min(open_, close) - 20.25, close, 3.5 + i % 7]


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[FakeBinance]:
    async with FakeBinance() as exchange:
        exchange.set_klines("BTCUSDT", [candle(i) for i in range(BARS)])
        monkeypatch.chdir(tmp_path)  # no .env from the repository
        monkeypatch.setenv("TRADEBOT_CCXT_API_URL", exchange.url)
        monkeypatch.delenv("TRADEBOT_CCXT_EXCHANGE", raising=False)
        yield exchange


async def tradebot_data(*args: str) -> Result:
    """The command in a worker thread (it runs its own event loop; the stand-in runs in ours)."""
    return await asyncio.to_thread(CliRunner().invoke, data, ["download", *args])


def base_args(out: Path, *extra: str) -> list[str]:
    return ["--exchange", "binance", "--symbol", "BTCUSDT", "--timeframe", "1h", "--out", str(out),
            *extra]  # fmt: skip


def rows_of(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def expected_rows(first: int, stop: int) -> list[list[str]]:
    def text(value: float) -> str:
        return f"{value:f}".rstrip("0").rstrip(".")

    return [
        [
            datetime.fromtimestamp(c[0] / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            *(text(v) for v in c[1:6]),
        ]
        for c in (candle(i) for i in range(first, stop))
    ]


def kline_starts(fake: FakeBinance) -> list[int]:
    return [int(query["startTime"]) for query in fake.kline_queries]


async def test_a_range_of_several_pages_is_written_whole_then_only_the_missing_bars_appended(
    fake: FakeBinance, tmp_path: Path
) -> None:
    out = tmp_path / "market" / "btcusdt_1h.csv"
    first = await tradebot_data(
        *base_args(out, "--since", "2024-01-01", "--until", "2024-02-01", "--limit", "300")
    )
    assert first.exit_code == 0, first.output
    assert "wrote 744 BTC/USDT 1h bars" in first.output
    rows = rows_of(out)
    assert rows[0] == ["time", "open", "high", "low", "close", "volume"]
    assert rows[1:] == expected_rows(0, 744)  # 31 days: in order, none twice, none missing
    assert len(fake.kline_queries) == 3  # 300 + 300 + 144

    fake.kline_queries.clear()
    again = await tradebot_data(
        *base_args(out, "--since", "2024-01-01", "--until", "2024-02-15", "--limit", "300")
    )
    assert again.exit_code == 0, again.output
    assert "added 336 BTC/USDT 1h bars after 2024-01-31 23:00" in again.output
    assert rows_of(out)[1:] == expected_rows(0, 744 + 336)
    february = int(datetime(2024, 2, 1, tzinfo=UTC).timestamp() * 1000)
    assert kline_starts(fake) == [february, february + 300 * HOUR_MS]  # only the missing range

    fake.kline_queries.clear()
    same = await tradebot_data(*base_args(out, "--since", "2024-01-01", "--until", "2024-02-15"))
    assert same.exit_code == 0, same.output
    assert "is up to date: 1,080" in same.output
    assert fake.kline_queries == []


async def test_the_downloaded_file_is_what_the_backtest_reads(
    fake: FakeBinance, tmp_path: Path
) -> None:
    out = tmp_path / "btc.csv"
    result = await tradebot_data(*base_args(out, "--since", "2024-01-01", "--until", "2024-03-01"))
    assert result.exit_code == 0, result.output
    run = CliRunner().invoke(backtest, ["--strategy", "rsi", "--csv", str(out), "--json"])
    assert run.exit_code == 0, run.output
    report = json.loads(run.output)["report"]
    assert (report["bars"], report["start"], report["end"]) == (
        60 * 24,
        "2024-01-01T00:00:00Z",
        "2024-02-29T23:00:00Z",
    )
    assert report["trades"] > 0
    bars = read_csv(out)
    assert bars.close.tolist() == [candle(i)[4] for i in range(60 * 24)]


async def test_an_interrupted_download_leaves_whole_bars_and_the_next_run_completes_it(
    fake: FakeBinance, tmp_path: Path
) -> None:
    out = tmp_path / "btc.csv"
    request = CandleRequest(
        exchange="binance",
        symbol="BTCUSDT",
        timeframe="1h",
        since=START,
        until=START + timedelta(hours=900),
        api_url=fake.url,
        limit=400,
    )

    def outage_after_first_page(done: int, total: int) -> None:
        if len(fake.kline_queries) == 1:
            fake.fail_next("/api/v3/klines", "http_502", times=3)  # every attempt

    with pytest.raises(DownloadError, match="stopped answering"):
        await download(request, out, outage_after_first_page, retry_delays=(0.01, 0.01))
    assert len(read_csv(out)) == 400  # the first page, whole
    with out.open("a", encoding="utf-8") as handle:  # and a line cut short by a crash
        handle.write("2024-01-17T16:00:00Z,4000")

    fake.kline_queries.clear()
    summary = await download(request, out, retry_delays=(0.01,))
    assert (summary.added, summary.total) == (500, 900)
    assert rows_of(out)[1:] == expected_rows(0, 900)
    assert kline_starts(fake)[0] == candle(400)[0]


async def test_a_bar_still_forming_is_not_written(fake: FakeBinance, tmp_path: Path) -> None:
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    first = hour - timedelta(hours=5)
    fake.set_klines(
        "BTCUSDT",
        [
            [int((first + timedelta(hours=i)).timestamp() * 1000), 1, 2, 0.5, 1.5, 1]
            for i in range(6)
        ],
    )  # the last one opened this hour
    out = tmp_path / "now.csv"
    result = await tradebot_data(*base_args(out, "--since", first.isoformat()))
    assert result.exit_code == 0, result.output
    assert len(rows_of(out)) - 1 == 5


def names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


async def test_every_mistake_is_one_line_naming_it_and_leaves_no_file(
    fake: FakeBinance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "notes.txt").write_text("my notes\n")
    out = tmp_path / "x.csv"
    since = ("--since", "2024-01-01", "--until", "2024-01-02")
    cases = [
        (["--exchange", "binanse", "--symbol", "BTCUSDT", "--out", str(out), *since],
         "'--exchange'", "ccxt has no exchange 'binanse'; did you mean binance?"),
        ([*base_args(out, *since)[:3], "NOPEUSDT", "--out", str(out), *since],
         "'--symbol'", "binance has no market 'NOPEUSDT'"),
        (base_args(out, "--since", "2024-01-01", "--timeframe", "7h"),
         "'--timeframe'", "binance offers 1s, 1m"),
        (base_args(out, "--since", "last tuesday"), "'--since'", "expected a date like 2024-01-01"),
        (base_args(out, "--since", "2024-02-01", "--until", "2024-01-01"),
         "'--until'", "is not after the start"),
        (base_args(out, "--since", "2999-01-01"), "'--since'", "is in the future"),
        (base_args(tmp_path / "notes.txt" / "x.csv", *since),
         "'--out'", "is not a writable folder"),
        (base_args(tmp_path / "notes.txt", *since), "'--out'", "is not a candle file"),
    ]  # fmt: skip
    for args, option, message in cases:
        result = await tradebot_data(*args)
        assert result.exit_code == 2, (args, result.output)
        errors = [line for line in result.output.splitlines() if line.startswith("Error")]
        assert len(errors) == 1 and option in errors[0] and message in errors[0], result.output
        assert "Traceback" not in result.output
    assert names(tmp_path) == ["notes.txt"]
    assert (tmp_path / "notes.txt").read_text() == "my notes\n"

    monkeypatch.setenv("TRADEBOT_CCXT_API_URL", f"http://127.0.0.1:{free_port()}")
    result = await tradebot_data(*base_args(out, *since))
    assert result.exit_code == 2, result.output
    assert result.output.splitlines()[-1].startswith("Error: binance at http://127.0.0.1:")
    assert "is unreachable" in result.output and len(result.output.splitlines()) == 1
    assert names(tmp_path) == ["notes.txt"]
