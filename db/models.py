"""Tortoise models: every table of SPEC §9.

Money is `Decimal` (DecimalField) everywhere. Times are timezone-aware UTC. Exactly-once rules live
in unique constraints (one open position per bot and symbol, one order per client order id, one
accepted alert per bot and alert id), so they hold across processes and on SQLite, where
`select_for_update` does nothing.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tortoise import fields
from tortoise.models import Model

from trading import money

MONEY = {"max_digits": 38, "decimal_places": 12}


class MoneyField(fields.DecimalField):  # type: ignore[type-arg]
    """A NUMERIC(38,12) money column, read exactly whatever its size (`trading.money`).

    Tortoise's DecimalField quantizes what it reads in the default 28-digit decimal context,
    which raises on any stored value of 17 or more integer digits: one such row made every query
    over its table fail. The column is the same DecimalField (same description, so no migration).
    """

    def to_python_value(self, value: Any) -> Decimal | None:
        return None if value is None else money.from_column(value)

    def describe(self, serializable: bool) -> dict:
        described = super().describe(serializable)
        if serializable:
            described["field_type"] = fields.DecimalField.__name__
        return described


class TradingBot(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    symbols: list[str] = fields.JSONField(default=list)  # type: ignore[assignment]
    strategy = fields.CharField(max_length=32, default="signal")
    # Order size: kind is qty (base units), quote (amount of quote currency) or equity_pct.
    size_kind = fields.CharField(max_length=16, default="qty")
    size_value = MoneyField(**MONEY)
    direction = fields.CharField(max_length=8, default="long")
    max_entries = fields.IntField(default=1)
    sl = fields.CharField(max_length=32, null=True)
    tp = fields.CharField(max_length=32, null=True)
    trail = fields.CharField(max_length=32, null=True)
    interval = fields.CharField(max_length=16, null=True)
    max_lag_seconds = fields.IntField(default=60)
    approval = fields.CharField(max_length=8, default="auto")
    paused = fields.BooleanField(default=False)
    webhook_key = fields.CharField(max_length=128, unique=True)
    passphrase = fields.CharField(max_length=128, null=True)
    # Senders that can sign: HMAC-SHA256 over "timestamp.body" in X-Tradebot-Signature.
    hmac_secret = fields.CharField(max_length=128, null=True)
    # Runaway-script guard: alerts accepted per minute for this bot (0 = no cap).
    max_alerts_per_minute = fields.IntField(default=60)
    allow_ips: list[str] = fields.JSONField(default=list)  # type: ignore[assignment]
    risk: dict = fields.JSONField(default=dict)  # type: ignore[assignment]
    heartbeat_minutes = fields.IntField(null=True)  # warn when no alert came for this long
    break_even_after_tp1 = fields.BooleanField(default=False)
    # Group chat and forum topic where this bot's notifications go (None: owners' private chats).
    chat_id = fields.BigIntField(null=True)
    topic_id = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    deleted_at = fields.DatetimeField(null=True)  # soft delete: history keeps its bot

    class Meta:
        table = "trading_bots"


class StrategyConfig(Model):
    """Parameters of a bot's strategy; the newest row for a bot is in force."""

    id = fields.IntField(primary_key=True)
    bot: fields.ForeignKeyRelation[TradingBot] = fields.ForeignKeyField(
        "models.TradingBot", related_name="strategy_configs", on_delete=fields.CASCADE
    )
    strategy = fields.CharField(max_length=32)
    params: dict = fields.JSONField(default=dict)  # type: ignore[assignment]
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "strategy_configs"


class Instrument(Model):
    """A tradable symbol and the exchange's last price for it (alerts keep theirs per bot in
    `bot_prices`; a price here from an alert predates that and is used only as a last resort)."""

    id = fields.IntField(primary_key=True)
    symbol = fields.CharField(max_length=32, unique=True)
    base = fields.CharField(max_length=16)
    quote = fields.CharField(max_length=16)
    last_price = MoneyField(**MONEY, null=True)
    last_price_at = fields.DatetimeField(null=True)
    last_price_source = fields.CharField(max_length=16, null=True)

    class Meta:
        table = "instruments"


