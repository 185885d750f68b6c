"""Two web processes on one PostgreSQL database with Redis, as a scaled-out deployment runs:
exactly-once and the abuse limits hold across them.

Both are real `tradebot serve` processes. Alerts go to either at random; the checks read the
database afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.processes import (
    POSTGRES_ADMIN,
    REDIS_URL,
    free_port,
    postgres_or_skip,
    redis_or_skip,
    run_cli,
)
from trading.signatures import signed_headers

pytestmark = pytest.mark.services


def _psql(url: str, sql: str) -> str:
    done = subprocess.run(
        ["psql", url, "-At", "-c", sql], capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout.strip()


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    postgres_or_skip()
    client = await redis_or_skip()
    await client.aclose()
    name = f"tradebot_scale_{uuid.uuid4().hex[:8]}"
    _psql(POSTGRES_ADMIN, f'CREATE DATABASE "{name}"')
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBOT_")}
    env.update(
        TRADEBOT_DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{name}",
        TRADEBOT_REDIS_URL=REDIS_URL,
        TRADEBOT_HOST="127.0.0.1",
        TRADEBOT_WEBHOOK_RATE_PER_KEY="1000000",
        TRADEBOT_WEBHOOK_BURST_PER_KEY="1000000",
        TRADEBOT_WEBHOOK_RATE_PER_IP="1000000",
        TRADEBOT_WEBHOOK_BURST_PER_IP="1000000",
    )
    servers: list[asyncio.subprocess.Process] = []
    logs = []
    try:
        await run_cli(env, tmp_path, "migrate")
        bots = {}
        for bot, extra in (("main", ["--max-alerts-per-minute", "0"]),
                           ("signed", ["--max-alerts-per-minute", "0", "--sign"]),
                           ("capped", ["--max-alerts-per-minute", "3"])):  # fmt: skip
            out = await run_cli(
                env, tmp_path, "bots", "add", "--name", bot, "--symbol", "BTCUSDT", "--strategy",
                "signal", "--qty", "1", "--direction", "both", "--max-entries", "100",
                *extra, "--json",
            )  # fmt: skip
            bots[bot] = json.loads(out)
        bases = []
        for index in range(2):
            port = free_port()
            log = (tmp_path / f"server{index}.log").open("wb")
            logs.append(log)
            servers.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bot",
                    "serve",
                    cwd=tmp_path,
                    env={**env, "TRADEBOT_PORT": str(port)},
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                )
            )
            bases.append(f"http://127.0.0.1:{port}")
        async with aiohttp.ClientSession() as http:
            for base in bases:
                for _ in range(300):
                    try:
                        async with http.get(f"{base}/health") as response:
                            if response.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError(f"{base} never became healthy")
        yield {"bases": bases, "bots": bots, "psql": url, "logs": tmp_path}
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                await asyncio.wait_for(server.wait(), timeout=20)
            except TimeoutError:
                server.kill()
                await server.wait()
        for log in logs:
            log.close()
        _psql(POSTGRES_ADMIN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _post(
    http: aiohttp.ClientSession, base: str, bot: dict[str, Any], body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode()
    headers = signed_headers(bot["hmac_secret"], data) if bot.get("hmac_secret") else {}
    key = bot["webhook_key"]
    async with http.post(f"{base}/webhook/{key}", data=data, headers=headers) as response:
        return response.status, await response.json()


def _alert(alert_id: str, action: str) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"action": action, "symbol": "BTCUSDT", "price": "100", "qty": "1", "id": alert_id,
            "time": now}  # fmt: skip


async def test_two_processes_on_postgres_trade_each_alert_once(cluster: dict[str, Any]) -> None:
    a, b = cluster["bases"]
    bots = cluster["bots"]
    main, signed, capped = bots["main"], bots["signed"], bots["capped"]
    url = cluster["psql"]
    async with aiohttp.ClientSession() as http:
        # TradingView's worst case: the same alert four times at once, two to each process
        same = _alert("same-1", "buy")
        answers = await asyncio.gather(*[_post(http, (a, b)[i % 2], main, same) for i in range(4)])
        statuses = sorted(body["status"] for _, body in answers)
        assert statuses == ["duplicate"] * 3 + ["executed"], answers

        # a burst of distinct alerts spread over both processes, all on one position
        burst = [_alert(f"burst-{i}", "buy" if i % 3 else "sell") for i in range(30)]
        answers = await asyncio.gather(
            *[_post(http, (a, b)[i % 2], main, alert) for i, alert in enumerate(burst)]
        )
        assert all(status in (200, 202) for status, _ in answers), answers
        done = sum(body["status"] == "executed" for _, body in answers)
        assert done >= 20, answers  # a few may meet a claim: "ignored", never doubled

        # a signature is accepted once, whichever process sees it again
        tick = {"action": "tick", "symbol": "BTCUSDT", "price": "101"}
        data = json.dumps(tick).encode()
        headers = signed_headers(signed["hmac_secret"], data)
        for base, expected in ((a, 200), (b, 401)):
            async with http.post(
                f"{base}/webhook/{signed['webhook_key']}", data=data, headers=headers
            ) as response:
                assert response.status == expected

        # the per-bot cap is one budget in Redis: 3 a minute over both processes
        statuses = [
            (await _post(http, (a, b)[i % 2], capped, _alert(f"cap-{i}", "tick")))[0]
            for i in range(5)
        ]
        assert statuses == [200, 200, 200, 429, 429]

        # refusals are aggregated per process; a NUL in a body is refused and logged, not a 500
        for i in range(10):
            async with http.post(f"{(a, b)[i % 2]}/webhook/{'x' * 43}", data=b"buy") as r:
                assert r.status == 401
        async with http.post(
            f"{a}/webhook/{main['webhook_key']}", data=b'{"action": "buy\x00", "symbol": "X"}'
        ) as response:
            assert response.status == 400

    # every executed alert has exactly one filled order, and the position is the sum of fills;
    # an alert answered 202 finishes in the background: wait for it (bounded)
    for _ in range(100):
        unfinished = _psql(url, "SELECT count(*) FROM webhook_logs WHERE finished_at IS NULL")
        if unfinished == "0":
            break
        await asyncio.sleep(0.1)
    executed = int(
        _psql(
            url,
            "SELECT count(*) FROM webhook_logs WHERE status = 'executed' "
            "AND alert_id LIKE 'burst-%'",
        )
    )
    doubled = _psql(url, "SELECT count(*) FROM (SELECT webhook_log_id FROM orders "
                         "GROUP BY webhook_log_id HAVING count(*) > 1) d")  # fmt: skip
    assert doubled == "0"
    filled = int(_psql(url, "SELECT count(*) FROM orders WHERE status = 'filled'"))
    assert filled == executed + 1  # the burst's and the one of the four identical sends
    signed = _psql(
        url,
        "SELECT coalesce(sum(CASE side WHEN 'buy' THEN filled_qty ELSE -filled_qty END), 0) "
        "FROM orders WHERE status = 'filled'",
    )
    position = _psql(
        url,
        "SELECT coalesce(sum(CASE side WHEN 'long' THEN qty ELSE -qty END), 0) "
        "FROM current_positions",
    )
    assert Decimal(signed) == Decimal(position)
    assert _psql(url, "SELECT count(*) FROM orders WHERE status = 'pending'") == "0"
    refusals = _psql(url, "SELECT count(*), sum(repeat_count) FROM webhook_logs "
                          "WHERE http_status = 401 AND key_hint = 'xxxx…'")  # fmt: skip
    rows, total = (int(x) for x in refusals.split("|"))
    assert total == 10 and rows <= 2
