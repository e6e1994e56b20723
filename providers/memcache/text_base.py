"""What the classic and the meta text commands share: one connection's state and the
helpers that build replies within the output limit."""

from __future__ import annotations

import re
from typing import Final

from wireproto import NetworkSender
from wireproto._users import User, directory_for

from .engine import KEY_MAX_LENGTH, MemcacheEngine

__all__ = [
    "BAD_CHUNK",
    "BAD_FORMAT",
    "CONTROL",
    "CRLF",
    "ERROR",
    "INT_MAX",
    "NON_NUMERIC",
    "OUT_OF_MEMORY",
    "TOO_LARGE",
    "TextState",
    "has_control",
]

INT_MAX: Final = (1 << 31) - 1
ERROR: Final = b"ERROR\r\n"
BAD_FORMAT: Final = b"CLIENT_ERROR bad command line format\r\n"
BAD_CHUNK: Final = b"CLIENT_ERROR bad data chunk\r\n"
TOO_LARGE: Final = b"SERVER_ERROR object too large for cache\r\n"
OUT_OF_MEMORY: Final = b"SERVER_ERROR out of memory storing object\r\n"
NON_NUMERIC: Final = b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
CRLF: Final = b"\r\n"
CONTROL: Final = re.compile(rb"[\x00-\x1f\x7f]").search
"""Lines with these bytes are split exactly (on spaces only) and their keys refused."""


_CONTROL_TABLE: Final = bytes(1 if byte < 0x20 or byte == 0x7F else 0 for byte in range(256))


def has_control(line: bytes) -> bool:
    """Whether ``line`` holds a byte :data:`CONTROL` finds (a few times cheaper than it:
    ``translate`` and a ``memchr``, without the regular expression engine's set-up)."""
    return 1 in line.translate(_CONTROL_TABLE)


class TextState:
    """One memcached text connection's state (:class:`~.text.TextSession` serves it)."""

    __slots__ = (
        "_acl",
        "_armed",
        "_auth",
        "_auth_need",
        "_authenticated",
        "_commands",
        "_ctl",
        "_engine",
        "_flush_check",
        "_max_line",
        "_memory",
        "_need",
        "_plain",
        "_room",
        "_scan_from",
        "_sender",
        "_stats",
        "_store",
        "_swallow",
        "_user",
        "_users",
        "closed",
    )

    def __init__(self, engine: MemcacheEngine, sender: NetworkSender) -> None:
        self._engine = engine
        self._store = engine.store
        self._stats = engine.stats
        self._sender = sender
        self._memory = sender.memory
        self._room = 0  # value bytes the batch's replies may still hold (the output limit)
        self._max_line = engine.settings.max_line_length
        self._need = 0  # bytes the next message needs, counted from the head
        self._scan_from = 0  # bytes of an unterminated first line already searched
        self._swallow = 0  # bytes of a refused data block still to skip
        self._ctl = False  # the line being handled holds control bytes
        self._armed = False  # ARMED.count (maxmemory), read once per batch
        self._flush_check = engine.check_flush
        self._auth = sender.auth
        self._users = directory_for(
            self._auth, getattr(sender, "listener", None), engine.user_directories
        )
        self._user = self._users.default
        self._acl: User | None = None  # the user, when its commands are checked
        self._authenticated = not self._users.auth_required
        self._auth_need = 0  # bytes the unauthenticated client's next step needs
        self.closed = False
        engine.stats.curr_connections += 1
        engine.stats.total_connections += 1

    def _charge(self, size: int) -> None:
        """A reply part of ``size`` bytes was built: stop once the batch's pass the output limit."""
        room = self._room - size
        self._room = room
        if room < 0:
            self._memory.refuse_output(self._memory.reply_room - room)

    def _bad_key(self, key: bytes) -> bool:
        return len(key) > KEY_MAX_LENGTH or (self._ctl and CONTROL(key) is not None)
