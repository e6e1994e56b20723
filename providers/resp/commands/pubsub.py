"""Pub/sub: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE, their UNSUBSCRIBEs, PUBLISH, SPUBLISH, PUBSUB,
and keyspace notifications (``notify-keyspace-events``), as Redis 7.0 sends them.

One :class:`PubSubHub` per provider holds every connection's subscriptions;
a message to another connection goes straight to that connection's sender.
A subscriber whose unread messages pass its output limit is disconnected
(the limit Redis's ``client-output-buffer-limit pubsub`` sets) and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

from wireproto.memory import MemoryLimitExceeded

from ...kvstore import Store, compile_glob
from ..replies import bulk, error, integer
from ._base import Client, Command, container

__all__ = [
    "COMMANDS",
    "SUBSCRIBED_MODE_COMMANDS",
    "PubSubHub",
    "Subscriptions",
    "keyspace_events_text",
    "parse_keyspace_events",
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


class Subscriptions:
    """One connection's channels, patterns and shard channels, in subscription order."""

    __slots__ = ("channels", "patterns", "shard")

    def __init__(self) -> None:
        self.channels: dict[bytes, None] = {}
        self.patterns: dict[bytes, None] = {}
        self.shard: dict[bytes, None] = {}

    @property
    def count(self) -> int:
        """Channels and patterns: the count SUBSCRIBE and PSUBSCRIBE replies carry."""
        return len(self.channels) + len(self.patterns)

    @property
    def total(self) -> int:
        """Every subscription, shard channels included (0: the connection leaves pub/sub mode)."""
        return len(self.channels) + len(self.patterns) + len(self.shard)


def _push(resp3: bool, count: int) -> bytes:
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
        self.channels: dict[bytes, dict[Client, None]] = {}
        self.patterns: dict[bytes, tuple[Callable[[bytes], bool], dict[Client, None]]] = {}
        self.shard: dict[bytes, dict[Client, None]] = {}
        self.keyspace_classes: frozenset[str] = frozenset()
        self._stop_observing: list[Callable[[], None]] = []

    # -- subscriptions --------------------------------------------------------------

    def add(self, kind: str, name: bytes, client: Client) -> None:
        """Record ``client``'s subscription (kind: channel, pattern or shard)."""
        if kind == "pattern":
            entry = self.patterns.get(name)
            if entry is None:
                entry = self.patterns[name] = (compile_glob(name), {})
            entry[1][client] = None
        else:
            table = self.channels if kind == "channel" else self.shard
            table.setdefault(name, {})[client] = None

    def remove(self, kind: str, name: bytes, client: Client) -> None:
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

    def drop(self, client: Client, subscriptions: Subscriptions) -> None:
        """Forget every subscription of a closing connection."""
        for name in subscriptions.channels:
            self.remove("channel", name, client)
        for name in subscriptions.patterns:
            self.remove("pattern", name, client)
        for name in subscriptions.shard:
            self.remove("shard", name, client)

    # -- delivery -------------------------------------------------------------------

    def publish(
        self, channel: bytes, message: bytes, publisher: Client | None
    ) -> tuple[int, bytes]:
        """Deliver ``message``; the receivers and the messages for ``publisher`` itself."""
        count = 0
        own = b""
        subscribers = self.channels.get(channel)
        if subscribers:
            tail = bulk(b"message") + bulk(channel) + bulk(message)
            for client in list(subscribers):
                reply = _push(client.resp3, 3) + tail
                if client is publisher:
                    own += reply
                else:
                    _deliver(client, reply)
                count += 1
        if self.patterns:
            tail = bulk(channel) + bulk(message)
            for pattern, (match, clients) in list(self.patterns.items()):
                if not match(channel):
                    continue
                head = bulk(b"pmessage") + bulk(pattern)
                for client in list(clients):
                    reply = _push(client.resp3, 4) + head + tail
                    if client is publisher:
                        own += reply
                    else:
                        _deliver(client, reply)
                    count += 1
        return count, own

    def spublish(self, channel: bytes, message: bytes, publisher: Client) -> tuple[int, bytes]:
        """SPUBLISH: deliver to the shard channel's subscribers."""
        count = 0
        own = b""
        tail = bulk(b"smessage") + bulk(channel) + bulk(message)
        for client in list(self.shard.get(channel, ())):
            reply = _push(client.resp3, 3) + tail
            if client is publisher:
                own += reply
            else:
                _deliver(client, reply)
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


def _deliver(client: Client, message: bytes) -> None:
    try:
        client.sender.send(message)
    except MemoryLimitExceeded:  # the connection closed itself; its session leaves the hub
        _log.warning(
            "Client id=%d addr=%s closed for overcoming of output buffer limits.",
            client.client_id,
            client.sender.get_extra_info("peername"),
        )


# -- commands -----------------------------------------------------------------------


def _subscriptions(s: Client) -> Subscriptions:
    if s.subscriptions is None:
        s.subscriptions = Subscriptions()
    return s.subscriptions


def _leave_if_done(s: Client) -> None:
    if s.subscriptions is not None and not s.subscriptions.total:
        s.subscriptions = None


