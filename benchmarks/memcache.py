"""memcached throughput: ``wireproto serve`` against a real ``memcached``, in the same run.

Starts Debian's ``memcached`` (one worker thread, ``-t 1``: one core, like
the one event loop of ``wireproto serve``) and ``wireproto serve`` on the
default asyncio loop and on uvloop. Every target gets the same load from one
pipelining load generator (memtier_benchmark is not packaged in Debian;
memaslap, which is, keeps one request in flight per connection):
``--connections`` connections, each a closed loop that writes a batch of
``--depth`` requests in one write and sends the next batch as soon as the
last reply byte of the previous one is in. Replies have a known size (fixed
key and value sizes), so the generator only counts bytes; one batch of each
workload is checked byte for byte on every server first (binary CAS values
aside, which differ between servers).

The generator (``--load``) is ``memcache_load.c`` by default, compiled here
with ``cc -O2`` (one thread, epoll, as ``kvbin_load.c``), or the uvloop
client below (``--load python``), which needs more CPU per request than
memcached and so cannot saturate it. By default (``--no-pin`` to let the
scheduler place them) every server runs on CPU 0 and the generator on CPU 1.

Workloads: text ``set`` and ``get``, binary ``SET`` and ``GET`` (32-byte
values over 10 000 keys; the gets hit keys stored beforehand). For each
workload the targets take turns, ``--runs`` rounds in a rotating order; a
measurement is ``--seconds`` of load after a short warm-up. The table gives
the median requests per second, the ratio to memcached in the same run, and
the server's CPU time per request (``utime + stime`` from ``/proc/<pid>/stat``
over the measurement, divided by the requests answered), which does not
depend on whether the load generator saturated the server, and the C
generator's CPU time per request.

Run it from the repository root::

    .venv/bin/python benchmarks/memcache.py            # 5 rounds of 3 s per cell
    .venv/bin/python benchmarks/memcache.py --quick    # 3 rounds of 1 s
    .venv/bin/python benchmarks/memcache.py --load python --no-pin   # the earlier method

It prints a Markdown table. Nothing here asserts a speed. Every process it
starts binds 127.0.0.1 only and is stopped (by pid) before it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import selectors
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from _builds import Build, add_option, builds

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
KEYS = 10_000
VALUE = b"v" * 32
KEY_FORMAT = b"key:%06d"  # every key has the same length, so every reply has the same size
_HEADER = struct.Struct(">BBHBBHIIQ")
BATCHES = 8  # distinct batches per connection, cycled
SERVER_CPU = 0
CLIENT_CPU = 1


# -- requests and the sizes of their replies -------------------------------------------


def key(index: int) -> bytes:
    return KEY_FORMAT % (index % KEYS)


def binary_request(opcode: int, key_: bytes, value: bytes = b"", extras: bytes = b"") -> bytes:
    body = len(extras) + len(key_) + len(value)
    return (
        _HEADER.pack(0x80, opcode, len(key_), len(extras), 0, 0, body, 0, 0) + extras + key_ + value
    )


def binary_reply(opcode: int, extras: bytes = b"", value: bytes = b"") -> bytes:
    """A success response, its CAS zero (see :func:`mask_cas`)."""
    body = len(extras) + len(value)
    return _HEADER.pack(0x81, opcode, 0, len(extras), 0, 0, body, 0, 0) + extras + value


def mask_cas(replies: bytes) -> bytes:
    """Binary responses with their CAS zeroed: each server numbers its items its own way."""
    out = bytearray(replies)
    pos = 0
    while pos + 24 <= len(out):
        out[pos + 16 : pos + 24] = bytes(8)
        pos += 24 + int.from_bytes(out[pos + 8 : pos + 12], "big")
    return bytes(out)


@dataclass(frozen=True)
class Workload:
    """A request builder, the reply it must get, and whether replies hold a CAS."""

    name: str
    request: Callable[[int], bytes]
    reply: Callable[[int], bytes]
    binary: bool = False

    @property
    def reply_size(self) -> int:
        """The exact size of one reply (every key has the same length)."""
        return len(self.reply(0))


WORKLOADS = (
    Workload(
        "text set",
        lambda i: b"set %s 0 0 %d\r\n%s\r\n" % (key(i), len(VALUE), VALUE),
        lambda i: b"STORED\r\n",
    ),
    Workload(
        "text get",
        lambda i: b"get %s\r\n" % key(i),
        lambda i: b"VALUE %s 0 %d\r\n%s\r\nEND\r\n" % (key(i), len(VALUE), VALUE),
    ),
    Workload(
        "binary set",
        lambda i: binary_request(0x01, key(i), VALUE, b"\x00" * 8),
        lambda i: binary_reply(0x01),
        binary=True,
    ),
    Workload(
        "binary get",
        lambda i: binary_request(0x00, key(i)),
        lambda i: binary_reply(0x00, b"\x00" * 4, VALUE),
        binary=True,
    ),
)


def connection_batches(workload: Workload, number: int, depth: int) -> list[bytes]:
    """The :data:`BATCHES` request batches connection ``number`` cycles through."""
    first = number * depth * BATCHES
    return [
        b"".join(workload.request(first + b * depth + i) for i in range(depth))
        for b in range(BATCHES)
    ]


def check_replies(server: Server, workload: Workload, depth: int) -> None:
    """One batch's replies, byte for byte (CAS values aside), before the load."""
    expected = b"".join(workload.reply(i) for i in range(depth))
    request = connection_batches(workload, 0, depth)[0]
    with socket.create_connection((HOST, server.port), timeout=5.0) as sock:
        sock.sendall(request)
        reply = b""
        while len(reply) < len(expected):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    if workload.binary:
        reply = mask_cas(reply)
    if reply != expected:
        raise SystemExit(f"{server.name}: unexpected {workload.name} replies {reply[:120]!r}")


