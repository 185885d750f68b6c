"""`GET /app/api/stream`: the dashboard's live updates as server-sent events (aiohttp-sse).

`event: positions` carries the open positions (at once, then whenever they or their prices
change); `event: changed` names the parts to read again (`{"topics": ["trades", …]}`); a `: ping`
comment every 15 s keeps proxies from closing an idle stream and finds a page that went away.
The page reads it with `fetch()`, which can send the session header (EventSource cannot). The
session is checked again every `RECHECK` seconds, so a stream ends soon after /logout or a revoked
role; at shutdown the feed ends every stream first. A page that goes away simply ends its stream.
"""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web
from aiohttp_sse import sse_response

from handlers.web.dashboard.auth import session_token
from handlers.web.dashboard.keys import DASHBOARD, FEED

routes = web.RouteTableDef()

PING = 15.0
RECHECK = 30.0
GONE = (ConnectionResetError, TimeoutError)  # the page went away, or stopped reading


@routes.get("/app/api/stream")
async def stream(request: web.Request) -> web.StreamResponse:
    token = session_token(request)
    feed, auth = request.app[FEED], request.app[DASHBOARD]
    # The first read happens before the answer starts: a database away is a clean error.
    async with (
        feed.watch() as watcher,
        sse_response(
            request,
            ping_interval=PING,
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        ) as response,
    ):
        gone = asyncio.ensure_future(response.wait())  # ends when a ping cannot be sent
        update: asyncio.Future[list[tuple[str, object]]] | None = None
        checked = time.monotonic()
        try:
            while not watcher.closed:
                update = asyncio.ensure_future(watcher.next())
                done, _ = await asyncio.wait(
                    {update, gone}, timeout=RECHECK, return_when=asyncio.FIRST_COMPLETED
                )
                if gone in done:
                    break
                for name, data in update.result() if update in done else []:
                    await response.send(json.dumps(data, separators=(",", ":")), event=name)
                if time.monotonic() - checked >= RECHECK:
                    if token is None or await auth.resolve(token) is None:
                        break
                    checked = time.monotonic()
        except GONE:
            pass
        finally:
            gone.cancel()
            if update is not None:
                update.cancel()
    return response
