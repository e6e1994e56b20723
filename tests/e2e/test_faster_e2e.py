"""FASTER's binary protocol against ``wireproto serve`` over loopback, with real peers."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from _faster_client import FasterClient, collect, exchange
from _serve import HOST, RunningServer, serve
from pymemcache.client.base import Client as MemcacheClient


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log: Path = tmp_path_factory.mktemp("faster") / "serve.log"
    with serve(log, formats={"faster", "faster-ws", "resp", "memcache-text"}) as running:
        yield running


def _connect(server: RunningServer) -> socket.socket:
    return socket.create_connection((HOST, server.port), timeout=5.0)


def test_a_batch_of_many_messages_over_loopback(server: RunningServer) -> None:
    client = FasterClient()
    with _connect(server) as sock:
        for i in range(200):
            client.upsert(b"e2e:%d" % i, b"value-%d" % i, serial_num=i)
        for i in range(200):
            client.read(b"e2e:%d" % i, serial_num=200 + i)
        replies = exchange(sock, client, 400)
        assert [r.status for r in replies[:200]] == [0x11] * 200
        assert [r.output for r in replies[200:]] == [b"value-%d" % i for i in range(200)]
        client.rmw(b"e2e:0", b"v")
        client.read(b"e2e:0")
        client.delete(b"e2e:0")
        client.read(b"e2e:0")
        replies = exchange(sock, client, 4)
        assert [(r.status, r.output) for r in replies] == [
            (0x20, b""),
            (0x00, b"v"),
            (0x20, None),
            (0x01, None),
        ]


def test_batches_sent_a_byte_at_a_time(server: RunningServer) -> None:
    client = FasterClient()
    for i in range(20):
        client.upsert(b"drip:%d" % i, b"x" * i)
        client.read(b"drip:%d" % i)
    batch = client.flush()
    with _connect(server) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(batch)):
            sock.sendall(batch[i : i + 1])
        replies = collect(sock, client, 40)
    assert [r.output for r in replies[1::2]] == [b"x" * i for i in range(20)]


def test_upserted_through_faster_read_through_redis_and_memcached(server: RunningServer) -> None:
    client = FasterClient()
    with _connect(server) as sock:
        client.upsert(b"shared:faster", b"hello from FASTER")
        assert exchange(sock, client, 1)[0].status == 0x11
    with redis.Redis(host=HOST, port=server.port) as redis_client:
        assert redis_client.get("shared:faster") == b"hello from FASTER"
        redis_client.set("shared:redis", "hello from Redis")
    memcached = MemcacheClient((HOST, server.port), timeout=5.0)
    try:
        assert memcached.get("shared:faster") == b"hello from FASTER"
    finally:
        memcached.close()
    with _connect(server) as sock:
        client = FasterClient()
        client.read(b"shared:redis")
        assert exchange(sock, client, 1)[0].output == b"hello from Redis"


def test_subscriptions_across_connections(server: RunningServer) -> None:
    subscriber = FasterClient()
    with _connect(server) as sub_sock, _connect(server) as writer_sock:
        subscriber.subscribe_kv(b"sub:key")
        subscriber.subscribe_kv(b"sub:", prefix=True)
        acks = exchange(sub_sock, subscriber, 2)
        assert [(r.type, r.status) for r in acks] == [(8, 3), (9, 3)]
        writer = FasterClient()
        writer.upsert(b"sub:key", b"v1")
        exchange(writer_sock, writer, 1)
        notes = collect(sub_sock, subscriber, 2)
        assert sorted((r.type, r.key, r.output) for r in notes) == [
            (8, None, b"v1"),
            (9, b"sub:key", b"v1"),
        ]


def test_writes_by_redis_and_memcached_notify_a_faster_subscriber(server: RunningServer) -> None:
    subscriber = FasterClient()
    with _connect(server) as sub_sock:
        subscriber.subscribe_kv(b"xfmt:py")
        subscriber.subscribe_kv(b"xfmt:", prefix=True)
        subscriber.subscribe(b"xfmt:channel")
        acks = exchange(sub_sock, subscriber, 3)
        assert [(r.type, r.status) for r in acks] == [(8, 3), (9, 3), (10, 3)]
        with redis.Redis(host=HOST, port=server.port) as redis_client:
            assert redis_client.set("xfmt:py", "from redis")
        notes = collect(sub_sock, subscriber, 2)
        assert [(r.type, r.status, r.key, r.output) for r in notes] == [
            (8, 0, None, b"from redis"),
            (9, 0, b"xfmt:py", b"from redis"),
        ]
        memcached = MemcacheClient((HOST, server.port), timeout=5.0)
        try:
            assert memcached.set("xfmt:py", b"from memcached", noreply=False)
            assert memcached.delete("xfmt:py", noreply=False)
        finally:
            memcached.close()
        notes = collect(sub_sock, subscriber, 4)
        assert [(r.type, r.status, r.key, r.output) for r in notes] == [
            (8, 0, None, b"from memcached"),
            (9, 0, b"xfmt:py", b"from memcached"),
            (8, 1, None, None),  # deleted: NOT_FOUND, no value (FASTER's Read of a deleted key)
            (9, 1, b"xfmt:py", None),
        ]
        with _connect(server) as pub_sock:
            publisher = FasterClient()
            publisher.publish(b"xfmt:channel", b"from a FASTER publisher")
            assert [(r.type, r.status) for r in exchange(pub_sock, publisher, 1)] == [(11, 0)]
        (note,) = collect(sub_sock, subscriber, 1)
        assert (note.type, note.status, note.output) == (10, 0, b"from a FASTER publisher")


def test_a_malformed_batch_is_closed_without_a_reply(server: RunningServer) -> None:
    with _connect(server) as sock:
        # a batch whose count promises a message it does not hold
        sock.sendall(bytes.fromhex("f8ffffff 00000000 00010000"))
        assert sock.recv(100) == b""
