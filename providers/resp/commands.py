"""The RESP command table and handlers, with Redis 7's replies and error texts.

A handler takes the session and the command's arguments (``argv[0]`` is the
command name) and returns the encoded reply. Arity and authentication are
checked before the handler runs (:meth:`RespSession.execute`), in Redis's
order: unknown command, wrong arity, then NOAUTH.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, NoReturn, Protocol

from providers.kvstore import (
    NO_EXPIRY,
    NO_KEY,
    IntegerOverflow,
    NotAnInteger,
    Store,
    compile_glob,
    parse_int64,
)
from providers.resp import numbers
from providers.resp.parser import RespLimits
from providers.resp.replies import (
    EMPTY_ARRAY,
    EMPTY_BULK,
    OK,
    ONE,
    PONG,
    ZERO,
    bulk,
    bulk_array,
    error,
    integer,
    map_reply,
    set_header,
    verbatim,
)
from wireproto.auth import DEFAULT_USER, AuthSettings

if TYPE_CHECKING:
    from wireproto.session import MessageConsumer, NetworkSender
    from wireproto.stats import ServerStats

__all__ = [
    "COMMANDS",
    "REDIS_VERSION",
    "Client",
    "Command",
    "Handler",
    "ProviderState",
    "command_names",
    "lookup",
    "unknown_command",
]

REDIS_VERSION = b"7.2.4"
"""The Redis version reported by HELLO and INFO (the command set clients may assume)."""


class ProviderState(Protocol):
    """What sessions and handlers use of their provider (a ``RespProvider``)."""

    commands_processed: int

    @property
    def store(self) -> Store:
        """The key-value store."""
        ...

    @property
    def password(self) -> bytes | None:
        """``requirepass``, or None."""
        ...

    @property
    def resp_limits(self) -> RespLimits:
        """The request limits."""
        ...

    @property
    def accelerated(self) -> bool:
        """Whether the hiredis parser is used."""
        ...

    def config(self) -> dict[bytes, bytes]:
        """CONFIG GET's parameters."""
        ...

    def info(self, sections: list[bytes], server_stats: ServerStats | None = None) -> bytes:
        """INFO's text."""
        ...

    def session_closed(self, session: MessageConsumer) -> None:
        """Called once by each session's ``close()``."""
        ...


class Client(Protocol):
    """What handlers use of one connection's session (a ``RespSession``)."""

    closing: bool
    multi: list[list[bytes]] | None
    multi_failed: bool
    name: bytes | None
    room: int
    """Reply bytes the batch may still build (the output limit): checked as replies grow."""

    @property
    def provider(self) -> ProviderState:
        """The provider."""
        ...

    @property
    def store(self) -> Store:
        """The key-value store."""
        ...

    @property
    def sender(self) -> NetworkSender:
        """Where replies go."""
        ...

    @property
    def auth(self) -> AuthSettings:
        """Who may authenticate on this connection."""
        ...

    @property
    def authenticated(self) -> bool:
        """Whether AUTH succeeded (or none is needed)."""
        ...

    @property
    def client_id(self) -> int:
        """CLIENT ID."""
        ...

    @property
    def client_info(self) -> dict[bytes, bytes]:
        """CLIENT SETINFO attributes."""
        ...

    @property
    def resp3(self) -> bool:
        """Whether the connection speaks RESP3."""
        ...

    @property
    def null(self) -> bytes:
        """The null reply of the connection's protocol version."""
        ...

    @property
    def null_array(self) -> bytes:
        """The null array reply of the connection's protocol version."""
        ...

    def authenticate(self) -> None:
        """Mark the connection authenticated."""
        ...

    def set_protocol(self, version: int) -> None:
        """Switch replies to RESP2 or RESP3."""
        ...

    def watch(self, key: bytes) -> None:
        """WATCH ``key``."""
        ...

    def watched_keys_changed(self) -> bool:
        """Whether a WATCHed key was written since WATCH."""
        ...

    def unwatch_all(self) -> None:
        """Forget every WATCHed key."""
        ...

    def execute(self, argv: list[bytes]) -> bytes:
        """Run one command; its encoded reply."""
        ...

    def end_multi(self) -> None:
        """Leave the transaction, dropping (and uncharging) what it queued."""
        ...

    def over_output(self, room: int) -> NoReturn:
        """Stop building: the batch's replies left ``room`` (negative) of the room they had."""
        ...


Handler = Callable[[Client, list[bytes]], bytes]

LLONG_MAX = (1 << 63) - 1
LLONG_MIN = -(1 << 63)
INT_MIN, INT_MAX = -(1 << 31), (1 << 31) - 1

SYNTAX_ERROR = b"-ERR syntax error\r\n"
NOT_INTEGER = b"-ERR value is not an integer or out of range\r\n"
NOT_FLOAT = b"-ERR value is not a valid float\r\n"
NO_SUCH_KEY = b"-ERR no such key\r\n"
NOAUTH = b"-NOAUTH Authentication required.\r\n"
WRONGPASS = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
STRING_TOO_LONG = b"-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"


