"""Soak test: many short connections and many idle ones against one wireproto server.

    .venv/bin/python benchmarks/soak.py                  # 100,000 cycles, 1,000 idle
    .venv/bin/python benchmarks/soak.py --cycles 5000 --idle 200 --loop uvloop

The server runs in a child process with the default limits (it is this script
with ``--serve``), serving kvbin and a small control format that reports its
open sessions, descriptors and RSS. The client process:

1. takes the baseline (descriptors, sessions, RSS of the server);
2. runs ``--cycles`` connect / one kvbin SET / disconnect cycles, ``--concurrency`` at a
   time, spread over several loopback source addresses (127.0.0.1-8): the per-client
   limit stays at its default, and the client's TIME_WAIT sockets do not exhaust the
   ephemeral ports;
3. opens ``--idle`` connections that each send one request and then stay idle, and
   measures the server's RSS and descriptors with all of them open;
4. closes them and checks the server is back to its baseline.

Throughout, one well-behaved client sends one ECHO at a time and records its latency:
p50, p99 and max are reported per phase. Everything is bounded: each phase by its
count and by ``--max-seconds``. Nothing here asserts a duration; the script exits 1
only if descriptors or sessions do not return to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wireproto.providers.kvbin import KVBIN, KvbinProvider, Opcode, build_request  # noqa: E402

from wireproto import Limits, NetworkSender, Registry, WireFormat, match_prefix  # noqa: E402
from wireproto._server import Server  # noqa: E402

CONTROL = b"SOAKCTL\n"
SOURCES = [f"127.0.0.{n}" for n in range(1, 9)]
STEP_TIMEOUT = 30.0


def _raise_file_limit(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


# -- the server side ------------------------------------------------------------------


class _ControlSession:
    """Replies with one JSON line about the server, then closes."""

    def __init__(self, report: Callable[[], dict[str, Any]], sender: NetworkSender) -> None:
        self._report = report
        self._sender = sender

    def try_consume(self, data: memoryview) -> int:
        if len(data) < len(CONTROL):
            return 0
        self._sender.send(json.dumps(self._report()).encode() + b"\n")
        self._sender.close()
        return len(CONTROL)

    def close(self) -> None:
        pass


class _ControlProvider:
    def __init__(self) -> None:
        self.server: Server | None = None

    @property
    def limits(self) -> Limits:
        return Limits(max_message_size=64)

    def create_session(self, wire_format: WireFormat, sender: NetworkSender) -> _ControlSession:
        return _ControlSession(self._report, sender)

    def _report(self) -> dict[str, Any]:
        assert self.server is not None
        stats = self.server.stats
        return {
            # The control connection itself is open while it reports.
            "sessions": self.server.open_connections - 1,
            "fds": _fds(os.getpid()) - 1,
            "rss": _rss(os.getpid()),
            "accepted": stats.accepted,
            "rejected": stats.rejected_total,
            "closes": dict(stats.closes),
            "receive_memory": stats.receive_memory,
        }


async def _serve(loop_name: str) -> None:
    registry = Registry()
    registry.register(KVBIN, KvbinProvider())
    control = _ControlProvider()
    registry.register(WireFormat("soakctl", match_prefix(CONTROL)), control)
    server = Server(registry, "127.0.0.1", 0)
    control.server = server
    await server.start()
    print(server.port, flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    # SIGTERM stops us: a reader on a stdin pipe made uvloop several times slower here.
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        await server.close()
    print(f"server {loop_name}: closed", flush=True)


# -- the client side --------------------------------------------------------------------


# Linux: bind() picks no port, connect() does, and connect() may reuse the port of a
# TIME_WAIT socket on loopback (tcp_tw_reuse). A plain bind((source, 0)) cannot, and
# after some 60,000 cycles its search for a free port made every connect slow.
_IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


async def _open(port: int, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_IP, _IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((source, 0))
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), STEP_TIMEOUT)
    except BaseException:
        sock.close()
        raise
    return await asyncio.wait_for(asyncio.open_connection(sock=sock), STEP_TIMEOUT)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await asyncio.wait_for(writer.wait_closed(), STEP_TIMEOUT)


async def _report(port: int) -> dict[str, Any]:
    reader, writer = await _open(port, "127.0.0.1")
    writer.write(CONTROL)
    line = await asyncio.wait_for(reader.readline(), STEP_TIMEOUT)
    await _close(writer)
    result: dict[str, Any] = json.loads(line)
    return result


async def _settled(port: int, baseline: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The server's report once its sessions and descriptors are back (or after ``seconds``)."""
    end = time.monotonic() + seconds
    while True:
        report = await _report(port)
        back = report["sessions"] == baseline["sessions"] and report["fds"] == baseline["fds"]
        if back or time.monotonic() > end:
            return report
        await asyncio.sleep(0.1)


class _Prober:
    """The well-behaved client: one ECHO at a time, latency per phase."""

    def __init__(self, port: int) -> None:
        self._port = port
        self.samples: dict[str, list[float]] = {}
        self.phase = "baseline"
        self._stop = asyncio.Event()

    async def run(self) -> None:
        reader, writer = await _open(self._port, "127.0.0.1")
        request = build_request(Opcode.ECHO, b"", b"p" * 32, 1)
        try:
            while not self._stop.is_set():
                start = time.perf_counter()
                writer.write(request)
                await asyncio.wait_for(reader.readexactly(12 + 32), STEP_TIMEOUT)
                self.samples.setdefault(self.phase, []).append(time.perf_counter() - start)
                await asyncio.sleep(0.001)
        finally:
            await _close(writer)

    def stop(self) -> None:
        self._stop.set()


