"""The memory account: every charge and release, each limit at max and max+1, no leaks.

Sans-I/O: connections are driven with plain bytes (``tests/_drive.py``); the
end-to-end amplification attacks are in ``e2e/test_amplification.py``.
"""

from __future__ import annotations

import ctypes.util
import struct
import sys
from collections import deque
from pathlib import Path

import pytest
from _drive import HandlerSender, cut, replay
from _drive import resp_command as cmd
from _lines import tls_settings
from _tls import MemoryTlsClient, client_context
from hypothesis import given, settings
from hypothesis import strategies as st
from wireproto.providers.kvstore import WrongType
from wireproto.providers.memcache import register as register_memcache
from wireproto.providers.resp import RESP, RespProvider
from wireproto.providers.resp.commands._base import WRONGTYPE
from wireproto.providers.resp.parser import RequestParser, RespLimits
from wireproto.providers.resp.session import _DIRECT

from wireproto import CloseReason, Connection, Limits, Registry, WireFormat, match_prefix
from wireproto._connection import _DISCARD, ConnectionState
from wireproto._session import NetworkSender
from wireproto.memory import (
    MemoryAccount,
    MemoryBudget,
    MemoryLimitExceeded,
    OutputLimitExceeded,
    give_back_memory,
)

PATHS = pytest.mark.parametrize("accelerated", [False, True], ids=["pure", "hiredis"])
BUFFER = 16 * 1024  # ConnectionSettings().initial_buffer_size: what a connection starts with


# -- the budget and the account alone ----------------------------------------------------


def test_budget_reserves_up_to_its_limit_and_not_one_byte_more() -> None:
    budget = MemoryBudget(100)
    assert budget.try_reserve(100)
    assert not budget.try_reserve(1)
    assert budget.refusals == 1
    budget.release(1)
    assert budget.available == 1
    assert budget.try_reserve(1)
    budget.release(1000)  # never negative
    assert budget.used == 0


def test_budget_high_water_says_once_when_memory_can_be_given_back() -> None:
    budget = MemoryBudget(1000)
    budget.force(600)
    assert not budget.gave_back(100)
    budget.release(99)
    assert not budget.gave_back(100)
    budget.release(1)
    assert budget.gave_back(100)
    assert not budget.gave_back(100)  # the mark starts again from the current use
    assert budget.high_water == 500


def test_budget_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="at least 1 byte"):
        MemoryBudget(0)
    with pytest.raises(ValueError, match="max_output_buffered"):
        MemoryBudget(1, max_output_buffered=0)


def test_output_limit_at_max_and_max_plus_one() -> None:
    account = MemoryAccount(None, output_limit=100)
    account.charge_output(60)
    account.set_written(40)
    assert account.output == 100
    assert account.reply_room == 0
    with pytest.raises(OutputLimitExceeded, match="101 reply bytes unread"):
        account.charge_output(1)
    account.set_written(39)  # the peer read a byte
    account.charge_output(1)
    assert account.output == 100


def test_budget_refuses_output_with_a_memory_error_when_it_is_the_tighter_bound() -> None:
    budget = MemoryBudget(100)
    account = MemoryAccount(budget, output_limit=1000)
    account.charge_output(100)
    assert budget.used == 100
    with pytest.raises(MemoryLimitExceeded) as caught:
        account.charge_output(1)
    assert not isinstance(caught.value, OutputLimitExceeded)
    account.release_output(100)
    assert budget.used == 0 and account.outbox == 0


def test_arguments_at_max_and_max_plus_one() -> None:
    budget = MemoryBudget(100)
    account = MemoryAccount(budget)
    account.charge_arguments(100)
    with pytest.raises(MemoryLimitExceeded, match="arguments"):
        account.charge_arguments(1)
    assert account.arguments == 100  # a refused charge is not held
    account.release_arguments(30)
    account.charge_arguments(30)
    account.release_arguments(1000)  # never below zero
    assert account.arguments == 0 and budget.used == 0


def test_receive_growth_is_reserved_then_reconciled() -> None:
    budget = MemoryBudget(100)
    account = MemoryAccount(budget)
    assert account.try_grow_receive(64)
    assert not account.try_grow_receive(37)
    assert account.try_grow_receive(36)
    account.set_receive(16)  # shrank back
    assert (account.receive, budget.used) == (16, 16)


