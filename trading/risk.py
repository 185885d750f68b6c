"""Risk rules (SPEC §6a): what they are, how a sender writes them, and whether an entry breaks one.

Pure: the caller brings the account's figures (`AccountFigures`, per quote currency) and the entry
(`EntryRequest`); `check_entry` answers the first rule broken, in `CHECK_ORDER`, or None.

* Callers call `check_entry` for entries only (an open, an add, the opening part of a reversal);
  exits (closes, a reversal's closing part, stops, take-profits, manual closes) are never passed
  to it, so they are never refused. For a reversal, the figures describe the account after its
  closing part and the entry is the opening part alone.
* `risk_per_trade` sizes rather than refuses: `risk_size` gives the quantity (or why there is
  none, e.g. no stop-loss); the caller then checks that quantity with `check_entry`.
* Limits: "would exceed" rules (position, exposure, open positions) allow an entry that lands
  exactly on the limit; "has reached" rules (daily loss, drawdown) refuse at the limit.
* A bot's own value wins over the account's (`effective`); `off` on a bot removes the account's
  rule for that bot, `inherit` drops the bot's own value so the account's applies again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, Literal

from trading.errors import InvalidRequest
from trading.money import CONTEXT, HUNDRED, ZERO, plain, q12
from trading.numbers import MAX_NOTIONAL, MAX_QTY, bounded, whole_number

Side = Literal["long", "short"]
MINUS = "−"  # U+2212, as the chat writes a negative figure
MAX_MINUTES = 527_040  # 366 days
MAX_COUNT = 1_000_000
_PCT_PLACES = Decimal("0.0001")  # percentages in reasons


class Off(Enum):
    """A bot's `KEY=off`: the account's rule does not apply to this bot."""

    OFF = "off"


OFF = Off.OFF


@dataclass(frozen=True, slots=True)
class Amount:
    """A quote amount (`150`) or a share of equity (`5%`); `max_position_qty` holds a base qty."""

    value: Decimal
    percent: bool = False

    def of(self, base: Decimal) -> Decimal:
        """The limit in money: the amount itself, or `value`% of `base` (exact)."""
        if not self.percent:
            return self.value
        return CONTEXT.divide(CONTEXT.multiply(self.value, base), HUNDRED)

    @property
    def fraction(self) -> Decimal:
        """A percentage as a share of 1 (`1%` → 0.01)."""
        return CONTEXT.divide(self.value, HUNDRED)

    def __str__(self) -> str:
        return f"{plain(self.value)}%" if self.percent else plain(self.value)


@dataclass(frozen=True, slots=True)
class StopGuard:
    """`N/M`: N stop-losses within M minutes pause the bot's entries for M minutes."""

    count: int
    minutes: int

    def __str__(self) -> str:
        return f"{self.count}/{self.minutes}"


