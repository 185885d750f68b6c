"""TradingView tickers to our symbols: `BINANCE:BTCUSDT` -> `BTCUSDT`, split into base and quote."""

from __future__ import annotations

import re

# Longest first so that BTCUSDT splits as BTC/USDT, not BTCUSD/T.
KNOWN_QUOTES = (
    "FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "EUR", "GBP", "JPY", "TRY", "BRL",
    "BTC", "ETH", "BNB",
)  # fmt: skip

_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9._\-/]{1,30}$")


def normalize_symbol(raw: str) -> str:
    """Uppercase, drop the exchange prefix, `.P` perpetual suffix, and separators."""
    text = raw.strip().upper()
    if ":" in text:
        text = text.rsplit(":", 1)[1]
    text = text.removesuffix(".P")
    text = text.replace("/", "").replace("-", "").replace("_", "")
    if not _SYMBOL.match(text):
        raise ValueError("must be a ticker such as BTCUSDT or BINANCE:BTCUSDT")
    return text


def split_symbol(symbol: str) -> tuple[str, str]:
    """(base, quote); the quote is a known currency suffix, else the last 3 letters."""
    for quote in KNOWN_QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return symbol[:-3] or symbol, symbol[-3:]
