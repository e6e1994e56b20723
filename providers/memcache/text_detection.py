"""Detection of memcached's text protocol, and the rule for lines RESP could claim too.

``specs/memcache-text`` describes the detection rule.
"""

from __future__ import annotations

import enum

from wireproto import Detector, Verdict
from wireproto.guard import guarded

from .engine import strtol32

__all__ = ["COMMAND_WORDS", "SHARED_WITH_RESP", "Claim", "text_detector"]

COMMAND_WORDS = frozenset(
    b"get gets gat gats bget set add replace append prepend cas delete incr decr touch "
    b"flush_all version verbosity stats quit mg ms md ma mn me".split()
)
"""The first words of the commands this provider serves (memcached is case-sensitive)."""

SHARED_WITH_RESP = frozenset(b"get set append incr decr touch quit".split())
"""memcached command words the bundled RESP provider also serves (in any case, for RESP)."""


class Claim(enum.Enum):
    """Which first lines the memcached text detector claims when RESP shares the port.

    ``get k\\r\\n`` is a valid command in both protocols. ``ALL`` (the default)
    claims every line starting with a lower-case memcached command word;
    ``UNAMBIGUOUS`` leaves to RESP every line RESP would accept with the same
    first word (``get k``, ``set k v``, ``incr k``, ``append k v``, ``quit``)
    and claims the rest (``get a b``, ``set k 0 0 5``, ``incr k 1``, and the
    words RESP does not serve). Upper-case words are never memcached's.
    """

    ALL = "all"
    UNAMBIGUOUS = "unambiguous"


def _memcached_storage_shape(tokens: list[bytes]) -> bool:
    return len(tokens) in (5, 6) and all(strtol32(token) is not None for token in tokens[2:5])


def _claims(tokens: list[bytes], shared: frozenset[bytes]) -> bool:
    """Under ``Claim.UNAMBIGUOUS``: whether RESP would refuse this line (so it is memcached's)."""
    word = tokens[0]
    if word not in shared:
        return True
    if word == b"get":
        return len(tokens) != 2  # GET takes exactly one key
    if word in (b"set", b"append"):
        return _memcached_storage_shape(tokens)  # SET k 0 0 5 is a Redis syntax error
    if word in (b"incr", b"decr"):
        return len(tokens) != 2  # INCR takes exactly one key
    return False  # quit, and shared words without an arity rule here: valid in both


def text_detector(
    claim: Claim = Claim.ALL, shared: frozenset[bytes] = SHARED_WITH_RESP
) -> Detector:
    """The memcached text detector: a complete first line starting with a command word.

    Leading spaces are skipped and words are split on spaces, as memcached
    does. While the line is incomplete the answer is NEED_MORE as long as
    the first word can still be a command word, else NO_MATCH. ``shared``
    names the words the RESP provider on the same port serves, for
    ``Claim.UNAMBIGUOUS``.
    """
    prefixes = frozenset(word[:size] for word in COMMAND_WORDS for size in range(1, len(word) + 1))

    def detect(data: bytes) -> Verdict:
        newline = data.find(b"\n")
        if newline < 0:
            rest = data.lstrip(b" ")
            space = rest.find(b" ")
            if space < 0:
                word = rest[:-1] if rest.endswith(b"\r") else rest  # "\r" may end the line
                return Verdict.NEED_MORE if not word or word in prefixes else Verdict.NO_MATCH
            return Verdict.NEED_MORE if rest[:space] in COMMAND_WORDS else Verdict.NO_MATCH
        line = data[: newline - 1 if newline and data[newline - 1] == 13 else newline]
        tokens = [token for token in line.split(b" ") if token]
        if not tokens or tokens[0] not in COMMAND_WORDS:
            return Verdict.NO_MATCH
        if claim is Claim.ALL or _claims(tokens, shared):
            return Verdict.MATCH
        return Verdict.NO_MATCH

    return guarded(detect)  # an HTTP request line is never a command