def test_close_gives_everything_back_and_ignores_later_charges() -> None:
    budget = MemoryBudget(1000)
    account = MemoryAccount(budget, output_limit=500)
    account.try_grow_receive(10)
    account.charge_arguments(20)
    account.charge_output(30)
    account.set_written(40)
    assert account.held == 100 == budget.used
    assert account.close() == 100
    assert budget.used == 0 and account.held == 0
    account.charge_output(10_000)  # a reply sent after the close: not charged, not refused
    account.charge_arguments(10_000)
    account.set_written(5)
    assert not account.try_grow_receive(1)
    assert account.reply_room == 0
    assert budget.used == 0 and account.close() == 0


def test_give_back_memory_runs_where_glibc_is() -> None:
    assert give_back_memory() == (ctypes.util.find_library("c") is not None)


# -- through a connection -----------------------------------------------------------------


def resp(budget: MemoryBudget | None = None, *, accelerated: bool = False) -> Connection:
    registry = Registry()
    registry.register(RESP, RespProvider(accelerated=accelerated))
    return Connection(registry, budget=budget)


def memcache(budget: MemoryBudget | None = None) -> Connection:
    registry = Registry()
    register_memcache(registry)
    return Connection(registry, budget=budget)


def mget_reply_size(value: int, count: int) -> int:
    return len(b"*%d\r\n" % count) + count * len(b"$%d\r\n%s\r\n" % (value, b"x" * value))


@PATHS
@pytest.mark.parametrize("extra", [0, 1], ids=["max", "max+1"])
def test_an_mget_reply_is_held_to_the_output_limit_as_it_grows(
    extra: int, accelerated: bool
) -> None:
    value, count = 1000, 50
    limit = mget_reply_size(value, count) - extra
    budget = MemoryBudget(1 << 30, max_output_buffered=limit)
    conn = resp(budget, accelerated=accelerated)
    assert replay(conn, [cmd("SET", "big", b"x" * value)]) == b"+OK\r\n"
    reply = replay(conn, [cmd("MGET", *["big"] * count)])
    if extra:
        assert reply == b""
        assert conn.close_reason is CloseReason.OUTPUT_LIMIT
        assert isinstance(conn.error, OutputLimitExceeded)
        assert budget.used == 0
    else:
        assert len(reply) == limit
        assert conn.state is ConnectionState.ACTIVE
        assert conn.memory.output == 0  # taken by the shell


@pytest.mark.parametrize("extra", [0, 1], ids=["max", "max+1"])
def test_pipelined_gets_are_held_to_the_output_limit_in_one_batch(extra: int) -> None:
    value, count = 1000, 40
    one = len(b"$%d\r\n" % value) + value + 2
    limit = count * one - extra
    conn = resp(MemoryBudget(1 << 30, max_output_buffered=limit))
    replay(conn, [cmd("SET", "big", b"x" * value)])
    reply = replay(conn, [cmd("GET", "big") * count])
    assert (conn.close_reason, len(reply)) == (
        (CloseReason.OUTPUT_LIMIT, 0) if extra else (None, limit)
    )


@pytest.mark.parametrize("extra", [0, 1], ids=["max", "max+1"])
@pytest.mark.parametrize(
    ("request_", "one"),
    [
        (cmd("SET", "k", "v"), b"+OK\r\n"),
        (cmd("DEL", "k", "j"), b":0\r\n"),
        (b"PING\r\n", b"+PONG\r\n"),
    ],
    ids=["set", "del", "ping"],
)
def test_pipelined_small_replies_are_held_to_the_output_limit_in_one_batch(
    extra: int, request_: bytes, one: bytes
) -> None:
    # The direct path does not count these one by one; the batch's send() charges their sum.
    count = 200
    limit = count * len(one) - extra
    conn = resp(MemoryBudget(1 << 30, max_output_buffered=limit))
    reply = replay(conn, [request_ * count])
    if extra:
        assert (conn.close_reason, reply) == (CloseReason.OUTPUT_LIMIT, b"")
        assert isinstance(conn.error, OutputLimitExceeded)
    else:
        assert (conn.state, reply) == (ConnectionState.ACTIVE, one * count)


