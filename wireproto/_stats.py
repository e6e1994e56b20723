"""What a server's connections share: counters, and the memory budget.

A :class:`StatsCollector` and a :class:`~wireproto.memory.MemoryBudget` are handed to every
:class:`~wireproto._connection.Connection` of a listener (and to the inner
inner connection of each layer). Connections count their own bytes in plain
integer attributes (a :class:`ConnectionCounts` each); the collector adds
them up when a connection closes and, for the open ones, when
:meth:`StatsCollector.snapshot` is called, so the per-read cost is one
addition.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from wireproto._errors import CloseReason
from wireproto.memory import MemoryBudget

__all__ = ["ConnectionCounts", "FormatStats", "MemoryBudget", "ServerStats", "StatsCollector"]


def _empty() -> Mapping[str, int]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class FormatStats:
    """Counters of one wire format.

    ``sessions``: connections that were given a session of this format (by
    detection or as the fallback). A connection running a layer counts under
    the layer's name (``tls``, ``proxy``, ...) and under the format detected
    inside it; ``bytes_*`` of the inner format are the inner stream's bytes
    (decrypted, after the PROXY header).
    """

    sessions: int = 0
    active: int = 0
    bytes_received: int = 0
    bytes_sent: int = 0
    protocol_errors: int = 0
    closes: Mapping[str, int] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True)
class ServerStats:
    """A snapshot of a server's counters (see ``Server.stats``).

    Totals count sockets: ``accepted`` connections, of which ``rejected``
    were closed at once over a limit (by reason) and never got a
    ``Connection``; ``active`` are open now; ``bytes_*`` are what went
    through the sockets (TLS records included); ``closes`` by reason of the
    outer connection (a layer's connection closed by its inner session counts
    under the inner reason). ``detections`` counts the outcomes of every
    detection pass, the inner ones of layers included: ``match``,
    ``fallback``, ``no-match``, ``timeout``, ``proxy`` (a PROXY header from a
    peer allowed to send one) and ``<layer>-rejected`` (``proxy-rejected``: a
    header from an untrusted peer, or none where one is required).
    ``protocol_errors`` counts connections of any layer closed for a
    protocol error. ``draining``: the server is stopping (``Server.drain()``
    or ``close()``); a health check should fail so that traffic moves away.
    """

    accepted: int = 0
    active: int = 0
    rejected: Mapping[str, int] = field(default_factory=_empty)
    detections: Mapping[str, int] = field(default_factory=_empty)
    bytes_received: int = 0
    bytes_sent: int = 0
    protocol_errors: int = 0
    closes: Mapping[str, int] = field(default_factory=_empty)
    formats: Mapping[str, FormatStats] = field(default_factory=lambda: MappingProxyType({}))
    receive_memory: int = 0
    receive_memory_limit: int = 0
    draining: bool = False

    @property
    def rejected_total(self) -> int:
        """Connections refused at accept, all reasons."""
        return sum(self.rejected.values())


class _FormatCounters:
    __slots__ = ("bytes_received", "bytes_sent", "closes", "protocol_errors", "sessions")

    def __init__(self) -> None:
        self.sessions = 0
        self.bytes_received = 0
        self.bytes_sent = 0
        self.protocol_errors = 0
        self.closes: Counter[str] = Counter()


class ConnectionCounts:
    """One connection's byte counters, which the connection bumps and the collector reads.

    ``socket``: the connection is a socket's (not a layer's inner
    connection); ``format``: the name of the format (or layer) it serves.
    """

    __slots__ = ("bytes_received", "bytes_sent", "format", "socket")

    def __init__(self, socket: bool) -> None:
        self.socket = socket
        self.format: str | None = None
        self.bytes_received = 0
        self.bytes_sent = 0


class StatsCollector:
    """Mutable counters fed by a server's shell and its connections.

    The hooks take values: a connection's :class:`ConnectionCounts`, a format
    name, a :class:`~wireproto._errors.CloseReason`. Users read
    :meth:`snapshot`.
    """

    def __init__(self) -> None:
        self.accepted = 0
        self.rejected: Counter[str] = Counter()
        self.detections: Counter[str] = Counter()
        self.closes: Counter[str] = Counter()
        self.protocol_errors = 0
        self._bytes_received = 0
        self._bytes_sent = 0
        self._formats: dict[str, _FormatCounters] = {}
        self._live: set[ConnectionCounts] = set()

    # -- hooks ------------------------------------------------------------------

    def connection_accepted(self) -> None:
        """A socket was accepted (before the limits are checked)."""
        self.accepted += 1

    def connection_rejected(self, reason: str) -> None:
        """A socket was closed at accept because of a limit."""
        self.rejected[reason] += 1

    def connection_opened(self, counts: ConnectionCounts) -> None:
        """A connection (a socket's, or a layer's inner one) started."""
        self._live.add(counts)

    def detected(self, outcome: str) -> None:
        """A detection pass ended with ``outcome``."""
        self.detections[outcome] += 1

    def session_started(self, counts: ConnectionCounts, format_name: str) -> None:
        """The connection of ``counts`` was given a session of the format ``format_name``."""
        counts.format = format_name
        self._format(format_name).sessions += 1

    def connection_closed(self, counts: ConnectionCounts, reason: CloseReason) -> None:
        """A connection closed for ``reason``: fold its counters into the totals."""
        if counts not in self._live:
            return
        self._live.discard(counts)
        protocol_error = reason is CloseReason.PROTOCOL_ERROR
        self.protocol_errors += protocol_error
        if counts.socket:
            self.closes[reason.value] += 1
            self._bytes_received += counts.bytes_received
            self._bytes_sent += counts.bytes_sent
        if counts.format is not None:
            counters = self._format(counts.format)
            counters.bytes_received += counts.bytes_received
            counters.bytes_sent += counts.bytes_sent
            counters.protocol_errors += protocol_error
            counters.closes[reason.value] += 1

    def counted_after_close(self, counts: ConnectionCounts, received: int, sent: int) -> None:
        """Bytes that went through a connection after its close was counted."""
        if counts.socket:
            self._bytes_received += received
            self._bytes_sent += sent
        if counts.format is not None:
            counters = self._format(counts.format)
            counters.bytes_received += received
            counters.bytes_sent += sent

    # -- reading ---------------------------------------------------------------

    def snapshot(self, budget: MemoryBudget | None = None, draining: bool = False) -> ServerStats:
        """The counters now, open connections included (``draining``: the server's state)."""
        bytes_received, bytes_sent, active = self._bytes_received, self._bytes_sent, 0
        live: dict[str, list[int]] = {}
        for counts in self._live:
            if counts.socket:
                active += 1
                bytes_received += counts.bytes_received
                bytes_sent += counts.bytes_sent
            if counts.format is not None:
                entry = live.setdefault(counts.format, [0, 0, 0])
                entry[0] += 1
                entry[1] += counts.bytes_received
                entry[2] += counts.bytes_sent
        formats = {}
        for name in sorted(self._formats.keys() | live.keys()):
            counters = self._formats.get(name) or _FormatCounters()
            open_ = live.get(name, [0, 0, 0])
            formats[name] = FormatStats(
                sessions=counters.sessions,
                active=open_[0],
                bytes_received=counters.bytes_received + open_[1],
                bytes_sent=counters.bytes_sent + open_[2],
                protocol_errors=counters.protocol_errors,
                closes=MappingProxyType(dict(counters.closes)),
            )
        return ServerStats(
            accepted=self.accepted,
            active=active,
            rejected=MappingProxyType(dict(self.rejected)),
            detections=MappingProxyType(dict(self.detections)),
            bytes_received=bytes_received,
            bytes_sent=bytes_sent,
            protocol_errors=self.protocol_errors,
            closes=MappingProxyType(dict(self.closes)),
            formats=MappingProxyType(formats),
            receive_memory=budget.used if budget is not None else 0,
            receive_memory_limit=budget.limit if budget is not None else 0,
            draining=draining,
        )

    def _format(self, name: str) -> _FormatCounters:
        counters = self._formats.get(name)
        if counters is None:
            counters = self._formats[name] = _FormatCounters()
        return counters
