"""The atheris engine: coverage-guided fuzzing in a child process.

libFuzzer never returns to Python (it exits the process), so the command
line runs this module as a worker: it loads the target, seeds libFuzzer
with the target's corpus, and checks each input under several cuts (whole,
a one-byte drip for short inputs, and cuts and read sizes derived from the
input's hash). On the first failure the worker writes the example to a
report file and exits; the parent shrinks it, prints it and writes the
regression file, exactly as with the Hypothesis engine. When the target
has a construct declaration, a structure-aware mutator rebuilds parsed
messages so that length fields stay valid.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import os
import random
import re
import subprocess
import sys
import sysconfig
import tempfile
import types
import zlib
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from wireproto.testing._errors import ConformanceError
from wireproto.testing._properties import check_example
from wireproto.testing._regression import Regression
from wireproto.testing._types import Example, ReadSchedule

if TYPE_CHECKING:
    from wireproto.testing._target import FuzzTarget

__all__ = ["examples_for", "run_atheris"]

FOUND = 3
"""The worker's exit status when a property failed (the report file holds the input)."""

_MAX_LEN = 4096
_DRIP_MAX = 256
_DONE = re.compile(r"Done (\d+) runs in (\d+) second")
_MISSING = (
    "the atheris engine needs atheris (pip install 'wireproto[fuzz]'); it could not be "
    "imported here: {error}"
)


def examples_for(data: bytes) -> Iterator[Example]:
    """The cuts each atheris input is checked under (derived from the input, so replayable)."""
    if not data:
        return
    yield Example.whole(data)
    if len(data) <= _DRIP_MAX:
        yield Example.drip(data)
    rng = random.Random(zlib.crc32(data))
    for _ in range(2):
        points = sorted({rng.randrange(1, len(data)) for _ in range(rng.randint(1, 4))}) if (
            len(data) > 1
        ) else []  # fmt: skip
        edges = [0, *points, len(data)]
        chunks = tuple(b - a for a, b in pairwise(edges) if b > a)
        schedule = ReadSchedule(
            rng.choice([16 * 1024, 1, 2, 7, 64]),
            tuple(rng.randint(1, 64) for _ in range(rng.randint(0, 3))),
        )
        yield Example(data, chunks, schedule)


