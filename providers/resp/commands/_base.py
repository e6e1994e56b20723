"""What every RESP command family shares: the handler's view of its session and provider,
the :class:`Command` record, Redis's common error replies and argument checks."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, NoReturn, Protocol, TypeVar
from zlib import crc32

from wireproto import AuthSettings
from wireproto._users import User, UserDirectory

from ...kvstore import Databases, Store, compile_glob, parse_int64
from ..limits import RespLimits
from ..replies import bulk, bulk_strings, error

if TYPE_CHECKING:
    from wireproto import MessageConsumer, NetworkSender, ServerStats

    from ._hub import PubSubHub, Subscriptions
    from ._slowlog import SlowLog

__all__ = [
    "DB_OUT_OF_RANGE",
    "EMPTY_SCAN",
    "INT_MAX",
    "INT_MIN",
    "INVALID_CURSOR",
    "LLONG_MAX",
    "LLONG_MIN",
    "NOAUTH",
    "NOT_FLOAT",
    "NOT_INTEGER",
    "NO_SUCH_KEY",
    "REDIS_VERSION",
    "SAME_OBJECT",
    "STRING_TOO_LONG",
    "SYNTAX_ERROR",
    "WRONGPASS",
    "WRONGTYPE",
    "Blocked",
    "Client",
    "Command",
    "Handler",
    "ProviderState",
    "Serve",
    "Tally",
    "Tracker",
    "arity_error",
    "bounded_int",
    "c_string",
    "container",
    "db_index",
    "expire_time_error",
    "help_reply",
    "int32",
    "random_count",
    "scan_cursor",
    "scan_options",
    "scan_reply",
    "scan_slice",
    "scan_start",
    "scan_step",
    "unknown_command",
    "unknown_subcommand",
]

REDIS_VERSION = b"7.0.15"
"""The Redis version reported by HELLO and INFO (the command set clients may assume)."""


class Tally:
    """A count the provider shares with its sessions (compiled, a native attribute: a
    session adds to it once per batch without an attribute lookup by name)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


class ProviderState(Protocol):
    """What sessions and handlers use of their provider (a ``RespProvider``)."""

    processed: Tally
    """Commands run (INFO's ``total_commands_processed``)."""

    @property
    def pubsub(self) -> PubSubHub:
        """Every connection's pub/sub subscriptions."""
        ...

    @property
    def store(self) -> Store:
        """The key-value store."""
        ...

    @property
    def clients(self) -> Mapping[int, Client]:
        """The open connections by CLIENT ID."""
        ...

    @property
    def databases(self) -> Databases:
        """The numbered databases (SELECT); database 0 is :attr:`store`."""
        ...

    @property
    def password(self) -> bytes | None:
        """``requirepass``, or None."""
        ...

    @property
    def user_directories(self) -> dict[AuthSettings, UserDirectory]:
        """The users of each listener setting, for sessions outside a ``Server`` (a
        listener keeps its own: ``sender.listener.users``)."""
        ...

    @property
    def resp_limits(self) -> RespLimits:
        """The request limits."""
        ...

    @property
    def accelerated(self) -> bool:
        """Whether the hiredis parser is used."""
        ...

    @property
    def max_clients(self) -> int:
        """``maxclients``: the connections the listener admits."""
        ...

    def set_max_clients(self, value: int) -> None:
        """CONFIG SET maxclients (``OpenFilesLimit`` when the process cannot hold that many)."""
        ...

    def set_resp_limits(self, limits: RespLimits) -> None:
        """New request limits for new and open connections."""
        ...

    timeout: int
    """CONFIG ``timeout``: seconds a client may stay idle (0: forever)."""

    @property
    def database_count(self) -> int:
        """``databases``: how many numbered databases SELECT may choose."""
        ...

    @property
    def config_values(self) -> dict[bytes, bytes]:
        """CONFIG parameters set at run time that only this record keeps."""
        ...

    @property
    def slowlog(self) -> SlowLog:
        """SLOWLOG's entries and settings."""
        ...

    active_expire: bool
    hz: int
    """Active-expiry rounds per second (CONFIG ``hz``)."""

    @property
    def monitors(self) -> dict[Client, None]:
        """The MONITOR connections."""
        ...

    """Whether the maintenance rounds expire keys (DEBUG SET-ACTIVE-EXPIRE)."""

    def command_list(self) -> Sequence[Command]:
        """Every command and subcommand of the table."""
        ...

    def reset_stats(self) -> None:
        """CONFIG RESETSTAT: INFO's counters start again."""
        ...

    def info(
        self, sections: list[bytes], server_stats: ServerStats | None = None, port: int = 0
    ) -> bytes:
        """INFO's text (``port``: the one the asking client connected to)."""
        ...

    def session_closed(self, session: MessageConsumer) -> None:
        """Called once by each session's ``close()``."""
        ...


