"""RESP server commands (COMMAND, CONFIG, INFO, TIME, DBSIZE, FLUSH*): exact reply bytes."""

from __future__ import annotations

import pytest
from _resp import Case, Client, bulk, run_case

CASES = [
    Case("command docs", [("COMMAND", "DOCS")], b"*0\r\n", b"%0\r\n"),
    Case(
        "command info",
        [("COMMAND", "INFO", "get", "nosuch")],
        b"*2\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*0\r\n*0\r\n*0\r\n*0\r\n$-1\r\n",
        b"*2\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n~0\r\n*0\r\n*0\r\n*0\r\n_\r\n",
    ),
    Case(
        "config get",
        [("CONFIG", "GET", "save"), ("CONFIG", "GET", "nothing")],
        b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n*0\r\n",
        b"%1\r\n$4\r\nsave\r\n$0\r\n\r\n%0\r\n",
    ),
    Case(
        "config get glob",
        [("CONFIG", "GET", "MAXMEMORY*", "appendonly")],
        b"*6\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n"
        b"$10\r\nappendonly\r\n$2\r\nno\r\n",
        b"%3\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n"
        b"$10\r\nappendonly\r\n$2\r\nno\r\n",
    ),
    Case(
        "config set of an unknown parameter",
        [("CONFIG", "SET", "nosuchparam", "1")],
        b"-ERR Unknown option or number of arguments for CONFIG SET - 'nosuchparam'\r\n",
    ),
    Case(
        "config set appendfsync: one of three, and a log to change",
        [("CONFIG", "SET", "appendfsync", "sometimes"), ("CONFIG", "SET", "appendfsync", "no")],
        b"-ERR CONFIG SET failed (possibly related to argument 'appendfsync') - argument(s) "
        b"must be one of the following: everysec, always, no\r\n"
        b"-ERR persistence is off: start wireproto serve with --dir DIR\r\n",
    ),
    Case(
        "info keyspace",
        [("INFO", "keyspace"), ("SET", "a", 1, "EX", 9), ("SET", "b", 2), ("INFO", "KEYSPACE")],
        b"$12\r\n# Keyspace\r\n\r\n+OK\r\n+OK\r\n"
        b"$44\r\n# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n\r\n",
        b"=16\r\ntxt:# Keyspace\r\n\r\n+OK\r\n+OK\r\n"
        b"=48\r\ntxt:# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n\r\n",
    ),
    Case("info unknown section", [("INFO", "nosuch")], b"$0\r\n\r\n", b"=4\r\ntxt:\r\n"),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_command_replies(case: Case, resp3: bool, accelerated: bool) -> None:
    expected = case.resp3 if resp3 and case.resp3 is not None else case.resp2
    assert run_case(case, accelerated, resp3) == expected


def test_info_default_sections(accelerated: bool) -> None:
    client = Client(accelerated)
    client.call("SET", "k", "v")
    reply = client.call("INFO")
    header, _, body = reply.partition(b"\r\n")
    assert int(header[1:]) == len(body) - 2
    sections = [line for line in body.split(b"\r\n") if line.startswith(b"#")]
    assert sections == [
        b"# Server",
        b"# Clients",
        b"# Memory",
        b"# Persistence",
        b"# Stats",
        b"# Keyspace",
    ]
    assert b"redis_version:7.2.4\r\n" in body
    assert b"db0:keys=1,expires=0,avg_ttl=0\r\n" in body
    assert b"\r\n\r\n# Clients\r\n" in body
    assert client.call("INFO", "server", "memory").count(b"# ") == 2


def test_command_count_and_list_agree(accelerated: bool) -> None:
    client = Client(accelerated)
    count = int(client.call("COMMAND", "COUNT")[1:-2])
    names = client.call("COMMAND", "LIST")
    assert names.startswith(b"*%d\r\n" % count)
    for name in (b"get", b"set", b"hello", b"client", b"command", b"scan"):
        assert bulk(name) in names
    everything = client.call("COMMAND")
    assert everything.startswith(b"*%d\r\n" % count)
    assert everything.count(b"*10\r\n") >= count


def test_time_reply_shape(accelerated: bool) -> None:
    reply = Client(accelerated).call("TIME")
    parts = reply.split(b"\r\n")
    assert parts[0] == b"*2"
    assert parts[2].isdigit()
    assert parts[4].isdigit()
    assert int(parts[4]) < 1_000_000
