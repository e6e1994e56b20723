"""INFO's sections, in Redis 7.0's order and field names, with what this server has.

A field this server has no counterpart for is left out rather than made up;
one whose honest value is constant (``connected_slaves:0``, ``cluster_enabled:0``)
is given. :class:`InfoSections` is the registry: other modules replace or add a
section (``persistence`` once there is persistence, ``keyspace`` per database).
"""

from __future__ import annotations

import os
import platform
import resource
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from wireproto import _build

from ..eviction import MemoryGuard, Settings, estimate
from ..kvstore import Store
from .commands import REDIS_VERSION
from .commands._hub import PubSubHub
from .commands._tracking import tracking_totals

__all__ = ["DEFAULT_SECTIONS", "InfoSection", "InfoSections", "human_bytes", "rss_bytes"]

DEFAULT_SECTIONS = (
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
)
"""What ``INFO`` and ``INFO default`` show, in order."""
_ALL_ONLY = ("commandstats", "latencystats")
"""What ``INFO all`` adds (placed as Redis places them)."""


@dataclass(frozen=True, slots=True)
class InfoSection:
    """One section: its lower-case name, title and field renderer (``name:value\\r\\n`` lines)."""

    name: str
    title: str
    render: Callable[[], bytes]
    default: bool = True
    """Shown by ``INFO`` and ``INFO default`` (else only when named, or by ``all``)."""


def rss_bytes() -> int:
    """The process's resident set size."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def human_bytes(size: int) -> bytes:
    """Redis's ``bytesToHuman``: ``1.50K``, ``0B``."""
    value = float(size)
    for unit in (b"B", b"K", b"M", b"G", b"T"):
        if value < 1024 or unit == b"T":
            return b"%dB" % size if unit == b"B" else b"%.2f%s" % (value, unit)
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _fields(*pairs: tuple[str, object]) -> bytes:
    return b"".join(
        b"%s:%s\r\n" % (name.encode(), value if isinstance(value, bytes) else str(value).encode())
        for name, value in pairs
    )


class Counted(Protocol):
    """What INFO reads of its provider (a ``RespProvider``)."""

    connected_clients: int
    total_connections: int
    commands_processed: int
    hz: int

    @property
    def max_clients(self) -> int:
        """``maxclients``."""
        ...

    @property
    def pubsub(self) -> PubSubHub:
        """The pub/sub hub."""
        ...

    def databases_list(self) -> Sequence[Store]:
        """The numbered databases."""
        ...


