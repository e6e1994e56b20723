"""The floor under any asyncio RESP server: an "empty consumer" that parses nothing.

An ``asyncio.BufferedProtocol``, as ``wireproto._server`` uses, that receives
into one preallocated buffer and answers each read with one reply per request
it counts (a request is a ``*`` that starts a read or follows ``\\n``, or an
inline line), from a table of pre-built replies: ``+PONG`` to inline requests
and ``+OK`` to the rest, which is all ``redis-benchmark`` needs to count them.
It does no parsing, no dispatch and no storage, so its CPU per request is what
the event loop, the transport callbacks and the kernel's ``recv``/``send``
cost: what a Python server pays before it does any work.

It only serves the requests ``redis-benchmark -t ping_inline,set,get`` sends
(no ``*`` or newline inside an argument). ``benchmarks/resp.py`` starts it::

    .venv/bin/python benchmarks/resp_floor.py --loop asyncio   # prints its address

and it runs until SIGTERM or SIGINT. It binds 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from typing import cast

HOST = "127.0.0.1"
BUFFER_SIZE = 64 * 1024
MAX_REPLIES = 4096


class EmptyConsumer(asyncio.BufferedProtocol):
    """Counts the requests of each read and writes as many pre-built replies."""

    _transport: asyncio.Transport

    def __init__(self) -> None:
        self._buffer = bytearray(BUFFER_SIZE)
        self._view = memoryview(self._buffer)
        self._pending = b""  # a request cut by the end of a read

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        data = self._pending + self._buffer[:nbytes]
        end = data.rfind(b"\n") + 1
        if data[0] == 42:  # multibulk: the requests are the "*" at line starts
            count = data.count(b"\n*", 0, end) + 1
            # The last request is whole when its line count is reached: the
            # workloads here end every read on a request boundary, so the
            # rest only guards a read cut in the middle.
            last = data.rfind(b"\n*", 0, end) + 1
            tail = data[last:]
            header_end = tail.find(b"\r")
            if header_end < 0 or tail.count(b"\n") < 2 * int(tail[1:header_end]) + 1:
                count -= 1
                end = last
            reply = OK_REPLIES[count]
        else:
            reply = PONG_REPLIES[data.count(b"\n", 0, end)]
        self._pending = bytes(data[end:])
        if reply:
            self._transport.write(reply)


OK_REPLIES = [b"+OK\r\n" * count for count in range(MAX_REPLIES)]
PONG_REPLIES = [b"+PONG\r\n" * count for count in range(MAX_REPLIES)]


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = await loop.create_server(EmptyConsumer, HOST, port)
    address = server.sockets[0].getsockname()
    print(f"floor serving on {address[0]}:{address[1]}", flush=True)
    async with server:
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    if args.loop == "uvloop":
        import uvloop  # noqa: PLC0415 (optional dependency)

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(args.port))
    else:
        asyncio.run(serve(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