# -- the load generator ------------------------------------------------------------------


class _LoadConnection(asyncio.Protocol):
    """One connection in a closed loop: a batch out, all its reply bytes in, the next batch."""

    def __init__(self, batches: list[bytes], batch_reply: int, stats: _LoadStats) -> None:
        self._batches = batches
        self._batch_reply = batch_reply
        self._stats = stats
        self._received = 0
        self._next = 0
        self._transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._send()

    def _send(self) -> None:
        assert self._transport is not None
        self._transport.write(self._batches[self._next])
        self._next = (self._next + 1) % len(self._batches)

    def data_received(self, data: bytes) -> None:
        self._received += len(data)
        while self._received >= self._batch_reply:
            self._received -= self._batch_reply
            self._stats.batches += 1
            if self._stats.stopping:
                assert self._transport is not None
                self._transport.close()
                return
            self._send()
        if self._received < 0:
            raise AssertionError("more reply bytes than requests")

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(exc)


@dataclass
class _LoadStats:
    batches: int = 0
    stopping: bool = False


async def _load(port: int, workload: Workload, args: argparse.Namespace) -> tuple[int, float]:
    """Run the load; the requests answered during the measured window and its length."""
    loop = asyncio.get_running_loop()
    stats = _LoadStats()
    depth = args.depth
    batch_reply = depth * workload.reply_size
    protocols = []
    for number in range(args.connections):
        batches = connection_batches(workload, number, depth)

        def connection(batches: list[bytes] = batches) -> _LoadConnection:
            return _LoadConnection(batches, batch_reply, stats)

        _, protocol = await loop.create_connection(connection, HOST, port)
        protocols.append(protocol)
    await asyncio.sleep(args.warm_up)
    start_batches, start = stats.batches, time.perf_counter()
    await asyncio.sleep(args.seconds)
    done_batches, elapsed = stats.batches, time.perf_counter() - start
    stats.stopping = True
    await asyncio.wait_for(asyncio.gather(*(p.closed for p in protocols)), STOP_TIMEOUT)
    return (done_batches - start_batches) * depth, elapsed


def run_load(port: int, workload: Workload, args: argparse.Namespace) -> tuple[int, float]:
    """The load on a fresh event loop (uvloop when installed: a faster client)."""
    try:
        import uvloop  # noqa: PLC0415 (optional)

        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - depends on the environment
        factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(_load(port, workload, args))


