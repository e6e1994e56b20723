"""RESP connection commands (PING, ECHO, QUIT, SELECT, AUTH, HELLO, CLIENT): exact reply bytes."""

from __future__ import annotations

import pytest
from _drive import resp_command as cmd
from _resp import NIL2, NIL3, NOT_INT, SYNTAX, Case, Client, run_case
from wireproto.providers.resp import RespProvider, register

from wireproto import CloseReason, Connection, Registry
from wireproto._connection import ConnectionState

CASES = [
    Case("ping", [("PING",)], b"+PONG\r\n"),
    Case("ping message", [("PING", "hi")], b"$2\r\nhi\r\n"),
    Case(
        "ping arity",
        [("PING", "a", "b")],
        b"-ERR wrong number of arguments for 'ping' command\r\n",
    ),
    Case("echo", [("ECHO", "")], b"$0\r\n\r\n"),
    Case("echo arity", [("ECHO",)], b"-ERR wrong number of arguments for 'echo' command\r\n"),
    Case("select 0", [("SELECT", 0)], b"+OK\r\n"),
    Case("select 1", [("SELECT", 1)], b"+OK\r\n"),
    Case("select 15 (the last)", [("SELECT", 15)], b"+OK\r\n"),
    Case("select 16 (one past)", [("SELECT", 16)], b"-ERR DB index is out of range\r\n"),
    Case("select -1", [("SELECT", -1)], b"-ERR DB index is out of range\r\n"),
    Case("select not int", [("SELECT", "x")], NOT_INT),
    Case(
        "select beyond int",
        [("SELECT", 2**31)],
        b"-ERR value is out of range, value must between -2147483648 and 2147483647\r\n",
    ),
    Case(
        "unknown subcommand",
        [("client", "foo")],
        b"-ERR unknown subcommand 'foo'. Try CLIENT HELP.\r\n",
    ),
    Case(
        "container arity",
        [("CLIENT",)],
        b"-ERR wrong number of arguments for 'client' command\r\n",
    ),
    Case(
        "subcommand arity",
        [("CLIENT", "SETNAME")],
        b"-ERR wrong number of arguments for 'client|setname' command\r\n",
    ),
    Case(
        "hello",
        [("HELLO",)],
        b"*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:2\r\n"
        b"$2\r\nid\r\n:1\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
        b"$7\r\nmodules\r\n*0\r\n",
        b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n"
        b"$2\r\nid\r\n:1\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
        b"$7\r\nmodules\r\n*0\r\n",
    ),
    Case("hello 4", [("HELLO", 4)], b"-NOPROTO unsupported protocol version\r\n"),
    Case(
        "hello not int",
        [("HELLO", "three")],
        b"-ERR Protocol version is not an integer or out of range\r\n",
    ),
    Case("hello bad option", [("HELLO", 2, "FOO")], b"-ERR Syntax error in HELLO option 'FOO'\r\n"),
    Case(
        "hello setname",
        [("HELLO", 2, "SETNAME", "app"), ("CLIENT", "GETNAME")],
        b"*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:2\r\n"
        b"$2\r\nid\r\n:1\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
        b"$7\r\nmodules\r\n*0\r\n$3\r\napp\r\n",
    ),
    Case(
        "hello auth with wrong user",
        [("HELLO", 3, "AUTH", "bob", "pw")],
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    ),
    Case(
        "auth without a password configured",
        [("AUTH", "pw")],
        b"-ERR AUTH <password> called without any password configured for the default user. "
        b"Are you sure your configuration is correct?\r\n",
    ),
    Case("auth default user without a password", [("AUTH", "default", "any")], b"+OK\r\n"),
    Case("auth too many args", [("AUTH", "a", "b", "c")], SYNTAX),
    Case(
        "client name",
        [
            ("CLIENT", "GETNAME"),
            ("CLIENT", "SETNAME", "conn-1"),
            ("CLIENT", "GETNAME"),
            ("CLIENT", "SETNAME", ""),
            ("CLIENT", "GETNAME"),
        ],
        NIL2 + b"+OK\r\n$6\r\nconn-1\r\n+OK\r\n" + NIL2,
        NIL3 + b"+OK\r\n$6\r\nconn-1\r\n+OK\r\n" + NIL3,
    ),
    Case(
        "client setname with a space",
        [("CLIENT", "SETNAME", "a b")],
        b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n",
    ),
    Case("client id", [("CLIENT", "ID")], b":1\r\n"),
    Case(
        "client setinfo",
        [("CLIENT", "SETINFO", "LIB-NAME", "redis-py"), ("CLIENT", "SETINFO", "lib-ver", "5.0.1")],
        b"+OK\r\n+OK\r\n",
    ),
    Case(
        "client setinfo unknown attribute",
        [("CLIENT", "SETINFO", "foo", "bar")],
        b"-ERR Unrecognized option 'foo'\r\n",
    ),
    Case(
        "client setinfo bad value",
        [("CLIENT", "SETINFO", "LIB-NAME", "a b")],
        b"-ERR LIB-NAME cannot contain spaces, newlines or special characters.\r\n",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_command_replies(case: Case, resp3: bool, accelerated: bool) -> None:
    expected = case.resp3 if resp3 and case.resp3 is not None else case.resp2
    assert run_case(case, accelerated, resp3) == expected


# This family's cases among the first 40 of the table before it was split by family.
PIPELINED = CASES[:12]


@pytest.mark.parametrize("case", PIPELINED, ids=[case.name for case in PIPELINED])
def test_pipelined_commands_give_the_same_replies(case: Case, accelerated: bool) -> None:
    client = Client(accelerated)
    assert client.send(b"".join(cmd(*command) for command in case.commands)) == case.resp2


def test_quit_replies_then_closes_and_ignores_the_rest(accelerated: bool) -> None:
    client = Client(accelerated)
    assert client.send(cmd("SET", "a", 1) + cmd("QUIT") + cmd("SET", "b", 2)) == b"+OK\r\n+OK\r\n"
    assert client.connection.state is ConnectionState.CLOSED
    assert client.connection.close_reason is CloseReason.SESSION_CLOSED
    assert client.provider.store.get(b"b") is None


def test_authentication_required(accelerated: bool) -> None:
    client = Client(accelerated, password="s3cret")
    noauth = b"-NOAUTH Authentication required.\r\n"
    assert client.call("GET", "k") == noauth
    assert client.call("PING") == noauth
    assert client.call("CLIENT", "SETINFO", "LIB-NAME", "x") == noauth
    # Unknown commands and wrong arity are reported before NOAUTH, as Redis does.
    assert client.call("NOPE").startswith(b"-ERR unknown command 'NOPE'")
    assert client.call("GET") == b"-ERR wrong number of arguments for 'get' command\r\n"
    assert client.call("HELLO", 3) == (
        b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the "
        b"HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
        b"select the RESP protocol version at the same time\r\n"
    )
    wrongpass = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    assert client.call("AUTH", "nope") == wrongpass
    assert client.call("AUTH", "admin", "s3cret") == wrongpass
    assert client.call("GET", "k") == noauth
    assert client.call("AUTH", "s3cret") == b"+OK\r\n"
    assert client.call("GET", "k") == b"$-1\r\n"


def test_hello_auth_authenticates_and_switches_protocol(accelerated: bool) -> None:
    client = Client(accelerated, password="s3cret")
    reply = client.call("HELLO", 3, "AUTH", "default", "s3cret", "SETNAME", "me")
    assert reply.startswith(b"%7\r\n")
    assert b"$5\r\nproto\r\n:3\r\n" in reply
    assert client.call("GET", "k") == b"_\r\n"
    assert client.call("CLIENT", "GETNAME") == b"$2\r\nme\r\n"
    assert client.call("HELLO", 2).startswith(b"*14\r\n")
    assert client.call("GET", "k") == b"$-1\r\n"


def test_quit_works_before_auth(accelerated: bool) -> None:
    client = Client(accelerated, password="pw")
    assert client.call("QUIT") == b"+OK\r\n"
    assert client.connection.state is ConnectionState.CLOSED


def test_client_ids_are_distinct_and_clients_are_counted(accelerated: bool) -> None:
    provider = RespProvider(accelerated=accelerated)
    registry = Registry()
    register(registry, provider)
    first, second = Connection(registry), Connection(registry)
    first.receive_data(cmd("CLIENT", "ID"))
    second.receive_data(cmd("CLIENT", "ID") + cmd("INFO", "clients"))
    assert first.data_to_send() == b":1\r\n"
    replies = second.data_to_send()
    assert replies.startswith(b":2\r\n")
    assert b"connected_clients:2\r\n" in replies
    first.close(CloseReason.PEER_CLOSED)
    second.receive_data(cmd("INFO", "clients"))
    assert b"connected_clients:1\r\n" in second.data_to_send()
