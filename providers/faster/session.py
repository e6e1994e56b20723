"""FASTER's binary and WebSocket sessions on the shared key-value store.

The operations follow FASTER's VarLenServer (``SpanByteFasterKVProvider`` with
``SpanByteFunctionsForServer``, whose updaters are ``SpanByteFunctions``'),
for an in-memory log where every record is in the mutable region:

- Upsert stores the value: ``IN_PLACE_UPDATED_RECORD`` when it fits in the
  current value (ConcurrentWriter), else ``NOT_FOUND | CREATED_RECORD``;
- RMW on a missing key stores the input (InitialUpdater,
  ``NOT_FOUND | CREATED_RECORD``); on a value at least as long as the input
  it stores the input (InPlaceUpdater, ``IN_PLACE_UPDATED_RECORD``); on a
  shorter value it copies the old value into a new record as long as the
  input, zero-filled (CopyUpdater, ``COPY_UPDATED_RECORD``);
- Delete: ``IN_PLACE_UPDATED_RECORD`` (a tombstone) or ``NOT_FOUND``;
- Read: ``FOUND`` with the value, or ``NOT_FOUND``.

SubscribeKV / PSubscribeKV subscribers hear of every write to their keys,
whichever format made it: while a subscription exists the broker observes the
shared store (:meth:`Store.observe`), so a RESP ``SET``, a memcached ``set``,
an expiry or a FASTER Upsert, RMW or Delete all notify. As in FASTER (whose
``SubscribeKVBroker`` publishes the key and the subscriber's session then
reads it) each notification carries the key's value when it is delivered:
``FOUND`` with the value, or ``NOT_FOUND`` once deleted. A FASTER Delete
publishes even when the key was missing, as FASTER's sessions do. Writes
inside a FASTER batch are delivered after that batch's replies.

Subscribe / PSubscribe / Publish are FASTER's other broker
(``SubscribeBroker``, on by default in its VarLenServer): channels apart from
the store. Publish answers ``FOUND`` and sends the value to the channel's
subscribers (``Subscribe``, or ``PSubscribe`` with the channel name for a
prefix), after the publisher's batch; its subscription ids count on their own.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from wireproto import Limits, MessageConsumer, NetworkSender, ProtocolError, Verdict, WireFormat
from wireproto.framing import FramedConsumer, FrameSpan, compile_construct

from ..kvstore import Store, WrongType
from .wire import (
    BATCH_HEADER,
    BINARY_REQUESTS,
    PROTOCOL_VARLEN,
    REPLY_OUTPUT,
    REPLY_SID,
    REPLY_SID_KEY,
    REPLY_SID_KEY_OUTPUT,
    REPLY_SID_OUTPUT,
    REPLY_STATUS,
    WS_BATCH_HEADER,
    WS_REQUESTS,
    MessageType,
    StatusCode,
    build_binary_batch,
    build_ws_batch,
)

__all__ = [
    "DEFAULT_SETTINGS",
    "FASTER",
    "FASTER_WS",
    "PRIORITY",
    "BatchFramer",
    "FasterProvider",
    "FasterSettings",
    "binary_detector",
    "ws_detector",
]

_SIZE = struct.Struct("<i")
_MIN_WS_MESSAGE = 5  # a type byte and a SpanByte length: the smallest request
_WS_HEADER = WS_BATCH_HEADER.sizeof()  # once: the detector runs on every connection
WS_MAX_MESSAGES_PER_REPLY = 255
"""FASTER's JavaScript client reads a reply batch's count from one byte."""


@dataclass(frozen=True, slots=True)
class FasterSettings:
    """Limits of the FASTER formats.

    ``max_batch_size`` bounds the bytes after a batch's size field;
    ``max_key_size`` and ``max_value_size`` (FASTER's ``MaxSizeSettings``
    default key size, and a value bound) refuse one message with status
    ``ERROR``; a reply batch is cut before it passes ``max_reply_batch``
    bytes (FASTER's ``BufferSizeUtils.MaxBatchSize``), as FASTER's server
    sends a full response buffer and starts the next.
    """

    max_batch_size: int = 1 << 20
    max_key_size: int = 4096
    max_value_size: int = 512 * 1024
    max_reply_batch: int = 1 << 17


DEFAULT_SETTINGS = FasterSettings()
PRIORITY = 20
"""Above memcached binary (10): a FASTER batch may start with 0x80, its magic."""


def binary_detector(data: bytes) -> Verdict:
    """FASTER's rule: the top bit of the first int32 (a negated batch size), then the protocol.

    A size outside ``8..max_batch_size`` is not FASTER's (a memcached binary
    request with a long key also sets that bit); the protocol byte of the
    batch header must be ``DefaultVarLenKV``.
    """
    if len(data) < 4:
        return Verdict.NEED_MORE
    if data[3] < 0x80:
        return Verdict.NO_MATCH
    size = -_SIZE.unpack_from(data)[0]
    if not BATCH_HEADER.sizeof() <= size <= DEFAULT_SETTINGS.max_batch_size:
        return Verdict.NO_MATCH
    if len(data) < 12:
        return Verdict.NEED_MORE
    return Verdict.MATCH if data[8] == PROTOCOL_VARLEN else Verdict.NO_MATCH


def ws_detector(data: bytes) -> Verdict:
    """A WebSocket batch as FASTER's JavaScript client sends it, on a WebSocket's inner stream.

    A positive size in range, a zero sequence number, and a message count
    that fits in the size.
    """
    if len(data) < 4:
        return Verdict.NEED_MORE
    size = _SIZE.unpack_from(data)[0]
    header = _WS_HEADER
    if not header + _MIN_WS_MESSAGE <= size <= DEFAULT_SETTINGS.max_batch_size:
        return Verdict.NO_MATCH
    if any(data[4:8]):
        return Verdict.NO_MATCH
    if len(data) < 12:
        return Verdict.NEED_MORE
    count = _SIZE.unpack_from(data, 8)[0]
    fits = count >= 1 and count * _MIN_WS_MESSAGE <= size - header
    return Verdict.MATCH if fits else Verdict.NO_MATCH


FASTER = WireFormat("faster", binary_detector, priority=PRIORITY)
"""FASTER's binary protocol (``WireFormat.DefaultVarLenKV``)."""
FASTER_WS = WireFormat("faster-ws", ws_detector, priority=PRIORITY)
"""FASTER's WebSocket batches, found on the inner stream of a WebSocket layer."""


