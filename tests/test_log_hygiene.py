"""What the product keeps and shows of a request (issue 12 §9, §10, the cap notice): a passphrase
never kept or shown however it is written, a flood of bad alerts adds a bounded number of
`webhook_logs` rows, old rows go after the retention, and owners hear once when a bot's cap
drops alerts."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import strategies as st

from bot.retention import prune_once
from db.models import WebhookLog
from db.stores import sql_stores
from tests.conftest import OWNER_ID, World
from tests.examples import run_examples
from trading.alerts import redact, redact_value

SECRET = "hunter2-Secret"
WRONG = "guess-Wrong-9"


def bodies(secret: str, wrong: str) -> list[str]:
    """Every way a sender has been seen (or might be) to write a passphrase."""
    escaped = "".join(f"\\u{ord(c):04x}" for c in "passphrase")
    quoted = json.dumps(secret)
    return [
        json.dumps(
            {"action": "buy", "symbol": "BTCUSDT", "price": "100", "qty": "1", "passphrase": secret}
        ),
        '{"action": "buy", "symbol": "BTCUSDT", "price": "100", "pass\\u0070hrase": '
        + quoted
        + "}",
        '{"action": "buy", "symbol": "BTCUSDT", "price": "100", "' + escaped + '": ' + quoted + "}",
        json.dumps({"action": "buy", "symbol": "BTCUSDT", "price": "100", "Passphrase": secret}),
        json.dumps(
            {
                "action": "buy",
                "symbol": "BTCUSDT",
                "price": "100",
                "passphrase": secret,
                "meta": {"pass_phrase": secret, "list": [{"PASSPHRASE": secret}]},
                "comment": f"sent with {secret}",
            }
        ),
        json.dumps(
            {
                "action": "buy",
                "symbol": "BTCUSDT",
                "price": "100",
                "passphrase": secret,
                "qty": "0,01",
            }
        ),
        '{"action": "buy", "symbol": "BTCUSDT", "price": "100", "passphrase": '
        + quoted
        + ', "qty": ',
        json.dumps({"action": "buy", "symbol": "BTCUSDT", "price": "100", "passphrase": wrong}),
        '{"action": "buy", "pass\\u0070hrase": ' + json.dumps(wrong) + ', "symbol": 5}',
        f"buy BTCUSDT price=100 qty=1 passphrase={secret}",
        f"buy BTCUSDT price=100 qty=1 passphrase=\t{secret}",
        f"buy BTCUSDT price=100 qty=1 passphrase= {secret}",
        f"buy BTCUSDT price=100 qty=1 PassPhrase={secret}",
        f"buy BTCUSDT {secret}",
        f"buy BTCUSDT qty=1,5 passphrase={secret}",
        f"buy BTCUSDT passphrase={wrong}",
        f"buy BTCUSDT passphrase=\t{wrong}",
    ]


async def kept_anywhere(world: World, caplog: pytest.LogCaptureFixture, *secrets: str) -> list[str]:
    found = []
    for row in await WebhookLog.all():
        for column in ("body", "reason"):
            for secret in secrets:
                if secret in str(getattr(row, column) or ""):
                    found.append(f"webhook_logs.{column} #{row.id}")
        if any(secret in json.dumps(row.alert) for secret in secrets):
            found.append(f"webhook_logs.alert #{row.id}")
    found += [f"log: {r.getMessage()[:80]}" for r in caplog.records if any(
        secret in r.getMessage() for secret in secrets
    )]  # fmt: skip
    if world.telegram is not None:
        for message in world.telegram.sent_messages():
            if any(secret in message.get("text", "") for secret in secrets):
                found.append(f"telegram: {message.get('text', '')[:80]}")
    return found


async def test_a_passphrase_is_never_kept_or_shown_however_it_is_written(
    start_world: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    world = await start_world(telegram=True)
    await world.add_bot("demo", passphrase=SECRET)
    caplog.clear()  # from here on: what the alerts make the product log
    answers = []
    for body in bodies(SECRET, WRONG):
        status, answer = await world.post(world.bots["demo"].webhook_key, body)
        assert status < 500, (body, status, answer)
        answers.append(json.dumps(answer))
    assert sum('"executed"' in a for a in answers) >= 3  # the escaped keys authenticate
    await world.telegram.wait_for("sendMessage", lambda p: p.get("chat_id") == OWNER_ID)
    assert not [a for a in answers if SECRET in a or WRONG in a]
    assert await kept_anywhere(world, caplog, SECRET, WRONG) == []


async def test_any_passphrase_in_any_form_is_never_kept(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """The same, over generated passphrases (each on a bot of its own): none kept."""
    caplog.set_level(logging.DEBUG)
    loop = asyncio.get_running_loop()
    alphabet = st.characters(min_codepoint=33, max_codepoint=0x2FF, exclude_characters="=\\")
    secrets = st.text(alphabet, min_size=4, max_size=20).map(lambda s: f"Pw{s}Q")
    made = iter(range(1000))

    async def check(secret: str) -> None:
        bot = await world.add_bot(f"p{next(made)}", passphrase=secret)
        caplog.clear()
        for body in bodies(secret, secret[::-1] + "x"):
            status, _answer = await world.post(bot.webhook_key, body)
            assert status < 500
        assert await kept_anywhere(world, caplog, secret) == [], secret

    await asyncio.to_thread(run_examples, loop, secrets, check, max_examples=15)


def test_redaction_works_on_the_parsed_names_at_any_depth() -> None:
    data = {"a": {"b": [{"Pass-Phrase": "x1"}, {"secret": 5}]}, "note": "has zz-top-9 in it"}
    assert redact_value(data, ["zz-top-9"]) == {
        "a": {"b": [{"Pass-Phrase": "***"}, {"secret": "***"}]},
        "note": "has *** in it",
    }
    assert "s3cr3t" not in redact('{"x": 1, "pass\\u0050hrase" : "s3cr3t"}')
    assert "s3cr3t" not in redact('{"x": [1, {"passphrase": "s3cr3t"')  # malformed


# ---------------------------------------------------------------- growth


async def test_a_flood_of_bad_and_rejected_alerts_adds_a_bounded_number_of_rows(
    world: World,
) -> None:
    key = world.bots["demo"].webhook_key
    for i in range(150):  # each malformed differently, all of one kind: a bad qty
        status, _ = await world.post(
            key, json.dumps({"action": "buy", "symbol": "BTCUSDT", "price": "100", "qty": f"{i},5"})
        )
        assert status == 400
    for i in range(150):  # rejected on their merits (a symbol the bot does not trade)
        status, answer = await world.send_alert(action="buy", symbol=f"X{i}USDT")
        assert (status, answer["status"]) == (200, "rejected")
    rows = await WebhookLog.all()
    assert len(rows) <= 4, [(r.status, r.reason) for r in rows]
    assert sum(r.repeat_count for r in rows) == 300


async def test_alerts_with_an_id_keep_a_row_each(world: World) -> None:
    for i in range(5):
        await world.send_alert(action="buy", symbol="ETHUSDT", id=f"a{i}")
    rows = await WebhookLog.filter(status="rejected")
    assert len(rows) == 5 and {r.repeat_count for r in rows} == {1}


async def test_rows_older_than_the_retention_are_deleted_and_running_ones_kept(
    world: World,
) -> None:
    old = datetime.now(UTC) - timedelta(days=31)
    for status in ("executed", "refused", "rejected", "accepted", "received", "pending_approval"):
        await WebhookLog.create(received_at=old, status=status, body="old")
    await world.send_alert(action="buy", price="100")
    assert await prune_once(sql_stores().alerts, 30) == 3
    left = {row.status for row in await WebhookLog.all()}
    assert left == {"accepted", "received", "pending_approval", "executed"}
    assert await WebhookLog.filter(body="old", status="executed").count() == 0
    assert await prune_once(sql_stores().alerts, 30) == 0


def _old_row(db_url: str) -> None:
    """A refusal row 40 days old, written straight into the file before the product starts."""
    old = (datetime.now(UTC) - timedelta(days=40)).isoformat(sep=" ")
    with sqlite3.connect(db_url.removeprefix("sqlite://")) as db:
        db.execute(
            "INSERT INTO webhook_logs (received_at, status, body, http_status, key_hint, "
            "remote_ip, content_type, repeat_count) VALUES (?, 'refused', 'old', 400, '', '', "
            "'', 1)",
            (old,),
        )


async def test_the_product_deletes_rows_older_than_the_retention_when_it_starts(
    start_world: Any, db_url: str
) -> None:
    _old_row(db_url)
    await start_world()  # the first pass runs before the first request is served
    assert not await WebhookLog.filter(body="old").exists()


async def test_a_retention_of_0_keeps_every_row(start_world: Any, db_url: str) -> None:
    _old_row(db_url)
    await start_world(webhook_log_retention_days=0)
    assert await WebhookLog.filter(body="old").exists()


def test_the_retention_setting_defaults_to_30_days_and_accepts_0(make_settings: Any) -> None:
    assert make_settings().webhook_log_retention_days == 30
    assert make_settings(webhook_log_retention_days=0).webhook_log_retention_days == 0


# ---------------------------------------------------------------- the cap


async def test_owners_hear_once_an_hour_that_a_cap_is_dropping_alerts(start_world: Any) -> None:
    world = await start_world(telegram=True)
    await world.add_bot("capped", max_alerts_per_minute=2)
    statuses = [
        (await world.send_alert("capped", action="tick", price=str(100 + i)))[0] for i in range(8)
    ]
    assert statuses.count(429) >= 5
    [call] = await world.telegram.wait_for(
        "sendMessage", lambda p: "Alerts dropped" in p.get("text", "")
    )
    assert "capped" in call.params["text"] and "2 alerts a minute" in call.params["text"]
    # Later drops in the hour are not told again, nor told as one refusal message each.
    for i in range(5):
        await world.send_alert("capped", action="tick", price=str(200 + i))
    await world.send_alert("capped", action="tick", symbol="NOPE")  # flushes the queue order
    texts = [m.get("text", "") for m in world.telegram.sent_messages(OWNER_ID)]
    assert sum("Alerts dropped" in t for t in texts) == 1
    assert not any("(429)" in t for t in texts)


async def test_a_passphrase_across_the_cut_of_a_kept_body_is_not_kept_in_part(
    start_world: Any,
) -> None:
    """Bodies are kept to their first 4 KiB: redaction runs before the cut, and a value cut
    short (an oversized body keeps only its start) is still a passphrase's value."""
    world = await start_world()
    await world.add_bot("demo", passphrase=SECRET)
    key = world.bots["demo"].webhook_key
    head = '{"action": "buy", "symbol": "BTCUSDT", "price": "100", "note": "'
    tail = '", "passphrase": "'
    pad = 4096 - len(head) - len(tail) - 8  # the cut at 4 KiB falls inside the passphrase
    for rest in ("", ', "c": "' + "x" * 70_000 + '"'):  # kept whole, then cut; oversized (413)
        body = head + "x" * pad + tail + SECRET + '"' + rest + "}"
        status, _ = await world.post(key, body)
        assert status == (413 if rest else 200)
    for row in await WebhookLog.all():
        assert not any(SECRET[:n] in row.body for n in range(6, len(SECRET) + 1)), row.body[-80:]