def _subscribe(kind: str, reply_name: bytes) -> Callable[[Client, list[bytes]], bytes]:
    def subscribe(s: Client, argv: list[bytes]) -> bytes:
        subs = _subscriptions(s)
        hub = s.provider.pubsub
        own = (
            subs.patterns if kind == "pattern" else subs.shard if kind == "shard" else subs.channels
        )
        replies = []
        for name in argv[1:]:
            if name not in own:
                own[name] = None
                hub.add(kind, name, s)
            count = len(subs.shard) if kind == "shard" else subs.count
            replies.append(_push(s.resp3, 3) + bulk(reply_name) + bulk(name) + integer(count))
        return b"".join(replies)

    return subscribe


def _unsubscribe(kind: str, reply_name: bytes) -> Callable[[Client, list[bytes]], bytes]:
    def unsubscribe(s: Client, argv: list[bytes]) -> bytes:
        subs = s.subscriptions
        hub = s.provider.pubsub
        replies = []
        if subs is None:
            subs = Subscriptions()
        own = (
            subs.patterns if kind == "pattern" else subs.shard if kind == "shard" else subs.channels
        )
        names: Iterable[bytes] = argv[1:] if len(argv) > 1 else list(own)
        for name in names:
            if name in own:
                del own[name]
                hub.remove(kind, name, s)
            count = len(subs.shard) if kind == "shard" else subs.count
            replies.append(_push(s.resp3, 3) + bulk(reply_name) + bulk(name) + integer(count))
        if not replies:  # nothing to leave: one reply with a null name
            count = len(subs.shard) if kind == "shard" else subs.count
            replies.append(_push(s.resp3, 3) + bulk(reply_name) + s.null + integer(count))
        _leave_if_done(s)
        return b"".join(replies)

    return unsubscribe


def publish(s: Client, argv: list[bytes]) -> bytes:
    """PUBLISH."""
    count, own = s.provider.pubsub.publish(argv[1], argv[2], s)
    return own + integer(count)


def spublish(s: Client, argv: list[bytes]) -> bytes:
    """SPUBLISH."""
    count, own = s.provider.pubsub.spublish(argv[1], argv[2], s)
    return own + integer(count)


def _channel_list(names: Iterable[bytes], argv: list[bytes], s: Client) -> bytes:
    if len(argv) > 2:
        match = compile_glob(argv[2])
        names = [name for name in names if match(name)]
    else:
        names = list(names)
    return b"*%d\r\n" % len(names) + b"".join(bulk(name) for name in names)


def pubsub_channels(s: Client, argv: list[bytes]) -> bytes:
    """PUBSUB CHANNELS [pattern]."""
    return _channel_list(s.provider.pubsub.channels, argv, s)


def pubsub_shardchannels(s: Client, argv: list[bytes]) -> bytes:
    """PUBSUB SHARDCHANNELS [pattern]."""
    return _channel_list(s.provider.pubsub.shard, argv, s)


def _numsub(table: dict[bytes, dict[Client, None]], argv: list[bytes], s: Client) -> bytes:
    pairs = [(bulk(name), integer(len(table.get(name, ())))) for name in argv[2:]]
    if s.resp3:
        return b"%%%d\r\n" % len(pairs) + b"".join(k + v for k, v in pairs)
    return b"*%d\r\n" % (2 * len(pairs)) + b"".join(k + v for k, v in pairs)


def pubsub_numsub(s: Client, argv: list[bytes]) -> bytes:
    """PUBSUB NUMSUB [channel ...]."""
    return _numsub(s.provider.pubsub.channels, argv, s)


def pubsub_shardnumsub(s: Client, argv: list[bytes]) -> bytes:
    """PUBSUB SHARDNUMSUB [channel ...]."""
    return _numsub(s.provider.pubsub.shard, argv, s)


def pubsub_numpat(s: Client, argv: list[bytes]) -> bytes:
    """PUBSUB NUMPAT."""
    return integer(len(s.provider.pubsub.patterns))


_PS = ("pubsub", "noscript", "loading", "stale")
_PSUB = ("pubsub", "loading", "stale")

COMMANDS: list[Command] = [
    Command("subscribe", -2, _subscribe("channel", b"subscribe"), _PS),
    Command("psubscribe", -2, _subscribe("pattern", b"psubscribe"), _PS),
    Command("ssubscribe", -2, _subscribe("shard", b"ssubscribe"), _PS, (1, -1, 1)),
    Command("unsubscribe", -1, _unsubscribe("channel", b"unsubscribe"), _PS),
    Command("punsubscribe", -1, _unsubscribe("pattern", b"punsubscribe"), _PS),
    Command("sunsubscribe", -1, _unsubscribe("shard", b"sunsubscribe"), _PS, (1, -1, 1)),
    Command("publish", 3, publish, ("pubsub", "loading", "stale", "fast", "may_replicate")),
    Command(
        "spublish", 3, spublish, ("pubsub", "loading", "stale", "fast", "may_replicate"), (1, 1, 1)
    ),
    container(
        "pubsub",
        -2,
        (),
        Command("pubsub|channels", -2, pubsub_channels, _PSUB),
        Command("pubsub|numpat", 2, pubsub_numpat, _PSUB),
        Command("pubsub|numsub", -2, pubsub_numsub, _PSUB),
        Command("pubsub|shardchannels", -2, pubsub_shardchannels, _PSUB),
        Command("pubsub|shardnumsub", -2, pubsub_shardnumsub, _PSUB),
    ),
]
