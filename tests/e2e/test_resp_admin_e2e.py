"""Administrative commands byte for byte against ``redis-server`` 7.0: FUNCTION, SCRIPT,
EVALSHA/FCALL, SLOWLOG, LATENCY, WAIT, SHUTDOWN ABORT, ACL, CONFIG and CLIENT errors.

Both servers have nothing loaded or recorded, so their answers must agree exactly.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import hiredis
import pytest
from _drive import resp_command as cmd
from _serve import HOST, RunningServer, redis_server, serve

EMPTY_DUMP = b"\n\x00]\x9b\\@\x0f\x7f\xa2\xda"


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with redis_server(tmp_path_factory.mktemp("redis-admin")) as port:
        yield port


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("admin") / "serve.log"
    with serve(log, formats={"resp"}) as server:
        yield server


def call(port: int, *args: bytes | str) -> bytes:
    with socket.create_connection((HOST, port), timeout=10.0) as sock:
        sock.sendall(cmd(*args))
        reader = hiredis.Reader()
        raw = b""
        for _ in range(1000):  # bounded: small replies
            chunk = sock.recv(65536)
            assert chunk
            raw += chunk
            reader.feed(chunk)
            if reader.gets() is not False:
                return raw
    raise AssertionError(raw[:200])


SAME = [
    ("FUNCTION", "LIST"),
    ("FUNCTION", "LIST", "LIBRARYNAME", "x", "WITHCODE"),
    ("FUNCTION", "LIST", "foo"),
    ("FUNCTION", "STATS"),
    ("FUNCTION", "DUMP"),
    ("FUNCTION", "RESTORE", EMPTY_DUMP),
    ("FUNCTION", "RESTORE", "junk"),
    ("FUNCTION", "FLUSH"),
    ("FUNCTION", "FLUSH", "x"),
    ("FUNCTION", "DELETE", "lib"),
    ("FUNCTION", "KILL"),
    ("FUNCTION", "HELP"),
    ("FUNCTION", "HELP", "x"),
    ("SCRIPT", "FLUSH", "ASYNC"),
    ("SCRIPT", "FLUSH", "x"),
    ("SCRIPT", "EXISTS", "a", "b"),
    ("SCRIPT", "KILL"),
    ("SCRIPT", "HELP"),
    ("EVALSHA", "abc", "0"),
    ("FCALL", "f", "0"),
    ("FCALL_RO", "f", "0"),
    ("SLOWLOG", "GET"),
    ("SLOWLOG", "GET", "-2"),
    ("SLOWLOG", "LEN"),
    ("SLOWLOG", "RESET"),
    ("SLOWLOG", "HELP"),
    ("ROLE",),
    ("ROLE", "x"),
    ("COMMAND", "INFO", "role", "slowlog|help", "function|help", "script|help"),
    ("COMMAND", "INFO", "latency|help", "latency|doctor", "latency|graph", "latency|histogram"),
    ("LATENCY", "LATEST"),
    ("LATENCY", "HISTORY", "command"),
    ("LATENCY", "RESET"),
    ("LATENCY", "HELP"),
    ("LATENCY", "DOCTOR"),
    ("LATENCY", "GRAPH", "command"),
    ("LATENCY", "GRAPH"),
    ("LATENCY", "HISTOGRAM", "nosuchcommand"),
    ("WAIT", "0", "0"),
    ("WAIT", "0", "-1"),
    ("WAIT", "x", "0"),
    ("SHUTDOWN", "ABORT"),
    ("SHUTDOWN", "FOO"),
    ("SHUTDOWN", "SAVE", "NOSAVE"),
    ("ACL", "WHOAMI"),
    ("ACL", "USERS"),
    ("ACL", "LIST"),
    ("ACL", "CAT"),
    ("ACL", "CAT", "nosuch"),
    ("CONFIG", "SET", "nosuch", "1"),
    ("CONFIG", "SET", "databases", "1"),
    ("CONFIG", "SET", "hash-max-listpack-entries", "x"),
    ("CONFIG", "SET", "notify-keyspace-events", "KEq"),
    ("CONFIG", "REWRITE"),
    ("CONFIG", "HELP"),
    ("CLIENT", "LIST", "TYPE", "foo"),
    ("CLIENT", "KILL", "1.2.3.4:5"),
    ("CLIENT", "KILL", "ID", "0"),
    ("CLIENT", "KILL", "ID", "abc"),
    ("CLIENT", "KILL", "USER", "nobody"),
    ("CLIENT", "KILL", "SKIPME", "maybe"),
    ("CLIENT", "NO-EVICT", "maybe"),
    ("CLIENT", "REPLY", "maybe"),
    ("CLIENT", "GETREDIR"),
    ("PUBSUB", "NUMPAT"),
]


@pytest.mark.parametrize("request_args", SAME, ids=[" ".join(map(str, r))[:40] for r in SAME])
def test_answers_match_redis(
    redis_port: int, ours: RunningServer, request_args: tuple[str | bytes, ...]
) -> None:
    assert call(ours.port, *request_args) == call(redis_port, *request_args)


def session(port: int, *commands: tuple[str | bytes, ...]) -> bytes:
    """The replies of ``commands`` sent in one write on one new connection."""
    with socket.create_connection((HOST, port), timeout=10.0) as sock:
        sock.sendall(b"".join(cmd(*args) for args in commands) + cmd("ECHO", "end"))
        raw = b""
        for _ in range(1000):  # bounded: small replies
            if raw.endswith(b"$3\r\nend\r\n"):
                return raw[: -len(b"$3\r\nend\r\n")]
            chunk = sock.recv(65536)
            assert chunk
            raw += chunk
    raise AssertionError(raw[:200])


SESSIONS = [
    # RESP3: LATENCY DOCTOR is a verbatim string, HISTOGRAM a map
    (("HELLO", "3"), ("LATENCY", "DOCTOR"), ("LATENCY", "HISTOGRAM", "nosuch")),
    # with the monitor's threshold set, the report says no spike was seen
    (
        ("CONFIG", "SET", "latency-monitor-threshold", "100"),
        ("LATENCY", "DOCTOR"),
        ("CONFIG", "SET", "latency-monitor-threshold", "0"),
    ),
    # RESET: back to database 0, out of MULTI, no name, RESP2
    (
        ("FLUSHALL",),
        ("SELECT", "3"),
        ("SET", "rk", "1"),
        ("CLIENT", "SETNAME", "n"),
        ("MULTI",),
        ("RESET",),
        ("DBSIZE",),
        ("GET", "rk"),
        ("CLIENT", "GETNAME"),
        ("EXEC",),
        ("SELECT", "3"),
        ("DBSIZE",),
        ("FLUSHALL",),
    ),
    # WAIT inside a transaction, and DBSIZE per database
    (
        ("SET", "a", "1"),
        ("SELECT", "5"),
        ("MSET", "a", "1", "b", "2"),
        ("MULTI",),
        ("WAIT", "0", "0"),
        ("DBSIZE",),
        ("EXEC",),
        ("SELECT", "0"),
        ("DBSIZE",),
        ("FLUSHALL",),
    ),
    # hz: 0 to INT_MAX accepted, run (and reported) clamped to 1..500
    *[
        (("CONFIG", "SET", "hz", value), ("CONFIG", "GET", "hz"))
        for value in ("0", "1", "500", "501", "2147483647", "2147483648", "-1", "x", "10")
    ],
    # save: no save points is what both do; malformed values are refused alike
    *[
        (("CONFIG", "SET", "save", value), ("CONFIG", "GET", "save"))
        for value in ("", "x", "900", "0 1", "1 -1", "1 x")
    ],
]


@pytest.mark.parametrize("commands", SESSIONS, ids=[" ".join(c[0]) for c in SESSIONS])
def test_sessions_match_redis(
    redis_port: int, ours: RunningServer, commands: tuple[tuple[str, ...], ...]
) -> None:
    theirs = session(redis_port, *commands)
    mine = session(ours.port, *commands)
    if commands[0][0] == "HELLO":  # HELLO names the server and its version: not compared
        theirs, mine = (raw[raw.index(b"modules\r\n*0\r\n") :] for raw in (theirs, mine))
    assert mine == theirs


def test_save_points_are_refused_with_a_reason(ours: RunningServer) -> None:
    """Redis takes ``save 900 1``; this server snapshots only on request, so it refuses
    a schedule it would not keep, and the value stays empty."""
    assert session(ours.port, ("CONFIG", "SET", "save", "900 1"), ("CONFIG", "GET", "save")) == (
        b"-ERR CONFIG SET failed (possibly related to argument 'save') - automatic save"
        b" points are not supported (use SAVE or BGSAVE)\r\n*2\r\n$4\r\nsave\r\n$0\r\n\r\n"
    )


def _pairs(raw: bytes) -> dict[bytes, bytes]:
    reader = hiredis.Reader()
    reader.feed(raw)
    items = reader.gets()
    assert isinstance(items, list)
    return dict(zip(items[::2], items[1::2], strict=True))


@pytest.mark.parametrize(
    "patterns",
    [
        ("maxmemory*", "appendonly", "save", "timeout", "appendfsync"),
        ("proto-max-bulk-len", "client-query-buffer-limit", "maxclients"),
        ("hash-max-*", "zset-max-*", "set-max-intset-entries", "*-ziplist-*"),
        ("list-*", "hz", "notify-keyspace-events", "slowlog-*", "latency-monitor-threshold"),
    ],
)
def test_config_get_reports_redis_defaults(
    redis_port: int, ours: RunningServer, patterns: tuple[str, ...]
) -> None:
    """Every parameter we report has redis-server's default (Redis lists more of them,
    in hash-table order)."""
    mine = _pairs(call(ours.port, "CONFIG", "GET", *patterns))
    theirs = _pairs(call(redis_port, "CONFIG", "GET", *patterns))
    assert mine
    assert {name: theirs.get(name) for name in mine} == mine


MONITORED = [
    (b"SET", b"k", b'a"b\\c\n\x00\xff\t'),
    (b"GET", b"k"),
    (b"CONFIG", b"GET", b"hz"),  # admin: not shown
    (b"NOSUCH",),  # refused: not shown
    (b"GET",),  # wrong arity: not shown
    (b"MSET", b"a", b"1", b"b", b" "),
    (b"EVAL", b'redis.call("SET", "s", "1") return redis.call("GET", KEYS[1])', b"1", b"k"),
]


def _monitor_session(port: int) -> bytes:
    """What a MONITOR connection shows while another connection runs MONITORED, then itself
    PINGs; timestamps and client ports masked."""
    with (
        socket.create_connection((HOST, port), timeout=10.0) as watcher,
        socket.create_connection((HOST, port), timeout=10.0) as worker,
    ):
        watcher.sendall(cmd("MONITOR"))
        assert watcher.recv(16) == b"+OK\r\n"
        worker.sendall(b"".join(cmd(*args) for args in MONITORED) + cmd("ECHO", "end"))
        reply = b""
        while not reply.endswith(b"$3\r\nend\r\n"):
            chunk = worker.recv(65536)
            assert chunk
            reply += chunk
        watcher.sendall(cmd("PING"))
        shown = b""
        while not shown.endswith(b'"PING"\r\n'):
            chunk = watcher.recv(65536)
            assert chunk
            shown += chunk
    shown = re.sub(rb"\+\d+\.\d{6} \[0 lua\]", b"+T [0 lua]", shown)
    return re.sub(rb"\+\d+\.\d{6} \[0 127\.0\.0\.1:\d+\]", b"+T [0 ADDR]", shown)


def test_monitor_shows_what_redis_shows(redis_port: int, ours: RunningServer) -> None:
    theirs = _monitor_session(redis_port)
    assert b'"SET" "k"' in theirs
    assert b'+T [0 lua] "GET" "k"' in theirs
    assert _monitor_session(ours.port) == theirs


def _info_fields(raw: bytes) -> dict[str, dict[bytes, bytes]]:
    sections: dict[str, dict[bytes, bytes]] = {}
    current: dict[bytes, bytes] = {}
    for line in raw.split(b"\r\n"):
        if line.startswith(b"# "):
            current = sections.setdefault(line[2:].decode(), {})
        elif b":" in line:
            name, _, value = line.partition(b":")
            current[name] = value
    return sections


OURS_ONLY = {b"server_name", b"wireproto_build", b"process_peak_rss"}
"""Fields of ours that Redis does not print (documented in specs/resp/README.md)."""

CONSTANT = {
    "Memory": [
        b"mem_cluster_links",
        b"mem_replication_backlog",
        b"mem_total_replication_buffers",
        b"mem_clients_slaves",
        b"active_defrag_running",
        b"lazyfree_pending_objects",
        b"lazyfreed_objects",
    ],
    "Stats": [
        b"sync_full",
        b"sync_partial_ok",
        b"sync_partial_err",
        b"evicted_clients",
        b"total_net_repl_input_bytes",
        b"total_net_repl_output_bytes",
        b"instantaneous_input_repl_kbps",
        b"instantaneous_output_repl_kbps",
        b"migrate_cached_sockets",
        b"slave_expires_tracked_keys",
        b"active_defrag_hits",
        b"active_defrag_misses",
        b"active_defrag_key_hits",
        b"active_defrag_key_misses",
        b"total_active_defrag_time",
        b"current_active_defrag_time",
        b"io_threaded_reads_processed",
        b"io_threaded_writes_processed",
    ],
    "Replication": [
        b"repl_backlog_first_byte_offset",
        b"repl_backlog_histlen",
    ],
    "Cluster": [
        b"cluster_enabled",
    ],
}
"""Fields whose value is constant on a lone server without replicas, defrag, lazyfree,
I/O threads or cluster: redis-server 7.0 prints the same value."""


def test_info_default_sections_name_redis_fields(redis_port: int, ours: RunningServer) -> None:
    theirs = _info_fields(call(redis_port, "INFO"))
    mine = _info_fields(call(ours.port, "INFO"))
    assert list(mine)[: len(theirs)] == list(theirs)  # Redis's default sections, in order
    for section, fields in theirs.items():
        assert set(mine[section]) - OURS_ONLY <= set(fields), section
    for section, names in CONSTANT.items():
        for name in names:
            assert mine[section][name] == theirs[section][name], name
