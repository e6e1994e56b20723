"""RESP throughput: ``wireproto serve`` against a real ``redis-server``, in the same run.

Starts ``redis-server`` (Debian's) and ``wireproto serve`` once per server
configuration: the provider's pure-Python parser and its hiredis-accelerated
parser, each on the default asyncio loop and on uvloop. It also starts the
"empty consumer" of ``benchmarks/resp_floor.py`` on both loops: an asyncio
protocol that counts the requests and writes pre-built replies, the floor under
any asyncio server (event loop, transport callbacks, ``recv`` and ``send``).
Every target gets the
same ``redis-benchmark -P 16 -c 50`` load (``--pipeline 1``: one request at a
time), one test (PING_INLINE, SET, GET) per
``redis-benchmark`` invocation so that the server's CPU time can be charged to
that test: ``utime + stime`` of the server process from ``/proc/<pid>/stat``,
before and after, divided by the requests sent. redis-benchmark's own CPU
time per request is reported too: on a 2-core machine the client and the
server compete for the CPUs, and the client's share bounds what any server
can show.

Run it from the repository root::

    .venv/bin/python benchmarks/resp.py            # 5 runs per cell
    .venv/bin/python benchmarks/resp.py --quick    # 3 runs, fewer requests

It prints a Markdown table. Nothing here asserts a speed. Every process it
starts binds 127.0.0.1 only and is stopped (by pid) before it exits.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from _builds import Build, add_option, builds

HOST = "127.0.0.1"
TESTS = ("PING_INLINE", "SET", "GET")
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
BENCH_TIMEOUT = 300.0  # one redis-benchmark invocation; far above any expected run
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
REPO = Path(__file__).resolve().parent.parent

# How the RESP provider is told which request parser to use (providers.resp.PARSER_ENV).
PARSER_ENV = "WIREPROTO_RESP_PARSER"
PURE_ENV = {PARSER_ENV: "pure"}
FAST_ENV = {PARSER_ENV: "hiredis"}


@dataclass(frozen=True)
class Target:
    """One server configuration under test."""

    name: str
    loop: str  # "-" for redis-server
    parser: str  # "-" for redis-server
    is_reference: bool = False


@dataclass
class Cell:
    """The runs of one test against one target."""

    rps: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0
    client_cpu_seconds: float = 0.0
    requests: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.rps)

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_seconds / self.requests * 1e6

    @property
    def client_cpu_us_per_request(self) -> float:
        return self.client_cpu_seconds / self.requests * 1e6


@dataclass
class Server:
    """A started server process."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path


def free_port() -> int:
    """A port the OS just had free on 127.0.0.1 (redis-server cannot be told port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / CLOCK_TICKS


def ping(port: int, timeout: float = 1.0) -> bool:
    """Whether a RESP server on ``port`` answers PING with +PONG."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            reply = b""
            while not reply.endswith(b"\r\n"):
                chunk = sock.recv(64)
                if not chunk:
                    return False
                reply += chunk
            return reply == b"+PONG\r\n"
    except OSError:
        return False


def check_set_get(port: int) -> None:
    """A SET/GET round trip over a raw socket: the server still answers correctly."""
    with socket.create_connection((HOST, port), timeout=5.0) as sock:
        sock.sendall(
            b"*3\r\n$3\r\nSET\r\n$11\r\nbench:check\r\n$2\r\nok\r\n*2\r\n$3\r\nGET\r\n$11\r\nbench:check\r\n"
        )
        expected = b"+OK\r\n$2\r\nok\r\n"
        reply = b""
        while len(reply) < len(expected):
            chunk = sock.recv(64)
            if not chunk:
                break
            reply += chunk
    if reply != expected:
        raise RuntimeError(f"server on port {port} answered SET/GET with {reply!r}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT: only this pid."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)


