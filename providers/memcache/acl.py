"""memcached commands under the listener's users (ACL): each is checked as the Redis command
it acts like, on its key, for the user the connection authenticated as.

The mapping (also in ``specs/memcache/README.md``): reads (``get``, ``gets``, ``bget``,
``mg``) are Redis's ``get`` with read access to each key; ``gat``/``gats`` are ``getex``
(read and write); stores (``set``, ``add``, ``replace``, ``cas``, ``ms``) are ``set``;
``append``/``prepend`` are ``append``; ``delete``/``md`` are ``del``; ``incr``/``ma`` are
``incrby``, ``decr`` is ``decrby``; ``touch`` is ``expire``; all write access to the key.
``flush_all`` is ``flushall``; ``stats`` is ``info``; ``verbosity`` is ``config|set``;
``me`` is ``debug``. ``version``, ``quit`` and ``mn`` need nothing. A refused text
command gets ``CLIENT_ERROR NOPERM ...`` (its data block skipped); a refused binary one
the status ``Auth failure`` (0x20).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from wireproto._users import READ, WRITE, User

from ..kvstore import glob_match
from .binary_messages import Opcode

__all__ = ["BINARY", "TEXT", "binary_refusal", "guard_text", "text_refusal"]

_RW = READ | WRITE

TEXT: Final[dict[bytes, tuple[str, int, int, int]]] = {
    # word: (Redis command, key access, first key token (0: none), last key token (-1: all))
    b"get": ("get", READ, 1, -1),
    b"bget": ("get", READ, 1, -1),
    b"gets": ("get", READ, 1, -1),
    b"gat": ("getex", _RW, 2, -1),
    b"gats": ("getex", _RW, 2, -1),
    b"set": ("set", WRITE, 1, 1),
    b"add": ("set", WRITE, 1, 1),
    b"replace": ("set", WRITE, 1, 1),
    b"cas": ("set", WRITE, 1, 1),
    b"append": ("append", WRITE, 1, 1),
    b"prepend": ("append", WRITE, 1, 1),
    b"delete": ("del", WRITE, 1, 1),
    b"incr": ("incrby", WRITE, 1, 1),
    b"decr": ("decrby", WRITE, 1, 1),
    b"touch": ("expire", WRITE, 1, 1),
    b"flush_all": ("flushall", 0, 0, 0),
    b"stats": ("info", 0, 0, 0),
    b"verbosity": ("config|set", 0, 0, 0),
    b"mg": ("get", READ, 1, 1),
    b"ms": ("set", WRITE, 1, 1),
    b"md": ("del", WRITE, 1, 1),
    b"ma": ("incrby", WRITE, 1, 1),
    b"me": ("debug", 0, 0, 0),
}
"""The memcached text commands a user needs permission for, as Redis commands."""

_DATA_SIZE: Final = {
    b"set": 4,
    b"add": 4,
    b"replace": 4,
    b"append": 4,
    b"prepend": 4,
    b"cas": 4,
    b"ms": 2,
}
"""Storage commands: the token giving the size of the data block a refusal skips."""

BINARY: Final[dict[Opcode, tuple[str, int]]] = {
    Opcode.GET: ("get", READ),
    Opcode.GETK: ("get", READ),
    Opcode.SET: ("set", WRITE),
    Opcode.ADD: ("set", WRITE),
    Opcode.REPLACE: ("set", WRITE),
    Opcode.APPEND: ("append", WRITE),
    Opcode.PREPEND: ("append", WRITE),
    Opcode.DELETE: ("del", WRITE),
    Opcode.INCREMENT: ("incrby", WRITE),
    Opcode.DECREMENT: ("decrby", WRITE),
    Opcode.TOUCH: ("expire", WRITE),
    Opcode.GAT: ("getex", _RW),
    Opcode.GATK: ("getex", _RW),
    Opcode.FLUSH: ("flushall", 0),
    Opcode.STAT: ("info", 0),
}
"""The binary opcodes (quiet ones fold to these) a user needs permission for."""


def _denied(user: User, command: str, access: int, keys: list[bytes]) -> str | None:
    if not user.can_run(command):
        return f"this user has no permissions to run the '{command}' command"
    if access and not all(user.can_access(key, access, glob_match) for key in keys):
        return "this user has no permissions to access one of the keys used as arguments"
    return None


def text_refusal(user: User, tokens: list[bytes]) -> bytes | None:
    """The ``CLIENT_ERROR NOPERM ...`` line if ``user`` may not run the text command, or None."""
    entry = TEXT.get(tokens[0])
    if entry is None:
        return None
    command, access, first, last = entry
    keys = tokens[first : len(tokens) if last < 0 else last + 1] if first else []
    if tokens[0] in (b"gat", b"gats") or tokens[0] in _DATA_SIZE:
        keys = [key for key in keys if key != b"noreply"]
    why = _denied(user, command, access, keys)
    return None if why is None else b"CLIENT_ERROR NOPERM %s\r\n" % why.encode()


def binary_refusal(user: User, opcode: Opcode, key: bytes) -> bool:
    """Whether ``user`` may not run the binary command ``opcode`` on ``key``."""
    entry = BINARY.get(opcode)
    if entry is None:
        return False
    command, access = entry
    return _denied(user, command, access, [key] if key else []) is not None


TextHandler = Callable[[list[bytes], bytes, int, list[bytes]], int]


def guard_text(user: User, word: bytes, handler: TextHandler) -> TextHandler:
    """``handler`` checked first: a refused command's reply is the refusal, and a storage
    command's data block is skipped (or waited for) as memcached would read it."""
    size_at = _DATA_SIZE.get(word)

    def guarded(tokens: list[bytes], buf: bytes, start: int, out: list[bytes]) -> int:
        refused = text_refusal(user, tokens)
        if refused is None:
            return handler(tokens, buf, start, out)
        if size_at is not None:
            try:
                size = int(tokens[size_at])
            except (IndexError, ValueError):
                return handler(tokens, buf, start, out)  # malformed: its own error
            if size < 0:
                return handler(tokens, buf, start, out)
            end = start + size + 2
            if end > len(buf):
                return -end
            out.append(refused)
            return end
        out.append(refused)
        return start

    return guarded
