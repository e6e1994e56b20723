"""RESP server commands (COMMAND, CONFIG, INFO, TIME, DBSIZE, FLUSH*): exact reply bytes."""

from __future__ import annotations

import pytest
from _resp import Case, Client, bulk, run_case

CASES = [
    Case(
        "command docs",
        [("COMMAND", "DOCS", "get", "nosuch")],
        b"*2\r\n$3\r\nget\r\n*2\r\n$5\r\ngroup\r\n$6\r\nstring\r\n",
        b"%1\r\n$3\r\nget\r\n%1\r\n$5\r\ngroup\r\n$6\r\nstring\r\n",
    ),
    Case(  # redis-server 7.0's bytes
        "command info",
        [("COMMAND", "INFO", "get", "nosuch")],
        b"*2\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n"
        b"$-1\r\n",
        b"*2\r\n"
        b"*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n~3\r\n+@read\r\n+@string\r\n+@fast\r\n~0\r\n~1\r\n%3\r\n$5\r\nflags\r\n~2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n%2\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n%1\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n%2\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n%3\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n~0\r\n"
        b"_\r\n",
    ),
    Case(
        "command getkeys",
        [
            ("COMMAND", "GETKEYS", "mset", "a", "1", "b", "2"),
            ("COMMAND", "GETKEYSANDFLAGS", "del", "a", "b"),
            ("COMMAND", "GETKEYS", "ping", "x"),
            ("COMMAND", "GETKEYS", "get", "a", "b"),
            ("COMMAND", "GETKEYS", "nosuch", "a"),
            ("COMMAND", "GETKEYS", "ping"),
        ],
        b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"
        b"*2\r\n*2\r\n$1\r\na\r\n*2\r\n+RM\r\n+delete\r\n*2\r\n$1\r\nb\r\n*2\r\n+RM\r\n+delete\r\n"
        b"-ERR The command has no key arguments\r\n"
        b"-ERR Invalid number of arguments specified for command\r\n"
        b"-ERR Invalid command specified\r\n"
        b"-ERR wrong number of arguments for 'command|getkeys' command\r\n",
        b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"
        b"*2\r\n*2\r\n$1\r\na\r\n~2\r\n+RM\r\n+delete\r\n*2\r\n$1\r\nb\r\n~2\r\n+RM\r\n+delete\r\n"
        b"-ERR The command has no key arguments\r\n"
        b"-ERR Invalid number of arguments specified for command\r\n"
        b"-ERR Invalid command specified\r\n"
        b"-ERR wrong number of arguments for 'command|getkeys' command\r\n",
    ),
    Case(
        "command list filterby",
        [
            ("COMMAND", "LIST", "FILTERBY", "pattern", "config|[gs]et"),
            ("COMMAND", "LIST", "FILTERBY", "module", "x"),
            ("COMMAND", "LIST", "FILTERBY", "aclcat", "transaction"),
            ("COMMAND", "LIST", "FILTERBY", "nosuch", "x"),
        ],
        b"*2\r\n$10\r\nconfig|get\r\n$10\r\nconfig|set\r\n*0\r\n"
        b"*5\r\n$5\r\nmulti\r\n$4\r\nexec\r\n$7\r\ndiscard\r\n$5\r\nwatch\r\n$7\r\nunwatch\r\n"
        b"-ERR syntax error\r\n",
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
        b"*10\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n"
        b"$17\r\nmaxmemory-samples\r\n$1\r\n5\r\n"
        b"$27\r\nmaxmemory-eviction-tenacity\r\n$2\r\n10\r\n"
        b"$10\r\nappendonly\r\n$2\r\nno\r\n",
        b"%5\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n"
        b"$17\r\nmaxmemory-samples\r\n$1\r\n5\r\n"
        b"$27\r\nmaxmemory-eviction-tenacity\r\n$2\r\n10\r\n"
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
        b"argument must be a memory value\r\n"
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
        b"argument must be a memory value\r\n"
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
    assert sections == [
        b"# Server",
        b"# Clients",
        b"# Memory",
        b"# Persistence",
        b"# Stats",
        b"# Replication",
        b"# CPU",
        b"# Modules",
        b"# Errorstats",
        b"# Cluster",
        b"# Keyspace",
    ]
    assert b"redis_version:7.0.15\r\n" in body
    assert b"db0:keys=1,expires=0,avg_ttl=0\r\n" in body
    assert b"\r\n\r\n# Clients\r\n" in body
    assert client.call("INFO", "server", "memory").count(b"# ") == 2


def test_command_count_and_list_agree(accelerated: bool) -> None:
    client = Client(accelerated)
    count = int(client.call("COMMAND", "COUNT")[1:-2])
    names = client.call("COMMAND", "LIST")  # subcommands too, as Redis 7.0 lists them
    subcommands = names.count(b"|")
    assert subcommands > 10
    assert names.startswith(b"*%d\r\n" % (count + subcommands))
    for name in (b"get", b"set", b"hello", b"client", b"command", b"scan", b"config|get"):
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


REDIS_ALL = [
    b"# Server",
    b"# Clients",
    b"# Memory",
    b"# Persistence",
    b"# Stats",
    b"# Replication",
    b"# CPU",
    b"# Modules",
    b"# Commandstats",
    b"# Errorstats",
    b"# Latencystats",
    b"# Cluster",
    b"# Keyspace",
]
"""redis-server 7.0's ``INFO all`` titles, in order."""


@pytest.mark.parametrize("word", ["all", "everything", "ALL"])
def test_info_all_and_everything_add_the_statistics_sections(accelerated: bool, word: str) -> None:
    body = Client(accelerated).call("INFO", word)
    assert [line for line in body.split(b"\r\n") if line.startswith(b"#")] == REDIS_ALL


def test_info_sections_carry_redis_fields(accelerated: bool) -> None:
    client = Client(accelerated)
    assert client.call("INFO", "cluster") == verbatim_or_bulk(b"# Cluster\r\ncluster_enabled:0\r\n")
    cpu = client.call("INFO", "cpu")
    for field in (b"used_cpu_sys:", b"used_cpu_user:", b"used_cpu_user_children:"):
        assert b"\r\n" + field in cpu
    memory = client.call("INFO", "memory")
    assert b"\r\nmem_allocator:pymalloc\r\n" in memory
    assert b"\r\nused_memory_peak:" in memory
    both = client.call("INFO", "replication", "persistence")
    assert b"# Persistence\r\nloading:0\r\n" in both
    assert b"# Replication\r\nrole:master\r\nconnected_slaves:0\r\n" in both
    assert both.index(b"# Persistence") < both.index(b"# Replication")  # INFO's order
    client.call("SUBSCRIBE", "a")
    stats = Client(accelerated).call("INFO", "stats")
    assert b"\r\npubsub_channels:0\r\n" in stats


def verbatim_or_bulk(text: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(text), text)


@pytest.mark.parametrize(("value", "hz"), [(b"0", 1), (b"1", 1), (b"100", 100), (b"501", 500)])
def test_config_hz_sets_the_active_expiry_rate(accelerated: bool, value: bytes, hz: int) -> None:
    """CONFIG SET hz changes how often the server runs the provider's active-expiry round
    (``maintenance_interval``), clamped to 1..500 as Redis's ``updateHZ``; INFO reports it."""
    client = Client(accelerated)
    assert client.provider.maintenance_interval == 0.1  # hz 10
    assert client.call("CONFIG", "SET", "hz", value) == b"+OK\r\n"
    assert client.provider.maintenance_interval == 1 / hz
    assert b"\r\nhz:%d\r\nconfigured_hz:%d\r\n" % (hz, hz) in client.call("INFO", "server")


@pytest.mark.parametrize(
    ("flag", "active"), [(b"0", False), (b"x", False), (b"1", True), (b"2", True), (b" -3z", True)]
)
def test_debug_set_active_expire_reads_its_flag_as_atoi(
    accelerated: bool, flag: bytes, active: bool
) -> None:
    """Redis reads the flag with ``atoi``: no number is 0 (off), any other number on."""
    client = Client(accelerated)
    client.provider.active_expire = not active
    assert client.call("DEBUG", "SET-ACTIVE-EXPIRE", flag) == b"+OK\r\n"
    assert client.provider.active_expire is active


def test_debug_object_describes_the_value(accelerated: bool) -> None:
    client = Client(accelerated)
    client.call("SET", "k", "v")
    client.call("SET", "n", "7")
    line = client.call("DEBUG", "OBJECT", "k")
    assert line.startswith(b"+Value at:0x")
    assert b" refcount:1 encoding:embstr serializedlength:2 lru:" in line
    assert b" refcount:2147483647 encoding:int serializedlength:2 " in client.call(
        "DEBUG", "OBJECT", "n"
    )
    assert client.call("DEBUG", "OBJECT", "nokey") == b"-ERR no such key\r\n"
