"""The memcached providers end to end: memcapable, pymemcache and redis-py over loopback.

The server is a ``python -m wireproto serve --port 0`` subprocess (what a user
runs), started once for the module. libmemcached's conformance tool
``memcapable`` (Debian's ``libmemcached-tools`` names it ``memccapable``) must
pass its ASCII and binary tests against it, as it does against the real
memcached 1.6 the module also starts. The store shared with RESP is checked
with redis-py on an in-process server whose registry holds both providers.

``memcached`` and ``libmemcached-tools`` come from ``.ci/install-debian-packages``:
without them these tests fail, they do not skip.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import struct
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
from _serve import (
    HOST,
    REPO,
    START_TIMEOUT,
    STOP_TIMEOUT,
    RunningServer,
    daemon,
    first_reply,
    serve,
    tool,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from pymemcache.client.base import Client  # type: ignore[import-untyped]
from pymemcache.exceptions import MemcacheServerError  # type: ignore[import-untyped]
from wireproto.providers import memcache, resp
from wireproto.providers.memcache import item_total_size
from wireproto.providers.memcache.binary_messages import STORE_EXTRAS, Opcode, build_request

from wireproto._registry import Registry
from wireproto._server import Server

TOOL_TIMEOUT = 180.0
SOCKET_TIMEOUT = 15.0
ITEM_SIZE_MAX = 1 << 20

MEMCACHE_FORMATS = ("memcache-text", "memcache-binary")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """``wireproto serve --port 0`` with the installed plugins and their defaults."""
    log = tmp_path_factory.mktemp("wireproto-memcache") / "server.log"
    with serve(log, formats=MEMCACHE_FORMATS) as running:
        yield running


def test_wireproto_serve_options_set_the_rule_and_the_item_size(tmp_path: Path) -> None:
    options = ("--set", "memcache.claim=unambiguous", "--set", "memcache.item-size-max=4k")
    with serve(tmp_path / "server.log", *options, formats=MEMCACHE_FORMATS) as running:
        port = running.port
        assert talk(port, b"get k\r\n") == b"$-1\r\n"  # RESP's answer: the listener's rule
        assert talk(port, b"get a b\r\n") == b"END\r\n"  # RESP's GET takes one key
        fits = 4096 - item_total_size(1, 0, 0)
        request = b"".join(b"set k 0 0 %d\r\n%s\r\n" % (n, b"v" * n) for n in (fits, fits + 1))
        assert talk(port, request) == b"STORED\r\nSERVER_ERROR object too large for cache\r\n"


def talk(port: int, request: bytes) -> bytes:
    """Send ``request``, close the sending side, and read every reply up to the close."""
    with socket.create_connection((HOST, port), timeout=SOCKET_TIMEOUT) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


@pytest.fixture(scope="module")
def real_memcached(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real memcached 1.6 (one worker thread, TCP on 127.0.0.1 only); yields its port."""
    binary = tool("memcached")
    user = ["-u", "root"] if os.geteuid() == 0 else []  # memcached refuses to run as root

    def command(port: int) -> list[str]:
        return [binary, "-l", HOST, "-p", str(port), "-U", "0", "-t", "1", *user]

    def ready(port: int) -> bool:
        return first_reply(port, b"version\r\n", 64).startswith(b"VERSION 1.6")

    log = tmp_path_factory.mktemp("memcached") / "log"
    with daemon("memcached", command, ready, log) as port:
        yield port


# -- memcapable ----------------------------------------------------------------------


