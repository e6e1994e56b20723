"""The construct compiler agrees with construct, value for value and error for error."""

from __future__ import annotations

import enum
import math
import types
from typing import Any

import construct as c
import pytest
import wireproto.providers.kvbin
import wireproto.providers.memcache.binary_messages
from hypothesis import given, settings
from hypothesis import strategies as st

from wireproto._construct_compile import compile_construct
from wireproto._errors import ProtocolError
from wireproto.framing import LengthFieldFramer
from wireproto.testing.strategies import from_construct


class Kind(enum.IntEnum):
    PING = 1
    ECHO = 2


WIDE = c.Struct(
    "magic" / c.Const(b"WP"),
    "kind" / c.Enum(c.Int8ub, Kind),
    "flag" / c.Flag,
    c.Padding(2),
    "small" / c.Int16sl,
    "big" / c.Int64ub,
    "i24" / c.Int24ub,
    "i24l" / c.Int24sl,
    "real" / c.Float32b,
    "fixed" / c.Bytes(3),
    "inner" / c.Struct("a" / c.Int8ub, "b" / c.Const(7, c.Int16ub), "c" / c.Int8sb),
    "n" / c.Int8ub,
    "data" / c.Bytes(c.this.n),
    "items"
    / c.PrefixedArray(
        c.Int8ub, c.Struct("x" / c.Int16ub, "y" / c.Prefixed(c.Int8ub, c.GreedyBytes))
    ),
    "nums" / c.PrefixedArray(c.Int16ub, c.Int32sb),
    "inclusive" / c.Prefixed(c.Int16ub, c.GreedyBytes, includelength=True),
    "tail" / c.GreedyBytes,
)
"""Every construct the compiler translates, in one declaration."""

BUILDABLE = c.Struct(
    "magic" / c.Const(0xA5, c.Int8ub),
    "kind" / c.Enum(c.Int16ul, Kind),
    "pad" / c.Padding(1),
    "inner" / c.Struct("a" / c.Int32ul, "b" / c.Flag),
    "key" / c.Prefixed(c.Int8ub, c.GreedyBytes),
    "body" / c.Prefixed(c.Int24ub, c.Struct("x" / c.Int8ub, "rest" / c.GreedyBytes)),
    "list" / c.PrefixedArray(c.Int8ub, c.Prefixed(c.Int8ub, c.GreedyBytes)),
    c.Terminated,
)
"""A declaration whose build is compiled too (no computed lengths)."""

TERMINATED = c.Struct("a" / c.Int16ub, "b" / c.Bytes(2), c.Terminated)

