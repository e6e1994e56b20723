"""DUMP/RESTORE of streams in Redis 7.0's serialisation (``RDB_TYPE_STREAM_LISTPACKS_2``).

A stream is written as Redis's ``rdbSaveObject`` writes it: the radix tree's
listpack nodes (each keyed by its master ID, 16 bytes big-endian), the length,
the last, first and maximal deleted IDs, the entries added, then every consumer
group (by name) with its last ID, entries read, pending entries (ID, delivery
time, delivery count) and consumers (name, seen time, the IDs they own).

Each node is a listpack as ``t_stream.c`` builds it: a master entry (count,
deleted, the master fields, a 0 terminator) then per entry the flags, the ID as
a difference from the master ID, the values alone when the entry has the master's
fields (``SAMEFIELDS``) or the field count and pairs otherwise, and the entry's
element count. Deleted entries are not kept here (XDEL forgets their fields), so
a node is written with its live entries and its first live entry as the master:
Redis loads it the same. Reading accepts deleted entries (skipped, their IDs
kept in the node for XTRIM's accounting), ``RDB_TYPE_STREAM_LISTPACKS`` (Redis
6) and LZF-compressed listpacks, as Redis writes them.

The append-only log keeps streams in the same form (a DUMP payload, checksummed),
so a stream survives a restart with its groups, pending entries and consumers.
"""

from __future__ import annotations

from ..datatypes import rdb
from ..kvstore import register_codec
from .stream import Consumer, Group, Pending, Stream, StreamId, _Node

__all__ = ["TYPE_STREAM_LISTPACKS", "TYPE_STREAM_LISTPACKS_2", "dump_stream", "load_stream"]

TYPE_STREAM_LISTPACKS, TYPE_STREAM_LISTPACKS_2 = 15, 19
_FLAG_DELETED, _FLAG_SAMEFIELDS = 1, 2
_U64 = (1 << 64) - 1


def _stream_id(value: StreamId) -> bytes:
    return value[0].to_bytes(8, "big") + value[1].to_bytes(8, "big")


def _ids(value: StreamId) -> bytes:
    return rdb.encode_length(value[0]) + rdb.encode_length(value[1])


def _node(ids: list[StreamId], entries: dict[StreamId, list[bytes]]) -> bytes:
    master = ids[0]
    master_fields = entries[master][0::2]
    values: list[bytes] = [b"%d" % len(ids), b"0", b"%d" % len(master_fields)]
    values += master_fields
    values.append(b"0")
    for stream_id in ids:
        fields = entries[stream_id]
        names = fields[0::2]
        ms, seq = stream_id[0] - master[0], stream_id[1] - master[1]
        if names == master_fields:
            values += [b"%d" % _FLAG_SAMEFIELDS, b"%d" % ms, b"%d" % seq, *fields[1::2]]
            values.append(b"%d" % (len(names) + 3))
        else:
            values += [b"0", b"%d" % ms, b"%d" % seq, b"%d" % len(names), *fields]
            values.append(b"%d" % (2 * len(names) + 4))
    return rdb.listpack(values)


