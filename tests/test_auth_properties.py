"""Properties of the authentication parsers: the same result whole, bytewise, or cut anywhere."""

from __future__ import annotations

import struct

from _drive import bytewise, cut, replay
from hypothesis import given, settings
from hypothesis import strategies as st
from wireproto.providers import kvbin, memcache, resp
from wireproto.providers.memcache.auth import parse_plain, text_auth_step

from wireproto._auth import AuthSettings
from wireproto._connection import Connection, ConnectionSettings
from wireproto._registry import Registry

HEADER = struct.Struct(">BBHBBHIIQ")
AUTH = AuthSettings(b"s3cret")


def registry() -> Registry:
    result = Registry()
    resp.register(result)
    memcache.register(result)
    kvbin.register(result)
    return result


def run(chunks: list[bytes]) -> tuple[bytes, str | None]:
    connection = Connection(registry(), ConnectionSettings(auth=AUTH))
    replies = replay(connection, chunks, until_closed=True)
    reason = connection.close_reason.value if connection.close_reason else None
    return replies, reason


# -- memcached text ------------------------------------------------------------------------

tokens = st.sampled_from([b"default", b"s3cret", b"nope", b"", b"a b", b"x" * 20])
text_commands = st.one_of(
    st.sampled_from(
        [
            b"get k\r\n",
            b"flush_all\r\n",
            b"delete k\r\n",
            b"set k 0 0 14\r\ndefault s3cret\r\n",
            b"set k 0 0 12\r\ndefault nope\r\n",
            b"set k 0 0 1\r\nv\r\n",
            b"set k 0 0 -1\r\n",
            b"set k 0 0 16385\r\n",
            b"set k 0 0 3\r\nabcd\r\n",
            b"\r\n",
            b"mg k v\r\n",
            b"x\n",
        ]
    ),
    st.tuples(tokens, tokens).map(
        lambda pair: b"set k 0 0 %d\r\n%s %s\r\n" % (len(pair[0]) + len(pair[1]) + 1, *pair)
    ),
    st.binary(max_size=12).filter(lambda b: b"\n" in b),
)


@settings(max_examples=150, deadline=None)
@given(
    commands=st.lists(text_commands, max_size=8),
    points=st.lists(st.integers(min_value=0), max_size=6),
)
def test_text_auth_is_the_same_however_cut(commands: list[bytes], points: list[int]) -> None:
    data = b"get k\r\n" + b"".join(commands)  # the first line is memcached's
    whole = run([data])
    assert run(bytewise(data)) == whole
    assert run(cut(data, points)) == whole


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=64) | text_commands, start=st.integers(0, 8))
def test_text_auth_step_decides_on_a_prefix_as_on_the_whole(data: bytes, start: int) -> None:
    data = b"\n" * start + data
    start = min(start, len(data))
    full = text_auth_step(data, start)
    for end in range(start, len(data)):
        step = text_auth_step(data[:end], start)
        if step.used:
            assert step == full
        else:
            assert step.need > end - start  # it waits for bytes it has not seen


# -- memcached binary SASL -----------------------------------------------------------------


def request(opcode: int, key: bytes = b"", value: bytes = b"", opaque: int = 0) -> bytes:
    return HEADER.pack(0x80, opcode, len(key), 0, 0, 0, len(key) + len(value), opaque, 0) + (
        key + value
    )


plain = st.tuples(
    st.sampled_from([b"", b"default", b"x"]),
    st.sampled_from([b"default", b"other", b""]),
    st.sampled_from([b"s3cret", b"nope", b"", b"s3cret\0"]),
).map(b"\0".join)
binary_requests = st.one_of(
    st.builds(request, st.just(0x20), st.just(b""), st.just(b""), st.integers(0, 9)),
    st.builds(
        request,
        st.sampled_from([0x21, 0x22]),
        st.sampled_from([b"PLAIN", b"CRAM-MD5", b"P" * 33]),
        plain | st.just(b""),
        st.integers(0, 9),
    ),
    st.builds(request, st.sampled_from([0x00, 0x0B, 0x0A]), st.just(b"k"), st.just(b"")),
    st.builds(request, st.just(0x0B)),
)


@settings(max_examples=150, deadline=None)
@given(
    requests=st.lists(binary_requests, min_size=1, max_size=8),
    points=st.lists(st.integers(min_value=0), max_size=6),
)
def test_binary_sasl_is_the_same_however_cut(requests: list[bytes], points: list[int]) -> None:
    data = b"".join(requests)
    whole = run([data])
    assert run(bytewise(data)) == whole
    assert run(cut(data, points)) == whole


@given(
    authzid=st.binary().filter(lambda b: b"\0" not in b),
    authcid=st.binary().filter(lambda b: b"\0" not in b),
    password=st.binary().filter(lambda b: b"\0" not in b),
)
def test_parse_plain_reads_what_a_client_writes(
    authzid: bytes, authcid: bytes, password: bytes
) -> None:
    parsed = parse_plain(authzid + b"\0" + authcid + b"\0" + password)
    if authzid in (b"", authcid):
        assert parsed == (authcid, password)
    else:
        assert parsed is None
    assert parse_plain(authcid + b"\0" + password) is None
