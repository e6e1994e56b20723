"""Admission: the listener's connection limits, overall and per client address."""

from __future__ import annotations

import functools
import ipaddress
import select
import socket
from collections.abc import Hashable, Iterable
from typing import Generic, Protocol, TypeVar

__all__ = [
    "REJECT_MAX_CONNECTIONS",
    "REJECT_MAX_PER_CLIENT",
    "ClientCounts",
    "Counted",
    "client_ip",
    "peer_closed",
]

REJECT_MAX_CONNECTIONS = "max-connections"
REJECT_MAX_PER_CLIENT = "max-connections-per-client"


class Counted(Hashable, Protocol):
    """A connection counted against its client's limit: its socket tells if the peer left."""

    @property
    def socket(self) -> socket.socket | None:
        """The connection's socket (None for other transports)."""
        ...


C = TypeVar("C", bound=Counted)


def client_ip(address: object) -> str | None:
    """The IP address of a peername or a PROXY source, IPv4-mapped IPv6 unwrapped."""
    host = address[0] if isinstance(address, tuple) and address else None
    if not isinstance(host, str):
        return None
    return _normal_ip(host)


# ipaddress parses in Python: once per address, not once per connection.
@functools.lru_cache(maxsize=1024)
def _normal_ip(host: str) -> str:
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


_HANGUP = select.POLLHUP | select.POLLERR | getattr(select, "POLLRDHUP", 0)


def peer_closed(connections: Iterable[C]) -> list[C]:
    """Those of ``connections`` whose peer has closed or reset its side (one ``poll``).

    Linux reports a FIN still unread as ``POLLRDHUP``, even behind unread
    data; elsewhere only a reset or a full hang-up is seen.
    """
    poller = select.poll()
    by_fd: dict[int, C] = {}
    for connection in connections:
        sock = connection.socket
        if sock is None:
            continue
        fd = sock.fileno()
        if fd >= 0:
            by_fd[fd] = connection
            poller.register(fd, _HANGUP)
    return [by_fd[fd] for fd, events in poller.poll(0) if events & _HANGUP and fd in by_fd]


class ClientCounts(Generic[C]):
    """The open connections counted against each client address's limit.

    ``limit`` is ``ServerLimits.max_connections_per_client`` (``None``: no limit).
    """

    def __init__(self, limit: int | None) -> None:
        self._limit = limit
        self._clients: dict[str, set[C]] = {}
        self._client_of: dict[C, str] = {}

    def over_limit(self, client: str) -> bool:
        """Whether one more connection from ``client`` would pass its limit."""
        limit = self._limit
        if limit is None:
            return False
        counted = self._clients.get(client)
        if counted is None or len(counted) < limit:
            return False
        # At the limit: the client may have closed some of them already, with
        # the FIN still unread (a client that connects, sends and closes faster
        # than the loop reads). They no longer count.
        for connection in peer_closed(counted):
            self.release(connection)
        return len(counted) >= limit

    def count(self, connection: C, client: str) -> None:
        """Count ``connection`` against ``client``'s limit."""
        self._client_of[connection] = client
        self._clients.setdefault(client, set()).add(connection)

    def release(self, connection: C) -> None:
        """Release ``connection``'s place under its client's limit (once; then a no-op)."""
        client = self._client_of.pop(connection, None)
        if client is None:
            return
        counted = self._clients.get(client)
        if counted is not None:
            counted.discard(connection)
            if not counted:
                del self._clients[client]

    def connections(self, client: str) -> int:
        """How many open connections count against ``client``."""
        return len(self._clients.get(client, ()))
