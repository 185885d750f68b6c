"""Telegram inside the web server's process and loop: the Bot, the dispatcher, the notifier, and
either long polling (default) or the `/telegram/webhook` route.

`setup_telegram(app)` is called by `create_app` before the app is frozen, when Telegram is on: it
builds everything and adds the route and a cleanup context. Only then is this module (and with
it aiogram, ~120 MB resident) imported. Start-up never waits for Telegram: connecting (getMe,
setMyCommands, setWebhook or deleteWebhook + polling) runs in the background with retries, so
webhooks and trading work while Telegram is unreachable, and `/health` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import MenuButtonWebApp, Update, WebAppInfo
from aiogram.types.update import UpdateTypeLookupError
from aiogram.utils.token import TokenValidationError
from aiohttp import web
from pydantic import ValidationError

from bot.assembly import Assembly
from bot.config import ConfigError, Settings
from bot.fsm_storage import make_storage
from bot.leadership_runtime import LEADERSHIP
from bot.notifications import install_notifications
from bot.optimize_runner import optimize_service
from bot.resources import ASSEMBLY
from handlers.status import Status
from handlers.telegram.commands import bot_commands
from handlers.telegram.dashboard import dashboard_url, opens_in_telegram
from handlers.telegram.dialogue_store import GuardedStorage
from handlers.telegram.dispatcher import build_dispatcher
from handlers.telegram.middlewares import InFlight
from handlers.telegram.notifier import TelegramNotifier
from handlers.web.inputs import expect_handler
from handlers.web.keys import STATUS
from handlers.web.telegram_webhook import webhook_handler
from trading.access import AccessService
from trading.approvals import ApprovalService
from trading.control_events import ApprovalRequested
from trading.events import Event, EventBus, Lifecycle
from trading.leadership import CallDuty

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
MAX_CONNECT_DELAY = 60.0

TELEGRAM_BOT = web.AppKey("telegram_bot", Bot)


def make_telegram_bot(settings: Settings) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    try:
        return Bot(
            settings.telegram_token.get_secret_value(),
            session=session,
            default=DefaultBotProperties(parse_mode="HTML"),
        )
    except TokenValidationError:
        raise ConfigError(
            "TRADEBOT_TELEGRAM_TOKEN: not a bot token (expected 123456789:ABC...)"
        ) from None


class ApiHealth(BaseRequestMiddleware):
    """Every Bot API call tells /health whether Telegram answers."""

    def __init__(self, runtime: TelegramRuntime) -> None:
        self.runtime = runtime

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        telegram: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        try:
            response = await make_request(telegram, method)
        except (TelegramNetworkError, TelegramServerError) as exc:
            self.runtime.unreachable(type(exc).__name__)
            raise
        self.runtime.reachable()
        return response


class TelegramRuntime:
    def __init__(
        self,
        *,
        settings: Settings,
        telegram: Bot,
        own_telegram: bool,
        status: Status,
        events: EventBus,
        services: dict[str, Any],
    ) -> None:
        self.settings = settings
        self.telegram = telegram
        self.own_telegram = own_telegram
        self.status = status
        self.events = events
        self.access: AccessService = services["access"]
        self.approvals: ApprovalService = services["approvals"]
        self.inflight = InFlight()
        storage = make_storage(settings)
        if isinstance(storage, GuardedStorage):  # Redis: /health says how it last answered
            status.redis_probe = storage.health
        self.dispatcher: Dispatcher = build_dispatcher(
            storage=storage, inflight=self.inflight, **services
        )
        self.notifier = TelegramNotifier(telegram, self.access.recipients)
        self.webhook_mode = settings.telegram_mode == "webhook"
        # Polling mode: only while this process leads (one poller: Telegram answers 409 to a
        # second), unless this process polls a Bot API of its own (`tradebot chat`).
        self.poll_wanted = False
        self._username = ""
        self.accepting = False
        self._connected_detail = ""
        self._menu_told = False
        self._connect: asyncio.Task[None] | None = None
        self._polling: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timers: dict[int, asyncio.TimerHandle] = {}
        telegram.session.middleware(ApiHealth(self))

    # ------------------------------------------------------------ health

    def _set_status(self, state: str, detail: str) -> None:
        self.status.telegram = {"status": state, "detail": detail}

    def unreachable(self, why: str) -> None:
        self._set_status("down", f"Telegram unreachable ({why}) at {datetime.now(UTC):%H:%M} UTC")

    def reachable(self) -> None:
        if self._connected_detail and self.status.telegram.get("status") != "ok":
            self._set_status("ok", self._connected_detail)

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._set_status("down", "connecting to Telegram")
        await self.notifier.start()  # fed by `bot.notifications`
        self.events.subscribe(self)
        self.accepting = True
        self._connect = asyncio.create_task(self._connect_loop(), name="telegram-connect")
        self.events.publish(Lifecycle(what="started", detail=f"broker {self.settings.broker}"))

    async def _connect_loop(self) -> None:
        delay = 1.0
        while True:
            try:
                await self._connect_once()
                return
            except TelegramUnauthorizedError:
                self._set_status("down", "Telegram rejected TRADEBOT_TELEGRAM_TOKEN")
                log.error("telegram rejected the bot token; Telegram stays off")
                return
            except (TelegramNetworkError, TelegramServerError) as exc:
                self.unreachable(type(exc).__name__)
                log.warning("telegram unreachable (%s), retrying in %.0f s", exc, delay)
            except TelegramAPIError as exc:
                self._set_status("down", f"Telegram refused set-up: {exc.message}")
                log.error("telegram set-up refused: %s", exc.message)
                return
            await asyncio.sleep(delay)
            delay = min(MAX_CONNECT_DELAY, delay * 2)

    async def _connect_once(self) -> None:
        me = await self.telegram.me()
        await self.telegram.set_my_commands(bot_commands())
        await self._set_menu_button()
        if self.webhook_mode:
            if not self.settings.public_url:
                self._set_status("down", "webhook mode needs TRADEBOT_PUBLIC_URL")
                log.error("TRADEBOT_TELEGRAM_MODE=webhook needs TRADEBOT_PUBLIC_URL")
                return
            url = f"{self.settings.public_url}{WEBHOOK_PATH}"
            await self.telegram.set_webhook(
                url,
                secret_token=self.settings.webhook_secret(),
                allowed_updates=self.dispatcher.resolve_used_update_types(),
                drop_pending_updates=False,
            )
            self._connected_detail = f"webhook for @{me.username}"
        else:
            await self.telegram.delete_webhook(drop_pending_updates=False)
            self._username = me.username or ""
            self._connected_detail = self._polling_detail()
            if self.poll_wanted:
                self._start_polling()
        self._set_status("ok", self._connected_detail)
        log.info("telegram connected: %s", self._connected_detail)
        await self.approvals.expire_overdue()
        await self.access.forget_old_updates()

    async def _set_menu_button(self) -> None:
        """The chat's menu button opens the dashboard as a Mini App; Telegram opens those from
        https addresses only. A refusal here is no reason to keep the chat off."""
        public = self.settings.public_url
        if not opens_in_telegram(public):
            if not self._menu_told:
                self._menu_told = True
                log.info(
                    "telegram menu button left as it is: the dashboard opens inside Telegram "
                    "only from an https TRADEBOT_PUBLIC_URL (now %s)",
                    public or "unset",
                )
            return
        button = MenuButtonWebApp(text="Dashboard", web_app=WebAppInfo(url=dashboard_url(public)))
        try:
            await self.telegram.set_chat_menu_button(menu_button=button)
        except TelegramAPIError as exc:
            log.warning("telegram menu button not set: %s", exc.message)

    async def stop(self) -> None:
        self.accepting = False
        if self._connect is not None:
            self._connect.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connect
        await self.stop_polling()
        await asyncio.sleep(0)
        if not await self.inflight.wait_idle(10.0):
            log.warning("telegram updates still running at shutdown: %d", self.inflight.count)
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5.0)
        self.events.publish(Lifecycle(what="stopping"))
        # Do not hold shutdown for long retrying a Telegram that does not answer.
        await self.notifier.stop(timeout=5.0 if self.status.telegram["status"] == "ok" else 0.5)
        await self.dispatcher.storage.close()
        if self.own_telegram:
            await self.telegram.session.close()

    # ------------------------------------------------------------ polling (the leader's)

    def _polling_detail(self) -> str:
        if self.poll_wanted:
            return f"polling as @{self._username}"
        return f"connected as @{self._username}; the leader polls"

    def _refresh_detail(self) -> None:
        self._connected_detail = self._polling_detail()
        if self.status.telegram.get("status") == "ok":
            self._set_status("ok", self._connected_detail)

    def _start_polling(self) -> None:
        if self._polling is not None and not self._polling.done():
            return
        self._polling = asyncio.create_task(
            self.dispatcher.start_polling(
                self.telegram, handle_signals=False, close_bot_session=False
            ),
            name="telegram-polling",
        )
        log.info("telegram polling started as @%s", self._username)

    async def start_polling(self) -> None:
        """This process leads: poll (now, or once connected)."""
        self.poll_wanted = True
        if self._username:
            self._start_polling()
            self._refresh_detail()

    async def stop_polling(self) -> None:
        """Another process leads, or this one stops: the update being handled finishes."""
        self.poll_wanted = False
        polling, self._polling = self._polling, None
        if polling is not None:
            try:
                await self.dispatcher.stop_polling()
            except RuntimeError:  # stopping before polling got going
                polling.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(polling, 5.0)
            log.info("telegram polling stopped")
        if self._username:
            self._refresh_detail()

    # ------------------------------------------------------------ webhook mode

    def secret_matches(self, given: str) -> bool:
        expected = self.settings.webhook_secret().encode()
        return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected)

    def accept(self, data: Any) -> bool:
        try:
            update = Update.model_validate(data, context={"bot": self.telegram})
        except ValidationError:
            return False
        try:
            update.event_type  # noqa: B018 - raises for an update of a kind aiogram does not know
        except UpdateTypeLookupError:
            # A kind this version does not handle (or an empty update): acknowledged, so
            # Telegram does not redeliver it forever, and dropped.
            log.info("telegram update ignored update_id=%s: unknown kind", update.update_id)
            return True
        self._spawn(self._feed(update), f"telegram-update-{update.update_id}")
        return True

    async def _feed(self, update: Update) -> None:
        try:
            result = await self.dispatcher.feed_update(self.telegram, update)
            if isinstance(result, TelegramMethod):
                await self.dispatcher.silent_call_request(self.telegram, result)
        except Exception:
            log.exception("telegram update failed update_id=%s", update.update_id)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ approval expiry

    def publish(self, event: Event) -> None:
        """Expire an approval card when its bot's max_lag has passed."""
        if isinstance(event, ApprovalRequested) and self.accepting:
            delay = max(0.0, (event.expires_at - datetime.now(UTC)).total_seconds())
            self._timers[event.webhook_log_id] = asyncio.get_running_loop().call_later(
                delay + 0.05, self._expire, event.webhook_log_id
            )

    def _expire(self, log_id: int) -> None:
        self._timers.pop(log_id, None)
        self._spawn(self.approvals.expire(log_id), f"approval-expiry-{log_id}")


