"""The fuzz kit: prove a stream parser right however the bytes are cut.

``check_wire_format(target)`` drives a provider's sessions through the
sans-I/O :class:`~wireproto.connection.Connection` with Hypothesis-generated
streams, cuts and read schedules, and checks eight properties, each with
its own exception class (a :class:`ConformanceError`):

1. :class:`SameOutcomeError`: the same replies, close and error however the
   stream is cut or read;
2. :class:`ByteAccountingError`: ``try_consume`` returns an int in
   ``0..len(data)``, and consumed + buffered = fed;
3. :class:`KeptViewError`: the memoryview is not kept after returning;
4. :class:`UnexpectedExceptionError`: only ``ProtocolError`` leaves a session;
5. :class:`DetectionError`: detection never changes a decided answer, nor
   depends on the cut;
6. :class:`LimitError` / :class:`NonLinearWorkError`: buffers stay within
   the limits and work stays linear in the bytes fed;
7. :class:`RoundTripError`: declaration-built messages round-trip and are
   consumed at their boundaries;
8. :class:`CompletenessError`: streams of valid messages (declaration,
   corpus, ``grow``) are detected, consumed to the last byte and, where the
   target declares replies, answered once per message, however they are cut.

Also here: the strategies (:mod:`wireproto.testing.strategies`), a
``RuleBasedStateMachine`` (:class:`ConsumerMachine`), regression files, and
the pytest plugin (:mod:`wireproto.testing.pytest_plugin`). ``wireproto
fuzz`` is the command line. Importing this package does not import
Hypothesis; the names that need it load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from wireproto.testing._driver import Harness, Run, run_example
from wireproto.testing._errors import (
    PROPERTIES,
    ByteAccountingError,
    CompletenessError,
    ConformanceError,
    DetectionError,
    KeptViewError,
    LimitError,
    NonLinearWorkError,
    RoundTripError,
    SameOutcomeError,
    UnexpectedExceptionError,
    error_class,
)
from wireproto.testing._properties import (
    Seeds,
    WorkReport,
    check_example,
    check_limits_and_work,
    prepare_seeds,
)
from wireproto.testing._regression import (
    Regression,
    load_regression,
    replay_regression,
    save_regression,
)
from wireproto.testing._target import (
    FuzzTarget,
    Grow,
    TargetError,
    TargetOptions,
    load_corpus,
    load_target,
)
from wireproto.testing._types import Example, Outcome, ReadSchedule, Stream

if TYPE_CHECKING:
    from wireproto.testing import strategies
    from wireproto.testing._check import CheckReport, Fuzzer, check_wire_format
    from wireproto.testing._machine import ConsumerMachine
    from wireproto.testing.strategies import (
        Built,
        buffer_schedules,
        chunkings,
        examples,
        from_construct,
        grown_streams,
        mutated,
        streams,
        target_streams,
    )

__all__ = [
    "PROPERTIES",
    "Built",
    "ByteAccountingError",
    "CheckReport",
    "CompletenessError",
    "ConformanceError",
    "ConsumerMachine",
    "DetectionError",
    "Example",
    "FuzzTarget",
    "Fuzzer",
    "Grow",
    "Harness",
    "KeptViewError",
    "LimitError",
    "NonLinearWorkError",
    "Outcome",
    "ReadSchedule",
    "Regression",
    "RoundTripError",
    "Run",
    "SameOutcomeError",
    "Seeds",
    "Stream",
    "TargetError",
    "TargetOptions",
    "UnexpectedExceptionError",
    "WorkReport",
    "buffer_schedules",
    "check_example",
    "check_limits_and_work",
    "check_wire_format",
    "chunkings",
    "error_class",
    "examples",
    "from_construct",
    "grown_streams",
    "load_corpus",
    "load_regression",
    "load_target",
    "mutated",
    "prepare_seeds",
    "replay_regression",
    "run_example",
    "save_regression",
    "strategies",
    "streams",
    "target_streams",
]

_STRATEGIES = "wireproto.testing.strategies"
_LAZY = {
    "CheckReport": "wireproto.testing._check",
    "Fuzzer": "wireproto.testing._check",
    "check_wire_format": "wireproto.testing._check",
    "ConsumerMachine": "wireproto.testing._machine",
    "Built": _STRATEGIES,
    "buffer_schedules": _STRATEGIES,
    "chunkings": _STRATEGIES,
    "examples": _STRATEGIES,
    "from_construct": _STRATEGIES,
    "grown_streams": _STRATEGIES,
    "mutated": _STRATEGIES,
    "streams": _STRATEGIES,
    "target_streams": _STRATEGIES,
}


def __getattr__(name: str) -> Any:
    # The names that need Hypothesis are imported on first use.
    if name == "strategies":
        return importlib.import_module(_STRATEGIES)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