def children_cpu_seconds() -> float:
    """User + system CPU time of the children waited for so far (here: redis-benchmark runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pin(pid: int, cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(pid, {cpu})


@contextmanager
def redis_server(workdir: Path, cpu: int | None) -> Iterator[Server]:
    """A ``redis-server`` with persistence off, listening on 127.0.0.1 only."""
    port = free_port()
    log = workdir / f"redis-server-{port}.log"
    command = [
        "redis-server",
        "--port", str(port),
        "--bind", HOST,
        "--save", "",
        "--appendonly", "no",
        "--dir", str(workdir),
        "--daemonize", "no",
        "--protected-mode", "yes",
        "--logfile", "",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        pin(process.pid, cpu)
        deadline = time.monotonic() + START_TIMEOUT
        while not ping(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield Server(process, port, log)
    finally:
        stop(process)


def read_start_line(process: subprocess.Popen[bytes], timeout: float) -> bytes:
    """The first line ``wireproto serve`` prints, waiting at most ``timeout`` seconds."""
    assert process.stdout is not None
    line = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                break
            byte = os.read(process.stdout.fileno(), 1)
            if not byte:
                break
            line += byte
    return line


@contextmanager
def wireproto_server(
    workdir: Path, build: Build, loop: str, env: dict[str, str], cpu: int | None
) -> Iterator[Server]:
    """``wireproto serve --port 0`` of a build on 127.0.0.1; the port comes from its start line."""
    log = workdir / f"wireproto-{loop}-{len(list(workdir.iterdir()))}.log"
    command = build.serve(
        "--host", HOST, "--port", "0", "--loop", loop, "--log-level", "warning"
    )  # fmt: skip
    with log.open("wb") as err:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=err,
            cwd=REPO,
            env={**os.environ, **env},
        )
    try:
        pin(process.pid, cpu)
        line = read_start_line(process, START_TIMEOUT)
        prefix, _, address = line.decode(errors="replace").strip().rpartition(" on ")
        formats = prefix.removeprefix("wireproto serving ").split(", ")
        if not prefix.startswith("wireproto serving ") or "resp" not in formats:
            raise RuntimeError(f"unexpected start line {line!r}:\n{log.read_text()}")
        port = int(address.rsplit(":", 1)[1])
        if not ping(port):
            raise RuntimeError(f"wireproto on port {port} does not answer PING")
        yield Server(process, port, log)
    finally:
        stop(process)
        if process.stdout is not None:
            process.stdout.close()


@contextmanager
def floor_server(workdir: Path, loop: str, cpu: int | None) -> Iterator[Server]:
    """``benchmarks/resp_floor.py`` on 127.0.0.1; the port comes from its start line."""
    log = workdir / f"floor-{loop}.log"
    command = [sys.executable, str(REPO / "benchmarks" / "resp_floor.py"), "--loop", loop]
    with log.open("wb") as err:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, cwd=REPO)
    try:
        pin(process.pid, cpu)
        line = read_start_line(process, START_TIMEOUT).decode(errors="replace").strip()
        if not line.startswith("floor serving on "):
            raise RuntimeError(f"unexpected start line {line!r}:\n{log.read_text()}")
        yield Server(process, int(line.rsplit(":", 1)[1]), log)
    finally:
        stop(process)
        if process.stdout is not None:
            process.stdout.close()


PIPELINE = [16]  # requests per pipelined batch (-P): set once by main() from --pipeline


def run_benchmark(
    port: int, test: str, requests: int, cpu: int | None, extra: Sequence[str] = ()
) -> float:
    """One ``redis-benchmark`` invocation of one test; its requests per second."""
    command = [
        "redis-benchmark", "-h", HOST, "-p", str(port),
        "-P", str(PIPELINE[0]), "-c", "50", "-n", str(requests),
        "--csv", "-t", test.lower(), *extra,
    ]  # fmt: skip
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    result = subprocess.run(command, capture_output=True, timeout=BENCH_TIMEOUT, check=False)
    out = result.stdout.decode(errors="replace")
    err = result.stderr.decode(errors="replace")
    rows = [row for row in csv.reader(out.splitlines()) if row and row[0] == test]
    if result.returncode != 0 or len(rows) != 1 or "rror" in out + err:
        raise RuntimeError(
            f"redis-benchmark {test} failed (exit {result.returncode}):\n{out}\n{err}"
        )
    return float(rows[0][1])


def machine_busy_seconds() -> float:
    """CPU seconds spent by the whole machine (all CPUs, every process, the kernel)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


@dataclass
class Load:
    """CPU time of everything but the server and redis-benchmark during the timed runs."""

    other_seconds: float = 0.0
    wall_seconds: float = 0.0

    @property
    def share(self) -> float:
        """The others' CPU as a fraction of the machine (1.0 = every CPU busy)."""
        cpus = os.cpu_count() or 1
        return self.other_seconds / (self.wall_seconds * cpus) if self.wall_seconds else 0.0


