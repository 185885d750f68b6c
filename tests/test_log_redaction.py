"""Webhook keys never reach a log whole, whoever logs them (issue 12 item 8): aiohttp quotes a
malformed request line (key and all) in its error, at ERROR or DEBUG. Redaction happens at the
logging layer, in every record of every logger (message, arguments, traceback), before any
handler: the configured one (text and JSON), a plain handler on the root logger, and pytest's."""

from __future__ import annotations

import concurrent.futures
import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.logs import MAX_REDACTED, RedactingFormatter, Redactor, install_redaction, setup_logging
from tests.conftest import World
from tests.raw_http import send

URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
WINDOW = 12  # no run of this many of the key's characters may survive


def leaked(key: str, text: str, background: str = "") -> list[str]:
    """Runs of WINDOW characters of `key` found in `text` (and not already in `background`,
    the text as it would be without the key)."""
    runs = {key[i : i + WINDOW] for i in range(max(1, len(key) - WINDOW + 1))}
    return sorted(run for run in runs if run in text and run not in background)


def malformed_requests(key: bytes) -> dict[str, bytes]:
    """Request lines aiohttp refuses, each quoting the path with the key in its error."""
    tail = b"\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    line = b"POST /webhook/" + key
    return {
        "space inside the key": b"POST /webhook/"
        + key[:10]
        + b" "
        + key[10:]
        + b" HTTP/1.1"
        + tail,
        "space after the key": line + b" x HTTP/1.1" + tail,
        "space before the key": b"POST /webhook/ " + key + b" HTTP/1.1" + tail,
        "non-ASCII query": line + b"?q=\xc3\xa9\xff HTTP/1.1" + tail,
        "non-ASCII path": line + b"\xc3\xa9 HTTP/1.1" + tail,
        "control character in the path": line + b"\x01 HTTP/1.1" + tail,
        "bad HTTP version": line + b" HTTP/9.Z" + tail,
        "no HTTP version": line + tail,
        "LF-only line endings": line + b" HTTP/1.1\nHost: x\nContent-Length: 0\n\n",
        "unknown method": b"FROB /webhook/" + key + b" HTTP/1.1" + tail,
        "control character in the method": b"P\x01ST /webhook/" + key + b" HTTP/1.1" + tail,
        "percent-encoded path": b"POST /%77ebhook%2F" + key + b" HTTP/1.1 x" + tail,
        "upper-case path": b"POST /WEBHOOK/" + key + b" HTTP/1.1 x" + tail,
        "request line too long": line + b"?" + b"a" * 9000 + b" HTTP/1.1" + tail,
        "bad header after the line": line + b" HTTP/1.1\r\nBad Header: 1" + tail,
        "valid request": line + b" HTTP/1.1\r\nContent-Type: text/plain" + tail,
    }


@contextmanager
def product_logging(settings: Any, caplog: pytest.LogCaptureFixture) -> Iterator[dict[str, Any]]:
    """The product's logging (`setup_logging`, into a buffer) plus an unfiltered plain handler
    on the root logger and pytest's capture, all at DEBUG, aiohttp's access log included."""
    root = logging.getLogger()
    touched = ["aiohttp.access", "aiogram.event", "tortoise", "aiosqlite", "asyncpg"]
    saved = (root.handlers[:], root.level, {n: logging.getLogger(n).level for n in touched})
    configured, plain = io.StringIO(), io.StringIO()
    try:
        setup_logging(settings, stream=configured)
        plain_handler = logging.StreamHandler(plain)
        plain_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        root.addHandler(plain_handler)
        root.addHandler(caplog.handler)
        caplog.handler.setLevel(logging.DEBUG)
        logging.getLogger("aiohttp.access").setLevel(logging.DEBUG)  # redacted even when on
        yield {"configured": configured, "plain": plain}
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_malformed_request_lines_never_log_the_key(
    start_world: Callable[..., Any], caplog: pytest.LogCaptureFixture, log_format: str
) -> None:
    world: World = await start_world(log_format=log_format, log_level="DEBUG")
    bot = await world.add_bot("demo")
    key = bot.webhook_key
    assert world.server.port is not None
    with product_logging(world.settings, caplog) as outputs:
        for label, request in malformed_requests(key.encode()).items():
            response = await send(world.server.port, request)
            assert 400 <= response.status < 500 or label == "valid request", (label, response)
        configured = outputs["configured"].getvalue()
        plain = outputs["plain"].getvalue()
    records = caplog.records
    texts = {
        "configured handler": configured,
        "plain root handler": plain,
        "pytest capture": caplog.text,
        "records": "\n".join(f"{r.getMessage()}\n{r.exc_text or ''}" for r in records),
    }
    leaks = {name: leaked(key, text) for name, text in texts.items()}
    assert not any(leaks.values()), leaks
    # ...and the errors were logged (the test saw aiohttp quote the lines), with a hint of the key
    for wanted in ("Error handling request", "Bad status line", "Invalid method", "Invalid char"):
        assert wanted in configured and wanted in plain, wanted
    assert f"/webhook/{key[:4]}" in plain
    if log_format == "json":
        lines = [json.loads(line) for line in configured.splitlines()]
        assert {"time", "level", "logger", "message"} <= set(lines[0])
        assert any("Bad status line" in line.get("exc", "") for line in lines)
    # the records themselves carry no arguments or exception object left to format later
    assert all(r.args is None and r.exc_info is None for r in records)


