"""The RESP session: parse a read batch, run its commands, send one reply batch."""

from __future__ import annotations

from collections.abc import Callable
from time import monotonic as _monotonic
from typing import TYPE_CHECKING, Final, NoReturn

from wireproto import AuthSettings, Limits, NetworkSender, ProtocolError
from wireproto._users import User, UserDirectory, directory_for
from wireproto.guard import cross_protocol_error, is_guarded_word

from ..eviction import ARMED
from ..kvstore import WrongType
from .commands import COMMANDS, Handler, ProviderState, lookup
from .commands import blocking as _blocking
from .commands._base import WRONGTYPE, Blocked, Client, Command, Tracker
from .commands._hub import SUBSCRIBED_MODE_COMMANDS, Subscriptions, subscribed_mode_error
from .commands._slowlog import EVERY_COMMAND, on_every_command_change
from .commands.acl import log_denial as _acl_log
from .commands.acl import refusal as _acl_refusal
from .commands.admin import feed_monitors
from .commands.blocking import WAITING
from .commands.maxmemory import before_command
from .parser import RequestParser, RespLimits
from .pure_parser import (
    BULK_HEADERS,
    read_bulk,
    read_bulk_pair,
    read_decimal,
    shared_name,
    split_consumed,
    walked_name,
)
from .replies import BULK_HEADS, NULL2, NULL3, OK, PONG

if TYPE_CHECKING:  # annotations only: mypyc makes them unboxed C integers
    from mypy_extensions import i64

__all__ = ["RespSession"]

_NOAUTH: Final = b"-NOAUTH Authentication required.\r\n"
_QUEUED: Final = b"+QUEUED\r\n"
NULL_ARRAY2: Final = b"*-1\r\n"

_MAX_DIRECT_ARGC: Final = 16
_REPLY_ON, _REPLY_OFF, _REPLY_SKIP_NEXT, _REPLY_SKIP_THIS = 0, 1, 2, 3


_BUILT_IN_PARTS: Final = frozenset({b"mget"})
"""Commands whose handler checks :attr:`RespSession.room` as its reply grows: they read
the room left after the batch's earlier replies, which the direct path does not keep."""
_MODE_CHANGES = frozenset({b"subscribe", b"psubscribe", b"ssubscribe"})
"""Commands that enter pub/sub mode, after which the direct path is off (RESP2 refuses
most commands there): they go through execute(), after which run_commands() looks again."""
_USER_CHANGES = frozenset({b"auth", b"hello", b"reset"})
"""Commands that change the user the connection runs as (whose commands may need ACL checks):
they go through execute(), after which run_commands() looks again."""


_SMALL_REPLIES: dict[bytes, tuple[int, ...] | None] = {
    b"ping": (1,),
    b"set": (3,),
    b"setnx": (3,),
    b"setex": (4,),
    b"psetex": (4,),
    b"mset": None,
    b"msetnx": None,
    b"incr": (2,),
    b"decr": (2,),
    b"incrby": (3,),
    b"decrby": (3,),
    b"del": None,
    b"unlink": None,
    b"exists": None,
    b"touch": None,
    b"expire": (3,),  # options may echo an argument in an error
    b"pexpire": (3,),  # options may echo an argument in an error
    b"expireat": (3,),  # options may echo an argument in an error
    b"pexpireat": (3,),  # options may echo an argument in an error
    b"persist": (2,),
    b"ttl": (2,),
    b"pttl": (2,),
    b"strlen": (2,),
    b"append": (3,),
    b"setrange": (4,),
}
"""Commands (with these argument counts; ``None``: any) whose reply is a status, an
integer or an error of a few dozen bytes, whatever the store holds: the direct path
does not count them against :attr:`RespSession.room` one by one. A batch of them
holds no more reply bytes than a small multiple of its own request bytes, and
``sender.send`` still charges their sum, so the output limit and the budget still
hold; every other reply (stored values: GET, MGET, GETRANGE...) is counted as it
is built. A command left out of this list is only checked more often."""


