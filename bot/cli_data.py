"""`tradebot data download` (SPEC §2): an exchange's candles into the backtester's CSV file.

    tradebot data download --exchange binance --symbol BTCUSDT --timeframe 1h \\
        --since 2024-01-01 --out data/btcusdt_1h.csv
    tradebot backtest --strategy rsi --csv data/btcusdt_1h.csv

Public market data through ccxt (no API keys). Run the same command again, with a later --until
or none, and only the missing bars are fetched and appended. `TRADEBOT_CCXT_API_URL` sends the
requests to another address (a proxy, or a local stand-in) when `TRADEBOT_CCXT_EXCHANGE` is
unset or names the same exchange. Every mistake is one line naming it, exit code 2.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import NoReturn

import click

from bot.cli_common import CLICK_CONTEXT
from bot.config import ConfigError, load_settings
from trading.backtest.download import (
    PAGE_LIMIT,
    CandleRequest,
    DownloadError,
    DownloadSummary,
    download,
    parse_date,
)


@click.group("data", context_settings=CLICK_CONTEXT)
def data() -> None:
    """Market data for backtests."""


def _fail(message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


def _api_url(exchange: str) -> str:
    """TRADEBOT_CCXT_API_URL, when it is meant for this exchange."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        _fail(f"config error: {exc}")
    configured = settings.ccxt_exchange.strip().lower()
    if settings.ccxt_api_url and configured in ("", exchange.strip().lower()):
        return settings.ccxt_api_url
    return ""


def _when(summary: DownloadSummary) -> str:
    if summary.first is None or summary.last is None:
        return ""
    return f" ({summary.first:%Y-%m-%d %H:%M} → {summary.last:%Y-%m-%d %H:%M} UTC)"


def _run(request: CandleRequest, out: Path) -> DownloadSummary:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task(f"{request.symbol} {request.timeframe}", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return asyncio.run(download(request, out, progress))


@data.command("download")
@click.option(
    "--exchange",
    default=None,
    help="A ccxt exchange id: binance, kraken, bybit… (default: TRADEBOT_CCXT_EXCHANGE).",
)
@click.option("--symbol", required=True, help="The market: BTCUSDT or BTC/USDT.")
@click.option("--timeframe", default="1h", show_default=True, help="Bar length: 1m, 15m, 1h, 1d…")
@click.option("--since", required=True, help="First bar: 2024-01-01 or 2024-01-01T12:00:00Z (UTC).")
@click.option("--until", default=None, help="Up to (excluded); default: now.")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The CSV file (time,open,high,low,close,volume); an existing one is continued.",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 5000),
    default=PAGE_LIMIT,
    show_default=True,
    help="Bars asked per request.",
)
def download_command(
    exchange: str | None,
    symbol: str,
    timeframe: str,
    since: str,
    until: str | None,
    out: Path,
    limit: int,
) -> None:
    """Download closed candles into a CSV file for `tradebot backtest`, with a progress bar.

    Run it again with the same --out to add only the bars that are missing since the file's
    last one (interrupting it is safe: the file always ends with a whole bar).

    \b
    Examples:
      tradebot data download --exchange binance --symbol BTCUSDT --timeframe 1h \\
          --since 2024-01-01 --until 2024-07-01 --out data/btcusdt_1h.csv
      tradebot backtest --strategy rsi --csv data/btcusdt_1h.csv --plot out.png
    """
    try:
        if exchange is None:
            exchange = _configured_exchange()
        request = CandleRequest(
            exchange=exchange,
            symbol=symbol,
            timeframe=timeframe,
            since=parse_date(since, "since"),
            until=parse_date(until, "until") if until is not None else None,
            api_url=_api_url(exchange),
            limit=limit,
        )
        summary = _run(request, out)
    except DownloadError as exc:
        if exc.option is None:
            _fail(exc.user_message)
        raise click.BadParameter(exc.user_message, param_hint=f"'--{exc.option}'") from None
    except KeyboardInterrupt:
        click.echo(
            f"interrupted: {out} holds whole bars only; run the same command to continue",
            err=True,
        )
        sys.exit(130)
    _report(summary, request)


def _configured_exchange() -> str:
    try:
        configured = load_settings().ccxt_exchange.strip()
    except ConfigError as exc:
        _fail(f"config error: {exc}")
    if not configured:
        raise click.BadParameter(
            "required (or set TRADEBOT_CCXT_EXCHANGE)", param_hint="'--exchange'"
        )
    return configured


def _report(summary: DownloadSummary, request: CandleRequest) -> None:
    what = f"{summary.market} {request.timeframe}"
    if summary.total == 0:
        _fail(
            f"{request.exchange} has no closed {what} bars from {request.since:%Y-%m-%d %H:%M} "
            f"UTC on; nothing written (check --since)"
        )
    if summary.added == 0:
        click.echo(f"{summary.path} is up to date: {summary.total:,} {what} bars{_when(summary)}")
    elif summary.resumed_after is not None:
        click.echo(
            f"added {summary.added:,} {what} bars after {summary.resumed_after:%Y-%m-%d %H:%M} "
            f"to {summary.path}: {summary.total:,} bars{_when(summary)}"
        )
    else:
        click.echo(f"wrote {summary.total:,} {what} bars{_when(summary)} to {summary.path}")
    if summary.starts_after_since:
        click.echo(
            f"note: {summary.path} starts after --since; earlier bars are not prepended "
            "(use a new --out for them)"
        )
    click.echo(f"next: tradebot backtest --strategy rsi --csv {summary.path}")
