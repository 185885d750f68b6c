"""The dashboard in a real browser (Debian's chromium, driven by Playwright's Python client): a
new user signs in by a one-time link, sees a position a webhook opened appear without reloading,
closes it after confirming, and finds it among the trades, on a 360-px phone and on a desktop;
another site's form cannot close a position; no request leaves the server's own host.

Without a browser this test skips, saying so; `.ci/run` installs chromium and sets
TRADEBOT_REQUIRE_BROWSER=1, which turns the skip into a failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.resources import ASSEMBLY
from tests.conftest import World
from tests.test_dashboard_api import TRADER_ID, grant
from tests.waiting import until

CHROMIUM = os.environ.get("TRADEBOT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
REQUIRED = os.environ.get("TRADEBOT_REQUIRE_BROWSER") == "1"
WAIT = 15_000  # ms: the page's live stream shows a fill within the feed's refresh (2 s)


def _browser_or_skip() -> None:
    missing = []
    if not os.path.exists(CHROMIUM):
        missing.append(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package is not installed (make test installs it)")
    if missing:
        message = "; ".join(missing)
        if REQUIRED:
            pytest.fail(f"TRADEBOT_REQUIRE_BROWSER=1 but {message}")
        pytest.skip(message)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    _browser_or_skip()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield chromium
        finally:
            await chromium.close()


SIZES = {
    "phone": {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True},
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}
# Outside Telegram the page follows the system's scheme: a light phone, a dark desktop.
SCHEMES = {"phone": "light", "desktop": "dark"}


def luminance(css: str) -> float:
    """0 (black) to 1 (white), from `rgb(r, g, b)`."""
    r, g, b = (int(part) for part in css[css.index("(") + 1 : css.index(")")].split(",")[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


async def cli_login_link(world: World, origin: str) -> str:
    """`tradebot login-link` in its own process, on the world's database and public URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBOT_")}
    env |= {"TRADEBOT_DATABASE_URL": world.settings.database_url, "TRADEBOT_PUBLIC_URL": origin}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "login-link",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(120):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    link = out.decode().splitlines()[0]
    assert link.startswith(f"{origin}/app/login/"), out
    return link


