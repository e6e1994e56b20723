"""memcached's binary protocol, the session: a frame's header decides what to do with its body.

A frame is not handed to a framer whole: memcached acts on the header before
the body (a malformed header is refused at once, a value over the item size
limit is answered ``E2BIG`` and its bytes skipped without being buffered),
and so does this session. The messages are declared in :mod:`.binary_messages`;
``specs/memcache-binary`` describes the format.
"""

from __future__ import annotations

from collections.abc import Callable
from types import FunctionType
from typing import Final

from wireproto import NetworkSender, ProtocolError
from wireproto._users import User, directory_for
from wireproto.memory import MemoryLimitExceeded

from ..eviction import ARMED, room_for_write
from .acl import binary_refusal
from .auth import MAX_SASL_MECH_LEN, SASL_MECHANISMS, parse_plain
from .binary_messages import (
    DELTA_LAYOUT,
    ERROR_TEXT,
    EXPIRATION_LAYOUT,
    FLAGS_LAYOUT,
    GET_REQUEST_LAYOUT,
    HEAD_LAYOUT,
    HEADER_SIZE,
    QUIET_OPCODES,
    REQUEST_LAYOUT,
    REQUEST_MAGIC,
    SET_REQUEST_LAYOUT,
    STORE_LAYOUT,
    VALUE_HEAD_LAYOUT,
    Opcode,
    Sasl,
    Status,
    build_delta_response,
    build_response_fields,
    build_status_response,
    build_text_response,
    build_value_response,
    response_prefix,
)
from .engine import KEY_MAX_LENGTH, Delta, MemcacheEngine, Mode, Stored

__all__ = ["BinarySession"]

# What memcached -S answers before authentication (proto_bin.c authenticated()).
_OPEN_BEFORE_AUTH = frozenset({*(int(op) for op in Sasl), int(Opcode.VERSION)})
_AUTHENTICATED = b"Authenticated"
_COMMAND = {int(op): QUIET_OPCODES.get(op, op) for op in Opcode}
_QUIET_CODES = frozenset(int(op) for op in QUIET_OPCODES)
_STORE_MODES = {Opcode.SET: Mode.SET, Opcode.ADD: Mode.ADD, Opcode.REPLACE: Mode.REPLACE}
_NO_CREATE = 0xFFFFFFFF
_SUCCESS: Final = 0  # Status.SUCCESS as a plain int: no enum lookup per reply
# The commands the session's fast path serves, as plain ints (Final: C statics when
# compiled by mypyc, where an enum member is a dictionary lookup and a rich compare).
_GET: Final = int(Opcode.GET)
_SET: Final = int(Opcode.SET)
_STORE_EXTRAS_SIZE: Final = STORE_LAYOUT.size
_KEY_ENOENT: Final = int(Status.KEY_ENOENT)
_NOT_FOUND: Final = ERROR_TEXT[Status.KEY_ENOENT]
_GET_HIT: Final = response_prefix(_GET, _SUCCESS, extlen=FLAGS_LAYOUT.size)
_SET_DONE: Final = response_prefix(_SET, _SUCCESS)
# Bound once: a call of a Final is a C static and one vectorcall (compiled), where
# LAYOUT.pack(...) looks the method up by name on every call.
_UNPACK_GET: Final = GET_REQUEST_LAYOUT.unpack_from
_UNPACK_SET: Final = SET_REQUEST_LAYOUT.unpack_from
_SET_HEAD_SIZE: Final = SET_REQUEST_LAYOUT.size  # the header and the store extras
_OPAQUE_END: Final = 16  # where a header's opaque ends (what a GET's walk reads)
_PACK_HEAD: Final = HEAD_LAYOUT.pack
_PACK_VALUE_HEAD: Final = VALUE_HEAD_LAYOUT.pack
_ROOM_CAP: Final = 1 << 60  # the output room kept below it: a small int when compiled
# An imported object as a Final: a C static when compiled, not a module dictionary lookup.
_ARMED: Final = ARMED


