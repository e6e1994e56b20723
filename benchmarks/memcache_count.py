"""The memcached providers without sockets: ``memcache.py``'s batches through the session,
the sans-I/O ``Connection`` or the asyncio shell's protocol, timed or counted.

The four workloads of ``memcache.py`` (text ``set``/``get``, binary ``SET``/``GET``,
16 pipelined requests per batch, 32-byte values, the gets hitting stored keys), each
batch fed as one read. Three layers, each including the ones before it:

- ``session``: ``TextSession``/``BinarySession.try_consume`` with a sender that
  keeps the last reply;
- ``connection``: ``Connection.get_buffer`` / ``buffer_updated`` / ``data_to_send``
  (the memory account, detection done);
- ``shell``: the compiled asyncio ``ConnectionProtocol`` over a fake transport.

Without ``--count`` it prints ns of CPU per request (``time.process_time``, median
of ``--runs``); on a noisy machine count instead: ``--count`` runs the script under
``valgrind --tool=callgrind`` twice (``--batches`` and a fifth of them) and prints
the instructions per request, the difference over the requests between the two
runs (start-up and warm-up cancel out). Run it from the repository root with the
interpreter of the build to measure::

    .venv/bin/python benchmarks/memcache_count.py                       # pure, timed
    .venv-compiled/bin/python -P benchmarks/memcache_count.py --count   # compiled, counted

Nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# Runnable from the repository root without installing the package; an installed
# wireproto (the compiled wheel in .venv-compiled, with -P) is measured as installed.
if importlib.util.find_spec("wireproto") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from memcache import KEYS, VALUE, WORKLOADS, Workload, connection_batches, key, mask_cas
from wireproto.providers.memcache import BinarySession, MemcacheProvider, TextSession, register

from wireproto._auth import NO_AUTH
from wireproto._build import current as current_build
from wireproto._connection import Connection, ConnectionSettings, ConnectionState
from wireproto._protocol import ConnectionProtocol
from wireproto._registry import Registry
from wireproto._server import Server
from wireproto._stats import StatsCollector
from wireproto.memory import MemoryAccount, MemoryBudget

DEPTH = 16
LAYERS = ("session", "connection", "shell")
NAMES = {workload.name.replace(" ", "-"): workload for workload in WORKLOADS}


class _NullSender:
    """A ``NetworkSender`` that keeps the last reply."""

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
    """Enough of a transport for ``ConnectionProtocol``: the last write is kept."""

    def __init__(self) -> None:
        super().__init__()
        self.last = b""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 11211)}.get(
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


def _registry() -> tuple[Registry, MemcacheProvider]:
    registry = Registry()
    provider = register(registry)
    for index in range(KEYS):  # what the gets read
        provider.store.set(key(index), VALUE)
    return registry, provider


Last = Callable[[], tuple[int, bytes]]


def step_of(layer: str, workload: Workload) -> tuple[Callable[[], None], Last]:
    """One batch per call (cycling through a connection's batches); the last batch's
    number and replies."""
    batches = connection_batches(workload, 0, DEPTH)
    turn = [0]

    def done(replies: object) -> tuple[int, bytes]:
        return (turn[0] - 1) % len(batches), bytes(replies)  # type: ignore[call-overload]

    registry, provider = _registry()
    if layer == "session":
        sender = _NullSender()
        session: TextSession | BinarySession = (
            BinarySession(provider.engine, sender)
            if workload.binary
            else TextSession(provider.engine, sender)
        )
        views = [memoryview(batch) for batch in batches]

        def session_step() -> None:
            view = views[turn[0] % len(views)]
            turn[0] += 1
            if session.try_consume(view) != len(view):
                raise AssertionError("the session did not consume the whole batch")

        return session_step, lambda: done(sender.last)
    if layer == "connection":
        connection = Connection(
            registry,
            ConnectionSettings(),
            extra={"peername": ("127.0.0.1", 40000)},
            stats=StatsCollector(),
            budget=MemoryBudget(1 << 30),
        )
        last = [b""]

        def connection_step() -> None:
            data = batches[turn[0] % len(batches)]
            turn[0] += 1
            size = len(data)
            region = connection.get_buffer(size)
            region[:size] = data
            connection.buffer_updated(size)
            last[0] = connection.data_to_send()

        connection_step()  # detection
        assert connection.state is ConnectionState.ACTIVE
        return connection_step, lambda: done(last[0])
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = Server(registry, port=0)
    transport = _FakeTransport()

    async def make() -> ConnectionProtocol:
        protocol = server._new_protocol()
        protocol.connection_made(transport)
        return protocol

    protocol = loop.run_until_complete(make())

    def shell_step() -> None:
        data = batches[turn[0] % len(batches)]
        turn[0] += 1
        size = len(data)
        region = protocol.get_buffer(-1)
        region[:size] = data
        protocol.buffer_updated(size)

    shell_step()  # detection
    assert protocol.connection.state is ConnectionState.ACTIVE
    return shell_step, lambda: done(transport.last)


def check(workload: Workload, batch: int, replies: bytes) -> None:
    """The replies of batch ``batch`` are what memcached answers (CAS values aside)."""
    expected = b"".join(workload.reply(batch * DEPTH + i) for i in range(DEPTH))
    if (mask_cas(replies) if workload.binary else replies) != expected:
        raise AssertionError(f"{workload.name}: unexpected replies {replies[:80]!r}")


def _time(step: Callable[[], None], batches: int) -> float:
    gc.collect()
    gc.disable()
    try:
        started = time.process_time()
        for _ in range(batches):
            step()
        return time.process_time() - started
    finally:
        gc.enable()


def _collected(argv: list[str]) -> int:
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"Collected : (\d+)", done.stderr)
    if match is None:
        raise SystemExit(f"no callgrind total in: {done.stderr[-500:]}")
    return int(match.group(1))


def count(layer: str, name: str, batches: int) -> float:
    """Instructions per request: callgrind's totals for ``batches`` and ``batches // 5``."""
    base = [sys.executable, *(["-P"] if sys.flags.safe_path else []), __file__]
    base += ["--layer", layer, "--workload", name, "--run"]
    few = max(batches // 5, 1)
    many = _collected([*base, str(batches)])
    less = _collected([*base, str(few)])
    return (many - less) / ((batches - few) * DEPTH)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layer", action="append", choices=LAYERS, help="repeatable")
    parser.add_argument("--workload", action="append", choices=list(NAMES), help="repeatable")
    parser.add_argument("--batches", type=int, default=2000, help="batches per run")
    parser.add_argument("--runs", type=int, default=5, help="timed runs (median)")
    parser.add_argument("--count", action="store_true", help="instructions, by callgrind")
    parser.add_argument("--run", type=int, metavar="N", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    layers = args.layer or list(LAYERS)
    names = args.workload or list(NAMES)
    if args.run is not None:  # one layer and workload, under callgrind
        step, _ = step_of(layers[0], NAMES[names[0]])
        for _ in range(200):  # warm-up: the specialising interpreter settles
            step()
        for _ in range(args.run):
            step()
        return 0
    unit = "instructions" if args.count else "ns of CPU"
    print(f"Python {sys.version.split()[0]}, {current_build().describe()}; {unit} per request")
    print(f"({DEPTH} pipelined requests per read)\n")
    print("| workload | " + " | ".join(layers) + " |")
    print("|---|" + "---:|" * len(layers))
    for name in names:
        workload = NAMES[name]
        cells = []
        for layer in layers:
            step, last = step_of(layer, workload)
            step()
            check(workload, *last())
            if args.count:
                cells.append(f"{count(layer, name, args.batches):,.0f}")
                continue
            _time(step, max(args.batches // 10, 1))
            per = [
                _time(step, args.batches) / (args.batches * DEPTH) * 1e9 for _ in range(args.runs)
            ]
            cells.append(f"{statistics.median(per):,.0f}")
        print(f"| {workload.name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
