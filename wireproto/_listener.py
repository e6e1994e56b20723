"""The listener's state: what a :class:`~wireproto._server.Server` shares with its connections.

As uvicorn hands its ``ServerState`` to each protocol, the server hands one
:class:`ListenerState` to each connection's protocol adapter; neither reaches
into the other's attributes. Sessions see it read-only, as
:class:`~wireproto._session.ListenerInfo` (``sender.listener``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from wireproto._admission import (
    REJECT_MAX_CONNECTIONS,
    REJECT_MAX_PER_CLIENT,
    ClientCounts,
    Counted,
)
from wireproto._connection import CloseReason, Connection, ConnectionSettings
from wireproto._listener_limits import ListenerLimits
from wireproto._logs import ListenerWarnings
from wireproto._registry import Registry
from wireproto._stats import ServerStats, StatsCollector
from wireproto._users import UserDirectory
from wireproto._writes import TurnWrites
from wireproto.memory import MemoryBudget, give_back_memory

__all__ = ["GIVE_BACK", "ListenerState", "Served", "ServerLimits"]

GIVE_BACK = 32 << 20
"""A drop of the budget's use by this much since its high-water mark asks malloc to trim."""


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Limits over all of a listener's connections.

    ``max_connections``: open connections (closing ones included: they hold
    a descriptor); one more is closed as soon as it is accepted.
    ``max_connections_per_client``: the same per client IP address (the
    PROXY header's source for connections from a trusted proxy; ``None``:
    no limit). ``max_receive_memory``: the memory budget of all connections
    together (despite its name, everything a client makes the server hold:
    receive buffers, arguments not run yet, queued replies); a charge past
    it closes that connection (``CloseReason.MEMORY_LIMIT``), and a new
    connection whose first buffer does not fit is closed the same way.
    ``max_output_buffered``: lowers every provider's
    ``Limits.max_output_buffered`` (``None``: the provider's own); a
    connection whose queued replies would pass it is reset
    (``CloseReason.OUTPUT_LIMIT``), checked as the replies are built.
    """

    max_connections: int = 10_000
    max_connections_per_client: int | None = 1_000
    max_receive_memory: int = 1 << 30
    max_output_buffered: int | None = None

    def __post_init__(self) -> None:
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        if self.max_connections_per_client is not None and self.max_connections_per_client < 1:
            raise ValueError("max_connections_per_client must be at least 1 or None")
        if self.max_receive_memory < 1:
            raise ValueError("max_receive_memory must be at least 1")
        if self.max_output_buffered is not None and self.max_output_buffered < 1:
            raise ValueError("max_output_buffered must be at least 1 or None")


class Served(Counted, Protocol):
    """What the listener needs of one open connection's protocol adapter."""

    @property
    def connection(self) -> Connection:
        """The sans-I/O connection it drives."""
        ...

    @property
    def reading_paused(self) -> bool:
        """True while reading is paused because the peer does not read its replies."""
        ...

    def shutdown(self) -> None:
        """Write what the session queued, close it, then close the transport with a FIN."""
        ...

    def abort(self) -> None:
        """Drop the connection now (a reset)."""
        ...


class ListenerState:
    """Everything one listener's connections share: settings, counters, budget, admission.

    ``live`` maps each open connection to its protocol adapter; ``clients``
    counts them per client address; ``users`` are the users every format
    authenticates against (:mod:`wireproto._users`); ``runtime_limits`` the
    limits that may change while it serves (:mod:`wireproto._listener_limits`);
    ``writes`` batches the replies of one event-loop turn; ``refused`` is the
    closed connection that refused adapters read into. It is also the
    sessions' :class:`ListenerInfo`.
    """

    def __init__(
        self,
        registry: Registry,
        settings: ConnectionSettings,
        limits: ServerLimits,
        linger_timeout: float,
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.limits = limits
        self.runtime_limits = ListenerLimits(limits.max_connections)
        """The limits that may change while the listener serves (``CONFIG SET maxclients``)."""
        self.linger_timeout = linger_timeout
        self.counters = StatsCollector()
        self.users = UserDirectory(settings.auth)
        """The listener's users (ACL), shared by every format and connection on it."""
        self.budget = MemoryBudget(
            limits.max_receive_memory, max_output_buffered=limits.max_output_buffered
        )
        self.live: dict[Connection, Served] = {}
        self.clients: ClientCounts[Served] = ClientCounts(limits.max_connections_per_client)
        self.writes = TurnWrites()
        self.barriers = registry.reply_barriers  # run before any reply is written
        self.warnings = ListenerWarnings()
        # What refused protocols point at: closed, so it reads into a discard buffer.
        self.refused = Connection(
            Registry(), ConnectionSettings(max_detect_bytes=1, initial_buffer_size=1)
        )
        self.refused.close(CloseReason.SERVER_SHUTDOWN)
        self.idle = asyncio.Event()
        self.idle.set()
        self.closing = False
        self._draining = False

    # -- what sessions see (ListenerInfo) ------------------------------------------

    @property
    def draining(self) -> bool:
        """True once the server was asked to stop (``Server.drain()`` or ``close()``)."""
        return self._draining

    def drain(self) -> bool:
        """Start draining; True the first time only."""
        if self._draining:
            return False
        self._draining = True
        return True

    def stats(self) -> ServerStats:
        """A frozen snapshot of the counters, open connections included."""
        return self.counters.snapshot(self.budget, self._draining)

    # -- admission and the set of open connections ---------------------------------

    def refusal(self, client: str | None) -> str | None:
        """Why a new connection from ``client`` must be refused, or None."""
        if len(self.live) >= self.runtime_limits.max_connections:
            return REJECT_MAX_CONNECTIONS
        if client is not None and self.clients.over_limit(client):
            return REJECT_MAX_PER_CLIENT
        return None

    def attach(self, protocol: Served, client: str | None) -> None:
        """Count a new connection open (and against ``client``, when known)."""
        self.live[protocol.connection] = protocol
        if client is not None:
            self.clients.count(protocol, client)
        self.idle.clear()
        if self.closing:  # accepted just before the listener closed
            protocol.shutdown()

    def detach(self, protocol: Served) -> None:
        """Forget a connection whose transport was lost."""
        self.live.pop(protocol.connection, None)
        self.clients.release(protocol)
        if self.budget.gave_back(GIVE_BACK):
            give_back_memory()  # the connection's memory was freed: return the pages to the OS
        if not self.live:
            self.idle.set()