class BatchFramer:
    """Frames FASTER batches by their int32 size prefix (negated in the binary format)."""

    __slots__ = ("_max", "_negated")

    def __init__(self, *, negated: bool, max_batch_size: int) -> None:
        self._negated = negated
        self._max = max_batch_size

    @property
    def max_frame_size(self) -> int:
        """The size field and the largest batch."""
        return 4 + self._max

    def next_frame(self, data: memoryview, /) -> FrameSpan | None:
        """The batch at the head of ``data`` (payload: header and messages)."""
        if len(data) < 4:
            return None
        size = _SIZE.unpack_from(data)[0]
        if self._negated:
            size = -size
        if size < BATCH_HEADER.sizeof():
            raise ProtocolError(f"bad batch size {size}")
        if size > self._max:
            raise ProtocolError(f"batch of {size} bytes over the limit of {self._max}")
        end = 4 + size
        return FrameSpan(4, end, end) if len(data) >= end else None


_Builder = Callable[[Any], bytes]
_reply_status: _Builder = compile_construct(REPLY_STATUS).build
_reply_output: _Builder = compile_construct(REPLY_OUTPUT).build
_reply_sid: _Builder = compile_construct(REPLY_SID).build
_reply_sid_output: _Builder = compile_construct(REPLY_SID_OUTPUT).build
_reply_sid_key: _Builder = compile_construct(REPLY_SID_KEY).build
_reply_sid_key_output: _Builder = compile_construct(REPLY_SID_KEY_OUTPUT).build
_parse_header = compile_construct(BATCH_HEADER).parse
_parse_ws_header = compile_construct(WS_BATCH_HEADER).parse
_BINARY_PARSERS = {kind: compile_construct(con).parse for kind, con in BINARY_REQUESTS.items()}
_WS_PARSERS = {kind: compile_construct(con).parse for kind, con in WS_REQUESTS.items()}
_SPANS = {kind: tuple(sub.name for sub in con.subcons[2:]) for kind, con in BINARY_REQUESTS.items()}
_WS_SPANS = {kind: tuple(sub.name for sub in con.subcons[1:]) for kind, con in WS_REQUESTS.items()}

