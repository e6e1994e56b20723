"""Growing one value: APPEND and SETRANGE on ``wireproto serve`` against ``redis-server``.

Issue 9 found both commands copying the whole value on every call
(1,000 x APPEND of 100 KB: 21.8 s against redis-server's 0.18 s). This
script measures, for ``redis-server`` and ``wireproto serve`` started in the
same run (targets take turns, ``--runs`` rounds, medians reported):

- ``append``: one client, request then reply, ``--appends`` x ``APPEND k <100 KB>``
  on a deleted key (100 MB at the end). The total wall time.
- ``setrange``: then ``--setranges`` x ``SETRANGE k <len - 16> <16 bytes>`` at the end
  of that 100 MB value, one at a time; the median and worst latency of one call.
- ``append+get``: ``--mixed`` x (``APPEND k <100 KB>``, ``GET k``) on a new key: a
  whole-value read between writes (the store then hands out an immutable snapshot
  and the next write copies the value once). The total wall time.
- a bystander: a second connection sending ``PING`` in a closed loop during
  ``append`` and ``setrange``; its median and worst round trip.

``--micro`` adds an in-process comparison of the two ways a store can keep
readers from seeing a value that changes later: snapshots (what
``providers.kvstore.Store`` does: a whole-value read keeps the ``bytes`` copy
it hands out) and copy-on-read (every read copies; the value stays a
``bytearray``).

Run it from the repository root::

    .venv/bin/python benchmarks/append.py             # 5 rounds
    .venv/bin/python benchmarks/append.py --quick     # 3 rounds, 200 appends
    .venv/bin/python benchmarks/append.py --micro

It prints Markdown tables. Nothing here asserts a speed. Every process it
starts binds 127.0.0.1 only and is stopped (by pid) before it exits.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

# Runnable as a script from the repository root without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from resp import read_start_line  # benchmarks/resp.py: one reader of the start line
from wireproto.providers.kvstore import Store

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
IO_TIMEOUT = 120.0
CHUNK = 100_000


def command(*args: bytes) -> bytes:
    """A RESP multibulk request."""
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


# -- servers ---------------------------------------------------------------------------


def free_port() -> int:
    """A port the OS just had free on 127.0.0.1 (redis-server cannot be told port 0)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT: only this pid."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)


def ping(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as sock:
            sock.sendall(command(b"PING"))
            return sock.recv(16) == b"+PONG\r\n"
    except OSError:
        return False


@contextmanager
def redis_server(workdir: Path) -> Iterator[int]:
    """``redis-server`` with persistence off on 127.0.0.1; yields its port."""
    port = free_port()
    argv = [
        "redis-server", "--port", str(port), "--bind", HOST, "--save", "",
        "--appendonly", "no", "--dir", str(workdir), "--daemonize", "no", "--logfile", "",
    ]  # fmt: skip
    log = workdir / f"redis-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not ping(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield port
    finally:
        stop(process)


@contextmanager
def wireproto_server(workdir: Path) -> Iterator[int]:
    """``python -m wireproto serve --port 0`` on 127.0.0.1; yields the port it prints."""
    log = workdir / f"wireproto-{len(list(workdir.iterdir()))}.log"
    argv = [
        sys.executable, "-m", "wireproto", "serve", "--host", HOST, "--port", "0",
        "--log-level", "warning",
    ]  # fmt: skip
    with log.open("wb") as err:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, cwd=REPO)
    try:
        line = read_start_line(process, START_TIMEOUT).decode(errors="replace").strip()
        if not line.startswith("wireproto serving "):
            raise RuntimeError(f"unexpected start line {line!r}:\n{log.read_text()}")
        port = int(line.rsplit(":", 1)[1])
        if not ping(port):
            raise RuntimeError(f"wireproto on port {port} does not answer PING")
        yield port
    finally:
        stop(process)
        if process.stdout is not None:
            process.stdout.close()


# -- clients ---------------------------------------------------------------------------


