"""The pure-Python RESP parser's own pieces: Redis's ``sdssplitargs`` for inline commands.

The parser as a whole (both strategies) is tested through ``RequestParser`` in
``test_resp_parser.py``.
"""

from __future__ import annotations

import pytest
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
