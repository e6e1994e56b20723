"""Two builds' server CPU per request, paired: started once, pinned, bursts alternated.

``resp.py`` visits a dozen servers in turn and reads requests/s, which moves by 5-10 %
between invocations on a 2-core machine. To compare two builds on one test this runs
both servers pinned to CPU 0 and redis-benchmark on CPU 1, sends each a burst of
``--requests`` in turn (the order alternating), and reports each build's median server
CPU µs per request and the median and quartiles of the per-pair ratio (second / first)::

    .venv/bin/python benchmarks/resp_ab.py --tests get,set --pairs 8 --loop uvloop \\
        --parser hiredis before=/work/wt/before/.venv/bin/python after=.venv/bin/python
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

HOST = "127.0.0.1"


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def burst(port: int, test: str, requests: int) -> None:
    command = ["taskset", "-c", "1", "redis-benchmark", "-h", HOST, "-p", str(port)]
    command += ["-t", test, "-P", "16", "-c", "50", "-n", str(requests), "-q"]
    subprocess.run(command, stdout=subprocess.DEVNULL, check=True, timeout=600)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("builds", nargs=2, metavar="LABEL=PYTHON")
    parser.add_argument("--tests", default="get,set", help="redis-benchmark -t names")
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--requests", type=int, default=1_000_000, help="per burst")
    parser.add_argument("--loop", default="asyncio", choices=("asyncio", "uvloop"))
    parser.add_argument("--parser", default="pure", choices=("pure", "hiredis"))
    args = parser.parse_args(argv)
    env = {**os.environ, "WIREPROTO_RESP_PARSER": args.parser}
    servers: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        for build in args.builds:
            label, python = build.split("=", 1)
            python = os.path.abspath(python)  # the servers run from /tmp (no checkout on sys.path)
            process = subprocess.Popen(
                ["taskset", "-c", "0", python, "-P", "-m", "wireproto", "serve", "--host", HOST,
                 "--port", "0", "--loop", args.loop, "--log-level", "warning"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd="/tmp", env=env,
            )  # fmt: skip
            assert process.stdout is not None
            line = process.stdout.readline().decode()
            servers[label] = (process, int(line.strip().rsplit(":", 1)[1]))
        for _, port in servers.values():
            for test in ("set", "get", "ping_inline"):
                burst(port, test, 50_000)
        labels = list(servers)
        for test in args.tests.split(","):
            per: dict[str, list[float]] = {label: [] for label in labels}
            ratios = []
            for pair in range(args.pairs):
                got = {}
                for label in labels if pair % 2 == 0 else labels[::-1]:
                    process, port = servers[label]
                    before = cpu_seconds(process.pid)
                    burst(port, test, args.requests)
                    got[label] = (cpu_seconds(process.pid) - before) / args.requests * 1e6
                    per[label].append(got[label])
                ratios.append(got[labels[1]] / got[labels[0]])
            quartiles = statistics.quantiles(ratios, n=4)
            medians = ", ".join(f"{label} {statistics.median(per[label]):.3f}" for label in labels)
            print(
                f"{test} ({args.loop}, {args.parser}): server CPU µs/request {medians}; "
                f"{labels[1]} / {labels[0]} median {statistics.median(ratios):.3f} "
                f"(quartiles {quartiles[0]:.3f}-{quartiles[2]:.3f}, {args.pairs} pairs)"
            )
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
