"""RESP pub/sub, sans I/O: connections of one provider subscribe, publish, and are notified."""

from __future__ import annotations

import logging

import pytest
from _drive import resp_command as cmd
from _resp import bulk
from hypothesis import given, settings
from hypothesis import strategies as st
from wireproto.providers.resp import RespLimits, RespProvider, register
from wireproto.providers.resp.commands._hub import (
    event_class,
    keyspace_events_text,
    parse_keyspace_events,
)

from wireproto import CloseReason, Connection, Registry


class Server:
    """One provider; :meth:`client` opens connections to it."""

    def __init__(self, accelerated: bool, limits: RespLimits | None = None) -> None:
        self.provider = RespProvider(accelerated=accelerated, limits=limits)
        self.registry = Registry()
        register(self.registry, self.provider)

    def client(self, resp3: bool = False) -> Peer:
        peer = Peer(Connection(self.registry))
        if resp3:
            assert peer.call("HELLO", 3).startswith(b"%7\r\n")
        return peer


class Peer:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def call(self, *args: bytes | str | int) -> bytes:
        self.connection.receive_data(cmd(*args))
        return self.connection.data_to_send()

    def received(self) -> bytes:
        return self.connection.data_to_send()


def push(resp3: bool, *items: bytes | int) -> bytes:
    head = b">%d\r\n" % len(items) if resp3 else b"*%d\r\n" % len(items)
    return head + b"".join(
        b":%d\r\n" % item if isinstance(item, int) else bulk(item) for item in items
    )


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_a_message_reaches_channel_and_pattern_subscribers(accelerated: bool, resp3: bool) -> None:
    server = Server(accelerated)
    sub, pub = server.client(resp3), server.client()
    assert sub.call("SUBSCRIBE", "news", "other") == push(resp3, b"subscribe", b"news", 1) + push(
        resp3, b"subscribe", b"other", 2
    )
    assert sub.call("PSUBSCRIBE", "n*") == push(resp3, b"psubscribe", b"n*", 3)
    assert pub.call("PUBLISH", "news", "hi") == b":2\r\n"
    assert sub.received() == push(resp3, b"message", b"news", b"hi") + push(
        resp3, b"pmessage", b"n*", b"news", b"hi"
    )
    assert pub.call("PUBLISH", "nothing-here", "x") == b":1\r\n"
    assert pub.call("PUBLISH", "zzz", "x") == b":0\r\n"
    assert pub.call("PUBSUB", "NUMSUB", "news", "zzz") == (
        b"*4\r\n$4\r\nnews\r\n:1\r\n$3\r\nzzz\r\n:0\r\n"
    )
    assert pub.call("PUBSUB", "NUMPAT") == b":1\r\n"
    assert pub.call("PUBSUB", "CHANNELS", "n*") == b"*1\r\n$4\r\nnews\r\n"


def test_resp2_subscribed_mode_allows_only_pubsub_commands(accelerated: bool) -> None:
    sub = Server(accelerated).client()
    sub.call("SSUBSCRIBE", "s")
    assert sub.call("GET", "k") == (
        b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
        b"RESET are allowed in this context\r\n"
    )
    assert sub.call("CLIENT", "ID").startswith(b"-ERR Can't execute 'client|id'")
    assert sub.call("PING") == b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"
    assert sub.call("PING", "x") == b"*2\r\n$4\r\npong\r\n$1\r\nx\r\n"
    assert sub.call("SUNSUBSCRIBE") == push(False, b"sunsubscribe", b"s", 0)
    assert sub.call("GET", "k") == b"$-1\r\n"
    assert sub.call("PING") == b"+PONG\r\n"


def test_resp3_subscribers_run_any_command_and_receive_their_own_messages(
    accelerated: bool,
) -> None:
    sub = Server(accelerated).client(resp3=True)
    sub.call("SUBSCRIBE", "c")
    assert sub.call("GET", "k") == b"_\r\n"
    assert sub.call("PING") == b"+PONG\r\n"
    assert sub.call("PUBLISH", "c", "m") == push(True, b"message", b"c", b"m") + b":1\r\n"


def test_unsubscribing_from_nothing_names_null(accelerated: bool) -> None:
    sub = Server(accelerated).client()
    assert sub.call("UNSUBSCRIBE") == b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"
    assert sub.call("PUNSUBSCRIBE", "p") == b"*3\r\n$12\r\npunsubscribe\r\n$1\r\np\r\n:0\r\n"
    assert sub.call("GET", "k") == b"$-1\r\n"  # never entered pub/sub mode


def test_reset_leaves_pub_sub_mode(accelerated: bool) -> None:
    server = Server(accelerated)
    sub = server.client(resp3=True)
    sub.call("SUBSCRIBE", "c")
    assert sub.call("RESET") == b"+RESET\r\n"
    assert server.client().call("PUBLISH", "c", "m") == b":0\r\n"
    assert sub.call("HELLO").startswith(b"*14\r\n")  # back to RESP2


def test_a_closed_subscriber_leaves_the_hub(accelerated: bool) -> None:
    server = Server(accelerated)
    sub, pub = server.client(), server.client()
    sub.call("SUBSCRIBE", "c")
    sub.call("PSUBSCRIBE", "*")
    sub.connection.close(CloseReason.PEER_CLOSED)
    assert pub.call("PUBLISH", "c", "m") == b":0\r\n"
    assert pub.call("PUBSUB", "NUMPAT") == b":0\r\n"


MESSAGE = push(False, b"message", b"c", b"x" * 10)