class Client(Protocol):
    """What handlers use of one connection's session (a ``RespSession``)."""

    closing: bool
    db: int
    """The SELECTed database's number."""
    multi: list[list[bytes]] | None
    multi_failed: bool
    name: bytes | None
    created: float
    """When the connection was made (``time.monotonic()``)."""
    last_active: float
    """When its last read batch ran (``time.monotonic()``)."""
    last_argv: list[bytes] | None
    """Its last command's arguments (CLIENT LIST's ``cmd``)."""
    no_evict: bool
    no_touch: bool
    subscriptions: Subscriptions | None
    """Pub/sub subscriptions (None: none, the connection is not in pub/sub mode)."""
    room: int
    """Reply bytes the batch may still build (the output limit): checked as replies grow."""
    blocked: Blocked | None
    """What the client waits on (BLPOP...), or None; the session consumes nothing meanwhile."""
    deny_blocking: bool
    """Set while EXEC runs: blocking commands answer at once (Redis's CLIENT_DENY_BLOCKING)."""
    tracking: Tracker | None
    """CLIENT TRACKING's state while it is on (None: off)."""

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
    def user(self) -> User:
        """The user the connection runs as (ACL)."""
        ...

    @property
    def users(self) -> UserDirectory:
        """The listener's users."""
        ...

    def login(self, user: User) -> None:
        """Run as ``user`` (AUTH succeeded)."""
        ...

    def log_auth_failure(self, command: bytes, username: bytes) -> None:
        """Add a failed AUTH (or HELLO AUTH) as ``username`` to ACL LOG."""
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

    def set_reply_mode(self, mode: bytes) -> None:
        """CLIENT REPLY: ``on``, ``off`` or ``skip`` (this reply and the next one)."""
        ...

    def command_name(self, argv: list[bytes]) -> bytes:
        """The full name (``client|list``) of the command ``argv`` runs, or ``NULL``."""
        ...

    def reset(self) -> None:
        """RESET the connection's state (as a new connection's, authentication included)."""
        ...

    def set_protocol(self, version: int) -> None:
        """Switch replies to RESP2 or RESP3."""
        ...

    def select_db(self, index: int) -> None:
        """Switch to database ``index`` (in range)."""
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


class Tracker(Protocol):
    """What a session calls on its CLIENT TRACKING state (``_tracking.Tracking``)."""

    def run(self, s: Client, command: Command, argv: list[bytes]) -> bytes:
        """Run ``command`` for ``s``; its reply, with ``s``'s own invalidations after it."""
        ...

    def stop(self, s: Client) -> None:
        """Tracking goes off for ``s`` (RESET, or the connection closed)."""
        ...


Serve = Callable[[Store, bytes], "bytes | None"]
"""How a blocked client is served from a key that was written (store, key): its reply,
or None when the key holds nothing for it (another type, or empty): it waits on."""


# Not slots=True: that makes a new class, which mypyc's compiled checks of the session's
# ``blocked: Blocked | None`` would not recognise.
@dataclass(eq=False)
class Blocked:
    """One blocked client (BLPOP...): what it waits on, until when, and how it is served."""

    client: Client
    store: Store
    keys: tuple[bytes, ...]
    deadline: float | None
    """On the connection's clock (seconds); None: forever."""
    serve: Serve
    """Pops for the client from the value at a key; its reply, or None to wait on."""
    timeout_reply: bytes


LLONG_MAX: Final = (1 << 63) - 1
LLONG_MIN: Final = -(1 << 63)
INT_MIN, INT_MAX = -(1 << 31), (1 << 31) - 1

