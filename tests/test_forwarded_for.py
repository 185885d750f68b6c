"""`X-Forwarded-For` behind trusted proxies (SPEC §3, issue 12 item 11): every line of the header
is read, as one list, and the client is the rightmost hop that is not a trusted proxy. Whatever a
client writes in its own lines can never make an allowlist pass."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import World
from tests.examples import run_examples
from tests.raw_http import build, send
from trading.ipallow import (
    TRADINGVIEW_IPS,
    allowed,
    client_ip,
    forwarded_hops,
    parse_allowlist,
    parse_ip,
)

FAST = settings(max_examples=300, deadline=None)

ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
addresses = st.one_of(ipv4, ipv6, st.sampled_from(TRADINGVIEW_IPS))
networks = st.one_of(
    st.tuples(st.ip_addresses(v=4), st.integers(8, 32)).map(lambda t: f"{t[0]}/{t[1]}"),
    st.tuples(st.ip_addresses(v=6), st.integers(32, 128)).map(lambda t: f"{t[0]}/{t[1]}"),
    st.sampled_from(["127.0.0.1", "10.0.0.0/8", "::1"]),
)
# What a client may put in its own X-Forwarded-For lines: addresses (TradingView's too), junk,
# empty entries, ports, brackets.
client_text = st.one_of(
    addresses,
    st.sampled_from(["", " ", "unknown", "_hidden", "[::1]:80", "1.2.3.4:80", ",", ", ,"]),
    st.text(max_size=20),
)
client_lines = st.lists(
    st.lists(client_text, max_size=4).map(", ".join),
    max_size=4,
)


def reference(peer: str, lines: list[str], trusted: list[Any]) -> str | None:
    """SPEC §3 as plainly as it can be said; None where the hop is not an address (then no
    allowlist may admit what `client_ip` returns)."""

    def is_trusted(text: str) -> bool:
        address = parse_ip(text)
        return address is not None and any(address in network for network in trusted)

    if not trusted or not is_trusted(peer):
        return peer
    hops = [hop.strip() for line in lines for hop in line.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            address = parse_ip(hop)
            return None if address is None else str(address)
    return peer


@FAST
@given(
    st.lists(networks, min_size=1, max_size=3),
    st.one_of(addresses, st.sampled_from(["127.0.0.1"])),
    client_lines,
)
def test_the_client_is_the_rightmost_untrusted_hop_of_all_lines(
    trusted_items: list[str], peer: str, lines: list[str]
) -> None:
    trusted = parse_allowlist(trusted_items)
    chosen = client_ip(peer, lines, trusted)
    expected = reference(peer, lines, trusted)
    if expected is None:
        assert parse_ip(chosen) is None, (lines, chosen)  # reported as text, never an address
        assert not allowed(chosen, parse_allowlist(["0.0.0.0/0", "::/0"]))
    else:
        assert chosen == expected, (peer, lines, trusted_items)
    # the lines are one list: joined into one line they choose the same client
    assert client_ip(peer, ", ".join(lines), trusted) == chosen


@FAST
@given(
    client_lines,
    addresses,
    st.lists(st.sampled_from(["127.0.0.1", "10.1.2.3", "10.200.0.1"]), min_size=1, max_size=3),
    st.booleans(),
    st.lists(networks, max_size=2),
)
def test_a_client_line_never_makes_the_allowlist_pass(
    injected: list[str], real: str, chain: list[str], own_line: bool, allow_items: list[str]
) -> None:
    """Proxies (127.0.0.1 and 10/8, trusted) each append the address they saw, on the client's
    last line or on a line of their own; whatever the client's lines say, the allowlist decides on
    the real address alone."""
    trusted = parse_allowlist(["127.0.0.1", "10.0.0.0/8"])
    if parse_ip(real) is not None and any(parse_ip(real) in n for n in trusted):
        real = "203.0.113.9"  # the client is not one of the proxies
    appended = [real, *chain[:-1]]  # each proxy appends its peer; the last one is our peer
    if own_line or not injected:
        lines = [*injected, ", ".join(appended)]
    else:
        lines = [*injected[:-1], ", ".join([injected[-1], *appended])]
    allowlist = parse_allowlist([*allow_items, "tradingview"])
    chosen = client_ip(chain[-1], lines, trusted)
    assert chosen == str(parse_ip(real))
    assert allowed(chosen, allowlist) == allowed(real, allowlist)


def test_hops_are_read_from_every_line() -> None:
    assert forwarded_hops(["52.89.214.238", "203.0.113.9"]) == ["52.89.214.238", "203.0.113.9"]
    assert forwarded_hops(" a , ,b") == ["a", "b"]
    assert forwarded_hops(None) == []
    trusted = parse_allowlist(["127.0.0.1"])
    # the case: the client's own line first, the proxy's appended line second
    assert client_ip("127.0.0.1", ["52.89.214.238", "203.0.113.9"], trusted) == "203.0.113.9"
    # forms proxies write: a port, brackets, an IPv4-mapped IPv6 address
    assert client_ip("127.0.0.1", ["1.2.3.4:5678"], trusted) == "1.2.3.4"
    assert client_ip("127.0.0.1", ["[2001:db8::1]:443"], trusted) == "2001:db8::1"
    assert client_ip("127.0.0.1", ["::ffff:52.89.214.238"], trusted) == "52.89.214.238"
    # a hop that is no address is the client all the same, and no allowlist admits it
    weird = client_ip("127.0.0.1", ["52.89.214.238, unknown"], trusted)
    assert weird.startswith("?") and not allowed(weird, parse_allowlist(["tradingview"]))
    assert ipaddress.ip_address(client_ip("127.0.0.1", [], trusted)) == ipaddress.ip_address(
        "127.0.0.1"
    )


# ---------------------------------------------------------------- through the server


def forwarded(lines: list[bytes]) -> list[tuple[bytes, bytes]]:
    return [(b"X-Forwarded-For", line) for line in lines]


async def behind_proxy(
    start_world: Callable[..., Any], allow_ips: list[str] | None = None, **settings: Any
) -> tuple[int, bytes]:
    """A running product behind a proxy on 127.0.0.1 with one bot: (the port, its webhook path)."""
    world: World = await start_world(trusted_proxies="127.0.0.1", **settings)
    bot = await world.add_bot("tv", **({"allow_ips": allow_ips} if allow_ips else {}))
    assert world.server.port is not None
    return world.server.port, f"/webhook/{bot.webhook_key}".encode()


async def test_a_forged_first_line_does_not_pass_the_allowlist(
    start_world: Callable[..., Any],
) -> None:
    port, path = await behind_proxy(start_world, allow_ips=["tradingview"])
    body = b"buy BTCUSDT price=1"
    # the client sends a TradingView address; the proxy adds its own line with the real peer
    forged = forwarded([b"52.89.214.238", b"203.0.113.9"])
    response = await send(port, build(b"POST", path, forged, body))
    assert response.status == 403, response
    assert "203.0.113.9" in response.json()["reason"]
    # TradingView itself, behind the same proxy, passes
    real = forwarded([b"198.51.100.7", b"52.89.214.238"])
    response = await send(port, build(b"POST", path, real, body))
    assert response.status == 200, response


async def test_generated_forwarded_lines_never_pass_for_an_outsider(
    start_world: Callable[..., Any],
) -> None:
    port, path = await behind_proxy(start_world, allow_ips=["tradingview"])
    outsiders = st.one_of(ipv4, ipv6).filter(lambda a: str(parse_ip(a)) not in TRADINGVIEW_IPS)
    printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)
    lines = st.lists(
        st.lists(st.one_of(st.sampled_from(TRADINGVIEW_IPS), printable), max_size=3).map(", ".join),
        max_size=3,
    )

    async def check(example: tuple[list[str], str, bool]) -> None:
        injected, real, tradingview = example
        sender = TRADINGVIEW_IPS[0] if tradingview else real
        headers = forwarded([line.encode() for line in injected] + [sender.encode()])
        response = await send(port, build(b"POST", path, headers, b"tick BTCUSDT"))
        if tradingview:
            assert response.status == 200, (injected, response)
        else:
            assert response.status == 403, (injected, real, response)
            assert str(parse_ip(real)) in response.json()["reason"]

    await asyncio.to_thread(
        run_examples,
        asyncio.get_running_loop(),
        st.tuples(lines, outsiders, st.booleans()),
        check,
        max_examples=80,
    )


async def test_a_forged_client_certificate_verdict_line_does_not_pass(
    start_world: Callable[..., Any],
) -> None:
    """The same class for `X-Client-Verify`: a proxy that appends its verdict after a client's
    `SUCCESS` line does not make the request verified."""
    port, path = await behind_proxy(start_world, webhook_require_client_cert=True)
    body = b"buy BTCUSDT price=1"
    for lines, status in (
        ([b"SUCCESS", b"NONE"], 403),
        ([b"SUCCESS", b"FAILED:unable to verify"], 403),
        ([b"NONE", b"SUCCESS"], 403),
        ([b"SUCCESS"], 200),
    ):
        headers = [(b"X-Client-Verify", line) for line in lines]
        response = await send(port, build(b"POST", path, headers, body))
        assert response.status == status, (lines, response)
