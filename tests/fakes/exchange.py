"""A fake Binance spot REST API for tests.

Why: the ccxt broker should be tested through the real ccxt client and its real HTTP session
(signing, error mapping, timeouts, response parsing), without touching binance.com. This aiohttp
app listens on 127.0.0.1 and answers the few endpoints a spot trader needs the way Binance does:

- public: ``/api/v3/ping``, ``/time``, ``/exchangeInfo``, ``/ticker/price``, ``/ticker/24hr``,
  ``/klines`` (candles from ``set_klines``; ``kline_queries`` keeps what was asked);
- signed (HMAC-SHA256 of the query string plus body with the secret, ``X-MBX-APIKEY`` header,
  ``timestamp`` within ``recvWindow``): ``POST/GET/DELETE /api/v3/order``, ``/openOrders``,
  ``/account``, ``/myTrades``.

Orders check the market's filters (LOT_SIZE, PRICE_FILTER, NOTIONAL) and the balances; market
orders fill at once at the current price with a ``FULL`` answer (fills, commission). Like Binance,
a ``newClientOrderId`` is refused as a duplicate only while an order with it is still open: a
filled order's id is accepted again and trades again, which is why a blind resend is dangerous.
Commission is taken from what the account receives (base on a buy, quote on a sell), as on
Binance without BNB discounts; ``fee_in_quote=True`` charges it in quote on both sides.

Faults: ``fail_next(path, kind, method=..., times=...)`` makes the next matching request(s) go
wrong; see ``FAULTS``; ``down = True`` answers every request with a 502 page until it is set
back (an outage). ``executed`` lists every order the matching engine accepted, so a test
can assert that exactly one exists.

Usage::

    async with FakeBinance(balances={"USDT": "10000"}) as fake:
        exchange = ccxt.binance({... urls rewritten to fake.url ...})
        fake.fail_next("/api/v3/order", "timeout_after_execute")
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl

from aiohttp import web

from trading.brokers.ccxt_broker import CcxtBroker
from trading.brokers.ccxt_config import CcxtConfig

API_KEY = "fake-binance-key-0123456789"
SECRET = "fake-binance-secret-9876543210"
RECV_WINDOW_MS = 500  # a lost order can no longer execute 0.5 s (+1 s clock margin) after its send
FAST_RETRIES = (0.05, 0.1, 0.1, 0.2)

#: What ``fail_next`` can do to a request. "*_after_execute" kinds let the request do its work
#: first (the fault is on the way back); the others fail it on the way in.
FAULTS = (
    "timeout_before_execute",  # hang until the client gives up; nothing happens
    "timeout_after_execute",  # do the work, then hang: the answer is lost
    "http_502",  # a proxy's 502 page, nothing happens
    "http_502_after_execute",  # the work is done, then a 502 page
    "binance_-1001",  # HTTP 500 {"code": -1001}: Binance's "internal error", nothing happens
    "binance_-1001_after_execute",  # the same answer, but the order went through
    "ddos_429",  # HTTP 429 {"code": -1003} with Retry-After, nothing happens
    "disconnect_after_execute",  # the work is done, then the connection is dropped
)

ZERO = Decimal(0)

#: Binance's kline intervals and their length in milliseconds.
KLINE_INTERVALS_MS = {
    name: count * unit
    for unit, names in (
        (60_000, ("1m", "3m", "5m", "15m", "30m")),
        (3_600_000, ("1h", "2h", "4h", "6h", "8h", "12h")),
        (86_400_000, ("1d", "3d")),
        (604_800_000, ("1w",)),
    )
    for name in names
    for count in (int(name[:-1]),)
}


@dataclass(frozen=True, slots=True)
class MarketSpec:
    symbol: str
    base: str
    quote: str
    step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    tick: Decimal
    min_price: Decimal
    max_price: Decimal
    min_notional: Decimal


DEFAULT_MARKETS = (
    MarketSpec(
        "BTCUSDT", "BTC", "USDT", Decimal("0.00001"), Decimal("0.0001"), Decimal("9000"),
        Decimal("0.01"), Decimal("0.01"), Decimal("1000000"), Decimal("5"),
    ),
    MarketSpec(
        "ETHUSDT", "ETH", "USDT", Decimal("0.0001"), Decimal("0.0001"), Decimal("100000"),
        Decimal("0.01"), Decimal("0.01"), Decimal("1000000"), Decimal("5"),
    ),
)  # fmt: skip


@dataclass
class FakeOrder:
    order_id: int
    client_order_id: str
    symbol: str
    side: str  # BUY | SELL
    type: str  # MARKET | LIMIT
    time_in_force: str | None
    qty: Decimal
    price: Decimal  # the limit price, 0 for a market order
    status: str  # NEW | FILLED | EXPIRED | CANCELED
    time_ms: int
    executed: Decimal = ZERO
    quote_qty: Decimal = ZERO
    fills: list[dict[str, str | int]] = field(default_factory=list)

    def as_binance(self, *, full: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "price": _s(self.price),
            "origQty": _s(self.qty),
            "executedQty": _s(self.executed),
            "cummulativeQuoteQty": _s(self.quote_qty),
            "status": self.status,
            "timeInForce": self.time_in_force or "GTC",
            "type": self.type,
            "side": self.side,
            "workingTime": self.time_ms,
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }
        if full:
            data["transactTime"] = self.time_ms
            data["fills"] = list(self.fills)
        else:
            data.update(
                stopPrice="0.00000000",
                icebergQty="0.00000000",
                time=self.time_ms,
                updateTime=self.time_ms,
                isWorking=self.status == "NEW",
                origQuoteOrderQty="0.00000000",
            )
        return data


def _s(value: Decimal) -> str:
    return f"{value:.8f}"


class BinanceError(Exception):
    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg


@dataclass
class _Fault:
    path: str
    kind: str
    method: str | None
    times: int


class FakeBinance:
    def __init__(
        self,
        *,
        balances: dict[str, str | Decimal] | None = None,
        prices: dict[str, str | Decimal] | None = None,
        markets: tuple[MarketSpec, ...] = DEFAULT_MARKETS,
        api_key: str = API_KEY,
        secret: str = SECRET,
        fee_rate: Decimal = Decimal("0.001"),
        fee_in_quote: bool = False,
        hang_seconds: float = 30.0,
    ) -> None:
        self.api_key = api_key
        self.secret = secret
        self.fee_rate = fee_rate
        self.fee_in_quote = fee_in_quote
        self.hang_seconds = hang_seconds
        self.markets = {m.symbol: m for m in markets}
        self.klines: dict[str, list[list[Any]]] = {}
        self.kline_queries: list[dict[str, str]] = []  # the query of every klines request
        self.prices = {
            k: Decimal(str(v))
            for k, v in (prices or {"BTCUSDT": "50000", "ETHUSDT": "3000"}).items()
        }
        self.free: dict[str, Decimal] = defaultdict(Decimal)
        self.locked: dict[str, Decimal] = defaultdict(Decimal)
        for asset, amount in (balances if balances is not None else {"USDT": "10000"}).items():
            self.free[asset] = Decimal(str(amount))
        self.orders: dict[int, FakeOrder] = {}
        self.executed: list[FakeOrder] = []  # every order the engine accepted, in order
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self.unknown: list[tuple[str, str]] = []  # requests for endpoints the fake does not serve
        self.bad_signatures = 0
        self.down = False  # an outage: every request answers a proxy's 502 page until cleared
        self._faults: list[_Fault] = []
        self._ids = itertools.count(1001)
        self._trade_ids = itertools.count(5001)
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._url = ""

    # ------------------------------------------------------------ control

    @property
    def url(self) -> str:
        if not self._url:
            raise RuntimeError("FakeBinance is not started")
        return self._url

    def fail_next(self, path: str, kind: str, *, method: str | None = None, times: int = 1) -> None:
        """Make the next `times` requests to `path` (and `method`, if given) fail as `kind`."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULTS)}")
        self._faults.append(_Fault(path, kind, method.upper() if method else None, times))

    def set_klines(self, symbol: str, rows: list[list[Any]]) -> None:
        """Candles to serve: [open_time_ms, open, high, low, close, volume] per bar."""
        self.klines[symbol] = rows

    def set_price(self, symbol: str, price: str | Decimal) -> None:
        self.prices[symbol] = Decimal(str(price))

    def balance(self, asset: str) -> Decimal:
        return self.free[asset] + self.locked[asset]

    def orders_with_client_id(self, client_order_id: str) -> list[FakeOrder]:
        return [o for o in self.executed if o.client_order_id == client_order_id]

    async def start(self) -> str:
        if self._runner is not None:
            return self._url
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        self._runner = runner
        self._closing.clear()
        self._url = f"http://{host}:{port}"
        return self._url

    async def stop(self) -> None:
        """Release hanging requests and shut the server down (idempotent)."""
        if self._runner is None:
            return
        self._closing.set()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------ dispatch

    def _take_fault(self, method: str, path: str) -> str | None:
        for fault in self._faults:
            if fault.path == path and fault.method in (None, method):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault.kind
        return None

    async def _hang(self) -> None:
        try:
            await asyncio.wait_for(self._closing.wait(), self.hang_seconds)
        except TimeoutError:
            pass

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method, path = request.method, request.path
        self.requests.append((method, path))
        if self.down:
            return web.Response(status=502, text="<html><h1>502 Bad Gateway</h1></html>",
                                content_type="text/html")  # fmt: skip
        routes = {
            ("GET", "/api/v3/ping"): self._ping,
            ("GET", "/api/v3/time"): self._time,
            ("GET", "/api/v3/exchangeInfo"): self._exchange_info,
            ("GET", "/api/v3/ticker/price"): self._ticker_price,
            ("GET", "/api/v3/ticker/24hr"): self._ticker_24hr,
            ("GET", "/api/v3/klines"): self._klines,
            ("POST", "/api/v3/order"): self._new_order,
            ("GET", "/api/v3/order"): self._query_order,
            ("DELETE", "/api/v3/order"): self._cancel_order,
            ("GET", "/api/v3/openOrders"): self._open_orders,
            ("GET", "/api/v3/account"): self._account,
            ("GET", "/api/v3/myTrades"): self._my_trades,
        }
        signed = path in (
            "/api/v3/order",
            "/api/v3/openOrders",
            "/api/v3/account",
            "/api/v3/myTrades",
        )
        handler = routes.get((method, path))
        if handler is None:
            self.unknown.append((method, path))
            return _error(404, -1, f"fake binance does not serve {method} {path}")
        body = await request.text()
        fault = self._take_fault(method, path)
        if fault == "timeout_before_execute":
            await self._hang()
            return _error(503, -1001, "Internal error; unable to process your request.")
        if fault == "http_502":
            return web.Response(status=502, text="<html><h1>502 Bad Gateway</h1></html>",
                                content_type="text/html")  # fmt: skip
        if fault == "binance_-1001":
            return _internal_error()
        if fault == "ddos_429":
            return web.json_response(
                {"code": -1003, "msg": "Too many requests; current limit is 1200 request weight."},
                status=429,
                headers={"Retry-After": "1"},
            )
        try:
            params = self._verify(request, body) if signed else dict(request.query)
            answer = handler(params)
            response: web.StreamResponse = web.json_response(answer)
        except BinanceError as exc:
            response = _error(exc.status, exc.code, exc.msg)
        if fault == "timeout_after_execute":
            await self._hang()
        elif fault == "http_502_after_execute":
            return web.Response(status=502, text="<html><h1>502 Bad Gateway</h1></html>",
                                content_type="text/html")  # fmt: skip
        elif fault == "binance_-1001_after_execute":
            return _internal_error()
        elif fault == "disconnect_after_execute":
            if request.transport is not None:
                request.transport.close()
            await self._hang()
        return response

    def _verify(self, request: web.Request, body: str) -> dict[str, str]:
        """Binance's SIGNED check: key header, HMAC-SHA256 of query + body, recvWindow."""
        key = request.headers.get("X-MBX-APIKEY")
        if not key:
            raise BinanceError(401, -2014, "API-key format invalid.")
        if not hmac.compare_digest(key, self.api_key):
            raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        query = request.query_string
        total = query + body if query and body else query or body
        payload, sep, signature = total.rpartition("&signature=")
        if not sep or "&" in signature:
            raise BinanceError(400, -1022, "Signature for this request is not valid.")
        expected = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            self.bad_signatures += 1
            raise BinanceError(400, -1022, "Signature for this request is not valid.")
        params = dict(parse_qsl(payload, keep_blank_values=True))
        try:
            timestamp = int(params["timestamp"])
            recv_window = int(params.get("recvWindow", "5000"))
        except (KeyError, ValueError):
            raise BinanceError(
                400, -1102, "Mandatory parameter 'timestamp' was not sent."
            ) from None
        if recv_window > 60000:
            raise BinanceError(400, -1131, "recvWindow must be less than 60000")
        now = _now_ms()
        if timestamp > now + 1000 or now - timestamp > recv_window:
            raise BinanceError(
                400, -1021, "Timestamp for this request is outside of the recvWindow."
            )
        return params

    # ------------------------------------------------------------ public endpoints

    def _ping(self, params: dict[str, str]) -> Any:
        return {}

    def _time(self, params: dict[str, str]) -> Any:
        return {"serverTime": _now_ms()}

    def _exchange_info(self, params: dict[str, str]) -> Any:
        return {
            "timezone": "UTC",
            "serverTime": _now_ms(),
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": [_symbol_info(m) for m in self.markets.values()],
        }

    def _market(self, params: dict[str, str]) -> MarketSpec:
        symbol = params.get("symbol", "")
        if symbol not in self.markets:
            raise BinanceError(400, -1121, "Invalid symbol.")
        return self.markets[symbol]

    def _klines(self, params: dict[str, str]) -> Any:
        """Binance's klines: bars opening in [startTime, endTime] (both optional), oldest
        first, at most `limit` (default 500, at most 1000); the close time follows `interval`.
        Every query is kept in `kline_queries`, so a test can see which ranges were asked."""
        self.kline_queries.append(dict(params))
        market = self._market(params)
        interval = params.get("interval", "1m")
        if interval not in KLINE_INTERVALS_MS:
            raise BinanceError(400, -1120, "Invalid interval.")
        start = int(params.get("startTime", 0))
        end = int(params.get("endTime", 2**62))
        limit = int(params.get("limit", 500))
        if not 1 <= limit <= 1000:
            raise BinanceError(400, -1130, "Data sent for parameter 'limit' is not valid.")
        rows = [r for r in self.klines.get(market.symbol, []) if start <= r[0] <= end]
        close_after = KLINE_INTERVALS_MS[interval] - 1
        return [
            [r[0], *(str(v) for v in r[1:6]), r[0] + close_after, "0", 0, "0", "0", "0"]
            for r in rows[:limit]
        ]

    def _ticker_price(self, params: dict[str, str]) -> Any:
        if "symbol" in params:
            market = self._market(params)
            return {"symbol": market.symbol, "price": _s(self.prices[market.symbol])}
        return [{"symbol": s, "price": _s(self.prices[s])} for s in self._symbols(params)]

    def _ticker_24hr(self, params: dict[str, str]) -> Any:
        def one(symbol: str) -> dict[str, Any]:
            price = _s(self.prices[symbol])
            now = _now_ms()
            return {
                "symbol": symbol, "priceChange": "0.00000000", "priceChangePercent": "0.000",
                "weightedAvgPrice": price, "prevClosePrice": price, "lastPrice": price,
                "lastQty": "0.00100000", "bidPrice": price, "bidQty": "1.00000000",
                "askPrice": price, "askQty": "1.00000000", "openPrice": price, "highPrice": price,
                "lowPrice": price, "volume": "100.00000000", "quoteVolume": "100.00000000",
                "openTime": now - 86_400_000, "closeTime": now, "firstId": 1, "lastId": 2,
                "count": 2,
            }  # fmt: skip

        if "symbol" in params:
            return one(self._market(params).symbol)
        return [one(symbol) for symbol in self._symbols(params)]

    def _symbols(self, params: dict[str, str]) -> list[str]:
        """`symbols=["BTCUSDT","ETHUSDT"]` (a JSON array), or every market."""
        if "symbols" not in params:
            return list(self.prices)
        try:
            wanted = json.loads(params["symbols"])
        except json.JSONDecodeError:
            raise BinanceError(
                400, -1100, "Illegal characters found in parameter 'symbols'."
            ) from None
        for symbol in wanted:
            if symbol not in self.markets:
                raise BinanceError(400, -1121, "Invalid symbol.")
        return list(wanted)

    # ------------------------------------------------------------ signed endpoints

    def _new_order(self, params: dict[str, str]) -> Any:
        market = self._market(params)
        side = params.get("side", "")
        kind = params.get("type", "")
        if side not in ("BUY", "SELL"):
            raise BinanceError(400, -1102, "Mandatory parameter 'side' was not sent.")
        if kind not in ("MARKET", "LIMIT"):
            raise BinanceError(400, -1116, "Invalid orderType.")
        try:
            qty = Decimal(params["quantity"])
        except (KeyError, ArithmeticError):
            raise BinanceError(400, -1102, "Mandatory parameter 'quantity' was not sent.") from None
        client_id = params.get("newClientOrderId") or f"fake-{next(self._ids)}"
        if any(o.client_order_id == client_id and o.status == "NEW" for o in self.orders.values()):
            raise BinanceError(400, -2010, "Duplicate order sent.")
        if qty < market.min_qty or qty > market.max_qty or qty % market.step != 0:
            raise BinanceError(400, -1013, "Filter failure: LOT_SIZE")
        last = self.prices[market.symbol]
        limit_price = ZERO
        tif = None
        if kind == "LIMIT":
            try:
                limit_price = Decimal(params["price"])
            except (KeyError, ArithmeticError):
                raise BinanceError(
                    400, -1102, "Mandatory parameter 'price' was not sent."
                ) from None
            tif = params.get("timeInForce")
            if tif not in ("GTC", "IOC", "FOK"):
                raise BinanceError(400, -1102, "Mandatory parameter 'timeInForce' was not sent.")
            if (
                limit_price < market.min_price
                or limit_price > market.max_price
                or limit_price % market.tick != 0
            ):
                raise BinanceError(400, -1013, "Filter failure: PRICE_FILTER")
        notional_price = limit_price if kind == "LIMIT" else last
        if qty * notional_price < market.min_notional:
            raise BinanceError(400, -1013, "Filter failure: NOTIONAL")
        marketable = kind == "MARKET" or (
            limit_price >= last if side == "BUY" else limit_price <= last
        )
        fill_price = last
        # Balance check: a buy locks quote at the worst price it may pay, a sell locks base.
        if side == "BUY":
            needed, asset = qty * (fill_price if marketable else limit_price), market.quote
        else:
            needed, asset = qty, market.base
        if self.free[asset] < needed:
            raise BinanceError(400, -2010, "Account has insufficient balance for requested action.")
        order = FakeOrder(
            order_id=next(self._ids),
            client_order_id=client_id,
            symbol=market.symbol,
            side=side,
            type=kind,
            time_in_force=tif,
            qty=qty,
            price=limit_price,
            status="NEW",
            time_ms=_now_ms(),
        )
        self.orders[order.order_id] = order
        self.executed.append(order)
        if marketable:
            self._fill(order, market, fill_price)
        elif tif in ("IOC", "FOK"):
            order.status = "EXPIRED"
        else:
            self.free[asset] -= needed
            self.locked[asset] += needed
        full = params.get("newOrderRespType", "FULL" if kind == "MARKET" else "ACK") == "FULL"
        if params.get("newOrderRespType") == "ACK":
            return {
                "symbol": order.symbol,
                "orderId": order.order_id,
                "orderListId": -1,
                "clientOrderId": order.client_order_id,
                "transactTime": order.time_ms,
            }
        return order.as_binance(full=full)

    def _fill(self, order: FakeOrder, market: MarketSpec, price: Decimal) -> None:
        qty = order.qty
        quote_qty = qty * price
        if order.side == "BUY":
            self.free[market.quote] -= quote_qty
            if self.fee_in_quote:
                commission, commission_asset = quote_qty * self.fee_rate, market.quote
                self.free[market.quote] -= commission
                self.free[market.base] += qty
            else:
                commission, commission_asset = qty * self.fee_rate, market.base
                self.free[market.base] += qty - commission
        else:
            self.free[market.base] -= qty
            commission, commission_asset = quote_qty * self.fee_rate, market.quote
            self.free[market.quote] += quote_qty - commission
        commission = commission.quantize(Decimal("1e-8"), rounding=ROUND_DOWN)
        order.executed = qty
        order.quote_qty = quote_qty
        order.status = "FILLED"
        order.fills = [
            {
                "price": _s(price),
                "qty": _s(qty),
                "commission": _s(commission),
                "commissionAsset": commission_asset,
                "tradeId": next(self._trade_ids),
            }
        ]

    def _find_order(self, params: dict[str, str]) -> FakeOrder:
        market = self._market(params)
        found: FakeOrder | None = None
        if "orderId" in params:
            found = self.orders.get(int(params["orderId"]))
        elif "origClientOrderId" in params:
            same = [
                o for o in self.orders.values() if o.client_order_id == params["origClientOrderId"]
            ]
            found = same[-1] if same else None
        else:
            raise BinanceError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent.")
        if found is None or found.symbol != market.symbol:
            raise BinanceError(400, -2013, "Order does not exist.")
        return found

    def _query_order(self, params: dict[str, str]) -> Any:
        return self._find_order(params).as_binance()

    def _cancel_order(self, params: dict[str, str]) -> Any:
        order = self._find_order(params)
        if order.status != "NEW":
            raise BinanceError(400, -2011, "Unknown order sent.")
        market = self.markets[order.symbol]
        if order.side == "BUY":
            amount, asset = order.qty * order.price, market.quote
        else:
            amount, asset = order.qty, market.base
        self.locked[asset] -= amount
        self.free[asset] += amount
        order.status = "CANCELED"
        return order.as_binance()

    def _open_orders(self, params: dict[str, str]) -> Any:
        return [
            o.as_binance()
            for o in self.orders.values()
            if o.status == "NEW" and params.get("symbol") in (None, o.symbol)
        ]

    def _account(self, params: dict[str, str]) -> Any:
        assets = sorted(set(self.free) | set(self.locked))
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": _now_ms(),
            "accountType": "SPOT",
            "balances": [
                {"asset": a, "free": _s(self.free[a]), "locked": _s(self.locked[a])} for a in assets
            ],
            "permissions": ["SPOT"],
            "uid": 354937868,
        }

    def _my_trades(self, params: dict[str, str]) -> Any:
        market = self._market(params)
        wanted = params.get("orderId")
        trades = []
        for order in self.executed:
            if order.symbol != market.symbol or (wanted and str(order.order_id) != wanted):
                continue
            for fill in order.fills:
                price, qty = Decimal(str(fill["price"])), Decimal(str(fill["qty"]))
                trades.append(
                    {
                        "symbol": order.symbol,
                        "id": fill["tradeId"],
                        "orderId": order.order_id,
                        "orderListId": -1,
                        "price": fill["price"],
                        "qty": fill["qty"],
                        "quoteQty": _s(price * qty),
                        "commission": fill["commission"],
                        "commissionAsset": fill["commissionAsset"],
                        "time": order.time_ms,
                        "isBuyer": order.side == "BUY",
                        "isMaker": False,
                        "isBestMatch": True,
                    }
                )
        return trades


