"""Client-side caching (CLIENT TRACKING): who read which key, and the invalidations.

As Redis's ``tracking.c``: one table per provider maps each key a tracking
client read (read-only commands, keys from the command table) to those
clients' IDs, whatever the database; a write to the key (from any format: the
store's observers) sends each of them one invalidation and forgets the key.
RESP3 clients get ``>2 invalidate [key]`` pushes; with REDIRECT they go to
another connection, as a push when it speaks RESP3 or as a ``message`` on
``__redis__:invalidate`` when it is a subscribed RESP2 connection. BCAST
clients get, after each command, the keys written under their prefixes. A flush
sends a null. A client's own invalidations follow its command's reply (Redis's
pending keys). The store observers exist only while some client tracks; meanwhile
every session takes its general path (as while a client is blocked).

The table holds at most ``tracking-table-max-keys`` keys (CONFIG; Redis's default
1,000,000; 0: no limit), so clients that read many distinct keys cannot grow it
without bound: past the limit the oldest keys are invalidated (their clients told, as
for a write) and forgotten. Redis picks them by a random walk; oldest-first keeps the
same bound and is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ...kvstore import Store, WrongType
from ..replies import bulk, integer
from ._base import WRONGTYPE, Client, Command
from ._hub import deliver
from ._meta import legacy_key_positions
from ._slowlog import EVERY_COMMAND
from .admin import feed_monitors
from .blocking import WAITING
from .config import Parameter, checked_int, register_parameter

if TYPE_CHECKING:
    from ._base import ProviderState

__all__ = ["Tracking", "TrackingTable", "table_of", "tracking_of", "tracking_totals"]

_INVALIDATE3 = b">2\r\n$10\r\ninvalidate\r\n"
_INVALIDATE2 = b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n"
_NULL = {True: b"_\r\n", False: b"$-1\r\n"}
DEFAULT_MAX_KEYS = 1_000_000
"""Redis's default ``tracking-table-max-keys``."""
"""A flush's null, in the protocol of the tracking client (not its redirect's), as Redis."""


class Tracking:
    """One client's CLIENT TRACKING options (the session holds it while tracking is on)."""

    __slots__ = (
        "bcast",
        "broken",
        "caching",
        "depth",
        "noloop",
        "optin",
        "optout",
        "pending",
        "prefixes",
        "redirect",
        "table",
    )

    def __init__(self, table: TrackingTable) -> None:
        self.table = table
        self.redirect = 0
        """The client ID invalidations go to (0: this connection)."""
        self.bcast = self.optin = self.optout = self.noloop = False
        self.broken = False
        """The redirect target is gone (CLIENT LIST's ``R``, TRACKINGINFO's broken_redirect)."""
        self.caching = False
        """CLIENT CACHING was given for the next command (or transaction)."""
        self.prefixes: dict[bytes, None] = {}
        """BCAST prefixes, in the order given."""
        self.pending: list[bytes | list[bytes] | None] = []
        """This client's own invalidations, sent after its command's reply (None: a flush)."""
        self.depth = 0

    def run(self, s: Client, command: Command, argv: list[bytes]) -> bytes:
        """Run ``command`` for ``s``, remembering the keys it reads; its reply, followed by
        the invalidations the command caused to ``s`` itself."""
        table = self.table
        outer = table.current
        table.current = s
        self.depth += 1
        try:
            try:
                if command.timed or (EVERY_COMMAND.count and command.logged):
                    reply = s.provider.slowlog.timed(command.handler, s, argv)
                else:
                    reply = command.handler(s, argv)
            except WrongType:
                reply = WRONGTYPE
            finally:
                self.depth -= 1
            if table.clients.get(s) is self and self.remembers(command):
                table.remember(s.client_id, [argv[i] for i in legacy_key_positions(command, argv)])
            if s.provider.monitors:
                reply += feed_monitors(s, command, argv)
            if self.depth == 0:
                if s.multi is None and not command.name.startswith("client|"):
                    self.caching = False  # CLIENT CACHING holds for one command or transaction
                table.after_command()  # BCAST and flushes: this client's wait in pending
                if self.pending:
                    pending, self.pending = self.pending, []
                    for key in pending:
                        reply += table.message(s, self, key)
        finally:
            table.current = outer
        return reply

    def stop(self, s: Client) -> None:
        """Tracking goes off for ``s``."""
        self.table.disable(s)

    def remembers(self, command: Command) -> bool:
        """Whether the keys ``command`` reads are tracked (read-only, not BCAST, OPTIN/OUT)."""
        flags = command.flags
        if "readonly" not in flags or "pubsub" in flags or self.bcast:
            return False
        return not ((self.optin and not self.caching) or (self.optout and self.caching))


