"""The pure-Python RESP parser's own pieces: Redis's ``sdssplitargs`` for inline commands,
and the two ways of taking whole multibulk commands at once (split and walk).

The parser as a whole (both strategies) is tested through ``RequestParser`` in
``test_resp_parser.py``.
"""

from __future__ import annotations

import pytest
from _drive import resp_command as cmd
from hypothesis import given, settings
from hypothesis import strategies as st
from wireproto.providers.resp import pure_parser
from wireproto.providers.resp.parser import RequestParser, RespLimits
from wireproto.providers.resp.pure_parser import split_inline_args

from wireproto import ProtocolError, _build


@pytest.mark.parametrize(
    ("line", "args"),
    [
        (b"set k v", [b"set", b"k", b"v"]),
        (b"  a\t b  ", [b"a", b"b"]),
        (b'"a b" c', [b"a b", b"c"]),
        (b'"\\x41\\x4a\\n\\r\\t\\b\\a\\"\\\\\\q"', [b'AJ\n\r\t\b\a"\\q']),
        (b'"\\x4"', [b"x4"]),
        (b"'a\\'b' 'c\\d'", [b"a'b", b"c\\d"]),
        (b'a"b c"', [b"ab c"]),
        (b"a\x0bb \x0cc", [b"a\x0bb", b"c"]),
        (b'""', [b""]),
        (b"x\x00y z", [b"x"]),
        (b"", []),
        (b'"abc', None),
        (b"'abc", None),
        (b'"a"b', None),
        (b"'a'b", None),
        (b'"a\x00"', None),
    ],
)
def test_split_inline_args_is_sdssplitargs(line: bytes, args: list[bytes] | None) -> None:
    assert split_inline_args(line) == args


_ARGS = st.one_of(
    st.binary(max_size=6),
    st.sampled_from([b"\r\n", b"a\r\nb", b"*2", b"$1", b"x" * 1100]),  # CRLF inside, a long one
)


def _parsed(
    stream: bytes, walk: bool, limits: RespLimits | None = None
) -> tuple[list[list[bytes]], list[list[bytes]]]:
    """What one batch's ``whole_commands()`` took, and every command of the batch in order."""
    parser = RequestParser(limits or RespLimits(), accelerated=False, walk=walk)
    assert parser.begin(memoryview(stream))
    fast = parser.whole_commands()
    rest = []
    while (argv := parser.next_command()) is not None:
        rest.append(argv)
    consumed = parser.end()
    assert consumed == len(stream) - (2 if stream.endswith(b"*3") else 0)  # not "*3" alone
    return fast, fast + rest


WALKS = pytest.mark.parametrize("walk", [False, True], ids=["split", "walk"])


