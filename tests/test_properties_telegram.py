"""Hostile arguments for every Telegram command that takes some (SPEC §8, issue 6 §5), through
the real bot: real aiogram polling the fake Bot API, real updates, the real database.

Whatever the owner types, the bot answers that chat politely: no unhandled error ("Something
went wrong", an error notification), no HTML Telegram would refuse, nothing over Telegram's
4096-character limit, and nothing changed when the input is refused. Hypothesis generates the
inputs; one world per test serves every example (see `run_examples`)."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from db.models import CurrentPosition, Order, StrategyConfig, TradingBot, User
from handlers.telegram.reports import _count
from handlers.telegram.research import _symbol
from handlers.telegram.users import _user_id
from tests.conftest import OWNER_ID, World
from tests.examples import run_examples
from tests.fakes.telegram_api import Call, FakeTelegramAPI
from tests.telegram_helpers import Chat, text_of
from trading.alerts import parse_decimal
from trading.approvals import parse_qty
from trading.backtest.history import parse_request
from trading.bots import parse_size
from trading.control import EDITABLE, check_field
from trading.errors import InvalidRequest, TradingError
from trading.levels import Level

MAX_TEXT = 4096  # Telegram's limit for a message's text, after entities are parsed
MAX_CAPTION = 1024
CRASH_MARKS = ("Something went wrong", "Error in telegram", "Traceback")

# ---------------------------------------------------------------- what Telegram accepts

# https://core.telegram.org/bots/api#html-style
TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
        "code", "pre", "blockquote", "tg-emoji"}  # fmt: skip
_TAG = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:=(?:\"[^\"<]*\"|'[^'<]*'|[^\s>\"'<]+))?)*)"
    r"\s*>"
)
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#x[0-9a-fA-F]{1,6}|lt|gt|amp|quot);")


def telegram_html_problem(text: str, limit: int = MAX_TEXT) -> str | None:
    """Why Telegram would refuse `text` sent with parse_mode HTML, or None. Every <, > and & not
    part of a supported tag or an entity must be escaped; tags must nest; the parsed text must
    be 1-`limit` characters (UTF-16 code units, as Telegram counts)."""
    stack: list[str] = []
    plain: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "<":
            tag = _TAG.match(text, i)
            if tag is None:
                return f"unescaped '<' at {i}: {text[i : i + 30]!r}"
            closing, name = tag.group(1), tag.group(2).lower()
            if name not in TAGS:
                return f"unsupported tag <{name}>"
            if closing:
                if not stack or stack[-1] != name:
                    return f"unbalanced </{name}> (open: {stack})"
                stack.pop()
            else:
                stack.append(name)
            i = tag.end()
        elif char == "&":
            entity = _ENTITY.match(text, i)
            if entity is None:
                return f"unescaped '&' at {i}: {text[i : i + 30]!r}"
            plain.append(html.unescape(entity.group(0)))
            i = entity.end()
        elif char == ">":
            return f"unescaped '>' at {i}: {text[max(0, i - 20) : i + 10]!r}"
        else:
            plain.append(char)
            i += 1
    if stack:
        return f"unclosed tags {stack}"
    parsed = "".join(plain)
    if not parsed.strip():
        return "empty after parsing"
    length = len(parsed.encode("utf-16-le")) // 2
    if length > limit:
        return f"{length} characters after parsing, over Telegram's {limit}"
    return None


def test_the_html_oracle_itself_refuses_what_telegram_refuses() -> None:
    """The checks below are only as good as this oracle: it must be able to fail."""
    assert telegram_html_problem("<b>ok</b> &amp; &lt;tag&gt; &#x27; <code>x</code>") is None
    assert telegram_html_problem('<a href="https://x.y/?a=1&amp;b=2">x</a>') is None
    for bad in ("a < b", "a & b", "<b>x", "</b>", "<b><i>x</b></i>", "<script>x</script>",
                "x > y", "<b></b>", "&nbsp;", "<pre>" + "x" * 4097 + "</pre>"):  # fmt: skip
        assert telegram_html_problem(bad) is not None, bad


# ---------------------------------------------------------------- inputs

SPECIAL = [
    "<b>", "</b>", "<i>x</i>", "<script>", "<a href='javascript:x'>", "&", "&amp;", "&lt;",
    "&#0;", "<", ">", "_", "*", "**", "`", "```", "[x](y)", "~", "|", "\\", "\"", "'", "%s",
    "{}", "{{ticker}}", "\u202e", "\u200b", "\ufeff", "\u00a0", "\u3000", "🚀", "👨‍👩‍👧",
    "\u0301", "ß", "İ", "ǅ", "\n", "\t", "\r", "\x00", "\x7f", "#", "@", "@tradebot_test_bot",
    "null", "None", "true", "-", "--", "=", "==", "k=v", "=v", "k=",
]  # fmt: skip
NUMBERS = [
    "0", "-1", "-0", "+5", "1.5", "1e400", "-1e400", "9" * 30, "9" * 400, "NaN", "nan", "inf",
    "-inf", "Infinity", "0x10", "1_000", "1,5", "\u00b2", "\u0661\u0662", "\uff15", "Ⅻ", "𝟓",
    "1e-999999999", "1e999999999", "5%", "-2%", "100%", "2%%", "1" + "0" * 20,
]  # fmt: skip
WORDS = [
    "demo", "DEMO", "demo2", "BTCUSDT", "BINANCE:BTCUSDT", "btc/usdt", "ETHUSDT", "rsi", "macd",
    "signal", "ma_cross", "bollinger", "grant", "revoke", "owner", "trader", "viewer", "on",
    "off", "period=14", "sl=2%", "size=10%", "cash=1e400", "fee_bps=-5", "period=0",
    "period=99999999999999999999", "oversold=nan", "k=inf", "direction=sideways", "#1", "1",
    "222", str(OWNER_ID),
]  # fmt: skip

# Telegram delivers valid UTF-8 only: no lone surrogates.
any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=24)
words = st.one_of(st.sampled_from(SPECIAL + NUMBERS + WORDS), any_text)
arguments = st.one_of(
    st.just(""),
    st.lists(words, min_size=1, max_size=6).map(" ".join),
    st.lists(words, min_size=1, max_size=3).map("".join),
    # very long: up to the whole message
    st.builds(
        lambda unit, n: (unit * n)[:n],
        st.sampled_from(SPECIAL + WORDS + NUMBERS),
        st.integers(min_value=200, max_value=MAX_TEXT),
    ),
)

# Commands that take arguments (SPEC §8, handlers/telegram/commands.py), and read-only ones that
# take none (extra arguments must not break them either).
WITH_ARGS = ["bot", "close", "trades", "daily", "weekly", "alerts", "alerttemplate", "backtest",
             "chart", "users", "notify", "totp"]  # fmt: skip
WITHOUT_ARGS = ["start", "help", "status", "positions", "closeall", "pnl", "performance",
                "balance", "risk", "bots", "health", "app", "logout", "cancel"]  # fmt: skip


@st.composite
def commands(draw: st.DrawFn, names: list[str]) -> str:
    name = draw(st.sampled_from(names))
    mention = draw(st.sampled_from(["", "", "", "@tradebot_test_bot", "@other_bot"]))
    gap = draw(st.sampled_from([" ", " ", "  ", "\n", "\t", "\u00a0"]))
    args = draw(arguments)
    return (f"/{name}{mention}" + (gap + args if args else ""))[:MAX_TEXT]


# ---------------------------------------------------------------- driving the bot


def to_chat(chat_id: int) -> Callable[[dict[str, Any]], bool]:
    return lambda params: params.get("chat_id") == chat_id


def outputs(fake: FakeTelegramAPI, chat_id: int) -> list[Call]:
    """Everything the bot sent to a chat: messages and pictures."""
    return [
        c
        for c in fake.calls
        if c.method.lower() in ("sendmessage", "sendphoto", "senddocument")
        and c.params.get("chat_id") == chat_id
    ]


def mark(fake: FakeTelegramAPI, chat_id: int) -> dict[str, int]:
    """How many messages and pictures the bot has sent to `chat_id` so far."""
    return {
        method: len([c for c in fake.calls_of(method) if c.params.get("chat_id") == chat_id])
        for method in ("sendMessage", "sendPhoto")
    }


async def next_output(
    fake: FakeTelegramAPI, chat_id: int, since: dict[str, int], timeout: float = 20.0
) -> Call:
    """The first message or picture the bot sent to `chat_id` after `since` (a `mark`)."""
    waits = [
        asyncio.create_task(fake.wait_for(m, to_chat(chat_id), count=n + 1, timeout=timeout))
        for m, n in since.items()
    ]
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    calls = done.pop().result()
    return calls[-1]


async def send(fake: FakeTelegramAPI, text: str) -> Call:
    """The owner says `text`; returns the bot's first output in answer."""
    since = mark(fake, OWNER_ID)
    fake.push_message(OWNER_ID, text)
    return await next_output(fake, OWNER_ID, since)


