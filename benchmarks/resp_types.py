"""redis-benchmark's data-type tests on ``wireproto serve`` and on redis-server, same run.

    .venv/bin/python benchmarks/resp_types.py [--runs 3] [--requests 100000]

Runs ``redis-benchmark -t lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,mset
-P 16 -c 50`` against each server (wireproto pure Python on uvloop, then redis-server 7.0 with
persistence off), ``--runs`` times, and prints the median requests/s of each test and the
ratio. Both servers bind 127.0.0.1 on ports the OS picks and are stopped by pid.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from _serve import HOST, redis_server, serve  # noqa: E402

TESTS = "lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,mset"


def bench(port: int, requests: int) -> dict[str, float]:
    """One redis-benchmark run of every test; requests/s by test name."""
    out = subprocess.run(
        ["redis-benchmark", "-h", HOST, "-p", str(port), "-P", "16", "-c", "50",
         "-n", str(requests), "--csv", "-t", TESTS],
        capture_output=True, timeout=600, check=True,
    ).stdout.decode()  # fmt: skip
    rows = [row for row in csv.reader(out.splitlines()) if row and row[0] != "test"]
    return {row[0]: float(row[1]) for row in rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="wireproto-types-"))
    results: dict[str, list[dict[str, float]]] = {"wireproto": [], "redis-server": []}
    log = workdir / "serve.log"
    with (
        serve(log, "--loop", "uvloop", formats={"resp"}) as ours,
        redis_server(workdir) as theirs,
    ):
        for _ in range(args.runs):
            results["wireproto"].append(bench(ours.port, args.requests))
            results["redis-server"].append(bench(theirs, args.requests))
    print("| test | wireproto req/s | redis-server req/s | ratio |")
    print("|---|--:|--:|--:|")
    for test in results["redis-server"][0]:
        ours_median = statistics.median(run[test] for run in results["wireproto"])
        theirs_median = statistics.median(run[test] for run in results["redis-server"])
        ratio = ours_median / theirs_median
        print(f"| {test} | {ours_median:,.0f} | {theirs_median:,.0f} | {ratio:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