def _keys(keys: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(keys) + b"".join(bulk(key) for key in keys)


class TrackingTable:
    """A provider's tracked keys, BCAST prefixes and tracking clients."""

    def __init__(self, provider: ProviderState) -> None:
        self.provider = provider
        self.keys: dict[bytes, dict[int, None]] = {}
        """Key -> the IDs of the clients that read it since it last changed."""
        self.clients: dict[Client, Tracking] = {}
        """Every client with tracking on."""
        self.current: Client | None = None
        """The tracking client whose command runs now (its own invalidations wait)."""
        self._broadcast: dict[bytes, Client | None] = {}
        """Keys written since the last broadcast (and who wrote them last, for NOLOOP)."""
        self._flushed: dict[Client, None] = {}
        self.bcast_clients = 0
        self._scheduled = False
        self._stops: list[Callable[[], None]] = []
        self.max_keys = DEFAULT_MAX_KEYS
        """``tracking-table-max-keys``: past it the oldest keys are invalidated (0: no limit)."""

    # -- clients ------------------------------------------------------------------

    def enable(self, s: Client, tracking: Tracking) -> None:
        """``s`` tracks with these options (observers start with the first client)."""
        if not self._stops:
            self._stops = [store.observe(self._written) for store in self.provider.databases]
        if not self.clients:
            # Every session then goes through execute(), which serves WAITING after
            # each command: where flushes and BCAST messages are sent.
            WAITING.count += 1
        if s not in self.clients and tracking.bcast:  # BCAST never switches while on
            self.bcast_clients += 1
        self.clients[s] = tracking
        s.tracking = tracking

    def disable(self, s: Client) -> None:
        """``s`` stops tracking (its BCAST prefixes go). As in Redis, the keys it read stay
        in the table: a write forgets them, and tells it if it tracks again by then."""
        old = self.clients.pop(s, None)
        if old is None:
            return
        s.tracking = None
        if old.bcast:
            self.bcast_clients -= 1
        self._flushed.pop(s, None)
        if not self.clients:
            WAITING.count -= 1
            self._broadcast.clear()
            self._stop_if_idle()

    def _stop_if_idle(self) -> None:
        """No client tracks and no key is remembered: the observers go."""
        if not self.clients and not self.keys:
            for stop in self._stops:
                stop()
            self._stops = []

    def remember(self, client_id: int, keys: list[bytes]) -> None:
        """The client read ``keys``: it hears of their next change."""
        table = self.keys
        for key in keys:
            ids = table.get(key)
            if ids is None:
                ids = table[key] = {}
            ids[client_id] = None
        if self.max_keys and len(table) > self.max_keys:
            self.shrink()

    def shrink(self) -> None:
        """Invalidate the oldest keys until the table is within ``max_keys`` (Redis's
        ``trackingLimitUsedSlots``: their clients hear of them as of a write)."""
        table = self.keys
        while self.max_keys and len(table) > self.max_keys:
            self._invalidate(next(iter(table)))

    # -- messages -----------------------------------------------------------------

    def message(self, s: Client, tracking: Tracking, keys: bytes | list[bytes] | None) -> bytes:
        """The invalidation of ``keys`` (None: every key) for ``s``, if it goes to ``s`` itself;
        otherwise it is sent to the redirect target now and b"" is returned."""
        if isinstance(keys, bytes):
            keys = [keys]
        if tracking.redirect:
            target = self.provider.clients.get(tracking.redirect)
            if target is None:
                tracking.broken = True
                if s.resp3:
                    return b">2\r\n$21\r\ntracking-redir-broken\r\n" + integer(tracking.redirect)
                return b""
            if target.resp3:
                body = _INVALIDATE3
            elif target.subscriptions is not None:
                body = _INVALIDATE2
            else:
                return b""
            body += _NULL[s.resp3] if keys is None else _keys(keys)
            if target is s:
                return body
            deliver(target, body)
            return b""
        if not s.resp3:
            return b""
        return _INVALIDATE3 + (_NULL[True] if keys is None else _keys(keys))

    def _send(self, s: Client, tracking: Tracking, keys: bytes | list[bytes] | None) -> None:
        if s is self.current:
            tracking.pending.append(keys)
            return
        message = self.message(s, tracking, keys)
        if message:
            deliver(s, message)

    def _written(self, event: bytes, key: bytes) -> None:
        if event == b"flushdb":
            self._flush()
            return
        if event == b"swapdb":  # names a database, not a key: Redis 7.0 invalidates nothing
            return
        if self.bcast_clients:
            self._broadcast[key] = self.current
            self._schedule()
        self._invalidate(key)

    def _invalidate(self, key: bytes) -> None:
        """Tell the clients that read ``key`` that it changed, and forget it."""
        ids = self.keys.pop(key, None)
        if ids is None:
            return
        if not self.clients:
            self._stop_if_idle()
            return
        clients = self.provider.clients
        for client_id in ids:
            target = clients.get(client_id)
            tracking = None if target is None else self.clients.get(target)
            if target is None or tracking is None or tracking.bcast:
                continue
            if tracking.noloop and target is self.current:
                continue
            self._send(target, tracking, key)

    def _flush(self) -> None:
        """A database was flushed: every tracking client hears a null, once per command."""
        self.keys.clear()
        if not self.clients:
            self._stop_if_idle()
            return
        for client, tracking in self.clients.items():
            if client is self.current:
                if None not in tracking.pending:
                    tracking.pending.append(None)
            else:
                self._flushed[client] = None
        self._schedule()

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            WAITING.call_soon(self.provider.store, self.after_command)

    def after_command(self) -> None:
        """After the command that wrote: flush nulls and the BCAST messages."""
        self._scheduled = False
        flushed, self._flushed = self._flushed, {}
        for client in flushed:
            tracking = self.clients.get(client)
            if tracking is not None:
                self._send(client, tracking, None)
        written, self._broadcast = self._broadcast, {}
        if not written:
            return
        for client, tracking in list(self.clients.items()):
            for prefix in sorted(tracking.prefixes) if tracking.bcast else ():
                keys = sorted(
                    key
                    for key, writer in written.items()
                    if key.startswith(prefix) and not (tracking.noloop and writer is client)
                )
                if keys:
                    self._send(client, tracking, keys)


_TABLE = "resp.tracking"


def tracking_of(s: Client) -> Tracking | None:
    """``s``'s tracking options, or None when tracking is off."""
    table = s.provider.store.services.get(_TABLE)
    return table.clients.get(s) if isinstance(table, TrackingTable) else None


def tracking_totals(store: Store) -> tuple[int, int, int, int]:
    """INFO's tracking_clients, tracking_total_keys, _items and _prefixes for the provider
    whose database 0 is ``store``."""
    table = store.services.get(_TABLE)
    if not isinstance(table, TrackingTable):
        return 0, 0, 0, 0
    prefixes = {prefix for t in table.clients.values() if t.bcast for prefix in t.prefixes}
    items = sum(map(len, table.keys.values()))
    return len(table.clients), len(table.keys), items, len(prefixes)


def table_of(provider: ProviderState) -> TrackingTable:
    """The provider's :class:`TrackingTable` (kept on its database 0), made on first use."""
    services = provider.store.services
    table = services.get(_TABLE)
    if isinstance(table, TrackingTable):
        return table
    made = TrackingTable(provider)
    services[_TABLE] = made
    return made


def _get_max_keys(provider: ProviderState) -> bytes:
    return b"%d" % table_of(provider).max_keys


def _set_max_keys(provider: ProviderState, value: bytes) -> bytes | None:
    parsed = checked_int(value, 0, (1 << 63) - 1)
    if isinstance(parsed, bytes):
        return parsed
    table = table_of(provider)
    table.max_keys = parsed
    table.shrink()
    return None


register_parameter(Parameter(b"tracking-table-max-keys", _get_max_keys, _set_max_keys))
