"""Streams sans I/O: the stream structure against a plain model, generated IDs on an injected
clock, the approximate trim's node boundaries at max and max+1 entries per node."""

from __future__ import annotations

from _resp import Client
from hypothesis import given
from hypothesis import strategies as st
from wireproto.providers.datatypes.thresholds import THRESHOLDS
from wireproto.providers.resp.stream import MAX_ID, Stream

NODE_MAX_ENTRIES = THRESHOLDS.stream_node_max_entries

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(1, 3)),
        st.tuples(st.just("del"), st.integers(0, 40)),
        st.tuples(st.just("maxlen"), st.integers(0, 30)),
        st.tuples(st.just("minid"), st.integers(0, 40)),
    ),
    max_size=60,
)


@given(OPS)
def test_a_stream_keeps_the_entries_a_model_keeps(ops: list[tuple[str, int]]) -> None:
    stream = Stream()
    model: list[tuple[int, int]] = []
    next_ms = 1
    for op, number in ops:
        if op == "add":
            for _ in range(number):
                stream.append((next_ms, 0), [b"f", b"%d" % next_ms])
                model.append((next_ms, 0))
                next_ms += 1
        elif op == "del":
            assert stream.delete((number, 0)) == ((number, 0) in model)
            if (number, 0) in model:
                model.remove((number, 0))
        elif op == "maxlen":
            removed = stream.trim(number, None, False, 0)
            assert removed == max(len(model) - number, 0)
            model = model[removed:]
        else:
            before = len(model)
            stream.trim(None, (number, 0), False, 0)
            model = [entry for entry in model if entry >= (number, 0)]
            assert len(stream) == len(model) <= before
        assert stream.ids == model
        assert stream.range((0, 0), MAX_ID, 0, False) == model
        assert stream.range((0, 0), MAX_ID, 2, True) == model[::-1][:2]
        assert stream.first_id == (model[0] if model else (0, 0))


def test_approximate_trim_removes_only_whole_nodes_at_max_and_max_plus_one() -> None:
    stream = Stream()
    for ms in range(1, 2 * NODE_MAX_ENTRIES + 2):  # two full nodes and one entry in a third
        stream.append((ms, 0), [b"f", b"v"])
    # One entry short of a whole node: nothing goes.
    assert stream.trim(len(stream) - NODE_MAX_ENTRIES + 1, None, True, 0) == 0
    # Exactly a node: the first node goes.
    assert stream.trim(len(stream) - NODE_MAX_ENTRIES, None, True, 0) == NODE_MAX_ENTRIES
    assert stream.ids[0] == (NODE_MAX_ENTRIES + 1, 0)


def test_generated_ids_follow_the_clock_and_never_go_back() -> None:
    client = Client(accelerated=False)
    client.clock.now = 5_000
    assert client.call("XADD", "s", "*", "f", "v") == b"$6\r\n5000-0\r\n"
    assert client.call("XADD", "s", "*", "f", "v") == b"$6\r\n5000-1\r\n"
    client.clock.now = 4_000  # the clock went back: the sequence still grows
    assert client.call("XADD", "s", "*", "f", "v") == b"$6\r\n5000-2\r\n"
    assert client.call("XADD", "s", "5000-*", "f", "v") == b"$6\r\n5000-3\r\n"
    assert client.call("XADD", "s", "4000-*", "f", "v") == (
        b"-ERR The ID specified in XADD is equal or smaller than the target stream top item\r\n"
    )
    assert client.call("TYPE", "s") == b"+stream\r\n"
    assert client.call("XDEL", "s", "5000-0", "5000-1", "5000-2", "5000-3") == b":4\r\n"
    assert client.call("EXISTS", "s") == b":1\r\n"  # an empty stream stays
    assert client.call("XLEN", "s") == b":0\r\n"


def test_idle_times_drive_xpending_xclaim_and_xautoclaim() -> None:
    client = Client(accelerated=False)
    client.clock.now = 10_000
    client.call("XADD", "s", "1-1", "f", "a")
    client.call("XADD", "s", "2-1", "f", "b")
    client.call("XGROUP", "CREATE", "s", "g", "0")
    client.call("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">")
    client.clock.now += 500
    assert client.call("XPENDING", "s", "g", "-", "+", 10) == (
        b"*2\r\n*4\r\n$3\r\n1-1\r\n$5\r\nalice\r\n:500\r\n:1\r\n"
        b"*4\r\n$3\r\n2-1\r\n$5\r\nalice\r\n:500\r\n:1\r\n"
    )
    assert client.call("XPENDING", "s", "g", "IDLE", 501, "-", "+", 10) == b"*0\r\n"
    # Not idle long enough: nothing is claimed; long enough: bob takes it.
    assert client.call("XCLAIM", "s", "g", "bob", 600, "1-1", "JUSTID") == b"*0\r\n"
    assert client.call("XCLAIM", "s", "g", "bob", 400, "1-1", "JUSTID") == b"*1\r\n$3\r\n1-1\r\n"
    assert client.call("XPENDING", "s", "g", "-", "+", 10, "bob") == (
        b"*1\r\n*4\r\n$3\r\n1-1\r\n$3\r\nbob\r\n:0\r\n:1\r\n"
    )
    client.clock.now += 100
    assert client.call("XAUTOCLAIM", "s", "g", "carol", 550, "0") == (
        b"*3\r\n$3\r\n0-0\r\n*1\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\nf\r\n$1\r\nb\r\n*0\r\n"
    )
    assert client.call("XINFO", "CONSUMERS", "s", "g").count(b"$4\r\nidle\r\n:") == 3
    assert client.call("XACK", "s", "g", "1-1", "2-1", "3-1") == b":2\r\n"
    assert client.call("XPENDING", "s", "g") == b"*4\r\n:0\r\n$-1\r\n$-1\r\n*-1\r\n"
