"""kvbin written by hand: one index and a memoryview over a bytearray, ``struct`` headers.

Shared by the peer servers (asyncio ``Protocol``, Twisted, trio) of
``benchmarks/kvbin.py``; each peer only moves bytes between its framework and
:meth:`KvbinCore.feed`. Replies are byte-identical to wireproto's kvbin for
every well-formed request; a protocol error gets status 3, request id 0 and a
text, then the peer closes (the texts are not wireproto's).
"""

from __future__ import annotations

import struct

HEADER = struct.Struct(">3sBII")
KEY_LENGTH = struct.Struct(">H")
MAGIC = b"\xc0KV"
MAX_FRAME = 12 + (1 << 20)
MAX_KEY = 250
NOOP, GET, SET, DELETE, ECHO = range(5)
OK, NOT_FOUND, BAD_REQUEST, PROTOCOL_ERROR = range(4)


def reply(status: int, request_id: int, body: bytes = b"") -> bytes:
    """The bytes of one reply."""
    return HEADER.pack(MAGIC, status, request_id, len(body)) + body


class KvbinCore:
    """One connection's parser and dispatcher over a store shared by all connections."""

    __slots__ = ("buffer", "closed", "store")

    def __init__(self, store: dict[bytes, bytes]) -> None:
        self.store = store
        self.buffer = bytearray()
        self.closed = False

    def feed(self, data: bytes) -> bytes:
        """The replies to the whole requests now buffered; sets ``closed`` on a bad one."""
        buffer = self.buffer
        buffer += data
        size = len(buffer)
        store = self.store
        out: list[bytes] = []
        pos = 0
        view = memoryview(buffer)
        try:
            while size - pos >= 12:
                magic, opcode, request_id, length = HEADER.unpack_from(view, pos)
                if magic != MAGIC:
                    return self._fail(out, "bad magic")
                if 12 + length > MAX_FRAME:
                    return self._fail(out, "frame too large")
                end = pos + 12 + length
                if end > size:
                    break
                if length < 2:
                    return self._fail(out, "malformed message")
                (key_length,) = KEY_LENGTH.unpack_from(view, pos + 12)
                key_end = pos + 14 + key_length
                if key_end > end:
                    return self._fail(out, "malformed message")
                pos = end
                if key_length > MAX_KEY:
                    out.append(reply(BAD_REQUEST, request_id, b"key too long"))
                    continue
                key = bytes(view[key_end - key_length : key_end])
                if opcode == GET:
                    value = store.get(key)
                    if value is None:
                        out.append(reply(NOT_FOUND, request_id))
                    else:
                        out.append(HEADER.pack(MAGIC, OK, request_id, len(value)))
                        out.append(value)
                elif opcode == SET:
                    store[key] = bytes(view[key_end:end])
                    out.append(reply(OK, request_id))
                elif opcode == DELETE:
                    found = store.pop(key, None) is not None
                    out.append(reply(OK if found else NOT_FOUND, request_id))
                elif opcode == ECHO:
                    out.append(reply(OK, request_id, bytes(view[key_end:end])))
                elif opcode == NOOP:
                    out.append(reply(OK, request_id))
                else:
                    out.append(reply(BAD_REQUEST, request_id, b"unknown opcode"))
        finally:
            view.release()
        del buffer[:pos]
        return b"".join(out)

    def _fail(self, out: list[bytes], text: str) -> bytes:
        self.closed = True
        out.append(reply(PROTOCOL_ERROR, 0, text.encode()))
        return b"".join(out)
