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
        "config set an immutable parameter",
        [("CONFIG", "SET", "databases", "3")],
        b"-ERR CONFIG SET failed (possibly related to argument 'databases') - "
        b"can't set immutable config\r\n",
    ),
    Case(
        "config set is all or nothing",
        [
            ("CONFIG", "SET", "hash-max-listpack-entries", "7", "zset-max-listpack-value", "x"),
            ("CONFIG", "GET", "hash-max-listpack-entries"),
            ("CONFIG", "SET", "hash-max-ziplist-entries", "7", "Databases", "1"),
            ("CONFIG", "SET", "hash-max-ziplist-entries", "7", "HASH-max-ziplist-entries", "8"),
            ("CONFIG", "SET", "hash-max-ziplist-entries", "7", "zset-max-listpack-value", "9"),
            ("CONFIG", "GET", "hash-max-listpack-entries"),
            ("CONFIG", "SET", "nosuch", "1"),
            ("CONFIG", "SET", "hz"),
            ("CONFIG", "REWRITE"),
            ("CONFIG", "RESETSTAT"),
        ],
        b"-ERR CONFIG SET failed (possibly related to argument 'zset-max-listpack-value') - "
        b"argument couldn't be parsed into an integer\r\n"
        b"*2\r\n$25\r\nhash-max-listpack-entries\r\n$3\r\n512\r\n"
        b"-ERR CONFIG SET failed (possibly related to argument 'Databases') - "
        b"can't set immutable config\r\n"
        b"-ERR CONFIG SET failed (possibly related to argument 'HASH-max-ziplist-entries') - "
        b"duplicate parameter\r\n"
        b"+OK\r\n"
        b"*2\r\n$25\r\nhash-max-listpack-entries\r\n$1\r\n7\r\n"
        b"-ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'\r\n"
        b"-ERR wrong number of arguments for 'config|set' command\r\n"
        b"-ERR The server is running without a config file\r\n"
        b"+OK\r\n",
        b"-ERR CONFIG SET failed (possibly related to argument 'zset-max-listpack-value') - "
        b"argument couldn't be parsed into an integer\r\n"
        b"%1\r\n$25\r\nhash-max-listpack-entries\r\n$3\r\n512\r\n"
        b"-ERR CONFIG SET failed (possibly related to argument 'Databases') - "
        b"can't set immutable config\r\n"
        b"-ERR CONFIG SET failed (possibly related to argument 'HASH-max-ziplist-entries') - "
        b"duplicate parameter\r\n"
        b"+OK\r\n"
        b"%1\r\n$25\r\nhash-max-listpack-entries\r\n$1\r\n7\r\n"
        b"-ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'\r\n"
        b"-ERR wrong number of arguments for 'config|set' command\r\n"
        b"-ERR The server is running without a config file\r\n"
        b"+OK\r\n",
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
    assert sections == [b"# Server", b"# Clients", b"# Memory", b"# Stats", b"# Keyspace"]
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
