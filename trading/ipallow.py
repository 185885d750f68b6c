"""IP allowlists for webhooks: addresses, CIDRs, or `tradingview` for TradingView's senders."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

# TradingView's published webhook sender addresses (its "About webhooks" help page).
TRADINGVIEW_IPS = ("52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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
    """True when there is no allowlist, or the address is in it."""
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(remote_ip)
    except ValueError:
        return False
    return any(address in network for network in networks)


def client_ip(peer: str, forwarded_for: str | None, trusted: list[Network]) -> str:
    """The sender's address: the peer, unless the peer is a trusted proxy; then the rightmost
    `X-Forwarded-For` entry that is not itself a trusted proxy (entries further left are
    whatever the client chose to send, so they are never believed)."""
    if not trusted or not forwarded_for or not _in(peer, trusted):
        return peer
    for hop in reversed([part.strip() for part in forwarded_for.split(",") if part.strip()]):
        if not _in(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # a malformed hop: fall back to the proxy's own address
    return peer


def from_trusted_proxy(peer: str, trusted: list[Network]) -> bool:
    return bool(trusted) and _in(peer, trusted)


def _in(address: str, networks: list[Network]) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in networks)
