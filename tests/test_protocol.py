"""The asyncio adapter without sockets (a fake transport): exact limits and ordering,
write batching, back-pressure and the linger after a close."""

from __future__ import annotations

import asyncio

from _lines import (
    LINE_TOO_LONG,
    MAX_LINE,
    TIMEOUT,
    LineProvider,
    attach,
    feed,
    in_loop,
    make_registry,
)

from wireproto import (
    CloseReason,
    Limits,
)
from wireproto._server import Server, ServerLimits


def test_output_limit_at_max_and_max_plus_one() -> None:
    async def scenario() -> None:
        upper = LineProvider(Limits(max_message_size=MAX_LINE, max_output_buffered=100))
        server = Server(make_registry(upper))
        at_max, at_max_transport = attach(server)
        feed(at_max, b"U:!flood 60\n")
        feed(at_max, b"!flood 40\n")
        assert bytes(at_max_transport.written) == b"F" * 100
        assert not at_max_transport.closing
        assert at_max.connection.close_reason is None

        over, over_transport = attach(server)
        feed(over, b"U:!flood 60\n")
        feed(over, b"!flood 41\n")
        assert over_transport.aborted
        assert over.connection.close_reason is CloseReason.OUTPUT_LIMIT
        assert upper.sessions[1].closes == 1

        for protocol in (at_max, over):
            protocol.connection_lost(None)
        assert [session.closes for session in upper.sessions] == [1, 1]
        assert server.open_connections == 0

    in_loop(scenario)


def test_one_write_per_batch_and_pending_output_before_the_shutdown_fin() -> None:
    async def scenario() -> None:
        upper = LineProvider()
        server = Server(make_registry(upper))
        protocol, transport = attach(server)
        writes: list[bytes] = []
        original_write = transport.write

        def counting_write(data: bytes | bytearray | memoryview) -> None:
            writes.append(bytes(data))
            original_write(data)

        transport.write = counting_write  # type: ignore[method-assign]
        feed(protocol, b"U:a\nb\nc\n")
        assert writes == [b"U:A\nB\nC\n"]

        upper.sessions[0].sender.send(b"queued outside a batch\n")  # a flush is scheduled
        protocol.shutdown()
        assert writes[1:] == [b"queued outside a batch\n"]
        assert transport.eof_written and not transport.closing
        assert protocol.connection.close_reason is CloseReason.SERVER_SHUTDOWN
        feed(protocol, b"late bytes are read and dropped\n")
        assert protocol.eof_received() is False  # the transport closes itself
        assert not transport.aborted
        protocol.connection_lost(None)
        assert len(writes) == 2
        assert upper.sessions[0].closes == 1

    in_loop(scenario)


def test_backpressure_pauses_and_resumes_reading_unless_closing() -> None:
    async def scenario() -> None:
        server = Server(make_registry(LineProvider()))
        protocol, transport = attach(server)
        protocol.pause_writing()
        assert not transport.reading
        assert server.paused_connections == 1
        protocol.resume_writing()
        assert transport.reading
        assert server.paused_connections == 0

        transport.closing = True
        protocol.pause_writing()
        assert transport.reading
        assert server.paused_connections == 0
        protocol.connection_lost(None)

    in_loop(scenario)


def test_a_closed_connection_lingers_until_the_peer_fin_or_the_timeout() -> None:
    async def scenario() -> None:
        upper = LineProvider()
        server = Server(make_registry(upper), linger_timeout=0.05)
        delivered, delivered_transport = attach(server)
        stuck, stuck_transport = attach(server)
        for protocol, transport in ((delivered, delivered_transport), (stuck, stuck_transport)):
            feed(protocol, b"U:" + b"x" * MAX_LINE)
            assert bytes(transport.written) == LINE_TOO_LONG
            assert transport.eof_written and not transport.closing
            feed(protocol, b"y" * 100_000)  # read (in pieces) and dropped
            assert bytes(transport.written) == LINE_TOO_LONG
        delivered_transport.drain()

        # The peer sends no FIN: once the linger time is over, the transport is
        # closed, and reset only if the peer never read the replies.
        await asyncio.wait_for(delivered_transport.closed.wait(), TIMEOUT)
        await asyncio.wait_for(stuck_transport.closed.wait(), TIMEOUT)
        assert not delivered_transport.aborted
        assert stuck_transport.aborted
        for protocol in (delivered, stuck):
            protocol.connection_lost(None)
        assert [session.closes for session in upper.sessions] == [1, 1]
        assert server.open_connections == 0

    in_loop(scenario)


def test_server_output_cap_lowers_the_providers_at_max_and_max_plus_one() -> None:
    async def scenario() -> None:
        upper = LineProvider()  # its own cap is 64 MiB
        server = Server(make_registry(upper), limits=ServerLimits(max_output_buffered=100))
        at_max, at_max_transport = attach(server)
        feed(at_max, b"U:!flood 100\n")
        assert not at_max_transport.aborted
        over, over_transport = attach(server)
        feed(over, b"U:!flood 101\n")
        assert over_transport.aborted
        assert over.connection.close_reason is CloseReason.OUTPUT_LIMIT
        for protocol in (at_max, over):
            protocol.connection_lost(None)

    in_loop(scenario)