class BotPrice(Model):
    """The last price each bot's own alerts carried per symbol, which only its stops act on.

    SPEC §5: an alert's price moves the stops, targets and trailing stops of its own bot only
    (another bot's alert never closes mine); monitors in other processes read it here. The
    exchange's prices, which move every bot's stops, are in `instruments`."""

    id = fields.IntField(primary_key=True)
    bot: fields.ForeignKeyRelation[TradingBot] = fields.ForeignKeyField(
        "models.TradingBot", related_name="prices", on_delete=fields.CASCADE
    )
    symbol = fields.CharField(max_length=32)
    price = MoneyField(**MONEY)
    seen_at = fields.DatetimeField()  # when the price was observed (the alert's `time`)
    source = fields.CharField(max_length=16, default="alert")

    class Meta:
        table = "bot_prices"
        unique_together = (("bot", "symbol"),)


class Order(Model):
    """Written before the broker is called (status pending), completed after."""

    id = fields.IntField(primary_key=True)
    client_order_id = fields.CharField(max_length=64, unique=True)
    bot: fields.ForeignKeyRelation[TradingBot] = fields.ForeignKeyField(
        "models.TradingBot", related_name="orders", on_delete=fields.RESTRICT
    )
    symbol = fields.CharField(max_length=32)
    side = fields.CharField(max_length=4)  # buy | sell
    order_type = fields.CharField(max_length=8, default="market")
    qty = MoneyField(**MONEY)
    price = MoneyField(**MONEY, null=True)  # reference price the order was sized at
    status = fields.CharField(max_length=12, default="pending")  # pending|filled|rejected|failed
    filled_qty = MoneyField(**MONEY, default=0)
    avg_fill_price = MoneyField(**MONEY, null=True)
    fee = MoneyField(**MONEY, default=0)
    fee_currency = fields.CharField(max_length=16, null=True)
    broker = fields.CharField(max_length=32)
    broker_order_id = fields.CharField(max_length=64, null=True)
    intent = fields.CharField(max_length=16)  # open|add|reduce|close|reverse
    reason = fields.CharField(max_length=32, default="signal")
    webhook_log_id = fields.IntField(null=True, db_index=True)
    error = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "orders"


class CurrentPosition(Model):
    """An open position. Deleted when flat; its life is then one `trade_history` row."""

    id = fields.IntField(primary_key=True)
    bot: fields.ForeignKeyRelation[TradingBot] = fields.ForeignKeyField(
        "models.TradingBot", related_name="positions", on_delete=fields.RESTRICT
    )
    symbol = fields.CharField(max_length=32)
    quote = fields.CharField(max_length=16)
    side = fields.CharField(max_length=5)  # long | short
    qty = MoneyField(**MONEY)
    avg_price = MoneyField(**MONEY)
    entries = fields.IntField(default=1)
    opened_qty = MoneyField(**MONEY)
    exit_qty = MoneyField(**MONEY, default=0)
    exit_value = MoneyField(**MONEY, default=0)
    realized_pnl = MoneyField(**MONEY, default=0)  # after all fees so far
    fees = MoneyField(**MONEY, default=0)
    sl = MoneyField(**MONEY, null=True)
    tp = MoneyField(**MONEY, null=True)
    trail = fields.CharField(max_length=32, null=True)
    # Several take-profit levels: [{"price": "…", "share": "0.5", "filled": false}, …]
    take_profits: list = fields.JSONField(default=list)  # type: ignore[assignment]
    trail_peak = MoneyField(**MONEY, null=True)  # best price since open (trailing stop)
    trail_stop = MoneyField(**MONEY, null=True)  # current trailing stop price
    # A monitor (or any closer) claims the position before sending its closing order, so a
    # trigger fires once even with several monitors or a racing webhook close.
    closing_token = fields.CharField(max_length=64, null=True)
    closing_at = fields.DatetimeField(null=True)
    opened_at = fields.DatetimeField()
    updated_at = fields.DatetimeField(auto_now=True)
    # Optimistic concurrency: every update is `WHERE version = seen`; losers retry.
    version = fields.IntField(default=0)

    class Meta:
        table = "current_positions"
        unique_together = (("bot", "symbol"),)


class PositionEntry(Model):
    """One fill applied to a position: an entry, an add or an exit."""

    id = fields.IntField(primary_key=True)
    position_id = fields.IntField(db_index=True)
    bot: fields.ForeignKeyRelation[TradingBot] = fields.ForeignKeyField(
        "models.TradingBot", related_name="entries", on_delete=fields.RESTRICT
    )
    order: fields.ForeignKeyNullableRelation[Order] = fields.ForeignKeyField(
        "models.Order", related_name="entries", null=True, on_delete=fields.RESTRICT
    )
    symbol = fields.CharField(max_length=32)
    kind = fields.CharField(max_length=8)  # open | add | reduce | close
    side = fields.CharField(max_length=4)  # buy | sell
    qty = MoneyField(**MONEY)
    price = MoneyField(**MONEY)
    fee = MoneyField(**MONEY)
    gross_pnl = MoneyField(**MONEY, default=0)  # exits only, before fees
    reason = fields.CharField(max_length=32, default="signal")
    created_at = fields.DatetimeField()

    class Meta:
        table = "position_entries"