_READS = frozenset({MessageType.READ.value, MessageType.READ_ASYNC.value})
_UPSERTS = frozenset({MessageType.UPSERT.value, MessageType.UPSERT_ASYNC.value})
_RMWS = frozenset({MessageType.RMW.value, MessageType.RMW_ASYNC.value})
_DELETES = frozenset({MessageType.DELETE.value, MessageType.DELETE_ASYNC.value})
_STATUS_REPLIES: dict[tuple[int, int], bytes] = {}


def _status_reply(kind: int, status: int) -> bytes:
    """A reply of type and status alone (built once per pair)."""
    reply = _STATUS_REPLIES.get((kind, status))
    if reply is None:
        reply = _STATUS_REPLIES[kind, status] = _reply_status({"type": kind, "status": status})
    return reply


def _error_reply(kind: int) -> bytes:
    """An ERROR reply, shaped so that FASTER's clients read it: subscriptions carry a sid."""
    if kind in (MessageType.SUBSCRIBE_KV, MessageType.SUBSCRIBE, MessageType.PSUBSCRIBE):
        return _reply_sid({"type": kind, "status": StatusCode.ERROR, "sid": 0})
    if kind == MessageType.PSUBSCRIBE_KV:  # FASTER.client reads a key after a non-pending sid
        return _reply_sid_key({"type": kind, "status": StatusCode.ERROR, "sid": 0, "key": b""})
    return _status_reply(kind, StatusCode.ERROR)


_CREATED = StatusCode.NOT_FOUND | StatusCode.CREATED_RECORD
_PENDING_JS = 2
"""The pending status FASTER's JavaScript client knows (its Status table predates FASTER v2)."""


_UNCHANGED = frozenset({b"expire", b"persist"})
"""Store events that leave the value as it was (a TTL set or cleared): no notification."""


def _string(store: Store, key: bytes) -> bytes | None:
    """The string at ``key`` as FASTER sees the store: a Redis container looks absent."""
    try:
        return store.get(key)
    except WrongType:
        return None