# ---------------------------------------------------------------- every logger, any key

keys = st.text(URLSAFE, min_size=16, max_size=64)
LOGGERS = ["aiohttp.server", "aiohttp.access", "aiohttp.web_protocol", "aiohttp.client", "x.y"]
# How a key is carried to a log: aiohttp's quoted request lines, an access-log line, a URL.
SHAPES = [
    "b'POST /webhook/{key} HTTP/1.1'",
    "b'POST /webhook/{head} {tail} HTTP/1.1'",
    "b'POST /webhook/ {key} HTTP/1.1'",
    "b'POST /webhook/{key}?q=\\xc3\\xa9 HTTP/1.1'",
    "b'POST /webhook/{key} HTTP/1.1\\nHost: x\\n\\n'",
    "b'FROB /webhook/{key} HTTP/1.1'",
    '127.0.0.1 [01/Jan/2026:00:00:00 +0000] "POST /webhook/{key} HTTP/1.1" 200 2 "-" "curl"',
    "https://bot.example.com/webhook/{key}",
    "POST /%77ebhook%2F{key} HTTP/1.1",
    "/Webhook//{key}#x",
]


class Boom(Exception):
    pass


@settings(max_examples=150, deadline=None)
@given(
    keys,
    st.sampled_from(SHAPES),
    st.sampled_from(LOGGERS),
    st.sampled_from(["message", "argument", "bytes argument", "dict argument", "exception"]),
    st.sampled_from([logging.DEBUG, logging.INFO, logging.ERROR]),
    st.text(max_size=20),
)
def test_any_record_of_any_logger_is_redacted_before_any_handler(
    key: str, shape: str, logger_name: str, where: str, level: int, noise: str
) -> None:
    install_redaction()
    text = shape.format(key=key, head=key[:10], tail=key[10:]) + noise.replace("{", "")
    background = shape.format(key="", head="", tail="") + noise.replace("{", "")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)  # no filter, no special formatter
    handler.setLevel(logging.DEBUG)
    logger = logging.getLogger(logger_name)
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep(logging.DEBUG)
    saved = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    logger.addHandler(keep)
    try:
        if where == "message":
            logger.log(level, text)
        elif where == "argument":
            logger.log(level, "request line %s refused", text)
        elif where == "bytes argument":
            logger.log(level, "request %r refused", text.encode("utf-8", "surrogatepass"))
        elif where == "dict argument":
            logger.log(level, "request %(line)s refused", {"line": text})
        else:
            try:
                raise Boom(f"400, message:\n  Bad status line:\n\n    {text}")
            except Boom:
                logger.log(level, "Error handling request from %s", "127.0.0.1", exc_info=True)
    finally:
        logger.removeHandler(handler)
        logger.removeHandler(keep)
        logger.setLevel(saved)
    out = stream.getvalue()
    assert leaked(key, out, background) == [], (text, out)
    [record] = records
    assert record.args is None and record.exc_info is None
    assert leaked(key, record.getMessage() + (record.exc_text or ""), background) == []


