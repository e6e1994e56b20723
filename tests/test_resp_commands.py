"""RESP commands: lookup (unknown commands, arity, case), inline commands, batching and
registration; the families' replies are in ``test_resp_commands_<family>.py``."""

from __future__ import annotations

import pytest
from _drive import resp_command as cmd
from _resp import Case, Client, run_case
from wireproto.providers.kvstore import shared_store
from wireproto.providers.resp import RESP, RespProvider, register

from wireproto import CloseReason, Registry
from wireproto._auth import NO_AUTH
from wireproto._connection import ConnectionState
from wireproto.memory import MemoryAccount

CASES = [
    Case(
        "unknown command",
        [("FOO", "a", "b")],
        b"-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n",
    ),
    Case(
        "unknown command without args",
        [("foo",)],
        b"-ERR unknown command 'foo', with args beginning with: \r\n",
    ),
    Case(
        "unknown command args are cut at 128 bytes",
        [("x", "a" * 100, "b" * 100, "c")],
        b"-ERR unknown command 'x', with args beginning with: '"
        + b"a" * 100
        + b"' '"
        + b"b" * 25
        + b"' \r\n",
    ),
    Case(
        "newlines in errors become spaces",
        [("x\r\ny",)],
        b"-ERR unknown command 'x  y', with args beginning with: \r\n",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_command_replies(case: Case, resp3: bool, accelerated: bool) -> None:
    expected = case.resp3 if resp3 and case.resp3 is not None else case.resp2
    assert run_case(case, accelerated, resp3) == expected


# This family's cases among the first 40 of the table before it was split by family.
PIPELINED = CASES[:4]


@pytest.mark.parametrize("case", PIPELINED, ids=[case.name for case in PIPELINED])
def test_pipelined_commands_give_the_same_replies(case: Case, accelerated: bool) -> None:
    client = Client(accelerated)
    assert client.send(b"".join(cmd(*command) for command in case.commands)) == case.resp2


def test_inline_commands(accelerated: bool) -> None:
    client = Client(accelerated)
    assert client.send(b"PING\r\n") == b"+PONG\r\n"
    assert client.send(b"  set k   v \n") == b"+OK\r\n"
    assert client.send(b'SET q "a b\\x41\\n"\r\nGET q\r\n') == b"+OK\r\n$5\r\na bA\n\r\n"
    assert client.send(b"SET s 'it\\'s'\r\nGET s\r\n") == b"+OK\r\n$4\r\nit's\r\n"
    assert client.send(b'SET e ""\r\nSTRLEN e\r\n') == b"+OK\r\n:0\r\n"
    assert client.send(b"\r\n") == b""  # an empty line is an empty command: no reply
    # Redis looks for the newline with strchr, which stops at a NUL: the line never ends.
    assert client.send(b"GET k\x00ignored\r\nPING\r\n") == b""
    assert client.connection.state is ConnectionState.ACTIVE


@pytest.mark.parametrize(
    "line",
    [b'SET k "abc\r\n', b"SET k 'abc\r\n", b'GET "k"x\r\n'],
)
def test_unbalanced_quotes_close_the_connection(line: bytes, accelerated: bool) -> None:
    client = Client(accelerated)
    assert client.send(b"PING\r\n" + line + b"PING\r\n") == (
        b"+PONG\r\n-ERR Protocol error: unbalanced quotes in request\r\n"
    )
    assert client.connection.close_reason is CloseReason.PROTOCOL_ERROR


def test_empty_multibulk_commands_get_no_reply(accelerated: bool) -> None:
    client = Client(accelerated)
    assert client.send(b"*0\r\n*-1\r\n*-7\r\n" + cmd("PING")) == b"+PONG\r\n"
    assert client.connection.state is ConnectionState.ACTIVE


def test_one_send_per_batch(accelerated: bool) -> None:
    sent: list[bytes] = []

    class Sender:
        memory = MemoryAccount()
        auth = NO_AUTH

        def send(self, data: bytes) -> None:
            sent.append(bytes(data))

        def close(self) -> None:  # pragma: no cover - not closed here
            raise AssertionError

    provider = RespProvider(accelerated=accelerated)
    session = provider.create_session(RESP, Sender())
    batch = (
        cmd("SET", "a", 1) + b"PING\r\n" + cmd("GET", "a") + cmd("INCR", "a") + b"*1\r\n$4\r\nPI"
    )
    view = memoryview(bytearray(batch))
    # The started command's header lines are consumed too; its bulk waits in the buffer.
    assert session.try_consume(view) == len(batch) - 2
    assert sent == [b"+OK\r\n+PONG\r\n$1\r\n1\r\n:2\r\n"]
    assert session.try_consume(memoryview(bytearray(b"PI"))) == 0
    assert session.try_consume(memoryview(bytearray(b"PING\r\n"))) == 6
    assert sent[1:] == [b"+PONG\r\n"]


def test_register_serves_the_registrys_shared_store() -> None:
    registry = Registry()
    provider = register(registry)
    assert provider.store is shared_store(registry)
    assert registry.provider(RESP) is provider
