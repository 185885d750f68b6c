"""Paper trading on live prices (`TRADEBOT_PRICE_FEED=ccxt`): the public tickers of the
configured exchange, for every symbol with a bot or an open position, no API keys needed.

The feed is one more `TickerSource` of the position monitor (`trading.monitor`): the monitor
polls it every `TRADEBOT_MONITOR_INTERVAL` in its own loop (no second loop) and takes its prices
as the exchange's (stored in `instruments` with `EXCHANGE_SOURCE`), so the paper broker's stops
fire on them, an order without a price fills at the newest of them, and `/positions` values open
positions at them. What the monitor asks for (the symbols it watches) is quoted together with the
symbols of every bot and every open position (`WatchedSymbols`, read again every `refresh`
seconds), in one batched request where the exchange allows it.

The exchange is reached through the ccxt broker's code (`trading.brokers.ccxt_broker`: the
exchange built per `TRADEBOT_CCXT_EXCHANGE`, `_API_URL`, `_OPTIONS`, `_SANDBOX`; our symbols such
as BTCUSDT mapped to its markets): the broker itself when it is that exchange
(`TRADEBOT_BROKER=ccxt`), else a client of its own without keys. ccxt is imported only here,
when a feed is built.

When the exchange does not answer, prices age: the monitor's stale-price handling takes over
(no stop acts on a stale price, `/health` degraded, owners told once), and the feed's own check
(`health`) says since when it fails. It recovers by itself with the first poll that answers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Any, Protocol

from trading.brokers.ccxt_config import CcxtConfig
from trading.errors import BrokerUnavailable, InvalidRequest, TradingError

log = logging.getLogger(__name__)

FEED_TIMEOUT_MS = 5_000  # a poll that hangs longer fails (the monitor's loop waits for it)
MAX_LISTED = 20  # symbols named in a health detail


class Quotes(Protocol):
    """Last prices of many symbols at once (the ccxt broker's `fetch_tickers`)."""

    async def fetch_tickers(self, symbols: list[str]) -> dict[str, Decimal]: ...

    async def close(self) -> None: ...


# The symbols to quote besides those the monitor watches: every bot's and every open position's.
WatchedSymbols = Callable[[], Awaitable[Iterable[str]]]


class PriceFeed:
    """The exchange's tickers for the monitor (a `trading.monitor.TickerSource`), with a health
    check of its own. `own_client`: the feed opened the client, so it closes it."""

    quotes_unwatched = True  # the monitor polls it even with no stop to watch

    def __init__(
        self,
        quotes: Quotes,
        *,
        source: str,
        symbols: WatchedSymbols,
        refresh: float = 5.0,
        max_age: float = 300.0,
        own_client: bool = False,
    ) -> None:
        self.quotes = quotes
        self.source = source
        self.symbols = symbols
        self.refresh = refresh
        self.max_age = max_age
        self.own_client = own_client
        self._listed: frozenset[str] = frozenset()
        self._listed_at: float | None = None
        self._wanted: list[str] = []
        self._quoted: frozenset[str] = frozenset()
        self._unquoted: frozenset[str] = frozenset()
        self._answered_at: float | None = None  # monotonic time of the last poll that answered
        self._error = ""
        self._failing_since: float | None = None
        self._failures = 0
        self.polls = 0

    async def wanted(self, asked: Iterable[str]) -> list[str]:
        """What one poll quotes: the monitor's symbols and every bot's and position's."""
        now = time.monotonic()
        if self._listed_at is None or now - self._listed_at >= self.refresh:
            self._listed = frozenset(s for s in await self.symbols() if s)
            self._listed_at = now
        return sorted(self._listed.union(asked))

    async def fetch_tickers(self, symbols: list[str]) -> dict[str, Decimal]:
        """Last prices of `symbols` and of every watched symbol, by our symbols (those the
        exchange does not list are left out). The exchange's failure is raised (a
        TradingError) for the monitor to report, once per outage."""
        wanted = await self.wanted(symbols)
        self._wanted = wanted
        if not wanted:
            return {}
        self.polls += 1
        try:
            prices = await self.quotes.fetch_tickers(wanted)
        except TradingError as exc:
            if self._failing_since is None:
                self._failing_since = time.monotonic()
            self._failures += 1
            # The broker's words are about orders; a feed sends none.
            self._error = exc.user_message.removesuffix("; nothing was sent")
            raise BrokerUnavailable(self._error) from None
        self._error, self._failing_since, self._failures = "", None, 0
        self._answered_at = time.monotonic()
        self._quoted = frozenset(prices)
        unquoted = frozenset(wanted) - self._quoted
        if unquoted - self._unquoted:
            log.warning(
                "price feed %s has no price for %s (not listed by the exchange?)",
                self.source,
                ", ".join(sorted(unquoted - self._unquoted)),
            )
        self._unquoted = unquoted
        return prices

    async def close(self) -> None:
        if self.own_client:
            await self.quotes.close()

    def health(self) -> dict[str, Any]:
        """`/health`'s `prices` check: where prices come from, how many symbols, how old."""
        now = time.monotonic()
        age = None if self._answered_at is None else now - self._answered_at
        report: dict[str, Any] = {
            "status": "ok",
            "source": self.source,
            "symbols": len(self._quoted),
            "newest_age_s": None if age is None else round(age, 1),
        }
        problems = []
        if self._error:
            report["status"] = "degraded"
            since = now - (self._failing_since or now)
            problems.append(f"{self._error} (failing for {since:.0f} s, {self._failures} poll(s))")
        elif age is not None and age > self.max_age:
            report["status"] = "degraded"
            problems.append(f"no price for {age:.0f} s")
        if self._unquoted:
            report["unquoted"] = sorted(self._unquoted)[:MAX_LISTED]
            problems.append(f"no price for {', '.join(report['unquoted'])}")
        if problems:
            report["detail"] = "; ".join(problems)
        elif not self.polls and not self._wanted:
            report["detail"] = "nothing to quote yet (no bot, no open position)"
        elif self._answered_at is None:
            report["detail"] = "waiting for the first answer"
        else:
            report["detail"] = f"{len(self._quoted)} symbol(s) quoted every poll"
        return report


def feed_source(exchange: str) -> str:
    """How `/health` names a feed on `exchange`: `ccxt:binance`."""
    return f"ccxt:{exchange.strip().lower()}"


def require_exchange(config: CcxtConfig) -> None:
    """The one setting a feed cannot do without (checked without importing ccxt)."""
    if not config.exchange.strip():
        raise InvalidRequest("TRADEBOT_CCXT_EXCHANGE: required when TRADEBOT_PRICE_FEED=ccxt")


def exchange_feed(
    config: CcxtConfig,
    *,
    broker: Quotes | None,
    symbols: WatchedSymbols,
    refresh: float,
    max_age: float,
) -> PriceFeed:
    """The feed on `config`'s exchange: through `broker` when it is that exchange already
    (`TRADEBOT_BROKER=ccxt`: one client, one rate limit), else a client of its own without keys.
    A missing or unknown exchange raises InvalidRequest naming the variable."""
    require_exchange(config)
    own = broker is None
    if broker is None:
        from trading.brokers.ccxt_broker import CcxtBroker  # ccxt takes a second to import

        public = CcxtConfig(
            exchange=config.exchange,
            sandbox=config.sandbox,
            api_url=config.api_url,
            options=config.options,
            timeout_ms=min(config.timeout_ms, FEED_TIMEOUT_MS),
        )
        broker = CcxtBroker(public)
    return PriceFeed(
        broker,
        source=feed_source(config.exchange),
        symbols=symbols,
        refresh=refresh,
        max_age=max_age,
        own_client=own,
    )
