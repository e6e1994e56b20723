"""Blocking list commands through Connections on one provider: served by pushes from other
connections, FIFO, after EXEC, at once inside MULTI, timeouts on the connection's clock,
pipelined commands that wait, and clients that leave while blocked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _drive import resp_command as cmd
from _resp import Arg, bulk
from wireproto.providers.resp import RespProvider, register
from wireproto.providers.resp.commands.blocking import WAITING, parse_timeout

from wireproto import CloseReason, Connection, Registry

NULL_ARRAY = b"*-1\r\n"
PONG = b"+PONG\r\n"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Server:
    """One provider; each :meth:`client` is a Connection on it, sharing a fake clock."""

    def __init__(self, accelerated: bool) -> None:
        self.registry = Registry()
        register(self.registry, RespProvider(accelerated=accelerated))
        self.clock = FakeClock()
        self.connections: list[Connection] = []

    def client(self) -> Peer:
        connection = Connection(self.registry, clock=self.clock)
        self.connections.append(connection)
        return Peer(connection)


class Peer:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def send(self, *commands: tuple[Arg, ...]) -> bytes:
        self.connection.receive_data(b"".join(cmd(*command) for command in commands))
        return self.connection.data_to_send()

    def call(self, *args: Arg) -> bytes:
        return self.send(args)

    def replies(self) -> bytes:
        return self.connection.data_to_send()


@pytest.fixture
def server(accelerated: bool) -> Iterator[Server]:
    made = Server(accelerated)
    yield made
    for connection in made.connections:
        connection.close(CloseReason.PEER_CLOSED)
    assert WAITING.count == 0  # every blocked client was forgotten
    assert not WAITING.ready


def test_a_push_from_another_client_serves_the_blocked_one(server: Server) -> None:
    blocked, pusher = server.client(), server.client()
    assert blocked.send(("BLPOP", "a", "k", 0), ("PING",)) == b""  # PING waits behind BLPOP
    assert blocked.connection.next_deadline() is None  # timeout 0: forever
    assert pusher.call("RPUSH", "k", "x", "y") == b":2\r\n"
    assert blocked.replies() == b"*2\r\n" + bulk(b"k") + bulk(b"x") + PONG
    assert pusher.call("LRANGE", "k", 0, -1) == b"*1\r\n" + bulk(b"y")


def test_a_non_empty_list_answers_at_once(server: Server) -> None:
    client = server.client()
    client.call("RPUSH", "b", "1", "2")
    assert client.call("BRPOP", "a", "b", 0) == b"*2\r\n" + bulk(b"b") + bulk(b"2")
    assert client.call("BLMPOP", 0, 2, "a", "b", "LEFT", "COUNT", 5) == (
        b"*2\r\n" + bulk(b"b") + b"*1\r\n" + bulk(b"1")
    )


def test_clients_blocked_on_one_key_are_served_first_come_first_served(server: Server) -> None:
    first, second, third, pusher = (server.client() for _ in range(4))
    for client in (first, second, third):
        assert client.call("BLPOP", "k", 0) == b""
    assert pusher.call("RPUSH", "k", "1", "2") == b":2\r\n"
    assert first.replies() == b"*2\r\n" + bulk(b"k") + bulk(b"1")
    assert second.replies() == b"*2\r\n" + bulk(b"k") + bulk(b"2")
    assert third.replies() == b""
    assert pusher.call("EXISTS", "k") == b":0\r\n"
    pusher.call("LPUSH", "k", "3")
    assert third.replies() == b"*2\r\n" + bulk(b"k") + bulk(b"3")


def test_a_client_blocked_on_several_keys_is_served_once(server: Server) -> None:
    blocked, pusher = server.client(), server.client()
    blocked.call("BLPOP", "a", "b", 0)
    pusher.send(("RPUSH", "b", "1"), ("RPUSH", "a", "2"))
    assert blocked.replies() == b"*2\r\n" + bulk(b"b") + bulk(b"1")
    assert pusher.call("LLEN", "a") == b":1\r\n"


def test_each_pipelined_command_serves_before_the_next_runs(server: Server) -> None:
    # As in Redis: the blocked client gets the item before the pusher's own LPOP runs.
    blocked, pusher = server.client(), server.client()
    blocked.call("BLPOP", "k", 0)
    assert pusher.send(("LPUSH", "k", "x"), ("LPOP", "k")) == b":1\r\n$-1\r\n"
    assert blocked.replies() == b"*2\r\n" + bulk(b"k") + bulk(b"x")


def test_a_push_inside_multi_serves_after_exec(server: Server) -> None:
    blocked, pusher = server.client(), server.client()
    blocked.call("BLPOP", "k", 0)
    pusher.send(("MULTI",), ("RPUSH", "k", "x"))
    assert blocked.replies() == b""
    # Popped again inside the transaction: nothing is left for the blocked client.
    assert pusher.send(("LPOP", "k"), ("EXEC",)).endswith(b"*2\r\n:1\r\n" + bulk(b"x"))
    assert blocked.replies() == b""
    pusher.send(("MULTI",), ("RPUSH", "k", "y", "z"), ("LLEN", "k"), ("EXEC",))
    assert blocked.replies() == b"*2\r\n" + bulk(b"k") + bulk(b"y")
    assert pusher.call("LRANGE", "k", 0, -1) == b"*1\r\n" + bulk(b"z")


@pytest.mark.parametrize(
    ("command", "null"),
    [
        (("BLPOP", "k", 0), NULL_ARRAY),
        (("BRPOP", "k", 1), NULL_ARRAY),
        (("BLMPOP", 0, 1, "k", "LEFT"), NULL_ARRAY),
        (("BLMOVE", "k", "d", "LEFT", "LEFT", 0), b"$-1\r\n"),
        (("BRPOPLPUSH", "k", "d", 0), b"$-1\r\n"),
    ],
)
def test_blocking_commands_inside_multi_answer_at_once(
    server: Server, command: tuple[Arg, ...], null: bytes
) -> None:
    client = server.client()
    assert client.send(("MULTI",), command, ("EXEC",), ("PING",)) == (
        b"+OK\r\n+QUEUED\r\n*1\r\n" + null + PONG
    )


def test_a_timeout_answers_a_null_array_then_the_pipelined_commands_run(server: Server) -> None:
    client = server.client()
    assert client.send(("BLPOP", "k", "1.5"), ("PING",)) == b""
    deadline = client.connection.next_deadline()
    assert deadline == pytest.approx(server.clock.now + 1.5)
    server.clock.now += 1.4
    client.connection.check_deadlines()
    assert client.replies() == b""
    server.clock.now += 0.1
    client.connection.check_deadlines()
    assert client.replies() == NULL_ARRAY + PONG
    assert client.connection.next_deadline() is None


def test_resp3_timeouts_answer_the_resp3_null(server: Server) -> None:
    client = server.client()
    client.call("HELLO", 3)
    client.call("BLMOVE", "k", "d", "LEFT", "RIGHT", "0.001")
    server.clock.now += 0.001
    client.connection.check_deadlines()
    assert client.replies() == b"_\r\n"


def test_a_client_that_leaves_while_blocked_is_forgotten(server: Server) -> None:
    leaving, staying, pusher = server.client(), server.client(), server.client()
    leaving.call("BLPOP", "k", 0)
    staying.call("BLPOP", "k", 0)
    leaving.connection.close(CloseReason.PEER_CLOSED)
    assert WAITING.count == 1
    pusher.call("RPUSH", "k", "x")
    assert staying.replies() == b"*2\r\n" + bulk(b"k") + bulk(b"x")
    leaving.connection.close(CloseReason.PEER_CLOSED)
    other = server.client()
    other.call("BLPOP", "k", 0)
    other.connection.close(CloseReason.PEER_CLOSED)
    pusher.call("RPUSH", "k", "y")  # nobody waits: it stays
    assert pusher.call("LLEN", "k") == b":1\r\n"


def test_blmove_pushes_wake_the_clients_blocked_on_the_destination(server: Server) -> None:
    mover, waiter, pusher = server.client(), server.client(), server.client()
    mover.call("BLMOVE", "src", "dst", "RIGHT", "LEFT", 0)
    waiter.call("BRPOP", "dst", 0)
    pusher.call("RPUSH", "src", "a", "b")
    assert mover.replies() == bulk(b"b")
    assert waiter.replies() == b"*2\r\n" + bulk(b"dst") + bulk(b"b")
    assert pusher.call("LRANGE", "src", 0, -1) == b"*1\r\n" + bulk(b"a")


def test_blmove_to_a_key_of_another_type_answers_wrongtype_when_served(server: Server) -> None:
    mover, pusher = server.client(), server.client()
    mover.call("BRPOPLPUSH", "src", "dst", 0)
    pusher.call("SET", "dst", "string")
    pusher.call("RPUSH", "src", "a")
    assert mover.replies().startswith(b"-WRONGTYPE")
    assert pusher.call("LLEN", "src") == b":1\r\n"


def test_blmpop_is_served_with_up_to_count_items(server: Server) -> None:
    blocked, pusher = server.client(), server.client()
    blocked.call("BLMPOP", 0, 2, "a", "b", "RIGHT", "COUNT", 2)
    pusher.call("RPUSH", "b", "1", "2", "3")
    assert blocked.replies() == b"*2\r\n" + bulk(b"b") + b"*2\r\n" + bulk(b"3") + bulk(b"2")


def test_a_key_of_another_type_keeps_the_clients_waiting(server: Server) -> None:
    blocked, writer = server.client(), server.client()
    blocked.call("BLPOP", "k", 0)
    writer.call("SET", "k", "v")
    assert blocked.replies() == b""
    writer.send(("DEL", "k"), ("RPUSH", "k", "x"))
    assert blocked.replies() == b"*2\r\n" + bulk(b"k") + bulk(b"x")


def test_argument_errors(server: Server) -> None:
    client = server.client()
    assert client.call("BLPOP", "k", -1) == b"-ERR timeout is negative\r\n"
    assert client.call("BLPOP", "k", "x") == b"-ERR timeout is not a float or out of range\r\n"
    assert client.call("BLPOP", "k", "nan") == b"-ERR timeout is not a float or out of range\r\n"
    assert client.call("BRPOP", "k", "inf") == b"-ERR timeout is negative\r\n"
    assert client.call("BLMOVE", "k", "d", "UP", "LEFT", 0) == b"-ERR syntax error\r\n"
    assert client.call("BLMPOP", 0, 0, "k", "LEFT") == (
        b"-ERR numkeys should be greater than 0\r\n"
    )
    assert client.call("BLMPOP", -1, 1, "k", "LEFT") == b"-ERR timeout is negative\r\n"
    client.call("SET", "s", "v")
    assert client.call("BLPOP", "s", 0).startswith(b"-WRONGTYPE")
    assert WAITING.count == 0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (b"0", None),
        (b"0.0", None),
        (b"-0.0001", None),  # ceil(-0.1 ms) is 0: forever, as in Redis
        (b"0.0001", 0.001),
        (b"1.5", 1.5),
        (b"1e3", 1000.0),
        (b"9223372036854775.807", 9223372036854775.807),
    ],
)
def test_timeouts_round_up_to_milliseconds(text: bytes, seconds: float | None) -> None:
    assert parse_timeout(text) == seconds


@pytest.mark.parametrize("text", [b"-0.002", b"9223372036854775.808", b"-inf", b"1e300"])
def test_timeouts_out_of_range_are_negative(text: bytes) -> None:
    assert parse_timeout(text) == b"-ERR timeout is negative\r\n"


def test_bzpopmin_is_served_by_zadd_in_score_order(server: Server) -> None:
    first, second, writer = server.client(), server.client(), server.client()
    assert first.call("BZPOPMIN", "z", 0) == b""
    assert second.call("BZMPOP", 0, 1, "z", "MAX", "COUNT", 5) == b""
    writer.call("ZADD", "z", 2, "b", 1, "a", 3, "c")
    assert first.replies() == b"*3\r\n" + bulk(b"z") + bulk(b"a") + bulk(b"1")
    assert second.replies() == (
        b"*2\r\n" + bulk(b"z") + b"*2\r\n"
        + b"*2\r\n" + bulk(b"c") + bulk(b"3") + b"*2\r\n" + bulk(b"b") + bulk(b"2")
    )  # fmt: skip
    assert writer.call("EXISTS", "z") == b":0\r\n"


def test_a_list_push_does_not_serve_a_sorted_set_waiter(server: Server) -> None:
    waiter, writer = server.client(), server.client()
    waiter.call("HELLO", 3)
    waiter.call("BZPOPMAX", "k", "0.5")
    writer.call("RPUSH", "k", "x")
    assert waiter.replies() == b""
    server.clock.now += 0.5
    waiter.connection.check_deadlines()
    assert waiter.replies() == b"_\r\n"
