"""``wireproto fuzz TARGET``: fuzz a wire format from the command line.

Exit status: 0 when no property failed, 1 when one did (the report names
the property and shows the shrunk input and its cut, and a regression file
is written for pytest to replay), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from pathlib import Path
from typing import TextIO

from wireproto.testing._errors import ConformanceError
from wireproto.testing._regression import Regression, save_regression
from wireproto.testing._target import FuzzTarget, TargetError, load_target

__all__ = ["add_arguments", "main", "run"]

DEFAULT_SECONDS = 30.0
_FIRST_BATCH = 50
_BATCH_SECONDS = 1.0


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``fuzz`` command's arguments to ``parser``."""
    parser.add_argument(
        "target",
        metavar="TARGET",
        help="a registered format name, or module:attribute (or file.py:attribute) naming a "
        "FuzzTarget, SessionProvider, WireFormat or a factory of one",
    )
    parser.add_argument(
        "--seconds",
        type=_positive_float,
        metavar="S",
        help=f"stop after S seconds (default {DEFAULT_SECONDS:g} unless --examples is given)",
    )
    parser.add_argument(
        "--examples", type=_positive_int, metavar="N", help="stop after N generated examples"
    )
    parser.add_argument("--seed", type=int, metavar="N", help="random seed (default: random)")
    parser.add_argument(
        "--corpus",
        metavar="DIR",
        help="seed inputs, one stream per file (default: specs/<format>/corpus if it exists)",
    )
    parser.add_argument(
        "--engine",
        choices=("hypothesis", "atheris"),
        default="hypothesis",
        help="hypothesis (default), or atheris for coverage-guided fuzzing "
        "(pip install 'wireproto[fuzz]')",
    )
    parser.add_argument(
        "--regressions",
        metavar="DIR",
        help="where to write a failure's regression file "
        "(default: tests/fuzz_regressions if ./tests exists, else ./fuzz_regressions)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def _regression_directory(args: argparse.Namespace) -> Path:
    if args.regressions:
        return Path(args.regressions)
    return Path("tests/fuzz_regressions") if Path("tests").is_dir() else Path("fuzz_regressions")


class _Progress:
    def __init__(self, out: TextIO, quiet: bool) -> None:
        self.out = out
        self.quiet = quiet
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def line(self, text: str) -> None:
        if not self.quiet:
            print(f"[{self.elapsed():6.1f}s] {text}", file=self.out, flush=True)


def report_failure(
    error: ConformanceError, args: argparse.Namespace, seed: int, out: TextIO
) -> int:
    """Print ``error`` and write its regression file; return the exit status (1)."""
    path = save_regression(Regression.from_error(error, args.target), _regression_directory(args))
    print(f"FAILED: property {error.property} ({error.name})", file=out)
    print(str(error), file=out)
    print(f"regression file: {path} (plain pytest replays it)", file=out)
    engine = " --engine atheris" if args.engine == "atheris" else ""
    print(f"reproduce: wireproto fuzz {args.target}{engine} --seed {seed}", file=out, flush=True)
    return 1


def run(args: argparse.Namespace) -> int:
    """Run the ``fuzz`` command; return the exit status."""
    out = sys.stdout
    try:
        target = load_target(args.target, corpus=args.corpus)
    except TargetError as exc:
        print(f"wireproto fuzz: {exc}", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else secrets.randbelow(1 << 32)
    seconds = args.seconds
    if seconds is None and args.examples is None:
        seconds = DEFAULT_SECONDS
    limit = ", ".join(
        part
        for part in (
            f"{seconds:g} s" if seconds is not None else "",
            f"{args.examples} examples" if args.examples is not None else "",
        )
        if part
    )
    print(
        f"wireproto fuzz: {target.label} (format {target.wire_format.name}), engine "
        f"{args.engine}, seed {seed}, {len(target.corpus)} corpus streams, "
        f"message declaration: {'yes' if target.message is not None else 'no'}; "
        f"up to {limit}",
        file=out,
        flush=True,
    )
    if args.engine == "atheris":
        from wireproto.testing._atheris import run_atheris  # noqa: PLC0415

        return run_atheris(target, args, seed, seconds, out, report_failure=report_failure)
    return _run_hypothesis(target, args, seed, seconds, out)


def _run_hypothesis(
    target: FuzzTarget, args: argparse.Namespace, seed: int, seconds: float | None, out: TextIO
) -> int:
    from wireproto.testing._check import Fuzzer  # noqa: PLC0415  (imports Hypothesis)

    progress = _Progress(sys.stderr, args.quiet)
    fuzzer = Fuzzer(target)
    budget: int | None = args.examples
    batch = _FIRST_BATCH
    ran = 0
    index = 0
    try:
        fuzzer.prepare()
        while True:
            size = batch if budget is None else min(batch, budget - ran)
            started = time.monotonic()
            fuzzer.run_batch(size, seed + index)
            took = max(time.monotonic() - started, 1e-3)
            ran += size
            index += 1
            if index == 1:
                work = fuzzer.check_limits_and_work()
                progress.line(f"limits and work: {work.describe()}")
            rate = ran / max(progress.elapsed(), 1e-3)
            progress.line(
                f"{ran} examples ({rate:.0f}/s), "
                f"{len(fuzzer.stats.outcomes)} distinct outcomes, no failure"
            )
            if budget is not None and ran >= budget:
                break
            if seconds is not None and progress.elapsed() >= seconds:
                break
            batch = max(10, min(2000, int(size / took * _BATCH_SECONDS)))
            if seconds is not None:
                left = seconds - progress.elapsed()
                batch = max(1, min(batch, int(size / took * left) + 1))
    except ConformanceError as error:
        return report_failure(error, args, seed, out)
    print(
        f"no property failed: {ran} examples in {progress.elapsed():.1f} s, "
        f"{len(fuzzer.stats.outcomes)} distinct outcomes; {fuzzer.work.describe()}",
        file=out,
        flush=True,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m wireproto.testing``: the ``fuzz`` command on its own."""
    parser = argparse.ArgumentParser(
        prog="wireproto fuzz", description="Fuzz a wire format's parser and detector."
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