def dump_stream(value: object) -> bytes:
    """The type byte and object of a stream (:func:`rdb.register_type`'s writer)."""
    assert isinstance(value, Stream)
    nodes = []
    for node in value._nodes:
        live = [stream_id for stream_id in node.ids if stream_id in value.entries]
        if live:
            nodes.append(rdb.encode_string(_stream_id(live[0])))
            nodes.append(rdb.encode_string(_node(live, value.entries)))
    out = [bytes((TYPE_STREAM_LISTPACKS_2,)), rdb.encode_length(len(nodes) // 2), *nodes]
    out += [rdb.encode_length(len(value)), _ids(value.last_id), _ids(value.first_id)]
    out += [_ids(value.max_deleted_id), rdb.encode_length(value.entries_added)]
    out.append(rdb.encode_length(len(value.groups)))
    for name in sorted(value.groups):
        group = value.groups[name]
        out += [rdb.encode_string(name), _ids(group.last_id)]
        out.append(rdb.encode_length(group.entries_read & _U64))
        out.append(rdb.encode_length(len(group.pending)))
        for stream_id in sorted(group.pending):
            pending = group.pending[stream_id]
            out.append(_stream_id(stream_id) + pending.delivery_time.to_bytes(8, "little"))
            out.append(rdb.encode_length(pending.delivery_count))
        out.append(rdb.encode_length(len(group.consumers)))
        for consumer_name in sorted(group.consumers):
            consumer = group.consumers[consumer_name]
            out += [rdb.encode_string(consumer_name), consumer.seen_time.to_bytes(8, "little")]
            out.append(rdb.encode_length(len(consumer.pending)))
            out += [_stream_id(stream_id) for stream_id in sorted(consumer.pending)]
    return b"".join(out)


def _read_id(reader: rdb.Reader) -> StreamId:
    raw = reader.take(16)
    return int.from_bytes(raw[:8], "big"), int.from_bytes(raw[8:], "big")


def _read_ids(reader: rdb.Reader) -> StreamId:
    return reader.count(), reader.count()


def _integer(text: bytes) -> int:
    try:
        return int(text)
    except ValueError:
        raise rdb.BadPayload("not an integer in a stream listpack") from None


def _load_node(stream: Stream, master: StreamId, flat: list[bytes]) -> None:
    if len(flat) < 4:
        raise rdb.BadPayload("short stream listpack")
    count, deleted, field_count = (_integer(part) for part in flat[:3])
    master_fields = flat[3 : 3 + field_count]
    position = 3 + field_count
    if field_count < 0 or flat[position : position + 1] != [b"0"]:
        raise rdb.BadPayload("bad stream master entry")
    position += 1
    node = _Node()
    while position < len(flat):
        flags = _integer(flat[position])
        stream_id = (
            master[0] + _integer(flat[position + 1]),
            master[1] + _integer(flat[position + 2]),
        )
        position += 3
        if flags & _FLAG_SAMEFIELDS:
            values = flat[position : position + field_count]
            fields = [part for pair in zip(master_fields, values, strict=True) for part in pair]
            position += field_count
        else:
            size = _integer(flat[position]) * 2
            fields = flat[position + 1 : position + 1 + size]
            position += 1 + size
        position += 1  # the entry's element count
        if position > len(flat) or not fields or not 0 <= stream_id[0] <= _U64:
            raise rdb.BadPayload("bad stream entry")
        if stream.ids and stream_id <= stream.ids[-1]:
            raise rdb.BadPayload("stream IDs out of order")
        node.ids.append(stream_id)
        if not flags & _FLAG_DELETED:
            node.live += 1
            stream.ids.append(stream_id)
            stream.entries[stream_id] = fields
            stream._node_of[stream_id] = node
    if node.live != count or len(node.ids) - node.live != deleted or not node.live:
        raise rdb.BadPayload("stream node counts do not match")
    stream._nodes.append(node)


def load_stream(reader: rdb.Reader, kind: int) -> Stream:
    """A stream from its RDB object (:func:`rdb.register_type`'s reader)."""
    stream = Stream()
    for _ in range(reader.count()):
        key = reader.string()
        if len(key) != 16:
            raise rdb.BadPayload("stream node key is not an ID")
        master = int.from_bytes(key[:8], "big"), int.from_bytes(key[8:], "big")
        _load_node(stream, master, rdb.read_listpack(reader.string()))
    if reader.count() != len(stream.ids):
        raise rdb.BadPayload("stream length mismatch")
    stream.last_id = _read_ids(reader)
    if kind == TYPE_STREAM_LISTPACKS_2:
        stream.first_id = _read_ids(reader)
        stream.max_deleted_id = _read_ids(reader)
        stream.entries_added = reader.count()
    else:
        stream.first_id = stream.ids[0] if stream.ids else (0, 0)
        stream.entries_added = len(stream.ids)
    if stream.ids and stream.ids[-1] > stream.last_id:
        raise rdb.BadPayload("stream entry after its last ID")
    for _ in range(reader.count()):
        name = reader.string()
        last_id = _read_ids(reader)
        if kind == TYPE_STREAM_LISTPACKS_2:
            read = reader.count()
            entries_read = -1 if read == _U64 else read
        else:
            entries_read = stream.distance_from_first_ever(last_id)
        group = Group(last_id, entries_read)
        if name in stream.groups:
            raise rdb.BadPayload("duplicate consumer group")
        stream.groups[name] = group
        for _ in range(reader.count()):
            stream_id = _read_id(reader)
            pending = Pending(None, int.from_bytes(reader.take(8), "little", signed=True))
            pending.delivery_count = reader.count()
            group.pending[stream_id] = pending
        for _ in range(reader.count()):
            consumer_name = reader.string()
            consumer = Consumer(
                consumer_name, int.from_bytes(reader.take(8), "little", signed=True)
            )
            group.consumers[consumer_name] = consumer
            for _ in range(reader.count()):
                stream_id = _read_id(reader)
                owned = group.pending.get(stream_id)
                if owned is None or owned.consumer is not None:
                    raise rdb.BadPayload("consumer owns an entry not pending in its group")
                owned.consumer = consumer
                consumer.pending[stream_id] = owned
    return stream


rdb.register_type(
    Stream, (TYPE_STREAM_LISTPACKS, TYPE_STREAM_LISTPACKS_2), dump_stream, load_stream
)


def _from_payload(payload: bytes) -> Stream:
    stream = rdb.restore(payload)
    if not isinstance(stream, Stream):
        raise rdb.BadPayload("not a stream")
    return stream


register_codec(Stream, rdb.dump, _from_payload)
