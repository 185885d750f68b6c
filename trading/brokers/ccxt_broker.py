"""The ccxt broker: any exchange ccxt knows, behind the same interface as the paper broker.

Idempotency. Every order carries the client order id the service wrote to the `orders` table
before calling us. When a send ends without a clear answer (timeout, dropped connection, 5xx,
Binance's -1001) the order may or may not exist, so we never resend blindly: Binance refuses a
reused client id only while that order is open, and a filled market order sent again trades
again. We look the order up by its client id first; found, its fill is the answer. A look-up
that finds nothing is trusted only once the first request can no longer be executed: Binance
refuses a signed request that reaches it later than `timestamp + recvWindow`, so we wait until
recvWindow (plus a second for clock skew) has passed since the send, then resend with the same id.
If look-ups keep failing, BrokerUnavailable: the order row stays pending and reconciliation
(`trading.brokers.reconcile`) resolves it later.

Fees. Binance charges the commission in what the account receives (the base on a buy), or in
BNB. A fill's fee is reported in the quote currency: a fee in base is valued at the fill price,
a fee in a third currency at its last price against the quote (kept in its own currency if
that fails). A position therefore books the gross quantity while the account holds that minus
the base fee, so a sell that reduces a position sells what the account holds when that is a
little less (within `fee_shortfall`); its fill reports the position's quantity, and the dust
below one lot step stays on the exchange.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import ccxt.async_support as ccxt_async
from ccxt.base import errors as ccxt_errors

from trading.brokers.base import Balance, BaseBroker, OrderFill, OrderRequest
from trading.brokers.ccxt_config import CcxtConfig
from trading.brokers.markets import Market, MarketIndex, check_limits
from trading.errors import BrokerRefusal, BrokerUnavailable, InvalidRequest
from trading.series import Bar, interval_seconds
from trading.views import plain

__all__ = ["CcxtBroker", "CcxtConfig", "build_exchange", "rewrite_api_urls"]

log = logging.getLogger(__name__)

#: Errors that mean the exchange looked at the order and said no: nothing traded.
REFUSALS: tuple[type[Exception], ...] = (
    ccxt_errors.InsufficientFunds,
    ccxt_errors.InvalidOrder,
    ccxt_errors.AuthenticationError,
    ccxt_errors.BadRequest,
    ccxt_errors.OperationRejected,
    ccxt_errors.NotSupported,
    ccxt_errors.ArgumentsRequired,
)

DEFAULT_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0)
# Look-ups after an unknown outcome persist longer (about 30 s): each one that answers spares
# the trader an "unknown, will be reconciled".
DEFAULT_LOOKUP_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)
CLOCK_MARGIN = 1.0  # seconds added to recvWindow before a missing order is trusted missing
MAX_REMEMBERED = 10_000  # markets of recent client order ids, for look-ups by id alone
OPEN_POLLS = 3  # look-ups of an order that is still open before giving up to reconciliation

_QUERY = re.compile(r"\?\S*")


def rewrite_api_urls(urls: Any, base_url: str) -> Any:
    """Every URL string in `urls` (nested dicts and lists too) with the scheme and host of
    `base_url`; the endpoint's path is kept, after any path `base_url` has (a proxy prefix)."""
    if isinstance(urls, str):
        if not urls.startswith(("http://", "https://")):
            return urls
        old, new = urlsplit(urls), urlsplit(base_url)
        path = new.path.rstrip("/") + old.path
        return urlunsplit((new.scheme, new.netloc, path, old.query, old.fragment))
    if isinstance(urls, dict):
        return {key: rewrite_api_urls(value, base_url) for key, value in urls.items()}
    if isinstance(urls, list):
        return [rewrite_api_urls(value, base_url) for value in urls]
    return urls


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def spot_options(defaults: dict[str, Any]) -> dict[str, Any]:
    """Options that keep ccxt on the spot API: no futures, margin or wallet calls at start-up
    (Binance's fetchCurrencies is a signed wallet call; its fetchMarkets also loads futures)."""
    options: dict[str, Any] = {"defaultType": "spot"}
    fetch_markets = defaults.get("fetchMarkets")
    if isinstance(fetch_markets, dict) and "types" in fetch_markets:
        options["fetchMarkets"] = {"types": ["spot"]}
    for key in ("fetchCurrencies", "fetchMargins"):
        if key in defaults:
            options[key] = False
    return options


