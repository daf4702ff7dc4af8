"""What a security group's ingress rules let in, worked out from `describe_security_groups` data.

No AWS calls here: whether a set of addresses is "the world", which ports other than SSH a group
opens to it, and how the SSH rule must change to allow exactly the addresses asked for.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterable

SSH_PORT = 22
# Sources that together cover more addresses than one /8 of IPv4 (16.7 million) or one /32 of
# IPv6 (a whole ISP allocation) count as the whole internet: no one operator's addresses span
# more, and 0.0.0.0/0 split into halves (or a few wide prefixes) must not pass for a narrow rule.
WIDEST_IPV4_PREFIX = 8
WIDEST_IPV6_PREFIX = 32
_ALL_PORTS = (0, 65535)


def world_open(cidrs: Iterable[str]) -> bool:
    """Whether `cidrs` together cover more than a /8 of IPv4 or a /32 of IPv6."""
    networks = [ipaddress.ip_network(cidr, strict=False) for cidr in cidrs]
    v4 = [n for n in networks if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in networks if isinstance(n, ipaddress.IPv6Network)]
    v4_covered = sum(n.num_addresses for n in ipaddress.collapse_addresses(v4))
    v6_covered = sum(n.num_addresses for n in ipaddress.collapse_addresses(v6))
    v4_limit = 2 ** (32 - WIDEST_IPV4_PREFIX)
    v6_limit = 2 ** (128 - WIDEST_IPV6_PREFIX)
    return v4_covered > v4_limit or v6_covered > v6_limit


def _sources(permission: dict) -> list[str]:
    return [r["CidrIp"] for r in permission.get("IpRanges", [])] + [
        r["CidrIpv6"] for r in permission.get("Ipv6Ranges", [])
    ]


def _is_ssh_rule(permission: dict) -> bool:
    return (
        permission.get("IpProtocol") == "tcp"
        and permission.get("FromPort") == permission.get("ToPort") == SSH_PORT
    )


def _port_range(permission: dict, protocol: str) -> tuple[int, int]:
    if protocol not in ("tcp", "udp"):  # ICMP types and other protocols: one unit
        return (0, 0)
    if permission.get("IpProtocol") == "-1":
        return _ALL_PORTS
    return (permission["FromPort"], permission["ToPort"])


def _ports(protocol: str, first: int, last: int) -> str:
    if protocol not in ("tcp", "udp"):
        return protocol
    return f"{protocol} {first}" if first == last else f"{protocol} {first}-{last}"


def world_open_ports(permissions: list[dict]) -> list[str]:
    """Ports other than SSH's that the rules, taken together, open to the whole internet.

    Each entry reads like "tcp 6379-6380 from 0.0.0.0/1, 128.0.0.0/1". Rules are combined port
    by port, so two rules whose ranges overlap are judged by the sources they share there.
    """
    everything = [c for p in permissions if p.get("IpProtocol") == "-1" for c in _sources(p)]
    if world_open(everything):
        return [f"all traffic from {', '.join(dict.fromkeys(everything))}"]
    found = []
    for protocol in sorted({p["IpProtocol"] for p in permissions} - {"-1"}):
        rules = [
            (_port_range(p, protocol), _sources(p))
            for p in permissions
            if p.get("IpProtocol") in (protocol, "-1")
        ]
        cuts = {SSH_PORT, SSH_PORT + 1} if protocol == "tcp" else set()
        cuts |= {first for (first, _), _ in rules} | {last + 1 for (_, last), _ in rules}
        edges = sorted(cuts)
        for first, after in itertools.pairwise(edges):
            last = after - 1
            if protocol == "tcp" and first == last == SSH_PORT:
                continue  # SSH is set to exactly what the caller asks for (ssh_changes)
            sources = [c for (a, b), cidrs in rules if a <= first and last <= b for c in cidrs]
            if world_open(sources):
                shown = ", ".join(dict.fromkeys(sources))
                found.append(f"{_ports(protocol, first, last)} from {shown}")
    return found


def ssh_changes(permissions: list[dict], wanted: list[str]) -> tuple[list[str], list[str]]:
    """(to add, to remove) so that SSH is allowed from exactly `wanted`.

    Sources on port 22 that are no longer asked for (the caller's old addresses, or a wide rule
    added by hand) are removed; nothing else is touched.
    """

    def normal(cidr: str) -> str:
        return str(ipaddress.ip_network(cidr, strict=False))

    present = {normal(c): c for p in permissions if _is_ssh_rule(p) for c in _sources(p)}
    wanted_normal = {normal(c): c for c in wanted}
    add = [c for n, c in wanted_normal.items() if n not in present]
    remove = [c for n, c in present.items() if n not in wanted_normal]
    return add, remove


def ssh_permission(cidr: str, description: str | None = "SSH") -> dict:
    """The IpPermissions entry for SSH from `cidr` (without a description: to revoke it)."""
    key, field = ("Ipv6Ranges", "CidrIpv6") if ":" in cidr else ("IpRanges", "CidrIp")
    source = {field: cidr} | ({"Description": description} if description else {})
    return {"IpProtocol": "tcp", "FromPort": SSH_PORT, "ToPort": SSH_PORT, key: [source]}


def has_self_rule(permissions: list[dict], group_id: str) -> bool:
    """Whether all traffic from the group's own members is allowed (Ray's head and workers)."""
    return any(
        p.get("IpProtocol") == "-1"
        and any(pair.get("GroupId") == group_id for pair in p.get("UserIdGroupPairs", []))
        for p in permissions
    )