@WALKS
@settings(max_examples=300, deadline=None)
@given(
    count=st.integers(1, 4),
    data=st.data(),
    tail=st.sampled_from([b"", b"*1\r\n$4\r\nPING\r\n", b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", b"*3"]),
)
def test_a_pipeline_of_one_command_shape_parses_as_its_commands(
    count: int, data: st.DataObject, tail: bytes, walk: bool
) -> None:
    commands = data.draw(st.lists(st.lists(_ARGS, min_size=count, max_size=count), max_size=20))
    stream = b"".join(cmd(*argv) for argv in commands) + tail
    fast, parsed = _parsed(stream, walk)
    whole_tail = (
        [] if tail in (b"", b"*3") else [[b"PING"]] if b"PING" in tail else [[b"GET", b"k"]]
    )
    assert parsed == commands + whole_tail
    assert fast == parsed[: len(fast)]
    # Canonical short arguments are all taken at once (by the walk even with CRLF in them).
    if all((walk or b"\r\n" not in arg) and len(arg) < 1024 for argv in commands for arg in argv):
        assert len(fast) >= len(commands)


def test_the_compiled_build_walks() -> None:
    compiled = "wireproto.providers.resp.pure_parser" in _build.current().compiled
    assert pure_parser.WALK_MULTIBULK is compiled
    assert RequestParser(RespLimits()).walk is compiled
    assert RequestParser(RespLimits(), walk=not compiled).walk is not compiled


# -- the walk against the parser that reads command by command ------------------------------

_PIECES = st.sampled_from(
    [
        *(b"\r\n", b"\r", b"\n", b"*", b"$", b"0", b"1", b"01", b"10", b"11", b"+1", b"-1"),
        *(b"3", b"1023", b"1024", b"x", b"\x00", b"+", b"*1\r\n", b"$1\r\n", b"*0\r\n"),
    ]
)
_WALK_ARGS = st.one_of(
    st.binary(max_size=4),
    st.sampled_from([b"\r\n", b"*1\r\n", b"$1\r\n", b"x" * 5, b"x" * 6, b"x" * 1023, b"x" * 1024]),
)
_PIPELINES = st.lists(
    st.one_of(
        st.lists(_WALK_ARGS, min_size=1, max_size=11).map(lambda argv: cmd(*argv)),
        st.lists(_PIECES, min_size=1, max_size=6).map(b"".join),
    ),
    max_size=8,
).map(b"".join)
_LIMITS = st.sampled_from(
    [
        RespLimits(),
        RespLimits(max_bulk_len=5, max_multibulk_len=3),
        RespLimits(max_query_len=100),  # too small for the tables: no whole commands
    ]
)


def _one_by_one(stream: bytes, limits: RespLimits) -> list[tuple[list[bytes], int]]:
    """Each command ``next_command()`` alone reads from ``stream``, with where it ends."""
    parser = RequestParser(limits, accelerated=False, walk=False)
    assert parser.begin(memoryview(stream))
    commands = []
    try:
        while (argv := parser.next_command()) is not None:
            commands.append((argv, parser._pos))
    except ProtocolError:
        pass
    return commands


@settings(max_examples=500, deadline=None)
@given(stream=_PIPELINES, cut=st.integers(0), limits=_LIMITS)
def test_the_walk_takes_what_redis_reads_and_at_least_what_the_split_takes(
    stream: bytes, cut: int, limits: RespLimits
) -> None:
    stream = stream[: cut % (len(stream) + 1)]
    reference = _one_by_one(stream, limits)
    walker = RequestParser(limits, walk=True)
    walked = walker._walk_batch(stream, 0) if walker._walking else []
    assert walked == [argv for argv, _ in reference[: len(walked)]]
    assert walker._pos == (reference[len(walked) - 1][1] if walked else 0)
    splitter = RequestParser(limits, walk=False)
    split = splitter._multibulk_batch(stream, 0) if splitter._splitting else []
    assert split == walked[: len(split)]
    if len(split) < len(walked):  # the split stops only at a value that holds CRLF
        assert any(b"\r\n" in arg for arg in walked[len(split)])


# -- the walk's limits, each at its maximum and one past it ------------------------------------


@WALKS
@pytest.mark.parametrize(
    ("limits", "at_max", "past_max", "error"),
    [
        (RespLimits(), cmd(*[b"x"] * 10), cmd(*[b"x"] * 11), None),
        (RespLimits(), cmd(b"ECHO", b"v" * 1023), cmd(b"ECHO", b"v" * 1024), None),
        (
            RespLimits(max_multibulk_len=3),
            cmd(b"SET", b"k", b"v"),
            cmd(b"MSET", b"k", b"v", b"w"),
            b"invalid multibulk length",
        ),
        (
            RespLimits(max_bulk_len=5),
            cmd(b"ECHO", b"v" * 5),
            cmd(b"ECHO", b"v" * 6),
            b"invalid bulk length",
        ),
    ],
    ids=["10 arguments", "1023 bytes", "max_multibulk_len", "max_bulk_len"],
)
def test_whole_commands_within_the_limits(
    limits: RespLimits, at_max: bytes, past_max: bytes, error: bytes | None, walk: bool
) -> None:
    first = cmd(b"PING")
    fast, parsed = _parsed(first + at_max + first, walk, limits)
    assert len(fast) == 3
    assert parsed == fast
    parser = RequestParser(limits, accelerated=False, walk=walk)
    assert parser.begin(memoryview(first + past_max + first))
    assert parser.whole_commands() == [[b"PING"]]  # the fast path stops before it
    if error is None:  # the command-by-command parser takes it
        assert parser.next_command() is not None
        assert parser.next_command() == [b"PING"]
    else:
        with pytest.raises(ProtocolError) as caught:
            parser.next_command()
        assert caught.value.reply == b"-ERR Protocol error: " + error + b"\r\n"


# -- inline commands: the walk against the split and the command-by-command parser --------

_INLINE_PIECES = st.sampled_from(
    [
        *(b"PING", b"GET", b"a", b"!", b"#", b" ", b"  ", b"\t", b"\r", b"\n", b"\r\n"),
        *(b'"', b"'", b"\x00", b"\x0b", b"\x0c", b" HTTP/1.1", b"HTTP/", b"*", b"$", b"x" * 40),
        *(cmd(b"GET", b"k"), b"\nGET / HTTP/1.1\r\n"),
    ]
)


@settings(max_examples=500, deadline=None)
@given(
    first=st.sampled_from([b"PING", b" ", b"\n", b"\r\n", b"'"]),
    pieces=st.lists(_INLINE_PIECES, max_size=16),
    limits=st.sampled_from([RespLimits(), RespLimits(max_inline_len=30)]),
)
def test_the_inline_walk_takes_what_redis_reads_and_at_least_what_the_split_takes(
    first: bytes, pieces: list[bytes], limits: RespLimits
) -> None:
    stream = first + b"".join(pieces)
    reference = _one_by_one(stream, limits)
    walker = RequestParser(limits, walk=True)
    walked = walker._walk_inline(stream, 0, -1)
    assert walker._pos in [0] + [end for _, end in reference]  # at a command's end
    assert walked == [argv for argv, end in reference if argv and end <= walker._pos]
    split = RequestParser(limits, walk=False)._inline_batch(stream, 0)
    assert split == walked[: len(split)]
    # keep(count): up to the end of the count-th command.
    ends = [end for argv, end in reference if argv]
    for count in range(1, len(walked) + 1):
        kept = RequestParser(limits, walk=True)
        assert kept._walk_inline(stream, 0, count) == walked[:count]
        assert kept._pos == ends[count - 1]


@pytest.mark.parametrize(
    "stream",
    [
        cmd(b"SET", b"k", b"v") + cmd(b"GET", b"k") + cmd(b"GEX", b"k") + cmd(b"S", b"SADDX"),
        b"PING\r\nSADD s m\r\nS\r\nSAD x\r\nLPUSHX l v\r\n",
    ],
    ids=["multibulk", "inline"],
)
def test_the_walks_give_hot_command_names_as_shared_objects(stream: bytes) -> None:
    parser = RequestParser(RespLimits(), walk=True)
    assert parser.begin(memoryview(stream))
    commands = parser.whole_commands()
    assert commands == _one_by_one_commands(stream)
    for argv in commands:
        shared = [name for name in pure_parser._SHARED_NAMES if name == argv[0]]
        assert (argv[0] is shared[0]) if shared else argv[0] not in pure_parser._SHARED_NAMES


def _one_by_one_commands(stream: bytes) -> list[list[bytes]]:
    return [argv for argv, _ in _one_by_one(stream, RespLimits())]