class _RedactingLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """ccxt logs request headers at DEBUG (the API key travels in one): format, then redact."""

    def __init__(self, logger: logging.Logger, secrets: Sequence[str]) -> None:
        super().__init__(logger, {})
        self.secrets = [s for s in secrets if s]

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        for secret in self.secrets:
            text = text.replace(secret, "***")
        kwargs.pop("exc_info", None)
        self.logger.log(level, "%s", text)


def build_exchange(config: CcxtConfig) -> Any:
    """A ccxt async exchange per the configuration; InvalidRequest names the bad variable."""
    exchange_id = config.exchange.strip().lower()
    if not exchange_id:
        raise InvalidRequest("TRADEBOT_CCXT_EXCHANGE: required when TRADEBOT_BROKER=ccxt")
    if exchange_id not in ccxt_async.exchanges:
        raise InvalidRequest(f"TRADEBOT_CCXT_EXCHANGE: ccxt has no exchange {exchange_id!r}")
    cls = getattr(ccxt_async, exchange_id)
    defaults = cls().describe().get("options", {})  # plain dict; no session is opened
    options = _deep_merge(spot_options(defaults), config.options)
    exchange = cls(
        {
            "apiKey": config.api_key,
            "secret": config.secret,
            "password": config.password or None,
            "timeout": config.timeout_ms,
            "enableRateLimit": True,
            "options": options,
        }
    )
    exchange.logger = _RedactingLogger(
        logging.getLogger("ccxt.wire"), [config.api_key, config.secret, config.password]
    )
    if config.sandbox:
        try:
            exchange.set_sandbox_mode(True)
        except ccxt_errors.NotSupported:
            raise InvalidRequest(
                f"TRADEBOT_CCXT_SANDBOX: {exchange_id} has no sandbox in ccxt"
            ) from None
    if config.api_url:
        exchange.urls["api"] = rewrite_api_urls(exchange.urls["api"], config.api_url)
    return exchange


def _dec(value: Any, default: Decimal = Decimal(0)) -> Decimal:
    if value is None or value == "":
        return default
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return default


class _Outcome:
    """What a look-up established: the order (found) or its absence (settled)."""

    def __init__(self, order: dict[str, Any] | None) -> None:
        self.order = order


