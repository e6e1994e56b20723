"""The listener's memory budget over connections, at max and max+1."""

from __future__ import annotations

import pytest
from _lines import fake_connection
from wireproto.providers.kvbin import KVBIN, KvbinProvider, Opcode, build_request

from wireproto import CloseReason, ConnectionSettings, Limits, Registry
from wireproto._connection import ConnectionState
from wireproto._stats import MemoryBudget

# -- the receive-memory budget, at max and max+1 ----------------------------------------


def test_memory_budget_admits_connections_at_max_and_refuses_max_plus_one() -> None:
    settings = ConnectionSettings(initial_buffer_size=1024, max_detect_bytes=1024)
    budget = MemoryBudget(3 * 1024)
    conns = [fake_connection(settings, budget=budget)[0] for _ in range(4)]
    assert [conn.state for conn in conns[:3]] == [ConnectionState.DETECTING] * 3
    assert conns[3].close_reason is CloseReason.MEMORY_LIMIT
    assert budget.used == 3 * 1024
    conns[0].close(CloseReason.PEER_CLOSED)
    assert budget.used == 2 * 1024
    assert fake_connection(settings, budget=budget)[0].state is ConnectionState.DETECTING


@pytest.mark.parametrize("spare", [0, -1], ids=["max", "max+1"])
def test_memory_budget_refuses_a_growth_past_it(spare: int) -> None:
    registry = Registry()
    registry.register(KVBIN, KvbinProvider(Limits(max_message_size=4096)))
    settings = ConnectionSettings(initial_buffer_size=1024, max_detect_bytes=1024)
    # The first buffer, one doubling, and the echo's reply (the budget covers replies too).
    budget = MemoryBudget(1024 + 1024 + 12 + 1500 + spare)
    conn, _clock = fake_connection(settings, registry=registry, budget=budget)
    message = build_request(Opcode.ECHO, b"", b"x" * 1500, 9)
    conn.receive_data(message[:1002])  # the next read needs a 2048-byte buffer
    assert budget.used == 1024
    conn.receive_data(message[1002:])
    if spare == 0:
        assert conn.data_to_send()[12:] == b"x" * 1500
        assert conn.buffer.capacity == 1024  # shrunk back once the message was consumed
        assert budget.used == 1024
        assert budget.refusals == 0
    else:
        assert conn.close_reason is CloseReason.MEMORY_LIMIT
        assert budget.used == 0
        assert budget.refusals == 1