class TradeHistory(Model):
    """A position's life from open to flat."""

    id = fields.IntField(primary_key=True)
    position_id = fields.IntField(unique=True)
    bot: fields.ForeignKeyRelation[TradingBot] = fields.ForeignKeyField(
        "models.TradingBot", related_name="trades", on_delete=fields.RESTRICT
    )
    symbol = fields.CharField(max_length=32)
    quote = fields.CharField(max_length=16)
    side = fields.CharField(max_length=5)
    qty = MoneyField(**MONEY)
    entry_price = MoneyField(**MONEY)
    exit_price = MoneyField(**MONEY)
    pnl = MoneyField(**MONEY)
    fees = MoneyField(**MONEY)
    entries = fields.IntField(default=1)
    opened_at = fields.DatetimeField()
    closed_at = fields.DatetimeField(db_index=True)
    reason = fields.CharField(max_length=32)

    class Meta:
        table = "trade_history"
        # a bot's recent stop-losses (`cooldown_after_stop`, `stop_guard`), read before entries
        indexes = (("bot", "reason", "closed_at"),)


class WebhookLog(Model):
    """Every webhook request, refused ones included, with secrets redacted.

    `dedup_key` is set only on the accepted request of an alert id, so a unique index makes the
    duplicate check atomic across processes.
    """

    id = fields.IntField(primary_key=True)
    bot: fields.ForeignKeyNullableRelation[TradingBot] = fields.ForeignKeyField(
        "models.TradingBot", related_name="webhook_logs", null=True, on_delete=fields.SET_NULL
    )
    key_hint = fields.CharField(max_length=16, default="")
    remote_ip = fields.CharField(max_length=64, default="")
    content_type = fields.CharField(max_length=128, default="")
    body = fields.TextField(default="")
    alert: dict | None = fields.JSONField(null=True)  # type: ignore[assignment]
    alert_id = fields.CharField(max_length=128, null=True)
    dedup_key = fields.CharField(max_length=160, null=True, unique=True)
    symbol = fields.CharField(max_length=32, null=True)
    action = fields.CharField(max_length=16, null=True)
    http_status = fields.IntField(default=0)
    status = fields.CharField(max_length=16, default="received")
    reason = fields.TextField(null=True)
    order_id = fields.IntField(null=True)
    received_at = fields.DatetimeField(db_index=True)
    finished_at = fields.DatetimeField(null=True)
    # Refusals from one sender are aggregated: the same (IP, answer, bot) within a minute adds to
    # the first row's count instead of writing a row each, so a flood cannot fill the disk.
    repeat_count = fields.IntField(default=1)
    last_seen_at = fields.DatetimeField(null=True)

    class Meta:
        table = "webhook_logs"


class User(Model):
    id = fields.IntField(primary_key=True)
    telegram_id = fields.BigIntField(unique=True)
    username = fields.CharField(max_length=64, null=True)
    role = fields.CharField(max_length=8)  # owner | trader | viewer
    notify: dict = fields.JSONField(default=dict)  # type: ignore[assignment]
    totp_secret = fields.CharField(max_length=64, null=True)
    totp_enabled = fields.BooleanField(default=False)  # set once a first code confirmed it
    totp_last_step = fields.BigIntField(null=True)  # a code is accepted once (no replay)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "users"


class AuditLog(Model):
    id = fields.IntField(primary_key=True)
    actor = fields.CharField(max_length=64)  # "tg:<id>", "cli", "api"
    action = fields.CharField(max_length=64)
    target = fields.CharField(max_length=128, default="")
    outcome = fields.CharField(max_length=16)  # ok | refused | failed
    details: dict = fields.JSONField(default=dict)  # type: ignore[assignment]
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "audit_log"


