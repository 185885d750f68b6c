"""`GET /health` and `GET /metrics`."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from bot.keys import BROKER, METRICS, STATUS
from db import repo

routes = web.RouteTableDef()


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    checks: dict[str, dict[str, Any]] = {}
    try:
        await asyncio.wait_for(repo.ping(), 2.0)
        checks["db"] = {"status": "ok"}
    except Exception as exc:
        checks["db"] = {"status": "down", "detail": type(exc).__name__}
    try:
        ok, detail = await asyncio.wait_for(request.app[BROKER].health(), 2.0)
        checks["broker"] = {"status": "ok" if ok else "down", "detail": detail}
    except Exception as exc:
        checks["broker"] = {"status": "down", "detail": type(exc).__name__}
    status = request.app[STATUS]
    checks["telegram"] = dict(status.telegram)
    checks["monitor"] = dict(status.monitor)
    if checks["db"]["status"] != "ok":
        overall = "down"
    elif any(check["status"] not in ("ok", "off") for check in checks.values()):
        overall = "degraded"
    else:
        overall = "ok"
    return web.json_response(
        {"status": overall, "checks": checks}, status=503 if overall == "down" else 200
    )


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(
        body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
    )