@pytest.mark.parametrize("extra", [0, 1], ids=["max", "max+1"])
def test_pipelined_small_replies_are_held_to_the_budget(extra: int) -> None:
    count = 200
    budget = MemoryBudget(1 << 30)
    conn = resp(budget)
    replay(conn, [b"PING\r\n"])
    budget.limit = budget.used + count * len(b"+OK\r\n") - extra  # room for the replies only
    reply = replay(conn, [cmd("SET", "k", "v") * count])
    if extra:
        assert (conn.close_reason, reply) == (CloseReason.MEMORY_LIMIT, b"")
        assert budget.used == 0
    else:
        assert reply == b"+OK\r\n" * count


def test_every_reply_the_direct_path_does_not_count_is_small() -> None:
    """Pins ``_SMALL_REPLIES``: whatever a key holds, those handlers answer in a few bytes."""

    provider = RespProvider()
    session = provider.create_session(RESP, HandlerSender())
    store = provider.store
    big = b"x" * 100_000
    states = {
        "missing": lambda: None,
        "big string": lambda: store.set(b"k", big),
        "number": lambda: store.set(b"k", b"12345"),
        "container": lambda: store.write_container(b"k", deque).append(big),
    }
    small = [
        (argc, name, entry[0])
        for argc, table in enumerate(_DIRECT)
        for name, entry in table.items()
        if entry[1]
    ]
    assert {name.lower() for _, name, _ in small} >= {b"set", b"ping", b"incr", b"del"}
    for argc, name, handler in small:
        patterns = ([b"k"] * (argc - 1), [b"k"] + [b"1"] * (argc - 2), [b"k"] + [big] * (argc - 2))
        for arguments in patterns:
            for state, prepare in states.items():
                store.flush()
                prepare()
                try:
                    reply = handler(session, [name, *arguments][:argc])
                except WrongType:
                    reply = WRONGTYPE
                assert len(reply) <= 100, (name, argc, state, reply[:80])


@pytest.mark.parametrize("extra", [0, 1], ids=["max", "max+1"])
def test_a_transaction_of_gets_is_held_to_the_output_limit(extra: int) -> None:
    value, count = 500, 20
    one = len(b"$%d\r\n" % value) + value + 2
    limit = len(b"*%d\r\n" % count) + count * one - extra
    conn = resp(MemoryBudget(1 << 30, max_output_buffered=limit))
    replay(conn, [cmd("SET", "big", b"x" * value), cmd("MULTI")])
    replay(conn, [cmd("GET", "big") * count])
    assert conn.memory.arguments == count * len(b"GETbig")  # queued, not run yet
    reply = replay(conn, [cmd("EXEC")])
    if extra:
        assert conn.close_reason is CloseReason.OUTPUT_LIMIT
    else:
        assert len(reply) == limit
        assert conn.memory.arguments == 0


@pytest.mark.parametrize("end", ["EXEC", "DISCARD", "close"])
def test_commands_queued_by_multi_are_charged_until_they_run_or_are_dropped(end: str) -> None:
    budget = MemoryBudget(1 << 30)
    conn = resp(budget)
    replay(conn, [cmd("MULTI"), cmd("SET", "k", b"v" * 100), cmd("SET", "k2", b"w" * 50)])
    assert conn.memory.arguments == (3 + 1 + 100) + (3 + 2 + 50)
    if end == "close":
        conn.close(CloseReason.PEER_CLOSED)
        assert budget.used == 0
    else:
        replay(conn, [cmd(end)])
        assert conn.memory.arguments == 0
        assert budget.used == conn.memory.receive == BUFFER


def test_queueing_past_the_budget_closes_the_connection() -> None:
    budget = MemoryBudget(BUFFER + 200)
    conn = resp(budget)
    replay(conn, [cmd("MULTI"), cmd("SET", "k", b"v" * 96)])  # 100 bytes queued
    assert conn.state is ConnectionState.ACTIVE
    replay(conn, [cmd("SET", "k", b"v" * 96)])  # 100 more, and the reply: past the budget
    assert conn.close_reason is CloseReason.MEMORY_LIMIT
    assert isinstance(conn.error, MemoryLimitExceeded)
    assert budget.used == 0


