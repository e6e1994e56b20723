"""The connection's deadlines with a fake clock, each at max and max+1."""

from __future__ import annotations

from _lines import GREETING, TICK, assert_closes_at_the_deadline, fake_connection

from wireproto import CloseReason, ConnectionSettings
from wireproto._connection import ConnectionState


def test_detection_deadline_at_max_and_max_plus_one() -> None:
    settings = ConnectionSettings(detect_timeout=2.0)
    conn, clock = fake_connection(settings)
    assert conn.next_deadline() == clock.now + 2.0
    conn.receive_data(b"U")  # undecided
    clock.now += 2.0 - TICK
    conn.check_deadlines()
    assert conn.state is ConnectionState.DETECTING
    clock.now += TICK
    conn.check_deadlines()
    assert conn.close_reason is CloseReason.DETECT_TIMEOUT
    assert conn.next_deadline() is None


def test_detection_deadline_routes_to_the_fallback_at_max() -> None:
    settings = ConnectionSettings(detect_timeout=2.0, fallback_format="banner")
    conn, clock = fake_connection(settings)
    clock.now += 2.0 - TICK
    conn.check_deadlines()
    assert conn.data_to_send() == b""
    clock.now += TICK
    conn.check_deadlines()
    assert conn.wire_format is not None and conn.wire_format.name == "banner"
    assert conn.data_to_send() == GREETING


def test_idle_timeout_at_max_and_max_plus_one() -> None:
    conn, clock = fake_connection(ConnectionSettings(idle_timeout=3.0, detect_timeout=None))
    conn.receive_data(b"U:a\n")
    clock.now += 2.0
    conn.receive_data(b"b\n")  # restarts the idle time
    assert_closes_at_the_deadline(conn, clock, 3.0, CloseReason.IDLE_TIMEOUT)
    assert conn.data_to_send() == b"U:A\nB\n"


def test_the_earliest_deadline_wins() -> None:
    conn, clock = fake_connection(ConnectionSettings(idle_timeout=1.0, detect_timeout=5.0))
    start = clock.now
    assert conn.next_deadline() == start + 1.0
    clock.now += 1.0
    conn.check_deadlines()
    assert conn.close_reason is CloseReason.IDLE_TIMEOUT
