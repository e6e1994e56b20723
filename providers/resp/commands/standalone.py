"""What Redis 7.0 answers as a standalone server with no module, no replica and no cluster:
MODULE, REPLICAOF/SLAVEOF, FAILOVER, CLUSTER/READONLY/READWRITE/ASKING, MEMORY and LOLWUT.

MEMORY's figures are this server's estimates (:mod:`providers.eviction`): the same bytes
``maxmemory`` counts, not an allocator's. The texts and errors are redis-server 7.0.15's.
"""

from __future__ import annotations

from ...eviction import estimate, key_size
from ..replies import EMPTY_ARRAY, OK, bulk, error, integer, map_reply, verbatim
from ._base import (
    REDIS_VERSION,
    SYNTAX_ERROR,
    Client,
    Command,
    bounded_int,
    container,
    help_reply,
)
from .zsets import format_score

__all__ = ["COMMANDS"]

_MODULE_NOT_ALLOWED = error(
    b"ERR MODULE command not allowed. If the enable-module-command option is set to"
    b' "local", you can run it from a local connection, otherwise you need to set this'
    b" option in the configuration file, and then restart the server."
)
_CLUSTER_DISABLED = error(b"ERR This instance has cluster support disabled")
_INVALID_PORT = error(b"ERR Invalid master port")
_NOT_INTEGER = error(b"ERR value is not an integer or out of range")


# -- MODULE ------------------------------------------------------------------------------


def module_list(s: Client, argv: list[bytes]) -> bytes:
    """MODULE LIST: no module is loaded."""
    return EMPTY_ARRAY


def module_refused(s: Client, argv: list[bytes]) -> bytes:
    """MODULE LOAD/LOADEX/UNLOAD: refused, as with Redis's default ``enable-module-command no``."""
    return _MODULE_NOT_ALLOWED


_MODULE_HELP = (
    b"LIST",
    b"    Return a list of loaded modules.",
    b"LOAD <path> [<arg> ...]",
    b"    Load a module library from <path>, passing to it any optional arguments.",
    b"LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
    b"    Load a module library from <path>, while passing it module configurations and"
    b" optional arguments.",
    b"UNLOAD <name>",
    b"    Unload a module.",
)


def module_help(s: Client, argv: list[bytes]) -> bytes:
    """MODULE HELP (Redis's text)."""
    return help_reply(b"MODULE", _MODULE_HELP)


# -- replication and cluster --------------------------------------------------------------


def replicaof(s: Client, argv: list[bytes]) -> bytes:
    """REPLICAOF / SLAVEOF: ``NO ONE`` is what this server already is (a master); following
    another server is refused, since this server does not replicate."""
    if argv[1].lower() == b"no" and argv[2].lower() == b"one":
        return OK
    port = bounded_int(argv[2])
    if port is None or not 0 <= port <= 65535:
        return _INVALID_PORT
    return error(b"ERR wireproto does not replicate: REPLICAOF NO ONE is the only form served")


def failover(s: Client, argv: list[bytes]) -> bytes:
    """FAILOVER: there is no replica to fail over to."""
    if len(argv) == 2 and argv[1].lower() == b"abort":
        return error(b"ERR No failover in progress.")
    return error(b"ERR FAILOVER requires connected replicas.")


def cluster_disabled(s: Client, argv: list[bytes]) -> bytes:
    """CLUSTER's subcommands, READONLY, READWRITE and ASKING: cluster support is off."""
    return _CLUSTER_DISABLED


_A = ("admin", "stale")
_ANL = ("admin", "stale", "no_async_loading")
_ND = ("nondeterministic_output",)
# Redis 7.0's CLUSTER subcommands: (name, arity, flags, tips). Each answers that cluster
# support is disabled once its arity holds (an unknown one: "unknown subcommand").
_CLUSTER_SUBCOMMANDS: tuple[tuple[str, int, tuple[str, ...], tuple[str, ...]], ...] = (
    ("addslots", -3, _ANL, ()),
    ("addslotsrange", -4, _ANL, ()),
    ("bumpepoch", 2, _ANL, _ND),
    ("count-failure-reports", 3, _A, _ND),
    ("countkeysinslot", 3, ("stale",), ()),
    ("delslots", -3, _ANL, ()),
    ("delslotsrange", -4, _ANL, ()),
    ("failover", -2, _ANL, ()),
    ("flushslots", 2, _ANL, ()),
    ("forget", 3, _ANL, ()),
    ("getkeysinslot", 4, ("stale",), _ND),
    ("info", 2, ("stale",), _ND),
    ("keyslot", 3, ("stale",), ()),
    ("links", 2, ("stale",), _ND),
    ("meet", -4, _ANL, ()),
    ("myid", 2, ("stale",), ()),
    ("nodes", 2, ("stale",), _ND),
    ("replicas", 3, _A, _ND),
    ("replicate", 3, _ANL, ()),
    ("reset", -2, ("admin", "noscript", "stale"), ()),
    ("saveconfig", 2, _ANL, ()),
    ("set-config-epoch", 3, _ANL, ()),
    ("setslot", -4, _ANL, ()),
    ("shards", 2, ("stale",), _ND),
    ("slaves", 3, _A, _ND),
    ("slots", 2, ("stale",), _ND),
)