@dataclass(frozen=True, slots=True)
class RiskRules:
    """The §6a keys; None is "not set", OFF (on a bot only) is "the account's rule is off"."""

    max_position_qty: Amount | Off | None = None
    max_position_value: Amount | Off | None = None
    max_open_positions: int | Off | None = None
    max_exposure: Amount | Off | None = None
    daily_loss_limit: Amount | Off | None = None
    daily_reset_hour: int | Off | None = None
    max_drawdown: Amount | Off | None = None
    cooldown_after_stop: int | Off | None = None
    stop_guard: StopGuard | Off | None = None
    risk_per_trade: Amount | Off | None = None
    # Not a key: set by `effective` when the bot's own max_exposure wins, which then caps the
    # bot's open notional instead of the account's (§6a "per bot when set on a bot").
    exposure_scope: Literal["account", "bot"] = "account"

    @property
    def reset_hour(self) -> int:
        """The UTC hour the risk day starts at (default 0)."""
        return self.daily_reset_hour if isinstance(self.daily_reset_hour, int) else 0

    def items(self) -> list[tuple[str, Any]]:
        """The keys set (OFF included), in `KEYS` order."""
        return [(key, getattr(self, key)) for key in KEYS if getattr(self, key) is not None]

    def to_json(self) -> dict[str, str]:
        """The form stored in the bot's / account's `risk` JSON column: each key as written."""
        return {key: "off" if value is OFF else str(value) for key, value in self.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> RiskRules:
        """Rules as `to_json` stored them (a mapping, or its JSON text); checked like input."""
        if isinstance(data, str):
            data = json.loads(data)
        if not isinstance(data, Mapping):
            raise InvalidRequest("risk: stored rules must be a JSON object")
        for key, value in data.items():
            if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
                raise InvalidRequest(f"{key}: stored value {value!r} is not a rule value")
        return parse_rules({str(key): str(value) for key, value in data.items()})


def _share(text: str) -> Amount:
    if not text.endswith("%"):
        raise ValueError("must be a percentage")
    value = bounded(text.removesuffix("%").strip())
    if value > HUNDRED:
        raise ValueError("must be at most 100%")
    return Amount(value, percent=True)


def _money_or_share(text: str) -> Amount:
    return _share(text) if text.endswith("%") else Amount(bounded(text, maximum=MAX_NOTIONAL))


def _qty(text: str) -> Amount:
    if text.endswith("%"):
        raise ValueError("takes no percentage")
    return Amount(bounded(text, maximum=MAX_QTY))


def _whole(text: str, low: int, high: int) -> int:
    value = whole_number(text, low, high)
    if value is None:
        raise ValueError(f"must be a whole number from {low} to {high}")
    return value


def _stop_guard(text: str) -> StopGuard:
    count, slash, minutes = text.partition("/")
    if not slash:
        raise ValueError("must be N/M")
    return StopGuard(_whole(count.strip(), 1, MAX_COUNT), _whole(minutes.strip(), 1, MAX_MINUTES))


_AMOUNT_OR_SHARE = "a quote amount such as 1000, or a share of equity such as 20%"
# key -> (the accepted form, named in every error; a parser raising ValueError saying what is wrong)
SPECS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "max_position_qty": ("a base quantity such as 0.5", _qty),
    "max_position_value": (_AMOUNT_OR_SHARE, _money_or_share),
    "max_open_positions": ("a whole number such as 3", lambda t: _whole(t, 1, MAX_COUNT)),
    "max_exposure": (_AMOUNT_OR_SHARE, _money_or_share),
    "daily_loss_limit": (
        "a quote amount such as 150, or a share of the day's starting equity such as 5%",
        _money_or_share,
    ),
    "daily_reset_hour": ("an hour of the day in UTC, 0 to 23", lambda t: _whole(t, 0, 23)),
    "max_drawdown": ("a share of equity such as 10%", _share),
    "cooldown_after_stop": ("whole minutes such as 30", lambda t: _whole(t, 1, MAX_MINUTES)),
    "stop_guard": ("N/M: N stop-losses within M minutes, such as 3/60", _stop_guard),
    "risk_per_trade": ("a share of equity such as 1%", _share),
}
KEYS: tuple[str, ...] = tuple(SPECS)
assert KEYS == tuple(f.name for f in fields(RiskRules))[: len(KEYS)]


def parse_value(key: str, text: str) -> Any:
    """One rule's value (or OFF for `off`); InvalidRequest naming the key and the accepted form."""
    if key not in SPECS:
        raise InvalidRequest(f"unknown risk rule {key[:40]!r}; the rules are {', '.join(KEYS)}")
    text = text.strip()
    if text.lower() == "off":
        return OFF
    try:
        return SPECS[key][1](text)
    except ValueError as error:
        said = str(error) if "got " in str(error) else f"{error} (got {text[:40]!r})"
        raise InvalidRequest(f"{key}: {said}; expected {SPECS[key][0]}, or off") from None


def parse_rules(pairs: Mapping[str, str]) -> RiskRules:
    """Rules from KEY → VALUE text (`off` kept as OFF: meaningful on a bot)."""
    return RiskRules(**{key: parse_value(key, text) for key, text in pairs.items()})


