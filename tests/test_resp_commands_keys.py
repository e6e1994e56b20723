"""RESP keyspace commands (DEL, EXISTS, TYPE, KEYS, SCAN, RENAME, expiry): exact reply bytes."""

from __future__ import annotations

import pytest
from _resp import NIL2, NIL3, NOT_INT, SYNTAX, Case, Client, run_case

CASES = [
    Case(
        "expire nx and xx",
        [("EXPIRE", "k", 1, "NX", "XX")],
        b"-ERR NX and XX, GT or LT options at the same time are not compatible\r\n",
    ),
    Case(
        "expire gt and lt",
        [("EXPIRE", "k", 1, "GT", "LT")],
        b"-ERR GT and LT options at the same time are not compatible\r\n",
    ),
    Case("expire unknown option", [("EXPIRE", "k", 1, "FOO")], b"-ERR Unsupported option FOO\r\n"),
    Case("expire not int", [("EXPIRE", "k", "ten")], NOT_INT),
    Case(
        "expire overflow",
        [("EXPIRE", "k", 2**63 // 1000 + 1)],
        b"-ERR invalid expire time in 'expire' command\r\n",
    ),
    Case(
        "pexpire overflow",
        [("PEXPIRE", "k", 2**63 - 1)],
        b"-ERR invalid expire time in 'pexpire' command\r\n",
    ),
    Case("scan count 0", [("SCAN", 0, "COUNT", 0)], SYNTAX),
    Case("scan count not int", [("SCAN", 0, "COUNT", "x")], NOT_INT),
    Case("scan bad cursor", [("SCAN", "x")], b"-ERR invalid cursor\r\n"),
    Case("scan negative cursor wraps", [("SCAN", -1)], b"*2\r\n$1\r\n0\r\n*0\r\n"),
    Case("scan cursor with a space", [("SCAN", " 1")], b"-ERR invalid cursor\r\n"),
    Case("scan option without value", [("SCAN", 0, "MATCH")], SYNTAX),
    Case("scan unknown option", [("SCAN", 0, "FOO", 1)], SYNTAX),
    Case(
        "randomkey",
        [("RANDOMKEY",), ("SET", "k", 1), ("RANDOMKEY",)],
        NIL2 + b"+OK\r\n$1\r\nk\r\n",
        NIL3 + b"+OK\r\n$1\r\nk\r\n",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_command_replies(case: Case, resp3: bool, accelerated: bool) -> None:
    expected = case.resp3 if resp3 and case.resp3 is not None else case.resp2
    assert run_case(case, accelerated, resp3) == expected


def test_ttl_counts_down_with_the_clock(accelerated: bool) -> None:
    client = Client(accelerated)
    client.call("SET", "k", "v", "PX", 2600)
    assert client.call("TTL", "k") == b":3\r\n"
    client.clock.now += 1000
    assert client.call("PTTL", "k") == b":1600\r\n"
    assert client.call("TTL", "k") == b":2\r\n"
    client.clock.now += 1600
    assert client.call("GET", "k") == b"$-1\r\n"
    assert client.call("TTL", "k") == b":-2\r\n"