_CLUSTER_HELP = (
    b"COUNTKEYSINSLOT <slot>",
    b"    Return the number of keys in <slot>.",
    b"GETKEYSINSLOT <slot> <count>",
    b"    Return key names stored by current node in a slot.",
    b"INFO",
    b"    Return information about the cluster.",
    b"KEYSLOT <key>",
    b"    Return the hash slot for <key>.",
    b"MYID",
    b"    Return the node id.",
    b"NODES",
    b"    Return cluster configuration seen by node. Output format:",
    b"    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
    b"REPLICAS <node-id>",
    b"    Return <node-id> replicas.",
    b"SLOTS",
    b"    Return information about slots range mappings. Each range is made of:",
    b"    start, end, master and replicas IP addresses, ports and ids",
    b"SHARDS",
    b"    Return information about slot range mappings and the nodes associated with them.",
)


def cluster_help(s: Client, argv: list[bytes]) -> bytes:
    """CLUSTER HELP (Redis's text for a server without cluster support)."""
    return help_reply(b"CLUSTER", _CLUSTER_HELP)


# -- MEMORY -------------------------------------------------------------------------------


def memory_usage(s: Client, argv: list[bytes]) -> bytes:
    """MEMORY USAGE key [SAMPLES count]: the key's estimated bytes (what maxmemory counts)."""
    i = 3
    while i < len(argv):
        if argv[i].lower() == b"samples" and i + 1 < len(argv):
            count = bounded_int(argv[i + 1])
            if count is None:
                return _NOT_INTEGER
            if count < 0:
                return SYNTAX_ERROR
            i += 2
        else:
            return SYNTAX_ERROR
    key = argv[2]
    if not s.store.exists(key):  # expires the key lazily, as Redis's lookup does
        return s.null
    return integer(key_size(key, s.store.stored(key)))