class Broker:
    """SubscribeKV / PSubscribeKV subscriptions of one provider (``SubscribeKVBroker``).

    While any subscription exists it observes the store; a write inside
    :meth:`holding` (a FASTER batch) is delivered when the hold ends.
    """

    __slots__ = ("_exact", "_held", "_holds", "_next_sid", "_prefix", "_stop", "_store")

    def __init__(self, store: Store) -> None:
        self._store = store
        self._next_sid = 0
        self._exact: dict[bytes, dict[int, _Session]] = {}
        self._prefix: dict[bytes, dict[int, _Session]] = {}
        self._stop: Callable[[], None] | None = None
        self._holds = 0
        self._held: list[bytes] = []

    @property
    def active(self) -> bool:
        """Whether any subscription exists (the store is observed only then)."""
        return bool(self._exact or self._prefix)

    def subscribe(self, key: bytes, session: _Session, prefix: bool) -> int:
        """A new subscription id (1, 2, ... as FASTER's ``Interlocked.Increment``)."""
        self._next_sid += 1
        table = self._prefix if prefix else self._exact
        table.setdefault(key, {})[self._next_sid] = session
        if self._stop is None:
            self._stop = self._store.observe(self._written)
        return self._next_sid

    def remove(self, session: _Session) -> None:
        """Drop every subscription of ``session``; stop observing the store after the last."""
        _remove(session, self._exact, self._prefix)
        if not self.active and self._stop is not None:
            self._stop()
            self._stop = None

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Hold the notifications of the writes made inside, then deliver them in order."""
        self._holds += 1
        try:
            yield
        finally:
            self._holds -= 1
            if not self._holds and self._held:
                keys, self._held = self._held, []
                for key in keys:
                    self.publish(key)

    def written(self, key: bytes) -> None:
        """``key`` was written (or a FASTER Delete missed it): notify now or after the hold."""
        if self._holds:
            self._held.append(key)
        else:
            self.publish(key)

    def _written(self, event: bytes, key: bytes) -> None:
        """The store's observer."""
        if event not in _UNCHANGED:
            self.written(key)

    def publish(self, key: bytes) -> None:
        """Notify the subscribers of ``key`` and of its prefixes."""
        for sid, session in list(self._exact.get(key, {}).items()):
            session.notify(MessageType.SUBSCRIBE_KV, sid, key, False, _string(self._store, key))
        for prefix, subs in list(self._prefix.items()):
            if key.startswith(prefix):
                value = _string(self._store, key)
                for sid, session in list(subs.items()):
                    session.notify(MessageType.PSUBSCRIBE_KV, sid, key, True, value)


class ChannelBroker:
    """Subscribe / PSubscribe / Publish: FASTER's ``SubscribeBroker``, channels beside the store.

    A prefix matches as ``SpanByteKeySerializer.Match`` does for binary keys
    (the channel starts with it). Publications made inside a FASTER batch go
    out after its replies, like the store's notifications.
    """

    __slots__ = ("_exact", "_next_sid", "_prefix")

    def __init__(self) -> None:
        self._next_sid = 0
        self._exact: dict[bytes, dict[int, _Session]] = {}
        self._prefix: dict[bytes, dict[int, _Session]] = {}

    def subscribe(self, key: bytes, session: _Session, prefix: bool) -> int:
        """A new subscription id (its own count, as FASTER's second broker keeps)."""
        self._next_sid += 1
        table = self._prefix if prefix else self._exact
        table.setdefault(key, {})[self._next_sid] = session
        return self._next_sid

    def remove(self, session: _Session) -> None:
        """Drop every subscription of ``session``."""
        _remove(session, self._exact, self._prefix)

    def publish(self, key: bytes, value: bytes) -> None:
        """Send ``value`` to the subscribers of channel ``key`` and of its prefixes."""
        for sid, session in list(self._exact.get(key, {}).items()):
            session.notify(MessageType.SUBSCRIBE, sid, key, False, value)
        for prefix, subs in list(self._prefix.items()):
            if key.startswith(prefix):
                for sid, session in list(subs.items()):
                    session.notify(MessageType.PSUBSCRIBE, sid, key, True, value)


def _remove(session: _Session, *tables: dict[bytes, dict[int, _Session]]) -> None:
    for table in tables:
        for key in [key for key, subs in table.items() if session in subs.values()]:
            subs = table[key]
            for sid in [sid for sid, sub in subs.items() if sub is session]:
                del subs[sid]
            if not subs:
                del table[key]


