"""kvbin end to end: wireproto beside the same protocol hand-written for asyncio, Twisted and trio.

Every server runs as its own process pinned to CPU 0 (``taskset -c 0``); the
load generator (``kvbin_load.c``, compiled here with ``cc -O2``: one thread,
epoll) runs pinned to CPU 1, so the client never competes with the server
for a core and is far from being the bottleneck. The peers are in
``benchmarks/peers/`` (``pip install '.[bench]'`` for Twisted and trio).

1. Replies are checked byte for byte first: a stream of every request kind
   (SET, GET hit and miss, DELETE, ECHO, NOOP, an unknown opcode, a key over
   the limit) is sent whole and in 1-byte writes to each peer, and its replies
   must equal wireproto's. The load generator checks every reply too.
2. Throughput: ``--conns`` connections (50) each write ``--pipeline`` (16)
   SET+GET pairs with 32-byte values at once and wait for the replies;
   requests/s over ``--seconds`` after a warm-up, and the server's CPU time
   per request (``utime + stime`` from ``/proc``). ``--rounds`` rounds, the
   servers interleaved in each; medians are reported, with the ratio to the
   best peer.
3. Memory: a fresh server per peer, 16 connections each writing one SET+GET
   pair of 1 MiB values, over and over for ``--seconds``; the peak RSS
   (``VmHWM``) of the server process.

wireproto is served by each build given as ``--build LABEL=PYTHON`` (default: ``pure``,
this interpreter, and ``compiled``, ``.venv-compiled/bin/python`` when it exists), each
with ``python -P`` so that its installed wireproto serves; the peers run on this
interpreter.

Run from the repository root: ``.venv/bin/python benchmarks/kvbin.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _builds import add_option, builds
from wireproto.providers.kvbin import Opcode, build_request

ROOT = Path(__file__).resolve().parent

# Each server: (the interpreter and its options, the script). The wireproto builds are
# added by main (--build); the hand-written peers run on this interpreter.
PEERS: dict[str, tuple[list[str], Path]] = {
    "asyncio Protocol": ([sys.executable], ROOT / "peers" / "kvbin_asyncio.py"),
    "Twisted": ([sys.executable], ROOT / "peers" / "kvbin_twisted.py"),
    "trio": ([sys.executable], ROOT / "peers" / "kvbin_trio.py"),
}
SERVER_CPU, CLIENT_CPU = "0", "1"
BIG_VALUE = (1 << 20) - 64  # "1 MB": the frame stays under kvbin's 12 + 1 MiB limit


def _pinned(cpu: str) -> list[str]:
    return ["taskset", "-c", cpu] if shutil.which("taskset") and os.cpu_count() != 1 else []


@contextmanager
def serve(server: tuple[list[str], Path]) -> Iterator[tuple[int, int]]:
    """Start one server; yield ``(pid, port)``; stop it (by its pid)."""
    python, script = server
    process = subprocess.Popen(
        [*_pinned(SERVER_CPU), *python, str(script)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield process.pid, port
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def check_stream() -> bytes:
    """Requests of every kind; their replies are compared across servers."""
    requests = [
        build_request(Opcode.GET, b"missing", request_id=1),
        build_request(Opcode.SET, b"k", b"value", request_id=2),
        build_request(Opcode.GET, b"k", request_id=3),
        build_request(Opcode.SET, b"", b"empty key", request_id=4),
        build_request(Opcode.GET, b"", request_id=5),
        build_request(Opcode.ECHO, b"", b"echo me", request_id=6),
        build_request(Opcode.NOOP, request_id=7),
        build_request(Opcode.DELETE, b"k", request_id=8),
        build_request(Opcode.DELETE, b"k", request_id=9),
        build_request(9, b"x", request_id=10),  # type: ignore[arg-type]
        build_request(Opcode.GET, b"x" * 251, request_id=11),
        build_request(Opcode.SET, b"big", b"b" * 70_000, request_id=12),
        build_request(Opcode.GET, b"big", request_id=13),
    ]
    return b"".join(requests)


def exchange(port: int, stream: bytes, step: int) -> bytes:
    """Send ``stream`` in writes of ``step`` bytes; return every reply byte."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for start in range(0, len(stream), step):
            sock.sendall(stream[start : start + step])
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(10)
        chunks = []
        while chunk := sock.recv(1 << 16):
            chunks.append(chunk)
    return b"".join(chunks)