def _compiled() -> bool:
    """Whether this module runs compiled by mypyc (its functions are then built-ins)."""
    return not isinstance(_compiled, FunctionType)


WALK_HEADERS: bool = _compiled()
"""Whether new sessions read the fast path's request headers byte by byte rather than by
one ``struct`` unpack. Compiled, indexing ``bytes`` is C and the walk makes no tuple and
no call; interpreted, the indexing costs more bytecodes than the unpack. Read when a
session is made, so tests can run both."""


class _Request:
    """The header of the request being handled (one per session, refilled per request)."""

    __slots__ = ("cas", "extras", "key", "opaque", "opcode", "quiet")

    def __init__(self) -> None:
        self.opcode = 0
        self.opaque = 0
        self.cas = 0
        self.quiet = False
        self.extras = b""
        self.key = b""

    def reply(
        self,
        status: int = Status.SUCCESS,
        cas: int = 0,
        extras: bytes = b"",
        key: bytes = b"",
        value: bytes = b"",
    ) -> bytes:
        """A response with a body (``RESPONSE``)."""
        return build_response_fields(self.opcode, status, self.opaque, cas, extras, key, value)

    def done(self, cas: int = 0) -> bytes:
        """A success with no body (``STATUS_RESPONSE``)."""
        return build_status_response(self.opcode, _SUCCESS, self.opaque, cas)

    def item(self, cas: int, flags: int, key: bytes, value: bytes) -> bytes:
        """A success carrying an item's flags, and a key and value (``VALUE_RESPONSE``)."""
        return build_value_response(self.opcode, _SUCCESS, self.opaque, cas, flags, key, value)

    def text(self, value: bytes, status: int = Status.SUCCESS) -> bytes:
        """A response with a value only (``TEXT_RESPONSE``)."""
        return build_text_response(self.opcode, status, self.opaque, 0, value)

    def error(self, status: Status) -> bytes:
        """An error response: the status and memcached's text for it."""
        return build_text_response(self.opcode, status, self.opaque, 0, ERROR_TEXT[status])


_Handler = Callable[["BinarySession", _Request, list[bytes]], None]