@pytest.mark.parametrize("size", list(SIZES))
async def test_sign_in_see_a_webhook_position_live_close_it_and_find_the_trade(
    start_world: Callable[..., Any], browser: Any, size: str
) -> None:
    from playwright.async_api import expect

    world: World = await start_world(public_url="")
    await world.add_bot("demo")
    origin = world.url("/").rstrip("/")
    link = await cli_login_link(world, origin)  # as the host's operator would: the local owner

    context = await browser.new_context(**SIZES[size], color_scheme=SCHEMES[size])
    page = await context.new_page()
    elsewhere: list[str] = []
    page.on(
        "request",
        lambda request: None if request.url.startswith(origin) else elsewhere.append(request.url),
    )
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    await page.goto(world.url("/app"))
    await expect(page.get_by_test_id("signin-help")).to_be_visible(timeout=WAIT)

    await page.goto(link)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(world.url("/app"))
    await expect(page.get_by_test_id("live-status")).to_have_text("live", timeout=WAIT)
    await expect(page.get_by_test_id("position-row")).to_have_count(0)
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert (luminance(background) < 0.5) == (SCHEMES[size] == "dark"), background

    status, answer = await world.send_alert(action="buy", price="100")
    assert status == 200 and answer["status"] == "executed", answer
    row = page.get_by_test_id("position-row")
    await expect(row).to_have_count(1, timeout=WAIT)  # pushed: the page was not reloaded
    await expect(row).to_contain_text("BTCUSDT")

    if size == "phone":
        overflow = await page.evaluate(
            "document.scrollingElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"the page is {overflow} px wider than a 360-px phone"
    await page.screenshot(path=f"/tmp/dashboard-{size}.png", full_page=True)

    await row.get_by_test_id("close-button").click()
    await page.get_by_test_id("confirm-yes").click()
    await expect(page.get_by_test_id("position-row")).to_have_count(0, timeout=WAIT)
    trade = page.get_by_test_id("trade-row").first
    await expect(trade).to_contain_text("BTCUSDT", timeout=WAIT)
    assert await world.server.app[ASSEMBLY].control.positions() == []

    await context.close()
    assert not elsewhere, f"requests left the server's host: {elsewhere}"
    assert not errors, errors


async def test_another_sites_form_cannot_close_a_position(
    start_world: Callable[..., Any], browser: Any
) -> None:
    """The user is signed in and visits another page on the same host (another port: the same
    site, so the browser does send the SameSite cookie) whose form posts to the Close URL: our
    own checks refuse it (403: no CSRF token, a foreign Origin) and the position stays open."""
    world: World = await start_world(public_url="")
    await world.add_bot("demo")
    trader = await grant(world, TRADER_ID, "trader")
    link = await world.server.app[ASSEMBLY].dashboard_auth.login_link(trader)
    await world.send_alert(action="buy", price="100")
    [position] = await world.server.app[ASSEMBLY].control.positions()
    close = world.url(f"/app/api/positions/{position.id}/close")

    async def evil(request: web.Request) -> web.Response:
        return web.Response(
            text=f'<form id="f" method="post" action="{close}"></form>'
            '<script>document.getElementById("f").submit()</script>',
            content_type="text/html",
        )

    attacker = web.Application()
    attacker.router.add_get("/", evil)
    other = TestServer(attacker, host="127.0.0.1")
    await other.start_server()
    try:
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(world.url(f"/app/login/{link.token}"))
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url("**/app")
        answers: list[tuple[int, str]] = []

        async def seen(response: Any) -> None:
            if "/close" in response.url:
                answers.append((response.status, await response.text()))

        page.on("response", seen)
        await page.goto(str(other.make_url("/")))
        await page.wait_for_url("**/close", timeout=WAIT)
        await page.wait_for_load_state()
        await until(lambda: answers, "the answer to the forged close", 10)
        status, body = answers[-1]
        assert status == 403, (status, body)  # the cookie came along; our checks refused
        assert json.loads(body)["field"] in ("Origin", "X-Tradebot-CSRF"), body
        assert [p.id for p in await world.server.app[ASSEMBLY].control.positions()] == [position.id]
        await context.close()
    finally:
        await other.close()


# What a Telegram client hands a Mini App: signed initData and its theme in the URL fragment; the
# app talks back through TelegramWebviewProxy (here: every popup is answered "ok" at once).
TELEGRAM_CLIENT = """
window.__telegram = [];
window.TelegramWebviewProxy = { postEvent(type, data) {
  window.__telegram.push(type);
  if (type === 'web_app_open_popup') setTimeout(() =>
    window.Telegram.WebView.receiveEvent('popup_closed', {button_id: 'ok'}), 50);
} };
"""
DARK = {"bg_color": "#17212b", "text_color": "#f5f5f5", "hint_color": "#708499",
        "button_color": "#5288c1", "button_text_color": "#ffffff",
        "secondary_bg_color": "#232e3c", "section_bg_color": "#17212b"}  # fmt: skip


async def test_inside_telegram_the_mini_app_signs_in_by_init_data_and_closes_natively(
    start_world: Callable[..., Any], browser: Any
) -> None:
    from playwright.async_api import expect

    from tests.test_dashboard_api import init_data

    world: World = await start_world(telegram=True, public_url="")
    await world.add_bot("demo")
    await grant(world, TRADER_ID, "trader")

    def fragment(data: str) -> str:
        return urlencode(
            {"tgWebAppData": data, "tgWebAppVersion": "8.0", "tgWebAppPlatform": "android",
             "tgWebAppThemeParams": json.dumps(DARK)}
        )  # fmt: skip

    # A plain browser opening a link that carries someone's sign-in data: ignored, not signed in.
    plain = await browser.new_context()
    tab = await plain.new_page()
    posted: list[str] = []
    tab.on("request", lambda r: posted.append(r.url) if r.url.endswith("/session") else None)
    await tab.goto(world.url("/app") + "#" + fragment(init_data(TRADER_ID)))
    await expect(tab.get_by_test_id("signin-help")).to_be_visible(timeout=WAIT)
    assert not posted, posted
    await plain.close()

    context = await browser.new_context(**SIZES["phone"], color_scheme="light")
    await context.add_init_script(TELEGRAM_CLIENT)
    page = await context.new_page()
    stale = init_data(TRADER_ID, age=25 * 3600)
    for forged in (init_data(TRADER_ID).replace("alice", "mallory"), stale):
        await page.goto(world.url("/app") + "#" + fragment(forged))
        await expect(page.get_by_test_id("signin-help")).to_be_visible(timeout=WAIT)
        await page.goto("about:blank")  # the next differs only after '#': load it afresh

    await page.goto(world.url("/app") + "#" + fragment(init_data(TRADER_ID)))
    await expect(page.get_by_test_id("live-status")).to_have_text("live", timeout=WAIT)
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    # Telegram's dark theme (its secondary background behind the cards), not the system's light
    assert background == "rgb(35, 46, 60)", background
    await world.send_alert(action="buy", price="100")
    row = page.get_by_test_id("position-row")
    await expect(row).to_have_count(1, timeout=WAIT)
    await row.get_by_test_id("close-button").click()  # Telegram's own confirm popup, answered ok
    await expect(page.get_by_test_id("position-row")).to_have_count(0, timeout=WAIT)
    assert "web_app_open_popup" in await page.evaluate("window.__telegram")
    assert "web_app_ready" in await page.evaluate("window.__telegram")
    assert await world.server.app[ASSEMBLY].control.positions() == []
    await context.close()