COMPUTED = c.Struct(
    "n" / c.Rebuild(c.Int8ub, c.len_(c.this.data)),
    "data" / c.Bytes(c.this.n),
    "header" / c.Struct("m" / c.Int8ub, "kind" / c.Const(b"K")),
    "more" / c.Bytes(c.this.header.m % 7),
    "rest" / c.Bytes(c.this.header.m // 16 + 1),
)
"""Lengths computed from the context, when parsing and when building."""


FRAMED_LE = c.Struct(
    "magic" / c.Const(0xA5, c.Int8ub),
    "kind" / c.Enum(c.Int8ub, Kind),
    c.Padding(1),
    "urgent" / c.Flag,
    "body"
    / c.Prefixed(
        c.Int16sl,
        c.Struct("n" / c.Int8ub, "data" / c.Bytes(c.this.n), "rest" / c.GreedyBytes),
    ),
    c.Terminated,
)
"""A framed message with an Enum, Padding and a signed little-endian length in its header."""


def _repo_declarations() -> dict[str, c.Construct[Any, Any]]:
    found: dict[str, c.Construct[Any, Any]] = {}
    module: types.ModuleType
    for module in (wireproto.providers.kvbin, wireproto.providers.memcache.binary_messages):
        for name, value in vars(module).items():
            if isinstance(value, c.Construct) and not name.startswith("_"):
                found[f"{module.__name__}.{name}"] = value
    return found


REPO = _repo_declarations()
ALL = {
    "WIDE": WIDE,
    "BUILDABLE": BUILDABLE,
    "TERMINATED": TERMINATED,
    "COMPUTED": COMPUTED,
    "FRAMED_LE": FRAMED_LE,
    **REPO,
}
DECLARATIONS = ALL


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal types (construct's containers, NaN equal to NaN)."""
    if isinstance(a, dict):
        keys = [k for k in a if not str(k).startswith("_")]
        other = [k for k in b if not str(k).startswith("_")]
        return type(a) is type(b) and keys == other and all(_same(a[k], b[k]) for k in keys)
    if isinstance(a, list):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return type(a) is type(b) and a == b


def _outcome(function: Any, data: Any) -> tuple[str, Any]:
    try:
        return "value", function(data)
    except Exception as exc:  # the class is what is compared
        return "error", type(exc)


def _agree(con: c.Construct[Any, Any], data: bytes) -> None:
    compiled = compile_construct(con)
    expected, got = _outcome(con.parse, data), _outcome(compiled.parse, data)
    assert expected[0] == got[0], (data, expected, got)
    if expected[0] == "value":
        assert _same(expected[1], got[1]), (data, expected, got)
    else:
        assert expected[1] is got[1], (data, expected, got)


def test_the_compiler_covers_the_repo_declarations() -> None:
    for name, con in ALL.items():
        compiled = compile_construct(con)
        assert compiled.parse_compiled, name
        assert compiled.build_compiled, name


def test_unsupported_declarations_fall_back_to_construct() -> None:
    lam = c.Struct("n" / c.Int8ub, "data" / c.Bytes(lambda ctx: ctx.n))
    compiled = compile_construct(lam)
    assert not compiled.parse_compiled
    assert compiled.parse(b"\x02ab") == lam.parse(b"\x02ab")
    with pytest.raises(c.StreamError):
        compiled.parse(b"\x02a")


def test_lengths_read_outside_the_struct_fall_back_to_construct() -> None:
    outer = c.Struct("n" / c.Int8ub, "inner" / c.Struct("data" / c.Bytes(c.this._.n)))
    compiled = compile_construct(outer)
    assert not compiled.parse_compiled
    assert compiled.parse(b"\x01a") == outer.parse(b"\x01a")


def test_compiled_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="compiled"):
        compile_construct(TERMINATED.compile())


def test_compilation_is_cached_per_declaration() -> None:
    assert compile_construct(WIDE) is compile_construct(WIDE)


def test_a_memoryview_parses_into_views_of_it() -> None:
    con = wireproto.providers.kvbin.REQUEST
    data = wireproto.providers.kvbin.build_request(
        wireproto.providers.kvbin.Opcode.SET, b"key", b"x" * 100
    )
    parsed = compile_construct(con).parse(memoryview(data))
    assert isinstance(parsed.body.value, memoryview)
    assert parsed.body.value.obj is data  # a slice, not a copy
    assert parsed.body.value == b"x" * 100


@pytest.mark.parametrize("name", sorted(DECLARATIONS))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_compiled_and_construct_agree(name: str, data: st.DataObject) -> None:
    con = DECLARATIONS[name]
    compiled = compile_construct(con)
    built = data.draw(from_construct(con))
    assert compiled.build(built.value) == built.data
    _agree(con, built.data)
    for cut in range(len(built.data)):
        _agree(con, built.data[:cut])
    corrupt = bytearray(built.data)
    if corrupt:
        changes = data.draw(
            st.lists(st.tuples(st.integers(0, len(corrupt) - 1), st.integers(0, 255)), max_size=4)
        )
        for index, byte in changes:
            corrupt[index] = byte
    extra = data.draw(st.binary(max_size=8))
    _agree(con, bytes(corrupt))
    _agree(con, bytes(corrupt) + extra)


@pytest.mark.parametrize("name", sorted(DECLARATIONS))
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_every_declaration_round_trips(name: str, data: st.DataObject) -> None:
    con = DECLARATIONS[name]
    compiled = compile_construct(con)
    built = data.draw(from_construct(con))
    encoded = compiled.build(built.value)
    assert compiled.build(compiled.parse(encoded)) == encoded
    assert _same(compiled.parse(encoded), con.parse(encoded))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_give_the_same_outcome(data: bytes) -> None:
    for con in ALL.values():
        _agree(con, data)


@settings(max_examples=100, deadline=None)
@given(
    opcode=st.integers(0, 255),
    key=st.binary(max_size=20),
    value=st.binary(max_size=40),
    extras=st.binary(max_size=12),
    opaque=st.integers(0, 2**32 - 1),
)
def test_memcache_binary_requests_agree(
    opcode: int, key: bytes, value: bytes, extras: bytes, opaque: int
) -> None:
    # The declaration whose lengths are arithmetic on the header: values from its encoder.
    con = wireproto.providers.memcache.binary_messages.REQUEST
    data = wireproto.providers.memcache.binary_messages.build_request(
        opcode, key, value, extras, opaque=opaque
    )
    compiled = compile_construct(con)
    parsed = compiled.parse(data)
    assert _same(parsed, con.parse(data))
    assert compiled.build(parsed) == con.build(parsed) == data
    for cut in range(len(data)):
        _agree(con, data[:cut])


# -- fields as a tuple, and framing fused with parsing ------------------------------------


def _flatten(con: c.Construct[Any, Any], value: Any) -> tuple[Any, ...]:
    """The message's fields as construct's Container holds them (see CompiledConstruct.fields)."""
    out: list[Any] = []

    def walk(con: c.Construct[Any, Any], value: Any) -> None:
        for sub in con.subcons:
            inner = sub
            while isinstance(inner, c.Renamed):
                inner = inner.subcon
            body = inner
            while isinstance(body, c.Prefixed):
                body = body.subcon
                while isinstance(body, c.Renamed):
                    body = body.subcon
            if not sub.name:
                continue
            if isinstance(body, c.Struct):
                walk(body, value[sub.name])
            elif not (isinstance(inner, c.Const | c.Rebuild) or sub.flagbuildnone):
                out.append(value[sub.name])

    while isinstance(con, c.Renamed):
        con = con.subcon
    walk(con, value)
    return tuple(out)


WITH_FIELDS = {k: v for k, v in DECLARATIONS.items() if compile_construct(v).fields is not None}


def test_fields_are_generated_for_the_flat_and_nested_declarations() -> None:
    assert compile_construct(wireproto.providers.kvbin.REQUEST).fields == (
        "opcode",
        "request_id",
        "key",
        "value",
    )
    assert compile_construct(wireproto.providers.kvbin.REPLY).fields == (
        "status",
        "request_id",
        "body",
    )
    assert {
        "WIDE",
        "BUILDABLE",
        "TERMINATED",
        "FRAMED_LE",
        "wireproto.providers.kvbin.REQUEST",
    } <= set(WITH_FIELDS)
    assert {
        "FRAMED_LE",
        "wireproto.providers.kvbin.REQUEST",
        "wireproto.providers.kvbin.REPLY",
    } <= set(FRAMED)
    # A length computed from a nested field (this.header.m): no positional build.
    assert compile_construct(COMPUTED).fields is None
    assert compile_construct(COMPUTED).build_compiled
    # Two fields of one name (nested) cannot be told apart: no fields.
    clash = c.Struct("a" / c.Int8ub, "inner" / c.Struct("a" / c.Int8ub))
    assert compile_construct(clash).fields is None
    assert compile_construct(clash).parse_fields is None


@pytest.mark.parametrize("name", sorted(WITH_FIELDS))
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_fields_agree_with_construct(name: str, data: st.DataObject) -> None:
    con = WITH_FIELDS[name]
    compiled = compile_construct(con)
    assert compiled.parse_fields is not None and compiled.build_fields is not None
    built = data.draw(from_construct(con))
    fields = compiled.parse_fields(built.data)
    assert _same(fields, _flatten(con, con.parse(built.data)))
    assert compiled.build_fields(*fields) == built.data
    for cut in range(len(built.data)):
        expected = _outcome(lambda d: _flatten(con, con.parse(d)), built.data[:cut])
        got = _outcome(compiled.parse_fields, built.data[:cut])
        assert expected[0] == got[0] and (got[0] == "value" or expected[1] is got[1])


def _with_field(con: c.Construct[Any, Any], value: Any, index: int, new: Any) -> Any:
    """``value`` (a parsed Container) with its ``index``-th field (see ``_flatten``) set."""
    at = 0

    def walk(con: c.Construct[Any, Any], value: Any) -> None:
        nonlocal at
        for sub in con.subcons:
            inner = sub
            while isinstance(inner, c.Renamed):
                inner = inner.subcon
            body = inner
            while isinstance(body, c.Prefixed):
                body = body.subcon
                while isinstance(body, c.Renamed):
                    body = body.subcon
            if not sub.name:
                continue
            if isinstance(body, c.Struct):
                walk(body, value[sub.name])
            elif not (isinstance(inner, c.Const | c.Rebuild) or sub.flagbuildnone):
                if at == index:
                    value[sub.name] = new
                at += 1

    while isinstance(con, c.Renamed):
        con = con.subcon
    walk(con, value)
    return value


@pytest.mark.parametrize("name", sorted(WITH_FIELDS))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_fields_build_takes_what_construct_takes(name: str, data: st.DataObject) -> None:
    # Each bytes field given as a bytearray, a memoryview or something else: the
    # generated build_fields gives construct's bytes or raises construct's error class
    # (a memoryview, which construct refuses, builds like the bytes it views).
    con = WITH_FIELDS[name]
    compiled = compile_construct(con)
    assert compiled.parse_fields is not None and compiled.build_fields is not None
    built = data.draw(from_construct(con))
    fields = compiled.parse_fields(built.data)
    for index, field in enumerate(fields):
        if type(field) is not bytes:
            continue
        other = data.draw(
            st.sampled_from(
                [bytearray(field), memoryview(field), field.decode("latin-1"), len(field), None]
            )
        )
        changed = list(fields)
        changed[index] = other
        got = _outcome(lambda values: compiled.build_fields(*values), changed)
        if isinstance(other, memoryview):
            assert got == ("value", built.data) and type(got[1]) is bytes
            continue
        expected = _outcome(con.build, _with_field(con, con.parse(built.data), index, other))
        assert expected[0] == got[0], (index, other, expected, got)
        if expected[0] == "value":
            assert type(got[1]) is bytes and expected[1] == got[1]
        else:
            assert expected[1] is got[1], (index, other, expected, got)


def test_a_length_rebuilt_from_its_own_field_is_not_checked_twice() -> None:
    # The value's length (bodylen - extlen - keylen) works out to len(value): the
    # generated build checks its type only, and stays equal to construct's.
    messages = wireproto.providers.memcache.binary_messages
    compiled = compile_construct(messages.VALUE_RESPONSE)
    assert compiled.build_fields is not None
    assert "len(b" not in compiled.source.split("def build_fields")[1]
    data = compiled.build_fields(1, 0, 7, 9, 3, b"key", b"value")
    assert data == messages.VALUE_RESPONSE.build(
        {
            "opcode": 1,
            "status": 0,
            "opaque": 7,
            "cas": 9,
            "extras": {"flags": 3},
            "key": b"key",
            "value": b"value",
        }
    )
    assert messages.RESPONSE.parse(data).extras == b"\x00\x00\x00\x03"


FRAMED = {k: v for k, v in DECLARATIONS.items() if compile_construct(v).parse_framed is not None}


class _Checked(Exception):
    pass


def _framer_check(con: c.Construct[Any, Any]) -> Any:
    framer = LengthFieldFramer.from_message(con, max_frame_size=1 << 16)

    def check(buf: Any, offset: int) -> None:
        try:
            framer._frame_end(buf, offset)
        except ProtocolError:
            raise _Checked from None

    return framer, check


@pytest.mark.parametrize("name", sorted(FRAMED))
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_framed_parse_agrees_with_the_framer_and_construct(name: str, data: st.DataObject) -> None:
    con = FRAMED[name]
    compiled = compile_construct(con)
    framer, check = _framer_check(con)
    max_body = framer.max_frame_size - framer.header_size
    frame = bytearray(data.draw(from_construct(con)).data)
    for index, byte in data.draw(
        st.lists(st.tuples(st.integers(0, max(len(frame) - 1, 0)), st.integers(0, 255)), max_size=2)
    ):
        if frame:
            frame[index] = byte
    junk = data.draw(st.binary(max_size=5))
    for framed, convert in (
        (compiled.parse_framed, lambda v: v),
        (compiled.parse_framed_fields, lambda v: _flatten(con, v)),
    ):
        if framed is None:
            continue
        for cut in range(len(frame) + 1):
            buf = memoryview(junk + bytes(frame[:cut]) + b"\0")
            total = len(buf) - 1
            try:
                end = framer.frame_end_at(buf[:total], len(junk))
            except ProtocolError:
                framer._pending_end = 0
                with pytest.raises(_Checked):
                    framed(buf, len(junk), total, max_body, check)
                continue
            framer._pending_end = 0
            try:
                got: tuple[str, Any] = ("value", framed(buf, len(junk), total, max_body, check))
            except Exception as exc:
                got = ("error", type(exc))
            if not end:
                assert got == ("value", (0, None))
                continue
            expected = _outcome(con.parse, bytes(buf[len(junk) : end]))
            if expected[0] == "error":
                assert got == expected
            else:
                assert got[0] == "value" and got[1][0] == end
                assert _same(got[1][1], convert(expected[1]))


class _Malformed(Exception):
    pass


class _Sender:
    def __init__(self, close_after: int | None) -> None:
        self.close_after = close_after
        self.handled = 0

    @property
    def close_requested(self) -> bool:
        return self.close_after is not None and self.handled >= self.close_after


def _loop_run(
    loop: Any,
    buf: memoryview,
    *,
    start: int,
    max_body: int,
    check: Any,
    sender: _Sender,
    flush_size: int,
) -> tuple[str, Any, list[Any], list[list[Any]]]:
    """Run a generated consumer loop: (outcome, its value or error class, messages, flushes)."""
    messages: list[Any] = []
    replies: list[Any] = []
    flushes: list[list[Any]] = []

    def handler(message: Any, got_sender: Any) -> bytes:
        assert got_sender is sender
        messages.append(message)
        sender.handled += 1
        return b"r%d" % len(messages)

    def flush() -> None:
        flushes.append(list(replies))
        replies.clear()

    def malformed(exc: Exception) -> Exception:
        assert isinstance(exc, c.ConstructError)
        return _Malformed()

    try:
        end = loop(buf, start, len(buf), max_body, check, handler, sender, replies, flush,
                   flush_size, sender.close_after is not None, malformed)  # fmt: skip
    except Exception as exc:
        return "error", type(exc), messages, [*flushes, replies]
    return "value", end, messages, [*flushes, replies]


@pytest.mark.parametrize("name", sorted(FRAMED))
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_consumer_loop_agrees_with_the_framed_parse(name: str, data: st.DataObject) -> None:
    # The generated loop (frame, parse, handler, replies, flush, close) against
    # parse_framed called frame by frame: the same messages, end and error.
    con = FRAMED[name]
    compiled = compile_construct(con)
    framer, check = _framer_check(con)
    max_body = framer.max_frame_size - framer.header_size
    frames = [data.draw(from_construct(con)).data for _ in range(data.draw(st.integers(0, 4)))]
    stream = bytearray(b"".join(frames))
    for index, byte in data.draw(
        st.lists(
            st.tuples(st.integers(0, max(len(stream) - 1, 0)), st.integers(0, 255)), max_size=1
        )
    ):
        if stream:
            stream[index] = byte
    stream = stream[: data.draw(st.integers(0, len(stream)))]
    close_after = data.draw(st.none() | st.integers(1, 4))
    flush_size = data.draw(st.integers(1, 8))
    for framed, loop in (
        (compiled.parse_framed, compiled.consume_framed),
        (compiled.parse_framed_fields, compiled.consume_framed_fields),
    ):
        if framed is None:
            assert loop is None
            continue
        assert loop is not None
        buf = memoryview(bytes(stream))
        # The reference: parse_framed frame by frame.
        expected_messages: list[Any] = []
        offset = 0
        outcome: tuple[str, Any]
        while True:
            try:
                end, message = framed(buf, offset, len(buf), max_body, check)
            except c.ConstructError:
                outcome = ("error", _Malformed)
                break
            except _Checked:
                outcome = ("error", _Checked)
                break
            if not end:
                outcome = ("value", offset)
                break
            offset = end
            expected_messages.append(message)
            if close_after is not None and len(expected_messages) >= close_after:
                outcome = ("value", offset)
                break
        sender = _Sender(close_after)
        kind, value, messages, flushes = _loop_run(
            loop, buf, start=0, max_body=max_body, check=check, sender=sender, flush_size=flush_size
        )
        assert (kind, value) == outcome
        assert len(messages) == len(expected_messages)
        assert all(map(_same, messages, expected_messages))
        replies = [reply for chunk in flushes for reply in chunk]
        assert replies == [b"r%d" % (i + 1) for i in range(len(messages))]
        # A flush once flush_size bytes are queued since the last one.
        for chunk in flushes[:-1]:
            assert sum(map(len, chunk)) >= flush_size
            assert sum(map(len, chunk[:-1])) < flush_size