def _small_reply(name: bytes, argc: int) -> bool:
    counts = _SMALL_REPLIES.get(name.lower(), ())
    return counts is None or argc in counts


def _pong(s: Client, argv: list[bytes]) -> bytes:
    """PING without an argument on the direct path, which is never in pub/sub mode."""
    return PONG


# GET and SET on the direct path, which only sessions run: typed as a RespSession,
# ``s.store`` is read from the object's struct in the compiled build instead of being
# looked up by name (a sixth of a compiled SET's instructions went to that lookup).


def _set_string(s: Client, argv: list[bytes]) -> bytes:
    """SET key value: three arguments, so no options to read."""
    session: RespSession = s  # type: ignore[assignment]
    session.store.put(argv[1], argv[2])
    return OK


def _get_string(s: Client, argv: list[bytes]) -> bytes:
    """GET key, as the command table's handler (see :func:`_get_key`)."""
    session: RespSession = s  # type: ignore[assignment]
    return _get_key(session, argv[1])


def _get_key(session: RespSession, key: bytes) -> bytes:
    """GET's reply for ``key`` (``commands.strings.get``, which builds it the same way)."""
    try:
        value = session.store.get(key)
    except WrongType:
        return WRONGTYPE
    if value is None:
        return session.null
    try:  # two concatenations: join() takes a buffer of each part (compiled: 2x)
        return BULK_HEADS[len(value)] + value + b"\r\n"
    except IndexError:  # 1024 bytes or more
        return b"$%d\r\n%s\r\n" % (len(value), value)


_GET: Final[Handler] = _get_string
_SET: Final[Handler] = _set_string
_GET_NAME: Final = shared_name(b"GET")
_SET_NAME: Final = shared_name(b"SET")


def _timed_handler(command: Command) -> Handler:
    """``command``'s handler, timed for the slow log."""
    handler = command.handler

    def timed(s: Client, argv: list[bytes]) -> bytes:
        return s.provider.slowlog.timed(handler, s, argv)

    return timed


def _direct_handlers() -> tuple[dict[bytes, tuple[Handler, bool]], ...]:
    tables: tuple[dict[bytes, tuple[Handler, bool]], ...] = tuple(
        {} for _ in range(_MAX_DIRECT_ARGC)
    )
    for name, command in COMMANDS.items():
        # MULTI does not queue the commands that change how the next ones run
        # (QUIT closes, MULTI, EXEC and DISCARD start or end a transaction):
        # they go through execute(), after which run_commands() looks again.
        if (
            command.subcommands is not None
            or not command.queued
            or name in _BUILT_IN_PARTS
            or name.lower() in _MODE_CHANGES
            or name.lower() in _USER_CHANGES
            or "blocking" in command.flags  # it may stop the batch
        ):
            continue
        arity = command.arity
        handler = _timed_handler(command) if command.timed else command.handler
        for argc in range(1, _MAX_DIRECT_ARGC):
            if argc == arity or (arity < 0 and argc >= -arity):
                tables[argc][shared_name(name)] = (handler, _small_reply(name, argc))
    for name, entry in tables[1].items():
        if name.lower() == b"ping":
            tables[1][name] = (_pong, entry[1])
    for argc, lowered, fast in ((3, b"set", _set_string), (2, b"get", _get_string)):
        for name, entry in tables[argc].items():
            if name.lower() == lowered and not COMMANDS[name].timed:
                tables[argc][name] = (fast, entry[1])
    return tables


_DIRECT: Final = _direct_handlers()
"""By argument count, the handlers :meth:`RespSession.execute` calls for an
authenticated client outside MULTI, with nothing to check first: the right
arity, no subcommands, not a command MULTI runs at once; each with whether
its reply is small (:data:`_SMALL_REPLIES`)."""

