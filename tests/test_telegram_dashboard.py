"""/app and /logout in the chat, and the menu button: the dashboard opens inside Telegram from an
https address, and a one-time sign-in link (previews off, private chats only) opens it anywhere."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.resources import ASSEMBLY
from tests.conftest import OWNER_ID, World
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram_helpers import REFUSAL, Chat, buttons
from trading.access import Role
from trading.dashboard_auth import DashboardAuth
from trading.errors import InvalidRequest

VIEWER = 222
STRANGER = 999
GROUP = -100500
MENU_BUTTON = {
    "type": "web_app",
    "text": "Dashboard",
    "web_app": {"url": "https://bot.example.com/app"},
}


async def chat_world(start_world: Callable[..., Any], **settings: Any) -> World:
    world: World = await start_world(telegram=True, **settings)
    assert world.telegram is not None
    await world.telegram.wait_for("deleteWebhook")  # connected: commands and menu button done
    return world


def auth(world: World) -> DashboardAuth:
    return world.server.app[ASSEMBLY].dashboard_auth


def token_in(text: str, base: str = "https://bot.example.com") -> str:
    match = re.search(re.escape(base) + r"/app/login/([A-Za-z0-9_\-]+)", text)
    assert match, text
    return match.group(1)


async def ask_for_app(chat: Chat) -> dict[str, Any]:
    """/app in `chat`: the params of the bot's answer."""
    text = await chat.say("/app", "dashboard")
    return [p for p in chat.fake.sent_messages(chat.id) if p["text"] == text][-1]


async def test_app_in_a_private_chat_gives_a_button_and_a_link_that_signs_in_once(
    start_world: Callable[..., Any],
) -> None:
    world = await chat_world(start_world)
    assert world.telegram is not None
    answer = await ask_for_app(Chat(world.telegram, OWNER_ID))

    assert answer["link_preview_options"] == {"is_disabled": True}  # a preview cannot use it
    assert "works once, within 10 minutes" in answer["text"]
    [button] = buttons(answer)
    assert button["text"] == "Open dashboard"
    assert button["web_app"] == {"url": "https://bot.example.com/app"}

    # Opened in a browser: the page's Sign in button posts it, once.
    path = f"/app/login/{token_in(answer['text'])}"
    async with world.http.post(world.url(path), allow_redirects=False) as response:
        assert (response.status, response.headers["Location"]) == (303, "/app")
        session = response.cookies["tradebot_session"].value
    async with world.http.get(
        world.url("/app/api/me"), headers={"X-Tradebot-Session": session}
    ) as response:
        assert response.status == 200
        assert (await response.json())["user"]["id"] == OWNER_ID
    async with world.http.post(world.url(path), allow_redirects=False) as response:
        assert response.status == 400
        assert "already used or has expired" in await response.text()


async def test_each_app_gives_a_new_link_with_the_users_own_role(
    start_world: Callable[..., Any],
) -> None:
    world = await chat_world(start_world)
    assert world.telegram is not None
    owner = Chat(world.telegram, OWNER_ID)
    await owner.say(f"/users grant {VIEWER} viewer", "is now viewer")
    viewer = Chat(world.telegram, VIEWER)
    first = token_in((await ask_for_app(viewer))["text"])
    second = token_in((await ask_for_app(viewer))["text"])
    assert first != second
    signed_in = await auth(world).redeem(second)
    assert (signed_in.actor.user_id, signed_in.actor.role) == (VIEWER, Role.VIEWER)
    with pytest.raises(InvalidRequest, match="already used or has expired"):
        await auth(world).redeem(second)
    assert (await auth(world).redeem(first)).actor.user_id == VIEWER  # the older one still works