def run_atheris(
    target: FuzzTarget,
    args: argparse.Namespace,
    seed: int,
    seconds: float | None,
    out: TextIO,
    *,
    report_failure: Callable[..., int],
) -> int:
    """Run the worker, relay its progress, then report like the Hypothesis engine.

    ``report_failure`` is the command line's (passed in: it imports this module).
    """
    try:
        importlib.import_module("atheris")  # an optional extra: wireproto[fuzz]
    except Exception as exc:
        print(f"wireproto fuzz: {_MISSING.format(error=exc)}", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="wireproto-fuzz-") as work:
        report = Path(work) / "report.json"
        command = [
            sys.executable,
            "-m",
            "wireproto.testing._atheris",
            args.target,
            "--report",
            str(report),
            "--seed",
            str(seed),
            "--workdir",
            work,
        ]
        if args.corpus:
            command += ["--corpus", args.corpus]
        if seconds is not None:
            command += ["--seconds", str(max(1, round(seconds)))]
        if args.examples is not None:
            command += ["--runs", str(args.examples)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([os.getcwd(), *sys.path])
        runs = "?"
        with subprocess.Popen(
            command, stderr=subprocess.PIPE, text=True, errors="replace", env=env
        ) as worker:
            assert worker.stderr is not None
            for line in worker.stderr:
                done = _DONE.search(line)
                if done:
                    runs = done.group(1)
                if not args.quiet:
                    sys.stderr.write(line)
            status = worker.wait()
        if status == FOUND and report.exists():
            found = json.loads(report.read_text(encoding="utf-8"))
            error = _recheck(target, Regression.from_json(found).example)
            if error is not None:
                from wireproto.testing._shrink import minimize  # noqa: PLC0415

                return report_failure(minimize(target, error), args, seed, out, examples=runs)
            print("wireproto fuzz: the worker's failure did not reproduce", file=sys.stderr)
            return 1
        if status != 0:
            print(
                f"wireproto fuzz: the atheris worker exited with status {status}", file=sys.stderr
            )
            return 2
    print(f"no property failed: {runs} atheris runs (coverage-guided)", file=out, flush=True)
    return 0


def _recheck(target: FuzzTarget, example: Example | None) -> ConformanceError | None:
    if example is None:
        return None
    try:
        check_example(target, example)
    except ConformanceError as error:
        return error
    return None


_NOT_INSTRUMENTED = ("hypothesis", "_pytest", "pytest", "pluggy", "atheris", "_hypothesis_")


def _instrument(atheris: Any) -> None:
    """Add coverage instrumentation to the code under test only.

    ``atheris.instrument_all()`` takes about a minute here (every function of
    the standard library, Hypothesis and pytest); the target needs its own
    code, construct's and the toolkit's core, not the kit's nor the stdlib's.
    """
    stdlib = sysconfig.get_paths()["stdlib"]
    kit = str(Path(__file__).resolve().parent)
    for obj in gc.get_objects():
        if not isinstance(obj, types.FunctionType):
            continue
        filename = obj.__code__.co_filename
        if filename.startswith(("<", stdlib, kit)) or any(
            f"{os.sep}{name}{os.sep}" in filename for name in _NOT_INSTRUMENTED
        ):
            continue
        if "site-packages" in filename and f"{os.sep}construct{os.sep}" not in filename:
            continue
        with contextlib.suppress(Exception):  # builtins-backed or already patched
            atheris.instrument_func(obj)


def _mutator(atheris: Any, target: FuzzTarget) -> Callable[[bytes, int, int], bytes] | None:
    """The structure-aware mutator, when the target declares its messages."""
    declaration = target.message
    if declaration is None:
        return None
    from wireproto.testing._construct import mutate_stream  # noqa: PLC0415

    def mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if rng.random() < 0.5:
            try:
                mutated = mutate_stream(declaration, data, rng)
            except Exception:  # an unbuildable value: fall back to libFuzzer's mutations
                mutated = b""
            if mutated:
                return mutated[:max_size]
        result: bytes = atheris.Mutate(data, max_size)
        return result

    return mutator


def _worker(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="wireproto-fuzz-atheris-worker")
    parser.add_argument("target")
    parser.add_argument("--report", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--corpus")
    parser.add_argument("--seconds", type=int)
    parser.add_argument("--runs", type=int)
    options = parser.parse_args(argv)

    atheris: Any = importlib.import_module("atheris")

    from wireproto.testing._target import load_target  # noqa: PLC0415

    target = load_target(options.target, corpus=options.corpus)
    work = Path(options.workdir)
    found_dir, seed_dir = work / "corpus", work / "seeds"
    found_dir.mkdir()
    seed_dir.mkdir()
    for index, data in enumerate(target.corpus):
        (seed_dir / f"seed-{index:04d}").write_bytes(data[:_MAX_LEN])

    def test_one_input(data: bytes) -> None:
        for example in examples_for(data):
            try:
                check_example(target, example)
            except ConformanceError as error:
                failure = Regression.from_error(error, options.target)
                Path(options.report).write_text(json.dumps(failure.to_json()), encoding="utf-8")
                sys.stderr.write(f"\n{error}\n")
                sys.stderr.flush()
                os._exit(FOUND)

    mutator = _mutator(atheris, target)
    flags = [sys.argv[0], f"-seed={options.seed}", f"-max_len={_MAX_LEN}", "-print_final_stats=1"]
    if options.seconds is not None:
        flags.append(f"-max_total_time={options.seconds}")
    if options.runs is not None:
        flags.append(f"-runs={options.runs}")
    flags += [str(found_dir), str(seed_dir)]
    _instrument(atheris)
    if mutator is None:
        atheris.Setup(flags, test_one_input)
    else:
        atheris.Setup(flags, test_one_input, custom_mutator=mutator)
    atheris.Fuzz()
    return 0  # not reached: libFuzzer exits the process


if __name__ == "__main__":
    raise SystemExit(_worker(sys.argv[1:]))