@PATHS
@pytest.mark.parametrize("extra", [0, 1], ids=["max", "max+1"])
def test_arguments_of_an_unfinished_command_are_held_to_the_budget(
    extra: int, accelerated: bool
) -> None:
    bulks, size = 10, 1000
    budget = MemoryBudget(BUFFER + bulks * size - extra)
    conn = resp(budget, accelerated=accelerated)
    stream = b"*100\r\n" + b"".join(b"$%d\r\n%s\r\n" % (size, b"a" * size) for _ in range(bulks))
    replay(conn, [stream])
    if extra:
        assert conn.close_reason is CloseReason.MEMORY_LIMIT
        assert budget.used == 0
    else:
        assert conn.state is ConnectionState.ACTIVE
        assert conn.memory.arguments == bulks * size
        assert budget.used == budget.limit


@pytest.mark.parametrize("tail", [b"", b"$-5\r\n"], ids=["memory-limit", "protocol-error"])
def test_a_closed_connection_keeps_no_frame_of_its_session(tail: bytes) -> None:
    """The error kept in ``conn.error`` must not pin the session and the arguments it held."""
    budget = MemoryBudget(BUFFER + 5000)
    conn = resp(budget)
    replay(conn, [b"*100\r\n"])
    session = conn.session
    assert session is not None
    stream = b"$1000\r\n%s\r\n" % (b"a" * 1000) * (6 if not tail else 2)
    replay(conn, [stream + tail])
    assert conn.closed and conn.error is not None
    error: BaseException | None = conn.error
    while error is not None:
        assert error.__traceback__ is None
        error = error.__cause__ or error.__context__
    assert sys.getrefcount(session) == 2  # ours and the call's: nothing else holds it
    assert budget.used == 0


@PATHS
def test_arguments_are_given_back_once_the_command_runs(accelerated: bool) -> None:
    budget = MemoryBudget(1 << 30)
    conn = resp(budget, accelerated=accelerated)
    stream = cmd("SET", "key", b"v" * 5000)
    replay(conn, [stream[:-100]])
    assert conn.memory.arguments == len(b"SETkey")
    assert replay(conn, [stream[-100:]]) == b"+OK\r\n"
    assert conn.memory.arguments == 0


@pytest.mark.parametrize("extra", [0, 1], ids=["max", "max+1"])
def test_a_memcached_multi_get_is_held_to_the_output_limit(extra: int) -> None:
    value, count = 1000, 30
    item = len(b"VALUE big 0 %d\r\n" % value) + value + 2
    limit = count * item + len(b"END\r\n") - extra
    budget = MemoryBudget(1 << 30, max_output_buffered=limit)
    conn = memcache(budget)
    assert replay(conn, [b"set big 0 0 %d\r\n%s\r\n" % (value, b"x" * value)]) == b"STORED\r\n"
    reply = replay(conn, [b"get" + b" big" * count + b"\r\n"])
    if extra:
        assert conn.close_reason is CloseReason.OUTPUT_LIMIT
        assert budget.used == 0
    else:
        assert len(reply) == limit and reply.endswith(b"END\r\n")


def test_a_memcached_multi_get_stops_building_at_the_limit() -> None:
    """A get of 1,000 keys of 100 KB stops after the limit's worth, not after 100 MB."""
    conn = memcache(MemoryBudget(1 << 30, max_output_buffered=1 << 20))
    replay(conn, [b"set big 0 0 100000\r\n%s\r\n" % (b"x" * 100_000)])
    replay(conn, [b"get" + b" big" * 1000 + b"\r\n"])
    assert conn.close_reason is CloseReason.OUTPUT_LIMIT
    assert "unread" in str(conn.error)