@pytest.mark.parametrize(("messages", "closed"), [(3, False), (4, True)])
def test_a_slow_subscriber_past_its_output_limit_is_disconnected(
    accelerated: bool, messages: int, closed: bool, caplog: pytest.LogCaptureFixture
) -> None:
    subscribe_reply = len(push(False, b"subscribe", b"c", 1))
    limit = 3 * len(MESSAGE)  # three unread messages fit, a fourth passes the limit
    server = Server(accelerated, RespLimits(max_output_buffered=limit))
    sub, pub = server.client(), server.client()
    assert len(sub.call("SUBSCRIBE", "c")) == subscribe_reply
    with caplog.at_level(logging.WARNING, "wireproto.providers.resp"):
        for _ in range(messages):
            assert pub.call("PUBLISH", "c", b"x" * 10) == b":1\r\n"
    assert sub.connection.closed is closed
    assert ("overcoming of output buffer limits" in caplog.text) is closed
    if closed:
        assert sub.connection.close_reason is CloseReason.OUTPUT_LIMIT
        assert pub.call("PUBLISH", "c", "y") == b":0\r\n"  # it left the hub
    else:
        assert sub.received() == MESSAGE * messages


def test_keyspace_notifications_follow_the_configured_classes(accelerated: bool) -> None:
    server = Server(accelerated)
    sub, writer = server.client(), server.client()
    sub.call("PSUBSCRIBE", "__key*__:*")
    writer.call("SET", "k", "v")
    assert sub.received() == b""  # notify-keyspace-events is empty by default
    assert writer.call("CONFIG", "SET", "notify-keyspace-events", "K$") == b"+OK\r\n"
    writer.call("SET", "k", "v")
    writer.call("EXPIRE", "k", "100")  # generic: not enabled
    assert sub.received() == push(False, b"pmessage", b"__key*__:*", b"__keyspace@0__:k", b"set")
    writer.call("CONFIG", "SET", "notify-keyspace-events", "Eg")
    writer.call("DEL", "k")
    assert sub.received() == push(False, b"pmessage", b"__key*__:*", b"__keyevent@0__:del", b"k")
    assert writer.call("CONFIG", "GET", "notify-keyspace-events") == (
        b"*2\r\n$22\r\nnotify-keyspace-events\r\n$2\r\ngE\r\n"
    )
    writer.call("CONFIG", "SET", "notify-keyspace-events", "")
    assert not server.provider.store._observers  # writes pay nothing once it is off
    writer.call("SET", "k", "v")
    assert sub.received() == b""


def test_a_bad_event_class_is_refused(accelerated: bool) -> None:
    client = Server(accelerated).client()
    assert client.call("CONFIG", "SET", "notify-keyspace-events", "Kq") == (
        b"-ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - "
        b"Invalid event class character. Use 'Ag$lshzxeKEtmdn'.\r\n"
    )


@pytest.mark.parametrize(
    ("event", "klass"),
    [
        (b"set", "$"),
        (b"incrby", "$"),
        (b"del", "g"),
        (b"rename_to", "g"),
        (b"expired", "x"),
        (b"lpush", "l"),
        (b"rpop", "l"),
        (b"hset", "h"),
        (b"sadd", "s"),
        (b"zadd", "z"),
        (b"xadd", "t"),
    ],
)
def test_events_fall_in_redis_classes(event: bytes, klass: str) -> None:
    assert event_class(event) == klass


@settings(max_examples=200)
@given(st.text(alphabet="Ag$lshzxeKEtmdn", max_size=12))
def test_event_class_text_round_trips(text: str) -> None:
    classes = parse_keyspace_events(text.encode())
    assert classes is not None
    spelled = keyspace_events_text(classes)
    assert parse_keyspace_events(spelled) == classes
    assert keyspace_events_text(parse_keyspace_events(spelled) or frozenset()) == spelled


MIB = b"x" * (1 << 20)


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
@pytest.mark.parametrize(("messages", "closed"), [(31, False), (32, True)])
def test_a_subscriber_is_closed_past_redis_pubsub_output_limit(
    accelerated: bool, resp3: bool, messages: int, closed: bool
) -> None:
    """Redis's ``client-output-buffer-limit pubsub`` hard limit, 32 MiB, whatever the
    connection's own (larger) output limit: 31 unread 1 MiB messages fit, 32 do not."""
    server = Server(accelerated)
    assert server.provider.resp_limits.output_limit > 64 << 20
    sub, pub = server.client(resp3), server.client()
    sub.call("SUBSCRIBE", "c")
    for _ in range(messages):
        assert pub.call("PUBLISH", "c", MIB) == b":1\r\n"
    assert sub.connection.closed is closed


@pytest.mark.parametrize("leave", [("UNSUBSCRIBE",), ("RESET",)])
def test_leaving_pub_sub_gives_the_connection_its_own_output_limit_back(
    accelerated: bool, leave: tuple[str]
) -> None:
    server = Server(accelerated)
    sub, writer = server.client(resp3=True), server.client()
    assert writer.call("SET", "big", MIB * 40) == b"+OK\r\n"
    sub.call("SUBSCRIBE", "c")
    sub.call(*leave)
    assert len(sub.call("GET", "big")) > 40 << 20
    assert not sub.connection.closed
    sub.call("HELLO", 3)  # RESET went back to RESP2, where GET is refused while subscribed
    sub.call("SUBSCRIBE", "c")  # a subscribed connection is limited for all its output
    sub.call("GET", "big")
    assert sub.connection.closed