def warm_up(server: Server, requests: int, cpu: int | None) -> None:
    """One untimed, shorter run of every test."""
    for test in TESTS:
        run_benchmark(server.port, test, max(requests // 10, 1000), cpu)


def measure_once(
    server: Server, test: str, requests: int, cell: Cell, load: Load, *, cpu: int | None
) -> None:
    """One timed run of ``test``; its CPU is charged to ``cell``, the rest to ``load``."""
    started = time.monotonic()
    busy_before = machine_busy_seconds()
    before, client_before = cpu_seconds(server.process.pid), children_cpu_seconds()
    rps = run_benchmark(server.port, test, requests, cpu)
    after, client_after = cpu_seconds(server.process.pid), children_cpu_seconds()
    busy = machine_busy_seconds() - busy_before
    cell.rps.append(rps)
    cell.cpu_seconds += after - before
    cell.client_cpu_seconds += client_after - client_before
    cell.requests += requests
    load.other_seconds += max(busy - (after - before) - (client_after - client_before), 0.0)
    load.wall_seconds += time.monotonic() - started


def check_alive(server: Server, *, floor: bool = False) -> None:
    if not floor:
        check_set_get(server.port)
    if server.process.poll() is not None:
        raise RuntimeError(f"the server exited during the benchmark:\n{server.log.read_text()}")


def machine() -> str:
    cpu_model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    redis_version = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True, check=False
    ).stdout.split()
    version = next((word[2:] for word in redis_version if word.startswith("v=")), "?")
    versions = {}
    for package in ("hiredis", "uvloop", "redis"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return (
        f"CPython {platform.python_version()}, {platform.system()} {platform.release()} "
        f"{platform.machine()}, {cpu_model!r}, nproc {os.cpu_count()}; redis-server {version}, "
        f"hiredis {versions['hiredis']}, uvloop {versions['uvloop']}"
    )


def fmt_rps(value: float) -> str:
    return f"{value:,.0f}"


def table(
    targets: Sequence[Target], results: dict[Target, dict[str, Cell]], reference: Target
) -> str:
    lines = [
        "| server | loop | parser | test | median req/s | min-max req/s "
        "| vs redis-server | server CPU µs/req | redis-benchmark CPU µs/req |",
        "|---|---|---|---|--:|--:|--:|--:|--:|",
    ]
    for test in TESTS:
        ref = results[reference][test].median
        for target in targets:
            cell = results[target][test]
            lines.append(
                f"| {target.name} | {target.loop} | {target.parser} | {test} "
                f"| {fmt_rps(cell.median)} | {fmt_rps(min(cell.rps))}-{fmt_rps(max(cell.rps))} "
                f"| {cell.median / ref:.2f}x | {cell.cpu_us_per_request:.2f} "
                f"| {cell.client_cpu_us_per_request:.2f} |"
            )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line (``--pipeline`` is stored in :data:`PIPELINE`)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 runs, fewer requests")
    parser.add_argument("--runs", type=int, help="timed runs per cell (default 5; quick 3)")
    parser.add_argument(
        "--requests", type=int, help="requests per wireproto run (default 200000; quick 50000)"
    )
    parser.add_argument(
        "--redis-requests",
        type=int,
        help="requests per redis-server run (default 1000000; quick 200000): redis-server is "
        "several times faster, and a run of under half a second measures little",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="pin the server to CPU 0 and redis-benchmark to CPU 1 (default: the scheduler "
        "places both; on this 2-core machine pinning was slower for every server)",
    )
    parser.add_argument(
        "--pipeline", type=int, default=16, help="redis-benchmark -P (default 16; 1: no pipelining)"
    )
    parser.add_argument(
        "--loop",
        action="append",
        choices=("asyncio", "uvloop"),
        help="the event loops to serve wireproto on, repeatable (default: both)",
    )
    parser.add_argument(
        "--parser",
        action="append",
        choices=("pure", "hiredis"),
        help="the RESP request parsers to serve wireproto with, repeatable (default: both)",
    )
    add_option(parser)
    args = parser.parse_args(argv)
    PIPELINE[0] = args.pipeline
    if args.runs is not None and args.runs < 3:
        parser.error("--runs must be at least 3 (the table gives medians)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    loops = tuple(args.loop or ("asyncio", "uvloop"))
    parsers = {"pure": ("pure Python", PURE_ENV), "hiredis": ("hiredis", FAST_ENV)}
    chosen_parsers = [parsers[name] for name in args.parser or ("pure", "hiredis")]
    runs = args.runs or (3 if args.quick else 5)
    requests = args.requests or (50_000 if args.quick else 200_000)
    redis_requests = args.redis_requests or (200_000 if args.quick else 1_000_000)

    missing = [tool for tool in ("redis-server", "redis-benchmark") if not shutil.which(tool)]
    if missing:
        print(f"missing {', '.join(missing)}: run .ci/install-debian-packages", file=sys.stderr)
        return 2
    pinned = args.pin and len(os.sched_getaffinity(0)) >= 2
    server_cpu, client_cpu = (0, 1) if pinned else (None, None)
    if pinned and not shutil.which("taskset"):
        server_cpu = client_cpu = None
        pinned = False

    reference = Target("redis-server", "-", "-", is_reference=True)
    wireproto_targets = [
        (Target(f"wireproto {build.label}", loop, parser_name), build, loop, env)
        for build in builds(args.build)
        for parser_name, env in chosen_parsers
        for loop in loops
    ]
    floor_targets = [Target("empty consumer", loop, "-") for loop in loops]
    targets = [reference, *(target for target, _, _, _ in wireproto_targets), *floor_targets]
    results: dict[Target, dict[str, Cell]] = {t: {test: Cell() for test in TESTS} for t in targets}

    print(f"machine: {machine()}", file=sys.stderr)
    started = time.monotonic()
    load = Load()
    with tempfile.TemporaryDirectory(prefix="wireproto-bench-") as tmp, ExitStack() as stack:
        # Every server runs for the whole benchmark and the rounds visit them in turn, so
        # a slow patch of the machine (other processes) hits all of them, not one.
        workdir = Path(tmp)
        servers = {reference: stack.enter_context(redis_server(workdir, server_cpu))}
        for target, build, loop, env in wireproto_targets:
            servers[target] = stack.enter_context(
                wireproto_server(workdir, build, loop, env, server_cpu)
            )
        for target in floor_targets:
            servers[target] = stack.enter_context(floor_server(workdir, target.loop, server_cpu))
        sizes = {t: redis_requests if t.is_reference else requests for t in targets}
        for target in floor_targets:  # faster than wireproto: longer runs
            sizes[target] = max(requests, redis_requests // 2)
        for target in targets:
            print(f"warm-up: {target.name} {target.loop} {target.parser}", file=sys.stderr)
            warm_up(servers[target], sizes[target], client_cpu)
        for round_number in range(runs):
            print(f"round {round_number + 1}/{runs}", file=sys.stderr, flush=True)
            shift = round_number % len(targets)
            for target in targets[shift:] + targets[:shift]:
                for test in TESTS:
                    cell = results[target][test]
                    measure_once(servers[target], test, sizes[target], cell, load, cpu=client_cpu)
        for target, server in servers.items():
            check_alive(server, floor=target in floor_targets)

    command = " ".join(["benchmarks/resp.py", *(argv if argv is not None else sys.argv[1:])])
    print(
        f"`{command}`: redis-benchmark -P {args.pipeline} -c 50, one test per invocation, "
        f"-n {requests} per run against wireproto, -n {redis_requests} against "
        f"redis-server and -n {max(requests, redis_requests // 2)} against the empty "
        f"consumer; median of {runs} rounds (every server started once, visited in turn) "
        f"after one warm-up; CPU is each process's utime+stime over all runs / requests. "
        + (
            "Server pinned to CPU 0, redis-benchmark to CPU 1."
            if pinned
            else f"Not pinned: the server and redis-benchmark share {os.cpu_count()} CPUs."
        )
        + f" Other processes used {load.share:.0%} of the machine's CPU during the timed runs."
        + f" Wall time {time.monotonic() - started:.0f} s.\n"
    )
    print(table(targets, results, reference))
    return 0


if __name__ == "__main__":
    sys.exit(main())
