"""The RESP session: parse a read batch, run its commands, send one reply batch."""

from __future__ import annotations

from collections.abc import Callable

from providers.resp.commands import COMMANDS, Handler, ProviderState, lookup
from providers.resp.parser import RequestParser
from providers.resp.replies import NULL2, NULL3
from wireproto.auth import AuthSettings
from wireproto.errors import ProtocolError
from wireproto.guard import cross_protocol_error, is_guarded_word
from wireproto.session import NetworkSender

__all__ = ["RespSession"]

_NOAUTH = b"-NOAUTH Authentication required.\r\n"
_QUEUED = b"+QUEUED\r\n"
NULL_ARRAY2 = b"*-1\r\n"

_MAX_DIRECT_ARGC = 16


def _direct_handlers() -> tuple[dict[bytes, Handler], ...]:
    tables: tuple[dict[bytes, Handler], ...] = tuple({} for _ in range(_MAX_DIRECT_ARGC))
    for name, command in COMMANDS.items():
        # MULTI does not queue the commands that change how the next ones run
        # (QUIT closes, MULTI, EXEC and DISCARD start or end a transaction):
        # they go through execute(), after which run_commands() looks again.
        if command.subcommands is not None or not command.queued:
            continue
        arity = command.arity
        for argc in range(1, _MAX_DIRECT_ARGC):
            if argc == arity or (arity < 0 and argc >= -arity):
                tables[argc][name] = command.handler
    return tables


_DIRECT = _direct_handlers()
"""By argument count, the handlers :meth:`RespSession.execute` calls for an
authenticated client outside MULTI, with nothing to check first: the right
arity, no subcommands, not a command MULTI runs at once."""


class RespSession:
    """One RESP connection's state: protocol version, authentication, client name.

    :meth:`try_consume` parses every whole command in the view, runs them in
    order and sends the concatenated replies with one ``sender.send``.
    """

    __slots__ = (
        "_closed",
        "_parser",
        "_sender",
        "auth",
        "authenticated",
        "client_id",
        "client_info",
        "closing",
        "multi",
        "multi_failed",
        "name",
        "null",
        "null_array",
        "provider",
        "resp3",
        "store",
        "watched",
    )

    def __init__(self, provider: ProviderState, sender: NetworkSender, client_id: int) -> None:
        self.provider = provider
        self.store = provider.store
        self.client_id = client_id
        # The listener's setting, unless the provider was built with its own
        # password (a Server refuses to start when the two differ).
        own = provider.password
        self.auth: AuthSettings = AuthSettings(own) if own is not None else sender.auth
        """Who may authenticate on this connection."""
        self.authenticated = not self.auth.required
        self.resp3 = False
        self.null = NULL2
        """The null reply of the connection's protocol version."""
        self.null_array = NULL_ARRAY2
        self.multi: list[list[bytes]] | None = None
        """Commands queued since MULTI, or None outside a transaction."""
        self.multi_failed = False
        """A command was refused while queueing: EXEC will abort."""
        self.watched: dict[bytes, int] = {}
        """WATCHed keys and their store versions at WATCH time."""
        self.name: bytes | None = None
        self.client_info: dict[bytes, bytes] = {}
        """CLIENT SETINFO attributes (``lib-name``, ``lib-ver``)."""
        self.closing = False
        """Set by QUIT: the connection closes after the replies sent so far."""
        self._sender = sender
        self._parser = RequestParser(provider.resp_limits, accelerated=provider.accelerated)
        self._parser.unauthenticated = not self.authenticated
        self._closed = False

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

    def set_protocol(self, version: int) -> None:
        """Switch replies to RESP2 or RESP3."""
        self.resp3 = version == 3
        self.null = NULL3 if self.resp3 else NULL2
        self.null_array = NULL3 if self.resp3 else NULL_ARRAY2

    def watch(self, key: bytes) -> None:
        """WATCH ``key`` (once per connection)."""
        if key not in self.watched:
            self.watched[key] = self.store.watch(key)

    def watched_keys_changed(self) -> bool:
        """Whether a WATCHed key was written since WATCH."""
        version = self.store.watch_version
        return any(version(key) != seen for key, seen in self.watched.items())

    def unwatch_all(self) -> None:
        """Forget every WATCHed key."""
        for key in self.watched:
            self.store.unwatch(key)
        self.watched.clear()

    def execute(self, argv: list[bytes]) -> bytes:
        """Run one command; its encoded reply."""
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
        if self.multi is not None and command.queued:
            self.multi.append(argv)
            return _QUEUED
        return command.handler(self, argv)

    def run_commands(self, commands: list[list[bytes]], append: Callable[[bytes], None]) -> int:
        """Run ``commands`` (none empty) in order, passing each reply to ``append``; how many ran.

        Stops after a command that closes the connection (QUIT). The same
        replies as :meth:`execute` for each, without its lookups in the common
        case (authenticated, outside MULTI, a known command of the right arity).
        """
        direct = _DIRECT
        execute = self.execute
        plain = self.authenticated and self.multi is None
        for argv in commands:
            argc = len(argv)
            handler = direct[argc].get(argv[0]) if plain and argc < _MAX_DIRECT_ARGC else None
            if handler is not None:
                append(handler(self, argv))
                continue
            append(execute(argv))
            if self.closing:
                return next(i for i, ran in enumerate(commands, 1) if ran is argv)
            plain = self.authenticated and self.multi is None
        return len(commands)

    def try_consume(self, data: memoryview, /) -> int:
        """Run every whole command at the head of ``data``; the bytes consumed."""
        if self.closing:
            return 0
        parser = self._parser
        if not parser.begin(data):
            return 0
        replies: list[bytes] = []
        whole_commands = parser.whole_commands
        next_command = parser.next_command
        execute = self.execute
        try:
            while True:
                commands = whole_commands()
                if commands:
                    ran = self.run_commands(commands, replies.append)
                    if self.closing:
                        if ran < len(commands):
                            parser.keep(ran)
                        break
                argv = next_command()
                if argv is None:
                    break
                if argv:
                    replies.append(execute(argv))
                    if self.closing:
                        break
        except ProtocolError as exc:
            parser.end()
            self.provider.commands_processed += len(replies)
            # Replies to the commands before the bad one go first, in the same write.
            raise ProtocolError(exc.message, b"".join(replies) + exc.reply) from exc
        consumed = parser.end()
        if replies:
            self.provider.commands_processed += len(replies)
            self._sender.send(replies[0] if len(replies) == 1 else b"".join(replies))
        if self.closing:
            self._sender.close()
        return consumed

    def close(self) -> None:
        """Release the session (the provider's client count drops)."""
        if not self._closed:
            self._closed = True
            self.unwatch_all()
            self.multi = None
            self.provider.session_closed(self)