@pytest.mark.parametrize("extra", [0, 1], ids=["max", "max+1"])
def test_memcached_binary_quiet_gets_are_held_to_the_output_limit(extra: int) -> None:
    value, count = 1000, 20

    def request(opcode: int, key: bytes, extras: bytes = b"", body: bytes = b"") -> bytes:
        total = len(extras) + len(key) + len(body)
        header = struct.pack(">BBHBBHIIQ", 0x80, opcode, len(key), len(extras), 0, 0, total, 0, 0)
        return header + extras + key + body

    item = 24 + 4 + value
    limit = count * item - extra
    conn = memcache(MemoryBudget(1 << 30, max_output_buffered=limit))
    stored = replay(conn, [request(0x01, b"big", struct.pack(">II", 0, 0), b"x" * value)])
    assert stored[1] == 0x01 and conn.state is ConnectionState.ACTIVE
    reply = replay(conn, [request(0x00, b"big") * count])  # GET, not quiet: one reply each
    assert (conn.close_reason, len(reply)) == (
        (CloseReason.OUTPUT_LIMIT, 0) if extra else (None, limit)
    )


class _Flood:
    """A session that sends ``size`` bytes on each message byte, through a plain sender."""

    def __init__(self, sender: NetworkSender, size: int) -> None:
        self.sender = sender
        self.size = size

    def try_consume(self, data: memoryview, /) -> int:
        for _ in range(len(data)):
            self.sender.send(b"x" * self.size)
        return len(data)

    def close(self) -> None:
        pass


class _FloodProvider:
    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self._limits = Limits(max_output_buffered=limit)
        self.sessions: list[_Flood] = []

    @property
    def limits(self) -> Limits:
        return self._limits

    def create_session(self, wire_format: object, sender: NetworkSender) -> _Flood:
        session = _Flood(sender, self.size)
        self.sessions.append(session)
        return session


def flood(limit: int, budget: MemoryBudget | None = None) -> tuple[Connection, _FloodProvider]:
    provider = _FloodProvider(10, limit)
    registry = Registry()
    registry.register(WireFormat("flood", match_prefix(b"F")), provider)  # type: ignore[arg-type]
    return Connection(registry, budget=budget), provider


@pytest.mark.parametrize("extra", [0, 1], ids=["max", "max+1"])
def test_the_outbox_holds_a_sender_to_its_provider_limit(extra: int) -> None:
    conn, _provider = flood(100 - extra)
    conn.receive_data(b"F" * 10)  # ten sends of 10 bytes
    if extra:
        assert conn.close_reason is CloseReason.OUTPUT_LIMIT
        assert conn.pending_output == 0  # dropped, not written
    else:
        assert conn.pending_output == 100 == conn.memory.outbox
        assert conn.data_to_send() == b"x" * 100
        assert conn.memory.outbox == 0


def test_a_send_past_the_limit_outside_a_batch_closes_and_raises() -> None:
    conn, provider = flood(100)
    conn.receive_data(b"F" * 10)
    with pytest.raises(OutputLimitExceeded):
        provider.sessions[0].sender.send(b"y")  # e.g. from a background task
    assert conn.close_reason is CloseReason.OUTPUT_LIMIT


def test_the_listener_cap_lowers_the_provider_limit_and_never_raises_it() -> None:
    conn, _ = flood(100, MemoryBudget(1 << 30, max_output_buffered=50))
    conn.receive_data(b"F")
    assert conn.memory.output_limit == 50 == conn.output_limit
    conn, _ = flood(100, MemoryBudget(1 << 30, max_output_buffered=500))
    conn.receive_data(b"F")
    assert conn.memory.output_limit == 100


def test_closed_connections_share_one_small_discard_region() -> None:
    first, second = resp(MemoryBudget(1 << 30)), resp(MemoryBudget(1 << 30))
    for conn in (first, second):
        conn.close(CloseReason.PROTOCOL_ERROR)
    assert first.get_buffer() is second.get_buffer() is _DISCARD
    assert len(_DISCARD) <= 16 * 1024
    assert first.buffer.capacity <= 1  # the receive buffer is freed at the close


# -- no charge outlives its connection ----------------------------------------------------

_requests = st.sampled_from(
    [
        cmd("SET", "k", b"v" * 300),
        cmd("GET", "k"),
        cmd("MGET", "k", "k", "k"),
        cmd("MULTI"),
        cmd("EXEC"),
        cmd("DISCARD"),
        cmd("SET", "q", b"w" * 40),
        b"*50\r\n$3\r\nSET\r\n$2000\r\n" + b"z" * 2000 + b"\r\n",  # never finished
        b"GET k\r\n",
        b"*1\r\n$-5\r\n",  # a protocol error
    ]
)


