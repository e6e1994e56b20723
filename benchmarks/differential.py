"""The differential harness for longer: Hypothesis command sequences against ``wireproto serve``
and a real redis-server, as ``tests/e2e/test_differential_redis.py`` runs them in CI (500
examples), here with as many examples as asked.

    .venv/bin/python benchmarks/differential.py --examples 20000

It prints the number of sequences run and the first mismatch Hypothesis shrinks to, if any.
Exit status 1 on a mismatch.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from _differential import ServerPair  # noqa: E402
from _differential_commands import SEQUENCES  # noqa: E402
from _serve import redis_server, serve  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from test_differential_redis import RESET, check  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=5000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="wireproto-differential-"))
    runs = 0
    with (
        redis_server(workdir) as redis_port,
        serve(workdir / "serve.log", formats={"resp"}) as ours,
    ):
        servers = ServerPair(redis_port, ours.port)

        @settings(
            max_examples=args.examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(steps=SEQUENCES)
        def run(steps: list[tuple[str | bytes, ...]]) -> None:
            nonlocal runs
            runs += 1
            check(servers, steps)

        started = time.monotonic()
        try:
            run()
        except AssertionError as failure:
            print(f"mismatch after {runs} sequences: {failure}")
            return 1
        finally:
            servers.run(*RESET)
            servers.close()
        print(f"{runs} sequences, all replies equal, in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
