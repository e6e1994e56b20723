"""The PROXY protocol, versions 1 and 2 (HAProxy's ``proxy-protocol.txt``).

A load balancer in front of the server opens each connection with a header
naming the real client; the client's own bytes follow. Everything here is
sans-I/O: :func:`detect_proxy` tells whether a stream starts with a header,
:func:`parse_proxy_header` reads one (version 2 through the construct
declaration :data:`PROXY_V2`, which :func:`build_proxy_v2` builds with), and
:class:`ProxySettings` is the layer kind (:mod:`wireproto._layer`) that says
which peers are trusted to send one. Put it first in
``ConnectionSettings.layers``: its :class:`ProxyLayer` reads the header,
names the real client, and hands the rest of the stream to an inner
connection, which detects again (TLS, then the format).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import construct as c

from wireproto._detect import Verdict, WireFormat
from wireproto._errors import CloseReason, ProtocolError
from wireproto._layer import Admission, BaseLayer, LayerHost
from wireproto._session import Limits

__all__ = [
    "PROXY",
    "PROXY_V2",
    "V1_MAX_LENGTH",
    "V1_PREFIX",
    "V2_FIXED",
    "V2_SIGNATURE",
    "ProxyHeader",
    "ProxyLayer",
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
_LOCAL, _PROXY = 0x0, 0x1
_INET, _INET6, _UNIX = 0x1, 0x2, 0x3
_STREAM = 0x1

V2_FIXED = c.Struct(
    "signature" / c.Const(V2_SIGNATURE),
    "version_command" / c.BitStruct("version" / c.Nibble, "command" / c.Nibble),
    "family_protocol" / c.BitStruct("family" / c.Nibble, "protocol" / c.Nibble),
    "length" / c.Int16ub,
)
"""The fixed 16 bytes of a version 2 header (the length is the body's)."""

_TLV = c.Struct("type" / c.Int8ub, "value" / c.Prefixed(c.Int16ub, c.GreedyBytes))


def _inet(size: int) -> c.Struct:
    return c.Struct(
        "source" / c.Bytes(size),
        "destination" / c.Bytes(size),
        "source_port" / c.Int16ub,
        "destination_port" / c.Int16ub,
    )


_ADDRESS_BLOCKS: dict[int, c.Construct[Any, Any]] = {
    _INET: _inet(4),
    _INET6: _inet(16),
    _UNIX: c.Struct("source" / c.Bytes(108), "destination" / c.Bytes(108)),
}
_V2_ADDRESS_SIZES = {family: block.sizeof() for family, block in _ADDRESS_BLOCKS.items()}


def _addressed(ctx: Any) -> bool:
    """Whether the body holds addresses and TLVs (a PROXY command, a known family)."""
    return bool(
        ctx.version_command.command == _PROXY
        and ctx.family_protocol.family
        and ctx.family_protocol.protocol
    )


_ADDRESSED: c.Construct[Any, Any] = c.Struct(
    "addresses" / c.Switch(c.this._.family_protocol.family, _ADDRESS_BLOCKS),
    "tlvs" / c.GreedyRange(_TLV),
    c.Terminated,
)
_IGNORED: c.Construct[Any, Any] = c.GreedyBytes  # LOCAL or UNSPEC: the block is to be ignored

PROXY_V2 = c.Struct(
    *V2_FIXED.subcons[:3],  # the fixed part's fields, declared once above
    "body"
    / c.Prefixed(
        c.Int16ub,
        c.IfThenElse(_addressed, _ADDRESSED, _IGNORED),
    ),
)
"""A whole version 2 header: the fixed part, then the address block and TLVs.

:func:`parse_proxy_header` and :func:`build_proxy_v2` both use it.
"""

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
    in ``ConnectionSettings.max_detect_bytes`` and be whole within
    ``header_timeout`` seconds of its first byte (``None``: no deadline); the
    detection of the inner stream then starts afresh.
    """

    trusted_networks: tuple[Network, ...] = field(default=())
    required: bool = False
    header_timeout: float | None = 5.0

    def __post_init__(self) -> None:
        if self.header_timeout is not None and not self.header_timeout > 0:
            raise ValueError("header_timeout must be positive or None")
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

    # -- the layer kind --------------------------------------------------------

    @property
    def wire_format(self) -> WireFormat:
        """:data:`PROXY`."""
        return PROXY

    @property
    def limits(self) -> Limits:
        """The outer connection's limits, to read a header (the inner format's apply inside)."""
        return Limits(max_message_size=_V2_FIXED + 0xFFFF)

    @property
    def outcome(self) -> str:
        """A header from a trusted peer counts as the detection outcome ``proxy``."""
        return "proxy"

    @property
    def names_client(self) -> bool:
        """The header names the real client."""
        return True

    def admission(self, extra: Mapping[str, object]) -> Admission:
        """Trusted peers may (or, ``required``, must) send a header; others may not."""
        if not self.trusts(extra.get("peername")):
            return Admission.REFUSED
        return Admission.REQUIRED if self.required else Admission.ALLOWED

    def rejection(self, present: bool, extra: Mapping[str, object]) -> ProtocolError | None:
        """A header from an untrusted peer, or none from a trusted one where it is required."""
        if present:
            return ProtocolError(f"PROXY protocol header from untrusted {extra.get('peername')}")
        return ProtocolError("a PROXY protocol header is required")

    def create(self, host: LayerHost) -> ProxyLayer:
        """The PROXY layer of one connection."""
        timeout = self.header_timeout
        return ProxyLayer(host, host.clock() + timeout if timeout is not None else None)


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
        if data.find(b"\n") >= 0:  # not ``in``: see guard.is_http_line
            raise ProtocolError("PROXY v1 line not ended by CRLF")
        return None
    line = data[len(V1_PREFIX) : end]
    if line.find(b"\r") >= 0 or line.find(b"\n") >= 0:
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
    fixed = V2_FIXED.parse(data)
    version, command = fixed.version_command.version, fixed.version_command.command
    family, protocol = fixed.family_protocol.family, fixed.family_protocol.protocol
    if version != 2:
        raise ProtocolError(f"PROXY v2 header with version {version}")
    if command not in (_LOCAL, _PROXY):
        raise ProtocolError(f"PROXY v2 header with command {command}")
    if family > _UNIX or protocol > 0x2:
        raise ProtocolError(f"PROXY v2 header with family/protocol 0x{data[13]:02x}")
    size = _V2_FIXED + fixed.length
    if len(data) < size:
        return None
    if command == _LOCAL:  # a health check from the proxy itself: its own addresses apply
        return ProxyHeader(2, local=True), size
    if not family or not protocol:  # UNSPEC: the whole block is to be ignored
        return ProxyHeader(2), size
    address_size = _V2_ADDRESS_SIZES[family]
    if fixed.length < address_size:
        raise ProtocolError(
            f"PROXY v2 address block of {fixed.length} bytes, {address_size} needed"
        )
    if family != _UNIX and protocol != _STREAM:
        raise ProtocolError("PROXY v2 header for a datagram connection")
    try:
        body = PROXY_V2.parse(data[:size]).body
    except c.ConstructError:
        raise ProtocolError("truncated TLV in a PROXY v2 header") from None
    tlvs = tuple((tlv.type, tlv.value) for tlv in body.tlvs)
    if family == _UNIX:
        return ProxyHeader(2, tlvs=tlvs), size
    addresses = body.addresses
    ip_type = ipaddress.IPv4Address if family == _INET else ipaddress.IPv6Address
    source = (str(ip_type(addresses.source)), addresses.source_port)
    destination = (str(ip_type(addresses.destination)), addresses.destination_port)
    return ProxyHeader(2, source, destination, tlvs=tlvs), size


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
    tlv_list: list[dict[str, Any] | None] = [
        {"type": kind, "value": bytes(value)} for kind, value in tlvs
    ]
    if source is None or destination is None:
        return bytes(
            PROXY_V2.build(
                {
                    "version_command": {"version": 2, "command": _LOCAL},
                    "family_protocol": {"family": 0, "protocol": 0},
                    "body": c.GreedyRange(_TLV).build(tlv_list),
                }
            )
        )
    src, dst = ipaddress.ip_address(source[0]), ipaddress.ip_address(destination[0])
    if src.version != dst.version:
        raise ValueError("source and destination must be of one address family")
    addresses = {
        "source": src.packed,
        "destination": dst.packed,
        "source_port": source[1],
        "destination_port": destination[1],
    }
    return bytes(
        PROXY_V2.build(
            {
                "version_command": {"version": 2, "command": _PROXY},
                "family_protocol": {
                    "family": _INET if src.version == 4 else _INET6,
                    "protocol": _STREAM,
                },
                "body": {"addresses": addresses, "tlvs": tlv_list},
            }
        )
    )


PROXY = WireFormat("proxy", detect_proxy)
"""The PROXY protocol layer's name and detector (either version's signature)."""


class ProxyLayer(BaseLayer):
    """Reads one PROXY header, names the real client, then passes the stream through."""

    def __init__(self, host: LayerHost, deadline: float | None) -> None:
        super().__init__(host)
        self.header: ProxyHeader | None = None
        self._deadline = deadline

    def try_consume(self, data: memoryview, /) -> int:
        """The header (once whole), then every byte to the inner connection."""
        given = len(data)
        if self.header is None:
            limit = self.host.max_detect_bytes
            parsed = parse_proxy_header(bytes(data[:limit]))
            if parsed is None:
                if given >= limit:
                    raise ProtocolError(f"PROXY protocol header longer than {limit} bytes")
                return 0
            header, size = parsed
            self.header = header
            extra: dict[str, object] = {"proxy_header": header}
            if header.source is not None:
                extra["proxy_source"] = header.source
                extra["proxy_destination"] = header.destination
            self.host.name_client(header.source, extra)
            if self.host.closed:  # the shell's per-client limit
                return given
            self.open_inner()
            data = data[size:]
        self.feed(data)
        self.flush()
        return given

    def next_deadline(self) -> float | None:
        """The detection deadline until the header is read, then the inner connection's."""
        return self._deadline if self.inner is None else super().next_deadline()

    def check_deadlines(self) -> None:
        """A header not whole by the detection deadline closes the connection."""
        if self.inner is None:
            if self._deadline is not None and self.host.clock() >= self._deadline:
                self.host.close(CloseReason.DETECT_TIMEOUT)
            return
        super().check_deadlines()
