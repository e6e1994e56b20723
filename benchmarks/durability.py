"""Durability costs: SET throughput with the append-only log, and a rewrite's stall.

``throughput``: ``redis-benchmark -t set -P 16 -c 50`` against, in the same run,
``wireproto serve`` without ``--dir`` and with ``--dir --appendfsync no|everysec|always``,
and ``redis-server`` with ``--appendonly no`` and ``yes`` with the same three fsync
modes. Targets take turns for ``--runs`` rounds; medians of requests/s and of the
server's CPU time per request (``/proc/PID/stat`` utime+stime before and after);
each durable target's ratio to its own in-memory run.

``stall``: ``--keys`` keys are loaded into ``wireproto serve --dir`` (everysec) and
``redis-server --appendonly yes``; a bystander sends ``GET`` in a closed loop while
``BGREWRITEAOF`` runs. Reports the bystander's p50/p99/max round trip during the
rewrite against the seconds before it, and the rewrite's duration.

``log-cost``: no sockets: the log's own CPU cost per SET in this process, ``--per-flush``
SETs (``Store.put``, what a plain Redis SET calls) of 32-byte values then one ``flush``
(the reply barrier), ``appendfsync no``, against the same SETs on a store without a log;
medians of ``--runs`` runs (``time.process_time``). 16 per flush is one pipelined client's
batch; under ``throughput``'s load a write holds about 270 (its ``write`` count).

``log-count``: no sockets, for callgrind (counts do not move with the machine's load):
``--sets`` ``Store.put`` calls of 16-byte keys drawn from 100,000 and 3-byte values (what
``redis-benchmark -t set -r 100000`` sends), a ``flush`` every ``--per-flush``, with the
log (``appendfsync no``) or ``--no-log``. The instructions of two runs' difference, over
their difference in SETs, are the instructions per SET::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        .venv/bin/python -P benchmarks/durability.py log-count --sets 162000 --per-flush 270
    # the same with --sets 32400; "Collected" of the first less the second, / 129600

``snapshot-cost``: no sockets: ``--keys`` plain strings (32-byte values) written by
``write_snapshot`` (what a rewrite's child and BGSAVE run) and replayed by ``load_file``
(what a start does): the file's size and the CPU seconds of each (median of ``--runs``).

Run from the repository root::

    .venv/bin/python benchmarks/durability.py throughput --runs 3
    .venv/bin/python benchmarks/durability.py stall --keys 1000000
    .venv/bin/python benchmarks/durability.py log-cost --runs 5 [--per-flush 16]
    .venv/bin/python benchmarks/durability.py snapshot-cost --keys 1000000

Nothing here asserts a speed. Every process binds 127.0.0.1 and is stopped by pid.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent
START = re.compile(rb"wireproto serving .* on 127\.0\.0\.1:(\d+)")


def free_port() -> int:
    """A port the OS just had free on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ping(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16) == b"+PONG\r\n"
    except OSError:
        return False


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@contextmanager
def wireproto(directory: Path | None, fsync: str, *extra: str) -> Iterator[tuple[int, int]]:
    """``wireproto serve`` (with ``--dir directory`` unless None); yields (port, pid)."""
    options = [] if directory is None else ["--dir", str(directory), "--appendfsync", fsync]
    options += extra
    process = subprocess.Popen(
        [sys.executable, "-P", "-m", "wireproto", "serve", "--port", "0", "--log-level",
         "warning", *options],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, cwd=REPO,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        match = START.search(process.stdout.readline())
        assert match, "wireproto did not start"
        yield int(match[1]), process.pid
    finally:
        stop(process)


@contextmanager
def redis(directory: Path, appendonly: bool, fsync: str, *extra: str) -> Iterator[tuple[int, int]]:
    """``redis-server`` with ``--appendonly yes|no --appendfsync fsync``; yields (port, pid)."""
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", HOST, "--save", "", "--appendonly",
         "yes" if appendonly else "no", "--appendfsync", fsync, "--dir", str(directory),
         "--logfile", "", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not ping(port):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        yield port, process.pid
    finally:
        stop(process)


def bench_set(port: int, pid: int, requests: int) -> tuple[float, float]:
    """requests/s of redis-benchmark SET and the server's CPU microseconds per request."""
    before = cpu_seconds(pid)
    output = subprocess.run(
        ["redis-benchmark", "-h", HOST, "-p", str(port), "-t", "set", "-n", str(requests),
         "-P", "16", "-c", "50", "-r", "100000", "-q", "--csv"],
        capture_output=True, check=True, timeout=600,
    ).stdout.decode()  # fmt: skip
    used = cpu_seconds(pid) - before
    row = next(line for line in output.splitlines() if line.startswith('"SET"'))
    return float(row.split(",")[1].strip('"')), used / requests * 1e6


def throughput(runs: int, requests: int) -> None:
    targets = [
        ("wireproto, in memory", "wireproto", None),
        ("wireproto --appendfsync no", "wireproto", "no"),
        ("wireproto --appendfsync everysec", "wireproto", "everysec"),
        ("wireproto --appendfsync always", "wireproto", "always"),
        ("redis-server --appendonly no", "redis", None),
        ("redis-server --appendonly yes --appendfsync no", "redis", "no"),
        ("redis-server --appendonly yes --appendfsync everysec", "redis", "everysec"),
        ("redis-server --appendonly yes --appendfsync always", "redis", "always"),
    ]
    results: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in targets}
    for round_number in range(runs):
        order = targets[round_number % len(targets) :] + targets[: round_number % len(targets)]
        for name, kind, fsync in order:
            with tempfile.TemporaryDirectory(dir=REPO / ".bench-tmp") as folder:
                directory = Path(folder)
                if kind == "wireproto":
                    server = wireproto(directory if fsync else None, fsync or "no")
                else:
                    server = redis(directory, fsync is not None, fsync or "no")
                with server as (port, pid):
                    results[name].append(bench_set(port, pid, requests))
    print(f"\nSET, redis-benchmark -P 16 -c 50 -r 100000 -n {requests}, {runs} rounds, medians\n")
    print("| server | SET/s | ratio to its in-memory run | server CPU µs/request |")
    print("|---|---:|---:|---:|")
    base = {
        "wireproto": statistics.median(r for r, _ in results["wireproto, in memory"]),
        "redis": statistics.median(r for r, _ in results["redis-server --appendonly no"]),
    }
    for name, kind, _ in targets:
        rate = statistics.median(r for r, _ in results[name])
        cpu = statistics.median(c for _, c in results[name])
        print(f"| {name} | {rate:,.0f} | {rate / base[kind]:.2f} | {cpu:.2f} |")