SYNTAX_ERROR: Final = b"-ERR syntax error\r\n"
NOT_INTEGER: Final = b"-ERR value is not an integer or out of range\r\n"
NOT_FLOAT: Final = b"-ERR value is not a valid float\r\n"
NO_SUCH_KEY: Final = b"-ERR no such key\r\n"
NOAUTH: Final = b"-NOAUTH Authentication required.\r\n"
WRONGPASS: Final = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
STRING_TOO_LONG: Final = b"-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"
SAME_OBJECT: Final = b"-ERR source and destination objects are the same\r\n"
DB_OUT_OF_RANGE: Final = b"-ERR DB index is out of range\r\n"
WRONGTYPE: Final = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
"""The reply to a command on a key of another type (the session answers
:class:`~providers.kvstore.WrongType` with it, so handlers may let it propagate)."""


_BOUNDED_BY_ARGUMENTS = frozenset(
    ("set", "setex", "psetex", "getset", "mset", "msetnx", "append", "setrange")
)
"""Commands Redis does not flag ``fast`` whose work is bounded by their own arguments (string
writes): like the fast ones, the slow log times them only below its default threshold."""


@dataclass(frozen=True, slots=True)
class Command:
    """One command: its name, Redis arity (negative: at least), handler and metadata."""

    name: str
    arity: int
    handler: Handler
    flags: tuple[str, ...] = ()
    keys: tuple[int, int, int] = (0, 0, 0)
    """First key, last key and step. A command Redis 7.0 has is described by Redis's own
    key specs instead (``_keyspecs.py``); this describes the others."""
    subcommands: Mapping[bytes, Command] | None = field(default=None)
    queued: bool = True
    """Whether MULTI queues it (EXEC, DISCARD, MULTI, WATCH and QUIT run at once)."""
    acl_categories: tuple[str, ...] = ()
    """ACL categories beyond those Redis derives from the flags and the family (``keyspace``,
    ``dangerous``...); see :func:`providers.resp.commands.meta.categories`."""
    key_flags: tuple[str, ...] | None = None
    """The key spec's flags (``RW``, ``access``, ``update``...) of a command Redis 7.0 lacks;
    None: derived from the flags."""
    tips: tuple[str, ...] = ()
    """COMMAND INFO's tips (``nondeterministic_output``...)."""
    find_keys: Callable[[list[bytes]], list[int]] | None = None
    """Where the keys are in a request, for commands Redis 7.0 lacks whose keys ``keys``
    cannot describe (``numkeys`` arguments): COMMAND GETKEYS uses it."""
    group: str | None = None
    """COMMAND DOCS's group; None: the family, from the handler's module."""
    timed: bool = field(init=False, compare=False, repr=False)
    """Whether the slow log times it at its default threshold (not ``fast``, not
    ``skip_slowlog``, not a string write); derived from the flags and the name."""
    logged: bool = field(init=False, compare=False, repr=False)
    """Whether the slow log may log it at all (not ``skip_slowlog``: EXEC...)."""

    def __post_init__(self) -> None:
        logged = "skip_slowlog" not in self.flags
        timed = logged and "fast" not in self.flags and self.name not in _BOUNDED_BY_ARGUMENTS
        object.__setattr__(self, "logged", logged)
        object.__setattr__(self, "timed", timed)

    @property
    def no_auth(self) -> bool:
        """Whether the command runs before authentication."""
        return "no_auth" in self.flags


def arity_error(name: str) -> bytes:
    """Redis's reply to a command called with the wrong number of arguments."""
    return b"-ERR wrong number of arguments for '%s' command\r\n" % name.encode()


def c_string(value: bytes) -> bytes:
    """``value`` up to its first NUL, as Redis's C strings show it in error replies."""
    nul = value.find(b"\0")
    return value if nul < 0 else value[:nul]


def unknown_command(argv: list[bytes]) -> bytes:
    """Redis's reply to an unknown command (at most 128 bytes of the arguments shown)."""
    args = b""
    for arg in argv[1:]:
        if len(args) >= 128:
            break
        args += b"'" + c_string(arg)[: 128 - len(args)] + b"' "
    name = c_string(argv[0])[:128]
    return error(b"ERR unknown command '%s', with args beginning with: %s" % (name, args))


