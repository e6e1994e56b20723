"""RESP transactions (MULTI, EXEC, DISCARD, WATCH, UNWATCH): exact reply bytes."""

from __future__ import annotations

import pytest
from _drive import Clock
from _drive import resp_command as cmd
from _resp import Arg, Case, run_case
from wireproto.providers.resp import RespProvider, register

from wireproto import CloseReason, Connection, Registry

CASES = [
    Case(
        "multi exec",
        [("MULTI",), ("SET", "n", 1), ("INCR", "n"), ("GET", "n"), ("EXEC",)],
        b"+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n+OK\r\n:2\r\n$1\r\n2\r\n",
    ),
    Case(
        "a refused command aborts the transaction",
        [("MULTI",), ("SET", "a", 1), ("GET",), ("NOPE",), ("EXEC",), ("EXISTS", "a")],
        b"+OK\r\n+QUEUED\r\n-ERR wrong number of arguments for 'get' command\r\n"
        b"-ERR unknown command 'NOPE', with args beginning with: \r\n"
        b"-EXECABORT Transaction discarded because of previous errors.\r\n:0\r\n",
    ),
    Case(
        "discard",
        [("MULTI",), ("SET", "a", 1), ("DISCARD",), ("EXISTS", "a"), ("DISCARD",)],
        b"+OK\r\n+QUEUED\r\n+OK\r\n:0\r\n-ERR DISCARD without MULTI\r\n",
    ),
    Case("exec without multi", [("EXEC",)], b"-ERR EXEC without MULTI\r\n"),
    Case(
        "nested multi",
        [("MULTI",), ("MULTI",), ("PING",), ("EXEC",)],
        b"+OK\r\n-ERR MULTI calls can not be nested\r\n+QUEUED\r\n*1\r\n+PONG\r\n",
    ),
    Case(
        "watch inside multi",
        [("MULTI",), ("WATCH", "k"), ("EXEC",)],
        b"+OK\r\n-ERR WATCH inside MULTI is not allowed\r\n*0\r\n",
    ),
    Case(
        "watch then own write fails exec",
        [("WATCH", "k"), ("SET", "k", 1), ("MULTI",), ("GET", "k"), ("EXEC",), ("EXEC",)],
        b"+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*-1\r\n-ERR EXEC without MULTI\r\n",
        b"+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n_\r\n-ERR EXEC without MULTI\r\n",
    ),
    Case(
        "unwatch",
        [("WATCH", "k"), ("SET", "k", 1), ("UNWATCH",), ("MULTI",), ("GET", "k"), ("EXEC",)],
        b"+OK\r\n+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n$1\r\n1\r\n",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_command_replies(case: Case, resp3: bool, accelerated: bool) -> None:
    expected = case.resp3 if resp3 and case.resp3 is not None else case.resp2
    assert run_case(case, accelerated, resp3) == expected


def test_watch_sees_writes_from_other_connections(accelerated: bool) -> None:
    provider = RespProvider(accelerated=accelerated, clock=Clock())
    registry = Registry()
    register(registry, provider)
    watcher, writer = Connection(registry), Connection(registry)

    def call(connection: Connection, *args: Arg) -> bytes:
        connection.receive_data(cmd(*args))
        return connection.data_to_send()

    transaction = [("MULTI",), ("SET", "k", "mine"), ("EXEC",)]
    # Untouched: EXEC runs.
    assert call(watcher, "WATCH", "k", "j") == b"+OK\r\n"
    assert b"".join(call(watcher, *c) for c in transaction).endswith(b"*1\r\n+OK\r\n")
    # Created and deleted again by another client: still a change.
    call(writer, "DEL", "k")
    assert call(watcher, "WATCH", "k") == b"+OK\r\n"
    assert call(writer, "SET", "k", "theirs") + call(writer, "DEL", "k") == b"+OK\r\n:1\r\n"
    assert b"".join(call(watcher, *c) for c in transaction).endswith(b"*-1\r\n")
    # An expiry change counts; a read does not.
    call(writer, "SET", "k", "v")
    call(watcher, "WATCH", "k")
    call(writer, "GET", "k")
    assert b"".join(call(watcher, *c) for c in transaction).endswith(b"*1\r\n+OK\r\n")
    call(watcher, "WATCH", "k")
    call(writer, "EXPIRE", "k", 100)
    assert b"".join(call(watcher, *c) for c in transaction).endswith(b"*-1\r\n")
    # Expiring counts too.
    call(writer, "SET", "k", "v", "PX", 10)
    call(watcher, "WATCH", "k")
    provider.store.clock.now += 10  # type: ignore[attr-defined]
    assert b"".join(call(watcher, *c) for c in transaction).endswith(b"*-1\r\n")
    # A closed connection releases its watches.
    call(watcher, "WATCH", "k")
    watcher.close(CloseReason.PEER_CLOSED)
    assert not provider.store._watched
