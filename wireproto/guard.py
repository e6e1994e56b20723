"""The cross-protocol guard: an HTTP request is never run as a text command.

A web page can make a browser send an HTTP request to any host and port,
including a server on 127.0.0.1; its request line and headers then reach a
line-based parser (RESP inline commands, memcached text) one line at a time,
and a ``POST`` body can hold commands. redis-server defends by closing the
connection at a ``POST`` or ``Host:`` command and logging "Possible SECURITY
ATTACK detected" (``securityWarningCommand`` in ``src/networking.c``). The
toolkit does the same for every text provider, and also at detection:

- :func:`guarded` wraps a text format's detector so that a first line that is
  an HTTP request line (or a ``POST`` / ``Host:`` line) is ``NO_MATCH``: the
  connection is refused at detection, unless a format whose detector matches
  HTTP (:func:`http_request_detector`, e.g. ``WireFormat("http", ...)``) is
  registered on the listener, which then gets it.
- :func:`is_http_line` is the test a text session applies to a line it would
  otherwise run as a command; :func:`cross_protocol_error` logs the attack
  (at most once a minute, as Redis does) and returns the ``ProtocolError``
  that closes the connection without a reply.
"""

from __future__ import annotations

import logging
import re
import time

from wireproto._detect import Detector, Verdict
from wireproto._errors import ProtocolError

__all__ = [
    "HTTP_FORMAT_NAME",
    "cross_protocol_error",
    "first_line",
    "guarded",
    "head_length",
    "http_request_detector",
    "is_guarded_word",
    "is_http_line",
    "is_request_line",
    "log_attack",
]

HTTP_FORMAT_NAME = "http"
"""The name an HTTP provider registers its format under (by convention)."""

SECURITY_WARNING = (
    "Possible SECURITY ATTACK detected. It looks like somebody is sending POST or Host: "
    "commands to {format}. This is likely due to an attacker attempting to use Cross "
    "Protocol Scripting to compromise your server. Connection{peer} aborted."
)
"""redis-server's log line, naming the format instead of Redis."""

_LOG_INTERVAL = 60.0
_log = logging.getLogger("wireproto.guard")
_last_logged = [-_LOG_INTERVAL]  # when the warning was last logged (monotonic)

# RFC 9110 methods are case-sensitive tokens; every registered one (and every
# method a browser sends without a CORS preflight) is upper case, '-' or '_'.
_METHOD = re.compile(rb"[A-Z][A-Z_-]{0,31}")
_REQUEST_LINE = re.compile(rb"[A-Z][A-Z_-]{0,31} [\x21-\x7e\x80-\xff]+ HTTP/[0-9]\.[0-9]")
_TARGET_BYTE = re.compile(rb"[\x21-\x7e\x80-\xff]*")
_VERSION = b"HTTP/0.0\r"
_VERSION_DIGITS = (5, 7)


def is_request_line(line: bytes) -> bool:
    """Whether ``line`` (without its line end) is ``<METHOD> <target> HTTP/<d>.<d>``."""
    return _REQUEST_LINE.fullmatch(line) is not None


def is_guarded_word(word: bytes) -> bool:
    """Redis's rule on a command name: ``POST`` or ``Host:`` in any case (and ``Host:x``)."""
    lowered = word.lower()
    return lowered == b"post" or lowered.startswith(b"host:")


def is_http_line(line: bytes) -> bool:
    """Whether a text provider must refuse ``line`` (without its line end) as HTTP."""
    # find(), not ``in``: bytes.__contains__ first tries its argument as an integer and
    # raises (then clears) a TypeError, which costs twice the search.
    if line.find(b" HTTP/") >= 0 and is_request_line(line):
        return True
    words = line.split(None, 1)
    return bool(words) and is_guarded_word(words[0])


def first_line(data: bytes) -> bytes | None:
    """The first line of ``data`` without its LF or CRLF, or None while incomplete."""
    newline = data.find(b"\n")
    if newline < 0:
        return None
    return data[: newline - 1 if newline and data[newline - 1] == 13 else newline]


def _could_be_request_line(data: bytes) -> bool:
    """Whether ``data`` (no LF in it) can still grow into a request line and its line end."""
    space = data.find(b" ")
    if space < 0:
        return not data or _METHOD.fullmatch(data) is not None
    if _METHOD.fullmatch(data, 0, space) is None:
        return False
    second = data.find(b" ", space + 1)
    if second < 0:
        return _TARGET_BYTE.fullmatch(data, space + 1) is not None
    if second == space + 1 or _TARGET_BYTE.fullmatch(data, space + 1, second) is None:
        return False
    version = data[second + 1 :]
    if len(version) > len(_VERSION):
        return False
    for index, byte in enumerate(version):
        if index in _VERSION_DIGITS:
            if not 48 <= byte <= 57:
                return False
        elif byte != _VERSION[index]:
            return False
    return True


def http_request_detector(data: bytes) -> Verdict:
    """A detector for HTTP/1.x: ``MATCH`` on a complete request line.

    ``NEED_MORE`` while the bytes can still become one (an upper-case method,
    a space, a target, a space, ``HTTP/d.d``, CRLF), else ``NO_MATCH``. An HTTP
    provider registers ``WireFormat(HTTP_FORMAT_NAME, http_request_detector)``.
    """
    line = first_line(data)
    if line is None:
        return Verdict.NEED_MORE if _could_be_request_line(data) else Verdict.NO_MATCH
    return Verdict.MATCH if is_request_line(line) else Verdict.NO_MATCH


def guarded(detector: Detector) -> Detector:
    """``detector`` that never matches a stream whose first line is an HTTP line.

    For text formats whose detector matches only once the first line is
    complete (or on a first byte no HTTP line starts with, such as RESP's
    ``*``): the guard then decides at the same time, so detection stays
    stable however the bytes are cut.
    """

    def detect(data: bytes) -> Verdict:
        verdict = detector(data)
        if verdict is Verdict.MATCH:
            line = first_line(data)
            if line is not None and is_http_line(line):
                return Verdict.NO_MATCH
        return verdict

    detect.__doc__ = detector.__doc__
    return detect


def log_attack(format_name: str, peer: object = None) -> bool:
    """Log Redis's security warning, at most once a minute; whether it was logged."""
    now = time.monotonic()
    if now - _last_logged[0] < _LOG_INTERVAL:
        return False
    _last_logged[0] = now
    where = ""
    if isinstance(peer, tuple) and len(peer) >= 2:
        where = f" from {peer[0]}:{peer[1]}"
    _log.warning(SECURITY_WARNING.format(format=format_name, peer=where))
    return True


def cross_protocol_error(format_name: str, peer: object = None) -> ProtocolError:
    """Log the attack and return the error that closes the connection without a reply."""
    log_attack(format_name, peer)
    return ProtocolError(f"cross-protocol request (HTTP) sent to {format_name}")


_HEAD_END = re.compile(rb"\n\r?\n")


def head_length(data: bytes | bytearray | memoryview, limit: int | None = None) -> int | None:
    """The size of the HTTP head (request line, headers, blank line) at the start of ``data``.

    None while it is not whole within ``limit`` bytes (all of ``data`` without a limit).
    """
    view = bytes(data[:limit] if limit is not None else data)
    found = _HEAD_END.search(view)
    return found.end() if found is not None else None