def problem_with(call: Call) -> str | None:
    """Why this output is not a polite, valid reply, or None."""
    if call.method.lower() == "sendphoto":
        caption = str(call.params.get("caption") or "")
        return telegram_html_problem(caption, MAX_CAPTION) if caption else None
    text = str(call.params.get("text", ""))
    if any(mark in text for mark in CRASH_MARKS):
        return f"an unhandled error: {text[:200]!r}"
    if str(call.params.get("parse_mode", "")).upper() == "HTML":
        return telegram_html_problem(text)
    if not text.strip() or len(text.encode("utf-16-le")) // 2 > MAX_TEXT:
        return f"not sendable: {len(text)} characters"
    return None


async def state() -> dict[str, Any]:
    """What a refused command must leave as it was."""
    return {
        "bots": await TradingBot.all().order_by("id").values(),
        "strategies": await StrategyConfig.all().order_by("id").values(),
        "positions": await CurrentPosition.all().order_by("id").values(),
        "orders": await Order.all().order_by("id").values("id", "status", "qty"),
        "users": await User.all().order_by("id").values("telegram_id", "role", "notify"),
    }


def changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [name for name in before if before[name] != after[name]]


async def telegram_world(start_world: Callable[..., Any]) -> tuple[World, Chat]:
    world: World = await start_world(telegram=True)
    await world.add_bot("demo", sl="2%")
    assert world.telegram is not None
    await world.telegram.wait_for("setMyCommands")
    fake, owner = world.telegram, Chat(world.telegram, OWNER_ID)
    # Something to close and to report on: an open position and a closed trade.
    for action in ("buy", "close", "buy"):
        status, answer = await world.send_alert(action=action, price="100", qty="0.5")
        assert status == 200 and answer["status"] == "executed", answer
    # The notifications those sent arrive on their own time: wait for them, then switch off
    # all but errors, so that what the bot sends next is the answer to what the owner says.
    await fake.wait_for("sendMessage", text_of(lambda t: "Tradebot started" in t))
    await fake.wait_for("sendMessage", text_of(lambda t: t.startswith("🟢 Opened")), count=2)
    await fake.wait_for("sendMessage", text_of(lambda t: "Closed ·" in t))
    await owner.say("/notify", "Notifications")
    for kind in ("trades", "stops", "refusals", "system"):
        await owner.press(f"✅ {kind}")
    return world, owner


