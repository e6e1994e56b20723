"""redis-benchmark's data-type tests on ``wireproto serve`` and on redis-server, same run.

    .venv/bin/python benchmarks/resp_types.py [--runs 3] [--requests 100000]

Runs ``redis-benchmark -t lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,mset
-P 16 -c 50`` against each server (wireproto pure Python on uvloop, then redis-server 7.0 with
persistence off), ``--runs`` times, and prints the median requests/s of each test and the
ratio, and the median server CPU time per request (user + system, from each server's ``INFO
cpu``: getrusage in the server; one redis-benchmark run per test so each is measured alone):
other load on the machine moves requests/s much more than it moves CPU time. Both servers
bind 127.0.0.1 on ports the OS picks and are stopped by pid.

Counts instead of times, for a machine too noisy to time (no sockets, no server)::

    .venv/bin/python benchmarks/resp_types.py --count zadd --batches 2000
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python benchmarks/resp_types.py --count zadd --batches 2000
    # the same with --batches 500; "Collected" of the first less the second, / 24000

``--count TEST`` feeds ``--batches`` batches of the bytes redis-benchmark sends for TEST
(16 pipelined commands, its keys and members, as ``MONITOR`` shows them without ``-r``)
to a sans-I/O ``RespSession``, from the state redis-benchmark's order of tests leaves the key
in (LPOP and RPOP on a long list, SPOP and ZPOPMIN on a popped-empty key, LRANGE_100 on a
list of 600). ``--instructions`` runs that under callgrind for every test and prints the CPU
instructions per command.
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

HOST = "127.0.0.1"

TESTS = "lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,mset"
PIPELINE = 16
VALUE = b"xxx"  # redis-benchmark's -d 3 (random bytes of that size in 7.0)


def _multibulk(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


REQUESTS: dict[str, bytes] = {
    "lpush": _multibulk(b"LPUSH", b"mylist", VALUE),
    "rpush": _multibulk(b"RPUSH", b"mylist", VALUE),
    "lpop": _multibulk(b"LPOP", b"mylist"),
    "rpop": _multibulk(b"RPOP", b"mylist"),
    "sadd": _multibulk(b"SADD", b"myset", b"element:__rand_int__"),
    "hset": _multibulk(b"HSET", b"myhash", b"element:__rand_int__", VALUE),
    "spop": _multibulk(b"SPOP", b"myset"),
    "zadd": _multibulk(b"ZADD", b"myzset", b"0", b"element:__rand_int__"),
    "zpopmin": _multibulk(b"ZPOPMIN", b"myzset"),
    "lrange_100": _multibulk(b"LRANGE", b"mylist", b"0", b"99"),
    "mset": _multibulk(b"MSET", *[b"key:__rand_int__", VALUE] * 10),
}


def count(test: str, batches: int) -> None:
    """Feed ``batches`` batches of ``test``'s requests to a sans-I/O session (for callgrind)."""
    # Imported here: the timed mode measures the installed server, not this process.
    from resp_micro import _NullSender  # noqa: PLC0415
    from wireproto.providers.resp import RespProvider, register  # noqa: PLC0415
    from wireproto.providers.resp.session import RespSession  # noqa: PLC0415

    from wireproto._registry import Registry  # noqa: PLC0415

    provider = register(Registry(), RespProvider(accelerated=False))
    store = provider.store
    if test in ("lpop", "rpop"):
        store.write_container(b"mylist", deque).extend([VALUE] * (batches * PIPELINE + 1))
    elif test == "lrange_100":
        store.write_container(b"mylist", deque).extend([VALUE] * 600)
    session = RespSession(provider, _NullSender(), 1)
    data = memoryview(REQUESTS[test] * PIPELINE)
    if test in ("spop", "zpopmin"):  # the one member SADD/ZADD left is popped by the first
        session.try_consume(data)
    for _ in range(batches):
        if session.try_consume(data) != len(data):
            raise AssertionError("the session did not consume the whole batch")


def _collected(test: str, batches: int) -> int:
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, __file__, "--count", test, "--batches", str(batches),
    ]  # fmt: skip
    err = subprocess.run(command, capture_output=True, check=True, timeout=900).stderr
    match = re.search(rb"Collected : (\d+)", err)
    assert match is not None, err[-2000:]
    return int(match[1])


