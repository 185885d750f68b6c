"""Webhook intake (SPEC §5): authenticate, parse, store, then execute within TradingView's patience.

Checks in order: body size (413), global IP allowlist (403), proxy-verified TLS client certificate
when required (403), key (401), the bot's IP allowlist (403), HMAC signature when the bot has a
secret (401, replay refused), body (400), passphrase (401), the bot's alerts-per-minute cap (429).

The alert is stored (a `webhook_logs` row) before it is executed. Execution runs as its own task:
if it outlasts `answer_timeout` the sender gets `202 accepted` and the task finishes in the
background, updating the row and reporting the outcome as a `LateExecution` event. A busy
position (other processes trading it) is such a case: the alert waits its turn, it is never
answered "try again" (TradingView does not retry a 2xx). The answer, the row and the orders
agree: a fill writes `executed` and its order on the row in its own commit, and any other
outcome is written only on a row still running (`AlertLogStore.finish_alert_log`). Whether the
outcome is the sender's answer or the row keeps its 202 is `trading.answers`' rule.

Refusals are aggregated so a flood cannot fill the disk: the first refusal of a kind (sender IP,
answer code, bot, kind of reason: the field a 400 names, or the reason without the values it
quotes) in a minute writes a row, the next ones in that minute add to its `repeat_count`; so do
rejections (`200 rejected`: paused, stale...) of alerts without an `id`. Requests over the
per-key and per-IP rate limits are only counted (in /metrics). Secrets are redacted from every
body, alert and reason kept or shown (`trading.alerts.redact`).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from trading.alerts import MAX_BODY_BYTES, Action, Alert, parse_alert, redact, redact_value
from trading.answers import ACCEPTED, AlertLog
from trading.approvals import ApprovalService, check_position_sync
from trading.bots import BotConfig
from trading.errors import AlertError
from trading.events import AlertsCapped, EventSink, LateExecution, WebhookRefused
from trading.ipallow import allowed, parse_allowlist
from trading.ports import Stores
from trading.ratelimit import Limiter
from trading.records import DuplicateKey
from trading.service import TradingService, observed_at
from trading.signatures import Verified, verify
from trading.views import ExecutionResult

log = logging.getLogger(__name__)

MAX_LOGGED_BODY = 4096
AGGREGATE_WINDOW = 60.0  # seconds during which refusals of one kind share one log row
CAP_NOTICE_INTERVAL = 3600.0  # owners hear of alerts dropped by a bot's cap once an hour
MAX_AGGREGATES = 10_000


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """What the HTTP layer hands over: the raw request, nothing parsed yet."""

    key: str
    body: bytes
    content_type: str = ""
    remote_ip: str = ""
    oversized: bool = False
    # (answer, reason) when the body could not be read: too slow (408), undecodable (400)
    unreadable: tuple[int, str] | None = None
    signature: str | None = None
    timestamp: str | None = None
    # The reverse proxy's TLS client-certificate verdict (X-Client-Verify), None when the request
    # did not come through a trusted proxy.
    client_cert: str | None = None


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Token-bucket rates (per second) and bursts for the per-key and per-IP limits."""

    key_rate: float = 20.0
    key_burst: float = 100.0
    ip_rate: float = 100.0
    ip_burst: float = 300.0


@dataclass(frozen=True, slots=True)
class IntakeAnswer:
    http_status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def key_hint(key: str) -> str:
    """Enough of a key to recognise it in a log, never enough to use it."""
    return f"{key[:4]}…" if len(key) > 8 else "…"


def _answer(
    status: int, state: str, reason: str, bot: str | None = None, **extra: Any
) -> IntakeAnswer:
    return IntakeAnswer(
        status,
        {"status": state, "reason": reason, "bot": bot, "position": None, "order": None, **extra},
    )