async def no_crash_anywhere(fake: FakeTelegramAPI) -> None:
    """After a sentinel command is answered: no error notification or failed call anywhere."""
    owner = Chat(fake, OWNER_ID)
    await owner.say("/help", "Commands")
    for call in fake.calls:
        text = str(call.params.get("text", "")) + str(call.params.get("caption", ""))
        assert not any(mark in text for mark in CRASH_MARKS), text[:300]
    assert not fake.failed_calls, [(c.method, c.description) for c in fake.failed_calls]


async def feed(world: World, texts: st.SearchStrategy[str], max_examples: int) -> dict[str, int]:
    """Send each generated text as the owner and check the reply; returns reply kinds seen."""
    fake = world.telegram
    assert fake is not None
    seen: dict[str, int] = {}

    async def check(text: str) -> None:
        before = await state()
        reply = await send(fake, text)
        problem = problem_with(reply)
        assert problem is None, f"{text[:120]!r} -> {problem}"
        answer = str(reply.params.get("text") or reply.params.get("caption") or "")
        kind = answer.split(maxsplit=1)[0] if answer else reply.method
        seen[kind] = seen.get(kind, 0) + 1
        if not answer.startswith("✅"):  # refused or read-only: nothing changed
            after = await state()
            assert not changed(before, after), f"{text[:120]!r} changed {changed(before, after)}"

    await asyncio.to_thread(
        run_examples, asyncio.get_running_loop(), texts, check, max_examples=max_examples
    )
    await no_crash_anywhere(fake)
    return seen


