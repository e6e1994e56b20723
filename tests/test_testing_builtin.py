"""Every built-in format passes the fuzz kit's checks, seeded with its corpus."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import construct as c
import pytest
from _drive import resp_command
from wireproto.providers import kvbin, memcache, resp
from wireproto.providers.kvbin import MAGIC, Opcode
from wireproto.providers.resp import RespProvider

from wireproto import Registry
from wireproto.testing import FuzzTarget, check_wire_format
from wireproto.testing._target import load_corpus

SPECS = Path(__file__).resolve().parent.parent / "specs"

KVBIN_REQUEST = c.Struct(
    "magic" / c.Const(MAGIC),
    "opcode" / c.Enum(c.Int8ub, Opcode),
    "request_id" / c.Int32ub,
    "body"
    / c.Prefixed(
        c.Int32ub, c.Struct("key" / c.Prefixed(c.Int16ub, c.GreedyBytes), "value" / c.GreedyBytes)
    ),
)
"""A kvbin request declared self-consistently (the body length is a Prefixed), so that
generated values are valid frames; it builds the bytes ``providers.kvbin`` parses."""


def _corpus(name: str, *extra: bytes) -> tuple[bytes, ...]:
    directory = SPECS / name / "corpus"
    found = load_corpus(directory) if directory.is_dir() else ()
    return found + extra


def resp_grow(size: int) -> bytes:
    """An ``ECHO`` of about ``size`` bytes in total."""
    head = b"*2\r\n$4\r\nECHO\r\n"
    body = max(0, size - len(head) - 5 - len(str(size)))
    return head + b"$%d\r\n" % body + b"a" * body + b"\r\n"


RESP_CORPUS = (
    resp_command(b"PING"),
    resp_command(b"SET", b"k", b"v") + resp_command(b"GET", b"k"),
    b"PING\r\n",
    resp_command(b"ECHO", b"hello") + resp_command(b"DEL", b"k"),
    resp_command(b"INCR", b"n") * 2,
    resp_command(b"RPUSH", b"l", b"a", b"b") + resp_command(b"LRANGE", b"l", b"0", b"-1"),
)

MEMCACHE_CORPUS = (
    b"set k 0 0 1\r\nv\r\nget k\r\n",
    b"add n 5 0 2\r\n10\r\nincr n 3\r\ngets n\r\n",
    b"delete k\r\nget a b c\r\n",
    b"mg k v\r\nms k 2\r\nhi\r\nmg k v f\r\n",
    # binary: GET of a missing key, then NOOP
    bytes.fromhex("80 00 0001 00 00 0000 00000001 00000000 0000000000000000") + b"k"
    + bytes.fromhex("80 0a 0000 00 00 0000 00000000 00000000 0000000000000000"),
)  # fmt: skip


def _resp(accelerated: bool) -> Callable[[Registry], object]:
    def register(registry: Registry) -> object:
        provider = RespProvider(accelerated=accelerated, clock=lambda: 1_700_000_000_000)
        return resp.register(registry, provider)

    return register


TARGETS = {
    "kvbin": FuzzTarget.from_plugin(
        kvbin.register, "kvbin", message=KVBIN_REQUEST, corpus=_corpus("kvbin")
    ),
    "resp-pure": FuzzTarget.from_plugin(
        _resp(accelerated=False), "resp", corpus=_corpus("resp", *RESP_CORPUS), grow=resp_grow
    ),
    "memcache-text": FuzzTarget.from_plugin(
        memcache.register, "memcache-text", corpus=_corpus("memcache-text", *MEMCACHE_CORPUS[:4])
    ),
    "memcache-binary": FuzzTarget.from_plugin(
        memcache.register,
        "memcache-binary",
        corpus=_corpus("memcache-binary", *MEMCACHE_CORPUS[4:]),
    ),
}
if resp.HIREDIS_AVAILABLE:
    TARGETS["resp-hiredis"] = FuzzTarget.from_plugin(
        _resp(accelerated=True), "resp", corpus=_corpus("resp", *RESP_CORPUS), grow=resp_grow
    )


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_builtin_format_conforms(name: str) -> None:
    target = TARGETS[name]
    report = check_wire_format(target, max_examples=150, seed=7)
    assert report.examples == 150
    assert report.distinct_outcomes > 1  # more than one kind of outcome was exercised
    if target.message is not None or target.grow is not None:
        assert len(report.work.drip) == 2, report.work.describe()


def test_kvbin_declaration_builds_what_kvbin_parses() -> None:
    value = {"opcode": "SET", "request_id": 7, "body": {"key": b"k", "value": b"v"}}
    assert KVBIN_REQUEST.build(value) == kvbin.build_request(Opcode.SET, b"k", b"v", 7)


def test_kvbin_limits_are_checked_at_max_and_max_plus_one() -> None:
    report = check_wire_format(TARGETS["kvbin"], max_examples=1, seed=7)
    assert report.work.limits_checked