async def _cycles(port: int, count: int, concurrency: int, deadline: float) -> tuple[int, int]:
    done = failures = 0
    next_index = 0

    async def worker(number: int) -> None:
        nonlocal done, failures, next_index
        source = SOURCES[number % len(SOURCES)]
        while next_index < count and time.monotonic() < deadline:
            index = next_index
            next_index += 1
            try:
                reader, writer = await _open(port, source)
                writer.write(build_request(Opcode.SET, b"k%d" % (index % 1000), b"v", index))
                await asyncio.wait_for(reader.readexactly(12), STEP_TIMEOUT)
                await _close(writer)
                done += 1
            except (OSError, asyncio.IncompleteReadError, TimeoutError):
                failures += 1

    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return done, failures


async def _client(args: argparse.Namespace, port: int, server_pid: int) -> int:
    deadline = time.monotonic() + args.max_seconds
    prober = _Prober(port)
    probing = asyncio.create_task(prober.run())
    await asyncio.sleep(0.5)
    baseline = await _settled(port, {"sessions": 1, "fds": 0}, 0)  # the prober's session
    rows = [("baseline", baseline)]

    prober.phase = "cycles"
    started = time.monotonic()
    done, failures = await _cycles(port, args.cycles, args.concurrency, deadline)
    cycle_seconds = time.monotonic() - started
    rows.append(("after cycles", await _settled(port, baseline, 10.0)))

    prober.phase = "idle"
    idle: list[asyncio.StreamWriter] = []
    try:
        for index in range(args.idle):
            if time.monotonic() > deadline:
                break
            reader, writer = await _open(port, SOURCES[index % len(SOURCES)])
            idle.append(writer)
            writer.write(build_request(Opcode.NOOP, b"", b"", index))
            await asyncio.wait_for(reader.readexactly(12), STEP_TIMEOUT)
        await asyncio.sleep(1.0)  # the prober keeps going while they are all open
        with_idle = await _report(port)
        rows.append((f"{len(idle)} idle open", with_idle))
    finally:
        for writer in idle:
            await _close(writer)
    prober.phase = "after"
    rows.append(("after idle", await _settled(port, baseline, 10.0)))
    await asyncio.sleep(0.5)
    prober.stop()
    await asyncio.wait_for(probing, STEP_TIMEOUT)

    before_idle = rows[1][1]
    rss_per_idle = (with_idle["rss"] - before_idle["rss"]) / max(len(idle), 1)
    reserved = (with_idle["receive_memory"] - before_idle["receive_memory"]) / max(len(idle), 1)
    client_loop = args.client_loop or args.loop
    print(
        f"\n### soak: server on {args.loop}, client on {client_loop}, {done:,} cycles, "
        f"{len(idle):,} idle connections\n"
    )
    print(
        f"- cycles: {done:,} done, {failures} failed, {cycle_seconds:.1f} s "
        f"({done / cycle_seconds:,.0f}/s at concurrency {args.concurrency})"
    )
    print(
        f"- RSS per idle connection: {rss_per_idle / 1024:.1f} KiB (server RSS "
        f"{before_idle['rss'] / 2**20:.1f} MiB after the cycles -> "
        f"{with_idle['rss'] / 2**20:.1f} MiB with {len(idle)} idle; receive buffers reserved "
        f"{reserved / 1024:.0f} KiB each)"
    )
    print(
        "\n| point | server fds | sessions | RSS MiB | receive buffers KiB | accepted | rejected |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, report in rows:
        print(
            f"| {name} | {report['fds']} | {report['sessions']} | "
            f"{report['rss'] / 2**20:.1f} | {report['receive_memory'] // 1024} | "
            f"{report['accepted']} | {report['rejected']} |"
        )
    print("\n| phase | probe requests | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    for phase, samples in prober.samples.items():
        ordered = sorted(samples)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        print(
            f"| {phase} | {len(ordered):,} | {statistics.median(ordered) * 1e3:.3f} | "
            f"{p99 * 1e3:.3f} | {ordered[-1] * 1e3:.3f} |"
        )
    final = rows[-1][1]
    back = final["fds"] == baseline["fds"] and final["sessions"] == baseline["sessions"]
    print(f"\nback to baseline: {'yes' if back else 'NO'}")
    return 0 if back and not failures else 1


def _loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if name == "uvloop":
        import uvloop  # noqa: PLC0415

        return uvloop.new_event_loop
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=100_000)
    parser.add_argument("--idle", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument(
        "--client-loop",
        choices=("asyncio", "uvloop"),
        help="the client's event loop (default: --loop, the server's)",
    )
    parser.add_argument("--max-seconds", type=float, default=900.0)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    _raise_file_limit(args.idle + args.concurrency + 256)
    loop_factory = _loop_factory(args.loop)
    if args.serve:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(_serve(args.loop))
        return 0
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--loop", args.loop, "--idle", str(args.idle)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        with asyncio.Runner(loop_factory=_loop_factory(args.client_loop or args.loop)) as runner:
            status = runner.run(_client(args, port, server.pid))
        server.send_signal(signal.SIGTERM)
        server.wait(STEP_TIMEOUT)
        return status
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


if __name__ == "__main__":
    sys.exit(main())
