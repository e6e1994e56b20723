"""XREAD BLOCK sans I/O: woken by an XADD from another connection with only the new entries,
``$`` meaning "after what is there now", timeouts on the connection's clock, at once inside
MULTI, and a blocked reader that leaves is forgotten."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_resp_blocking import NULL_ARRAY, Server
from wireproto.providers.resp.commands.blocking import WAITING

from wireproto import CloseReason


@pytest.fixture
def server(accelerated: bool) -> Iterator[Server]:
    made = Server(accelerated)
    yield made
    for connection in made.connections:
        connection.close(CloseReason.PEER_CLOSED)
    assert WAITING.count == 0


def test_an_xadd_wakes_a_blocked_xread_with_the_new_entry(server: Server) -> None:
    reader, writer = server.client(), server.client()
    writer.call("XADD", "s", "1-1", "f", "old")
    assert reader.call("XREAD", "BLOCK", 0, "STREAMS", "s", "other", "$", "0") == b""
    assert reader.connection.next_deadline() is None  # BLOCK 0: forever
    writer.call("XADD", "other", "5-1", "g", "h")  # "other" was asked from 0: it serves
    assert reader.replies() == (
        b"*1\r\n*2\r\n$5\r\nother\r\n*1\r\n*2\r\n$3\r\n5-1\r\n*2\r\n$1\r\ng\r\n$1\r\nh\r\n"
    )
    assert reader.call("XREAD", "BLOCK", 0, "STREAMS", "s", "$") == b""
    writer.call("SET", "unrelated", "x")
    assert reader.replies() == b""
    writer.call("XADD", "s", "2-1", "f", "new")
    assert reader.replies() == (
        b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\nf\r\n$3\r\nnew\r\n"
    )


def test_a_blocked_xread_times_out_then_runs_what_was_pipelined(server: Server) -> None:
    reader = server.client()
    assert reader.send(("XREAD", "BLOCK", 1500, "STREAMS", "s", "$"), ("PING",)) == b""
    assert reader.connection.next_deadline() == pytest.approx(server.clock.now + 1.5)
    server.clock.now += 1.5
    reader.connection.check_deadlines()
    assert reader.replies() == NULL_ARRAY + b"+PONG\r\n"


def test_xread_block_inside_multi_answers_at_once(server: Server) -> None:
    reader = server.client()
    reader.call("MULTI")
    reader.call("XREAD", "BLOCK", 0, "STREAMS", "s", "$")
    assert reader.call("EXEC") == b"*1\r\n" + NULL_ARRAY


def test_a_reader_that_leaves_is_forgotten(server: Server) -> None:
    reader, writer = server.client(), server.client()
    reader.call("XREAD", "BLOCK", 0, "STREAMS", "s", "$")
    assert WAITING.count == 1
    reader.connection.close(CloseReason.PEER_CLOSED)
    assert WAITING.count == 0
    assert writer.call("XADD", "s", "1-1", "f", "v") == b"$3\r\n1-1\r\n"


def test_xreadgroup_block_delivers_new_entries_to_the_consumer(server: Server) -> None:
    reader, writer = server.client(), server.client()
    writer.call("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    assert reader.call("XREADGROUP", "GROUP", "g", "alice", "BLOCK", 0, "STREAMS", "s", ">") == b""
    writer.call("XADD", "s", "3-1", "f", "v")
    assert reader.replies() == (
        b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n3-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
    )
    assert writer.call("XPENDING", "s", "g") == (
        b"*4\r\n:1\r\n$3\r\n3-1\r\n$3\r\n3-1\r\n*1\r\n*2\r\n$5\r\nalice\r\n$1\r\n1\r\n"
    )
    # The group goes while a reader waits: it is told so at the next write.
    reader.call("XREADGROUP", "GROUP", "g", "alice", "BLOCK", 0, "STREAMS", "s", ">")
    writer.call("XGROUP", "DESTROY", "s", "g")
    writer.call("XADD", "s", "4-1", "f", "v")
    assert reader.replies() == (
        b"-NOGROUP the consumer group this client was blocked on no longer exists\r\n"
    )
