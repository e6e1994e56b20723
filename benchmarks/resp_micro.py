"""Per-command CPU cost of the RESP path, sans I/O: no sockets, no event loop wake-ups.

Feeds the byte batches ``redis-benchmark -P 16`` sends (16 pipelined SET,
GET or PING_INLINE requests per read) through four nested layers and times
each, so the difference between two layers is what the outer one adds:

- ``parser``: ``RequestParser.begin`` / ``whole_commands`` / ``next_command``
  / ``end`` only;
- ``session``: ``RespSession.try_consume`` (parse, dispatch, the store, the
  replies), with a sender that drops the bytes;
- ``connection``: ``Connection.get_buffer`` / ``buffer_updated`` /
  ``data_to_send``, with the counters and the memory budget a ``Server``
  gives it;
- ``shell``: the asyncio protocol of ``wireproto._server`` (``get_buffer`` /
  ``buffer_updated``: the flush and the deadline timer) on a fake transport
  whose ``write`` drops the bytes.

Each cell is the median of ``--runs`` timed runs of ``--batches`` batches
(after one untimed warm-up), in ns of CPU time (``time.process_time``, so
other processes on the machine inflate it less than wall time) per command,
for the pure-Python parser and the hiredis one. What the table leaves out is the event loop and the
kernel: the selector wake-up, ``recv_into`` and ``send`` for every batch
(measure those with ``benchmarks/resp.py``).

Run it from the repository root::

    .venv/bin/python benchmarks/resp_micro.py           # 9 runs of 20,000 batches
    .venv/bin/python benchmarks/resp_micro.py --quick   # 5 runs of 5,000 batches

Nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# Runnable as a script from the repository root without installing the package; an
# installed wireproto (e.g. the compiled wheel in .venv-compiled) is measured as installed.
if importlib.util.find_spec("wireproto") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wireproto.providers.resp import HIREDIS_AVAILABLE, RespProvider, register
from wireproto.providers.resp.parser import RequestParser
from wireproto.providers.resp.session import RespSession

from wireproto._auth import NO_AUTH
from wireproto._build import current as current_build
from wireproto._connection import Connection, ConnectionSettings, ConnectionState
from wireproto._protocol import ConnectionProtocol
from wireproto._registry import Registry
from wireproto._server import Server
from wireproto._stats import StatsCollector
from wireproto.memory import MemoryAccount, MemoryBudget

PIPELINE = 16
KEY = b"key:__rand_int__"  # redis-benchmark's key without -r
VALUE = b"xxx"  # redis-benchmark's default -d 3


def _multibulk(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


WORKLOADS: dict[str, bytes] = {
    "PING_INLINE": b"PING\r\n" * PIPELINE,
    "SET": _multibulk(b"SET", KEY, VALUE) * PIPELINE,
    "GET": _multibulk(b"GET", KEY) * PIPELINE,
}
EXPECTED: dict[str, bytes] = {
    "PING_INLINE": b"+PONG\r\n" * PIPELINE,
    "SET": b"+OK\r\n" * PIPELINE,
    "GET": b"$3\r\nxxx\r\n" * PIPELINE,
}


class _NullSender:
    """A ``NetworkSender`` that keeps the last reply (checked once, then dropped)."""

    def __init__(self) -> None:
        self.last = b""
        self.memory = MemoryAccount()
        self.auth = NO_AUTH
        self.listener = None

    def send(self, data: Any, /) -> None:
        self.last = data

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str, default: object = None, /) -> object:
        return default


class _FakeTransport(asyncio.Transport):
    """Enough of a transport for ``ConnectionProtocol``: writes are kept, then dropped."""

    def __init__(self) -> None:
        super().__init__()
        self.last = b""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 6379)}.get(
            name, default
        )

    def write(self, data: Any) -> None:
        self.last = data

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def can_write_eof(self) -> bool:
        return True


def _provider(accelerated: bool) -> tuple[Registry, RespProvider]:
    registry = Registry()
    provider = register(registry, RespProvider(accelerated=accelerated))
    provider.store.set(KEY, VALUE)
    return registry, provider


def _time(step: Callable[[], None], batches: int) -> float:
    """CPU seconds for ``batches`` calls of ``step`` (the garbage collector off, as timeit does)."""
    gc.collect()
    gc.disable()
    try:
        started = time.process_time()
        for _ in range(batches):
            step()
        return time.process_time() - started
    finally:
        gc.enable()


def parser_step(accelerated: bool, data: bytes) -> Callable[[], None]:
    _, provider = _provider(accelerated)
    parser = RequestParser(provider.resp_limits, accelerated=accelerated)
    view = memoryview(data)

    def step() -> None:
        parser.begin(view)
        parser.whole_commands()
        next_command = parser.next_command
        while next_command() is not None:
            pass
        parser.end()

    return step


def session_step(accelerated: bool, data: bytes) -> tuple[Callable[[], None], Callable[[], bytes]]:
    _, provider = _provider(accelerated)
    sender = _NullSender()
    session = RespSession(provider, sender, 1)
    view = memoryview(data)
    size = len(data)

    def step() -> None:
        if session.try_consume(view) != size:
            raise AssertionError("the session did not consume the whole batch")

    return step, lambda: sender.last


def connection_step(
    accelerated: bool, data: bytes
) -> tuple[Callable[[], None], Callable[[], bytes]]:
    registry, _ = _provider(accelerated)
    connection = Connection(
        registry,
        ConnectionSettings(),
        extra={"peername": ("127.0.0.1", 40000)},
        stats=StatsCollector(),
        budget=MemoryBudget(1 << 30),
    )
    connection.receive_data(data)  # detection
    assert connection.state is ConnectionState.ACTIVE
    connection.data_to_send()
    size = len(data)
    last = [b""]

    def step() -> None:
        region = connection.get_buffer()
        region[:size] = data
        connection.buffer_updated(size)
        last[0] = connection.data_to_send()

    return step, lambda: last[0]


def shell_step(
    accelerated: bool, data: bytes, loop: asyncio.AbstractEventLoop
) -> tuple[Callable[[], None], Callable[[], bytes], Callable[[], None]]:
    registry, _ = _provider(accelerated)
    server = Server(registry, port=0)
    transport = _FakeTransport()
    protocol: ConnectionProtocol = loop.run_until_complete(_make_protocol(server, transport))
    size = len(data)

    def step() -> None:
        region = protocol.get_buffer(-1)
        region[:size] = data
        protocol.buffer_updated(size)

    step()  # detection
    assert protocol.connection.state is ConnectionState.ACTIVE

    def done() -> None:
        protocol.connection_lost(None)

    return step, lambda: bytes(transport.last), done


async def _make_protocol(server: Server, transport: _FakeTransport) -> ConnectionProtocol:
    protocol = server._new_protocol()
    protocol.connection_made(transport)
    return protocol


def measure(
    layer: str, accelerated: bool, test: str, batches: int, runs: int
) -> tuple[float, float, float]:
    """(median, min, max) ns per command of ``layer`` on ``test``."""
    data = WORKLOADS[test]
    done: Callable[[], None] = lambda: None  # noqa: E731
    loop = asyncio.new_event_loop()
    try:
        if layer == "parser":
            step = parser_step(accelerated, data)
            check = None
        elif layer == "session":
            step, check = session_step(accelerated, data)
        elif layer == "connection":
            step, check = connection_step(accelerated, data)
        else:
            asyncio.set_event_loop(loop)
            step, check, done = shell_step(accelerated, data, loop)
        step()
        if check is not None and bytes(check()) != EXPECTED[test]:
            raise AssertionError(f"{layer} {test}: unexpected replies {bytes(check())[:80]!r}")
        _time(step, max(batches // 10, 1))  # warm-up
        per_command = [_time(step, batches) / (batches * PIPELINE) * 1e9 for _ in range(runs)]
        done()
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    return statistics.median(per_command), min(per_command), max(per_command)


LAYERS = ("parser", "session", "connection", "shell")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 runs of 5,000 batches")
    parser.add_argument("--runs", type=int, help="timed runs per cell (default 9; quick 5)")
    parser.add_argument("--batches", type=int, help="batches per run (default 20000; quick 5000)")
    parser.add_argument("--tests", default=",".join(WORKLOADS), help="comma-separated tests")
    args = parser.parse_args(argv)
    runs = args.runs or (5 if args.quick else 9)
    batches = args.batches or (5_000 if args.quick else 20_000)
    tests = [test.strip().upper() for test in args.tests.split(",") if test.strip()]
    unknown = [test for test in tests if test not in WORKLOADS]
    if unknown:
        parser.error(f"unknown tests {unknown}; choose from {', '.join(WORKLOADS)}")
    parsers = [("pure Python", False)] + ([("hiredis", True)] if HIREDIS_AVAILABLE else [])

    print(
        f"wireproto {current_build().describe()}; "
        f"CPython {platform.python_version()} {platform.machine()}; {PIPELINE} commands "
        f"per batch; median of {runs} runs of {batches} batches; ns per command "
        f"(min-max); each layer includes the ones above it\n"
    )
    header = "| test | parser | " + " | ".join(LAYERS) + " |"
    print(header)
    print("|---|---|" + "--:|" * len(LAYERS))
    for test in tests:
        for name, accelerated in parsers:
            cells = []
            for layer in LAYERS:
                median, low, high = measure(layer, accelerated, test, batches, runs)
                cells.append(f"{median:,.0f} ({low:,.0f}-{high:,.0f})")
            print(f"| {test} | {name} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