def memory_stats(s: Client, argv: list[bytes]) -> bytes:
    """MEMORY STATS: Redis's fields, from this server's estimates (0 for what it has not)."""
    stores = list(s.provider.databases)
    dataset = estimate(stores)
    keys = sum(len(store) for store in stores)
    fields: list[tuple[bytes, bytes]] = [
        (bulk(b"peak.allocated"), integer(dataset)),
        (bulk(b"total.allocated"), integer(dataset)),
        (bulk(b"startup.allocated"), integer(0)),
        (bulk(b"replication.backlog"), integer(0)),
        (bulk(b"clients.slaves"), integer(0)),
        (bulk(b"clients.normal"), integer(0)),
        (bulk(b"cluster.links"), integer(0)),
        (bulk(b"aof.buffer"), integer(0)),
        (bulk(b"lua.caches"), integer(0)),
        (bulk(b"functions.caches"), integer(0)),
    ]
    for index, store in enumerate(stores):
        if len(store):
            counts = [(bulk(b"overhead.hashtable.main"), integer(0))]
            counts.append((bulk(b"overhead.hashtable.expires"), integer(0)))
            counts.append((bulk(b"overhead.hashtable.slot-to-keys"), integer(0)))
            fields.append((bulk(b"db.%d" % index), map_reply(counts, s.resp3)))
    fields += [
        (bulk(b"overhead.total"), integer(0)),
        (bulk(b"keys.count"), integer(keys)),
        (bulk(b"keys.bytes-per-key"), integer(dataset // keys if keys else 0)),
        (bulk(b"dataset.bytes"), integer(dataset)),
        (bulk(b"dataset.percentage"), format_score(100.0 if dataset else 0.0, s.resp3)),
        (bulk(b"peak.percentage"), format_score(100.0, s.resp3)),
        # No allocator of ours to report on: its figures are the dataset's, ratios 1.
        (bulk(b"allocator.allocated"), integer(dataset)),
        (bulk(b"allocator.active"), integer(dataset)),
        (bulk(b"allocator.resident"), integer(dataset)),
        (bulk(b"allocator-fragmentation.ratio"), format_score(1.0, s.resp3)),
        (bulk(b"allocator-fragmentation.bytes"), integer(0)),
        (bulk(b"allocator-rss.ratio"), format_score(1.0, s.resp3)),
        (bulk(b"allocator-rss.bytes"), integer(0)),
        (bulk(b"rss-overhead.ratio"), format_score(1.0, s.resp3)),
        (bulk(b"rss-overhead.bytes"), integer(0)),
        (bulk(b"fragmentation"), format_score(1.0, s.resp3)),
        (bulk(b"fragmentation.bytes"), integer(0)),
    ]
    return map_reply(fields, s.resp3)


_DOCTOR_EMPTY = (
    b"Hi Sam, this instance is empty or is using very little memory, my issues detector"
    b" can't be used in these conditions. Please, leave for your mission on Earth and fill"
    b" it with some data. The new Sam and I will be back to our programming as soon as I"
    b" finished rebooting.\n"
)
_DOCTOR_FINE = (
    b"Hi Sam, I can't find any memory issue in your instance. I can only account for what"
    b" occurs on this base.\n"
)
_DOCTOR_EMPTY_BELOW = 5 * 1024 * 1024
"""Redis's doctor says it cannot judge an instance using less than 5 MB."""


def memory_doctor(s: Client, argv: list[bytes]) -> bytes:
    """MEMORY DOCTOR: Redis's texts; this server reports no fragmentation or peak issue."""
    used = estimate(list(s.provider.databases))
    return verbatim(_DOCTOR_EMPTY if used < _DOCTOR_EMPTY_BELOW else _DOCTOR_FINE, s.resp3)


def memory_malloc_stats(s: Client, argv: list[bytes]) -> bytes:
    """MEMORY MALLOC-STATS: Redis's text for an allocator other than jemalloc."""
    return bulk(b"Stats not supported for the current allocator")


_MEMORY_HELP = (
    b"DOCTOR",
    b"    Return memory problems reports.",
    b"MALLOC-STATS",
    b"    Return internal statistics report from the memory allocator.",
    b"PURGE",
    b"    Attempt to purge dirty pages for reclamation by the allocator.",
    b"STATS",
    b"    Return information about the memory usage of the server.",
    b"USAGE <key> [SAMPLES <count>]",
    b"    Return memory in bytes used by <key> and its value. Nested values are",
    b"    sampled up to <count> times (default: 5, 0 means sample all).",
)


def memory_help(s: Client, argv: list[bytes]) -> bytes:
    """MEMORY HELP (Redis's text)."""
    return help_reply(b"MEMORY", _MEMORY_HELP)


def memory_purge(s: Client, argv: list[bytes]) -> bytes:
    """MEMORY PURGE."""
    return OK


# -- LOLWUT -------------------------------------------------------------------------------


def lolwut(s: Client, argv: list[bytes]) -> bytes:
    """LOLWUT [VERSION v]: the version line (Redis 7.0's own output without a drawing)."""
    if len(argv) >= 3 and argv[1].lower() == b"version" and bounded_int(argv[2]) is None:
        return _NOT_INTEGER
    line = b"Redis ver. %s\n" % REDIS_VERSION
    if len(argv) >= 3 and argv[1].lower() == b"version" and argv[2] in (b"5", b"6"):
        if argv[2] == b"5":
            line = b"\nGeorg Nees - schotter, plotter on paper, 1968. " + line
        else:
            line = (
                b"\nDedicated to the 8 bit game developers of past and present.\n"
                b"Original 8 bit image from Plaguemon by hikikomori. " + line
            )
    return verbatim(line, s.resp3)


_FAST_STALE = ("loading", "stale", "fast")
_MODULE_WRITE = ("admin", "noscript", "no_async_loading")
_ALL_SHARDS = ("request_policy:all_shards",)
_SPECIAL = (*_ND, *_ALL_SHARDS, "response_policy:special")

COMMANDS: list[Command] = [
    container(
        "module",
        -2,
        (),
        Command(
            "module|list",
            2,
            module_list,
            ("admin", "noscript"),
            tips=("nondeterministic_output_order",),
        ),
        Command("module|load", -3, module_refused, _MODULE_WRITE),
        Command("module|loadex", -3, module_refused, _MODULE_WRITE),
        Command("module|unload", 3, module_refused, _MODULE_WRITE),
        Command("module|help", 2, module_help, ("loading", "stale")),
    ),
    Command("replicaof", 3, replicaof, ("admin", "noscript", "stale", "no_async_loading")),
    Command("slaveof", 3, replicaof, ("admin", "noscript", "stale", "no_async_loading")),
    Command("failover", -1, failover, ("admin", "noscript", "stale")),
    container(
        "cluster",
        -2,
        (),
        *(
            Command(f"cluster|{name}", arity, cluster_disabled, flags, tips=tips)
            for name, arity, flags, tips in _CLUSTER_SUBCOMMANDS
        ),
        Command("cluster|help", 2, cluster_help, ("loading", "stale")),
    ),
    Command("readonly", 1, cluster_disabled, _FAST_STALE, acl_categories=("connection",)),
    Command("readwrite", 1, cluster_disabled, _FAST_STALE, acl_categories=("connection",)),
    Command("asking", 1, cluster_disabled, ("fast",), acl_categories=("connection",)),
    container(
        "memory",
        -2,
        (),
        Command("memory|doctor", 2, memory_doctor, (), tips=_SPECIAL),
        Command("memory|malloc-stats", 2, memory_malloc_stats, (), tips=_SPECIAL),
        Command(
            "memory|purge",
            2,
            memory_purge,
            (),
            tips=(*_ALL_SHARDS, "response_policy:all_succeeded"),
        ),
        Command("memory|stats", 2, memory_stats, (), tips=_SPECIAL),
        Command("memory|usage", -3, memory_usage, ("readonly",), (2, 2, 1)),
        Command("memory|help", 2, memory_help, ("loading", "stale")),
    ),
    Command("lolwut", -1, lolwut, ("readonly", "fast")),
]
