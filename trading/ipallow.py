"""IP allowlists for webhooks: addresses, CIDRs, or `tradingview` for TradingView's senders."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

# TradingView's published webhook sender addresses (its "About webhooks" help page).
TRADINGVIEW_IPS = ("52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_HOP_TEXT = 64  # a malformed hop is reported, cut to this length
_IPV4_WITH_PORT = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$")
_BRACKETED_IPV6 = re.compile(r"^\[([0-9A-Fa-f:.]+(?:%[^\]]*)?)\](?::\d{1,5})?$")
_NOT_PRINTABLE_ASCII = re.compile(r"[^\x21-\x7e]")


def parse_allowlist(items: Iterable[str]) -> list[Network]:
    networks: list[Network] = []
    for item in items:
        text = item.strip()
        if not text:
            continue
        if text.lower() == "tradingview":
            networks.extend(ipaddress.ip_network(ip) for ip in TRADINGVIEW_IPS)
        else:
            networks.append(ipaddress.ip_network(text, strict=False))
    return networks


def allowed(remote_ip: str, networks: list[Network]) -> bool:
    """True when there is no allowlist, or the address is in it (never for a malformed one)."""
    return not networks or _in(remote_ip, networks)


def parse_ip(text: str) -> Address | None:
    """An address as proxies write it in `X-Forwarded-For`: bare, IPv4 with a port, or IPv6 in
    brackets with or without a port. An IPv4-mapped IPv6 address is the IPv4 address."""
    text = text.strip()
    if len(text) > 128:
        return None
    for pattern in (_IPV4_WITH_PORT, _BRACKETED_IPV6):
        match = pattern.match(text)
        if match:
            text = match.group(1)
            break
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def forwarded_hops(forwarded_for: str | Iterable[str] | None) -> list[str]:
    """Every `X-Forwarded-For` entry, left to right, over all of the header's lines: a proxy that
    adds its own line instead of extending the client's makes several (RFC 9110 §5.3: they are
    one comma-separated list)."""
    if forwarded_for is None:
        return []
    lines = [forwarded_for] if isinstance(forwarded_for, str) else list(forwarded_for)
    return [hop.strip() for line in lines for hop in line.split(",") if hop.strip()]


def client_ip(peer: str, forwarded_for: str | Iterable[str] | None, trusted: list[Network]) -> str:
    """The sender's address (SPEC §3): the peer, unless the peer is a trusted proxy; then the
    rightmost `X-Forwarded-For` hop (all lines read as one list) that is not itself a trusted
    proxy. Hops further left are whatever the client chose to send, so they are never believed.

    A rightmost untrusted hop that is not an address is still the client: it comes back as text
    that no allowlist admits (`?` and the hop in printable ASCII, cut short), never as the proxy's
    own address."""
    if not trusted or not _in(peer, trusted):
        return peer
    for hop in reversed(forwarded_hops(forwarded_for)):
        address = parse_ip(hop)
        if address is None:
            return "?" + _NOT_PRINTABLE_ASCII.sub("?", hop[:MAX_HOP_TEXT])
        if not any(address in network for network in trusted):
            return str(address)
    return peer


def from_trusted_proxy(peer: str, trusted: list[Network]) -> bool:
    return bool(trusted) and _in(peer, trusted)


def _in(address: str, networks: list[Network]) -> bool:
    parsed = parse_ip(address)
    return parsed is not None and any(parsed in network for network in networks)