class _Session:
    """One connection of either variant: frames batches, runs their messages in order."""

    __slots__ = (
        "_broker",
        "_channels",
        "_framed",
        "_published",
        "_sender",
        "_seq_no",
        "_settings",
        "_store",
        "_ws",
    )

    def __init__(
        self,
        store: Store,
        broker: Broker,
        channels: ChannelBroker,
        settings: FasterSettings,
        sender: NetworkSender,
        *,
        ws: bool,
    ) -> None:
        self._store = store
        self._broker = broker
        self._channels = channels
        self._settings = settings
        self._sender = sender
        self._ws = ws
        self._seq_no = 0
        self._published: list[tuple[bytes, bytes]] = []
        framer = BatchFramer(negated=not ws, max_batch_size=settings.max_batch_size)
        self._framed = FramedConsumer(framer, self._batch, sender, on_close=self._closed)

    def try_consume(self, data: memoryview, /) -> int:
        return self._framed.try_consume(data)

    def close(self) -> None:
        self._framed.close()

    def _closed(self) -> None:
        self._broker.remove(self)
        self._channels.remove(self)

    # -- one batch --------------------------------------------------------------

    def _batch(self, payload: bytes, sender: NetworkSender) -> None:
        with self._broker.holding():  # the batch's notifications go after its replies
            self._run_batch(payload)
        if self._published:
            publications, self._published = self._published, []
            for key, value in publications:
                self._channels.publish(key, value)

    def _run_batch(self, payload: bytes) -> None:
        ws = self._ws
        try:
            if ws:
                count = _parse_ws_header(payload)["num_messages"]
                parsers, spans, skip = _WS_PARSERS, _WS_SPANS, 1
            else:
                count = _parse_header(payload)["num_messages"]
                parsers, spans, skip = _BINARY_PARSERS, _SPANS, 9
        except Exception as exc:  # a construct error: the framer guarantees 8 bytes
            raise ProtocolError(f"malformed batch header: {exc}") from None
        if count < 0:
            raise ProtocolError(f"bad message count {count}")
        settings = self._settings
        cap = settings.max_reply_batch
        per_reply = WS_MAX_MESSAGES_PER_REPLY if ws else 1 << 24
        replies: list[bytes] = []
        size = 0
        offset = 8
        view = memoryview(payload)
        for _ in range(count):
            if offset >= len(payload):
                raise ProtocolError("batch shorter than its message count")
            kind = payload[offset]
            parse = parsers.get(kind)
            if parse is None:
                raise ProtocolError(f"unsupported message type {kind}")
            try:
                message = parse(view[offset:])
            except Exception as exc:  # construct's StreamError and friends
                raise ProtocolError(f"malformed message: {exc}") from None
            fields = [bytes(message[name]) for name in spans[kind]]
            offset += skip + sum(4 + len(value) for value in fields)
            reply = self._apply(kind, fields)
            if replies and (size + len(reply) > cap or len(replies) >= per_reply):
                self._send(replies)
                replies, size = [], 0
            replies.append(reply)
            size += len(reply)
        if replies:
            self._send(replies)

    def _send(self, replies: list[bytes]) -> None:
        messages = b"".join(replies)
        if self._ws:
            self._sender.send(build_ws_batch(len(replies), messages))
        else:
            self._sender.send(build_binary_batch(self._seq_no, len(replies), messages))
            self._seq_no += 1

    def _apply(self, kind: int, fields: list[bytes]) -> bytes:
        settings = self._settings
        key = fields[0]
        store = self._store
        if len(key) > settings.max_key_size or (
            len(fields) > 1 and len(fields[1]) > settings.max_value_size
        ):
            return _error_reply(kind)
        if kind in _READS:
            value = _string(store, key)
            if value is None:
                return _status_reply(kind, StatusCode.NOT_FOUND)
            return _reply_output({"type": kind, "status": StatusCode.FOUND, "output": value})
        if kind in _UPSERTS:  # subscribers hear of it through the store's observer
            value = fields[1]
            old = _string(store, key)
            store.put(key, value)
            fits = old is not None and len(value) <= len(old)
            return _status_reply(kind, StatusCode.IN_PLACE_UPDATED_RECORD if fits else _CREATED)
        if kind in _RMWS:
            status = self._rmw(key, fields[1])
            if self._ws:  # WebsocketServerSession sends no output for RMW
                return _status_reply(kind, status)
            # FASTER's functions write no RMW output: its reply carries an empty one.
            return _reply_output({"type": kind, "status": status, "output": b""})
        if kind in _DELETES:
            found = store.delete(key)
            if not found and self._broker.active:
                self._broker.written(key)  # FASTER publishes every Delete; the store did not
            status = StatusCode.IN_PLACE_UPDATED_RECORD if found else StatusCode.NOT_FOUND
            return _status_reply(kind, status)
        if kind == MessageType.PUBLISH:
            self._published.append((key, fields[1]))
            return _status_reply(kind, StatusCode.FOUND)
        pending = _PENDING_JS if self._ws else StatusCode.PENDING
        if kind in (MessageType.SUBSCRIBE, MessageType.PSUBSCRIBE):
            sid = self._channels.subscribe(key, self, kind == MessageType.PSUBSCRIBE)
            return _reply_sid({"type": kind, "status": pending, "sid": sid})
        # SubscribeKV / PSubscribeKV
        sid = self._broker.subscribe(key, self, kind == MessageType.PSUBSCRIBE_KV)
        return _reply_sid({"type": kind, "status": pending, "sid": sid})

    def _rmw(self, key: bytes, data: bytes) -> int:
        store = self._store
        old = _string(store, key)
        if old is None:
            store.put(key, data)
            return _CREATED
        if len(data) <= len(old):
            store.put(key, data)
            return StatusCode.IN_PLACE_UPDATED_RECORD
        store.put(key, old + bytes(len(data) - len(old)))
        return StatusCode.COPY_UPDATED_RECORD

    # -- notifications ------------------------------------------------------------

    def notify(self, kind: int, sid: int, key: bytes, prefix: bool, value: bytes | None) -> None:
        """Send one notification batch: ``FOUND`` and ``value``, or ``NOT_FOUND`` (``None``).

        ``kind`` is SubscribeKV or Subscribe, or their prefix forms (``prefix``:
        the key follows the sid).
        """
        status = StatusCode.FOUND if value is not None else StatusCode.NOT_FOUND
        if value is None and self._ws:
            value = b""  # the JavaScript client reads an output after NOT_FOUND too
        fields: dict[str, Any] = {
            "type": kind,
            "status": status,
            "sid": sid,
            "key": key,
            "output": value,
        }
        if prefix:
            reply = _reply_sid_key(fields) if value is None else _reply_sid_key_output(fields)
        else:
            reply = _reply_sid(fields) if value is None else _reply_sid_output(fields)
        if self._ws:
            self._sender.send(build_ws_batch(1, reply))
        else:  # notifications carry sequence number 0, outside the session's count
            self._sender.send(build_binary_batch(0, 1, reply))


