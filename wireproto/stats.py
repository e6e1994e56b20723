"""What a server's connections share: counters, and the memory budget.

A :class:`StatsCollector` and a :class:`~wireproto.memory.MemoryBudget` are handed to every
:class:`~wireproto.connection.Connection` of a listener (and to the inner
connection of each TLS layer). Connections count their own bytes in plain
integer attributes; the collector adds them up when a connection closes and,
for the open ones, when :meth:`StatsCollector.snapshot` is called, so the
per-read cost is one addition.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from wireproto.memory import MemoryBudget

if TYPE_CHECKING:
    from wireproto.connection import Connection

__all__ = ["FormatStats", "MemoryBudget", "ServerStats", "StatsCollector"]


def _empty() -> Mapping[str, int]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class FormatStats:
    """Counters of one wire format.

    ``sessions``: connections that were given a session of this format (by
    detection or as the fallback). A TLS connection counts under ``tls`` and
    under the format detected inside it; ``bytes_*`` of the inner format are
    the decrypted bytes.
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
    outer connection (a TLS connection closed by its inner session counts
    under the inner reason). ``detections`` counts the outcomes of every
    detection pass, TLS inner ones included: ``match``, ``fallback``,
    ``no-match``, ``timeout``, ``proxy`` (a PROXY header accepted) and
    ``proxy-rejected``. ``protocol_errors`` counts connections of any layer
    closed for a protocol error.
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


class StatsCollector:
    """Mutable counters fed by a server's shell and its connections.

    The hooks are called by :class:`~wireproto.connection.Connection` and
    the server; users read :meth:`snapshot`.
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
        self._live: set[Connection] = set()

    # -- hooks ------------------------------------------------------------------

    def connection_accepted(self) -> None:
        """A socket was accepted (before the limits are checked)."""
        self.accepted += 1

    def connection_rejected(self, reason: str) -> None:
        """A socket was closed at accept because of a limit."""
        self.rejected[reason] += 1

    def connection_opened(self, connection: Connection) -> None:
        """A connection (outer, or a TLS layer's inner one) started."""
        self._live.add(connection)

    def detected(self, outcome: str) -> None:
        """A detection pass ended with ``outcome``."""
        self.detections[outcome] += 1

    def session_started(self, connection: Connection) -> None:
        """``connection`` was given a session of its ``wire_format``."""
        if connection.wire_format is not None:
            self._format(connection.wire_format.name).sessions += 1

    def connection_closed(self, connection: Connection) -> None:
        """``connection`` closed: fold its counters into the totals."""
        if connection not in self._live:
            return
        self._live.discard(connection)
        reason = connection.close_reason.value if connection.close_reason else "unknown"
        protocol_error = reason == "protocol-error"
        self.protocol_errors += protocol_error
        if connection.outer is None:
            self.closes[reason] += 1
            self._bytes_received += connection.bytes_received
            self._bytes_sent += connection.bytes_sent
        if connection.wire_format is not None:
            counters = self._format(connection.wire_format.name)
            counters.bytes_received += connection.bytes_received
            counters.bytes_sent += connection.bytes_sent
            counters.protocol_errors += protocol_error
            counters.closes[reason] += 1

    def counted_after_close(self, connection: Connection, received: int, sent: int) -> None:
        """Bytes that went through a connection after its close was counted."""
        if connection.outer is None:
            self._bytes_received += received
            self._bytes_sent += sent
        if connection.wire_format is not None:
            counters = self._format(connection.wire_format.name)
            counters.bytes_received += received
            counters.bytes_sent += sent

    # -- reading ---------------------------------------------------------------

    def snapshot(self, budget: MemoryBudget | None = None) -> ServerStats:
        """The counters now, open connections included."""
        bytes_received, bytes_sent, active = self._bytes_received, self._bytes_sent, 0
        live: dict[str, list[int]] = {}
        for connection in self._live:
            if connection.outer is None:
                active += 1
                bytes_received += connection.bytes_received
                bytes_sent += connection.bytes_sent
            if connection.wire_format is not None:
                entry = live.setdefault(connection.wire_format.name, [0, 0, 0])
                entry[0] += 1
                entry[1] += connection.bytes_received
                entry[2] += connection.bytes_sent
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
        )

    def _format(self, name: str) -> _FormatCounters:
        counters = self._formats.get(name)
        if counters is None:
            counters = self._formats[name] = _FormatCounters()
        return counters
