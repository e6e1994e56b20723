"""The pub/sub hub: every connection's subscriptions, delivery, keyspace notifications.

One :class:`PubSubHub` per provider holds every connection's subscriptions;
a message to another connection goes straight to that connection's sender.
A subscriber whose unread messages pass its output limit is disconnected
(the limit Redis's ``client-output-buffer-limit pubsub`` sets) and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from wireproto.memory import MemoryLimitExceeded

from ...kvstore import Store, compile_glob
from ..replies import bulk, error

if TYPE_CHECKING:
    from wireproto import NetworkSender

__all__ = [
    "SUBSCRIBED_MODE_COMMANDS",
    "PubSubHub",
    "Subscriber",
    "Subscriptions",
    "deliver",
    "event_class",
    "keyspace_events_text",
    "parse_keyspace_events",
    "push_header",
    "subscribed_mode_error",
]

_log = logging.getLogger("wireproto.providers.resp")

SUBSCRIBED_MODE_COMMANDS = frozenset(
    {
        "subscribe",
        "psubscribe",
        "ssubscribe",
        "unsubscribe",
        "punsubscribe",
        "sunsubscribe",
        "ping",
        "quit",
        "reset",
    }
)
"""What a RESP2 connection with subscriptions may run (Redis's ``processCommand``)."""


def subscribed_mode_error(name: str) -> bytes:
    """Redis's reply to another command on a subscribed RESP2 connection."""
    return error(
        b"ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
        b"RESET are allowed in this context" % name.encode()
    )


class Subscriber(Protocol):
    """What the hub uses of a subscribed connection (a ``RespSession``)."""

    @property
    def resp3(self) -> bool:
        """Whether messages go as RESP3 pushes."""
        ...

    @property
    def client_id(self) -> int:
        """CLIENT ID, for the log."""
        ...

    @property
    def sender(self) -> NetworkSender:
        """Where messages go."""
        ...


class Subscriptions:
    """One connection's channels, patterns and shard channels, in subscription order."""

    __slots__ = ("channels", "output_limit", "patterns", "shard")

    def __init__(self, output_limit: int | None = None) -> None:
        self.channels: dict[bytes, None] = {}
        self.patterns: dict[bytes, None] = {}
        self.shard: dict[bytes, None] = {}
        self.output_limit = output_limit
        """The connection's output limit before it subscribed (restored when it leaves)."""

    @property
    def count(self) -> int:
        """Channels and patterns: the count SUBSCRIBE and PSUBSCRIBE replies carry."""
        return len(self.channels) + len(self.patterns)

    @property
    def total(self) -> int:
        """Every subscription, shard channels included (0: the connection leaves pub/sub mode)."""
        return len(self.channels) + len(self.patterns) + len(self.shard)


def push_header(resp3: bool, count: int) -> bytes:
    """The header of a pushed message of ``count`` items (RESP2: an array)."""
    return b">%d\r\n" % count if resp3 else b"*%d\r\n" % count


# -- keyspace notifications ---------------------------------------------------------

_CLASSES = "g$lshzxetdKEmn"
_ALL = "g$lshzxetd"
"""``A``: every type class (not ``m``, key misses, nor ``n``, new keys), as Redis's NOTIFY_ALL."""

_GENERIC_EVENTS = frozenset(
    b"del expire rename_from rename_to persist copy_to move_from move_to restore".split()
)
_STRING_EVENTS = frozenset(b"set setrange incrby incrbyfloat append".split())


def parse_keyspace_events(text: bytes) -> frozenset[str] | None:
    """The classes of a ``notify-keyspace-events`` value, or None for an unknown character."""
    classes: set[str] = set()
    for char in text.decode("latin-1"):
        if char == "A":
            classes.update(_ALL)
        elif char in _CLASSES:
            classes.add(char)
        else:
            return None
    return frozenset(classes)


def keyspace_events_text(classes: frozenset[str]) -> bytes:
    """CONFIG GET's spelling of ``classes`` (Redis's ``keyspaceEventsFlagsToString``)."""
    text = "A" if set(_ALL) <= classes else "".join(c for c in _ALL if c in classes)
    text += "".join(c for c in "KEmn" if c in classes)
    return text.encode()


def event_class(event: bytes) -> str:
    """The ``notify-keyspace-events`` class of a store event (Redis's NOTIFY_* of its command)."""
    if event in _STRING_EVENTS:
        return "$"
    if event in _GENERIC_EVENTS:
        return "g"
    if event == b"expired":
        return "x"
    if event == b"evicted":
        return "e"
    if event == b"new":
        return "n"
    first = event[:1]
    if first in (b"l", b"r", b"b") or event == b"sortstore":
        return "l"
    if first == b"h":
        return "h"
    if first == b"z":
        return "z"
    if first == b"x":
        return "t"
    if first == b"s":
        return "s"
    return "g"


class PubSubHub:
    """Every subscription of one provider's connections, and delivery to them.

    ``stores`` returns the numbered databases (index = database number) whose
    writes keyspace notifications report; observers are installed only while
    ``notify-keyspace-events`` enables some, so writes pay nothing otherwise.
    """

    def __init__(self, stores: Callable[[], Sequence[Store]]) -> None:
        self._stores = stores
        self.channels: dict[bytes, dict[Subscriber, None]] = {}
        self.patterns: dict[bytes, tuple[Callable[[bytes], bool], dict[Subscriber, None]]] = {}
        self.shard: dict[bytes, dict[Subscriber, None]] = {}
        self.keyspace_classes: frozenset[str] = frozenset()
        self._stop_observing: list[Callable[[], None]] = []

    # -- subscriptions --------------------------------------------------------------

    def add(self, kind: str, name: bytes, client: Subscriber) -> None:
        """Record ``client``'s subscription (kind: channel, pattern or shard)."""
        if kind == "pattern":
            entry = self.patterns.get(name)
            if entry is None:
                entry = self.patterns[name] = (compile_glob(name), {})
            entry[1][client] = None
        else:
            table = self.channels if kind == "channel" else self.shard
            table.setdefault(name, {})[client] = None

    def remove(self, kind: str, name: bytes, client: Subscriber) -> None:
        """Forget ``client``'s subscription."""
        if kind == "pattern":
            entry = self.patterns.get(name)
            if entry is not None:
                entry[1].pop(client, None)
                if not entry[1]:
                    del self.patterns[name]
            return
        table = self.channels if kind == "channel" else self.shard
        subscribers = table.get(name)
        if subscribers is not None:
            subscribers.pop(client, None)
            if not subscribers:
                del table[name]

    def drop(self, client: Subscriber, subscriptions: Subscriptions) -> None:
        """Forget every subscription of a closing (or RESET) connection."""
        client.sender.memory.output_limit = subscriptions.output_limit
        for name in subscriptions.channels:
            self.remove("channel", name, client)
        for name in subscriptions.patterns:
            self.remove("pattern", name, client)
        for name in subscriptions.shard:
            self.remove("shard", name, client)

    # -- delivery -------------------------------------------------------------------

    def publish(
        self, channel: bytes, message: bytes, publisher: Subscriber | None
    ) -> tuple[int, bytes]:
        """Deliver ``message``; the receivers and the messages for ``publisher`` itself."""
        count = 0
        own = b""
        subscribers = self.channels.get(channel)
        if subscribers:
            tail = bulk(b"message") + bulk(channel) + bulk(message)
            for client in list(subscribers):
                reply = push_header(client.resp3, 3) + tail
                if client is publisher:
                    own += reply
                else:
                    deliver(client, reply)
                count += 1
        if self.patterns:
            tail = bulk(channel) + bulk(message)
            for pattern, (match, clients) in list(self.patterns.items()):
                if not match(channel):
                    continue
                head = bulk(b"pmessage") + bulk(pattern)
                for client in list(clients):
                    reply = push_header(client.resp3, 4) + head + tail
                    if client is publisher:
                        own += reply
                    else:
                        deliver(client, reply)
                    count += 1
        return count, own

    def spublish(self, channel: bytes, message: bytes, publisher: Subscriber) -> tuple[int, bytes]:
        """SPUBLISH: deliver to the shard channel's subscribers."""
        count = 0
        own = b""
        tail = bulk(b"smessage") + bulk(channel) + bulk(message)
        for client in list(self.shard.get(channel, ())):
            reply = push_header(client.resp3, 3) + tail
            if client is publisher:
                own += reply
            else:
                deliver(client, reply)
            count += 1
        return count, own

    # -- keyspace notifications -------------------------------------------------------

    def set_keyspace_events(self, classes: frozenset[str]) -> None:
        """Apply ``notify-keyspace-events``: observe the databases while any event is on."""
        self.keyspace_classes = classes
        active = bool(classes & {"K", "E"}) and bool(classes - {"K", "E"})
        if active and not self._stop_observing:
            for number, store in enumerate(self._stores()):
                self._stop_observing.append(store.observe(self._observer(number)))
        elif not active:
            for stop in self._stop_observing:
                stop()
            self._stop_observing.clear()

    def _observer(self, number: int) -> Callable[[bytes, bytes], None]:
        def observe(event: bytes, key: bytes) -> None:
            self.keyspace_event(number, event, key)

        return observe

    def keyspace_event(self, db: int, event: bytes, key: bytes) -> None:
        """Publish ``event`` on ``key`` of database ``db`` as Redis's ``notifyKeyspaceEvent``."""
        classes = self.keyspace_classes
        if event_class(event) not in classes:
            return
        if "K" in classes:
            self._notify(b"__keyspace@%d__:%s" % (db, key), event)
        if "E" in classes:
            self._notify(b"__keyevent@%d__:%s" % (db, event), key)

    def _notify(self, channel: bytes, message: bytes) -> None:
        # The writer's own connection gets its notification at once (before its reply).
        self.publish(channel, message, None)


def deliver(client: Subscriber, message: bytes) -> None:
    """Send ``message`` to another connection; past its output limit it is closed and logged."""
    try:
        client.sender.send(message)
    except MemoryLimitExceeded:  # the connection closed itself; its session leaves the hub
        _log.warning(
            "Subscriber id=%d addr=%s closed for overcoming of output buffer limits.",
            client.client_id,
            client.sender.get_extra_info("peername"),
        )