def load(port: int, keys: int) -> None:
    """``keys`` SETs of 32-byte values, pipelined 10,000 at a time."""
    with socket.create_connection((HOST, port)) as sock:
        value = b"v" * 32
        for start in range(0, keys, 10_000):
            batch = b"".join(
                b"*3\r\n$3\r\nSET\r\n$%d\r\nkey:%d\r\n$32\r\n%s\r\n"
                % (len(b"key:%d" % n), n, value)
                for n in range(start, min(keys, start + 10_000))
            )
            sock.sendall(batch)
            expected = 5 * (min(keys, start + 10_000) - start)
            got = 0
            while got < expected:
                got += len(sock.recv(1 << 20))


def bystander(port: int, stop_at: threading.Event, samples: list[tuple[float, float]]) -> None:
    with socket.create_connection((HOST, port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request = b"*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n"
        while not stop_at.is_set():
            started = time.perf_counter()
            sock.sendall(request)
            reply = b""
            while not reply.endswith(b"\r\n") or reply.count(b"\r\n") < 2:
                reply += sock.recv(256)
            samples.append((started, time.perf_counter() - started))


def info_field(port: int, name: bytes) -> bytes:
    with socket.create_connection((HOST, port)) as sock:
        sock.sendall(b"INFO persistence\r\n")
        data = b""
        while b"aof_rewrites" not in data or not data.endswith(b"\r\n\r\n"):
            data += sock.recv(65536)
            if data.count(b"\r\n") > 3 and b"aof_last_write_status" in data:
                break
    return re.search(rb"%s:(\S+)" % name, data)[1]  # type: ignore[index]


def stall_one(port: int, keys: int) -> tuple[list[float], list[float], float]:
    load(port, keys)
    samples: list[tuple[float, float]] = []
    stop_at = threading.Event()
    thread = threading.Thread(target=bystander, args=(port, stop_at, samples))
    thread.start()
    time.sleep(2.0)
    rewrites = info_field(port, b"aof_rewrites")
    started = time.perf_counter()
    with socket.create_connection((HOST, port)) as sock:
        sock.sendall(b"BGREWRITEAOF\r\n")
        sock.recv(256)
    while (
        info_field(port, b"aof_rewrites") == rewrites
        or info_field(port, b"aof_rewrite_in_progress") != b"0"
    ):
        time.sleep(0.01)
    ended = time.perf_counter()
    time.sleep(0.5)
    stop_at.set()
    thread.join()
    before = [s for t, s in samples if t < started]
    during = [s for t, s in samples if started <= t <= ended]
    return before, during, ended - started


def describe(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[int(len(ordered) * 0.99)] if ordered else 0.0
    return (
        f"{statistics.median(ordered) * 1e3:.2f} / {p99 * 1e3:.2f} / {ordered[-1] * 1e3:.2f}"
        f" ({len(ordered)})"
    )


def stall(keys: int) -> None:
    print(f"\nBGREWRITEAOF of {keys:,} keys; a bystander's GET round trip, ms: "
          "p50 / p99 / max (samples)\n")  # fmt: skip
    print("| server | before the rewrite | during the rewrite | rewrite seconds |")
    print("|---|---|---|---:|")
    for name in ("wireproto --dir --appendfsync everysec", "redis-server --appendonly yes"):
        with tempfile.TemporaryDirectory(dir=REPO / ".bench-tmp") as folder:
            directory = Path(folder)
            # No automatic rewrite during the load: the one measured is BGREWRITEAOF's.
            server = (
                wireproto(
                    directory,
                    "everysec",
                    "--set",
                    "persistence.auto-rewrite-min-size=10000000000000",
                )
                if name.startswith("wireproto")
                else redis(directory, True, "everysec", "--auto-aof-rewrite-percentage", "0")
            )
            with server as (port, _):
                before, during, seconds = stall_one(port, keys)
        print(f"| {name} | {describe(before)} | {describe(during)} | {seconds:.2f} |")


def _log_cost_once(batches: int, with_log: bool, per_flush: int = 16) -> float:
    """µs of CPU per SET: ``per_flush`` SETs then a flush, ``batches`` times, 100 key sets."""
    # The installed package, as the servers above use (imported here: the other modes need
    # no wireproto in this interpreter).
    from wireproto.providers.kvstore import Databases, Store  # noqa: PLC0415
    from wireproto.providers.persistence.log import AppendLog  # noqa: PLC0415

    keys = [b"key:%d" % number for number in range(100 * per_flush)]
    value = b"v" * 32
    with tempfile.TemporaryDirectory(dir=REPO / ".bench-tmp") as directory:
        databases = Databases(Store())
        log = AppendLog(directory, list(databases), "no") if with_log else None
        if log is not None:
            log.open()
        store = databases[0]
        started = time.process_time()
        put = store.put
        for batch in range(batches):
            base = (batch % 100) * per_flush
            for key in keys[base : base + per_flush]:
                put(key, value)
            if log is not None:
                log.flush()
        elapsed = time.process_time() - started
        if log is not None:
            log.close()
    return elapsed / (batches * per_flush) * 1e6


def log_cost(runs: int, batches: int, per_flush: int) -> None:
    """The log's in-process cost per SET (see the module's docstring)."""
    rows = {
        name: statistics.median(_log_cost_once(batches, with_log, per_flush) for _ in range(runs))
        for name, with_log in (("store only", False), ("store + log (no fsync)", True))
    }
    print(
        f"{per_flush} SETs per flush, {batches} batches, median of {runs} runs, µs of CPU per SET"
    )
    for name, cost in rows.items():
        print(f"| {name} | {cost:.3f} |")


def log_count(sets: int, per_flush: int, with_log: bool) -> None:
    """``sets`` SETs, a flush every ``per_flush`` (see the module's docstring); no output."""
    import random  # noqa: PLC0415

    from wireproto.providers.kvstore import Databases, Store  # noqa: PLC0415
    from wireproto.providers.persistence.log import AppendLog  # noqa: PLC0415

    draw = random.Random(1)
    keys = [b"key:%012d" % draw.randrange(100_000) for _ in range(200_000)]
    value = b"xxx"
    with tempfile.TemporaryDirectory(dir=REPO / ".bench-tmp") as directory:
        databases = Databases(Store())
        log = AppendLog(directory, list(databases), "no") if with_log else None
        if log is not None:
            log.open()
        put = databases[0].put
        for key in keys[:100_000]:  # the keyspace is full, as after redis-benchmark's warm-up
            put(key, value)
        done = 0
        while done < sets:
            start = done % 200_000
            for key in keys[start : start + per_flush]:
                put(key, value)
            if log is not None:
                log.flush()
            done += per_flush
        if log is not None:
            log.close()


def snapshot_cost(keys: int, runs: int) -> None:
    """A base's size, write and replay CPU time (see the module's docstring)."""
    from wireproto.providers.kvstore import Databases, Store  # noqa: PLC0415
    from wireproto.providers.persistence.log import load_file, write_snapshot  # noqa: PLC0415

    databases = Databases(Store())
    for number in range(keys):
        databases[0].set(b"key:%d" % number, b"v" * 32)
    writes, loads = [], []
    with tempfile.TemporaryDirectory(dir=REPO / ".bench-tmp") as directory:
        path = os.path.join(directory, "base")
        for _ in range(runs):
            started = time.process_time()
            size = write_snapshot(path, list(databases))
            writes.append(time.process_time() - started)
            copy = Databases(Store())
            started = time.process_time()
            load_file(path, list(copy), truncate=False)
            loads.append(time.process_time() - started)
            assert len(copy[0]) == keys
    print(f"{keys:,} keys: base {size / 1e6:.1f} MB, write {statistics.median(writes):.2f} s CPU, "
          f"replay {statistics.median(loads):.2f} s CPU (median of {runs})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    run = sub.add_parser("throughput")
    run.add_argument("--runs", type=int, default=3)
    run.add_argument("--requests", type=int, default=200_000)
    stalled = sub.add_parser("stall")
    stalled.add_argument("--keys", type=int, default=1_000_000)
    cost = sub.add_parser("log-cost")
    cost.add_argument("--runs", type=int, default=5)
    cost.add_argument("--batches", type=int, default=None, help="default: 320,000 SETs")
    cost.add_argument("--per-flush", type=int, default=16)
    count = sub.add_parser("log-count")
    count.add_argument("--sets", type=int, default=162_000)
    count.add_argument("--per-flush", type=int, default=270)
    count.add_argument("--no-log", action="store_true")
    snap = sub.add_parser("snapshot-cost")
    snap.add_argument("--keys", type=int, default=1_000_000)
    snap.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    (REPO / ".bench-tmp").mkdir(exist_ok=True)
    if args.what == "log-cost":
        log_cost(args.runs, args.batches or 320_000 // args.per_flush, args.per_flush)
        return
    if args.what == "log-count":
        log_count(args.sets, args.per_flush, not args.no_log)
        return
    if args.what == "snapshot-cost":
        snapshot_cost(args.keys, args.runs)
        return
    for tool in ("redis-server", "redis-benchmark"):
        assert shutil.which(tool), f"{tool} is not installed"
    (REPO / ".bench-tmp").mkdir(exist_ok=True)
    if args.what == "throughput":
        throughput(args.runs, args.requests)
    else:
        stall(args.keys)


if __name__ == "__main__":
    main()