class Client:
    """A blocking RESP connection reading simple replies (status, error, integer, bulk)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=IO_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pending = bytearray()

    def close(self) -> None:
        self.sock.close()

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise RuntimeError("the server closed the connection")
        self.pending += chunk

    def call(self, request: bytes) -> bytes:
        """Send ``request``; its one reply (a bulk's payload, or the reply line)."""
        self.sock.sendall(request)
        while (end := self.pending.find(b"\r\n")) < 0:
            self._fill()
        line = bytes(self.pending[:end])
        if line[:1] == b"-":
            raise RuntimeError(f"error reply {line!r}")
        if line[:1] != b"$":
            del self.pending[: end + 2]
            return line
        size = int(line[1:])
        total = end + 2 + size + 2
        while len(self.pending) < total:
            self._fill()
        payload = bytes(self.pending[end + 2 : total - 2])
        del self.pending[:total]
        return payload


@dataclass
class Bystander:
    """A thread sending PING in a closed loop on its own connection; its round trips."""

    port: int
    latencies: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Bystander:
        client = Client(self.port)

        def loop() -> None:
            request = command(b"PING")
            try:
                for _ in range(10_000_000):  # bounded; stopped long before
                    if self._stop.is_set():
                        return
                    start = time.perf_counter()
                    client.call(request)
                    self.latencies.append(time.perf_counter() - start)
                    time.sleep(0.001)
            finally:
                client.close()

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(IO_TIMEOUT)


@dataclass
class Round:
    append_s: float
    setrange_median_ms: float
    setrange_max_ms: float
    mixed_s: float
    bystander_median_ms: float
    bystander_max_ms: float


def one_round(port: int, appends: int, setranges: int, mixed: int) -> Round:
    client = Client(port)
    chunk = os.urandom(CHUNK)
    try:
        client.call(command(b"DEL", b"bench:append", b"bench:mixed"))
        request = command(b"APPEND", b"bench:append", chunk)
        with Bystander(port) as bystander:
            start = time.perf_counter()
            for _ in range(appends):
                client.call(request)
            append_s = time.perf_counter() - start
            size = int(client.call(command(b"STRLEN", b"bench:append"))[1:])
            if size != appends * CHUNK:
                raise RuntimeError(f"STRLEN {size}, expected {appends * CHUNK}")
            tail = os.urandom(16)
            request = command(b"SETRANGE", b"bench:append", b"%d" % (size - 16), tail)
            latencies = []
            for _ in range(setranges):
                start = time.perf_counter()
                client.call(request)
                latencies.append(time.perf_counter() - start)
        got = client.call(command(b"GETRANGE", b"bench:append", b"-16", b"-1"))
        if got != tail:
            raise RuntimeError("SETRANGE did not write the tail")
        request = command(b"APPEND", b"bench:mixed", chunk)
        get = command(b"GET", b"bench:mixed")
        start = time.perf_counter()
        for i in range(mixed):
            client.call(request)
            if len(client.call(get)) != (i + 1) * CHUNK:
                raise RuntimeError("GET returned a wrong length")
        mixed_s = time.perf_counter() - start
        client.call(command(b"DEL", b"bench:append", b"bench:mixed"))
    finally:
        client.close()
    pings = bystander.latencies or [float("nan")]
    return Round(
        append_s,
        statistics.median(latencies) * 1e3,
        max(latencies) * 1e3,
        mixed_s,
        statistics.median(pings) * 1e3,
        max(pings) * 1e3,
    )


# -- in-process: snapshots against copy-on-read -----------------------------------------


class CopyOnRead(Store):
    """The alternative: every whole-value read copies; the value stays a bytearray."""

    def get(self, key: bytes) -> bytes | None:
        value = self._live(key)
        return value if value is None or type(value) is bytes else bytes(value)


def micro(repeat: int) -> None:
    chunk = os.urandom(CHUNK)

    def reply(store: Store) -> bytes:
        value = store.get(b"k")
        assert value is not None
        return b"$%d\r\n%s\r\n" % (len(value), value)

    def alternate(store: Store) -> None:  # write, read, write, read...
        for _ in range(100):
            store.append(b"k", chunk)
            reply(store)

    def reread(store: Store) -> None:  # a grown value read many times
        for _ in range(100):
            store.append(b"k", chunk)
        for _ in range(100):
            reply(store)

    def appends_then_read(store: Store) -> None:
        for _ in range(1000):
            store.append(b"k", chunk)
        reply(store)

    def small_reads(store: Store) -> None:  # a 1 KB value appended to once, read often
        store.set(b"k", chunk[:1000])
        store.append(b"k", b"!")
        for _ in range(100_000):
            reply(store)

    cases: list[tuple[str, Callable[[Store], None]]] = [
        ("100 x (APPEND 100 KB, GET)", alternate),
        ("100 x APPEND 100 KB, then 100 x GET", reread),
        ("1,000 x APPEND 100 KB, then GET", appends_then_read),
        ("APPEND to 1 KB, then 100,000 x GET", small_reads),
    ]
    print("\n| in-process workload | snapshots (shipped) | copy-on-read |")
    print("|---|---:|---:|")
    for name, work in cases:
        times: dict[str, list[float]] = {"snap": [], "copy": []}
        for _ in range(repeat):
            for label, kind in (("snap", Store), ("copy", CopyOnRead)):
                store = kind()
                start = time.perf_counter()
                work(store)
                times[label].append(time.perf_counter() - start)
        snap, copy = (statistics.median(times[label]) for label in ("snap", "copy"))
        print(f"| {name} | {snap * 1e3:.0f} ms | {copy * 1e3:.0f} ms |")


# -- main ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--appends", type=int, default=1000)
    parser.add_argument("--setranges", type=int, default=200)
    parser.add_argument("--mixed", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="3 rounds, 200 appends")
    parser.add_argument("--micro", action="store_true", help="also the in-process comparison")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.appends = 3, 200
    rounds: dict[str, list[Round]] = {"redis-server": [], "wireproto": []}
    with tempfile.TemporaryDirectory(prefix="bench-append-") as tmp:
        workdir = Path(tmp)
        with redis_server(workdir) as redis_port, wireproto_server(workdir) as ours_port:
            ports = {"redis-server": redis_port, "wireproto": ours_port}
            for run in range(args.runs):
                order = list(ports) if run % 2 == 0 else list(reversed(ports))
                for name in order:
                    rounds[name].append(
                        one_round(ports[name], args.appends, args.setranges, args.mixed)
                    )
    print(
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {args.runs} rounds (medians), "
        f"{args.appends} x APPEND {CHUNK} B, {args.setranges} x SETRANGE, "
        f"{args.mixed} x (APPEND, GET)\n"
    )
    rows: list[tuple[str, Callable[[Round], float], str]] = [
        ("APPEND total (s)", lambda r: r.append_s, "{:.2f}"),
        ("SETRANGE at the end, median (ms)", lambda r: r.setrange_median_ms, "{:.3f}"),
        ("SETRANGE at the end, worst (ms)", lambda r: r.setrange_max_ms, "{:.2f}"),
        ("APPEND+GET total (s)", lambda r: r.mixed_s, "{:.2f}"),
        ("bystander PING, median (ms)", lambda r: r.bystander_median_ms, "{:.3f}"),
        ("bystander PING, worst (ms)", lambda r: r.bystander_max_ms, "{:.1f}"),
    ]
    print("| measure | redis-server | wireproto | ratio |")
    print("|---|---:|---:|---:|")
    for label, pick, form in rows:
        theirs = statistics.median(pick(r) for r in rounds["redis-server"])
        ours = statistics.median(pick(r) for r in rounds["wireproto"])
        ratio = ours / theirs if theirs else float("nan")
        print(f"| {label} | {form.format(theirs)} | {form.format(ours)} | {ratio:.2f}x |")
    if args.micro:
        micro(args.runs)


if __name__ == "__main__":
    main()
