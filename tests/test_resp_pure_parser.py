"""The pure-Python RESP parser's own pieces: Redis's ``sdssplitargs`` for inline commands.

The parser as a whole (both strategies) is tested through ``RequestParser`` in
``test_resp_parser.py``.
"""

from __future__ import annotations

import pytest
from _drive import resp_command as cmd
from hypothesis import given, settings
from hypothesis import strategies as st
from wireproto.providers.resp.parser import RequestParser, RespLimits
from wireproto.providers.resp.pure_parser import split_inline_args


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


def _parsed(stream: bytes) -> tuple[list[list[bytes]], list[list[bytes]]]:
    """What one batch's ``whole_commands()`` took, and every command of the batch in order."""
    parser = RequestParser(RespLimits(), accelerated=False)
    assert parser.begin(memoryview(stream))
    fast = parser.whole_commands()
    rest = []
    while (argv := parser.next_command()) is not None:
        rest.append(argv)
    consumed = parser.end()
    assert consumed == len(stream) - (2 if stream.endswith(b"*3") else 0)  # not "*3" alone
    return fast, fast + rest


@settings(max_examples=300, deadline=None)
@given(
    count=st.integers(1, 4),
    data=st.data(),
    tail=st.sampled_from([b"", b"*1\r\n$4\r\nPING\r\n", b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", b"*3"]),
)
def test_a_pipeline_of_one_command_shape_parses_as_its_commands(
    count: int, data: st.DataObject, tail: bytes
) -> None:
    commands = data.draw(st.lists(st.lists(_ARGS, min_size=count, max_size=count), max_size=20))
    stream = b"".join(cmd(*argv) for argv in commands) + tail
    fast, parsed = _parsed(stream)
    whole_tail = (
        [] if tail in (b"", b"*3") else [[b"PING"]] if b"PING" in tail else [[b"GET", b"k"]]
    )
    assert parsed == commands + whole_tail
    assert fast == parsed[: len(fast)]
    if all(b"\r\n" not in arg and len(arg) < 1024 for argv in commands for arg in argv):
        assert len(fast) >= len(commands)  # canonical short arguments: all taken at once
