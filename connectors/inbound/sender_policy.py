"""Who may send on an HL7 channel: the networks a sender may connect from (CIDR) and the
sending applications and facilities (MSH-3, MSH-4) it may name. A message from anyone else is
answered ``AR`` and kept with status ``refused`` and the reason, for an operator to see.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from mappings.v2.header import MessageHeader


@dataclass(frozen=True)
class AllowedSender:
    """One sender a channel accepts; an empty part matches any value."""

    application: str = ""
    facility: str = ""

    def matches(self, header: MessageHeader) -> bool:
        return ((not self.application or self.application == header.sending_application)
                and (not self.facility or self.facility == header.sending_facility))


@dataclass(frozen=True)
class SenderPolicy:
    """A channel's ``allowed_networks`` and ``allowed_senders``; empty lists allow everyone.

    Example::

        policy = SenderPolicy.from_options({"allowed_networks": ["10.1.0.0/16"],
                                            "allowed_senders": [{"facility": "NORTHSIDE"}]})
        policy.refusal("10.1.2.3:5123", header)   # None: allowed
    """

    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    senders: tuple[AllowedSender, ...] = field(default_factory=tuple)

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> "SenderPolicy":
        """The policy of a channel's options; ``ValueError`` naming a network that is not CIDR."""
        networks = []
        for text in options.get("allowed_networks") or []:
            try:
                networks.append(ipaddress.ip_network(str(text), strict=False))
            except ValueError:
                raise ValueError(f"allowed_networks: {text!r} is not a network (CIDR, e.g. 10.0.0.0/8)") from None
        senders = tuple(AllowedSender(s.get("application") or "", s.get("facility") or "")
                        for s in options.get("allowed_senders") or [])
        return cls(tuple(networks), senders)

    @property
    def restricts(self) -> bool:
        return bool(self.networks or self.senders)

    def refusal(self, peer: str | None, header: MessageHeader | None) -> str | None:
        """Why a message from ``peer`` (``host:port`` or ``host``) with ``header`` is refused; ``None`` when allowed.
        The reason names the rule, never the message's content."""
        if self.networks and not self._from_allowed_network(peer):
            return "sender's network is not allowed on this channel"
        if self.senders and (header is None or not any(s.matches(header) for s in self.senders)):
            return "sending application or facility (MSH-3/MSH-4) is not allowed on this channel"
        return None

    def _from_allowed_network(self, peer: str | None) -> bool:
        host = _host_of(peer)
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)


def _host_of(peer: str | None) -> str:
    """The address of ``1.2.3.4:5``, ``[::1]:5``, ``::1`` or ``1.2.3.4``."""
    if not peer:
        return ""
    if peer.startswith("["):
        return peer[1:peer.find("]")]
    if peer.count(":") == 1:
        return peer.rsplit(":", 1)[0]
    return peer
