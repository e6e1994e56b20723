"""INFO's sections, in Redis 7.0's order and field names, with what this server has.

Every field of Redis 7.0's default sections is printed, with this server's
value where it has one, its constant value for a lone server
(``connected_slaves:0``, ``cluster_enabled:0``), and 0 (or the empty string)
for what it does not have (allocator figures, copy-on-write sizes); the fields
left at 0 are listed in ``specs/resp/README.md``. :class:`InfoSections` is the
registry: other modules replace or add a section (``persistence`` once there is
persistence, ``keyspace`` per database); the fields a replacement leaves out are
filled in with their defaults, in Redis's order.
"""

from __future__ import annotations

import os
import platform
import resource
import secrets
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from wireproto import _build

from ..eviction import MemoryGuard, Settings, estimate
from ..kvstore import Store
from .commands import REDIS_VERSION, Tally
from .commands._hub import PubSubHub
from .commands._tracking import tracking_totals

if TYPE_CHECKING:
    from wireproto import ServerStats

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


_LRU_CLOCK_MAX = (1 << 24) - 1
_SAMPLE_INTERVAL = 0.09  # Redis's 100 ms; a round a little early (timer granularity) counts
_MONOTONIC = time.get_clock_info("monotonic").implementation
_COMPILER = platform.python_compiler()
_PERSISTENCE_FIELDS: tuple[tuple[str, object], ...] = (
    ("loading", 0),
    ("async_loading", 0),
    ("current_cow_peak", 0),
    ("current_cow_size", 0),
    ("current_cow_size_age", 0),
    ("current_fork_perc", "0.00"),
    ("current_save_keys_processed", 0),
    ("current_save_keys_total", 0),
    ("rdb_changes_since_last_save", 0),
    ("rdb_bgsave_in_progress", 0),
    ("rdb_last_save_time", 0),
    ("rdb_last_bgsave_status", "ok"),
    ("rdb_last_bgsave_time_sec", -1),
    ("rdb_current_bgsave_time_sec", -1),
    ("rdb_saves", 0),
    ("rdb_last_cow_size", 0),
    ("rdb_last_load_keys_expired", 0),
    ("rdb_last_load_keys_loaded", 0),
    ("aof_enabled", 0),
    ("aof_rewrite_in_progress", 0),
    ("aof_rewrite_scheduled", 0),
    ("aof_last_rewrite_time_sec", -1),
    ("aof_current_rewrite_time_sec", -1),
    ("aof_last_bgrewrite_status", "ok"),
    ("aof_rewrites", 0),
    ("aof_rewrites_consecutive_failures", 0),
    ("aof_last_write_status", "ok"),
    ("aof_last_cow_size", 0),
    ("module_fork_in_progress", 0),
    ("module_fork_last_cow_size", 0),
)
"""Redis 7.0's ``# Persistence`` fields in order, with a server's values before any save."""
_COMPLETED = {"persistence": _PERSISTENCE_FIELDS}
"""Sections whose renderer another module may replace: the fields it leaves out."""


def _gcc_version() -> str:
    """The GCC version the interpreter was built with (Redis: ``__GNUC__``), or 0.0.0."""
    words = _COMPILER.split()
    return words[1] if len(words) > 1 and words[0] == "GCC" else "0.0.0"


def _complete(text: bytes, fields: Sequence[tuple[str, object]]) -> bytes:
    """``text``'s fields, with ``fields``' defaults for those it lacks, in ``fields``' order
    (its own other fields after them)."""
    given: dict[bytes, bytes] = {}
    for line in text.split(b"\r\n"):
        if line:
            given[line.split(b":", 1)[0]] = line + b"\r\n"
    lines = []
    for name, default in fields:
        key = name.encode()
        lines.append(given.pop(key) if key in given else _fields((name, default)))
    return b"".join(lines) + b"".join(given.values())


