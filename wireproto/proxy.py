"""The PROXY protocol, versions 1 and 2 (HAProxy's ``proxy-protocol.txt``).

A load balancer in front of the server opens each connection with a header
naming the real client; the client's own bytes follow. Everything here is
sans-I/O: :func:`detect_proxy` tells whether a stream starts with a header,
:func:`parse_proxy_header` reads one, and :class:`ProxySettings` says which
peers are trusted to send one. :class:`wireproto.connection.Connection` runs
this before detecting the wire format when a listener enables it.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from wireproto.detect import Verdict
from wireproto.errors import ProtocolError

__all__ = [
    "V1_MAX_LENGTH",
    "V1_PREFIX",
    "V2_SIGNATURE",
    "ProxyHeader",
    "ProxySettings",
    "build_proxy_v1",
    "build_proxy_v2",
    "detect_proxy",
    "parse_proxy_header",
]

V1_PREFIX = b"PROXY "
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_MAX_LENGTH = 107
"""The longest version 1 line, CRLF included."""

_V2_FIXED = 16
_V2_ADDRESS_SIZES = {0x1: 12, 0x2: 36, 0x3: 216}  # AF_INET, AF_INET6, AF_UNIX
_LOCAL, _PROXY = 0x0, 0x1
_STREAM = 0x1

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """A parsed PROXY header.

    ``source`` and ``destination`` are ``None`` when the header carries no
    usable address (version 1 ``UNKNOWN``, version 2 ``LOCAL``, ``AF_UNSPEC``
    or ``AF_UNIX``): the connection's own addresses apply. ``tlvs`` are the
    version 2 type-length-value fields, in order.
    """

    version: int
    source: Address | None = None
    destination: Address | None = None
    local: bool = False
    tlvs: tuple[tuple[int, bytes], ...] = ()


def _ip(address: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # a dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d
    return ip


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """Who may send a PROXY header on a listener.

    Peers in ``trusted_networks`` may send one (and must, if ``required``);
    a header from any other peer is a protocol error and the connection is
    closed. Without a header, detection goes on as usual. The header must fit
    in ``ConnectionSettings.max_detect_bytes`` and arrive before the
    detection deadline.
    """

    trusted_networks: tuple[Network, ...] = field(default=())
    required: bool = False

    def __post_init__(self) -> None:
        # Strings are accepted too ("10.0.0.0/8"): normalise to networks.
        networks = tuple(ipaddress.ip_network(net) for net in self.trusted_networks)
        object.__setattr__(self, "trusted_networks", networks)

    @classmethod
    def from_strings(cls, networks: Iterable[str], *, required: bool = False) -> ProxySettings:
        """Settings trusting ``networks`` given as text (``"10.0.0.0/8"``, ``"::1/128"``)."""
        return cls(tuple(ipaddress.ip_network(net) for net in networks), required)

    def trusts(self, peername: object) -> bool:
        """Whether a peer (a socket ``peername``, or a host string) may send a header."""
        host = peername[0] if isinstance(peername, tuple) and peername else peername
        ip = _ip(host if isinstance(host, str) else None)
        return ip is not None and any(ip in network for network in self.trusted_networks)


def detect_proxy(data: bytes) -> Verdict:
    """``MATCH`` when ``data`` starts with a version 1 or 2 header's signature."""
    if data.startswith((V1_PREFIX, V2_SIGNATURE)):
        return Verdict.MATCH
    if V1_PREFIX.startswith(data) or V2_SIGNATURE.startswith(data):
        return Verdict.NEED_MORE
    return Verdict.NO_MATCH


def parse_proxy_header(data: bytes) -> tuple[ProxyHeader, int] | None:
    """Parse the header at the start of ``data``: ``(header, its size)``, or None if incomplete.

    ``data`` must start with a signature (:func:`detect_proxy` said ``MATCH``).
    Anything that does not follow the specification exactly raises
    ``ProtocolError``.
    """
    if data.startswith(V2_SIGNATURE):
        return _parse_v2(data)
    if data.startswith(V1_PREFIX):
        return _parse_v1(data)
    raise ProtocolError("not a PROXY protocol header")