@dataclass(frozen=True, slots=True)
class Command:
    """One command: its name, Redis arity (negative: at least), handler and metadata."""

    name: str
    arity: int
    handler: Handler
    flags: tuple[str, ...] = ()
    keys: tuple[int, int, int] = (0, 0, 0)
    """First key, last key and step, as COMMAND INFO reports them."""
    subcommands: Mapping[bytes, Command] | None = field(default=None)
    queued: bool = True
    """Whether MULTI queues it (EXEC, DISCARD, MULTI, WATCH and QUIT run at once)."""

    @property
    def no_auth(self) -> bool:
        """Whether the command runs before authentication."""
        return "no_auth" in self.flags


def _arity_error(command: Command) -> bytes:
    return b"-ERR wrong number of arguments for '%s' command\r\n" % command.name.encode()


def _c_string(value: bytes) -> bytes:
    nul = value.find(b"\0")
    return value if nul < 0 else value[:nul]


def unknown_command(argv: list[bytes]) -> bytes:
    """Redis's reply to an unknown command (at most 128 bytes of the arguments shown)."""
    args = b""
    for arg in argv[1:]:
        if len(args) >= 128:
            break
        args += b"'" + _c_string(arg)[: 128 - len(args)] + b"' "
    name = _c_string(argv[0])[:128]
    return error(b"ERR unknown command '%s', with args beginning with: %s" % (name, args))


def _unknown_subcommand(argv: list[bytes]) -> bytes:
    sub = _c_string(argv[1])[:128]
    return error(b"ERR unknown subcommand '%s'. Try %s HELP." % (sub, argv[0].upper()))


def lookup(argv: list[bytes]) -> Command | bytes:
    """The command ``argv`` names, or the error reply when there is none or the arity is off."""
    command = COMMANDS.get(argv[0])
    if command is None:
        command = COMMANDS.get(argv[0].lower())
        if command is None:
            return unknown_command(argv)
    argc = len(argv)
    if command.subcommands is not None and argc > 1:
        sub = command.subcommands.get(argv[1].lower())
        if sub is None:
            return _unknown_subcommand(argv)
        command = sub
    arity = command.arity
    if (arity > 0 and arity != argc) or argc < -arity:
        return _arity_error(command)
    return command


# -- argument parsing -----------------------------------------------------------


def _int(value: bytes, low: int = LLONG_MIN, high: int = LLONG_MAX) -> int | None:
    parsed = parse_int64(value)
    if parsed is None or not low <= parsed <= high:
        return None
    return parsed


def _expire_time_error(name: bytes) -> bytes:
    return b"-ERR invalid expire time in '%s' command\r\n" % name


_NX, _XX, _GET, _KEEPTTL, _PERSIST, _EX, _PX, _EXAT, _PXAT = (1 << bit for bit in range(9))
_SECONDS = _EX | _EXAT
_RELATIVE = _EX | _PX
_ABSOLUTE = _EXAT | _PXAT
_EXPIRY = _SECONDS | _PX | _PXAT
# For each option: the flags that exclude it, and whether it takes a value.
_SET_OPTIONS: dict[bytes, tuple[int, int, bool]] = {
    b"nx": (_NX, _XX, False),
    b"xx": (_XX, _NX, False),
    b"get": (_GET, 0, False),
    b"keepttl": (_KEEPTTL, _PERSIST | _EXPIRY, False),
    b"ex": (_EX, _KEEPTTL | _PERSIST | _EXAT | _PX | _PXAT, True),
    b"px": (_PX, _KEEPTTL | _PERSIST | _EX | _EXAT | _PXAT, True),
    b"exat": (_EXAT, _KEEPTTL | _PERSIST | _EX | _PX | _PXAT, True),
    b"pxat": (_PXAT, _KEEPTTL | _PERSIST | _EX | _EXAT | _PX, True),
}
_GETEX_OPTIONS: dict[bytes, tuple[int, int, bool]] = {
    b"persist": (_PERSIST, _EXPIRY | _KEEPTTL, False),
    **{name: _SET_OPTIONS[name] for name in (b"ex", b"px", b"exat", b"pxat")},
}


def _string_options(
    argv: list[bytes], start: int, table: dict[bytes, tuple[int, int, bool]]
) -> tuple[int, bytes | None] | None:
    """Redis's ``parseExtendedStringArgumentsOrReply``: (flags, expire argument) or None."""
    flags = 0
    expire: bytes | None = None
    j = start
    last = len(argv) - 1
    while j <= last:
        option = table.get(argv[j].lower())
        if option is None:
            return None
        flag, excluded, takes_value = option
        if flags & excluded or (takes_value and j == last):
            return None
        flags |= flag
        if takes_value:
            j += 1
            expire = argv[j]
        j += 1
    return flags, expire