# ---------------------------------------------------------------- through the bot


async def test_hostile_arguments_to_every_command_get_a_polite_valid_reply(
    start_world: Callable[..., Any],
) -> None:
    world, _ = await telegram_world(start_world)
    seen = await feed(world, commands(WITH_ARGS), max_examples=120)
    assert seen.get("⚠️", 0) > 0  # the generator does reach the refusals


async def test_extra_arguments_to_commands_without_any_change_nothing(
    start_world: Callable[..., Any],
) -> None:
    world, _ = await telegram_world(start_world)
    await feed(world, commands(WITHOUT_ARGS), max_examples=50)


async def test_plain_hostile_text_outside_a_command_gets_a_hint(
    start_world: Callable[..., Any],
) -> None:
    world, _ = await telegram_world(start_world)
    texts = arguments.filter(lambda t: t.strip() != "" and not t.startswith("/"))
    await feed(world, texts, max_examples=30)


@pytest.mark.parametrize(
    "text",
    [
        "/bot " + "<b>&" * 1100,  # echoed back in "no bot named ..." (over 4096 characters)
        "/alerttemplate " + "x" * 4090,
        "/users grant 5 " + "<i>" * 1400,  # a role that is not one, echoed back
        "/close " + "9" * 4090,  # "position #999… is already closed"
        "/trades \u00b2",  # a digit to str.isdigit(), not to int()
        "/daily \u0661\u0662",  # Arabic-Indic 12
        "/alerts 𝟓",
        "/users revoke " + "9" * 40,  # over SQLite's 64-bit INTEGER
        "/users grant " + "9" * 4000 + " viewer",
        "/users revoke \u00b2",
        "/chart " + "BTCUSDT " * 500,
        "/backtest rsi " + "<b>" * 1000,
        "/backtest " + "x=1 " * 1000,
    ],
)
async def test_known_hostile_arguments_get_a_polite_refusal(
    start_world: Callable[..., Any], text: str
) -> None:
    world, _ = await telegram_world(start_world)
    assert world.telegram is not None
    before = await state()
    reply = await send(world.telegram, text[:MAX_TEXT])
    assert problem_with(reply) is None, problem_with(reply)
    assert str(reply.params.get("text", "")).startswith("⚠️"), reply.params
    assert not changed(before, await state())
    await no_crash_anywhere(world.telegram)


async def test_close_with_a_superscript_digit_or_a_long_name_is_refused_politely(
    start_world: Callable[..., Any],
) -> None:
    _, owner = await telegram_world(start_world)
    before = await state()
    for text in ("/close \u00b2", "/close #\u0661", "/close " + "x" * 65, "/close " + "9" * 4000):
        reply = await owner.say(text[:MAX_TEXT], "⚠️")
        assert telegram_html_problem(reply) is None, reply
    assert not changed(before, await state())
    await no_crash_anywhere(owner.fake)


# ---------------------------------------------------------------- dialogues


NEWBOT_STEPS = [  # (a valid answer, what the next question says)
    ("hostile-bot", "Symbol?"),
    ("BTCUSDT", "Strategy?"),
    ("signal", "Order size?"),
    ("0.01", "Direction?"),
    ("both", "Pyramiding"),
    ("2", "Stop-loss and take-profit?"),
]