def memcapable(port: int, protocol: str) -> subprocess.CompletedProcess[str]:
    binary = tool("memcapable", "memccapable")
    return subprocess.run(
        [binary, "-h", HOST, "-p", str(port), protocol, "-v"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )


@pytest.mark.parametrize("protocol", ["-a", "-b"], ids=["ascii", "binary"])
def test_memcapable_passes(server: RunningServer, protocol: str) -> None:
    result = memcapable(server.port, protocol)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "All tests passed" in result.stdout, output
    assert "[FAIL]" not in output, output
    assert result.stdout.count("[pass]") == 27, output


@pytest.mark.parametrize("protocol", ["-a", "-b"], ids=["ascii", "binary"])
def test_memcapable_passes_against_real_memcached(real_memcached: int, protocol: str) -> None:
    """The oracle: the tool and its 27 + 27 tests behave here as they should."""
    result = memcapable(real_memcached, protocol)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("[pass]") == 27, result.stdout


# -- the spec vectors, real memcached against this server ----------------------------------

SPECS = REPO / "specs"
TEXT_VECTORS = json.loads((SPECS / "memcache-text" / "vectors.json").read_text())["vectors"]
BINARY_SPEC = json.loads((SPECS / "memcache-binary" / "vectors.json").read_text())
BINARY_VECTORS = BINARY_SPEC["vectors"]
HEADER = struct.Struct(">BBHBBHIIQ")
SENTINEL_OPAQUE = 0xFFFFFFFF
# A miss echoes its opaque: a reply no vector's own commands can give.
TEXT_SENTINEL = (b"mg end-of-vector Oend-of-vector\r\n", b"EN Oend-of-vector\r\n")


def exchange(port: int, request: bytes, sentinel: bytes, ends: bytes) -> tuple[bytes, bool]:
    """Send ``request`` then ``sentinel``; the replies before the sentinel's, and whether
    the server closed instead of answering it."""
    with socket.create_connection((HOST, port), timeout=SOCKET_TIMEOUT) as sock:
        sock.sendall(request + sentinel)
        received = b""
        while not received.endswith(ends):
            chunk = sock.recv(65536)  # bounded by the socket timeout
            if not chunk:
                return received, True
            received += chunk
    return received[: -len(ends)], False


def flush(port: int) -> None:
    assert exchange(port, b"flush_all\r\n", *TEXT_SENTINEL) == (b"OK\r\n", False)


def mask_text(replies: bytes) -> bytes:
    replies = re.sub(rb"(VALUE \S+ \d+ \d+) \d+\r\n", rb"\1 <cas>\r\n", replies)
    replies = re.sub(rb" c[1-9][0-9]*", b" c<cas>", replies)
    return re.sub(rb"VERSION \S+", b"VERSION <version>", replies)


def vector_packets(packets: list[dict[str, Any]]) -> bytes:
    data = bytearray()
    for packet in packets:
        if "raw" in packet:
            data += bytes.fromhex(packet["raw"])
            continue
        fields = {}
        for name in ("key", "value"):
            if name + "_repeat" in packet:
                chunk, count = packet[name + "_repeat"]
                fields[name] = str(chunk).encode("latin-1") * int(count)
            else:
                fields[name] = str(packet.get(name, "")).encode("latin-1")
        op = packet["op"]
        opcode = op if isinstance(op, int) else BINARY_SPEC["opcodes"][op]
        extras = bytes.fromhex(packet.get("extras", ""))
        data += build_request(
            opcode,
            fields["key"],
            fields["value"],
            extras,
            opaque=packet.get("opaque", 0),
            cas=packet.get("cas", 0),
        )
    return bytes(data)


def mask_binary(replies: bytes) -> list[tuple[object, ...]]:
    packets: list[tuple[object, ...]] = []
    while len(replies) >= 24:
        *fields, cas = HEADER.unpack_from(replies)
        body = replies[24 : 24 + fields[6]]
        if fields[1] == Opcode.VERSION and fields[5] == 0:
            body = b"<version>"
        packets.append((*fields[:6], fields[7], "cas" if cas else 0, body))
        replies = replies[24 + fields[6] :]
    return [*packets, ("rest", replies)]


@pytest.mark.parametrize(
    "vector",
    [vector for vector in TEXT_VECTORS if vector["memcached"]],
    ids=lambda vector: vector["name"],
)
def test_text_vectors_get_memcached_s_replies(
    vector: dict[str, Any], server: RunningServer, real_memcached: int
) -> None:
    request = str(vector["request"]).encode("latin-1")
    results = []
    for port in (real_memcached, server.port):
        flush(port)
        replies, closed = exchange(port, request, *TEXT_SENTINEL)
        results.append((mask_text(replies), closed))
    assert results[1] == results[0]
    assert results[0][1] is vector["closes"]


@pytest.mark.parametrize(
    "vector",
    [vector for vector in BINARY_VECTORS if vector["memcached"]],
    ids=lambda vector: vector["name"],
)
def test_binary_vectors_get_memcached_s_replies(
    vector: dict[str, Any], server: RunningServer, real_memcached: int
) -> None:
    request = vector_packets(vector["request"])
    sentinel = build_request(Opcode.NOOP, opaque=SENTINEL_OPAQUE)
    ends = HEADER.pack(0x81, Opcode.NOOP, 0, 0, 0, 0, 0, SENTINEL_OPAQUE, 0)
    results = []
    for port in (real_memcached, server.port):
        flush(port)
        replies, closed = exchange(port, request, sentinel, ends)
        results.append((mask_binary(replies), closed))
    assert results[1] == results[0]
    assert results[0][1] is vector["closes"]


def test_the_item_limit_is_memcached_s(server: RunningServer, real_memcached: int) -> None:
    """memcached -I 1m stores 1048516 bytes under a one-byte key, and refuses 1048517."""
    for port in (real_memcached, server.port):
        request = b"".join(
            b"set k 0 0 %d\r\n%s\r\n" % (size, b"v" * size) for size in (1048516, 1048517)
        )
        replies, closed = exchange(port, request + b"mg k s\r\n", *TEXT_SENTINEL)
        assert (replies, closed) == (
            b"STORED\r\nSERVER_ERROR object too large for cache\r\nEN\r\n",
            False,
        ), port


# -- pipelined sets and gets, real memcached against this server ---------------------------

TEXT_KEYS = st.sampled_from([b"a", b"key:1", b"k" * 250])


@st.composite
def text_sets_and_gets(draw: st.DrawFn) -> bytes:
    """A ``get`` or a ``set`` as clients send them, and now and then an odd field."""
    key = draw(TEXT_KEYS)
    space = b"  " if draw(st.integers(0, 9)) == 0 else b" "
    if draw(st.integers(0, 2)) == 0:
        return b"get" + space + key + b"\r\n"
    flags = draw(st.sampled_from([b"0", b"0", b"00", b"7", b"4294967295", b"4294967296", b"-1"]))
    exptime = draw(st.sampled_from([b"0", b"0", b"00", b"100", b"-1", b"2592000", b"x"]))
    value = draw(st.binary(max_size=40))
    # A block of another length than the line says would swallow the sentinel here.
    words = [b"set", key, flags, exptime, b"%d" % len(value)]
    words += [b"noreply"] if draw(st.integers(0, 3)) == 0 else []
    return space.join(words) + b"\r\n" + value + b"\r\n"


@st.composite
def binary_sets_and_gets(draw: st.DrawFn) -> bytes:
    """A binary GET or SET (flags, an expiry, now and then a CAS that cannot match)."""
    key = draw(TEXT_KEYS)
    opaque = draw(st.integers(0, 2**32 - 1))
    if draw(st.booleans()):
        return build_request(Opcode.GET, key, opaque=opaque)
    extras = STORE_EXTRAS.build(
        {
            "flags": draw(st.sampled_from([0, 7, 2**32 - 1])),
            "expiration": draw(st.sampled_from([0, 0, 100])),
        }
    )
    cas = 2**64 - 1 if draw(st.integers(0, 9)) == 0 else 0
    return build_request(
        Opcode.SET, key, draw(st.binary(max_size=40)), extras, opaque=opaque, cas=cas
    )


@settings(max_examples=40, deadline=None)
@given(st.lists(text_sets_and_gets(), min_size=1, max_size=20))
def test_pipelined_text_sets_and_gets_get_memcached_s_replies(
    server: RunningServer, real_memcached: int, stream: list[bytes]
) -> None:
    results = []
    for port in (real_memcached, server.port):
        flush(port)
        replies, closed = exchange(port, b"".join(stream), *TEXT_SENTINEL)
        results.append((mask_text(replies), closed))
    assert results[1] == results[0]


@settings(max_examples=40, deadline=None)
@given(st.lists(binary_sets_and_gets(), min_size=1, max_size=20))
def test_pipelined_binary_sets_and_gets_get_memcached_s_replies(
    server: RunningServer, real_memcached: int, stream: list[bytes]
) -> None:
    sentinel = build_request(Opcode.NOOP, opaque=SENTINEL_OPAQUE)
    ends = HEADER.pack(0x81, Opcode.NOOP, 0, 0, 0, 0, 0, SENTINEL_OPAQUE, 0)
    results = []
    for port in (real_memcached, server.port):
        flush(port)
        replies, closed = exchange(port, b"".join(stream), sentinel, ends)
        results.append((mask_binary(replies), closed))
    assert results[1] == results[0]


# -- pymemcache ------------------------------------------------------------------------


@pytest.fixture
def client(server: RunningServer) -> Iterator[Client]:
    """A pymemcache client on an emptied server."""
    client = connect(server.port)
    try:
        assert client.flush_all() is True
        yield client
    finally:
        client.close()


def connect(port: int, *, noreply: bool = False) -> Client:
    """A pymemcache client; ``noreply`` is its default for storage commands (pymemcache's: True)."""
    return Client(
        (HOST, port),
        connect_timeout=SOCKET_TIMEOUT,
        timeout=SOCKET_TIMEOUT,
        default_noreply=noreply,
    )


def second_client(server: RunningServer) -> Client:
    return connect(server.port)


def test_pymemcache_commands(client: Client) -> None:
    assert client.version().startswith(b"1.6")
    assert client.set("k", b"v", expire=100) is True
    assert client.get("k") == b"v"
    assert client.add("k", b"x") is False
    assert client.replace("k", b"w") is True
    assert client.append("k", b">") is True
    assert client.prepend("k", b"<") is True
    assert client.get("k") == b"<w>"
    assert client.set("n", b"41") is True
    assert client.incr("n", 1) == 42
    assert client.decr("n", 50) == 0
    assert client.incr("missing", 1) is None
    assert client.touch("k", 10) is True
    assert client.touch("missing", 10) is False
    assert client.delete("k", noreply=False) is True
    assert client.delete("k", noreply=False) is False
    keys = {f"key{i:03d}": str(i).encode() for i in range(300)}
    assert client.set_many(keys) == []
    assert client.get_many([*keys, "absent"]) == keys  # a line far over 2048 bytes
    stats = client.stats()
    assert stats[b"cmd_get"] >= 301
    assert stats[b"curr_items"] >= 300


def test_a_value_at_the_item_limit_and_one_byte_over(client: Client) -> None:
    key = "big"
    limit = ITEM_SIZE_MAX - item_total_size(len(key), 0, 0)
    value = bytes(range(256)) * (limit // 256) + b"x" * (limit % 256)
    assert len(value) == limit
    assert client.set(key, value) is True
    assert client.get(key) == value
    with pytest.raises(MemcacheServerError, match="object too large for cache"):
        client.set(key, value + b"y")
    assert client.get(key) is None  # memcached drops the old value of a failed set
    assert client.set("after", b"ok") is True  # the refused block was skipped: still in sync
    assert client.get("after") == b"ok"


def test_noreply_pipelining(client: Client, server: RunningServer) -> None:
    quiet = connect(server.port, noreply=True)
    try:
        for i in range(500):
            assert quiet.set(f"p{i}", str(i).encode()) is True  # nothing to wait for
        assert quiet.set_many({f"m{i}": b"v" for i in range(200)}) == []
        for i in range(0, 500, 2):
            quiet.delete(f"p{i}")
        quiet.incr("p1", 1000, noreply=True)
        quiet.add("p3", b"not stored", noreply=True)
        # A reply-bearing command on the same connection comes after all of them.
        got = quiet.get_many([f"p{i}" for i in range(500)])
    finally:
        quiet.close()
    assert got == {f"p{i}": (b"1001" if i == 1 else str(i).encode()) for i in range(1, 500, 2)}
    assert len(client.get_many([f"m{i}" for i in range(200)])) == 200


def test_cas_races_between_two_clients(client: Client, server: RunningServer) -> None:
    other = second_client(server)
    try:
        assert client.set("counter", b"0") is True
        value_a, cas_a = client.gets("counter")
        value_b, cas_b = other.gets("counter")
        assert (value_a, value_b) == (b"0", b"0")
        assert cas_a == cas_b
        assert client.cas("counter", b"1", cas_a) is True
        assert other.cas("counter", b"1", cas_b) is False  # lost the race: EXISTS
        value_b, cas_b = other.gets("counter")
        assert (value_b, other.cas("counter", b"2", cas_b)) == (b"1", True)
        assert client.cas("gone", b"x", cas_a) is None  # NOT_FOUND
    finally:
        other.close()


def test_concurrent_cas_increments_lose_no_update(server: RunningServer) -> None:
    rounds = 200
    clients = [second_client(server) for _ in range(2)]
    try:
        clients[0].set("shared", b"0")
        conflicts = [0, 0]

        def increment(index: int) -> None:
            mine = clients[index]
            for _ in range(rounds):
                for _attempt in range(10_000):
                    value, cas = mine.gets("shared")
                    if mine.cas("shared", str(int(value) + 1).encode(), cas):
                        break
                    conflicts[index] += 1
                else:
                    raise AssertionError("cas never succeeded")

        with ThreadPoolExecutor(2) as pool:
            list(pool.map(increment, range(2)))
        assert clients[0].get("shared") == str(2 * rounds).encode()
    finally:
        for mine in clients:
            mine.close()


def test_a_broken_client_does_not_disturb_the_others(client: Client, server: RunningServer) -> None:
    assert client.set("stays", b"here") is True
    with socket.create_connection((HOST, server.port), timeout=SOCKET_TIMEOUT) as sock:
        sock.sendall(b"get " + b"k" * 10 + b"\r\n" + b"set x 0 0 1\r\n" + b"\x00" * 5000)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(b"END\r\nCLIENT_ERROR bad data chunk\r\n")
    assert client.get("stays") == b"here"


# -- one store with RESP -----------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_port() -> Iterator[int]:
    """An in-process server whose registry serves RESP and both memcached formats."""
    registry = Registry()
    memcache.register(registry)
    resp.register(registry)
    loop = asyncio.new_event_loop()
    server = Server(registry, HOST, 0)
    thread = threading.Thread(target=loop.run_forever, name="shared-server")
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(START_TIMEOUT)
        yield server.port
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(STOP_TIMEOUT)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(STOP_TIMEOUT)
        loop.close()


def test_memcached_and_redis_clients_share_the_store(shared_port: int) -> None:
    mc = connect(shared_port)
    rc = redis.Redis(host=HOST, port=shared_port, socket_timeout=SOCKET_TIMEOUT)
    try:
        assert rc.flushall() is True
        assert mc.set("from-memcached", b"hello", flags=5) is True
        assert rc.get("from-memcached") == b"hello"
        assert rc.set("from-redis", "41") is True
        assert mc.incr("from-redis", 1) == 42
        assert rc.incr("from-redis") == 43
        assert mc.gets("from-memcached")[0] == b"hello"
        with socket.create_connection((HOST, shared_port), timeout=SOCKET_TIMEOUT) as sock:
            extras = STORE_EXTRAS.build({"flags": 0, "expiration": 0})
            sock.sendall(build_request(Opcode.SET, b"from-binary", b"bin", extras))
            assert sock.recv(24)[6:8] == b"\x00\x00"  # status SUCCESS
        assert rc.get("from-binary") == b"bin"
        assert mc.flush_all() is True  # memcached's flush_all empties Redis's keys too
        assert rc.dbsize() == 0
    finally:
        mc.close()
        rc.close()