def _expire_ms(s: Client, expire: bytes, flags: int, name: bytes) -> int | bytes:
    """Redis's ``getExpireMillisecondsOrReply``: unix ms, or an error reply."""
    value = parse_int64(expire)
    if value is None:
        return NOT_INTEGER
    if value <= 0 or (flags & _SECONDS and value > LLONG_MAX // 1000):
        return _expire_time_error(name)
    if flags & _SECONDS:
        value *= 1000
    if flags & _RELATIVE:
        value += s.store.clock()
    if value > LLONG_MAX:
        return _expire_time_error(name)
    return value


# -- connection -----------------------------------------------------------------


def _ping(s: Client, argv: list[bytes]) -> bytes:
    if len(argv) > 2:
        return _arity_error(COMMANDS[b"ping"])
    return PONG if len(argv) == 1 else bulk(argv[1])


def _echo(s: Client, argv: list[bytes]) -> bytes:
    return bulk(argv[1])


def _quit(s: Client, argv: list[bytes]) -> bytes:
    s.closing = True
    return OK


def _select(s: Client, argv: list[bytes]) -> bytes:
    index = parse_int64(argv[1])
    if index is None:
        return NOT_INTEGER
    if not INT_MIN <= index <= INT_MAX:
        return b"-ERR value is out of range, value must between %d and %d\r\n" % (INT_MIN, INT_MAX)
    return OK if index == 0 else b"-ERR DB index is out of range\r\n"


def _auth(s: Client, argv: list[bytes]) -> bytes:
    if len(argv) > 3:
        return SYNTAX_ERROR
    if len(argv) == 2:
        if not s.auth.required:
            return (
                b"-ERR AUTH <password> called without any password configured for the "
                b"default user. Are you sure your configuration is correct?\r\n"
            )
        user, password = s.auth.username, argv[1]
    else:
        user, password = argv[1], argv[2]
    if not _credentials_ok(s, user, password):
        return WRONGPASS
    s.authenticate()
    return OK


def _credentials_ok(s: Client, user: bytes, password: bytes) -> bool:
    auth = s.auth
    if not auth.required:  # Redis's default user then takes any password ("nopass")
        return user == DEFAULT_USER
    return auth.check(user, password)


_NAME_ERROR = b"Client names cannot contain spaces, newlines or special characters."


def _valid_attribute(value: bytes) -> bool:
    return all(33 <= byte <= 126 for byte in value)


def _hello(s: Client, argv: list[bytes]) -> bytes:
    version = 0
    j = 1
    if len(argv) >= 2:
        parsed = parse_int64(argv[1])
        if parsed is None:
            return b"-ERR Protocol version is not an integer or out of range\r\n"
        if not 2 <= parsed <= 3:
            return b"-NOPROTO unsupported protocol version\r\n"
        version = parsed
        j = 2
    credentials: tuple[bytes, bytes] | None = None
    name: bytes | None = None
    while j < len(argv):
        more = len(argv) - 1 - j
        option = argv[j].lower()
        if option == b"auth" and more >= 2:
            credentials = (argv[j + 1], argv[j + 2])
            j += 3
        elif option == b"setname" and more >= 1:
            name = argv[j + 1]
            if not _valid_attribute(name):
                return error(b"ERR " + _NAME_ERROR)
            j += 2
        else:
            return error(b"ERR Syntax error in HELLO option '%s'" % _c_string(argv[j]))
    if credentials is not None:
        if not _credentials_ok(s, *credentials):
            return WRONGPASS
        s.authenticate()
    if not s.authenticated:
        return (
            b"-NOAUTH HELLO must be called with the client already authenticated, "
            b"otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
            b"authenticate the client and select the RESP protocol version at the same time\r\n"
        )
    if name is not None:
        s.name = name or None
    if version:
        s.set_protocol(version)
    return map_reply(
        [
            (bulk(b"server"), bulk(b"redis")),
            (bulk(b"version"), bulk(REDIS_VERSION)),
            (bulk(b"proto"), integer(3 if s.resp3 else 2)),
            (bulk(b"id"), integer(s.client_id)),
            (bulk(b"mode"), bulk(b"standalone")),
            (bulk(b"role"), bulk(b"master")),
            (bulk(b"modules"), EMPTY_ARRAY),
        ],
        s.resp3,
    )


def _client_setname(s: Client, argv: list[bytes]) -> bytes:
    if not _valid_attribute(argv[2]):
        return error(b"ERR " + _NAME_ERROR)
    s.name = argv[2] or None
    return OK


def _client_getname(s: Client, argv: list[bytes]) -> bytes:
    return s.null if s.name is None else bulk(s.name)


def _client_id(s: Client, argv: list[bytes]) -> bytes:
    return integer(s.client_id)


def _client_setinfo(s: Client, argv: list[bytes]) -> bytes:
    attribute = argv[2].lower()
    if attribute not in (b"lib-name", b"lib-ver"):
        return error(b"ERR Unrecognized option '%s'" % _c_string(argv[2]))
    if not _valid_attribute(argv[3]):
        return error(
            b"ERR %s cannot contain spaces, newlines or special characters." % _c_string(argv[2])
        )
    s.client_info[attribute] = argv[3]
    return OK


def _command_entry(s: Client, command: Command) -> bytes:
    flags = command.flags
    subcommands = [] if command.subcommands is None else list(command.subcommands.values())
    first, last, step = command.keys
    return b"".join(
        [
            b"*10\r\n",
            bulk(command.name.encode()),
            integer(command.arity),
            set_header(len(flags), s.resp3),
            *(b"+%s\r\n" % flag.encode() for flag in flags),
            integer(first),
            integer(last),
            integer(step),
            set_header(0, s.resp3),
            EMPTY_ARRAY,
            EMPTY_ARRAY,
            b"*%d\r\n" % len(subcommands),
            *(_command_entry(s, sub) for sub in subcommands),
        ]
    )


def _command(s: Client, argv: list[bytes]) -> bytes:
    entries = [_command_entry(s, command) for command in _TOP_LEVEL]
    return b"*%d\r\n" % len(entries) + b"".join(entries)


def _command_count(s: Client, argv: list[bytes]) -> bytes:
    return integer(len(_TOP_LEVEL))


def _command_info(s: Client, argv: list[bytes]) -> bytes:
    if len(argv) == 2:
        return _command(s, argv)
    entries = []
    for name in argv[2:]:
        found = _find_command(name)
        entries.append(s.null if found is None else _command_entry(s, found))
    return b"*%d\r\n" % len(entries) + b"".join(entries)


def _find_command(name: bytes) -> Command | None:
    """A command by its full name (``get``, ``client|setname``), any case."""
    base, _, sub = name.lower().partition(b"|")
    command = COMMANDS.get(base)
    if command is None or not sub:
        return command
    return None if command.subcommands is None else command.subcommands.get(sub)


def _command_docs(s: Client, argv: list[bytes]) -> bytes:
    return map_reply([], s.resp3)


def _command_list(s: Client, argv: list[bytes]) -> bytes:
    if len(argv) != 2:
        return SYNTAX_ERROR
    return bulk_array((command.name.encode() for command in _TOP_LEVEL), s.null)


def _config_get(s: Client, argv: list[bytes]) -> bytes:
    parameters = s.provider.config()
    found: dict[bytes, bytes] = {}
    for pattern in argv[2:]:
        match = compile_glob(pattern.lower())
        for name, value in parameters.items():
            if name not in found and match(name):
                found[name] = value
    return map_reply([(bulk(name), bulk(value)) for name, value in found.items()], s.resp3)


def _info(s: Client, argv: list[bytes]) -> bytes:
    snapshot = s.sender.get_extra_info("server_stats")
    stats = snapshot() if callable(snapshot) else None
    return verbatim(s.provider.info([arg.lower() for arg in argv[1:]], stats), s.resp3)


def _time(s: Client, argv: list[bytes]) -> bytes:
    now = time.time_ns() // 1000
    return bulk_array((b"%d" % (now // 1_000_000), b"%d" % (now % 1_000_000)), s.null)


# -- transactions ---------------------------------------------------------------


def _multi(s: Client, argv: list[bytes]) -> bytes:
    if s.multi is not None:
        return b"-ERR MULTI calls can not be nested\r\n"
    s.multi = []
    s.multi_failed = False
    return OK


def _exec(s: Client, argv: list[bytes]) -> bytes:
    queued = s.multi
    if queued is None:
        return b"-ERR EXEC without MULTI\r\n"
    failed = s.multi_failed
    s.end_multi()
    changed = s.watched_keys_changed()
    s.unwatch_all()
    if failed:
        return b"-EXECABORT Transaction discarded because of previous errors.\r\n"
    if changed:
        return s.null_array
    replies = []
    room = s.room
    for command in queued:  # checked as it grows: a transaction of GETs is an MGET
        reply = s.execute(command)
        room -= len(reply)
        if room < 0:
            s.over_output(room)
        replies.append(reply)
    return b"*%d\r\n" % len(replies) + b"".join(replies)


def _discard(s: Client, argv: list[bytes]) -> bytes:
    if s.multi is None:
        return b"-ERR DISCARD without MULTI\r\n"
    s.end_multi()
    s.unwatch_all()
    return OK


def _watch(s: Client, argv: list[bytes]) -> bytes:
    if s.multi is not None:
        return b"-ERR WATCH inside MULTI is not allowed\r\n"
    for key in argv[1:]:
        s.watch(key)
    return OK


def _unwatch(s: Client, argv: list[bytes]) -> bytes:
    s.unwatch_all()
    return OK


# -- keyspace -----------------------------------------------------------------


def _dbsize(s: Client, argv: list[bytes]) -> bytes:
    return integer(len(s.store))


def _flush(s: Client, argv: list[bytes]) -> bytes:
    if len(argv) == 1 or (len(argv) == 2 and argv[1].lower() in (b"sync", b"async")):
        s.store.flush()
        return OK
    return SYNTAX_ERROR


def _del(s: Client, argv: list[bytes]) -> bytes:
    delete = s.store.delete
    return integer(sum(1 for key in argv[1:] if delete(key)))


def _exists(s: Client, argv: list[bytes]) -> bytes:
    exists = s.store.exists
    return integer(sum(1 for key in argv[1:] if exists(key)))


def _type(s: Client, argv: list[bytes]) -> bytes:
    return b"+string\r\n" if s.store.exists(argv[1]) else b"+none\r\n"


def _keys(s: Client, argv: list[bytes]) -> bytes:
    return bulk_array(s.store.keys(argv[1]), s.null)


_STRTOUL = re.compile(rb"([+-]?)([0-9]+)")


def _cursor(text: bytes) -> int | None:
    """Redis's SCAN cursor parse: ``strtoul`` without leading space or trailing bytes.

    Like C, ``-N`` wraps around to ``2**64 - N`` and an empty string is 0.
    """
    text = _c_string(text)
    if not text:
        return 0
    match = _STRTOUL.fullmatch(text)
    if match is None:
        return None
    number = int(match.group(2))
    if number >= 1 << 64:
        return None  # ERANGE
    return (-number) % (1 << 64) if match.group(1) == b"-" else number


def _scan(s: Client, argv: list[bytes]) -> bytes:
    cursor = _cursor(argv[1])
    if cursor is None:
        return b"-ERR invalid cursor\r\n"
    count = 10
    pattern: bytes | None = None
    only_strings = True
    j = 2
    while j < len(argv):
        option = argv[j].lower()
        if j + 1 >= len(argv):
            return SYNTAX_ERROR
        if option == b"count":
            parsed = _int(argv[j + 1])
            if parsed is None:
                return NOT_INTEGER
            if parsed < 1:
                return SYNTAX_ERROR
            count = parsed
        elif option == b"match":
            pattern = argv[j + 1]
        elif option == b"type":
            only_strings = argv[j + 1].lower() == b"string"
        else:
            return SYNTAX_ERROR
        j += 2
    next_cursor, keys = s.store.scan(cursor, count, pattern)
    if not only_strings:
        keys = []
    return b"*2\r\n" + bulk(b"%d" % next_cursor) + bulk_array(keys, s.null)


def _rename(s: Client, argv: list[bytes]) -> bytes:
    if not s.store.rename(argv[1], argv[2]):
        return NO_SUCH_KEY
    return OK


def _renamenx(s: Client, argv: list[bytes]) -> bytes:
    store = s.store
    if not store.exists(argv[1]):
        return NO_SUCH_KEY
    if argv[1] == argv[2] or store.exists(argv[2]):
        return ZERO
    store.rename(argv[1], argv[2])
    return ONE


def _randomkey(s: Client, argv: list[bytes]) -> bytes:
    key = s.store.random_key()
    return s.null if key is None else bulk(key)


# -- expiry -------------------------------------------------------------------

_C_LLONG_MIN_DIV_1000 = -(-LLONG_MIN // 1000)  # C division truncates toward zero
_EXPIRE_NX, _EXPIRE_XX, _EXPIRE_GT, _EXPIRE_LT = 1, 2, 4, 8
_EXPIRE_OPTIONS = {b"nx": _EXPIRE_NX, b"xx": _EXPIRE_XX, b"gt": _EXPIRE_GT, b"lt": _EXPIRE_LT}


def _expire_generic(s: Client, argv: list[bytes], relative: bool, unit: int) -> bytes:
    flags = 0
    for option in argv[3:]:
        flag = _EXPIRE_OPTIONS.get(option.lower())
        if flag is None:
            return error(b"ERR Unsupported option %s" % _c_string(option))
        flags |= flag
    if flags & _EXPIRE_NX and flags & (_EXPIRE_XX | _EXPIRE_GT | _EXPIRE_LT):
        return b"-ERR NX and XX, GT or LT options at the same time are not compatible\r\n"
    if flags & _EXPIRE_GT and flags & _EXPIRE_LT:
        return b"-ERR GT and LT options at the same time are not compatible\r\n"
    when = parse_int64(argv[2])
    if when is None:
        return NOT_INTEGER
    name = argv[0].lower()
    if unit == 1000 and not _C_LLONG_MIN_DIV_1000 <= when <= LLONG_MAX // 1000:
        return _expire_time_error(name)
    when *= unit
    base = s.store.clock() if relative else 0
    if when > LLONG_MAX - base:
        return _expire_time_error(name)
    when += base
    store = s.store
    current = store.expire_time(argv[1])
    if current == NO_KEY:
        return ZERO
    if flags:
        unset = current == NO_EXPIRY
        if (
            (flags & _EXPIRE_NX and not unset)
            or (flags & _EXPIRE_XX and unset)
            or (flags & _EXPIRE_GT and (unset or when <= current))
            or (flags & _EXPIRE_LT and not unset and when >= current)
        ):
            return ZERO
    store.expire_at(argv[1], when)
    return ONE


def _expire(s: Client, argv: list[bytes]) -> bytes:
    return _expire_generic(s, argv, True, 1000)


def _pexpire(s: Client, argv: list[bytes]) -> bytes:
    return _expire_generic(s, argv, True, 1)


def _expireat(s: Client, argv: list[bytes]) -> bytes:
    return _expire_generic(s, argv, False, 1000)


def _pexpireat(s: Client, argv: list[bytes]) -> bytes:
    return _expire_generic(s, argv, False, 1)


def _ttl_generic(s: Client, key: bytes, milliseconds: bool, absolute: bool) -> bytes:
    when = s.store.expire_time(key)
    if when < 0:
        return integer(when)
    ttl = max(when if absolute else when - s.store.clock(), 0)
    return integer(ttl if milliseconds else (ttl + 500) // 1000)


def _ttl(s: Client, argv: list[bytes]) -> bytes:
    return _ttl_generic(s, argv[1], False, False)


def _pttl(s: Client, argv: list[bytes]) -> bytes:
    return _ttl_generic(s, argv[1], True, False)


def _expiretime(s: Client, argv: list[bytes]) -> bytes:
    return _ttl_generic(s, argv[1], False, True)


def _pexpiretime(s: Client, argv: list[bytes]) -> bytes:
    return _ttl_generic(s, argv[1], True, True)


def _persist(s: Client, argv: list[bytes]) -> bytes:
    return ONE if s.store.persist(argv[1]) else ZERO


# -- strings ------------------------------------------------------------------


def _get(s: Client, argv: list[bytes]) -> bytes:
    value = s.store.get(argv[1])
    if value is None:
        return s.null
    return b"$%d\r\n%s\r\n" % (len(value), value)


def _set_generic(
    s: Client, argv: list[bytes], flags: int, expire: bytes | None, name: bytes
) -> bytes:
    """Redis's ``setGenericCommand`` for SET, SETEX and PSETEX (argv: name, key, value)."""
    when: int | None = None
    if expire is not None:
        checked = _expire_ms(s, expire, flags, name)
        if isinstance(checked, bytes):
            return checked
        when = checked
    store = s.store
    key = argv[1]
    old = store.get(key) if flags & (_GET | _NX | _XX) else None
    reply = (s.null if old is None else bulk(old)) if flags & _GET else OK
    if (flags & _NX and old is not None) or (flags & _XX and old is None):
        return reply if flags & _GET else s.null
    store.set(key, argv[2], expire_at=when, keep_ttl=bool(flags & _KEEPTTL))
    return reply


def _set(s: Client, argv: list[bytes]) -> bytes:
    if len(argv) == 3:
        s.store.put(argv[1], argv[2])
        return OK
    options = _string_options(argv, 3, _SET_OPTIONS)
    if options is None:
        return SYNTAX_ERROR
    return _set_generic(s, argv, options[0], options[1], b"set")


def _setex(s: Client, argv: list[bytes]) -> bytes:
    return _set_generic(s, [argv[0], argv[1], argv[3]], _EX, argv[2], b"setex")


def _psetex(s: Client, argv: list[bytes]) -> bytes:
    return _set_generic(s, [argv[0], argv[1], argv[3]], _PX, argv[2], b"psetex")


def _setnx(s: Client, argv: list[bytes]) -> bytes:
    store = s.store
    if store.exists(argv[1]):
        return ZERO
    store.set(argv[1], argv[2])
    return ONE


def _getset(s: Client, argv: list[bytes]) -> bytes:
    old = s.store.get(argv[1])
    s.store.set(argv[1], argv[2])
    return s.null if old is None else bulk(old)


def _getdel(s: Client, argv: list[bytes]) -> bytes:
    value = s.store.pop(argv[1])
    return s.null if value is None else bulk(value)


def _getex(s: Client, argv: list[bytes]) -> bytes:
    options = _string_options(argv, 2, _GETEX_OPTIONS)
    if options is None:
        return SYNTAX_ERROR
    flags, expire = options
    store = s.store
    key = argv[1]
    value = store.get(key)
    if value is None:
        return s.null
    if expire is not None:
        when = _expire_ms(s, expire, flags, b"getex")
        if isinstance(when, bytes):
            return when
        store.expire_at(key, when)
    elif flags & _PERSIST:
        store.persist(key)
    return bulk(value)


def _mget(s: Client, argv: list[bytes]) -> bytes:
    get = s.store.get
    null = s.null
    parts = [b"*%d\r\n" % (len(argv) - 1)]
    room = s.room
    for key in argv[1:]:  # checked as it grows: 100 KB x 20,000 keys must not be built
        value = get(key)
        part = null if value is None else b"$%d\r\n%s\r\n" % (len(value), value)
        room -= len(part)
        if room < 0:
            s.over_output(room)
        parts.append(part)
    return b"".join(parts)


def _mset(s: Client, argv: list[bytes]) -> bytes:
    if len(argv) % 2 == 0:
        return _arity_error(COMMANDS[b"mset"])
    store_set = s.store.set
    for j in range(1, len(argv), 2):
        store_set(argv[j], argv[j + 1])
    return OK


def _msetnx(s: Client, argv: list[bytes]) -> bytes:
    if len(argv) % 2 == 0:
        return _arity_error(COMMANDS[b"msetnx"])
    store = s.store
    if any(store.exists(argv[j]) for j in range(1, len(argv), 2)):
        return ZERO
    for j in range(1, len(argv), 2):
        store.set(argv[j], argv[j + 1])
    return ONE


def _incr_by(s: Client, key: bytes, delta: int) -> bytes:
    try:
        return b":%d\r\n" % s.store.incr_by(key, delta)
    except NotAnInteger:
        return NOT_INTEGER
    except IntegerOverflow:
        return b"-ERR increment or decrement would overflow\r\n"


def _incr(s: Client, argv: list[bytes]) -> bytes:
    return _incr_by(s, argv[1], 1)


def _decr(s: Client, argv: list[bytes]) -> bytes:
    return _incr_by(s, argv[1], -1)


def _incrby(s: Client, argv: list[bytes]) -> bytes:
    delta = parse_int64(argv[2])
    return NOT_INTEGER if delta is None else _incr_by(s, argv[1], delta)


def _decrby(s: Client, argv: list[bytes]) -> bytes:
    delta = parse_int64(argv[2])
    if delta is None:
        return NOT_INTEGER
    if delta == LLONG_MIN:
        return b"-ERR decrement would overflow\r\n"
    return _incr_by(s, argv[1], -delta)


def _incrbyfloat(s: Client, argv: list[bytes]) -> bytes:
    store = s.store
    old = store.get(argv[1])
    current = numbers.parse_long_double(old) if old is not None else Fraction(0)
    if current is None:
        return NOT_FLOAT
    increment = numbers.parse_long_double(argv[2])
    if increment is None:
        return NOT_FLOAT
    result = numbers.add_long_doubles(current, increment)
    if result is None:
        return b"-ERR increment would produce NaN or Infinity\r\n"
    text = numbers.format_long_double(result)
    if old is None or not store.update(argv[1], text):  # update keeps the expiry and flags
        store.set(argv[1], text)
    return bulk(text)


def _too_long(s: Client, size: int, extra: int) -> bool:
    return size + extra > s.provider.resp_limits.max_bulk_len


def _append(s: Client, argv: list[bytes]) -> bytes:
    store = s.store
    size = store.length(argv[1])
    if size is not None and _too_long(s, size, len(argv[2])):
        return STRING_TOO_LONG
    return integer(store.append(argv[1], argv[2]))


def _strlen(s: Client, argv: list[bytes]) -> bytes:
    size = s.store.length(argv[1])  # not get(): that would copy a value APPEND grows
    return integer(0 if size is None else size)


def _getrange(s: Client, argv: list[bytes]) -> bytes:
    start = parse_int64(argv[2])
    end = parse_int64(argv[3])
    if start is None or end is None:
        return NOT_INTEGER
    store = s.store
    size = store.length(argv[1])
    if size is None:
        return EMPTY_BULK
    if start < 0 and end < 0 and start > end:
        return EMPTY_BULK
    if start < 0:
        start = max(size + start, 0)
    if end < 0:
        end = max(size + end, 0)
    end = min(end, size - 1)
    if start > end or size == 0:
        return EMPTY_BULK
    return bulk(store.get_range(argv[1], start, end + 1) or b"")


def _setrange(s: Client, argv: list[bytes]) -> bytes:
    offset = parse_int64(argv[2])
    if offset is None:
        return NOT_INTEGER
    if offset < 0:
        return b"-ERR offset is out of range\r\n"
    store = s.store
    chunk = argv[3]
    if not chunk:
        size = store.length(argv[1])
        return integer(0 if size is None else size)
    if _too_long(s, offset, len(chunk)):
        return STRING_TOO_LONG
    return integer(store.set_range(argv[1], offset, chunk))


# -- the table ----------------------------------------------------------------


def _container(name: str, arity: int, flags: tuple[str, ...], *subs: Command) -> Command:
    def no_subcommand(s: Client, argv: list[bytes]) -> bytes:
        return _unknown_subcommand(argv)  # pragma: no cover - lookup() routes around it

    table = {sub.name.split("|")[1].encode(): sub for sub in subs}
    return Command(name, arity, no_subcommand, flags, subcommands=table)


_W = ("write",)
_WD = ("write", "denyoom")
_R = ("readonly",)
_RF = ("readonly", "fast")
_WF = ("write", "fast")
_WDF = ("write", "denyoom", "fast")
_CONN = ("fast", "stale", "loading")
_ONE_KEY = (1, 1, 1)
_ALL_KEYS = (1, -1, 1)

_COMMAND_LIST = [
    Command("ping", -1, _ping, _CONN),
    Command("echo", 2, _echo, _CONN),
    Command("quit", -1, _quit, (*_CONN, "no_auth"), queued=False),
    Command("multi", 1, _multi, ("noscript", "loading", "stale", "fast"), queued=False),
    Command("exec", 1, _exec, ("noscript", "loading", "stale"), queued=False),
    Command("discard", 1, _discard, ("noscript", "loading", "stale", "fast"), queued=False),
    Command(
        "watch", -2, _watch, ("noscript", "loading", "stale", "fast"), (1, -1, 1), queued=False
    ),
    Command("unwatch", 1, _unwatch, ("noscript", "loading", "stale", "fast")),
    Command("select", 2, _select, _CONN),
    Command("auth", -2, _auth, (*_CONN, "no_auth")),
    Command("hello", -1, _hello, (*_CONN, "no_auth")),
    Command("time", 1, _time, _CONN),
    _container(
        "client",
        -2,
        (),
        Command("client|setname", 3, _client_setname, _CONN),
        Command("client|getname", 2, _client_getname, _CONN),
        Command("client|id", 2, _client_id, _CONN),
        Command("client|setinfo", 4, _client_setinfo, _CONN),
    ),
    Command("info", -1, _info, ("loading", "stale")),
    Command("dbsize", 1, _dbsize, _RF),
    Command("flushdb", -1, _flush, _W),
    Command("flushall", -1, _flush, _W),
    Command("get", 2, _get, _RF, _ONE_KEY),
    Command("set", -3, _set, _WD, _ONE_KEY),
    Command("getdel", 2, _getdel, _WF, _ONE_KEY),
    Command("getex", -2, _getex, _WF, _ONE_KEY),
    Command("getset", 3, _getset, _WDF, _ONE_KEY),
    Command("setnx", 3, _setnx, _WDF, _ONE_KEY),
    Command("setex", 4, _setex, _WD, _ONE_KEY),
    Command("psetex", 4, _psetex, _WD, _ONE_KEY),
    Command("mget", -2, _mget, _RF, _ALL_KEYS),
    Command("mset", -3, _mset, _WD, (1, -1, 2)),
    Command("msetnx", -3, _msetnx, _WD, (1, -1, 2)),
    Command("del", -2, _del, _W, _ALL_KEYS),
    Command("unlink", -2, _del, _WF, _ALL_KEYS),
    Command("exists", -2, _exists, _RF, _ALL_KEYS),
    Command("type", 2, _type, _RF, _ONE_KEY),
    Command("expire", -3, _expire, _WF, _ONE_KEY),
    Command("pexpire", -3, _pexpire, _WF, _ONE_KEY),
    Command("expireat", -3, _expireat, _WF, _ONE_KEY),
    Command("pexpireat", -3, _pexpireat, _WF, _ONE_KEY),
    Command("expiretime", 2, _expiretime, _RF, _ONE_KEY),
    Command("pexpiretime", 2, _pexpiretime, _RF, _ONE_KEY),
    Command("ttl", 2, _ttl, _RF, _ONE_KEY),
    Command("pttl", 2, _pttl, _RF, _ONE_KEY),
    Command("persist", 2, _persist, _WF, _ONE_KEY),
    Command("incr", 2, _incr, _WDF, _ONE_KEY),
    Command("decr", 2, _decr, _WDF, _ONE_KEY),
    Command("incrby", 3, _incrby, _WDF, _ONE_KEY),
    Command("decrby", 3, _decrby, _WDF, _ONE_KEY),
    Command("incrbyfloat", 3, _incrbyfloat, _WDF, _ONE_KEY),
    Command("append", 3, _append, _WDF, _ONE_KEY),
    Command("strlen", 2, _strlen, _RF, _ONE_KEY),
    Command("getrange", 4, _getrange, _R, _ONE_KEY),
    Command("setrange", 4, _setrange, _WD, _ONE_KEY),
    Command("keys", 2, _keys, _R),
    Command("scan", -2, _scan, _R),
    Command("rename", 3, _rename, _W, (1, 2, 1)),
    Command("renamenx", 3, _renamenx, _WF, (1, 2, 1)),
    Command("randomkey", 1, _randomkey, _R),
]
_COMMAND_LIST.append(
    Command(
        "command",
        -1,
        _command,  # COMMAND alone lists every command
        ("loading", "stale"),
        subcommands={
            sub.name.split("|")[1].encode(): sub
            for sub in (
                Command("command|count", 2, _command_count, ("loading", "stale")),
                Command("command|docs", -2, _command_docs, ("loading", "stale")),
                Command("command|info", -2, _command_info, ("loading", "stale")),
                Command("command|list", -2, _command_list, ("loading", "stale")),
            )
        },
    )
)
_COMMAND_LIST.append(
    _container(
        "config",
        -2,
        (),
        Command("config|get", -3, _config_get, ("loading", "stale")),
    )
)


def _build_table() -> dict[bytes, Command]:
    table: dict[bytes, Command] = {}
    for command in _COMMAND_LIST:
        name = command.name.encode()
        table[name] = command
        table[name.upper()] = command
    return table


COMMANDS: Mapping[bytes, Command] = _build_table()
"""Commands by name (lower and upper case; :func:`lookup` folds other cases)."""
_TOP_LEVEL = tuple(_COMMAND_LIST)


def command_names() -> frozenset[bytes]:
    """Lower-case names of the top-level commands (the inline detector's vocabulary)."""
    return frozenset(command.name.encode() for command in _TOP_LEVEL)
