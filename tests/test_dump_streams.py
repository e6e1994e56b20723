"""DUMP/RESTORE of streams (RDB_TYPE_STREAM_LISTPACKS_2): a payload from redis-server 7.0,
and round trips of streams built at random (entries, deletions, trims, groups, consumers)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wireproto.providers.datatypes import rdb
from wireproto.providers.resp import stream_rdb
from wireproto.providers.resp.stream import Consumer, Group, Pending, Stream

# redis-server 7.0.15: XADD s 1-1 f v g w; XADD s 1-2 f v2 g w2; XADD s 2-0 other x;
# XGROUP CREATE s grp 0; XREADGROUP GROUP grp alice COUNT 2 STREAMS s >; XDEL s 1-2;
# XACK s grp 1-1; DUMP s
REDIS_PAYLOAD = bytes.fromhex(
    "130110000000000000000100000000000000014048480000001900020101010201816602816702000102"
    "010001000181760281770205010301000101018276320382773203050100010101dfff020101856f7468"
    "6572068178020601ff0202000101010203010367727001020201000000000000000100000000000000021f"
    "bb053aa2010000010105616c6963651fbb053aa201000001000000000000000100000000000000020a0041"
    "650c653d716790"
)


def test_a_redis_payload_with_a_deleted_entry_loads() -> None:
    assert rdb.verify(REDIS_PAYLOAD)
    stream = rdb.restore(REDIS_PAYLOAD)
    assert isinstance(stream, Stream)
    assert stream.ids == [(1, 1), (2, 0)]
    assert stream.entries == {(1, 1): [b"f", b"v", b"g", b"w"], (2, 0): [b"other", b"x"]}
    assert (stream.last_id, stream.first_id, stream.max_deleted_id) == ((2, 0), (1, 1), (1, 2))
    assert stream.entries_added == 3
    assert stream.node_count == 1
    group = stream.groups[b"grp"]
    assert (group.last_id, group.entries_read) == ((1, 2), 2)
    assert list(group.pending) == [(1, 2)]
    pending = group.pending[(1, 2)]
    assert pending.delivery_count == 1 and pending.delivery_time == 0x1A23A05BB1F
    alice = group.consumers[b"alice"]
    assert pending.consumer is alice and alice.pending == {(1, 2): pending}
    assert alice.seen_time == 0x1A23A05BB1F
    # Written back without the deleted entry: the same stream again.
    again = rdb.restore(rdb.dump(stream))
    assert isinstance(again, Stream) and _state(again) == _state(stream)


@pytest.mark.parametrize("cut", [1, 5, 20, 40])
def test_truncated_payloads_are_refused(cut: int) -> None:
    body = REDIS_PAYLOAD[:-10][:-cut]
    resealed = body + REDIS_PAYLOAD[-10:-8]
    resealed += rdb.crc64(resealed).to_bytes(8, "little")
    with pytest.raises(rdb.BadPayload):
        rdb.restore(resealed)


def _state(stream: Stream) -> object:
    groups = {
        name: (
            group.last_id,
            group.entries_read,
            {
                stream_id: (
                    None if entry.consumer is None else entry.consumer.name,
                    entry.delivery_time,
                    entry.delivery_count,
                )
                for stream_id, entry in group.pending.items()
            },
            {name: (c.seen_time, sorted(c.pending)) for name, c in group.consumers.items()},
        )
        for name, group in stream.groups.items()
    }
    return (
        stream.ids,
        stream.entries,
        stream.last_id,
        stream.first_id,
        stream.max_deleted_id,
        stream.entries_added,
        groups,
    )


FIELDS = st.lists(st.sampled_from([b"f", b"g", b"12", b"x" * 70, b""]), min_size=1, max_size=3)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 3), FIELDS),
        st.tuples(st.just("del"), st.integers(0, 300), FIELDS),
        st.tuples(st.just("trim"), st.integers(0, 50), FIELDS),
        st.tuples(st.just("group"), st.integers(0, 2), FIELDS),
        st.tuples(st.just("read"), st.integers(0, 5), FIELDS),
    ),
    max_size=250,
)


@settings(max_examples=150, deadline=None)
@given(OPS)
def test_any_stream_round_trips(ops: list[tuple[str, int, list[bytes]]]) -> None:
    stream = Stream()
    ms = seq = 0
    for op, number, names in ops:
        if op == "add":
            if number:
                ms, seq = ms + number, 0
            else:
                seq += 1
            stream.append((ms, seq), [part for name in names for part in (name, b"%d" % number)])
        elif op == "del" and stream.ids:
            stream.delete(stream.ids[number % len(stream.ids)])
        elif op == "trim":
            stream.trim(number, None, number % 2 == 0, 0)
        elif op == "group":
            name = b"g%d" % number
            stream.groups.setdefault(name, Group(stream.last_id, number - 1))
        elif op == "read" and stream.groups and stream.ids:
            group = stream.groups[sorted(stream.groups)[number % len(stream.groups)]]
            owner_name = b"c%d" % (number % 2)
            owner = group.consumers.setdefault(owner_name, Consumer(owner_name, 1000 + number))
            stream_id = stream.ids[number % len(stream.ids)]
            if stream_id not in group.pending:
                entry = Pending(owner, 5000 + number)
                entry.delivery_count = number + 1
                group.pending[stream_id] = entry
                owner.pending[stream_id] = entry
    payload = rdb.dump(stream)
    assert payload[0] == stream_rdb.TYPE_STREAM_LISTPACKS_2 and rdb.verify(payload)
    loaded = rdb.restore(payload)
    assert isinstance(loaded, Stream)
    assert _state(loaded) == _state(stream)
    assert loaded.node_count == stream.node_count
    assert rdb.dump(loaded) == payload