TELEGRAM_RUNTIME = web.AppKey("telegram_runtime", TelegramRuntime)


def telegram_services(assembly: Assembly, status: Status) -> dict[str, Any]:
    """What the chat's handlers receive by keyword (`Dispatcher(**services)`): the assembly's
    services, the very ones the read API and the CLI call."""
    return {
        "access": assembly.access,
        "control": assembly.control,
        "approvals": assembly.approvals,
        "reports": assembly.reports,
        "risk": assembly.risk,
        "second_factor": assembly.second_factor,
        "research": assembly.research,
        "optimizer": optimize_service(assembly),
        "dashboard_auth": assembly.dashboard_auth,
        "events": assembly.events,
        "app_status": status,
    }


def setup_telegram(app: web.Application, *, poll_always: bool = False) -> None:
    """Telegram on: a token is set, or a Bot given (`app[TELEGRAM_BOT]`). `create_app` calls it
    only then (`bot.app.setup_chat`), so a server without Telegram never imports aiogram.
    Polling is the leader's (`bot.leadership_runtime`), unless `poll_always` (`tradebot chat`,
    on a Bot API of its own)."""
    assembly = app[ASSEMBLY]
    settings = assembly.settings
    status = app[STATUS]
    given = app.get(TELEGRAM_BOT)
    runtime = TelegramRuntime(
        settings=settings,
        telegram=given or make_telegram_bot(settings),
        own_telegram=given is None,
        status=status,
        events=assembly.events,
        services=telegram_services(assembly, status),
    )
    app[TELEGRAM_RUNTIME] = runtime
    install_notifications(app, runtime.notifier)
    leadership = app[LEADERSHIP]
    if runtime.webhook_mode:
        app.router.add_post(WEBHOOK_PATH, webhook_handler(runtime), expect_handler=expect_handler)
    elif poll_always:
        runtime.poll_wanted = True
    else:
        leadership.add(CallDuty("telegram polling", runtime.start_polling, runtime.stop_polling))
    app.cleanup_ctx.append(_telegram)


async def _telegram(app: web.Application) -> AsyncIterator[None]:
    runtime = app[TELEGRAM_RUNTIME]
    await runtime.start()
    try:
        yield
    finally:
        await runtime.stop()