_DIRECT_ENTRIES: Final = tuple(dict(table) for table in _DIRECT)

_DIRECT_GET: Final = _DIRECT[2].get(_GET_NAME, (None, False))[0] is _GET
_DIRECT_SET: Final = _DIRECT[3].get(_SET_NAME, (None, False))[0] is _SET
"""Whether GET and SET have the direct handlers :meth:`RespSession._run_walked` and
:meth:`RespSession._run_split` stand in for (not when the slow log times them)."""

RUN_DIRECT = True
"""Whether sessions run whole ``GET key`` and ``SET key value`` commands at the head of a
batch straight from the parser's step (:meth:`RespSession._run_direct`); tests compare
them with False, where every command takes :meth:`RespSession.run_commands`."""

_GET_OR_SET: Final = (b"*2\r\n$3\r\nGET\r\n", b"*3\r\n$3\r\nSET\r\n")


def _direct_path_follows_slowlog(every_command_timed: bool) -> None:
    """Empty the direct tables while the slow log times every command (each then takes
    :meth:`RespSession.execute`, which times it), and fill them again after."""
    for table, entries in zip(_DIRECT, _DIRECT_ENTRIES, strict=True):
        table.clear()
        if not every_command_timed:
            table.update(entries)


on_every_command_change(_direct_path_follows_slowlog)

_NO_DIRECT: tuple[dict[bytes, tuple[Handler, bool]], ...] = tuple({} for _ in _DIRECT)
"""What :meth:`RespSession.run_commands` looks in before AUTH or inside MULTI: nothing."""


def _ran_through(commands: list[list[bytes]], last: list[bytes]) -> int:
    """How many of ``commands`` ran, ``last`` being the last one (a function: a closure
    over the loop variable in run_commands() would make it a cell on every command)."""
    return next(i for i, ran in enumerate(commands, 1) if ran is last)


