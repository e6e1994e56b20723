"""The RESP session provider: one store and one set of limits for all its connections."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from wireproto import AuthSettings, Limits, MessageConsumer, NetworkSender
from wireproto._listener_limits import ListenerLimits
from wireproto._session import ListenerInfo
from wireproto._users import UserDirectory

from ..eviction import guard_of
from ..kvstore import Databases, Store
from .commands import COMMANDS, Client, Command, Tally, persistence
from .commands._hub import PubSubHub
from .commands._slowlog import SlowLog
from .info import InfoSection, InfoSections
from .parser import HIREDIS_AVAILABLE, RespLimits
from .session import RespSession

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from wireproto import ServerStats, WireFormat

__all__ = ["PARSER_ENV", "RespProvider"]

PARSER_ENV = "WIREPROTO_RESP_PARSER"
"""Environment variable choosing the parser when ``accelerated`` is None:
``pure``, ``hiredis``, or ``auto`` (hiredis when installed; the default)."""


def _choose_accelerated(accelerated: bool | None) -> bool:
    if accelerated is None:
        choice = os.environ.get(PARSER_ENV, "auto").strip().lower()
        if choice not in ("auto", "pure", "hiredis", ""):
            raise ValueError(f"{PARSER_ENV} must be auto, pure or hiredis, not {choice!r}")
        accelerated = HIREDIS_AVAILABLE if choice in ("auto", "") else choice == "hiredis"
    if accelerated and not HIREDIS_AVAILABLE:
        raise RuntimeError("the hiredis accelerator is not installed (pip install hiredis)")
    return accelerated


class RespProvider:
    """Serves RESP (Redis protocol) from an in-memory :class:`~providers.kvstore.Store`.

    Clients AUTH against the listener's :class:`~wireproto._auth.AuthSettings`
    (their sender's ``auth``). ``password`` (the default user's, as Redis's
    ``requirepass``) is for a provider used without a listener setting, e.g.
    driven directly; a :class:`~wireproto._server.Server` refuses to start
    when it differs from the listener's, since the other formats on the port
    would then be open. ``accelerated``: True forces the hiredis parser, False
    the pure-Python one, None follows :data:`PARSER_ENV` (default: hiredis when
    installed). ``clock`` (unix ms) is passed to a store created here.
    ``max_clients`` is ``maxclients`` outside a ``Server``; served by one, INFO
    and CONFIG report and change the limit the listener enforces
    (:class:`~wireproto._listener_limits.ListenerLimits`, for every format on it).
    ``databases`` are SELECT's 16 databases; database 0 is ``store`` (made
    around ``store`` when not given; a given one's database 0 is the store).
    """

    def __init__(
        self,
        *,
        password: bytes | str | None = None,
        limits: RespLimits | None = None,
        store: Store | None = None,
        databases: Databases | None = None,
        accelerated: bool | None = None,
        clock: Callable[[], int] | None = None,
        max_clients: int = 10000,
    ) -> None:
        self.password = password.encode() if isinstance(password, str) else password
        self.resp_limits = limits if limits is not None else RespLimits()
        if databases is None:
            databases = Databases(store if store is not None else Store(clock))
        elif store is not None and databases[0] is not store:
            raise ValueError("store must be database 0 of databases")
        self.databases = databases
        self.store = databases[0]
        guard_of(databases)  # made with the databases: untracked idle times count from now
        self.accelerated = _choose_accelerated(accelerated)
        self._max_clients = max_clients
        self.listener: ListenerInfo | None = None
        """The listener serving the latest connection (INFO's rates)."""
        self.listener_limits: ListenerLimits | None = None
        """The limits of the listener serving the latest connection (``maxclients``)."""
        self.timeout = 0
        """CONFIG ``timeout``: seconds a client may stay idle (0: forever)."""
        self._next_timeout_sweep = 0.0
        self._limits = _connection_limits(self.resp_limits)
        self.user_directories: dict[AuthSettings, UserDirectory] = {}
        """Users for sessions outside a ``Server`` (a listener keeps its own)."""
        self.monitors: dict[Client, None] = {}
        """The MONITOR connections."""
        self.active_expire = True
        """Whether :meth:`maintain` expires keys (DEBUG SET-ACTIVE-EXPIRE)."""
        self.hz = 10
        """Active-expiry rounds per second (CONFIG ``hz``, 1 to 500)."""
        self.clients: dict[int, RespSession] = {}
        """The open connections by CLIENT ID."""
        self.config_values: dict[bytes, bytes] = {}
        self.slowlog = SlowLog()
        """CONFIG parameters set at run time that only this record keeps."""
        self.pubsub = PubSubHub(self.databases_list)
        """Every connection's pub/sub subscriptions."""
        self.info_sections = InfoSections(self)
        self.info_sections.add(
            InfoSection(
                "persistence",
                "Persistence",
                lambda: persistence.info_section(self.store).split(b"\r\n", 1)[1],
            )
        )
        """INFO's sections (other modules add or replace some)."""
        self._last_client_id = 0
        self.connected_clients = 0
        self.total_connections = 0
        self.processed = Tally()
        """Commands run (INFO's ``total_commands_processed``)."""

    def databases_list(self) -> Sequence[Store]:
        """The numbered stores keyspace notifications watch (database 0 is :attr:`store`)."""
        databases: Sequence[Store] | None = getattr(self, "databases", None)
        return databases if databases is not None else [self.store]

    @property
    def limits(self) -> Limits:
        """Receive-buffer cap (one maximal bulk) and output backlog of RESP connections."""
        return self._limits

    def check_auth(self, auth: AuthSettings) -> None:
        """Refuse a listener whose password is not this provider's own (when it has one)."""
        if self.password is not None and auth.password != self.password:
            raise ValueError(
                "the RESP provider has its own password, which is not the listener's: only "
                "RESP clients would have to authenticate; give the password to the listener "
                "(ConnectionSettings(auth=...), wireproto serve --password) instead"
            )

    @property
    def max_clients(self) -> int:
        """``maxclients``: what the listener enforces (the given value outside a ``Server``)."""
        limits = self.listener_limits
        return limits.max_connections if limits is not None else self._max_clients

    def set_max_clients(self, value: int) -> None:
        """CONFIG SET maxclients: the listener admits ``value`` connections from now on.

        Raises :class:`~wireproto._listener_limits.OpenFilesLimit` (nothing
        changed) when the process may not hold that many.
        """
        limits = self.listener_limits
        if limits is not None:
            limits.set_max_connections(value)
        else:
            ListenerLimits(value)  # the same check
        self._max_clients = value

    def set_resp_limits(self, limits: RespLimits) -> None:
        """New request limits (CONFIG SET proto-max-bulk-len...) for new and open connections."""
        self.resp_limits = limits
        self._limits = connection_limits = _connection_limits(limits)
        for session in self.clients.values():
            session.set_limits(limits, connection_limits)

    def close_idle_clients(self, now: float) -> int:
        """Close the clients idle longer than :attr:`timeout` (seconds); how many.

        As Redis's ``clientsCronHandleTimeout``: subscribers, blocked clients and
        monitors are never closed for it. ``now`` is on ``time.monotonic``.
        """
        timeout = self.timeout
        if not timeout:
            return 0
        idle = [
            session
            for session in self.clients.values()
            if now - session.last_active > timeout
            and session.subscriptions is None
            and session.blocked is None
            and session not in self.monitors
        ]
        for session in idle:
            session.sender.close()
        return len(idle)

    def create_session(self, wire_format: WireFormat, sender: NetworkSender) -> MessageConsumer:
        """A new session on the shared store."""
        # A sender outside a Server (tests, fuzzing) may have no listener.
        listener = getattr(sender, "listener", None)
        if listener is not None:
            self.listener = listener
            limits = getattr(listener, "runtime_limits", None)
            if isinstance(limits, ListenerLimits):
                self.listener_limits = limits
        self._last_client_id += 1
        self.connected_clients += 1
        self.total_connections += 1
        session = RespSession(self, sender, self._last_client_id)
        self.clients[session.client_id] = session
        return session

    def session_closed(self, session: MessageConsumer) -> None:
        """Called once by each session's ``close()``."""
        self.connected_clients -= 1
        if isinstance(session, RespSession):
            self.clients.pop(session.client_id, None)
            self.monitors.pop(session, None)

    def sweep(self, max_keys: int = 20) -> int:
        """Remove up to ``max_keys`` expired keys from each database holding some; how many."""
        return sum(store.sweep(max_keys) for store in self.databases if store.expires_count)

    @property
    def maintenance_interval(self) -> float:
        """Seconds between active-expiry rounds: ``1 / hz``, as Redis's server cron."""
        return 1.0 / self.hz

    def maintain(self) -> None:
        """One active-expiry round: expired keys nobody reads still leave.

        Like Redis's cycle, it goes on while whole batches of 20 keys were
        expired, up to 1,000 keys, so one round stays around a millisecond.
        With a ``timeout``, idle clients are looked for once a second.
        """
        now = time.monotonic()
        if self.info_sections.rates.due(now):
            listener = self.listener
            self.info_sections.sample(now, listener.stats() if listener is not None else None)
        if self.timeout and now >= self._next_timeout_sweep:
            self._next_timeout_sweep = now + 1.0
            self.close_idle_clients(now)
        if not self.active_expire:
            return
        for _ in range(50):
            if self.sweep(20) < 20:
                break

    @property
    def database_count(self) -> int:
        """``databases``: how many numbered databases there are."""
        return len(self.databases_list())

    def command_list(self) -> Sequence[Command]:
        """Every command and subcommand of the table (COMMAND LIST's order)."""
        found: list[Command] = []
        # By identity: a container's subcommand mapping makes its Command unhashable.
        for command in {id(command): command for command in COMMANDS.values()}.values():
            found.append(command)
            if command.subcommands is not None:
                found.extend(command.subcommands.values())
        return found

    def reset_stats(self) -> None:
        """CONFIG RESETSTAT: INFO's counters start again from zero."""
        self.total_connections = 0
        self.processed.count = 0
        self.store.expired_keys = 0
        listener = self.listener
        self.info_sections.reset(listener.stats() if listener is not None else None)

    def info(
        self, sections: list[bytes], server_stats: ServerStats | None = None, port: int = 0
    ) -> bytes:
        """The INFO text for the requested (lower-case) sections; none means default.

        ``server_stats`` (the listener's counters, when served by a
        :class:`~wireproto._server.Server`) gives the network figures and adds the
        ``wireproto`` section; ``port`` is the one the asking client connected to.
        """
        extra = []
        if server_stats is not None:
            stats = server_stats
            extra.append(InfoSection("wireproto", "Wireproto", lambda: _info_wireproto(stats)))
        return self.info_sections.render(sections, extra, server_stats, port)


def _connection_limits(limits: RespLimits) -> Limits:
    """What the connection enforces for ``limits``: one maximal bulk, and its output backlog."""
    return Limits(max_message_size=limits.max_message_size, max_output_buffered=limits.output_limit)


def _info_wireproto(stats: ServerStats) -> bytes:
    """The listener's counters: connections, detections, bytes, closes, per format."""
    lines = [
        b"connections_accepted:%d" % stats.accepted,
        b"connections_active:%d" % stats.active,
        b"connections_rejected:%d" % stats.rejected_total,
        b"net_input_bytes:%d" % stats.bytes_received,
        b"net_output_bytes:%d" % stats.bytes_sent,
        b"protocol_errors:%d" % stats.protocol_errors,
        b"receive_memory:%d" % stats.receive_memory,
        b"receive_memory_limit:%d" % stats.receive_memory_limit,
    ]
    for prefix, counts in (
        (b"rejected", stats.rejected),
        (b"detections", stats.detections),
        (b"closes", stats.closes),
    ):
        lines.extend(
            b"%s_%s:%d" % (prefix, _info_name(name), count)
            for name, count in sorted(counts.items())
        )
    for name, fmt in sorted(stats.formats.items()):
        lines.append(
            b"format_%s:sessions=%d,active=%d,bytes_in=%d,bytes_out=%d,protocol_errors=%d"
            % (
                _info_name(name),
                fmt.sessions,
                fmt.active,
                fmt.bytes_received,
                fmt.bytes_sent,
                fmt.protocol_errors,
            )
        )
    return b"\r\n".join(lines) + b"\r\n"


def _info_name(name: str) -> bytes:
    return name.replace("-", "_").encode()
