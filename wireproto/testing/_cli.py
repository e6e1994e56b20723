"""``wireproto fuzz TARGET``: fuzz a wire format from the command line.

Exit status: 0 when no property failed, 1 when one did (the report names
the property and shows the shrunk input and its cut, and a regression file
is written for pytest to replay), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from wireproto._registry import Registry
from wireproto.testing._extra import missing_extra
from wireproto.testing._formats import (
    corpora,
    describe_detection,
    describe_formats,
    find_overlaps,
)
from wireproto.testing._regression import (
    INI_OPTION,
    REGRESSION_DIRECTORY,
    Regression,
    save_regression,
)
from wireproto.testing._target import TargetError, load_target
from wireproto.testing.errors import PROPERTIES, ConformanceError

if TYPE_CHECKING:
    from wireproto.testing._check import Fuzzer

__all__ = [
    "add_arguments",
    "add_detect_arguments",
    "log_overlaps",
    "main",
    "run",
    "run_detect",
    "run_formats",
]

DEFAULT_SECONDS = 30.0
_FIRST_BATCH = 50
_BATCH_SECONDS = 1.0


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def _property_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value not in PROPERTIES:
        known = ", ".join(f"{number} {name}" for number, name in PROPERTIES.items())
        raise argparse.ArgumentTypeError(f"{text!r} is not a property number ({known})")
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
        help="where to write a failure's regression file (default: "
        f"{default_regression_directory()}, outside the source tree)",
    )
    parser.add_argument(
        "--skip-property",
        dest="skip",
        type=_property_number,
        action="append",
        default=[],
        metavar="N",
        help="ignore failures of property N (1-8; repeatable), e.g. 6 for the work check",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def default_regression_directory() -> Path:
    """Where regression files go unless ``--regressions`` says: the user's cache, so that
    a run writes nothing into the working folder or the source tree."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "wireproto" / REGRESSION_DIRECTORY


def _regression_directory(args: argparse.Namespace) -> Path:
    if args.regressions:
        return Path(args.regressions)
    return default_regression_directory()


def _replay_hint(directory: Path) -> str:
    if directory.name == REGRESSION_DIRECTORY:
        return f"plain pytest replays it from a {REGRESSION_DIRECTORY} folder of its tests"
    return f"pytest replays it when {INI_OPTION} in the pytest ini lists {directory}"


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
    error: ConformanceError,
    args: argparse.Namespace,
    seed: int,
    out: TextIO,
    *,
    examples: int | str = 0,
    elapsed: float | None = None,
) -> int:
    """Print ``error`` and write its regression file; return the exit status (1).

    The headline names the property, the exception class, how many random
    examples ran before it (0: a deterministic check found it), the time
    taken and the seed.
    """
    directory = _regression_directory(args)
    path = save_regression(Regression.from_error(error, args.target), directory)
    took = f" in {elapsed:.1f} s" if elapsed is not None else ""
    print(
        f"FAILED: property {error.property} ({error.name}): {type(error).__name__} after "
        f"{examples} examples{took}, seed {seed}",
        file=out,
    )
    print(str(error), file=out)
    print(f"regression file: {path} ({_replay_hint(directory)})", file=out)
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
    try:
        from hypothesis.configuration import set_hypothesis_home_dir  # noqa: PLC0415

        from wireproto.testing._check import Fuzzer  # noqa: PLC0415
    except ModuleNotFoundError as exc:
        print(f"wireproto fuzz: {missing_extra(exc)}", file=sys.stderr)
        return 2
    # The kit reports every failure itself: the toolkit's own logging of the same
    # failures (a session's close() raising, once per run) would repeat it many times.
    toolkit_log = logging.getLogger("wireproto")
    toolkit_log.addHandler(logging.NullHandler())
    toolkit_log.propagate = False
    # Hypothesis caches in ./.hypothesis even without a database: keep the working folder clean.
    with tempfile.TemporaryDirectory(prefix="wireproto-fuzz-") as scratch:
        if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
            set_hypothesis_home_dir(scratch)
        try:
            return _run_hypothesis(Fuzzer(target, skip=args.skip), args, seed, seconds, out)
        finally:
            set_hypothesis_home_dir(None)


def _run_hypothesis(
    fuzzer: Fuzzer, args: argparse.Namespace, seed: int, seconds: float | None, out: TextIO
) -> int:
    progress = _Progress(sys.stderr, args.quiet)
    budget: int | None = args.examples
    batch = _FIRST_BATCH
    ran = 0
    index = 0
    try:
        fuzzer.prepare()
        progress.line("deterministic checks (detection near decisions, small streams): passed")
        work = fuzzer.check_limits_and_work()
        progress.line(f"limits and work: {work.describe()}")
        while True:
            size = batch if budget is None else min(batch, budget - ran)
            started = time.monotonic()
            fuzzer.run_batch(size, seed + index)
            took = max(time.monotonic() - started, 1e-3)
            ran += size
            index += 1
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
        examples = fuzzer.stats.examples
        return report_failure(error, args, seed, out, examples=examples, elapsed=progress.elapsed())
    if args.skip:
        skipped = ", ".join(f"{n} ({PROPERTIES[n]})" for n in sorted(set(args.skip)))
        print(f"skipped: property {skipped}", file=out)
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


def _registry() -> Registry:
    registry = Registry.from_plugins()
    for failure in registry.plugin_failures:
        print(f"plugin {failure.name} ({failure.value}) failed: {failure.error}", file=sys.stderr)
    return registry


def run_formats(args: argparse.Namespace) -> int:
    """``wireproto formats``: the installed formats, their detectors and their overlaps."""
    registry = _registry()
    for line in describe_formats(registry, corpora(registry)):
        print(line)
    return 0


def add_detect_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``detect`` command's argument to ``parser``."""
    parser.add_argument(
        "data",
        metavar="HEX|@FILE",
        help="the first bytes of a stream, as hex (spaces allowed), or @FILE to read a file",
    )


def _detect_input(text: str) -> bytes:
    if text.startswith("@"):
        try:
            return Path(text[1:]).read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read {text[1:]!r}: {exc.strerror}") from None
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not hex (e.g. '2a 31 0d 0a' for b'*1\\r\\n'); use @FILE for a file"
        ) from None


def run_detect(args: argparse.Namespace) -> int:
    """``wireproto detect HEX|@FILE``: each format's verdict, the winner and why."""
    try:
        data = _detect_input(args.data)
    except ValueError as exc:
        print(f"wireproto detect: {exc}", file=sys.stderr)
        return 2
    for line in describe_detection(_registry(), data):
        print(line)
    return 0


def log_overlaps(registry: Registry, log: logging.Logger) -> None:
    """Log the formats that can claim another format's corpus samples: a warning where
    equal priorities leave the choice to registration order, info where priority decides."""
    for overlap in find_overlaps(registry, corpora(registry)):
        level = logging.WARNING if overlap.by_order else logging.INFO
        log.log(level, "event=detect.overlap %s", overlap.describe())
