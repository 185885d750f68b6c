"""HTTP as bytes on a socket, for requests no client library would send (non-UTF-8 header bytes,
repeated headers, malformed request lines), and hypothesis examples run against a live server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def build(
    method: bytes,
    target: bytes,
    headers: Sequence[tuple[bytes, bytes]] = (),
    body: bytes = b"",
    *,
    length: bool = True,
) -> bytes:
    """A request, byte for byte: `headers` in order, repeats kept, values as given."""
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    lines += [name + b": " + value for name, value in headers]
    if length:
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def send(port: int, data: bytes, *, timeout: float = 15) -> RawResponse:
    """Send `data` as it is on a fresh connection; the first response on it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout=timeout)
    finally:
        writer.close()
        with suppress(ConnectionError):
            await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    assert status_line.startswith(b"HTTP/"), raw[:300]
    headers = {}
    for line in header_lines:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(int(status_line.split()[1]), headers, body)


def names(answer: Any, *candidates: str) -> bool:
    """Whether a JSON refusal names one of `candidates` (its `field`, or its reason's start)."""
    if not isinstance(answer, dict):
        return False
    text = " ".join(str(answer.get(k, "")) for k in ("field", "error", "reason"))
    return any(candidate.lower() in text.lower() for candidate in candidates)