class CcxtBroker(BaseBroker):
    name = "ccxt"

    def __init__(
        self,
        config: CcxtConfig,
        *,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        lookup_delays: Sequence[float] = DEFAULT_LOOKUP_DELAYS,
        settle_seconds: float | None = None,
        fee_shortfall: Decimal = Decimal("0.01"),
    ) -> None:
        """`retry_delays`: pauses before each resend (their count bounds the sends).
        `lookup_delays`: pauses between failed look-ups (their count bounds them).
        `settle_seconds`: how long after a send a missing order is trusted missing (default:
        the exchange's recvWindow + 1 s, or 10 s). `fee_shortfall`: how much less than a
        reducing sell's quantity the account may hold and still sell all it holds."""
        self.config = config
        self.exchange = build_exchange(config)
        self.exchange_id = self.exchange.id
        self.retry_delays = tuple(retry_delays)
        self.lookup_delays = tuple(lookup_delays)
        if settle_seconds is None:
            window = self.exchange.options.get("recvWindow")
            settle_seconds = (int(window) / 1000 + CLOCK_MARGIN) if window else 10.0
        self.settle_seconds = settle_seconds
        self.fee_shortfall = fee_shortfall
        self._index: MarketIndex | None = None
        self._markets_lock = asyncio.Lock()
        self._symbols: dict[str, str] = {}  # client order id -> ccxt symbol, for look-ups

    # ------------------------------------------------------------ life cycle

    async def start(self) -> None:
        try:
            await self._markets()
        except BrokerRefusal as exc:
            # Start anyway: the web server, Telegram and the read API are still useful, and the
            # markets load on the first order. /health shows the broker down meanwhile.
            log.warning("ccxt markets not loaded exchange=%s: %s", self.exchange_id, exc)

    async def close(self) -> None:
        await self.exchange.close()

    async def health(self) -> tuple[bool, str]:
        try:
            await self.exchange.fetch_time()
        except Exception as exc:
            return False, f"{self.exchange_id}: {type(exc).__name__}"
        loaded = "markets loaded" if self._index is not None else "markets not loaded"
        return True, f"{self.exchange_id} ({loaded})"

    async def _markets(self) -> MarketIndex:
        if self._index is not None:
            return self._index
        async with self._markets_lock:
            if self._index is None:
                try:
                    markets = await self.exchange.load_markets()
                except Exception as exc:
                    raise BrokerRefusal(
                        f"{self.exchange_id} markets could not be loaded "
                        f"({self._describe(exc)}); nothing was sent"
                    ) from None
                market_type = str(self.exchange.options.get("defaultType") or "spot")
                self._index = MarketIndex(markets, market_type=market_type)
                log.info(
                    "ccxt markets loaded exchange=%s markets=%d", self.exchange_id, len(self._index)
                )
        return self._index

    async def market(self, ticker: str) -> Market:
        """The ccxt market a TradingView ticker (BTCUSDT, BINANCE:BTCUSDT) names."""
        return (await self._markets()).resolve(ticker)

    async def lot_step(self, symbol: str) -> Decimal | None:
        """The market's amount step: its precision as a tick size, or as decimal places."""
        market = await self.market(symbol)
        precision = market.get("precision", {}).get("amount")
        if precision is None:
            return None
        value = _dec(precision)
        if getattr(self.exchange, "precisionMode", None) == ccxt_tick_size():
            return value if value > 0 else None
        return Decimal(1).scaleb(-int(value))

    # ------------------------------------------------------------ orders

    def prepare(self, market: Market, request: OrderRequest) -> tuple[Decimal, Decimal | None]:
        """(amount, limit price) rounded to the market's precision and checked against its
        limits; BrokerRefusal names the limit an order breaks."""
        symbol = market["symbol"]
        try:
            amount = _dec(self.exchange.amount_to_precision(symbol, str(request.qty)))
        except ccxt_errors.InvalidOrder:
            step = _dec(market.get("precision", {}).get("amount"))
            raise BrokerRefusal(
                f"qty {plain(request.qty)} {market.get('base', '')} rounds to zero at the "
                f"lot step {plain(step)} of {symbol}"
            ) from None
        price: Decimal | None = None
        if request.order_type == "limit":
            price = _dec(self.exchange.price_to_precision(symbol, str(request.price)))
        check_limits(market, amount, price or request.price, order_type=request.order_type)
        return amount, price

    async def place_order(self, request: OrderRequest) -> OrderFill:
        market = await self.market(request.symbol)
        symbol = market["symbol"]
        rounded, price = self.prepare(market, request)
        amount = rounded
        if request.side == "sell" and request.open_qty <= 0:
            amount = await self._sellable(market, rounded)
        self._remember(request.client_order_id, symbol)
        params: dict[str, Any] = {"clientOrderId": request.client_order_id}
        if request.order_type == "limit":
            params["timeInForce"] = "IOC"  # a fill or nothing now: the service books fills only
        last_error: Exception | None = None
        for attempt in range(len(self.retry_delays) + 1):
            if attempt:
                await asyncio.sleep(self.retry_delays[attempt - 1])
            sent_at = time.monotonic()
            try:
                order = await self.exchange.create_order(
                    symbol,
                    request.order_type,
                    request.side,
                    str(amount),
                    None if price is None else str(price),
                    dict(params),
                )
            except Exception as exc:
                if isinstance(exc, REFUSALS) and not self._duplicate(exc):
                    raise BrokerRefusal(self._refusal(exc, request, market)) from None
                last_error = exc
                self._log_failure("send", request, attempt, exc)
                if self._not_connected(exc):
                    continue
                # Anything else may have traded: a timeout, a dropped connection, a 5xx or even
                # a 429 can be what came back after the exchange executed the order.
                outcome = await self._look_up_after(symbol, request.client_order_id, sent_at)
                if outcome.order is None:
                    continue
                order = outcome.order
            return await self._fill(order, market, request, sent=amount, rounded=rounded)
        raise BrokerRefusal(
            f"{self.exchange_id} did not take the order after {len(self.retry_delays) + 1} "
            f"attempts ({self._describe(last_error)}); nothing was traded"
        )

    async def _sellable(self, market: Market, amount: Decimal) -> Decimal:
        """A reducing sell of what the account holds when fees paid in base left it a little
        short of the position's quantity."""
        try:
            balance = await self.exchange.fetch_balance()
        except Exception as exc:
            log.info("balance check skipped exchange=%s: %s", self.exchange_id, exc)
            return amount
        free = _dec((balance.get("free") or {}).get(market["base"]))
        if free >= amount or free < amount * (1 - self.fee_shortfall):
            return amount
        try:
            held = _dec(self.exchange.amount_to_precision(market["symbol"], str(free)))
        except ccxt_errors.InvalidOrder:
            return amount
        log.info(
            "selling what the account holds exchange=%s symbol=%s qty=%s held=%s",
            self.exchange_id,
            market["symbol"],
            amount,
            held,
        )
        return held

    async def _look_up_after(self, symbol: str, client_order_id: str, sent_at: float) -> _Outcome:
        """The order sent at `sent_at`, by its client id; absent only once it can no longer
        appear. Raises BrokerUnavailable when the exchange keeps failing to answer."""
        failures = 0
        while True:
            try:
                return _Outcome(await self._fetch_raw(symbol, client_order_id))
            except ccxt_errors.OrderNotFound:
                remaining = self.settle_seconds - (time.monotonic() - sent_at)
                if remaining <= 0:
                    return _Outcome(None)
                await asyncio.sleep(remaining)
            except Exception as exc:
                failures += 1
                self._log_failure("look-up", None, failures, exc, client_order_id)
                if failures > len(self.lookup_delays):
                    raise BrokerUnavailable(
                        f"{self.exchange_id} did not answer whether order {client_order_id} "
                        f"exists ({self._describe(exc)})"
                    ) from None
                await asyncio.sleep(self.lookup_delays[failures - 1])

    def _remember(self, client_order_id: str, symbol: str) -> None:
        self._symbols[client_order_id] = symbol
        if len(self._symbols) > MAX_REMEMBERED:
            del self._symbols[next(iter(self._symbols))]

    async def _fetch_raw(self, symbol: str, client_order_id: str) -> dict[str, Any]:
        return await self.exchange.fetch_order(None, symbol, {"clientOrderId": client_order_id})

    async def _fill(
        self,
        order: dict[str, Any],
        market: Market,
        request: OrderRequest,
        *,
        sent: Decimal,
        rounded: Decimal,
    ) -> OrderFill:
        """The fill of a sent order, once it is no longer open. `sent` is the amount sent,
        `rounded` the request's quantity at the market's precision (more, when a reducing sell
        sold what the account held)."""
        for poll in range(OPEN_POLLS + 1):
            if order.get("status") not in ("open", None):
                break
            if poll == OPEN_POLLS:
                raise BrokerUnavailable(
                    f"order {request.client_order_id} is still open on {self.exchange_id}; "
                    "it will be reconciled"
                )
            await asyncio.sleep(self.retry_delays[min(poll, len(self.retry_delays) - 1)])
            try:
                order = await self._fetch_raw(market["symbol"], request.client_order_id)
            except Exception as exc:
                self._log_failure("poll", request, poll, exc)
        fill = await self._fill_of(order, market, request.client_order_id)
        if fill is None:
            status = order.get("status") or "closed"
            raise BrokerRefusal(
                f"{self.exchange_id} {status} the order without a fill"
                + (
                    f" (limit {plain(request.price)} not reached)"
                    if request.order_type == "limit"
                    else ""
                )
            )
        if sent < rounded and fill.qty >= sent:
            # The account held less than the position (fees paid in base at entry): the whole
            # position is closed in the books, the fee was booked then.
            fill = OrderFill(
                client_order_id=fill.client_order_id,
                broker_order_id=fill.broker_order_id,
                qty=rounded,
                price=fill.price,
                fee=fill.fee,
                fee_currency=fill.fee_currency,
                time=fill.time,
            )
        log.info(
            "ccxt order filled exchange=%s symbol=%s client_order_id=%s order_id=%s qty=%s "
            "price=%s fee=%s %s",
            self.exchange_id,
            market["symbol"],
            fill.client_order_id,
            fill.broker_order_id,
            fill.qty,
            fill.price,
            fill.fee,
            fill.fee_currency,
        )
        return fill

    async def _fill_of(
        self, order: dict[str, Any], market: Market, client_order_id: str
    ) -> OrderFill | None:
        """The fill of a finished order, None when nothing of it filled."""
        filled = _dec(order.get("filled"))
        if filled <= 0:
            return None
        average = _dec(order.get("average"))
        if average <= 0:
            cost = _dec(order.get("cost"))
            average = cost / filled if cost > 0 else _dec(order.get("price"))
        fees = list(order.get("fees") or ([order["fee"]] if order.get("fee") else []))
        if not fees and order.get("id") is not None:
            fees = await self._fees_from_trades(order, market)
        fee, fee_currency = await self._fee_in_quote(fees, market, average)
        stamp = order.get("lastTradeTimestamp") or order.get("timestamp")
        when = datetime.fromtimestamp(stamp / 1000, UTC) if stamp else datetime.now(UTC)
        return OrderFill(
            client_order_id=client_order_id,
            broker_order_id=str(order.get("id") or ""),
            qty=filled,
            price=average,
            fee=fee,
            fee_currency=fee_currency,
            time=when,
        )

    async def _fees_from_trades(
        self, order: dict[str, Any], market: Market
    ) -> list[dict[str, Any]]:
        """An order looked up (not the send's answer) carries no fills: its trades have them."""
        if not self.exchange.has.get("fetchOrderTrades"):
            return []
        try:
            trades = await self.exchange.fetch_order_trades(order["id"], market["symbol"])
        except Exception as exc:
            log.warning(
                "fees unknown exchange=%s order_id=%s: %s", self.exchange_id, order["id"], exc
            )
            return []
        fees: list[dict[str, Any]] = []
        for trade in trades:
            fees.extend(trade.get("fees") or ([trade["fee"]] if trade.get("fee") else []))
        return fees

    async def _fee_in_quote(
        self, fees: list[dict[str, Any]], market: Market, price: Decimal
    ) -> tuple[Decimal, str]:
        quote, base = market["quote"], market["base"]
        total = Decimal(0)
        other: dict[str, Decimal] = {}
        for item in fees:
            cost = _dec(item.get("cost"))
            currency = item.get("currency") or quote
            if cost == 0:
                continue
            if currency == quote:
                total += cost
            elif currency == base:
                total += cost * price
            else:
                other[currency] = other.get(currency, Decimal(0)) + cost
        for currency, cost in other.items():
            rate = await self._last_price(f"{currency}/{quote}")
            if rate is None:
                if total == 0 and len(other) == 1:
                    return cost, currency
                log.warning(
                    "fee not valued exchange=%s currency=%s cost=%s",
                    self.exchange_id,
                    currency,
                    cost,
                )
                continue
            total += cost * rate
        return total.quantize(Decimal("1e-12")), quote

    async def _last_price(self, symbol: str) -> Decimal | None:
        if symbol not in (self.exchange.markets or {}):
            return None
        try:
            ticker = await self.exchange.fetch_ticker(symbol)
        except Exception:
            return None
        price = _dec(ticker.get("last"))
        return price if price > 0 else None

    async def fetch_order(
        self, client_order_id: str, symbol: str | None = None
    ) -> OrderFill | None:
        """The fill of an order by client id (None: the exchange has none, or it traded
        nothing). The exchange needs the market: `symbol` is a ticker or a ccxt symbol; without
        it, the market this process sent the order to. BrokerUnavailable while unknown."""
        if symbol is None:
            symbol = self._symbols.get(client_order_id)
            if symbol is None:
                raise BrokerUnavailable(f"the market of order {client_order_id} is not known")
        else:
            # Reconciliation names the market of every pending order at start-up: later
            # look-ups by client id alone (a closing claim taken over) then find it too.
            self._remember(client_order_id, symbol)
        try:
            market = await self.market(symbol)
        except BrokerRefusal as exc:
            raise BrokerUnavailable(exc.user_message) from None
        try:
            order = await self._fetch_raw(market["symbol"], client_order_id)
        except ccxt_errors.OrderNotFound:
            return None
        except Exception as exc:
            raise BrokerUnavailable(
                f"{self.exchange_id} look-up of {client_order_id} failed ({self._describe(exc)})"
            ) from None
        if order.get("status") in ("open", None):
            raise BrokerUnavailable(f"order {client_order_id} is still open on {self.exchange_id}")
        return await self._fill_of(order, market, client_order_id)

    async def fetch_order_in(self, symbol: str, client_order_id: str) -> OrderFill | None:
        """`fetch_order` for reconciliation, which knows each order's market from its row."""
        return await self.fetch_order(client_order_id, symbol)

    async def fetch_tickers(self, symbols: list[str]) -> dict[str, Decimal]:
        """Last prices by our symbols, in one request where the exchange allows (the position
        monitor's `TickerSource`). Symbols the exchange does not list are left out."""
        index = await self._markets()
        wanted: dict[str, str] = {}
        for symbol in symbols:
            try:
                wanted[index.resolve(symbol)["symbol"]] = symbol
            except BrokerRefusal:
                continue
        if not wanted:
            return {}
        try:
            if self.exchange.has.get("fetchTickers"):
                tickers = await self.exchange.fetch_tickers(list(wanted))
            else:
                tickers = {s: await self.exchange.fetch_ticker(s) for s in wanted}
        except Exception as exc:
            raise BrokerUnavailable(
                f"{self.exchange_id} tickers unavailable ({self._describe(exc)})"
            ) from None
        prices = {}
        for ccxt_symbol, ours in wanted.items():
            price = _dec((tickers.get(ccxt_symbol) or {}).get("last"))
            if price > 0:
                prices[ours] = price
        return prices

    async def fetch_candles(
        self, symbol: str, interval: str, since: datetime | None, limit: int
    ) -> list[Bar]:
        """Closed OHLCV bars for a price series (the strategy runner's `CandleSource`):
        TradingView's interval name mapped to the exchange's timeframe; the forming bar is
        left out. An interval the exchange does not offer gives no bars."""
        seconds = interval_seconds(interval)
        timeframe = _timeframe(seconds, self.exchange.timeframes or {})
        if timeframe is None:
            return []
        market = (await self._markets()).resolve(symbol)
        since_ms = int(since.timestamp() * 1000) if since else None
        rows = await self.exchange.fetch_ohlcv(market["symbol"], timeframe, since_ms, limit)
        now_ms = datetime.now(UTC).timestamp() * 1000
        bars = []
        for opened, open_, high, low, close, volume in rows:
            if seconds and opened + seconds * 1000 > now_ms:
                continue  # still forming
            bars.append(
                Bar(
                    open_time=datetime.fromtimestamp(opened / 1000, UTC),
                    open=_dec(open_),
                    high=_dec(high),
                    low=_dec(low),
                    close=_dec(close),
                    volume=_dec(volume),
                )
            )
        return bars

    async def balances(self) -> list[Balance]:
        try:
            raw = await self.exchange.fetch_balance()
        except Exception as exc:
            raise BrokerUnavailable(
                f"{self.exchange_id} balances unavailable ({self._describe(exc)})"
            ) from None
        totals = raw.get("total") or {}
        free = raw.get("free") or {}
        result = []
        for currency in sorted(totals):
            total = _dec(totals[currency])
            if total == 0:
                continue
            result.append(Balance(currency, total, _dec(free.get(currency))))
        return result

    # ------------------------------------------------------------ errors

    @staticmethod
    def _duplicate(exc: Exception) -> bool:
        """The exchange already has an open order with this client id: look it up."""
        if isinstance(exc, ccxt_errors.DuplicateOrderId):
            return True
        text = str(exc).lower()
        return "duplicate order" in text or "duplicate clientorderid" in text

    @staticmethod
    def _not_connected(exc: Exception) -> bool:
        """The connection was never made, so the request never left. ccxt wraps aiohttp's
        ClientConnectorError; it is recognised by name so that trading/ imports no aiohttp."""
        cause = exc.__cause__
        return cause is not None and any(
            kind.__name__ == "ClientConnectorError" for kind in type(cause).__mro__
        )

    def _message(self, exc: Exception) -> str:
        """The exchange's own words, without the exchange id, URLs' query strings or secrets."""
        text = str(exc)
        start = text.find("{")
        if start >= 0:
            try:
                body = json.loads(text[start:])
                if isinstance(body, dict) and body.get("msg"):
                    text = str(body["msg"])
            except json.JSONDecodeError:
                pass
        text = text.removeprefix(f"{self.exchange_id} ").strip()
        text = _QUERY.sub("", text)
        for secret in (self.config.api_key, self.config.secret, self.config.password):
            if secret:
                text = text.replace(secret, "***")
        return text[:300]

    def _describe(self, exc: Exception | None) -> str:
        if exc is None:
            return "no answer"
        message = self._message(exc)
        return f"{type(exc).__name__}: {message}" if message else type(exc).__name__

    def _refusal(self, exc: Exception, request: OrderRequest, market: Market) -> str:
        where = self.exchange_id
        text = self._message(exc)
        if isinstance(exc, ccxt_errors.InsufficientFunds):
            asset = market["quote"] if request.side == "buy" else market["base"]
            return f"insufficient {asset} balance on {where}: {text}"
        if isinstance(exc, ccxt_errors.AuthenticationError):
            return (
                f"{where} refused the API key ({text}); check TRADEBOT_CCXT_API_KEY and "
                "TRADEBOT_CCXT_SECRET"
            )
        for flt, meaning in (
            ("LOT_SIZE", "order size outside the market's lot size"),
            ("MARKET_LOT_SIZE", "order size outside the market's lot size"),
            ("NOTIONAL", "order value below the market's minimum notional"),
            ("PRICE_FILTER", "price outside the market's price filter"),
            ("PERCENT_PRICE", "price too far from the market price"),
        ):
            if flt in str(exc):
                return f"{where} refused the order: {meaning} ({flt} filter)"
        return f"{where} refused the order: {text}"

    def _log_failure(
        self,
        what: str,
        request: OrderRequest | None,
        attempt: int,
        exc: Exception,
        client_order_id: str | None = None,
    ) -> None:
        log.warning(
            "ccxt %s failed exchange=%s symbol=%s client_order_id=%s attempt=%d: %s",
            what,
            self.exchange_id,
            request.symbol if request else "-",
            request.client_order_id if request else client_order_id,
            attempt + 1,
            self._describe(exc),
        )


def _timeframe(seconds: int | None, offered: dict[str, Any]) -> str | None:
    """ccxt's timeframe name (`1m`, `1h`, `1d`...) for an interval length, if offered."""
    if not seconds:
        return None
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds % size == 0:
            name = f"{seconds // size}{unit}"
            return name if name in offered else None
    return None


def ccxt_tick_size() -> int:
    from ccxt.base.decimal_to_precision import TICK_SIZE

    return int(TICK_SIZE)