class FasterProvider:
    """Serves ``faster`` and ``faster-ws`` on one store, with one subscription broker.

    FASTER's protocol has no authentication, so this provider is not
    :class:`~wireproto._session.Authenticating`: a listener that requires a
    password refuses FASTER clients at detection.
    """

    def __init__(self, store: Store, settings: FasterSettings = DEFAULT_SETTINGS) -> None:
        self.store = store
        self.settings = settings
        self.broker = Broker(store)
        self.channels = ChannelBroker()
        self._limits = Limits(max_message_size=4 + settings.max_batch_size)

    @property
    def limits(self) -> Limits:
        """A whole batch fits in the receive buffer."""
        return self._limits

    def create_session(self, wire_format: WireFormat, sender: NetworkSender) -> MessageConsumer:
        """A binary session, or a WebSocket one for ``faster-ws``."""
        ws = wire_format.name == FASTER_WS.name
        return _Session(self.store, self.broker, self.channels, self.settings, sender, ws=ws)

    def websocket_messages(self, wire_format: WireFormat, data: bytes) -> list[bytes]:
        """Cut ``faster-ws`` output into one WebSocket message per batch.

        FASTER's JavaScript client reads one batch from each message, so a
        WebSocket layer that sends the replies of one read at once (a reply
        cut in two, a notification after it) should send each batch alone.
        Other formats' output stays one message.
        """
        if wire_format.name != FASTER_WS.name:
            return [data]
        messages = []
        offset = 0
        while len(data) - offset >= 4:
            end = offset + 4 + _SIZE.unpack_from(data, offset)[0]
            messages.append(data[offset:end])
            offset = end
        if offset < len(data):
            messages.append(data[offset:])
        return messages