async def test_hostile_answers_in_the_newbot_dialogue_are_refused_and_ask_again(
    start_world: Callable[..., Any],
) -> None:
    """At every step a hostile answer gets a polite refusal and the same question stays open;
    the valid answer then moves on, and the bot made at the end is the one answered."""
    world, owner = await telegram_world(start_world)
    fake = world.telegram
    assert fake is not None
    await owner.say("/newbot", "Name?")
    answers = st.one_of(
        arguments.filter(lambda t: t.strip() != "" and not t.startswith("/")),
        st.sampled_from(NUMBERS + SPECIAL).filter(lambda t: t.strip() not in ("", "-")),
    )
    step_answers = [
        ("name", answers),
        ("symbols", answers),
        ("strategy", answers),
        ("size", st.one_of(answers, st.sampled_from(["1e30", "1e-30", "1e999999", "0.0", "-5"]))),
        ("direction", answers),
        ("max_entries", answers),
    ]
    bots_before = await TradingBot.all().count()
    for (valid, next_question), (_, hostile) in zip(NEWBOT_STEPS, step_answers, strict=True):

        async def check(text: str, valid: str = valid) -> None:
            reply = await send(fake, text[:MAX_TEXT])
            assert problem_with(reply) is None, (text[:80], problem_with(reply))
            answer = str(reply.params["text"])
            if not answer.startswith("⚠️"):
                # Accepted after all (some hostile texts are valid answers): go back one step by
                # starting over and answering up to here again.
                await restart_up_to(owner, valid)

        await asyncio.to_thread(
            run_examples, asyncio.get_running_loop(), hostile, check, max_examples=12
        )
        await owner.say(valid, next_question)
    await owner.say("2% 4%", "created")
    assert await TradingBot.all().count() == bots_before + 1
    made = await TradingBot.get(name="hostile-bot")
    assert (made.symbols, made.strategy, made.direction, made.max_entries) == (
        ["BTCUSDT"], "signal", "both", 2,
    )  # fmt: skip
    assert made.size_value == Decimal("0.01") and (made.sl, made.tp) == ("2%", "4%")
    await no_crash_anywhere(fake)


async def restart_up_to(owner: Chat, upto: str) -> None:
    """Start /newbot again and give the valid answers before the step answered `upto`."""
    await owner.say("/newbot", "Name?")
    for valid, question in NEWBOT_STEPS:
        if valid == upto:
            return
        await owner.say(valid, question)


async def edit_field(owner: Chat, field: str) -> None:
    """Open demo's card, press Edit and the field: the bot asks for the new value."""
    await owner.say("/bot demo", "demo")
    await owner.press("Edit")
    since = mark(owner.fake, OWNER_ID)
    await owner.press(field.replace("_", " "))
    question = await next_output(owner.fake, OWNER_ID, since)
    assert "/cancel to stop" in question.params["text"], question.params


@pytest.mark.parametrize("field", sorted(EDITABLE))
async def test_hostile_values_when_editing_a_bot_field_are_refused_and_change_nothing(
    start_world: Callable[..., Any], field: str
) -> None:
    world, owner = await telegram_world(start_world)
    fake = world.telegram
    assert fake is not None
    hostile = st.one_of(
        arguments.filter(lambda t: t.strip() != "" and not t.startswith("/")),
        st.sampled_from(NUMBERS + SPECIAL).filter(lambda t: t.strip() != ""),
    )

    async def check(text: str) -> None:
        await edit_field(owner, field)
        before = await state()
        reply = await send(fake, text[:MAX_TEXT])
        assert problem_with(reply) is None, (text[:80], problem_with(reply))
        answer = str(reply.params["text"])
        if not answer.startswith("✅"):
            assert not changed(before, await state()), text[:80]
            await owner.say("/cancel", "Cancelled")

    await asyncio.to_thread(run_examples, asyncio.get_running_loop(), hostile, check,
                            max_examples=8)  # fmt: skip
    await no_crash_anywhere(fake)


UNSTORABLE_SIZES = ["1e30", "\U0001d7d3" * 30, "1e-30"]  # 1e30, 30 mathematical 5s, 1e-30


@pytest.mark.parametrize("size", UNSTORABLE_SIZES)
async def test_a_size_the_database_cannot_hold_is_refused_when_editing_a_bot(
    start_world: Callable[..., Any], size: str
) -> None:
    world, owner = await telegram_world(start_world)
    assert world.telegram is not None
    await edit_field(owner, "size")
    before = await state()
    reply = await send(world.telegram, size)
    assert str(reply.params["text"]).startswith("⚠️"), reply.params["text"]
    assert not changed(before, await state())