class Rates:
    """Redis's instantaneous metrics: per-second rates sampled every 100 ms, averaged over
    the last 16 samples (``STATS_METRIC_SAMPLES``)."""

    __slots__ = ("_last", "_samples")

    def __init__(self) -> None:
        self._last: tuple[float, tuple[int, ...]] | None = None
        self._samples: deque[tuple[float, ...]] = deque(maxlen=16)

    def due(self, now: float) -> bool:
        """Whether a sample at ``now`` would be taken (~100 ms since the last one)."""
        last = self._last
        return last is None or now - last[0] >= _SAMPLE_INTERVAL

    def sample(self, now: float, counts: tuple[int, ...]) -> None:
        """Record the counters' values at ``now`` (seconds; ignored within ~100 ms)."""
        last = self._last
        if last is not None:
            elapsed = now - last[0]
            if elapsed < _SAMPLE_INTERVAL:
                return
            if len(counts) == len(last[1]):
                self._samples.append(
                    tuple(
                        max(new - old, 0) / elapsed
                        for new, old in zip(counts, last[1], strict=True)
                    )
                )
        self._last = (now, counts)

    def rate(self, index: int) -> float:
        """The mean per-second rate of counter ``index`` (0 before two samples)."""
        samples = self._samples
        return sum(sample[index] for sample in samples) / len(samples) if samples else 0.0


class Waiting(Protocol):
    """What INFO reads of a blocked client's wait."""

    @property
    def deadline(self) -> float | None:
        """When it times out (None: never)."""
        ...


class Connected(Protocol):
    """What INFO reads of a client."""

    @property
    def blocked(self) -> Waiting | None:
        """What the client waits for (None: not blocked)."""
        ...


class Counted(Protocol):
    """What INFO reads of its provider (a ``RespProvider``)."""

    connected_clients: int
    total_connections: int
    processed: Tally
    hz: int

    @property
    def max_clients(self) -> int:
        """``maxclients``."""
        ...

    @property
    def pubsub(self) -> PubSubHub:
        """The pub/sub hub."""
        ...

    @property
    def clients(self) -> Mapping[int, Connected]:
        """The open connections by CLIENT ID."""
        ...

    def databases_list(self) -> Sequence[Store]:
        """The numbered databases."""
        ...


