"""HyperLogLog sans I/O: the encodings' invariants, properties of the estimate, and the
sparse-to-dense switch at ``hll-sparse-max-bytes`` (3000) and past it."""

from __future__ import annotations

from _resp import Client
from hypothesis import given, settings
from hypothesis import strategies as st
from wireproto.providers.resp import hyperloglog as hll


def test_murmur_matches_known_redis_placements() -> None:
    # PFADD of these into an empty HLL gives these sparse strings on redis-server 7.0.
    value = hll.new_sparse()
    assert bytes(value) == b"HYLL\x01\x00\x00\x00" + bytes(8) + b"\x7f\xff"
    assert hll.count(value) == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=8), max_size=60))
def test_sparse_and_dense_hold_the_same_registers(elements: list[bytes]) -> None:
    sparse = hll.new_sparse()
    dense = hll.new_sparse()
    hll.to_dense(dense)
    for element in elements:
        assert hll.add(sparse, element) == hll.add(dense, element)
    assert hll.registers_of(sparse) == hll.registers_of(dense)
    assert hll.count(sparse) == hll.count(dense)
    converted = bytearray(sparse)
    hll.to_dense(converted)
    assert converted[16:] == dense[16:]


@settings(max_examples=40, deadline=None)
@given(st.sets(st.binary(min_size=1, max_size=6), max_size=80))
def test_small_cardinalities_are_counted_within_register_collisions(elements: set[bytes]) -> None:
    # Exact unless two elements share a register (then redis-server counts them once too:
    # the differential test compares the very numbers).
    client = Client(accelerated=False)
    if elements:
        client.call("PFADD", "h", *elements)
    reply = client.call("PFCOUNT", "h")
    registers = {hll.pattern(element)[0] for element in elements}
    assert len(registers) - 1 <= int(reply[1:-2]) <= len(elements)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.binary(max_size=6), max_size=40), st.lists(st.binary(max_size=6), max_size=40))
def test_merge_counts_the_union(first: list[bytes], second: list[bytes]) -> None:
    client = Client(accelerated=False)
    client.call("PFADD", "a", *first)
    client.call("PFADD", "b", *second)
    union = client.call("PFCOUNT", "a", "b")
    assert client.call("PFMERGE", "c", "a", "b") == b"+OK\r\n"
    assert client.call("PFCOUNT", "c") == union
    client.call("PFADD", "d", *first, *second)
    assert client.call("PFCOUNT", "d") == union


def test_the_sparse_limit_at_max_and_max_plus_one() -> None:
    value = hll.new_sparse()
    grown = 0
    element = 0
    while value[4] == hll.SPARSE:
        before = len(value)
        hll.add(value, b"%d" % element)
        element += 1
        if value[4] == hll.SPARSE:
            assert len(value) <= hll.SPARSE_MAX_BYTES
            grown = max(grown, len(value))
        else:
            assert before + 3 > hll.SPARSE_MAX_BYTES  # at most 3 more bytes would pass it
    assert grown <= hll.SPARSE_MAX_BYTES and len(value) == 16 + 12288


def test_not_a_hyperloglog_is_refused() -> None:
    client = Client(accelerated=False)
    client.call("SET", "s", "plain")
    not_hll = b"-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n"
    assert client.call("PFADD", "s", "x") == not_hll
    assert client.call("PFCOUNT", "s") == not_hll
    assert client.call("PFMERGE", "d", "s") == not_hll
    stale = b"HYLL\x01\x00\x00\x00" + bytes(7) + b"\x80"  # sparse, cached count stale
    client.call("SET", "bad", stale + b"\x7f\xfe")  # one XZERO of 16383: a register short
    assert client.call("PFCOUNT", "bad") == b"-INVALIDOBJ Corrupted HLL object detected\r\n"