def _parse_v1(data: bytes) -> tuple[ProxyHeader, int] | None:
    end = data.find(b"\r\n", 0, V1_MAX_LENGTH)
    if end < 0:
        if len(data) >= V1_MAX_LENGTH:
            raise ProtocolError("PROXY v1 line without CRLF in its first 107 bytes")
        if b"\n" in data:
            raise ProtocolError("PROXY v1 line not ended by CRLF")
        return None
    line = data[len(V1_PREFIX) : end]
    if b"\r" in line or b"\n" in line:
        raise ProtocolError("PROXY v1 line not ended by CRLF")
    parts = line.split(b" ")
    if parts[0] == b"UNKNOWN":
        return ProxyHeader(1), end + 2
    if parts[0] not in (b"TCP4", b"TCP6") or len(parts) != 5:
        raise ProtocolError(f"malformed PROXY v1 line {bytes(data[: end + 2])!r}")
    family = ipaddress.IPv4Address if parts[0] == b"TCP4" else ipaddress.IPv6Address
    try:
        source = family(parts[1].decode("ascii"))
        destination = family(parts[2].decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ProtocolError(f"bad address in PROXY v1 line {bytes(data[: end + 2])!r}") from None
    ports = [_v1_port(part) for part in parts[3:5]]
    return ProxyHeader(1, (str(source), ports[0]), (str(destination), ports[1])), end + 2


def _v1_port(text: bytes) -> int:
    if not text.isdigit() or len(text) > 5 or (len(text) > 1 and text.startswith(b"0")):
        raise ProtocolError(f"bad port {text!r} in PROXY v1 line")
    port = int(text)
    if port > 65535:
        raise ProtocolError(f"bad port {text!r} in PROXY v1 line")
    return port


def _parse_v2(data: bytes) -> tuple[ProxyHeader, int] | None:
    if len(data) < _V2_FIXED:
        return None
    version_command, family_protocol, length = struct.unpack_from(">BBH", data, 12)
    if version_command >> 4 != 2:
        raise ProtocolError(f"PROXY v2 header with version {version_command >> 4}")
    command = version_command & 0xF
    if command not in (_LOCAL, _PROXY):
        raise ProtocolError(f"PROXY v2 header with command {command}")
    family, protocol = family_protocol >> 4, family_protocol & 0xF
    if family > 0x3 or protocol > 0x2:
        raise ProtocolError(f"PROXY v2 header with family/protocol 0x{family_protocol:02x}")
    size = _V2_FIXED + length
    if len(data) < size:
        return None
    body = data[_V2_FIXED:size]
    if command == _LOCAL:  # a health check from the proxy itself: its own addresses apply
        return ProxyHeader(2, local=True), size
    address_size = _V2_ADDRESS_SIZES.get(family, 0) if protocol else 0
    if len(body) < address_size:
        raise ProtocolError(f"PROXY v2 address block of {len(body)} bytes, {address_size} needed")
    source = destination = None
    if family in (0x1, 0x2) and protocol == _STREAM:
        half = (address_size - 4) // 2
        ip_type = ipaddress.IPv4Address if family == 0x1 else ipaddress.IPv6Address
        source_port, destination_port = struct.unpack_from(">HH", body, 2 * half)
        source = (str(ip_type(body[:half])), source_port)
        destination = (str(ip_type(body[half : 2 * half])), destination_port)
    elif family in (0x1, 0x2):
        raise ProtocolError("PROXY v2 header for a datagram connection")
    if not family or not protocol:  # UNSPEC: the whole block is to be ignored
        return ProxyHeader(2), size
    return ProxyHeader(2, source, destination, tlvs=_tlvs(body[address_size:])), size


def _tlvs(data: bytes) -> tuple[tuple[int, bytes], ...]:
    tlvs = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < 3:
            raise ProtocolError("truncated TLV in a PROXY v2 header")
        kind, length = struct.unpack_from(">BH", data, offset)
        offset += 3
        if len(data) - offset < length:
            raise ProtocolError("truncated TLV in a PROXY v2 header")
        tlvs.append((kind, bytes(data[offset : offset + length])))
        offset += length
    return tuple(tlvs)


def build_proxy_v1(source: Address | None, destination: Address | None = None) -> bytes:
    """A version 1 line (clients and tests); no addresses gives ``PROXY UNKNOWN``."""
    if source is None or destination is None:
        return b"PROXY UNKNOWN\r\n"
    ip = ipaddress.ip_address(source[0])
    family = "TCP4" if ip.version == 4 else "TCP6"
    return (
        f"PROXY {family} {ip} {ipaddress.ip_address(destination[0])} "
        f"{source[1]} {destination[1]}\r\n"
    ).encode("ascii")


def build_proxy_v2(
    source: Address | None,
    destination: Address | None = None,
    *,
    tlvs: Iterable[tuple[int, bytes]] = (),
) -> bytes:
    """A version 2 header (clients and tests); no addresses gives a ``LOCAL`` command."""
    extra = b"".join(struct.pack(">BH", kind, len(value)) + value for kind, value in tlvs)
    if source is None or destination is None:
        return V2_SIGNATURE + struct.pack(">BBH", 0x20, 0x00, len(extra)) + extra
    src, dst = ipaddress.ip_address(source[0]), ipaddress.ip_address(destination[0])
    if src.version != dst.version:
        raise ValueError("source and destination must be of one address family")
    family = 0x11 if src.version == 4 else 0x21
    addresses = src.packed + dst.packed + struct.pack(">HH", source[1], destination[1])
    body = addresses + extra
    return V2_SIGNATURE + struct.pack(">BBH", 0x21, family, len(body)) + body