def instructions(tests: list[str], batches: int) -> dict[str, float]:
    """Callgrind's instructions per command: ``batches`` batches less a quarter of them."""
    fewer = batches // 4
    return {
        test: (_collected(test, batches) - _collected(test, fewer)) / ((batches - fewer) * PIPELINE)
        for test in tests
    }


def bench(
    port: int, requests: int, test: str, cpu: Callable[[], float]
) -> tuple[str, float, float]:
    """One redis-benchmark run of ``test``: its name, requests/s, server CPU µs per request."""
    before = cpu()
    out = subprocess.run(
        ["redis-benchmark", "-h", HOST, "-p", str(port), "-P", "16", "-c", "50",
         "-n", str(requests), "--csv", "-t", test],
        capture_output=True, timeout=600, check=True,
    ).stdout.decode()  # fmt: skip
    used = cpu() - before
    rows = [row for row in csv.reader(out.splitlines()) if row and row[0] != "test"]
    # lrange_100 runs an LPUSH first: its CPU time is in LRANGE_100's figure.
    name, rate = rows[-1][0], float(rows[-1][1])
    return name, rate, used / requests * 1e6


def _info_cpu(port: int) -> float:
    out = subprocess.run(
        ["redis-cli", "-h", HOST, "-p", str(port), "INFO", "cpu"],
        capture_output=True, timeout=30, check=True,
    ).stdout.decode()  # fmt: skip
    values = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    return float(values["used_cpu_user"]) + float(values["used_cpu_sys"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--tests", default=TESTS, help="comma-separated redis-benchmark tests")
    parser.add_argument("--count", metavar="TEST", help="feed TEST's requests to a session")
    parser.add_argument("--batches", type=int, default=2000, help="with --count/--instructions")
    parser.add_argument(
        "--instructions", action="store_true", help="callgrind's instructions per command"
    )
    args = parser.parse_args()
    tests = args.tests.split(",")
    if args.count:
        count(args.count, args.batches)
        return 0
    if args.instructions:
        print("| test | instructions per command |\n|---|--:|")
        for test, value in instructions(tests, args.batches).items():
            print(f"| {test} | {value:,.0f} |", flush=True)
        return 0
    from _serve import redis_server, serve  # noqa: PLC0415 (it needs pytest; --count does not)

    workdir = Path(tempfile.mkdtemp(prefix="wireproto-types-"))
    rates: dict[str, dict[str, list[float]]] = {"wireproto": {}, "redis-server": {}}
    cpus: dict[str, dict[str, list[float]]] = {"wireproto": {}, "redis-server": {}}
    log = workdir / "serve.log"
    with (
        serve(log, "--loop", "uvloop", formats={"resp"}) as ours,
        redis_server(workdir) as theirs,
    ):
        servers = {
            "wireproto": (ours.port, lambda: _info_cpu(ours.port)),
            "redis-server": (theirs, lambda: _info_cpu(theirs)),
        }
        for _ in range(args.runs):
            for test in tests:
                for server, (port, cpu) in servers.items():
                    name, rate, used = bench(port, args.requests, test, cpu)
                    rates[server].setdefault(name, []).append(rate)
                    cpus[server].setdefault(name, []).append(used)
                time.sleep(0.1)
    print(
        "| test | wireproto req/s | redis-server req/s | ratio "
        "| wireproto CPU µs/req | redis-server CPU µs/req | CPU ratio |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|")
    for name in rates["redis-server"]:
        ours_rate = statistics.median(rates["wireproto"][name])
        theirs_rate = statistics.median(rates["redis-server"][name])
        ours_cpu = statistics.median(cpus["wireproto"][name])
        theirs_cpu = statistics.median(cpus["redis-server"][name])
        print(
            f"| {name} | {ours_rate:,.0f} | {theirs_rate:,.0f} | {ours_rate / theirs_rate:.2f} "
            f"| {ours_cpu:.2f} | {theirs_cpu:.2f} | {ours_cpu / theirs_cpu:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
