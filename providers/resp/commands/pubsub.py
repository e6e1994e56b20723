"""Pub/sub commands: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE, their UNSUBSCRIBEs, PUBLISH, SPUBLISH
and PUBSUB, as Redis 7.0 answers them (the hub that delivers is in ``_hub``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ...kvstore import compile_glob
from ..replies import bulk, integer
from ._base import Client, Command, container
from ._hub import Subscriber, Subscriptions
from ._hub import push_header as _push

__all__ = ["COMMANDS", "PUBSUB_OUTPUT_LIMIT"]


# -- commands -----------------------------------------------------------------------


PUBSUB_OUTPUT_LIMIT = 32 << 20
"""Redis's ``client-output-buffer-limit pubsub`` hard limit (32 MiB): a connection with
subscriptions (any protocol) whose unread output passes it is closed."""


def _subscriptions(s: Client) -> Subscriptions:
    if s.subscriptions is None:
        memory = s.sender.memory
        before = memory.output_limit
        s.subscriptions = Subscriptions(before)
        memory.output_limit = (
            PUBSUB_OUTPUT_LIMIT if before is None else min(before, PUBSUB_OUTPUT_LIMIT)
        )
    return s.subscriptions


def _leave_if_done(s: Client) -> None:
    if s.subscriptions is not None and not s.subscriptions.total:
        s.sender.memory.output_limit = s.subscriptions.output_limit
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


def _numsub(table: dict[bytes, dict[Subscriber, None]], argv: list[bytes], s: Client) -> bytes:
    # A flat array in RESP3 too, as Redis 7.0 sends it.
    pairs = [bulk(name) + integer(len(table.get(name, ()))) for name in argv[2:]]
    return b"*%d\r\n" % (2 * len(pairs)) + b"".join(pairs)


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
    Command("publish", 3, publish, ("pubsub", "loading", "stale", "fast")),
    Command("spublish", 3, spublish, ("pubsub", "loading", "stale", "fast"), (1, 1, 1)),
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