class WebhookIntake:
    def __init__(
        self,
        trading: TradingService,
        events: EventSink,
        *,
        stores: Stores,
        approvals: ApprovalService,
        answer_timeout: float = 2.0,
        ip_allowlist: list[str] | None = None,
        limiter: Limiter | None = None,
        limits: RateLimits | None = None,
        trusted_proxies: list[str] | None = None,
        require_client_cert: bool = False,
    ) -> None:
        self.trusted_proxies = parse_allowlist(trusted_proxies or [])
        self.ip_allowlist = parse_allowlist(ip_allowlist or [])
        self.limiter = limiter
        self.limits = limits or RateLimits()
        self.require_client_cert = require_client_cert
        self._aggregates: OrderedDict[tuple[str, int, int | None, str], tuple[int, float]] = (
            OrderedDict()
        )
        self._capped_told: dict[int, float] = {}
        self.trading = trading
        self.stores = stores
        self.approvals = approvals
        self.events = events
        self.answer_timeout = answer_timeout
        self._tasks: set[asyncio.Task[ExecutionResult]] = set()

    async def rate_limited(self, key: str, remote_ip: str) -> tuple[str, float] | None:
        """(scope, retry after seconds) when the sender is over a limit. Such requests are
        counted, not logged, so a flood cannot fill the disk."""
        if self.limiter is None:
            return None
        limits = self.limits
        for scope, name, rate, burst in (
            ("ip", remote_ip, limits.ip_rate, limits.ip_burst),
            ("key", key, limits.key_rate, limits.key_burst),
        ):
            wait = await self.limiter.take(scope, name, rate, burst)
            if wait is not None:
                return scope, wait
        return None

    async def receive(self, request: WebhookRequest) -> IntakeAnswer:
        received_at = datetime.now(UTC)
        key, body, remote_ip = request.key, request.body, request.remote_ip
        bots, alerts = self.stores.bots, self.stores.alerts
        log_fields: dict[str, Any] = {
            "key_hint": key_hint(key),
            "remote_ip": remote_ip[:64],
            "content_type": request.content_type[:128],
            "body": _logged_body(body),
            "received_at": received_at,
        }
        if request.oversized:
            return await self._refuse(
                log_fields, None, 413, f"body: larger than {MAX_BODY_BYTES} bytes"
            )
        if request.unreadable:
            return await self._refuse(log_fields, None, *request.unreadable)

        if not allowed(remote_ip, self.ip_allowlist):
            return await self._refuse(log_fields, None, 403, f"IP {remote_ip} is not allowed")
        if self.require_client_cert and request.client_cert != "SUCCESS":
            return await self._refuse(
                log_fields, None, 403, "TLS client certificate not verified by the proxy"
            )
        bot = await bots.bot_by_key(key) if 16 <= len(key) <= 128 and key.isascii() else None
        if bot is None or not hmac.compare_digest(bot.webhook_key.encode(), key.encode()):
            return await self._refuse(log_fields, None, 401, "unknown webhook key")
        log_fields["bot_id"] = bot.id
        if _holds(body, bot.passphrase):  # the bot's own passphrase, wherever the body has it
            log_fields["body"] = _logged_body(body, bot.passphrase)
        if bot.allow_ips and not allowed(remote_ip, parse_allowlist(bot.allow_ips)):
            return await self._refuse(log_fields, bot, 403, f"IP {remote_ip} is not allowed")
        if bot.hmac_secret:
            checked = verify(
                bot.hmac_secret, request.timestamp, request.signature, body, received_at
            )
            if not isinstance(checked, Verified):
                return await self._refuse(log_fields, bot, 401, checked)
            if not await alerts.remember_signature(checked.digest, bot.id, checked.expires_at):
                return await self._refuse(log_fields, bot, 401, "signature: already used (replay)")

        try:
            alert = parse_alert(body)
        except AlertError as exc:
            return await self._refuse(log_fields, bot, 400, exc.user_message, field=exc.field)
        if _holds(body, alert.passphrase):  # whatever it was sent under (an escaped key, say)
            log_fields["body"] = _logged_body(body, bot.passphrase, alert.passphrase)
        log_fields.update(
            alert=redacted_alert(alert, bot.passphrase),
            alert_id=alert.id,
            symbol=alert.symbol,
            action=alert.action.value,
        )

        if bot.passphrase and not hmac.compare_digest(
            (alert.passphrase or "").encode(), bot.passphrase.encode()
        ):
            return await self._refuse(log_fields, bot, 401, "passphrase: missing or wrong")

        if bot.max_alerts_per_minute and self.limiter is not None:
            cap = bot.max_alerts_per_minute
            wait = await self.limiter.take("bot", str(bot.id), cap / 60, cap)
            if wait is not None:
                self._tell_capped(bot, cap)
                answer = await self._refuse(
                    log_fields,
                    bot,
                    429,
                    f"over {cap} alerts per minute for bot {bot.name}",
                    notify=False,
                )
                return replace(answer, headers={"Retry-After": str(max(1, math.ceil(wait)))})

        price = None
        if alert.price is not None and alert.symbol in bot.symbols:
            price = (alert.symbol, alert.price, observed_at(alert, received_at), "alert")
            # Stops keep working while a bot is paused (kill switch) or waits for approval:
            # the price reaches the monitor whatever becomes of the alert itself.
            if bot.paused or bot.approval == "manual":
                await self.trading.observe_price(*price, bot_id=bot.id)
                price = None
        refusal = self._precheck(bot, alert, received_at)
        if refusal:
            # An alert with an id keeps a row of its own; others of a kind share one (SPEC §5).
            await self._log_refusal(
                log_fields, bot, 200, "rejected", refusal, shared=alert.id is None
            )
            log.info(
                "alert rejected bot=%s symbol=%s id=%s reason=%s",
                bot.name,
                alert.symbol,
                alert.id,
                refusal,
            )
            return _answer(200, "rejected", refusal, bot.name)

        dedup_key = f"{bot.id}:{alert.id}" if alert.id else None
        try:
            # An alert that will run has its price recorded with its row: one commit.
            log_id = await alerts.insert_webhook_log(
                **log_fields, dedup_key=dedup_key, status="received", price=price
            )
        except DuplicateKey:
            first = await alerts.webhook_log_by_dedup(dedup_key or "")
            seen = first.received_at.strftime("%Y-%m-%d %H:%M:%S UTC") if first else "earlier"
            reason = f"alert id {alert.id!r} already received at {seen}"
            await alerts.insert_webhook_log(
                **log_fields,
                http_status=200,
                status="duplicate",
                reason=reason,
                finished_at=received_at,
            )
            log.info("alert duplicate bot=%s symbol=%s id=%s", bot.name, alert.symbol, alert.id)
            return _answer(200, "duplicate", reason, bot.name)

        if bot.approval == "manual" and alert.action is not Action.TICK:
            # Nothing trades until someone approves the card in Telegram (or it expires).
            return IntakeAnswer(
                ACCEPTED, (await self.approvals.request(bot, alert, log_id)).answer()
            )
        return await self._execute(bot, alert, log_id, price_stored=price is not None)

    def _precheck(self, bot: BotConfig, alert: Alert, now: datetime) -> str | None:
        if bot.paused:
            return f"bot {bot.name} is paused"
        if alert.symbol not in bot.symbols:
            return (
                f"symbol {alert.symbol} is not traded by bot {bot.name} ({', '.join(bot.symbols)})"
            )
        if alert.time is not None:
            lag = (now - alert.time).total_seconds()
            if lag > bot.max_lag_seconds:
                return f"stale: alert fired {lag:.0f} s ago (max_lag {bot.max_lag_seconds} s)"
        return None

    async def _execute(
        self, bot: BotConfig, alert: Alert, log_id: int, *, price_stored: bool
    ) -> IntakeAnswer:
        started = time.perf_counter()
        late = asyncio.Event()
        task = asyncio.create_task(
            self._run(bot, alert, log_id, late, price_stored), name=f"alert-{log_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        done, _ = await asyncio.wait({task}, timeout=self.answer_timeout)
        if not done:
            late.set()
            # The task may have finished (and stored its outcome) since the wait gave up: only
            # a row still `received` becomes `accepted`, never a finished one.
            await self.stores.alerts.update_webhook_log(log_id, http_status=ACCEPTED)
            await self.stores.alerts.move_unfinished_log(log_id, ("received",), "accepted")
            log.info(
                "alert accepted, running on bot=%s symbol=%s log=%d", bot.name, alert.symbol, log_id
            )
            return _answer(ACCEPTED, "accepted", "executing in the background", bot.name)
        result = task.result()
        log.info(
            "alert %s bot=%s symbol=%s id=%s log=%d in %.1f ms reason=%s",
            result.status,
            bot.name,
            alert.symbol,
            alert.id,
            log_id,
            (time.perf_counter() - started) * 1000,
            result.reason,
        )
        return IntakeAnswer(200, result.answer())

    async def _run(
        self, bot: BotConfig, alert: Alert, log_id: int, late: asyncio.Event, price_stored: bool
    ) -> ExecutionResult:
        alert_log = AlertLog(log_id, late.is_set, price_stored=price_stored)
        result = await self.trading.run_stored_alert(bot, alert, log_id, alert_log)
        if not alert_log.finished:  # a fill writes its outcome on the row in its own commit
            order_id = result.order.get("id") if result.order else None
            # Only a row still running: never over the outcome a fill committed, nor over a
            # row another process's recovery took over.
            if not await self.stores.alerts.finish_alert_log(
                log_id,
                status=result.status,
                reason=result.reason,
                order_id=order_id,
                answered=alert_log.answer_code(),
            ):
                log.warning(
                    "alert log not finished here bot=%s log=%d outcome=%s: %s",
                    bot.name,
                    log_id,
                    result.status,
                    result.reason,
                )
        await check_position_sync(bot, alert, self.events, self.stores.positions)  # never raises
        if late.is_set():
            self.events.publish(
                LateExecution(
                    bot=bot.name,
                    symbol=alert.symbol,
                    status=result.status,
                    reason=result.reason,
                    webhook_log_id=log_id,
                )
            )
        return result

    async def _refuse(
        self,
        log_fields: dict[str, Any],
        bot: BotConfig | None,
        status: int,
        reason: str,
        *,
        notify: bool = True,
        **extra: Any,
    ) -> IntakeAnswer:
        secret = bot.passphrase if bot else None
        reason = redact(reason, [secret])
        answer = _answer(status, "rejected", reason, bot.name if bot else None, **extra)
        if notify:  # Telegram groups these per bot and minute, so every refusal is counted there
            self.events.publish(
                WebhookRefused(bot=bot.name if bot else None, http_status=status, reason=reason)
            )
        await self._log_refusal(
            log_fields, bot, status, "refused", reason, shared=True, field=extra.get("field")
        )
        log.info(
            "webhook refused status=%d bot=%s key=%s ip=%s reason=%s",
            status,
            bot.name if bot else "-",
            log_fields["key_hint"],
            log_fields["remote_ip"],
            reason,
        )
        return answer

    async def _log_refusal(
        self,
        log_fields: dict[str, Any],
        bot: BotConfig | None,
        status: int,
        state: str,
        reason: str,
        *,
        shared: bool,
        field: str | None = None,
    ) -> None:
        """The refusal's `webhook_logs` row: with `shared`, refusals of one kind (sender,
        answer, bot, kind of reason) within AGGREGATE_WINDOW add to the first one's
        `repeat_count` instead of writing a row each, so a flood cannot fill the disk."""
        now = time.monotonic()
        kind = (
            log_fields["remote_ip"],
            status,
            bot.id if bot else None,
            reason_kind(reason, field),
        )
        if shared:
            seen = self._aggregates.get(kind)
            if seen is not None and now - seen[1] < AGGREGATE_WINDOW:
                if await self.stores.alerts.bump_webhook_log(seen[0], log_fields["received_at"]):
                    return
        log_id = await self.stores.alerts.insert_webhook_log(
            **log_fields,
            http_status=status,
            status=state,
            reason=reason,
            finished_at=datetime.now(UTC),
        )
        if shared:
            self._aggregates.pop(kind, None)
            self._aggregates[kind] = (log_id, now)
            while len(self._aggregates) > MAX_AGGREGATES:
                self._aggregates.popitem(last=False)

    def _tell_capped(self, bot: BotConfig, cap: int) -> None:
        """Owners hear once per bot per CAP_NOTICE_INTERVAL that alerts are being dropped by
        the bot's cap: TradingView never retries a 429, so each of them is lost."""
        now = time.monotonic()
        last = self._capped_told.get(bot.id)
        if last is not None and now - last < CAP_NOTICE_INTERVAL:
            return
        self._capped_told[bot.id] = now
        self.events.publish(AlertsCapped(bot=bot.name, per_minute=cap))

    async def close(self) -> None:
        closer = getattr(self.limiter, "close", None)
        if closer is not None:
            await closer()

    async def drain(self, timeout: float = 10.0) -> None:
        """Let background executions finish before shutdown."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)


def redacted_alert(alert: Alert, secret: str | None = None) -> dict[str, Any]:
    """The alert as `webhook_logs.alert` keeps it: every secret-named field at any depth (the
    passphrase, an extra field's) and every occurrence of the known passphrases replaced."""
    data = alert.model_dump(mode="json", exclude_none=True)
    redacted: dict[str, Any] = redact_value(data, [secret, alert.passphrase])
    return redacted


def _holds(body: bytes, secret: str | None) -> bool:
    """Whether the kept part of `body` may hold `secret` (as it is, or JSON-escaped): only then
    is it redacted again with it (once per request is the rule on the alert's path)."""
    if not secret:
        return False
    kept = body[: MAX_LOGGED_BODY + 1024]
    return secret.encode() in kept or b"\\" in kept


def _logged_body(body: bytes, *secrets: str | None) -> str:
    # Redacted whole, then cut: a passphrase across the cut is still recognised as one. NUL
    # cannot be stored in a PostgreSQL text column: shown as U+FFFD like bad UTF-8.
    # (What is redacted is bounded too: the kept part and a margin for a secret across the cut.)
    text = redact(body[: MAX_LOGGED_BODY + 1024].decode("utf-8", "replace"), secrets)
    text = text[:MAX_LOGGED_BODY]
    return text.replace("\x00", "\ufffd")


_VARYING = re.compile(r"'[^']*'|\"[^\"]*\"|[0-9]+(?:\.[0-9]+)?")


def reason_kind(reason: str, field: str | None = None) -> str:
    """What makes two refusals "of the same kind" for aggregation: the field a 400 names, or
    the reason with the values it quotes (numbers, quoted text) taken out."""
    if field:
        return f"field:{field}"
    return _VARYING.sub("#", reason)[:120]