@settings(max_examples=60, deadline=None)
@given(
    streams=st.lists(st.lists(_requests, max_size=8).map(b"".join), min_size=1, max_size=4),
    limit=st.sampled_from([1 << 30, BUFFER * 3, BUFFER * 4 + 3000]),
    output=st.sampled_from([None, 700, 5000]),
    points=st.lists(st.integers(0, 1 << 16), max_size=4),
)
def test_the_budget_returns_to_zero_once_every_connection_closed(
    streams: list[bytes], limit: int, output: int | None, points: list[int]
) -> None:
    budget = MemoryBudget(limit, max_output_buffered=output)
    connections = [resp(budget) for _ in streams]
    for conn, stream in zip(connections, streams, strict=True):
        replay(conn, cut(stream, points))
        assert budget.used <= budget.limit + BUFFER  # a buffer is forced in after its reads
    for conn in connections:
        conn.close(CloseReason.PEER_CLOSED)
        assert conn.memory.held == 0
    assert budget.used == 0


# -- the parser charges the same however the bytes are cut --------------------------------

_bulks = st.lists(st.binary(min_size=0, max_size=40), max_size=6)


@settings(max_examples=150, deadline=None)
@given(
    complete=st.lists(st.sampled_from([cmd("SET", "k", "v"), cmd("GET", "k"), b"PING\r\n"])),
    held=_bulks,
    extra=st.integers(1, 3),
    tail=st.integers(0, 50),
    points=st.lists(st.integers(0, 1 << 12), max_size=6),
    accelerated=st.booleans(),
)
def test_parser_charges_the_same_however_the_bytes_are_cut(  # noqa: PLR0917
    complete: list[bytes],
    held: list[bytes],
    extra: int,
    tail: int,
    points: list[int],
    accelerated: bool,
) -> None:
    # Whole commands, then a command of len(held) + extra arguments of which the first
    # len(held) arrived, then part of the next bulk (its header, some of its data).
    pending = b"$40\r\n" + b"p" * 40 + b"\r\n"
    unfinished = b"*%d\r\n" % (len(held) + extra) + b"".join(
        b"$%d\r\n%s\r\n" % (len(arg), arg) for arg in held
    )
    stream = b"".join(complete) + unfinished + pending[: min(tail, len(pending) - 1)]
    account = MemoryAccount(MemoryBudget(1 << 30))
    parser = RequestParser(RespLimits(), accelerated=accelerated, memory=account)
    buffered = b""
    for piece in cut(stream, points):
        buffered += piece
        if parser.begin(memoryview(buffered)):
            while parser.whole_commands() or parser.next_command() is not None:
                pass
            buffered = buffered[parser.end() :]
        assert account.arguments == parser.held  # charged at the end of every batch
    assert account.arguments == sum(map(len, held))


# -- a TLS layer's records follow its inner session's limit ------------------------------


def test_tls_records_are_held_to_the_inner_session_limit(
    tls_files: dict[str, Path],
) -> None:
    provider = _FloodProvider(100, 64 << 10)  # 100 bytes per byte received; 64 KiB limit
    registry = Registry()
    registry.register(WireFormat("flood", match_prefix(b"F")), provider)  # type: ignore[arg-type]
    settings = tls_settings(tls_files, max_output_buffered=4096)  # the layer's own: lower
    budget = MemoryBudget(1 << 30)
    conn = Connection(registry, settings, budget=budget)
    client = MemoryTlsClient(client_context(tls_files))
    client.handshake(conn)
    assert len(client.request(conn, b"F" * 200)) == 20_000  # past 4 KiB, under 64 KiB
    inner = conn.inner
    assert inner is not None and inner.memory.output_limit == 64 << 10
    assert conn.memory.output_limit == (64 << 10) + (64 << 10) // 128  # and the records' overhead
    client.request(conn, b"F" * 700)  # 70,000 bytes: past the inner limit
    assert inner.close_reason is CloseReason.OUTPUT_LIMIT
    conn.close(CloseReason.PEER_CLOSED)
    assert budget.used == 0