def _symbol_info(m: MarketSpec) -> dict[str, Any]:
    return {
        "symbol": m.symbol,
        "status": "TRADING",
        "baseAsset": m.base,
        "baseAssetPrecision": 8,
        "quoteAsset": m.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": _s(m.min_price),
                "maxPrice": _s(m.max_price),
                "tickSize": _s(m.tick),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": _s(m.min_qty),
                "maxQty": _s(m.max_qty),
                "stepSize": _s(m.step),
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": _s(m.min_notional),
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def _now_ms() -> int:
    return int(time.time() * 1000)


def _error(status: int, code: int, msg: str) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


def _internal_error() -> web.Response:
    return _error(500, -1001, "Internal error; unable to process your request. Please try again.")


def ccxt_config(fake: FakeBinance, **overrides: Any) -> CcxtConfig:
    """The ccxt broker's settings pointed at `fake` (TRADEBOT_CCXT_API_URL), with a small
    recvWindow and timeout so that faults resolve in about a second."""
    values: dict[str, Any] = {
        "exchange": "binance",
        "api_key": API_KEY,
        "secret": SECRET,
        "api_url": fake.url,
        "options": {"recvWindow": RECV_WINDOW_MS},
        "timeout_ms": 1000,
    }
    values.update(overrides)
    return CcxtConfig(**values)


def ccxt_broker(fake: FakeBinance, **overrides: Any) -> CcxtBroker:
    return CcxtBroker(
        ccxt_config(fake, **overrides), retry_delays=FAST_RETRIES, lookup_delays=FAST_RETRIES
    )
