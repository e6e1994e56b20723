"""Detecting RESP from a connection's first bytes.

A stream starting with ``*`` is RESP (a multibulk request). Otherwise it may
be an inline command (``PING\\r\\n``): that is a MATCH only once the first line
is complete and its first word is a known command, so RESP can share a port
with other text protocols without guessing early. While the line is
incomplete the answer is NEED_MORE as long as the bytes can still become
such a line, else NO_MATCH; a line longer than the inline limit is NO_MATCH.
Blank lines before the first command are skipped, as Redis skips them (up to
the inline limit in all). A stream starting with a NUL byte, or with ``$`` and
a NUL in its first line, is RESP's: Redis never finds the end of such a line
and answers ``too big inline request`` once it passes the inline limit, which
the parser does too.
A first line that is an HTTP request line (``GET / HTTP/1.1``) or a ``POST`` /
``Host:`` line is NO_MATCH (:mod:`wireproto.guard`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from wireproto import Detector, Verdict
from wireproto.guard import guarded

__all__ = ["inline_detector"]

_BLANKS = b" \t\x0b\x0c\r"
_WORD_END = re.compile(b"[ \t\r]")
"""Where ``sdssplitargs`` ends an unquoted word."""


def inline_detector(commands: Iterable[bytes], max_inline_len: int) -> Detector:
    """The RESP detector for ``commands`` (lower-case names) and the inline limit."""
    names = frozenset(name.lower() for name in commands)
    prefixes = frozenset(name[:size] for name in names for size in range(1, len(name) + 1))
    window = max_inline_len + 1

    def detect(data: bytes) -> Verdict:
        if not data:
            return Verdict.NEED_MORE
        if data[0] == 42:  # '*'
            return Verdict.MATCH
        start = 0
        limit = window
        while True:  # skip blank lines, as Redis does (an inline line with no arguments)
            newline = data.find(b"\n", start, window)
            if newline < 0 or data[start:newline].strip(_BLANKS):
                break
            start = newline + 1
        if start:
            if start >= len(data):
                return Verdict.NEED_MORE
            data = data[start:]
            if data[0] == 42:
                return Verdict.MATCH
            limit -= start
            newline = data.find(b"\n", 0, limit)
        if data[0] == 0:
            return Verdict.MATCH  # Redis waits for a line end it never sees, then refuses
        if data[0] == 36:  # '$', RESP's bulk marker: a NUL in its line makes it RESP's
            line_end = newline if newline >= 0 else min(len(data), limit)
            if data.find(b"\0", 0, line_end) >= 0:
                return Verdict.MATCH  # as a leading NUL: Redis's strchr stops at it
            if newline < 0 and len(data) < limit:
                return Verdict.NEED_MORE
        if newline < 0 and len(data) >= limit:
            return Verdict.NO_MATCH
        if data.find(b"\0", 0, newline if newline >= 0 else len(data)) >= 0:
            return Verdict.NO_MATCH  # Redis never finds the end of a line with a NUL in it
        if newline < 0:
            line = data.lstrip(_BLANKS)
            if not line:
                return Verdict.NEED_MORE
            end = _WORD_END.search(line)
            if end is None:  # the first word may still grow
                return Verdict.NEED_MORE if line.lower() in prefixes else Verdict.NO_MATCH
            word = line[: end.start()]
            return Verdict.NEED_MORE if word.lower() in names else Verdict.NO_MATCH
        line = data[:newline].lstrip(_BLANKS)
        end = _WORD_END.search(line)
        word = line if end is None else line[: end.start()]
        return Verdict.MATCH if word and word.lower() in names else Verdict.NO_MATCH

    return guarded(detect)  # an HTTP request line is never an inline command