class BinarySession:
    """One memcached binary connection over the provider's engine."""

    __slots__ = (
        "_acl",
        "_armed",
        "_auth",
        "_authenticated",
        "_engine",
        "_memory",
        "_need",
        "_request",
        "_room",
        "_sasl_pending",
        "_sender",
        "_stats",
        "_store",
        "_swallow",
        "_user",
        "_users",
        "_walk",
        "closed",
    )

    def __init__(self, engine: MemcacheEngine, sender: NetworkSender) -> None:
        self._engine = engine
        self._store = engine.store
        self._stats = engine.stats
        self._sender = sender
        self._memory = sender.memory
        self._room = 0  # value bytes the batch's replies may still hold (the output limit)
        self._request = _Request()
        self._need = HEADER_SIZE  # bytes the next request needs, counted from the head
        self._swallow = 0
        self._auth = sender.auth
        self._users = directory_for(
            self._auth, getattr(sender, "listener", None), engine.user_directories
        )
        self._user = self._users.default
        self._acl: User | None = None
        self._authenticated = not self._users.auth_required
        self._run_as(self._user)
        self._sasl_pending = False  # a SASL_AUTH without its PLAIN message awaits SASL_STEP
        self._walk = WALK_HEADERS
        self._armed = False  # ARMED.count, read once per batch
        self.closed = False
        engine.stats.curr_connections += 1
        engine.stats.total_connections += 1

    def try_consume(self, data: memoryview, /) -> int:
        """Handle every whole request at the head of ``data``; return the bytes used."""
        size = len(data)
        skipped = 0
        if self._swallow:
            skipped = min(self._swallow, size)
            self._swallow -= skipped
            if skipped == size:
                self._stats.bytes_read += skipped
                return skipped
        if size - skipped < self._need:
            return skipped
        self._engine.check_flush()
        self._armed = _ARMED.count != 0  # maxmemory is armed or not between reads only
        buf = bytes(data[skipped:]) if skipped else bytes(data)
        out: list[bytes] = []
        room = self._memory.reply_room
        self._room = room if room < _ROOM_CAP else _ROOM_CAP
        try:
            pos = self._run(buf, out)
        except MemoryLimitExceeded:
            out.clear()  # the connection is cut off: its replies are dropped
            raise
        finally:
            if out:
                reply = b"".join(out)
                self._stats.bytes_written += len(reply)
                self._sender.send(reply)
        used = skipped + pos
        self._stats.bytes_read += used
        return used

    def close(self) -> None:
        """Forget the connection (the toolkit calls it once)."""
        self._engine.stats.curr_connections -= 1
        self._users.detach(self._user, self)

    def _run_as(self, user: User) -> None:
        """Check commands against ``user``'s rules from now on (unless it may run anything)."""
        self._users.detach(self._user, self)
        self._user = user
        self._acl = None if user.unrestricted else user
        self._users.attach(user, self, self._user_changed)

    def _user_changed(self, what: str) -> None:
        if what == "changed":
            self._acl = None if self._user.unrestricted else self._user
        else:  # deleted: Redis closes the user's connections
            self._sender.close()

    def _run(self, buf: bytes, out: list[bytes]) -> int:
        end = len(buf)
        pos = 0
        self._need = HEADER_SIZE  # until a header says more
        while True:
            if self._swallow:
                count = min(self._swallow, end - pos)
                self._swallow -= count
                pos += count
                if self._swallow:
                    return pos
            if end - pos < HEADER_SIZE:
                self._need = HEADER_SIZE
                return pos
            after = self._frame(buf, pos, out)
            if after < 0:
                self._need = -after - pos
                return pos
            pos = after
            if self.closed:
                return pos

    def _refuse(self, out: list[bytes], reply: bytes, why: str) -> None:
        # memcached answers, then closes the connection.
        if out:
            self._sender.send(b"".join(out))
            out.clear()
        raise ProtocolError(why, reply)

    def _frame(self, buf: bytes, pos: int, out: list[bytes]) -> int:
        """Handle the request at ``pos``: the next position, or minus the end it needs."""
        if buf[pos] == REQUEST_MAGIC and self._acl is None and self._authenticated:
            opcode = buf[pos + 1]
            if opcode == _GET:
                after = self._fast_get(buf, pos, out)
                if after:
                    return after
            elif opcode == _SET:
                after = self._fast_set(buf, pos, out)
                if after:
                    return after
        header: tuple[int, ...] = REQUEST_LAYOUT.unpack_from(buf, pos)
        magic, opcode, keylen, extlen, _, _, bodylen, opaque, cas = header
        request = self._request
        request.opcode, request.opaque, request.cas = opcode, opaque, cas
        if magic != REQUEST_MAGIC:
            self._refuse(out, b"", f"invalid magic 0x{magic:02x} in a binary request")
        if keylen + extlen > bodylen:
            self._refuse(out, request.error(Status.UNKNOWN_COMMAND), "key and extras overflow")
        if not self._authenticated and opcode not in _OPEN_BEFORE_AUTH:
            self._refuse(out, request.error(Status.AUTH_ERROR), "not authenticated")
        if keylen > KEY_MAX_LENGTH:
            self._refuse(out, request.error(Status.EINVAL), "key too long")
        if opcode in _OPEN_BEFORE_AUTH and opcode != Opcode.VERSION and self._users.auth_required:
            return self._sasl(request, buf, pos, out)
        command = _COMMAND.get(opcode)
        if command is None:
            out.append(request.error(Status.UNKNOWN_COMMAND))
            self._swallow = bodylen
            return pos + HEADER_SIZE
        if not _valid(command, keylen, extlen, bodylen):
            self._refuse(out, request.error(Status.EINVAL), "invalid request format")
        request.quiet = opcode in _QUIET_CODES
        start = pos + HEADER_SIZE
        key_end = start + extlen + keylen
        frame_end = start + bodylen
        if key_end > len(buf):
            return -key_end
        request.extras = buf[start : start + extlen]
        request.key = buf[start + extlen : key_end]
        if self._acl is not None and binary_refusal(self._acl, command, request.key):
            out.append(request.error(Status.AUTH_ERROR))
            self._swallow = frame_end - key_end
            return key_end
        if command in _STORAGE:
            length = bodylen - keylen - extlen
            flags = STORE_LAYOUT.unpack_from(request.extras)[0] if extlen else 0
            if self._engine.too_large(keylen, flags, length):
                self._too_large(request, command, length, out)
                return key_end
            if frame_end > len(buf):
                return -frame_end
            self._store_command(request, command, buf[key_end:frame_end], out)
            return frame_end
        # The other commands use their extras and key; a longer body is skipped.
        self._swallow = frame_end - key_end
        _HANDLERS[command](self, request, out)
        return key_end

    # The fast path: a well-formed GET, or SET without CAS, of a session that may run it.
    # Each returns the next position, or 0 for anything else: the general path then
    # answers it, and answers these the same (test_memcache_binary.py compares the two,
    # with the header read by struct and by the walk of WALK_HEADERS).

    def _fast_get(self, buf: bytes, pos: int, out: list[bytes]) -> int:
        if self._walk:
            # keylen < 256, extlen 0 and bodylen == keylen, read byte by byte (from a copy:
            # constant indexes)
            front = buf[pos : pos + _OPAQUE_END]
            keylen = front[3]
            if front[2] or front[4] or front[11] != keylen:
                return 0
            if front[8] or front[9] or front[10]:
                return 0
            opaque = front[12] << 24 | front[13] << 16 | front[14] << 8 | front[15]
        else:
            header: tuple[int, ...] = _UNPACK_GET(buf, pos)
            keylen, extlen, bodylen, opaque = header
            if extlen or bodylen != keylen:
                return 0
        start = pos + HEADER_SIZE
        frame_end = start + keylen
        if not 0 < keylen <= KEY_MAX_LENGTH or frame_end > len(buf):
            return 0
        stats = self._stats
        stats.cmd_get += 1
        store = self._store
        value = store.read_item(buf[start:frame_end])
        if value is None:
            stats.get_misses += 1
            out.append(build_text_response(_GET, _KEY_ENOENT, opaque, 0, _NOT_FOUND))
            return frame_end
        stats.get_hits += 1
        size = len(value)
        head: bytes = _PACK_VALUE_HEAD(_GET_HIT, 4 + size, opaque, store.item_cas, store.item_flags)
        self._charge(len(head) + size)
        out.append(head)
        out.append(value)
        return frame_end

    def _fast_set(self, buf: bytes, pos: int, out: list[bytes]) -> int:
        if pos + _SET_HEAD_SIZE > len(buf):
            return 0
        if self._walk:
            # keylen < 256 and extlen 8, read byte by byte (from a copy: constant indexes)
            front = buf[pos : pos + _SET_HEAD_SIZE]
            keylen = front[3]
            if front[2] or front[4] != _STORE_EXTRAS_SIZE:
                return 0
            if (
                front[16] | front[17] | front[18] | front[19]
                | front[20] | front[21] | front[22] | front[23]
            ):  # fmt: skip
                return 0  # a CAS
            extlen = _STORE_EXTRAS_SIZE
            cas = 0
            bodylen = front[8] << 24 | front[9] << 16 | front[10] << 8 | front[11]
            opaque = front[12] << 24 | front[13] << 16 | front[14] << 8 | front[15]
            flags = front[24] << 24 | front[25] << 16 | front[26] << 8 | front[27]
            expiration = front[28] << 24 | front[29] << 16 | front[30] << 8 | front[31]
        else:
            header: tuple[int, ...] = _UNPACK_SET(buf, pos)
            keylen, extlen, bodylen, opaque, cas, flags, expiration = header
        key_start = pos + _SET_HEAD_SIZE
        key_end = key_start + keylen
        frame_end = pos + HEADER_SIZE + bodylen
        engine = self._engine
        if (
            extlen != _STORE_EXTRAS_SIZE
            or cas
            or not 0 < keylen <= KEY_MAX_LENGTH
            or key_end > frame_end
            or frame_end > len(buf)
            or self._armed
            or engine.too_large(keylen, flags, frame_end - key_end)
        ):
            return 0
        stats = self._stats
        stats.cmd_set += 1
        stats.total_items += 1
        version = self._store.set_item(
            buf[key_start:key_end], buf[key_end:frame_end], flags, engine.expire_at(expiration)
        )
        reply: bytes = _PACK_HEAD(_SET_DONE, 0, opaque, version)
        out.append(reply)
        return frame_end

    # -- commands -------------------------------------------------------------------

    def _sasl(self, request: _Request, buf: bytes, pos: int, out: list[bytes]) -> int:
        """SASL ``PLAIN`` as memcached ``-S`` runs it (``process_bin_sasl_auth``)."""
        header: tuple[int, ...] = REQUEST_LAYOUT.unpack_from(buf, pos)
        keylen, extlen, bodylen = header[2], header[3], header[6]
        start = pos + HEADER_SIZE
        if request.opcode == Sasl.LIST_MECHS:
            if extlen or keylen or bodylen:
                self._refuse(out, request.error(Status.EINVAL), "invalid request format")
            out.append(request.text(SASL_MECHANISMS))
            return start
        if extlen or not keylen:
            self._refuse(out, request.error(Status.EINVAL), "invalid request format")
        key_end = start + keylen
        frame_end = start + bodylen
        if keylen > MAX_SASL_MECH_LEN:
            out.append(request.error(Status.EINVAL))
            self._swallow = bodylen  # the key is skipped with the value
            return start
        if frame_end > len(buf):
            return -frame_end
        mechanism = buf[start:key_end]
        message = buf[key_end:frame_end]
        # Every SASL_AUTH or SASL_STEP starts by forgetting the connection's
        # authentication, as memcached's init_sasl_conn() does.
        self._authenticated = False
        pending, self._sasl_pending = self._sasl_pending, False
        credentials = None
        if request.opcode == Sasl.AUTH and mechanism == SASL_MECHANISMS and not message:
            self._sasl_pending = True  # PLAIN is client-first: ask for the message
            out.append(request.reply(Status.AUTH_CONTINUE))
            return frame_end
        if (request.opcode == Sasl.AUTH and mechanism == SASL_MECHANISMS) or pending:
            credentials = parse_plain(message)
        self._stats.auth_cmds += 1
        user = None if credentials is None else self._users.authenticate(*credentials)
        if user is not None:
            self._authenticated = True
            self._run_as(user)
            out.append(request.text(_AUTHENTICATED))
        else:
            self._stats.auth_errors += 1
            out.append(request.error(Status.AUTH_ERROR))
        return frame_end

    def _too_large(self, request: _Request, command: Opcode, length: int, out: list[bytes]) -> None:
        self._stats.store_too_large += 1
        if command is Opcode.SET:
            self._store.delete(request.key)  # memcached drops the old value of a failed set
        out.append(request.error(Status.E2BIG))
        self._swallow = length

    def _get(self, request: _Request, out: list[bytes]) -> None:
        stats = self._stats
        stats.cmd_get += 1
        key = request.key
        entry = self._store.get_with_cas(key)
        if entry is None:
            stats.get_misses += 1
            self._miss(request, out)
            return
        stats.get_hits += 1
        value, flags, cas = entry
        shown = key if _COMMAND[request.opcode] is Opcode.GETK else b""
        reply = build_value_response(
            request.opcode, _SUCCESS, request.opaque, cas, flags, shown, value
        )
        self._charge(len(reply))  # a run of quiet gets of one large value
        out.append(reply)

    def _charge(self, size: int) -> None:
        """A reply part of ``size`` bytes was built: stop once the batch's pass the output limit."""
        room = self._room - size
        self._room = room
        if room < 0:
            self._memory.refuse_output(self._memory.reply_room - room)

    def _miss(self, request: _Request, out: list[bytes]) -> None:
        if request.quiet:
            return
        if _COMMAND[request.opcode] in (Opcode.GETK, Opcode.GATK):
            out.append(request.reply(Status.KEY_ENOENT, key=request.key))
        else:
            out.append(request.error(Status.KEY_ENOENT))

    def _store_command(
        self, request: _Request, command: Opcode, value: bytes, out: list[bytes]
    ) -> None:
        engine = self._engine
        key = request.key
        cas = request.cas
        mode = _STORE_MODES.get(command)
        if ARMED.count and not room_for_write(self._store):  # maxmemory reached
            if mode is Mode.SET:
                self._store.delete(key)  # memcached drops the old value of a failed set
            out.append(request.error(Status.ENOMEM))
            return
        if mode is None:  # append, prepend: no extras; a CAS is compared
            mode = Mode.APPEND if command is Opcode.APPEND else Mode.PREPEND
            result = engine.store_item(mode, key, value, cas=cas)
        else:
            flags, expiration = STORE_LAYOUT.unpack_from(request.extras)
            when = engine.expire_at(expiration)
            result = engine.store_item(
                Mode.CAS if cas else mode, key, value, flags=flags, expire_at=when, cas=cas
            )
        if result is Stored.STORED:
            if not request.quiet:
                cas = self._cas_of(key)
                out.append(build_status_response(request.opcode, _SUCCESS, request.opaque, cas))
            return
        if result is Stored.EXISTS:
            status = Status.KEY_EEXISTS
        elif result is Stored.NOT_FOUND:
            status = Status.KEY_ENOENT
        elif mode is Mode.ADD:
            status = Status.KEY_EEXISTS
        elif mode is Mode.REPLACE:
            status = Status.KEY_ENOENT
        else:
            status = Status.NOT_STORED
        out.append(request.error(status))

    def _cas_of(self, key: bytes) -> int:
        entry = self._store.get_with_cas(key)
        return 0 if entry is None else entry[2]

    def _delta(self, request: _Request, out: list[bytes]) -> None:
        engine = self._engine
        key = request.key
        incr = _COMMAND[request.opcode] is Opcode.INCREMENT
        delta, initial, expiration = DELTA_LAYOUT.unpack_from(request.extras)
        outcome, value = engine.add_delta(key, incr, delta, request.cas)
        if outcome is Delta.NOT_FOUND and expiration != _NO_CREATE:
            when = engine.expire_at(expiration)
            if (
                engine.store_item(Mode.ADD, key, b"%d" % initial, expire_at=when)
                is not Stored.STORED
            ):
                out.append(request.error(Status.NOT_STORED))
                return
            outcome, value = Delta.OK, initial
        if outcome is Delta.OK:
            if not request.quiet:
                out.append(
                    build_delta_response(
                        request.opcode, _SUCCESS, request.opaque, self._cas_of(key), value
                    )
                )
        elif outcome is Delta.NON_NUMERIC:
            out.append(request.error(Status.DELTA_BADVAL))
        elif outcome is Delta.CAS_MISMATCH:
            out.append(request.error(Status.KEY_EEXISTS))
        else:
            out.append(request.error(Status.KEY_ENOENT))

    def _delete(self, request: _Request, out: list[bytes]) -> None:
        key = request.key
        if request.cas:
            entry = self._store.get_with_cas(key)
            if entry is not None and entry[2] != request.cas:
                out.append(request.error(Status.KEY_EEXISTS))
                return
        if self._engine.delete(key):
            if not request.quiet:
                out.append(request.done())
        else:
            out.append(request.error(Status.KEY_ENOENT))

    def _touch(self, request: _Request, out: list[bytes]) -> None:
        engine = self._engine
        key = request.key
        expiration = EXPIRATION_LAYOUT.unpack_from(request.extras)[0]
        entry = None
        if engine.touch(key, engine.expire_at(expiration)):
            entry = self._store.get_with_cas(key)
        if entry is None:
            self._miss(request, out)
            return
        value, flags, cas = entry
        command = _COMMAND[request.opcode]
        if command is Opcode.TOUCH:
            out.append(request.item(cas, flags, b"", b""))
        elif command is Opcode.GATK:
            out.append(reply := request.item(cas, flags, key, value))
            self._charge(len(reply))
        else:
            out.append(reply := request.item(cas, flags, b"", value))
            self._charge(len(reply))

    def _noop(self, request: _Request, out: list[bytes]) -> None:
        out.append(request.done())

    def _version(self, request: _Request, out: list[bytes]) -> None:
        out.append(request.text(self._engine.version))

    def _flush(self, request: _Request, out: list[bytes]) -> None:
        extras = request.extras
        self._engine.flush_all(EXPIRATION_LAYOUT.unpack_from(extras)[0] if extras else 0)
        if not request.quiet:
            out.append(request.done())

    def _quit(self, request: _Request, out: list[bytes]) -> None:
        if not request.quiet:
            out.append(request.done())
        self.closed = True
        self._swallow = 0
        self._sender.close()

    def _stat(self, request: _Request, out: list[bytes]) -> None:
        engine = self._engine
        key = request.key
        if not key:
            lines = engine.general_stats()
        elif key == b"reset":
            engine.stats.reset()
            lines = []
        elif key == b"settings":
            lines = engine.settings_stats(self._auth.required)
        elif key in (b"items", b"slabs", b"sizes", b"conns"):
            lines = []
        else:
            out.append(request.error(Status.KEY_ENOENT))
            return
        for name, value in lines:
            out.append(request.reply(key=name.encode(), value=value.encode()))
        out.append(request.done())


