"""The RESP session provider: one store and one set of limits for all its connections."""

from __future__ import annotations

import os
import platform
import resource
import time
from typing import TYPE_CHECKING

from wireproto import AuthSettings, Limits, MessageConsumer, NetworkSender, _build

from ..kvstore import Databases, Store
from .commands import REDIS_VERSION, persistence
from .parser import HIREDIS_AVAILABLE, RespLimits
from .session import RespSession

if TYPE_CHECKING:
    from collections.abc import Callable

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


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _human(size: int) -> bytes:
    for unit in (b"B", b"K", b"M", b"G"):
        if size < 1024 or unit == b"G":
            return b"%.2f%s" % (size, unit) if unit != b"B" else b"%dB" % size
        size /= 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")  # pragma: no cover


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
    ``max_clients`` is only reported (INFO, CONFIG GET); the server enforces it.
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
        self.accelerated = _choose_accelerated(accelerated)
        self.max_clients = max_clients
        self._limits = Limits(
            max_message_size=self.resp_limits.max_message_size,
            max_output_buffered=self.resp_limits.output_limit,
        )
        self._started = time.monotonic()
        self._last_client_id = 0
        self.connected_clients = 0
        self.total_connections = 0
        self.commands_processed = 0

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

    def create_session(self, wire_format: WireFormat, sender: NetworkSender) -> MessageConsumer:
        """A new session on the shared store."""
        self._last_client_id += 1
        self.connected_clients += 1
        self.total_connections += 1
        return RespSession(self, sender, self._last_client_id)

    def session_closed(self, session: MessageConsumer) -> None:
        """Called once by each session's ``close()``."""
        self.connected_clients -= 1

    def sweep(self, max_keys: int = 20) -> int:
        """Remove up to ``max_keys`` expired keys from each database holding some; how many."""
        return sum(store.sweep(max_keys) for store in self.databases if store.expires_count)

    maintenance_interval = 0.1
    """Seconds between active-expiry rounds, as Redis's ``hz 10``."""

    def maintain(self) -> None:
        """One active-expiry round: expired keys nobody reads still leave.

        Like Redis's cycle, it goes on while whole batches of 20 keys were
        expired, up to 1,000 keys, so one round stays around a millisecond.
        """
        for _ in range(50):
            if self.sweep(20) < 20:
                break

    def config(self) -> dict[bytes, bytes]:
        """The parameters CONFIG GET reports."""
        return {
            b"databases": b"%d" % len(self.databases),
            b"maxclients": b"%d" % self.max_clients,
            b"maxmemory": b"0",
            b"maxmemory-policy": b"noeviction",
            b"proto-max-bulk-len": b"%d" % self.resp_limits.max_bulk_len,
            b"save": b"",
            b"timeout": b"0",
            **persistence.config_values(self.store),
        }

    def info(self, sections: list[bytes], server_stats: ServerStats | None = None) -> bytes:
        """The INFO text for the requested (lower-case) sections; none means default.

        ``server_stats`` (the listener's counters, when served by a
        :class:`~wireproto._server.Server`) adds the ``wireproto`` section.
        """
        wanted = set(sections) or {b"default"}
        every = bool(wanted & {b"all", b"everything", b"default"})
        renderers: list[tuple[bytes, Callable[[], bytes]]] = [
            (b"server", self._info_server),
            (b"clients", self._info_clients),
            (b"memory", self._info_memory),
            (b"persistence", lambda: persistence.info_section(self.store)),
            (b"stats", self._info_stats),
            (b"keyspace", self._info_keyspace),
        ]
        if server_stats is not None:
            renderers.append((b"wireproto", lambda: _info_wireproto(server_stats)))
        return b"\r\n".join(render() for name, render in renderers if every or name in wanted)

    def _info_server(self) -> bytes:
        uptime = int(time.monotonic() - self._started)
        return (
            b"# Server\r\n"
            b"redis_version:%s\r\n"
            b"redis_mode:standalone\r\n"
            b"server_name:wireproto\r\n"
            b"wireproto_build:%s\r\n"
            b"os:%s %s %s\r\n"
            b"arch_bits:64\r\n"
            b"multiplexing_api:asyncio\r\n"
            b"process_id:%d\r\n"
            b"uptime_in_seconds:%d\r\n"
            b"uptime_in_days:%d\r\n"
        ) % (
            REDIS_VERSION,
            _build.current().kind.encode(),
            platform.system().encode(),
            platform.release().encode(),
            platform.machine().encode(),
            os.getpid(),
            uptime,
            uptime // 86400,
        )

    def _info_clients(self) -> bytes:
        return b"# Clients\r\nconnected_clients:%d\r\nmaxclients:%d\r\nblocked_clients:0\r\n" % (
            self.connected_clients,
            self.max_clients,
        )

    def _info_memory(self) -> bytes:
        rss = _rss_bytes()
        return (
            b"# Memory\r\nused_memory:%d\r\nused_memory_human:%s\r\nused_memory_rss:%d\r\n"
            b"maxmemory:0\r\nmaxmemory_human:0B\r\nmaxmemory_policy:noeviction\r\n"
            % (rss, _human(rss), rss)
        )

    def _info_stats(self) -> bytes:
        return (
            b"# Stats\r\ntotal_connections_received:%d\r\ntotal_commands_processed:%d\r\n"
            b"expired_keys:%d\r\n"
            % (
                self.total_connections,
                self.commands_processed,
                sum(store.expired_keys for store in self.databases),
            )
        )

    def _info_keyspace(self) -> bytes:
        text = b"# Keyspace\r\n"
        for number, store in enumerate(self.databases):
            if len(store):
                text += b"db%d:keys=%d,expires=%d,avg_ttl=0\r\n" % (
                    number,
                    len(store),
                    store.expires_count,
                )
        return text


def _info_wireproto(stats: ServerStats) -> bytes:
    """The listener's counters: connections, detections, bytes, closes, per format."""
    lines = [
        b"# Wireproto",
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