def set_rules(rules: RiskRules, words: Iterable[str], *, bot: bool = False) -> RiskRules:
    """`rules` after `risk set KEY=VALUE …`. On the account `off` removes a key; on a bot it
    turns the account's rule off for that bot, and `inherit` drops the bot's own value."""
    changes: dict[str, Any] = {}
    for word in words:
        key, equals, text = word.partition("=")
        key = key.strip().lower()
        if not equals or not key:
            raise InvalidRequest(f"expected KEY=VALUE, got {word[:40]!r}")
        if key in changes:
            raise InvalidRequest(f"{key}: given twice")
        if text.strip().lower() == "inherit":
            if not bot:
                raise InvalidRequest(f"{key}: inherit is for a bot's rules (the account has off)")
            changes[key] = None
            continue
        value = parse_value(key, text)
        changes[key] = None if value is OFF and not bot else value
    return replace(rules, **changes)


def effective(account: RiskRules, bot: RiskRules | None) -> RiskRules:
    """The rules in force for one bot: its own value wins, its `off` removes the account's."""
    merged: dict[str, Any] = {}
    for key in KEYS:
        own = None if bot is None else getattr(bot, key)
        value = own if own is not None else getattr(account, key)
        merged[key] = None if value is OFF else value
    per_bot = bot is not None and isinstance(bot.max_exposure, Amount)
    return RiskRules(**merged, exposure_scope="bot" if per_bot else "account")


def _aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC)")


@dataclass(frozen=True, slots=True)
class StopLoss:
    """A stop-loss that closed one of the bot's positions."""

    symbol: str
    at: datetime

    def __post_init__(self) -> None:
        _aware(self.at, "StopLoss.at")


@dataclass(frozen=True, slots=True)
class AccountFigures:
    """The account in one quote currency when an entry is checked (equity from `equity_snapshots`:
    starting balance + realized PnL − fees + unrealized PnL)."""

    quote: str
    equity: Decimal
    day_start_equity: Decimal  # equity at `day_start(now, daily_reset_hour)`
    equity_peak: Decimal
    open_positions: int  # open positions in this currency, all bots
    open_notional: Decimal  # all positions in this currency
    bot_open_notional: Decimal  # the entering bot's positions in this currency
    today_pnl: Decimal  # realized + unrealized since the risk day started
    stop_losses: tuple[StopLoss, ...] = ()  # the entering bot's recent stop-losses, any symbol

    def last_stop_on(self, symbol: str) -> datetime | None:
        times = [stop.at for stop in self.stop_losses if stop.symbol == symbol]
        return max(times, default=None)


