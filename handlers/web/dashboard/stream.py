"""`GET /app/api/stream`: the dashboard's live updates as server-sent events (aiohttp-sse).

`event: positions` carries the open positions (at once, then whenever they or their prices
change); `event: changed` names the parts to read again (`{"topics": ["trades", …]}`); a `: ping`
comment every 15 s keeps proxies from closing an idle stream and finds a page that went away.
The page reads it with `fetch()`, which can send the session header (EventSource cannot). The
session is checked again every `RECHECK` seconds, so a stream ends soon after /logout or a revoked
role; at shutdown the feed ends every stream first.
"""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web
from aiohttp_sse import sse_response

from handlers.web.dashboard.auth import session_token, signed_in
from handlers.web.dashboard.keys import DASHBOARD, FEED

routes = web.RouteTableDef()

PING = 15.0
RECHECK = 30.0


@routes.get("/app/api/stream")
async def stream(request: web.Request) -> web.StreamResponse:
    await signed_in(request)
    token = session_token(request)
    feed, auth = request.app[FEED], request.app[DASHBOARD]
    async with (
        sse_response(
            request,
            ping_interval=PING,
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        ) as response,
        feed.watch() as watcher,
    ):
        gone = asyncio.ensure_future(response.wait())  # ends when a ping cannot be sent
        checked = time.monotonic()
        try:
            while not watcher.closed:
                update = asyncio.ensure_future(watcher.next())
                done, _ = await asyncio.wait({update, gone}, timeout=RECHECK,
                                             return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                if update not in done:
                    update.cancel()
                if gone in done:
                    break
                for name, data in update.result() if update in done else []:
                    await response.send(json.dumps(data, separators=(",", ":")), event=name)
                if time.monotonic() - checked >= RECHECK:
                    if token is None or await auth.resolve(token) is None:
                        break
                    checked = time.monotonic()
        finally:
            gone.cancel()
    return response