class RespSession:
    """One RESP connection's state: protocol version, authentication, client name.

    :meth:`try_consume` parses every whole command in the view, runs them in
    order and sends the concatenated replies with one ``sender.send``.
    The replies are checked against the connection's memory account as
    they are built (:attr:`room`), so a batch stops once they would pass
    the output limit; commands queued by MULTI are charged as arguments.
    """

    __slots__ = (
        "_closed",
        "_memory",
        "_parser",
        "_processed",
        "_queued_bytes",
        "_room_start",
        "_sender",
        "acl",
        "auth",
        "authenticated",
        "blocked",
        "client_id",
        "client_info",
        "closing",
        "created",
        "db",
        "deny_blocking",
        "last_active",
        "last_argv",
        "multi",
        "multi_failed",
        "name",
        "no_evict",
        "no_touch",
        "null",
        "null_array",
        "provider",
        "reply_mode",
        "resp3",
        "room",
        "store",
        "subscriptions",
        "tracking",
        "user",
        "users",
        "watched",
    )

    def __init__(self, provider: ProviderState, sender: NetworkSender, client_id: int) -> None:
        self.provider = provider
        self._processed = provider.processed
        self.store = provider.store
        self.db = 0
        """The SELECTed database's number (``store`` is that database)."""
        self.client_id = client_id
        # The listener's setting, unless the provider was built with its own
        # password (a Server refuses to start when the two differ).
        own = provider.password
        self.auth: AuthSettings = AuthSettings(own) if own is not None else sender.auth
        """Who may authenticate on this connection."""
        self.users: UserDirectory = directory_for(
            self.auth, getattr(sender, "listener", None), provider.user_directories
        )  # a sender outside a Server (tests, fuzzing) may have no listener
        """The listener's users (ACL)."""
        self.user: User = self.users.default
        """The user the connection runs as (Redis's ``default`` until AUTH)."""
        self.acl: User | None = None
        """:attr:`user` when its commands must be checked (ACL); None: it may run anything."""
        self._run_as(self.user)
        self.authenticated = not self.users.auth_required
        self.resp3 = False
        self.null = NULL2
        """The null reply of the connection's protocol version."""
        self.null_array = NULL_ARRAY2
        self.multi: list[list[bytes]] | None = None
        """Commands queued since MULTI, or None outside a transaction."""
        self.multi_failed = False
        """A command was refused while queueing: EXEC will abort."""
        self.watched: dict[tuple[int, bytes], int] = {}
        """WATCHed (database, key) pairs and their store versions at WATCH time."""
        self.name: bytes | None = None
        self.client_info: dict[bytes, bytes] = {}
        """CLIENT SETINFO attributes (``lib-name``, ``lib-ver``)."""
        self.created = self.last_active = _monotonic()
        self.last_argv: list[bytes] | None = None
        self.no_evict = self.no_touch = False
        self.reply_mode = _REPLY_ON
        """CLIENT REPLY: on, off, skip-next or skip-this-and-next."""
        self.subscriptions: Subscriptions | None = None
        """Pub/sub subscriptions; None outside pub/sub mode."""
        self.closing = False
        """Set by QUIT: the connection closes after the replies sent so far."""
        self.blocked: Blocked | None = None
        """What a blocking command waits on: nothing more is consumed until it is served."""
        self.deny_blocking = self._closed = False
        self.tracking: Tracker | None = None  # CLIENT TRACKING's state while it is on
        self._sender = sender
        self._memory = sender.memory
        self.room = 0
        """Reply bytes the batch may still build before the output limit is passed."""
        self._room_start = self._queued_bytes = 0
        self._parser = RequestParser(
            provider.resp_limits, accelerated=provider.accelerated, memory=self._memory
        )
        self._parser.unauthenticated = not self.authenticated

    @property
    def parser(self) -> RequestParser:
        """The request parser (tests read its work counter)."""
        return self._parser

    @property
    def sender(self) -> NetworkSender:
        """Where this session's replies go (and what it knows of its connection)."""
        return self._sender

    def authenticate(self) -> None:
        """Mark the connection authenticated (lifts the pre-AUTH request limits)."""
        self.authenticated = True
        self._parser.unauthenticated = False

    def login(self, user: User) -> None:
        """Run as ``user`` from now on (AUTH, HELLO AUTH) and mark the connection authenticated."""
        self._run_as(user)
        self.authenticate()

    def log_auth_failure(self, command: bytes, username: bytes) -> None:
        """Add a failed AUTH (or HELLO AUTH) as ``username`` to ACL LOG."""
        _acl_log(self, "auth", "toplevel" if self.multi is None else "multi", command, username)

    def _run_as(self, user: User) -> None:
        self.users.detach(self.user, self)  # nothing to detach on the first call
        self.user = user
        self.acl = None if user.unrestricted else user
        self.users.attach(user, self, self._user_changed)

    def _user_changed(self, what: str) -> None:
        """The directory says the user changed (its rules) or was deleted (Redis closes the
        connection, after the reply when it deleted its own user)."""
        if what == "changed":
            self.acl = None if self.user.unrestricted else self.user
            return
        self._run_as(self.users.default)
        self.authenticated = False
        self.closing = True
        self._sender.close()

    def reset(self) -> None:
        """RESET: no transaction, WATCH or subscription, RESP2, no name, default authentication."""
        self.end_multi()
        self.unwatch_all()
        if self.subscriptions is not None:
            self.provider.pubsub.drop(self, self.subscriptions)
            self.subscriptions = None
        self.set_protocol(2)
        self.select_db(0)
        self.name = None
        self.no_evict = self.no_touch = False
        if self.tracking is not None:
            self.tracking.stop(self)
        self.reply_mode = _REPLY_ON
        self._run_as(self.users.default)
        self.authenticated = not self.users.auth_required
        self._parser.unauthenticated = not self.authenticated

    def set_protocol(self, version: int) -> None:
        """Switch replies to RESP2 or RESP3."""
        self.resp3 = version == 3
        self.null = NULL3 if self.resp3 else NULL2
        self.null_array = NULL3 if self.resp3 else NULL_ARRAY2

    def select_db(self, index: int) -> None:
        """Make database ``index`` (in range) the one the next commands use (SELECT)."""
        self.db = index
        self.store = self.provider.databases[index]

    def watch(self, key: bytes) -> None:
        """WATCH ``key`` of the selected database (once per connection)."""
        entry = (self.db, key)
        if entry not in self.watched:
            self.watched[entry] = self.store.watch(key)

    def watched_keys_changed(self) -> bool:
        """Whether a WATCHed key was written since WATCH."""
        databases = self.provider.databases
        return any(
            databases[db].watch_version(key) != seen for (db, key), seen in self.watched.items()
        )

    def unwatch_all(self) -> None:
        """Forget every WATCHed key."""
        databases = self.provider.databases
        for db, key in self.watched:
            databases[db].unwatch(key)
        self.watched.clear()

    def set_reply_mode(self, mode: bytes) -> None:
        """CLIENT REPLY ``on``, ``off`` or ``skip`` (this reply and the next one)."""
        self.reply_mode = {b"on": _REPLY_ON, b"off": _REPLY_OFF}.get(mode, _REPLY_SKIP_THIS)

    def _muted(self, reply: bytes) -> bytes:
        """``reply`` as CLIENT REPLY lets it through (b"" when off or skipped)."""
        mode = self.reply_mode
        if mode == _REPLY_SKIP_THIS:
            self.reply_mode = _REPLY_SKIP_NEXT
        elif mode == _REPLY_SKIP_NEXT:
            self.reply_mode = _REPLY_ON
        return b""

    def command_name(self, argv: list[bytes]) -> bytes:
        """The full name of the command ``argv`` runs (``client|list``), or ``NULL``."""
        found = lookup(argv)
        return b"NULL" if isinstance(found, bytes) else found.name.encode()

    def execute(self, argv: list[bytes]) -> bytes:
        """Run one command; its encoded reply."""
        self.last_argv = argv
        command = COMMANDS.get(argv[0])
        if command is None or command.subcommands is not None:
            found = lookup(argv)
            if isinstance(found, bytes):
                if is_guarded_word(argv[0]):  # POST or Host:, as Redis: log and close
                    raise cross_protocol_error("resp", self._sender.get_extra_info("peername"))
                self.multi_failed = self.multi is not None
                return found
            command = found
        else:
            arity = command.arity
            argc = len(argv)
            if (arity > 0 and arity != argc) or argc < -arity:
                error = lookup(argv)
                assert isinstance(error, bytes)
                self.multi_failed = self.multi is not None
                return error
        if not self.authenticated and not command.no_auth:
            self.multi_failed = self.multi is not None
            return _NOAUTH
        if self.acl is not None:
            refused = _acl_refusal(self, command, argv)
            if refused is not None:
                self.multi_failed = self.multi is not None
                return refused
        if (
            self.subscriptions is not None
            and not self.resp3
            and command.name.partition("|")[0] not in SUBSCRIBED_MODE_COMMANDS
        ):
            return subscribed_mode_error(command.name)
        if ARMED.count:  # maxmemory: access tracking, eviction, -OOM
            refused = before_command(self, command)
            if refused is not None:
                self.multi_failed = self.multi is not None
                return refused
        if WAITING.pauses and _blocking.postpone(self, command, argv):
            return b""  # CLIENT PAUSE holds it back: it runs when the pause ends
        if self.multi is not None and command.queued:
            size = sum(map(len, argv))
            self._memory.charge_arguments(size)
            self._queued_bytes += size
            self.multi.append(argv)
            return _QUEUED
        if self.tracking is not None:
            return self.tracking.run(self, command, argv)
        try:
            if command.timed or (EVERY_COMMAND.count and command.logged):
                reply = self.provider.slowlog.timed(command.handler, self, argv)
            else:
                reply = command.handler(self, argv)
        except WrongType:
            reply = WRONGTYPE
        if self.provider.monitors:
            reply += feed_monitors(self, command, argv)
        return reply

    def end_multi(self) -> None:
        """Leave the transaction: the queued commands are dropped (EXEC took them)."""
        self.multi = None
        self.multi_failed = False
        self._memory.release_arguments(self._queued_bytes)
        self._queued_bytes = 0

    def over_output(self, room: int) -> NoReturn:
        """Stop building: the batch's replies passed the room it had, ``room`` is what is left."""
        self._memory.refuse_output(self._room_start - room)

    def _plain(self) -> bool:
        """Whether commands may take the direct path: authenticated, outside MULTI, with
        no ACL to check, no blocked client waiting, no pub/sub, CLIENT REPLY, MONITOR,
        eviction or tracking to serve."""
        return (
            self.authenticated
            and self.acl is None
            and self.multi is None
            and not WAITING.count
            and self.subscriptions is None
            and not self.reply_mode
            and not self.provider.monitors
            and not ARMED.count
            and self.tracking is None
        )

    def _run_direct(self, parser: RequestParser, replies: list[bytes]) -> None:
        """Start the batch with :meth:`_run_walked` or :meth:`_run_split`, as the parser
        would take its whole commands, while the direct path is open."""
        batch, at, max_count, max_len = parser.direct_batch()
        if at < 0 or not _DIRECT[2] or not self._plain():  # (empty: the slow log times all)
            return
        if parser.walk:
            parser.advance(self._run_walked(batch, at, max_count, max_len, replies))
        elif batch.startswith(_GET_OR_SET, at):  # else one split too many
            parser.advance(at + self._run_split(batch, at, max_count, max_len, replies))

    def _run_split(
        self, data: bytes, at: int, max_count: int, max_len: int, replies: list[bytes]
    ) -> int:
        """:meth:`_run_walked` for the interpreted build, which takes whole commands by a
        split on CRLF (``PureParser._multibulk_batch``): the same commands that step
        would take, run without argument lists; the bytes from ``at`` they span."""
        chunk = data[at:] if at else data
        tokens = chunk.split(b"\r\n")
        last = len(tokens) - 1
        heads = BULK_HEADERS if max_len >= len(BULK_HEADERS) - 1 else BULK_HEADERS[: max_len + 1]
        gets = _DIRECT_GET and max_count >= 2
        sets = _DIRECT_SET and max_count >= 3
        store = self.store
        room = self.room
        i = 0
        ran = -1  # where the last command run starts
        try:
            while True:
                count = tokens[i]
                if count == b"*2" and gets and i + 5 <= last:
                    head1, name, head2, key = tokens[i + 1 : i + 5]
                    if name != b"GET" or head1 != b"$3" or heads[len(key)] != head2:
                        break
                    reply = _get_key(self, key)
                    replies.append(reply)
                    room -= len(reply)
                    if room < 0:
                        self.over_output(room)
                    ran = i
                    i += 5
                elif count == b"*3" and sets and i + 7 <= last:
                    head1, name, head2, key, head3, value = tokens[i + 1 : i + 7]
                    if (
                        name != b"SET"
                        or head1 != b"$3"
                        or heads[len(key)] != head2
                        or heads[len(value)] != head3
                    ):
                        break
                    store.put(key, value)
                    replies.append(OK)
                    ran = i
                    i += 7
                else:
                    break
        except IndexError:  # an argument longer than the limit
            pass
        self.room = room
        if ran >= 0:
            self.last_argv = tokens[ran + 2 : i : 2]
        return split_consumed(chunk, tokens, i)

    def _run_walked(
        self, data: bytes, at: i64, max_count: i64, max_len: i64, replies: list[bytes]
    ) -> i64:
        """Run the whole ``GET key`` and ``SET key value`` commands from ``data[at:]``,
        adding their replies to ``replies``; the position after the last one run.

        What :meth:`run_commands` does with their direct handlers, read as the walk
        reads them (:meth:`~.pure_parser.PureParser.direct_batch`), without an argument
        list or a table lookup per command: the compiled build's hot path. Stops before
        anything else (another command, a name in lower case, a header past the
        limits, the end of the batch), where the caller goes on.
        """
        store = self.store
        room = self.room
        end: i64 = len(data)
        last: bytes | None = None  # the name of the last command run, for last_argv
        key = value = b""
        while at < end and data[at] == 42:
            try:
                count, start = read_decimal(data, at + 1, max_count)
                if count < 2 or count > 3:  # GET's and SET's
                    break
                start1, stop1, start2, stop2 = read_bulk_pair(data, start, max_len)
                if start1 < 0:
                    break
                start3: i64 = 0
                stop3: i64 = 0
                if count == 3:
                    start3, stop3 = read_bulk(data, stop2 + 2, max_len)
                    if start3 < 0:
                        break
            except IndexError:  # the batch ends inside the command
                break
            name = walked_name(data, start1, stop1)
            if count == 2 and name is _GET_NAME and _DIRECT_GET:
                key = data[start2:stop2]
                reply = _get_key(self, key)
                replies.append(reply)
                room -= len(reply)
                if room < 0:
                    self.over_output(room)
                at = stop2 + 2
            elif count == 3 and name is _SET_NAME and _DIRECT_SET:
                key = data[start2:stop2]
                value = data[start3:stop3]
                store.put(key, value)
                replies.append(OK)
                at = stop3 + 2
            else:
                break
            last = name
        self.room = room
        if last is _GET_NAME:
            self.last_argv = [last, key]
        elif last is _SET_NAME:
            self.last_argv = [last, key, value]
        return at

    def run_commands(self, commands: list[list[bytes]], replies: list[bytes]) -> int:
        """Run ``commands`` (none empty) in order, adding each reply to ``replies``; how many ran.

        Stops after a command that closes the connection (QUIT). The same
        replies as :meth:`execute` for each, without its lookups in the common
        case (authenticated, outside MULTI, a known command of the right arity).
        """
        # While a client is blocked, every command takes execute(), after which
        # the keys it wrote serve the blocked clients (as Redis does after each command).
        direct = _DIRECT if self._plain() else _NO_DIRECT
        room = self.room  # a local in the loop; self.room for the handlers that read it
        for argv in commands:
            try:
                entry = direct[len(argv)].get(argv[0])
            except IndexError:  # more arguments than the direct tables go to
                entry = None
            if entry is not None:
                handler, small = entry
                if small:
                    try:
                        replies.append(handler(self, argv))
                    except WrongType:
                        replies.append(WRONGTYPE)
                    continue
                try:
                    # GET called by name: compiled, a native call rather than a
                    # Python-level one through the table's function object.
                    reply = _get_key(self, argv[1]) if handler is _GET else handler(self, argv)
                except WrongType:
                    reply = WRONGTYPE
                replies.append(reply)
                room -= len(reply)
                if room < 0:
                    self.over_output(room)
                continue
            self.room = room
            reply = self.execute(argv)
            if self.reply_mode:
                reply = self._muted(reply)
            replies.append(reply)
            room -= len(reply)
            self.room = room
            if room < 0:
                self.over_output(room)
            if WAITING.ready:
                WAITING.serve()
            if self._stopped():
                return _ran_through(commands, argv)
            direct = _DIRECT if self._plain() else _NO_DIRECT
        self.room = room
        self.last_argv = commands[-1]
        return len(commands)

    def _stopped(self) -> bool:
        """QUIT ran, or a command blocked: nothing more is run until it is over.

        A method, not the expression inline: after ``if self.blocked is not None:
        return`` mypy takes ``self.blocked`` for ``None`` in the rest of the
        function, and the mypyc build would reject the ``Blocked`` a command set."""
        return self.closing or self.blocked is not None

    def try_consume(self, data: memoryview, /) -> int:  # noqa: PLR0915 - the hot path
        """Run every whole command at the head of ``data``; the bytes consumed."""
        if self.closing or self.blocked is not None:  # _stopped() without the call
            return 0
        self.last_active = _monotonic()  # any bytes count (Redis's lastinteraction)
        parser = self._parser
        if not parser.begin(data):
            return 0
        # MemoryAccount.reply_room inlined: a property is a call from C on every batch.
        memory = self._memory
        room = memory.outbox_cap - memory.outbox
        budget = memory.budget
        if budget is not None:
            left = budget.limit - budget.used
            if left < room:  # noqa: PLR1730 (min() is a call)
                room = left
        if room < 0 or memory.closed:
            room = 0
        self.room = self._room_start = room
        replies: list[bytes] = []
        if RUN_DIRECT and data and data[0] == 42:  # GET and SET straight from the parser's step
            self._run_direct(parser, replies)
        try:
            while True:
                commands = parser.whole_commands()
                if commands:
                    ran = self.run_commands(commands, replies)
                    if self._stopped():
                        if ran < len(commands):
                            parser.keep(ran)
                        break
                argv = parser.next_command()
                if argv is None:
                    break
                if argv:
                    reply = self.execute(argv)
                    if self.reply_mode:
                        reply = self._muted(reply)
                    replies.append(reply)
                    self.room -= len(reply)
                    if self.room < 0:
                        self.over_output(self.room)
                    if WAITING.ready:
                        WAITING.serve()
                    if self._stopped():
                        break
        except ProtocolError as exc:
            parser.end()
            self._processed.count += len(replies)
            # Replies to the commands before the bad one go first, in the same write.
            raise ProtocolError(exc.message, b"".join(replies) + exc.reply) from exc
        consumed = parser.end()
        if replies:
            self._processed.count += len(replies)
            self._sender.send(replies[0] if len(replies) == 1 else b"".join(replies))
        if self.closing:
            self._sender.close()
        return consumed

    def set_limits(self, limits: RespLimits, connection: Limits) -> None:
        """The provider's request limits changed: parse by them, and have the connection
        hold to ``connection`` (its receive-buffer cap and output limit)."""
        self._parser.set_limits(limits)
        set_connection_limits: Callable[[Limits], None] | None = getattr(
            self._sender, "set_limits", None
        )
        if set_connection_limits is None:  # a sender outside a Server (tests, fuzzing)
            return
        memory = self._memory
        before = memory.output_limit
        set_connection_limits(connection)
        subscriptions = self.subscriptions
        if subscriptions is not None:  # Redis's pub/sub limit stays while subscribed
            normal = memory.output_limit
            subscriptions.output_limit = normal
            memory.output_limit = (
                before if normal is None or before is None else min(before, normal)
            )

    def next_deadline(self) -> float | None:
        """When a blocked command times out (the connection's clock), or None."""
        blocked = self.blocked
        return None if blocked is None else blocked.deadline

    def check_deadlines(self) -> None:
        """The connection saw :meth:`next_deadline` pass: the blocked command times out."""
        _blocking.time_out(self)

    def close(self) -> None:
        """Release the session (the provider's client count drops)."""
        if not self._closed:
            self._closed = True
            _blocking.forget(self)
            if self.tracking is not None:
                self.tracking.stop(self)
            self.users.detach(self.user, self)
            self.unwatch_all()
            self.end_multi()
            if self.subscriptions is not None:
                self.provider.pubsub.drop(self, self.subscriptions)
            self.provider.session_closed(self)
