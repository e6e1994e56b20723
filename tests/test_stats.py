"""The counters, by outcome, close reason and format."""

from __future__ import annotations

from _lines import (
    GREETING,
    LINE_TOO_LONG,
    MAX_LINE,
    FakeClock,
    fake_connection,
    line_registry,
)

from wireproto import (
    CloseReason,
    Connection,
    ConnectionSettings,
)
from wireproto._stats import StatsCollector


def test_counters_by_outcome_reason_and_format() -> None:
    stats = StatsCollector()
    settings = ConnectionSettings(detect_timeout=1.0, fallback_format="banner")
    registry, _upper = line_registry()

    def new() -> tuple[Connection, FakeClock]:
        return fake_connection(settings, registry=registry, stats=stats)

    ok, _clock = new()
    ok.receive_data(b"U:abc\n")
    assert ok.data_to_send() == b"U:ABC\n"
    bad, _clock = new()
    bad.receive_data(b"U:" + b"x" * MAX_LINE)
    assert bad.data_to_send() == LINE_TOO_LONG  # taken after the close was counted
    late = b"late bytes, discarded"
    bad.get_buffer()[: len(late)] = late  # what the shell does after a close
    bad.buffer_updated(len(late))
    unknown, _clock = new()
    unknown.receive_data(b"?")
    silent, clock = new()
    clock.now += 1.0
    silent.check_deadlines()  # to the fallback format
    assert silent.data_to_send() == GREETING
    snapshot = stats.snapshot()
    assert snapshot.detections == {"match": 2, "no-match": 1, "fallback": 1}
    assert snapshot.protocol_errors == 1
    assert snapshot.closes == {"protocol-error": 1, "no-match": 1}
    assert snapshot.active == 2
    assert snapshot.bytes_received == 6 + 2 + MAX_LINE + len(b"late bytes, discarded") + 1
    assert snapshot.bytes_sent == 6 + len(LINE_TOO_LONG) + len(GREETING)
    upper = snapshot.formats["upper"]
    assert (upper.sessions, upper.active, upper.protocol_errors) == (2, 1, 1)
    assert upper.closes == {"protocol-error": 1}
    assert snapshot.formats["banner"].bytes_sent == len(GREETING)
    ok.close(CloseReason.PEER_CLOSED)
    silent.close(CloseReason.SERVER_SHUTDOWN)
    final = stats.snapshot()
    assert final.active == 0
    assert final.closes == {
        "protocol-error": 1,
        "no-match": 1,
        "peer-closed": 1,
        "server-shutdown": 1,
    }
    assert final.bytes_received == snapshot.bytes_received  # folded in at the close
    assert final.formats["upper"].active == 0