@pytest.mark.parametrize(
    ("public_url", "base"),
    [("http://bot.example.com", "http://bot.example.com"), ("", "http://127.0.0.1:8080")],
)
async def test_without_an_https_public_url_there_is_only_the_link(
    start_world: Callable[..., Any], public_url: str, base: str
) -> None:
    world = await chat_world(start_world, public_url=public_url)
    assert world.telegram is not None
    answer = await ask_for_app(Chat(world.telegram, OWNER_ID))
    assert buttons(answer) == []  # Telegram opens Mini Apps from https addresses only
    assert "https TRADEBOT_PUBLIC_URL" in answer["text"]  # the owner is told why
    assert answer["link_preview_options"] == {"is_disabled": True}
    signed_in = await auth(world).redeem(token_in(answer["text"], base))
    assert signed_in.actor.user_id == OWNER_ID


async def test_app_in_a_group_gives_no_link(start_world: Callable[..., Any]) -> None:
    world = await chat_world(start_world)
    assert world.telegram is not None
    group = Chat(world.telegram, OWNER_ID, chat_id=GROUP)
    text = await group.say("/app", "private chat")
    assert "/app/login/" not in text and "@tradebot_test_bot" in text
    assert buttons(world.telegram.sent_messages(GROUP)[-1]) == []


async def test_a_user_without_a_role_gets_the_usual_refusal(
    start_world: Callable[..., Any],
) -> None:
    world = await chat_world(start_world)
    assert world.telegram is not None
    stranger = Chat(world.telegram, STRANGER)
    for command in ("/app", "/logout"):
        reply = await stranger.say(command, REFUSAL)
        assert "/app/login/" not in reply
    assert len(stranger.sent()) == 2


async def test_logout_ends_every_dashboard_session_of_the_user(
    start_world: Callable[..., Any],
) -> None:
    world = await chat_world(start_world)
    assert world.telegram is not None
    owner = Chat(world.telegram, OWNER_ID)
    sessions = [
        (await auth(world).redeem(token_in((await ask_for_app(owner))["text"]))).session.token
        for _ in range(2)
    ]
    assert "/logout" in await owner.say("/help", "Commands")

    assert "2 sessions ended" in await owner.say("/logout", "Signed out")
    for token in sessions:
        assert await auth(world).resolve(token) is None
    assert "no dashboard sessions" in await owner.say("/logout", "no dashboard sessions")


async def test_menu_button_opens_the_dashboard_with_an_https_public_url(
    start_world: Callable[..., Any],
) -> None:
    world = await chat_world(start_world)
    assert world.telegram is not None
    [call] = world.telegram.calls_of("setChatMenuButton")
    assert "chat_id" not in call.params  # every private chat's
    assert call.params["menu_button"] == MENU_BUTTON


@pytest.mark.parametrize("public_url", ["http://bot.example.com", ""])
async def test_menu_button_is_left_alone_without_https(
    start_world: Callable[..., Any], public_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="bot.telegram_runtime")
    world = await chat_world(start_world, public_url=public_url)
    assert world.telegram is not None
    assert world.telegram.calls_of("setChatMenuButton") == []
    assert any("https TRADEBOT_PUBLIC_URL" in r.getMessage() for r in caplog.records)


@pytest.fixture
async def refusing_api() -> AsyncIterator[FakeTelegramAPI]:
    """A Bot API that refuses the first setChatMenuButton (set up before the app connects)."""
    async with FakeTelegramAPI(max_poll_wait=0.5) as fake:
        fake.fail_next("setChatMenuButton", 400, description="Bad Request: BUTTON_URL_INVALID")
        yield fake


async def test_a_refused_menu_button_does_not_keep_the_chat_off(
    refusing_api: FakeTelegramAPI,  # first: it outlives the app
    start_world: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    await start_world(
        telegram_token="42:TEST-TOKEN-abcdef",
        telegram_api_url=refusing_api.url,
        telegram_admins=[OWNER_ID],
    )
    await refusing_api.wait_for("deleteWebhook")
    [refused] = refusing_api.failed_calls
    assert refused.method == "setChatMenuButton"
    assert "you are" in await Chat(refusing_api, OWNER_ID).say("/start", "you are")
    assert any("menu button not set" in r.getMessage() for r in caplog.records)
