"""`GET /health` and `GET /metrics`."""

from __future__ import annotations

from aiohttp import web

from handlers.web.keys import CONTROL, METRICS, STATUS

routes = web.RouteTableDef()


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    status = request.app[STATUS]
    result = await request.app[CONTROL].health(status.checks())
    role = result.checks["leader"]["role"]
    return web.json_response(
        {"status": result.overall, "role": role, "checks": result.checks},
        status=503 if result.overall == "down" else 200,
    )


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(
        body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
    )