def unknown_subcommand(argv: list[bytes]) -> bytes:
    """Redis's reply to an unknown subcommand of a container (CLIENT, CONFIG, COMMAND)."""
    sub = c_string(argv[1])[:128]
    return error(b"ERR unknown subcommand '%s'. Try %s HELP." % (sub, argv[0].upper()))


# -- argument parsing -----------------------------------------------------------


def bounded_int(value: bytes, low: int = LLONG_MIN, high: int = LLONG_MAX) -> int | None:
    """``value`` as a 64-bit integer within ``low``..``high``, or None."""
    parsed = parse_int64(value)
    if parsed is None or not low <= parsed <= high:
        return None
    return parsed


def int32(text: bytes, error: bytes | None) -> int | bytes:
    """Redis's ``getIntFromObjectOrReply``: an int, or the error reply (``error`` replaces
    both of its texts when given)."""
    value = parse_int64(text)
    if value is None:
        return NOT_INTEGER if error is None else error
    if not INT_MIN <= value <= INT_MAX:
        if error is not None:
            return error
        return b"-ERR value is out of range, value must between %d and %d\r\n" % (INT_MIN, INT_MAX)
    return value


def db_index(s: Client, text: bytes) -> int | bytes:
    """A database number, or the error reply SELECT, MOVE and COPY give."""
    value = int32(text, None)
    if isinstance(value, int) and not 0 <= value < len(s.provider.databases):
        return DB_OUT_OF_RANGE
    return value


_STRTOUL = re.compile(rb"([+-]?)([0-9]+)")


def scan_cursor(text: bytes) -> int | None:
    """Redis's SCAN cursor parse: ``strtoul`` without leading space or trailing bytes.

    Like C, ``-N`` wraps around to ``2**64 - N`` and an empty string is 0.
    """
    text = c_string(text)
    if not text:
        return 0
    match = _STRTOUL.fullmatch(text)
    if match is None:
        return None
    number = int(match.group(2))
    if number >= 1 << 64:
        return None  # ERANGE
    return (-number) % (1 << 64) if match.group(1) == b"-" else number


INVALID_CURSOR = b"-ERR invalid cursor\r\n"


def scan_options(argv: list[bytes], start: int) -> tuple[int, bytes | None] | bytes:
    """HSCAN, SSCAN and ZSCAN's ``COUNT n`` and ``MATCH pattern`` from ``argv[start:]``:
    (count, pattern or None for everything), or the error reply."""
    count = 10
    pattern: bytes | None = None
    j = start
    while j < len(argv):
        option = argv[j].lower()
        if j + 1 >= len(argv):
            return SYNTAX_ERROR
        if option == b"count":
            parsed = bounded_int(argv[j + 1])
            if parsed is None:
                return NOT_INTEGER
            if parsed < 1:
                return SYNTAX_ERROR
            count = parsed
        elif option == b"match":
            pattern = None if argv[j + 1] == b"*" else argv[j + 1]
        else:
            return SYNTAX_ERROR
        j += 2
    return count, pattern


def scan_slice(members: Iterable[bytes], cursor: int, count: int) -> tuple[int, list[bytes]]:
    """One HSCAN/SSCAN step over a big hash or set: (next cursor, about ``count`` members).

    Members are visited in the order of a stable hash of each (CRC-32), and the
    cursor is the next hash value to visit, so a member present for a whole
    iteration is returned whatever is added or removed meanwhile, as Redis
    promises (members sharing a hash value are returned together).
    """
    ranked = sorted((rank, member) for member in members if (rank := crc32(member) + 1) >= cursor)
    taken = ranked[:count]
    while len(taken) < len(ranked) and ranked[len(taken)][0] == taken[-1][0]:
        taken.append(ranked[len(taken)])
    next_cursor = 0 if len(taken) == len(ranked) else taken[-1][0] + 1
    return next_cursor, [member for _, member in taken]


EMPTY_SCAN: Final = b"*2\r\n$1\r\n0\r\n*0\r\n"
"""HSCAN, SSCAN and ZSCAN's reply for a missing key."""


_Scanned = TypeVar("_Scanned")


