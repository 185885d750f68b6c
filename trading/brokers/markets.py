"""TradingView tickers to ccxt markets, and the market's limits checked before an order leaves.

TradingView names a market by the exchange's own id (`BTCUSDT`, `BINANCE:BTCUSDT`); ccxt keys its
markets by a unified symbol (`BTC/USDT`) and keeps the exchange id in `market["id"]`. The index
matches on the id first (separators ignored, so OKX's `BTC-USDT` answers `BTCUSDT` too), then on
base + quote, and prefers the market type the broker trades (spot by default) when an id is shared
(Binance uses `BTCUSDT` for the spot market and the USDⓈ-M perpetual alike).
"""

from __future__ import annotations

import re
from collections import defaultdict
from decimal import Decimal
from typing import Any

from trading.errors import BrokerRefusal
from trading.symbols import normalize_symbol
from trading.views import plain

Market = dict[str, Any]

_SEPARATORS = re.compile(r"[/:\-_.\s]")


def market_key(text: str) -> str:
    return _SEPARATORS.sub("", text.upper())


class MarketIndex:
    def __init__(self, markets: dict[str, Market], *, market_type: str = "spot") -> None:
        self.market_type = market_type
        self._by_id: dict[str, list[Market]] = defaultdict(list)
        self._by_pair: dict[str, list[Market]] = defaultdict(list)
        for market in markets.values():
            if market.get("active") is False:
                continue
            self._by_id[market_key(str(market.get("id", "")))].append(market)
            pair = market_key(f"{market.get('base', '')}{market.get('quote', '')}")
            self._by_pair[pair].append(market)

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_id.values())

    def resolve(self, ticker: str) -> Market:
        """The market a TradingView ticker names; BrokerRefusal when the exchange has none."""
        try:
            key = market_key(normalize_symbol(ticker))
        except ValueError:
            key = market_key(ticker)
        for table in (self._by_id, self._by_pair):
            candidates = table.get(key)
            if candidates:
                return self._preferred(candidates)
        raise BrokerRefusal(f"the exchange has no {self.market_type} market {ticker}")

    def _preferred(self, candidates: list[Market]) -> Market:
        for market in candidates:
            if market.get("type") == self.market_type:
                return market
        for market in candidates:
            if market.get("spot"):
                return market
        return candidates[0]


def _dec(value: Any) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value))


def check_limits(
    market: Market, amount: Decimal, price: Decimal | None, *, order_type: str
) -> None:
    """Refuse, naming the limit, an order the exchange would refuse for its size or price.

    `amount` is already rounded to the market's precision; `price` is the limit price, or the
    reference price of a market order (the notional check uses it).
    """
    symbol = market.get("symbol", "?")
    base = market.get("base", "")
    quote = market.get("quote", "")
    limits = market.get("limits") or {}
    ranges = [("amount", limits.get("amount") or {})]
    if order_type == "market" and limits.get("market"):
        ranges.append(("market order amount", limits["market"]))
    for label, bounds in ranges:
        low, high = _dec(bounds.get("min")), _dec(bounds.get("max"))
        if low is not None and amount < low:
            raise BrokerRefusal(
                f"qty {plain(amount)} {base} is below the minimum {label} "
                f"{plain(low)} {base} of {symbol}"
            )
        if high is not None and high > 0 and amount > high:
            raise BrokerRefusal(
                f"qty {plain(amount)} {base} is above the maximum {label} "
                f"{plain(high)} {base} of {symbol}"
            )
    if price is None:
        return
    if order_type == "limit":
        bounds = limits.get("price") or {}
        low, high = _dec(bounds.get("min")), _dec(bounds.get("max"))
        if low is not None and low > 0 and price < low:
            raise BrokerRefusal(
                f"price {plain(price)} is below the minimum price {plain(low)} of {symbol}"
            )
        if high is not None and high > 0 and price > high:
            raise BrokerRefusal(
                f"price {plain(price)} is above the maximum price {plain(high)} of {symbol}"
            )
    cost = amount * price
    bounds = limits.get("cost") or {}
    low, high = _dec(bounds.get("min")), _dec(bounds.get("max"))
    if low is not None and cost < low:
        raise BrokerRefusal(
            f"order value {plain(cost.quantize(Decimal('0.01')))} {quote} is below the "
            f"minimum notional {plain(low)} {quote} of {symbol}"
        )
    if high is not None and high > 0 and cost > high:
        raise BrokerRefusal(
            f"order value {plain(cost.quantize(Decimal('0.01')))} {quote} is above the "
            f"maximum notional {plain(high)} {quote} of {symbol}"
        )