def write_load_file(path: Path, workload: Workload, args: argparse.Namespace) -> None:
    """The records ``memcache_load.c`` reads: every connection's batches."""
    reply = workload.reply_size * args.depth
    with path.open("wb") as out:
        for number in range(args.connections):
            for batch in connection_batches(workload, number, args.depth):
                out.write(struct.pack("<II", args.depth, len(batch)))
                out.write(batch)
                out.write(struct.pack("<I", reply))


def children_cpu_seconds() -> float:
    """User + system CPU time of the children waited for so far (the C generator's runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_c_load(port: int, load_file: Path, args: argparse.Namespace) -> tuple[int, float]:
    """Run ``memcache_load`` once; the requests it counted and the measured seconds."""
    command = [
        str(args.load_binary),
        str(port),
        str(args.connections),
        str(BATCHES),
        str(args.warm_up),
        str(args.seconds),
        str(load_file),
    ]
    done = subprocess.run(
        pinned(CLIENT_CPU if args.pin else None, command),
        capture_output=True,
        text=True,
        timeout=args.warm_up + args.seconds + 30,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"memcache_load failed: {done.stderr.strip()}")
    fields = dict(part.split("=") for part in done.stdout.split())
    return int(fields["requests"]), float(fields["seconds"])


def pinned(cpu: int | None, command: list[str]) -> list[str]:
    """``command`` run (with all its threads) on ``cpu`` only, by ``taskset``."""
    return command if cpu is None else ["taskset", "-c", str(cpu), *command]


# -- servers ---------------------------------------------------------------------------


@dataclass
class Server:
    """A running target."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    runs: dict[str, list[tuple[float, float, float]]] = field(default_factory=dict)
    """Per workload, each run: requests per second, server and generator CPU µs per request."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (all its threads)."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        fields = stat.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def talk(port: int, request: bytes, ends: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(request)
        reply = b""
        while not reply.endswith(ends):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    return reply


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)


@contextmanager
def memcached_server(cpu: int | None) -> Iterator[Server]:
    binary = shutil.which("memcached")
    if binary is None:
        raise SystemExit("memcached is not installed: run .ci/install-debian-packages (as root)")
    user = ["-u", "root"] if os.geteuid() == 0 else []
    port = free_port()
    process = subprocess.Popen(
        pinned(
            cpu,
            [
                binary,
                "-l",
                HOST,
                "-p",
                str(port),
                "-U",
                "0",
                "-t",
                "1",
                "-m",
                "1024",
                "-c",
                "4096",
                *user,
            ],
        ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if talk(port, b"version\r\n", b"\r\n", 1.0).startswith(b"VERSION "):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("memcached did not start")
            time.sleep(0.05)
        yield Server("memcached -t 1", process, port)
    finally:
        stop(process)


def _start_line(process: subprocess.Popen[bytes]) -> bytes:
    assert process.stdout is not None
    fd = process.stdout.fileno()
    line = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        deadline = time.monotonic() + START_TIMEOUT
        while not line.endswith(b"\n") and selector.select(max(0.0, deadline - time.monotonic())):
            byte = os.read(fd, 1)
            if not byte:
                break
            line += byte
    return line


@contextmanager
def wireproto_server(build: Build, loop: str, cpu: int | None) -> Iterator[Server]:
    process = subprocess.Popen(
        pinned(
            cpu,
            build.serve(
                "--host",
                HOST,
                "--port",
                "0",
                "--loop",
                loop,
                "--log-level",
                "warning",
                "--max-connections-per-client",
                "0",
            ),
        ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
    )
    try:
        line = _start_line(process).decode(errors="replace")
        if "memcache-text" not in line:
            raise SystemExit(f"wireproto serve did not start with the memcached provider: {line!r}")
        yield Server(f"wireproto {build.label} ({loop})", process, int(line.rsplit(":", 1)[1]))
    finally:
        stop(process)
        if process.stdout is not None:
            process.stdout.close()


def preload(server: Server) -> None:
    """Store every key the get workloads read."""
    batch = b"".join(
        b"set %s 0 0 %d noreply\r\n%s\r\n" % (key(i), len(VALUE), VALUE) for i in range(KEYS)
    )
    assert talk(server.port, batch + b"mn\r\n", b"MN\r\n", 30.0) == b"MN\r\n", server.name
    reply = talk(server.port, b"get %s\r\n" % key(KEYS - 1), b"END\r\n")
    assert reply.startswith(b"VALUE "), (server.name, reply)


# -- the run -----------------------------------------------------------------------------


def measure(
    server: Server, workload: Workload, args: argparse.Namespace, load_file: Path | None
) -> None:
    before, client_before = cpu_seconds(server.process.pid), children_cpu_seconds()
    if load_file is None:
        requests, elapsed = run_load(server.port, workload, args)
    else:
        requests, elapsed = run_c_load(server.port, load_file, args)
    cpu = cpu_seconds(server.process.pid) - before  # warm-up and drain included: a bound
    client = children_cpu_seconds() - client_before  # the C generator's (0 for --load python)
    if server.process.poll() is not None:
        raise SystemExit(f"{server.name} exited during the {workload.name} load")
    per = 1e6 / requests if requests else float("nan")
    server.runs.setdefault(workload.name, []).append((requests / elapsed, cpu * per, client * per))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    version = subprocess.run(
        [shutil.which("memcached") or "memcached", "-V"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return (
        f"CPython {platform.python_version()}, {platform.system()} {platform.release()}, "
        f'"{cpu}", nproc {os.cpu_count()}, {version}'
    )


def table(servers: Sequence[Server], args: argparse.Namespace) -> str:
    reference = servers[0]
    generator = "memcache_load.c (C, epoll)" if args.load == "c" else "the uvloop client (Python)"
    placement = (
        f"servers on CPU {SERVER_CPU}, generator on CPU {CLIENT_CPU}"
        if args.pin
        else "placed by the scheduler"
    )
    lines = [
        f"Load: {generator}, {args.connections} connections x {args.depth} pipelined requests, "
        f"{args.seconds:g} s per run, median of {args.runs} runs; {placement}; {machine()}.",
        "",
        "| workload | server | requests/s | vs memcached | server CPU µs/request "
        "| generator CPU µs/request |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for workload in WORKLOADS:
        base = statistics.median(run[0] for run in reference.runs[workload.name])
        for server in servers:
            runs = server.runs[workload.name]
            rate = statistics.median(run[0] for run in runs)
            cpu = statistics.median(run[1] for run in runs)
            client = f"{statistics.median(run[2] for run in runs):.2f}" if args.load == "c" else "-"
            lines.append(
                f"| {workload.name} | {server.name} | {rate:,.0f} | {rate / base:.2f} "
                f"| {cpu:.2f} | {client} |"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds per cell (default 5)")
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per run")
    parser.add_argument("--warm-up", type=float, default=0.5, help="unmeasured seconds first")
    parser.add_argument("--connections", type=int, default=50, help="client connections")
    parser.add_argument("--depth", type=int, default=16, help="requests per pipelined batch")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 1 s")
    parser.add_argument(
        "--load",
        choices=("c", "python"),
        default="c",
        help="the load generator: memcache_load.c (default) or the uvloop client",
    )
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help=f"let the scheduler place the processes (default: servers on CPU {SERVER_CPU}, "
        f"the generator on CPU {CLIENT_CPU})",
    )
    add_option(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.seconds = 3, 1.0
    if args.pin and not {SERVER_CPU, CLIENT_CPU} <= os.sched_getaffinity(0):
        args.pin = False
    server_cpu = SERVER_CPU if args.pin else None
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="memcache-bench-")))
        if args.load == "c":
            args.load_binary = work / "memcache_load"
            subprocess.run(
                ["cc", "-O2", "-o", str(args.load_binary), str(HERE / "memcache_load.c")],
                check=True,
            )
        servers = [
            stack.enter_context(memcached_server(server_cpu)),
            *(
                stack.enter_context(wireproto_server(build, loop, server_cpu))
                for build in builds(args.build)
                for loop in ("asyncio", "uvloop")
            ),
        ]
        for server in servers:
            preload(server)
        for workload in WORKLOADS:
            load_file = None
            if args.load == "c":
                load_file = work / "load"
                write_load_file(load_file, workload, args)
            for server in servers:
                check_replies(server, workload, args.depth)
            for round_ in range(args.runs):
                shift = round_ % len(servers)
                for server in servers[shift:] + servers[:shift]:
                    measure(server, workload, args, load_file)
            print(f"{workload.name}: done", file=sys.stderr, flush=True)
        print(table(servers, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