@settings(max_examples=150, deadline=None)
@given(keys, st.sampled_from(SHAPES), st.text(max_size=30))
def test_redacting_twice_changes_nothing(key: str, shape: str, noise: str) -> None:
    """Records are redacted when made and lines again when written: the second pass keeps the
    first one's hint (`/webhook/abcd…`) and everything else."""
    redactor = Redactor()
    once = redactor.redact(shape.format(key=key, head=key[:10], tail=key[10:]) + noise)
    assert redactor.redact(once) == once
    normalised = once.replace("%77ebhook%2F", "webhook/").replace("Webhook//", "webhook/")
    assert f"/webhook/{key[:4]}…" in normalised.replace("/webhook/ ", "/webhook/")


def test_secret_shaped_text_is_masked_wherever_it_appears() -> None:
    redactor = Redactor(["configured-secret-value"])
    key = "Ait3YsGp0-wX1qJKA1bFcFGU5ThcdQ33fy7shu4EHT4"  # a key as new_webhook_key makes them
    cases = {
        f"key {key} in prose": key,
        "POST https://api.telegram.org/bot123456789:AAF-telegram-token-secret-xyz0123/getMe": (
            "AAF-telegram-token-secret-xyz0123"
        ),
        "Authorization: Bearer read-api-token": "read-api-token",
        '{"passphrase": "two words", "x": 1}': "two words",
        "buy BTCUSDT passphrase=hunter22 qty=1": "hunter22",
        "the configured-secret-value leaked": "configured-secret-value",
    }
    for text, secret in cases.items():
        assert secret not in redactor.redact(text), text
    # what is not secret-shaped stays readable
    for text in (
        "alert executed bot=demo symbol=BTCUSDT id=a1 log=3 in 2.1 ms",
        "test_a_sender_that_hangs_up_mid_body_leaves_nothing",
        "sha256=" + "0123456789abcdef" * 4,
        "2026-06-01 12:00:00,123 INFO aiohttp.access: GET /health HTTP/1.1 200",
    ):
        assert redactor.redact(text) == text


def test_a_logging_call_with_wrong_arguments_still_logs_and_never_raises() -> None:
    install_redaction()
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("test.bad.arguments")
    keep = Keep()
    logger.addHandler(keep)
    try:
        logger.error("expected a number: %d", "not a number")
    finally:
        logger.removeHandler(keep)
    [record] = records
    assert "expected a number" in record.getMessage()


ADVERSARIAL = [
    "POST " + "/" * 50_000 + "\x01 HTTP/1.1",
    "POST " + "%2f" * 20_000 + "webhook",
    "/webhook/" + " " * 50_000 + "x",
    "/webhook/abcdefghijklmnop" + " \t" * 25_000,
    "9" * 50_000 + ":",
    "passphrase=" + "x" * 50_000,
    "Bearer " * 10_000,
    "A1b" * 20_000,
]


def test_redaction_is_linear_in_the_text_so_no_request_line_can_stall_the_server() -> None:
    """Quadratic patterns on a run of slashes or spaces would take minutes on these (one
    malformed request line, no key needed); linear ones take milliseconds. The generous deadline
    only catches a hang: it measures nothing."""
    redactor = Redactor(["configured-secret-1"])
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        done = pool.submit(lambda: [redactor.redact(text) for text in ADVERSARIAL])
        redacted = done.result(timeout=60)
    assert all(len(text) <= 40_000 for text in redacted)


def test_a_secret_across_the_length_cut_and_a_record_changed_after_it_was_made_are_masked() -> None:
    secret = "Zk3qP9vT2mXw8LrN5bYhQ1sD4fG7jK0aEe"
    redactor = Redactor([secret])
    filler = "x " * (MAX_REDACTED // 4)
    text = filler + "y" * (MAX_REDACTED // 2 - len(filler) - 8) + f" {secret} end"
    assert secret[:8] not in redactor.redact(text)
    assert "***" in Redactor().redact("paſsword=hunter22")  # `ſ` matches `s` in the pattern
    install_redaction()
    record = logging.makeLogRecord({"msg": "token=hunter22 /webhook/AbCdEfGhIjKlMnOpQrSt HTTP/1.1"})
    line = RedactingFormatter("%(message)s").format(record)
    assert "hunter22" not in line and "EfGhIj" not in line, line