class InfoSections:
    """The sections of one provider's INFO."""

    def __init__(self, provider: Counted) -> None:
        self._provider = provider
        self._server_stats: ServerStats | None = None  # the listener's, while a reply is rendered
        self._port = 0
        self.rates = Rates()
        """Operations, input and output bytes per second (``instantaneous_*``)."""
        self._baseline = (0, 0, 0)  # the listener's counters at CONFIG RESETSTAT
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

    def reset(self, stats: ServerStats | None) -> None:
        """CONFIG RESETSTAT: the listener's counters count from their values now."""
        self._baseline = _listener_counts(stats)
        self.rates = Rates()

    def _counts(self, stats: ServerStats | None) -> tuple[int, int, int]:
        """RESP's input and output bytes and the rejected connections since the reset."""
        net_in, net_out, rejected = _listener_counts(stats)
        base_in, base_out, base_rejected = self._baseline
        return (
            max(net_in - base_in, 0),
            max(net_out - base_out, 0),
            max(rejected - base_rejected, 0),
        )

    def sample(self, now: float, stats: ServerStats | None) -> None:
        """Sample the counters behind the ``instantaneous_*`` rates (a maintenance round)."""
        net_in, net_out, _rejected = _listener_counts(stats)
        self.rates.sample(now, (self._provider.processed.count, net_in, net_out))

    def render(
        self,
        names: list[bytes],
        extra: Sequence[InfoSection] = (),
        stats: ServerStats | None = None,
        port: int = 0,
    ) -> bytes:
        """INFO's text for the requested (lower-case) section names; none means default.

        ``stats``: the listener's counters (network bytes, rejected connections);
        ``port``: the port the asking client connected to (``tcp_port``).
        """
        self._server_stats, self._port = stats, port
        try:
            return self._render(names, extra)
        finally:
            self._server_stats = None

    def _render(self, names: list[bytes], extra: Sequence[InfoSection]) -> bytes:
        sections = [*self._sections.values(), *extra]
        wanted = {name.decode("latin-1") for name in names} or {"default"}
        everything = bool(wanted & {"all", "everything"})
        default = "default" in wanted
        chosen = [
            section
            for section in sections
            if section.name in wanted or everything or (default and section.default)
        ]
        return b"\r\n".join(b"# %s\r\n" % s.title.encode() + self._body(s) for s in chosen)

    def _body(self, section: InfoSection) -> bytes:
        text = section.render()
        fields = _COMPLETED.get(section.name)
        return text if fields is None else _complete(text, fields)

    # -- the sections --------------------------------------------------------------

    def _server(self) -> bytes:
        uptime = int(time.monotonic() - self._started)
        return _fields(
            ("redis_version", REDIS_VERSION),
            ("redis_git_sha1", "00000000"),
            ("redis_git_dirty", 0),
            ("redis_build_id", 0),
            ("redis_mode", "standalone"),
            ("server_name", "wireproto"),
            ("wireproto_build", _build.current().kind),
            ("os", f"{platform.system()} {platform.release()} {platform.machine()}"),
            ("arch_bits", 64 if sys.maxsize > 2**32 else 32),
            ("monotonic_clock", _MONOTONIC),
            ("multiplexing_api", "asyncio"),
            ("atomicvar_api", ""),
            ("gcc_version", _gcc_version()),
            ("process_id", os.getpid()),
            ("process_supervised", "no"),
            ("run_id", self.run_id),
            ("tcp_port", self._port),
            ("server_time_usec", time.time_ns() // 1000),
            ("uptime_in_seconds", uptime),
            ("uptime_in_days", uptime // 86400),
            ("hz", self._provider.hz),
            ("configured_hz", self._provider.hz),
            ("lru_clock", int(time.time()) & _LRU_CLOCK_MAX),
            ("executable", sys.executable),
            ("config_file", ""),
            ("io_threads_active", 0),
        )

    def _clients(self) -> bytes:
        provider = self._provider
        waits = [c.blocked for c in provider.clients.values() if c.blocked is not None]
        return _fields(
            ("connected_clients", provider.connected_clients),
            ("cluster_connections", 0),
            ("maxclients", provider.max_clients),
            ("client_recent_max_input_buffer", 0),
            ("client_recent_max_output_buffer", 0),
            ("blocked_clients", len(waits)),
            ("tracking_clients", tracking_totals(provider.databases_list()[0])[0]),
            ("clients_in_timeout_table", sum(wait.deadline is not None for wait in waits)),
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
        clients = self._server_stats.receive_memory if self._server_stats is not None else 0
        return _fields(
            ("used_memory", used),
            ("used_memory_human", human_bytes(used)),
            ("used_memory_rss", rss),
            ("used_memory_rss_human", human_bytes(rss)),
            ("used_memory_peak", peak_used),
            ("used_memory_peak_human", human_bytes(peak_used)),
            ("used_memory_peak_perc", "%.2f%%" % (100 * used / peak_used if peak_used else 0)),
            ("used_memory_overhead", 0),
            ("used_memory_startup", 0),
            ("used_memory_dataset", used),
            ("used_memory_dataset_perc", "100.00%" if used else "0.00%"),
            ("process_peak_rss", peak),
            ("allocator_allocated", 0),
            ("allocator_active", 0),
            ("allocator_resident", 0),
            ("total_system_memory", total),
            ("total_system_memory_human", human_bytes(total)),
            ("used_memory_lua", 0),
            ("used_memory_vm_eval", 0),
            ("used_memory_lua_human", human_bytes(0)),
            ("used_memory_scripts_eval", 0),
            ("number_of_cached_scripts", 0),
            ("number_of_functions", 0),
            ("number_of_libraries", 0),
            ("used_memory_vm_functions", 0),
            ("used_memory_vm_total", 0),
            ("used_memory_vm_total_human", human_bytes(0)),
            ("used_memory_functions", 0),
            ("used_memory_scripts", 0),
            ("used_memory_scripts_human", human_bytes(0)),
            ("maxmemory", limit),
            ("maxmemory_human", human_bytes(limit)),
            ("maxmemory_policy", settings.policy.decode()),
            ("allocator_frag_ratio", "0.00"),
            ("allocator_frag_bytes", 0),
            ("allocator_rss_ratio", "0.00"),
            ("allocator_rss_bytes", 0),
            ("rss_overhead_ratio", "0.00"),
            ("rss_overhead_bytes", 0),
            # used_memory is the data's estimate, not what an allocator holds: no ratio.
            ("mem_fragmentation_ratio", "0.00"),
            ("mem_fragmentation_bytes", 0),
            ("mem_not_counted_for_evict", 0),
            ("mem_replication_backlog", 0),
            ("mem_total_replication_buffers", 0),
            ("mem_clients_slaves", 0),
            ("mem_clients_normal", clients),
            ("mem_cluster_links", 0),
            ("mem_aof_buffer", 0),
            ("mem_allocator", "pymalloc"),
            ("active_defrag_running", 0),
            ("lazyfree_pending_objects", 0),
            ("lazyfreed_objects", 0),
        )

    def _persistence(self) -> bytes:
        return _fields(*_PERSISTENCE_FIELDS)

    def _stats(self) -> bytes:
        provider = self._provider
        hub = provider.pubsub
        guard = self._guard()
        stats = self._server_stats
        net_in, net_out, rejected = self._counts(stats) if stats is not None else (0, 0, 0)
        rates = self.rates
        return _fields(
            ("total_connections_received", provider.total_connections),
            ("total_commands_processed", provider.processed.count),
            ("instantaneous_ops_per_sec", round(rates.rate(0))),
            ("total_net_input_bytes", net_in),
            ("total_net_output_bytes", net_out),
            ("total_net_repl_input_bytes", 0),
            ("total_net_repl_output_bytes", 0),
            ("instantaneous_input_kbps", "%.2f" % (rates.rate(1) / 1024)),
            ("instantaneous_output_kbps", "%.2f" % (rates.rate(2) / 1024)),
            ("instantaneous_input_repl_kbps", "0.00"),
            ("instantaneous_output_repl_kbps", "0.00"),
            ("rejected_connections", rejected),
            ("sync_full", 0),
            ("sync_partial_ok", 0),
            ("sync_partial_err", 0),
            ("expired_keys", sum(store.expired_keys for store in provider.databases_list())),
            ("expired_stale_perc", "0.00"),
            ("expired_time_cap_reached_count", 0),
            ("expire_cycle_cpu_milliseconds", 0),
            ("evicted_keys", 0 if guard is None else guard.evicted_keys),
            ("evicted_clients", 0),
            ("total_eviction_exceeded_time", 0),
            ("current_eviction_exceeded_time", 0),
            ("keyspace_hits", 0),
            ("keyspace_misses", 0),
            ("pubsub_channels", len(hub.channels)),
            ("pubsub_patterns", len(hub.patterns)),
            ("pubsubshard_channels", len(hub.shard)),
            ("latest_fork_usec", 0),
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
            ("unexpected_error_replies", 0),
            ("total_error_replies", 0),
            ("dump_payload_sanitizations", 0),
            ("total_reads_processed", 0),
            ("total_writes_processed", 0),
            ("io_threaded_reads_processed", 0),
            ("io_threaded_writes_processed", 0),
            ("reply_buffer_shrinks", 0),
            ("reply_buffer_expands", 0),
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
            ("repl_backlog_size", 0),
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


def _listener_counts(stats: ServerStats | None) -> tuple[int, int, int]:
    """The bytes RESP clients sent and were sent through the listener, and the connections
    it refused over a limit (0 outside a listener)."""
    if stats is None:
        return (0, 0, 0)
    counts = stats.formats.get("resp")
    net_in, net_out = (counts.bytes_received, counts.bytes_sent) if counts is not None else (0, 0)
    return (net_in, net_out, stats.rejected_total)