@pytest.mark.parametrize("size", UNSTORABLE_SIZES)
async def test_a_size_the_database_cannot_hold_is_refused_in_the_newbot_dialogue(
    start_world: Callable[..., Any], size: str
) -> None:
    world, owner = await telegram_world(start_world)
    assert world.telegram is not None
    await owner.say("/newbot", "Name?")
    for answer, question in NEWBOT_STEPS[:3]:
        await owner.say(answer, question)
    # refused at its own step, and the question is asked again
    reply = await send(world.telegram, size)
    assert str(reply.params["text"]).startswith("⚠️"), reply.params["text"]
    await owner.say("/cancel", "Cancelled")
    assert not await TradingBot.filter(name="hostile-bot").exists()


# ---------------------------------------------------------------- the parsers themselves

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
anything = st.one_of(words, any_text, st.text(max_size=40))


@FAST
@given(anything, st.integers(1, 100), st.integers(1, 100))
def test_count_arguments_are_a_number_in_range_or_refused(
    text: str, default: int, top: int
) -> None:
    try:
        value = _count(text, default, top)
    except InvalidRequest as exc:
        assert str(top) in exc.user_message
        return
    assert value == default if not text.strip() else 1 <= value <= top


@FAST
@given(st.one_of(anything, st.integers(0, 10**40).map(str)))
def test_user_ids_are_telegram_ids_or_refused(text: str) -> None:
    """Telegram user ids fit in 52 bits; SQLite's INTEGER stops at 63."""
    try:
        value = _user_id(text)
    except InvalidRequest:
        return
    assert value == int(text) and 0 <= value < 2**53


@FAST
@given(anything)
def test_symbols_normalize_or_are_refused(text: str) -> None:
    try:
        symbol = _symbol(text)
    except InvalidRequest as exc:
        assert exc.user_message.startswith("symbol ")
        return
    assert re.fullmatch(r"[A-Z0-9][A-Z0-9.]{1,30}", symbol)


@FAST
@given(st.sampled_from(["rsi", "macd", "ma_cross", "bollinger", "signal", "nope"]),
       st.lists(words, max_size=5))  # fmt: skip
def test_backtest_arguments_parse_or_are_refused(strategy: str, params: list[str]) -> None:
    try:
        request = parse_request(strategy, params)
    except TradingError as exc:  # a polite one-line refusal
        assert exc.user_message and "\n" not in exc.user_message
        return
    assert request.strategy == strategy


NEWBOT_FIELDS = ["name", "symbols", "strategy", "size", "direction", "max_entries", "sl", "tp",
                 "trail", "max_lag_seconds", "approval", "passphrase"]  # fmt: skip


@FAST
@given(st.sampled_from(NEWBOT_FIELDS), anything)
def test_each_bot_field_validates_alone_or_is_refused(field: str, text: str) -> None:
    try:
        value = check_field(field, text)
    except InvalidRequest as exc:
        assert exc.user_message
        return
    if field in ("sl", "tp", "trail") and value is not None:
        level = Level.parse(value)
        assert Decimal("1e-12") <= level.value < (100 if level.percent else Decimal("1e15"))


@pytest.mark.parametrize("text", ["1e30", "1e-30", "1e999999", "0.0000000000001", "1E+20USDT"])
def test_bot_sizes_the_database_cannot_hold_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


@FAST
@given(st.decimals(min_value=Decimal("1e-8"), max_value=Decimal("1e9"), places=8))
def test_bot_sizes_in_range_are_kept_exactly(value: Decimal) -> None:
    text = f"{value:f}"
    for suffix, kind in (("", "qty"), ("USDT", "quote")):
        assert parse_size(text + suffix) == (kind, Decimal(text))


@pytest.mark.parametrize("text", ["1e999999999", "1e-30", "1e400", "1" + "0" * 20])
def test_an_approval_resize_quantity_an_alert_would_refuse_is_refused(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_qty(text)


@FAST
@given(st.decimals(min_value=Decimal("1e-8"), max_value=Decimal("1e9"), places=8))
def test_an_approval_resize_quantity_is_read_as_an_alert_would(value: Decimal) -> None:
    assert parse_qty(f"{value:f}") == parse_decimal(f"{value:f}") == value