_STORAGE = frozenset({Opcode.SET, Opcode.ADD, Opcode.REPLACE, Opcode.APPEND, Opcode.PREPEND})
_HANDLERS: dict[Opcode, _Handler] = {
    Opcode.GET: BinarySession._get,
    Opcode.GETK: BinarySession._get,
    Opcode.INCREMENT: BinarySession._delta,
    Opcode.DECREMENT: BinarySession._delta,
    Opcode.DELETE: BinarySession._delete,
    Opcode.TOUCH: BinarySession._touch,
    Opcode.GAT: BinarySession._touch,
    Opcode.GATK: BinarySession._touch,
    Opcode.NOOP: BinarySession._noop,
    Opcode.VERSION: BinarySession._version,
    Opcode.FLUSH: BinarySession._flush,
    Opcode.QUIT: BinarySession._quit,
    Opcode.STAT: BinarySession._stat,
}


def _valid(command: Opcode, keylen: int, extlen: int, bodylen: int) -> bool:
    """memcached's per-command checks of the header (``dispatch_bin_command``)."""
    if command in (Opcode.GET, Opcode.GETK):
        return extlen == 0 and bodylen == keylen and keylen > 0
    if command in _STORE_MODES:
        return extlen == 8 and keylen != 0 and bodylen >= keylen + 8
    if command in (Opcode.APPEND, Opcode.PREPEND):
        return keylen > 0 and extlen == 0
    if command is Opcode.DELETE:
        return keylen > 0 and extlen == 0 and bodylen == keylen
    if command in (Opcode.INCREMENT, Opcode.DECREMENT):
        return keylen > 0 and extlen == 20 and bodylen == keylen + 20
    if command in (Opcode.NOOP, Opcode.VERSION, Opcode.QUIT):
        return extlen == 0 and keylen == 0 and bodylen == 0
    if command is Opcode.FLUSH:
        return keylen == 0 and bodylen == extlen and extlen in (0, 4)
    if command is Opcode.STAT:
        return extlen == 0
    # touch and the get-and-touch commands
    return extlen == 4 and keylen != 0