def load(binary: Path, port: int, args: list[object]) -> int:
    """Run the load generator; return the requests it completed."""
    done = subprocess.run(
        [*_pinned(CLIENT_CPU), str(binary), str(port), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if done.returncode:
        raise RuntimeError(f"load generator failed: {done.stderr.strip()}")
    out = done.stdout
    values = dict(item.split("=") for item in out.split())
    assert values["mismatches"] == "0", out
    return int(values["requests"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--conns", type=int, default=50)
    parser.add_argument("--pipeline", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 1.5 s")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another wireproto tree (e.g. `git archive main | tar -x -C DIR`) served as well",
    )
    add_option(parser)
    args = parser.parse_args()
    servers: dict[str, tuple[list[str], Path]] = {}
    for build in builds(args.build):
        # -P: the installed wireproto of that interpreter, never this checkout.
        servers[f"wireproto ({build.label})"] = (
            [build.python, "-P"],
            ROOT / "peers" / "kvbin_wireproto.py",
        )
    if args.baseline is not None:
        servers["wireproto (baseline)"] = (
            [sys.executable],
            args.baseline / "benchmarks" / "peers" / "kvbin_wireproto.py",
        )
    servers.update(PEERS)
    PEERS.clear()
    PEERS.update(servers)
    rounds, seconds = (2, 1.5) if args.quick else (args.rounds, args.seconds)
    work = Path(tempfile.mkdtemp(prefix="kvbin-bench-"))
    try:
        binary = work / "kvbin_load"
        subprocess.run(["cc", "-O2", "-o", str(binary), str(ROOT / "kvbin_load.c")], check=True)
        run(binary, rounds, seconds, args.conns, args.pipeline)
    finally:
        shutil.rmtree(work)


def run(binary: Path, rounds: int, seconds: float, conns: int, pipeline: int) -> None:
    stream = check_stream()
    expected: bytes | None = None
    for name, server in PEERS.items():
        for step in (len(stream), 1):
            with serve(server) as (_pid, port):
                replies = exchange(port, stream, step)
            if expected is None:
                expected = replies
            assert replies == expected, f"{name} differs from wireproto (writes of {step})"
    print(f"replies byte-identical across {len(PEERS)} servers, whole and in 1-byte writes")

    rates: dict[str, list[float]] = {name: [] for name in PEERS}
    cpu: dict[str, list[float]] = {name: [] for name in PEERS}
    for index in range(rounds):
        order = list(PEERS)[index % len(PEERS) :] + list(PEERS)[: index % len(PEERS)]
        for name in order:
            with serve(PEERS[name]) as (pid, port):
                before = cpu_seconds(pid)
                started = time.monotonic()
                done = load(binary, port, [conns, pipeline, 32, 1.0, seconds])
                spent = cpu_seconds(pid) - before
                elapsed = time.monotonic() - started
            rates[name].append(done / seconds)
            # CPU over warm-up and measurement, charged to the requests of both.
            cpu[name].append(spent / (done * elapsed / seconds) * 1e6)
    best_peer = max(statistics.median(rates[n]) for n in PEERS if not n.startswith("wireproto"))
    print(
        f"\n{conns} connections x {pipeline} pipelined SET+GET, 32-byte values, "
        f"median of {rounds} rounds of {seconds} s (server on CPU {SERVER_CPU}, "
        f"client on CPU {CLIENT_CPU})"
    )
    print("| server | requests/s | x best peer | server CPU us/request | runs |")
    print("|---|---:|---:|---:|---|")
    for name in PEERS:
        median = statistics.median(rates[name])
        runs = ", ".join(f"{r / 1000:.0f}k" for r in rates[name])
        print(
            f"| {name} | {median:,.0f} | {median / best_peer:.2f} | "
            f"{statistics.median(cpu[name]):.2f} | {runs} |"
        )

    print(f"\n1 MB values: 16 connections x 1 SET+GET pair, {seconds} s, fresh server each")
    print("| server | peak RSS MiB | requests/s |")
    print("|---|---:|---:|")
    for name, server in PEERS.items():
        with serve(server) as (pid, port):
            done = load(binary, port, [16, 1, BIG_VALUE, 0.5, seconds])
            rss = peak_rss_mib(pid)
        print(f"| {name} | {rss:.0f} | {done / seconds:,.0f} |")


if __name__ == "__main__":
    main()