def scan_start(
    s: Client, argv: list[bytes], kind: type[_Scanned]
) -> tuple[_Scanned, int, int, bytes | None] | bytes:
    """HSCAN, SSCAN and ZSCAN's arguments, in Redis's order (the cursor, the key, then the
    options): (the value, cursor, count, pattern or None), or the reply (an error, or the
    empty scan of a missing key)."""
    cursor = scan_cursor(argv[2])
    if cursor is None:
        return INVALID_CURSOR
    value = s.store.read_container(argv[1], kind)
    if value is None:
        return EMPTY_SCAN
    options = scan_options(argv, 3)
    if isinstance(options, bytes):
        return options
    return value, cursor, *options


_Hashed = TypeVar("_Hashed", dict[bytes, bytes], set[bytes])


def scan_step(
    s: Client,
    argv: list[bytes],
    kind: type[_Hashed],
    whole: Callable[[_Hashed], list[bytes] | None],
) -> tuple[_Hashed, int, list[bytes]] | bytes:
    """HSCAN/SSCAN up to the reply: (the hash or set, next cursor, its members this call),
    or the reply :func:`scan_start` gives.

    ``whole(value)`` is every member in Redis's order when Redis answers the key's
    small encoding (listpack, intset) in one go, else None: :func:`scan_slice`
    takes ``COUNT`` members. MATCH filters what was taken.
    """
    started = scan_start(s, argv, kind)
    if isinstance(started, bytes):
        return started
    value, cursor, count, pattern = started
    found = whole(value)
    next_cursor = 0
    if found is None:
        next_cursor, found = scan_slice(value, cursor, count)
    if pattern is not None:
        match = compile_glob(pattern)
        found = [member for member in found if match(member)]
    return value, next_cursor, found


def scan_reply(cursor: int, items: list[bytes]) -> bytes:
    """A SCAN-family reply: the next cursor, then ``items`` as bulk strings."""
    return b"*2\r\n" + bulk(b"%d" % cursor) + bulk_strings(items)


_HALF_LLONG: Final = LLONG_MAX // 2  # C's LONG_MAX/2 (and -LONG_MAX/2: truncated, not floored)


def random_count(argv: list[bytes], word: bytes) -> tuple[int, bool] | bytes:
    """HRANDFIELD, ZRANDMEMBER and SRANDMEMBER's ``count [word]`` from ``argv[2:]``.

    ``word`` is ``withvalues`` or ``withscores`` (``b""``: the command has none). Returns
    (count, whether ``word`` was given) or the error reply, checked in Redis's order.
    """
    count = bounded_int(argv[2], -LLONG_MAX, LLONG_MAX)
    if count is None:
        if parse_int64(argv[2]) is None:
            return NOT_INTEGER
        return b"-ERR value is out of range, value must between %d and %d\r\n" % (
            -LLONG_MAX,
            LLONG_MAX,
        )
    given = len(argv) == 4
    if len(argv) > 4 or (given and (not word or argv[3].lower() != word)):
        return SYNTAX_ERROR
    if given and not -_HALF_LLONG <= count <= _HALF_LLONG:
        return b"-ERR value is out of range\r\n"
    return count, given


def expire_time_error(name: bytes) -> bytes:
    """Redis's reply to an expiry time out of range in command ``name``."""
    return b"-ERR invalid expire time in '%s' command\r\n" % name


def container(name: str, arity: int, flags: tuple[str, ...], *subs: Command) -> Command:
    """A command that only dispatches to its subcommands (``client|setname``...)."""

    def no_subcommand(s: Client, argv: list[bytes]) -> bytes:
        return unknown_subcommand(argv)  # pragma: no cover - lookup() routes around it

    table = {sub.name.split("|")[1].encode(): sub for sub in subs}
    return Command(name, arity, no_subcommand, flags, subcommands=table)


def help_reply(name: bytes, lines: Sequence[bytes]) -> bytes:
    """Redis's ``addReplyHelp``: ``name``'s subcommand list, then its own HELP lines."""
    every = [
        b"%s <subcommand> [<arg> [value] [opt] ...]. Subcommands are:" % name,
        *lines,
        b"HELP",
        b"    Prints this help.",
    ]
    return b"*%d\r\n" % len(every) + b"".join(b"+%s\r\n" % line for line in every)