@dataclass(frozen=True, slots=True)
class EntryRequest:
    """An entry (or a reversal's opening part) before it is sent."""

    bot: str
    symbol: str
    quote: str
    side: Side
    qty: Decimal  # this order's quantity
    price: Decimal
    position_qty: Decimal  # the bot's position on the symbol after the order (absolute)
    position_value: Decimal  # … and its value in quote
    opens_position: bool  # no position on the symbol before (a reversal's opening part: True)
    now: datetime

    def __post_init__(self) -> None:
        _aware(self.now, "EntryRequest.now")


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an entry is refused: `rule` is the key, `reason` starts with `risk: <key>`."""

    rule: str
    reason: str
    trips_kill_switch: bool = False


def day_start(now: datetime, daily_reset_hour: int = 0) -> datetime:
    """The latest `daily_reset_hour`:00 UTC at or before `now`: when its risk day started."""
    _aware(now, "now")
    if not 0 <= daily_reset_hour <= 23:
        raise ValueError("daily_reset_hour must be 0 to 23")
    utc = now.astimezone(UTC)
    start = utc.replace(hour=daily_reset_hour, minute=0, second=0, microsecond=0)
    return start if start <= utc else start - timedelta(days=1)


def drawdown(equity: Decimal, peak: Decimal) -> Decimal:
    """How far `equity` is below `peak`, as a share of it (0.1 = 10%); 0 at or above, or no peak."""
    if peak <= 0 or equity >= peak:
        return ZERO
    return CONTEXT.divide(CONTEXT.subtract(peak, equity), peak)


def risk_size(
    equity: Decimal,
    share: Decimal,
    entry_price: Decimal,
    stop_price: Decimal | None,
    step: Decimal,
    *,
    side: Side,
) -> Decimal | Refusal:
    """The quantity whose loss at `stop_price` is at most `share` (0.01 = 1%) of `equity`,
    rounded down to `step`; a Refusal (rule `risk_per_trade`) when there is no usable stop or
    not even one step fits. Fees and slippage are not in it."""
    if step <= 0 or share <= 0:
        raise ValueError("step and share must be positive")
    rule = f"risk: risk_per_trade {_pct(share)}"
    if stop_price is None:
        return Refusal("risk_per_trade", f"{rule} needs a stop-loss (none on this entry)")
    distance = CONTEXT.subtract(entry_price, stop_price)
    if side == "short":
        distance = distance.copy_negate()
    if distance <= 0:
        where = "below" if side == "long" else "above"
        return Refusal(
            "risk_per_trade",
            f"{rule} needs a stop-loss {where} the entry for a {side} "
            f"(stop {plain(stop_price)}, entry {plain(entry_price)})",
        )
    budget = CONTEXT.multiply(share, equity)
    if budget <= 0:
        return Refusal("risk_per_trade", f"{rule}: no equity to risk ({_money(equity)})")
    steps = CONTEXT.divide_int(budget, CONTEXT.multiply(distance, step))  # exact, truncated
    if steps < 1:
        return Refusal(
            "risk_per_trade",
            f"{rule} allows less than one step {plain(step)} "
            f"({_money(budget)} to lose, {plain(distance)} to the stop)",
        )
    return CONTEXT.multiply(steps, step)


def drawdown_refusal(limit: Amount, equity: Decimal, peak: Decimal, quote: str) -> Refusal | None:
    """`max_drawdown` reached (it trips the kill switch), or None."""
    share = drawdown(equity, peak)
    if share < limit.fraction:
        return None
    return Refusal(
        "max_drawdown",
        f"risk: max_drawdown {limit} reached ({MINUS}{_pct(share)} from peak "
        f"{_money(peak)} {quote}, equity {_money(equity)})",
        trips_kill_switch=True,
    )


CHECK_ORDER: tuple[str, ...] = (
    "max_drawdown",  # first: it trips the kill switch whatever else is broken
    "daily_loss_limit",
    "stop_guard",
    "cooldown_after_stop",
    "max_open_positions",
    "max_exposure",
    "max_position_qty",
    "max_position_value",
)


def check_entry(rules: RiskRules, figures: AccountFigures, entry: EntryRequest) -> Refusal | None:
    """The first rule in `CHECK_ORDER` the entry breaks, or None. `rules` are the effective ones
    (`effective`); call it for entries only, never for exits (module docstring)."""
    if figures.quote != entry.quote:
        raise ValueError(f"figures in {figures.quote} for an entry in {entry.quote}")
    checks = _Checks(rules, figures, entry)
    for key in CHECK_ORDER:
        limit = getattr(rules, key)
        if limit is not None and limit is not OFF and (refusal := getattr(checks, key)(limit)):
            return refusal
    return None


@dataclass(frozen=True, slots=True)
class _Checks:
    """One method per rule, named as its key: the Refusal when the entry breaks `limit`."""

    rules: RiskRules
    f: AccountFigures
    e: EntryRequest

    def max_drawdown(self, limit: Amount) -> Refusal | None:
        return drawdown_refusal(limit, self.f.equity, self.f.equity_peak, self.f.quote)

    def daily_loss_limit(self, limit: Amount) -> Refusal | None:
        amount = limit.of(self.f.day_start_equity)
        if self.f.today_pnl.copy_negate() < amount:
            return None
        return Refusal(
            "daily_loss_limit",
            f"risk: daily_loss_limit {_limit(limit, amount, self.f.quote)} reached "
            f"({_money(self.f.today_pnl)} today)",
        )

    def stop_guard(self, limit: StopGuard) -> Refusal | None:
        window, n = timedelta(minutes=limit.minutes), limit.count
        times = sorted(stop.at for stop in self.f.stop_losses)
        until = None  # the end of the latest pause: M minutes after the Nth stop of a window
        for i in range(n - 1, len(times)):
            if times[i] - times[i - n + 1] <= window and self.e.now < times[i] + window:
                until = times[i] + window
        if until is None:
            return None
        return Refusal(
            "stop_guard",
            f"risk: stop_guard {limit} hit ({n} stop-losses within {limit.minutes} min); "
            f"entries paused until {_time(until)}",
        )

    def cooldown_after_stop(self, limit: int) -> Refusal | None:
        last = self.f.last_stop_on(self.e.symbol)
        if last is None or self.e.now - last >= timedelta(minutes=limit):
            return None
        return Refusal(
            "cooldown_after_stop",
            f"risk: cooldown_after_stop {limit} min (stop-loss on {self.e.symbol} at "
            f"{_time(last)}); entries from {_time(last + timedelta(minutes=limit))}",
        )

    def max_open_positions(self, limit: int) -> Refusal | None:
        if not self.e.opens_position or self.f.open_positions < limit:
            return None
        return Refusal(
            "max_open_positions",
            f"risk: max_open_positions {limit} reached "
            f"({self.f.open_positions} open in {self.f.quote})",
        )

    def max_exposure(self, limit: Amount) -> Refusal | None:
        f, e = self.f, self.e
        amount = limit.of(f.equity)
        per_bot = self.rules.exposure_scope == "bot"
        open_now = f.bot_open_notional if per_bot else f.open_notional
        order = CONTEXT.multiply(e.qty, e.price)
        after = CONTEXT.add(open_now, order)
        if after <= amount:
            return None
        return Refusal(
            "max_exposure",
            f"risk: max_exposure {_limit(limit, amount, f.quote)} would be exceeded "
            f"({f'bot {e.bot}: ' if per_bot else ''}{_money(open_now)} open + "
            f"{_money(order)} order = {_money(after)})",
        )

    def max_position_qty(self, limit: Amount) -> Refusal | None:
        if self.e.position_qty <= limit.value:
            return None
        return Refusal(
            "max_position_qty",
            f"risk: max_position_qty {limit} would be exceeded "
            f"({self.e.symbol} position {plain(self.e.position_qty)} after the order)",
        )

    def max_position_value(self, limit: Amount) -> Refusal | None:
        f, e = self.f, self.e
        amount = limit.of(f.equity)
        if e.position_value <= amount:
            return None
        return Refusal(
            "max_position_value",
            f"risk: max_position_value {_limit(limit, amount, f.quote)} would be exceeded "
            f"({e.symbol} position {_money(e.position_value)} {f.quote} after the order)",
        )


def capped(
    qty: Decimal,
    rules: RiskRules,
    figures: AccountFigures,
    price: Decimal,
    held: Decimal,
    step: Decimal,
) -> Decimal:
    """A risk-sized quantity cut to the headroom of the size limits, in whole lot steps."""
    room = [qty]
    c = CONTEXT
    if isinstance(rules.max_position_qty, Amount):
        room.append(c.subtract(rules.max_position_qty.value, held))
    if isinstance(rules.max_position_value, Amount):
        value = rules.max_position_value.of(figures.equity)
        room.append(c.subtract(c.divide(value, price), held))
    if isinstance(rules.max_exposure, Amount):
        limit = rules.max_exposure.of(figures.equity)
        open_now = (
            figures.bot_open_notional if rules.exposure_scope == "bot" else figures.open_notional
        )
        room.append(c.divide(c.subtract(limit, open_now), price))
    fits = min(room)
    if fits <= 0:
        return Decimal(0)
    return c.multiply(c.divide_int(fits, step), step)


def _money(value: Decimal) -> str:
    """`plain`, with at least two decimals and a true minus: `−153.20`, `150.00`, `0.125`."""
    text = plain(q12(value))
    whole, _, decimals = text.partition(".")
    text = f"{whole}.{decimals.ljust(2, '0')}"
    return MINUS + text[1:] if text.startswith("-") else text


def _limit(limit: Amount, amount: Decimal, quote: str) -> str:
    """`150 USDT`, or `5% (500 USDT)` for a share of equity."""
    return f"{limit} ({plain(q12(amount))} {quote})" if limit.percent else f"{limit} {quote}"


def _pct(share: Decimal) -> str:
    """A share of 1 as a percentage: 0.01 → `1%`, 0.105 → `10.5%`, 1/3 → `33.3333%`."""
    return f"{plain(CONTEXT.multiply(share, HUNDRED).quantize(_PCT_PLACES, context=CONTEXT))}%"


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