class PriceBar(Model):
    """One bar of a bot's price series of a symbol at an interval, built from the prices the
    bot's own alerts carry or from the exchange's candles (SPEC §5: an alert moves the strategy
    of its own bot only). `bot_id` NULL: a bar stored before series were per bot, kept for
    charts and backtests and never read by a strategy."""

    id = fields.IntField(primary_key=True)
    bot_id = fields.IntField(null=True)
    symbol = fields.CharField(max_length=32)
    interval = fields.CharField(max_length=16)
    open_time = fields.DatetimeField()
    open = MoneyField(**MONEY)
    high = MoneyField(**MONEY)
    low = MoneyField(**MONEY)
    close = MoneyField(**MONEY)
    volume = MoneyField(**MONEY, default=0)
    closed = fields.BooleanField(default=False)
    source = fields.CharField(max_length=16, default="alert")

    class Meta:
        table = "price_bars"
        unique_together = (("bot_id", "symbol", "interval", "open_time"),)
        indexes = (("symbol", "interval", "open_time"),)


class TelegramUpdate(Model):
    """Telegram update ids already handled, so a redelivered update is acted on once."""

    update_id = fields.BigIntField(primary_key=True, generated=False)
    received_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "telegram_updates"


class UsedSignature(Model):
    """Webhook signatures already accepted, kept for the replay window: a signed request replayed
    within it is refused, in every process (the primary key is the check)."""

    digest = fields.CharField(max_length=64, primary_key=True)
    bot_id = fields.IntField()
    expires_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "used_signatures"


class AccountSettings(Model):
    """The account's own risk rules and the kill switch (SPEC §6a): one row, id 1.

    `risk` is `RiskRules.to_json` of the account's rules (a bot's own are in its `risk`).
    The kill switch stops entries only; `kill_switch_rule` names the rule that tripped it
    (`max_drawdown`), None when an owner turned it on. `legacy_paused`: bots a kill switch of
    before the upgrade paused (it paused whole bots), resumed by the first resume after it."""

    id = fields.IntField(primary_key=True, generated=False)
    risk: dict = fields.JSONField(default=dict)  # type: ignore[assignment]
    kill_switch = fields.BooleanField(default=False)
    kill_switch_by = fields.CharField(max_length=128, default="")
    kill_switch_since = fields.DatetimeField(null=True)
    kill_switch_reason = fields.TextField(default="")
    kill_switch_rule = fields.CharField(max_length=32, null=True)
    legacy_paused: list = fields.JSONField(default=list)  # type: ignore[assignment]

    class Meta:
        table = "account_settings"


class EquitySnapshotRow(Model):
    """A quote currency's equity at one moment, taken on every fill, every hour and at start.

    Drawdown and the day's loss are read from these (SPEC §6a, `trading.equity`); rows are
    written once and never changed."""

    id = fields.IntField(primary_key=True)
    quote = fields.CharField(max_length=16)
    at = fields.DatetimeField()
    equity = MoneyField(**MONEY)
    balance = MoneyField(**MONEY)  # the starting balance the equity was computed from
    realized = MoneyField(**MONEY)
    unrealized = MoneyField(**MONEY)
    open_notional = MoneyField(**MONEY)
    open_positions = fields.IntField(default=0)
    cause = fields.CharField(max_length=8)  # fill | hourly | start

    class Meta:
        table = "equity_snapshots"
        indexes = (("quote", "at"),)


class Notification(Model):
    """The notification outbox (SPEC §11, `trading.outbox`): events worth a Telegram message,
    written by the process that published them and sent by the leader, in id order. `payload`
    is the event's fields (`trading.event_codec`: decimals as strings); sent rows are kept a day."""

    id = fields.BigIntField(primary_key=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    type = fields.CharField(max_length=64)  # the event's class name
    payload: dict = fields.JSONField()  # type: ignore[assignment]
    origin = fields.CharField(max_length=128, default="")  # host:pid of the writer
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notifications"
        indexes = (("sent_at", "id"),)


class ApprovalCard(Model):
    """One copy of an approval card (chat, message), so whichever process resolves the approval
    edits every copy once (`trading.outbox.ApprovalCardStore`)."""

    id = fields.IntField(primary_key=True)
    webhook_log_id = fields.IntField(db_index=True)
    chat_id = fields.BigIntField()
    message_id = fields.BigIntField()
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "approval_cards"


class DashboardSession(Model):
    """A signed-in dashboard (SPEC §10): found by the SHA-256 of its token (the token itself is
    never stored), valid until `expires_at` unless revoked (/logout revokes all of a user's)."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    user_id = fields.BigIntField(db_index=True)  # a Telegram user id; 0: the local owner
    via = fields.CharField(max_length=16)  # link | telegram
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "dashboard_sessions"


class LoginLink(Model):
    """A one-time dashboard sign-in link (SPEC §10), stored by the SHA-256 of its token: it
    works once (`used_at` set by a conditional UPDATE) and only until `expires_at`."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    user_id = fields.BigIntField(db_index=True)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "login_links"