class InfoSections:
    """The sections of one provider's INFO."""

    def __init__(self, provider: Counted) -> None:
        self._provider = provider
        self._started = time.monotonic()
        self.run_id = secrets.token_hex(20)
        """A random id for this server's lifetime (``run_id``, ``master_replid``)."""
        self._sections: dict[str, InfoSection] = {}
        for section in (
            InfoSection("server", "Server", self._server),
            InfoSection("clients", "Clients", self._clients),
            InfoSection("memory", "Memory", self._memory),
            InfoSection("persistence", "Persistence", self._persistence),
            InfoSection("stats", "Stats", self._stats),
            InfoSection("replication", "Replication", self._replication),
            InfoSection("cpu", "CPU", self._cpu),
            InfoSection("modules", "Modules", lambda: b""),
            InfoSection("commandstats", "Commandstats", lambda: b"", default=False),
            InfoSection("errorstats", "Errorstats", lambda: b""),
            InfoSection("latencystats", "Latencystats", lambda: b"", default=False),
            InfoSection("cluster", "Cluster", lambda: b"cluster_enabled:0\r\n"),
            InfoSection("keyspace", "Keyspace", self._keyspace),
        ):
            self.add(section)

    def add(self, section: InfoSection) -> None:
        """Add ``section`` (after the others), or replace the one of the same name in place."""
        self._sections[section.name] = section

    def render(self, names: list[bytes], extra: Sequence[InfoSection] = ()) -> bytes:
        """INFO's text for the requested (lower-case) section names; none means default."""
        sections = [*self._sections.values(), *extra]
        wanted = {name.decode("latin-1") for name in names} or {"default"}
        everything = bool(wanted & {"all", "everything"})
        default = "default" in wanted
        chosen = [
            section
            for section in sections
            if section.name in wanted or everything or (default and section.default)
        ]
        return b"\r\n".join(b"# %s\r\n" % s.title.encode() + s.render() for s in chosen)

    # -- the sections --------------------------------------------------------------

    def _server(self) -> bytes:
        uptime = int(time.monotonic() - self._started)
        return _fields(
            ("redis_version", REDIS_VERSION),
            ("redis_git_sha1", "00000000"),
            ("redis_git_dirty", 0),
            ("redis_mode", "standalone"),
            ("server_name", "wireproto"),
            ("wireproto_build", _build.current().kind),
            ("os", f"{platform.system()} {platform.release()} {platform.machine()}"),
            ("arch_bits", 64 if sys.maxsize > 2**32 else 32),
            ("multiplexing_api", "asyncio"),
            ("process_id", os.getpid()),
            ("process_supervised", "no"),
            ("run_id", self.run_id),
            ("server_time_usec", time.time_ns() // 1000),
            ("uptime_in_seconds", uptime),
            ("uptime_in_days", uptime // 86400),
            ("hz", self._provider.hz),
            ("configured_hz", self._provider.hz),
            ("executable", sys.executable),
            ("config_file", ""),
            ("io_threads_active", 0),
        )

    def _clients(self) -> bytes:
        provider = self._provider
        return _fields(
            ("connected_clients", provider.connected_clients),
            ("cluster_connections", 0),
            ("maxclients", provider.max_clients),
            ("blocked_clients", 0),
            ("tracking_clients", tracking_totals(provider.databases_list()[0])[0]),
            ("clients_in_timeout_table", 0),
        )

    def _guard(self) -> MemoryGuard | None:
        stores = self._provider.databases_list()
        found = stores[0].services.get("memory") if stores else None
        return found if isinstance(found, MemoryGuard) else None

    def _memory(self) -> bytes:
        guard = self._guard()
        if guard is None:  # maxmemory was never configured: the keys recounted
            used = peak_used = estimate(self._provider.databases_list())
            settings = Settings()
        else:
            used, settings = guard.dataset_bytes(), guard.settings
            peak_used = max(guard.peak, used)
        limit = settings.maxmemory
        rss = rss_bytes()
        peak = max(rss, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (OSError, ValueError):  # pragma: no cover - not on Linux
            total = 0
        return _fields(
            ("used_memory", used),
            ("used_memory_human", human_bytes(used)),
            ("used_memory_rss", rss),
            ("used_memory_rss_human", human_bytes(rss)),
            ("used_memory_peak", peak_used),
            ("used_memory_peak_human", human_bytes(peak_used)),
            ("used_memory_overhead", 0),
            ("used_memory_dataset", used),
            ("used_memory_dataset_perc", "100.00%" if used else "0.00%"),
            ("process_peak_rss", peak),
            ("total_system_memory", total),
            ("total_system_memory_human", human_bytes(total)),
            ("used_memory_lua", 0),
            ("used_memory_scripts", 0),
            ("number_of_cached_scripts", 0),
            ("number_of_functions", 0),
            ("number_of_libraries", 0),
            ("used_memory_vm_functions", 0),
            ("used_memory_functions", 0),
            ("maxmemory", limit),
            ("maxmemory_human", human_bytes(limit)),
            ("maxmemory_policy", settings.policy.decode()),
            ("mem_replication_backlog", 0),
            ("mem_total_replication_buffers", 0),
            ("mem_clients_slaves", 0),
            ("mem_cluster_links", 0),
            ("mem_allocator", "pymalloc"),
            ("active_defrag_running", 0),
            ("lazyfree_pending_objects", 0),
            ("lazyfreed_objects", 0),
        )

    def _persistence(self) -> bytes:
        return _fields(
            ("loading", 0),
            ("async_loading", 0),
            ("rdb_bgsave_in_progress", 0),
            ("aof_enabled", 0),
            ("aof_rewrite_in_progress", 0),
        )

    def _stats(self) -> bytes:
        provider = self._provider
        hub = provider.pubsub
        guard = self._guard()
        return _fields(
            ("total_connections_received", provider.total_connections),
            ("total_commands_processed", provider.commands_processed),
            ("total_net_repl_input_bytes", 0),
            ("total_net_repl_output_bytes", 0),
            ("instantaneous_input_repl_kbps", "0.00"),
            ("instantaneous_output_repl_kbps", "0.00"),
            ("sync_full", 0),
            ("sync_partial_ok", 0),
            ("sync_partial_err", 0),
            ("expired_keys", sum(store.expired_keys for store in provider.databases_list())),
            ("evicted_keys", 0 if guard is None else guard.evicted_keys),
            ("evicted_clients", 0),
            ("pubsub_channels", len(hub.channels)),
            ("pubsub_patterns", len(hub.patterns)),
            ("pubsubshard_channels", len(hub.shard)),
            ("total_forks", 0),
            ("migrate_cached_sockets", 0),
            ("slave_expires_tracked_keys", 0),
            ("active_defrag_hits", 0),
            ("active_defrag_misses", 0),
            ("active_defrag_key_hits", 0),
            ("active_defrag_key_misses", 0),
            ("total_active_defrag_time", 0),
            ("current_active_defrag_time", 0),
            *zip(
                ("tracking_total_keys", "tracking_total_items", "tracking_total_prefixes"),
                tracking_totals(provider.databases_list()[0])[1:],
                strict=True,
            ),
            ("io_threaded_reads_processed", 0),
            ("io_threaded_writes_processed", 0),
        )

    def _replication(self) -> bytes:
        return _fields(
            ("role", "master"),
            ("connected_slaves", 0),
            ("master_failover_state", "no-failover"),
            ("master_replid", self.run_id),
            ("master_replid2", "0" * 40),
            ("master_repl_offset", 0),
            ("second_repl_offset", -1),
            ("repl_backlog_active", 0),
            ("repl_backlog_first_byte_offset", 0),
            ("repl_backlog_histlen", 0),
        )

    def _cpu(self) -> bytes:
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        pairs: list[tuple[str, object]] = [
            ("used_cpu_sys", f"{own.ru_stime:.6f}"),
            ("used_cpu_user", f"{own.ru_utime:.6f}"),
            ("used_cpu_sys_children", f"{children.ru_stime:.6f}"),
            ("used_cpu_user_children", f"{children.ru_utime:.6f}"),
        ]
        thread = getattr(resource, "RUSAGE_THREAD", None)
        if thread is not None:
            main = resource.getrusage(thread)
            pairs += [
                ("used_cpu_sys_main_thread", f"{main.ru_stime:.6f}"),
                ("used_cpu_user_main_thread", f"{main.ru_utime:.6f}"),
            ]
        return _fields(*pairs)

    def _keyspace(self) -> bytes:
        lines = []
        for number, store in enumerate(self._provider.databases_list()):
            if len(store):
                lines.append(
                    b"db%d:keys=%d,expires=%d,avg_ttl=0\r\n"
                    % (number, len(store), store.expires_count)
                )
        return b"".join(lines)
