"""``check_wire_format``: every conformance property, driven by Hypothesis."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from wireproto.testing._extra import missing_extra

try:
    from hypothesis import HealthCheck, Phase, configuration, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st
except ModuleNotFoundError as exc:
    raise missing_extra(exc) from None

from wireproto._detect import WireFormat
from wireproto._session import Limits, SessionProvider
from wireproto.testing._driver import Run
from wireproto.testing._exhaustive import check_detectors_exhaustively, check_small_streams
from wireproto.testing._properties import (
    Seeds,
    WorkReport,
    check_example,
    check_limits_and_work,
    prepare_seeds,
)
from wireproto.testing._shrink import minimize
from wireproto.testing._target import FuzzTarget, Grow, TargetOptions
from wireproto.testing._types import Example
from wireproto.testing.errors import ConformanceError
from wireproto.testing.strategies import buffer_schedules, examples, target_streams

if TYPE_CHECKING:
    import construct

__all__ = ["CheckReport", "Fuzzer", "check_wire_format"]

_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What :func:`check_wire_format` ran: examples, distinct outcomes, and the work check."""

    target: str
    examples: int
    distinct_outcomes: int
    work: WorkReport

    def describe(self) -> str:
        """A one-paragraph summary."""
        return (
            f"{self.target}: no property failed in {self.examples} examples "
            f"({self.distinct_outcomes} distinct outcomes); work: {self.work.describe()}"
        )


@dataclass(slots=True)
class _Stats:
    examples: int = 0
    outcomes: set[tuple[Any, ...]] = field(default_factory=set)

    def record(self, run: Run) -> None:
        self.examples += 1
        outcome = run.outcome
        error = _DIGITS.sub("N", outcome.error) if outcome.error else None
        self.outcomes.add((outcome.wire_format, outcome.close_reason, error))


@contextmanager
def _scratch_storage() -> Iterator[None]:
    """Hypothesis's storage in a temporary folder, unless the user chose one: it caches in
    ./.hypothesis even without a database, and the kit writes nothing into the working
    folder."""
    chosen = getattr(configuration, "__hypothesis_home_directory", None)
    if chosen is not None or os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="wireproto-fuzz-") as scratch:
        configuration.set_hypothesis_home_dir(scratch)
        try:
            yield
        finally:
            configuration.set_hypothesis_home_dir(None)


def _first_conformance_error(exc: BaseException) -> ConformanceError | None:
    if isinstance(exc, ConformanceError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _first_conformance_error(inner)
            if found is not None:
                return found
    return None


class Fuzzer:
    """Runs the checks on one target in batches (the CLI's hypothesis engine uses it too).

    :meth:`prepare` checks the corpus and the limits-and-work property;
    each :meth:`run_batch` runs Hypothesis for a number of examples. Both
    raise the failing property's :class:`ConformanceError`, shrunk.
    """

    def __init__(
        self, target: FuzzTarget, *, check_work: bool = True, skip: Iterable[int] = ()
    ) -> None:
        self.target = target
        self.skip = frozenset(skip)
        self.check_work = check_work and 6 not in self.skip
        self.stats = _Stats()
        self.seeds: Seeds | None = None
        self.work = WorkReport(notes=("work not checked",))
        self._strategy: st.SearchStrategy[Example] | None = None

    def prepare(self) -> None:
        """Cut the corpus into frames, checking each corpus stream on the way, then run the
        deterministic checks: detection near every short decision, and the smallest valid
        streams cut every way."""
        self.seeds = self._shrunk(lambda: prepare_seeds(self.target))
        seeds = self.seeds
        if 5 not in self.skip:
            self._shrunk(lambda: check_detectors_exhaustively(self.target, seeds))
        self._shrunk(lambda: check_small_streams(self.target, seeds, self.skip))
        self._strategy = examples(
            target_streams(self.target, self.seeds), schedules=buffer_schedules()
        )

    def check_limits_and_work(self) -> WorkReport:
        """Run the deterministic limits-and-work check (property 6) once."""
        if self.check_work:
            seeds = self.seeds
            self.work = self._shrunk(lambda: check_limits_and_work(self.target, seeds))
        elif 6 in self.skip:
            self.work = WorkReport(notes=("property 6 skipped",))
        return self.work

    def run_batch(self, max_examples: int, seed: int | None) -> None:
        """Run ``max_examples`` generated examples; raise the first failure, shrunk."""
        if self._strategy is None:
            self.prepare()
        strategy = self._strategy
        assert strategy is not None
        target = self.target
        stats = self.stats
        skip = self.skip

        @settings(
            max_examples=max_examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
            phases=(Phase.explicit, Phase.generate, Phase.shrink),
            print_blob=False,
        )
        @given(strategy)
        def conforms(example: Example) -> None:
            try:
                stats.record(check_example(target, example, skip))
            except ConformanceError as error:
                if error.property not in skip:
                    raise

        test: Callable[[], None] = conforms
        if seed is not None:
            test = hypothesis_seed(seed)(conforms)
        with _scratch_storage():
            self._shrunk(test)

    def _shrunk(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as exc:
            error = _first_conformance_error(exc)
            if error is None:
                raise
            if error.property in self.skip:
                return None
            raise minimize(self.target, error, skip=self.skip) from None


def _as_target(
    target: FuzzTarget | SessionProvider | Callable[[], SessionProvider],
    wire_format: WireFormat | None,
    message: construct.Construct[Any, Any] | None,
    corpus: Iterable[bytes],
    options: TargetOptions,
) -> FuzzTarget:
    seeds = tuple(corpus)
    if isinstance(target, FuzzTarget):
        if wire_format is not None:
            raise TypeError("wire_format is part of the FuzzTarget: set it there")
        if message is not None:
            target = replace(target, message=message)
        if options:
            target = replace(target, **options)
        return target.with_corpus(seeds) if seeds else target
    options["message"] = message
    options["corpus"] = seeds
    return FuzzTarget.from_provider(target, wire_format, **options)


def check_wire_format(
    target: FuzzTarget | SessionProvider | Callable[[], SessionProvider],
    *,
    wire_format: WireFormat | None = None,
    message: construct.Construct[Any, Any] | None = None,
    corpus: Iterable[bytes] = (),
    grow: Grow | None = None,
    limits: Limits | None = None,
    replies: bool | None = None,
    max_examples: int = 200,
    seed: int | None = 0,
    check_work: bool = True,
    skip: Iterable[int] = (),
) -> CheckReport:
    """Check every conformance property of a wire format; raise the first failure, shrunk.

    ``target`` is a :class:`FuzzTarget`, or a ``SessionProvider`` (instance,
    class or factory) serving ``wire_format`` (default: every stream).
    ``message`` is a construct declaration of one valid message (structure-
    aware inputs, round-trip check, linear-work check); ``corpus`` adds seed
    streams; ``grow(n)`` makes a valid stream of about n bytes (valid
    multi-message streams, the work and max/max+1 checks); ``limits``
    replace the provider's; ``replies`` declares that every message is
    answered. Hypothesis runs ``max_examples`` examples from ``seed`` (None:
    a random seed), after the deterministic checks. The limits-and-work
    check runs unless ``check_work`` is False; ``skip`` names properties
    (1-8) whose failures are ignored.

    Raises a :class:`ConformanceError` subclass naming the property, with
    the shrunk input (hex and bytes literal), the cut and the read schedule.
    """
    options: TargetOptions = {}
    if grow is not None:
        options["grow"] = grow
    if limits is not None:
        options["limits"] = limits
    if replies is not None:
        options["replies"] = replies
    chosen = _as_target(target, wire_format, message, corpus, options)
    fuzzer = Fuzzer(chosen, check_work=check_work, skip=skip)
    fuzzer.prepare()
    fuzzer.check_limits_and_work()
    fuzzer.run_batch(max_examples, seed)
    return CheckReport(
        fuzzer.target.label, fuzzer.stats.examples, len(fuzzer.stats.outcomes), fuzzer.work
    )
