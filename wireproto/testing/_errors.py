"""One exception class per conformance property, each with a readable counterexample."""

from __future__ import annotations

from typing import ClassVar

from wireproto.testing._types import Example

__all__ = [
    "PROPERTIES",
    "ByteAccountingError",
    "CompletenessError",
    "ConformanceError",
    "DetectionError",
    "KeptViewError",
    "LimitError",
    "NonLinearWorkError",
    "RoundTripError",
    "SameOutcomeError",
    "UnexpectedExceptionError",
    "error_class",
    "missing_extra",
]

TESTING_EXTRA = "pip install 'wireproto[testing]'"
"""What to install for the kit's Hypothesis engine and pytest plugin."""

PROPERTIES: dict[int, str] = {
    1: "same-outcome",
    2: "byte-accounting",
    3: "view-not-kept",
    4: "only-protocol-errors",
    5: "stable-detection",
    6: "limits-and-linear-work",
    7: "round-trip",
    8: "completeness",
}
"""The conformance properties by number, with the short names failures carry."""

_SHOWN_BYTES = 256


class ConformanceError(AssertionError):
    """A property of the wire-format contract failed; ``str()`` is the full report.

    ``property`` is the property's number (1-8) and ``name`` its short name
    (see :data:`PROPERTIES`); ``example`` is the input that shows it, when the
    failure is tied to one stream and cut; ``detail`` says what went wrong.
    """

    property: ClassVar[int] = 0
    name: ClassVar[str] = "unknown"

    def __init__(
        self,
        detail: str,
        example: Example | None = None,
        target: str = "",
        *,
        check: str = "example",
    ) -> None:
        self.detail = detail
        self.example = example
        self.target = target
        self.check = check
        """``"example"`` (replayed by running the example) or ``"work"`` (by the
        deterministic limits-and-work check)."""
        super().__init__(self.report())

    def with_example(self, example: Example, target: str = "") -> ConformanceError:
        """The same failure, shown on ``example``."""
        return type(self)(self.detail, example, target or self.target, check=self.check)

    def report(self) -> str:
        """The failure as text: property, what went wrong, the input and the cut."""
        where = f" in {self.target}" if self.target else ""
        lines = [f"property {self.property} ({self.name}) failed{where}: {self.detail}"]
        if self.example is not None:
            lines += describe_example(self.example)
        return "\n".join(lines)


def describe_example(example: Example) -> list[str]:
    """The lines showing an example: hex, a bytes literal, the cut and the reads."""
    stream = example.stream
    shown = stream[:_SHOWN_BYTES]
    hidden = len(stream) - len(shown)
    more = f" ... ({hidden} more bytes not shown)" if hidden else ""
    return [
        f"  input ({len(stream)} bytes, hex): {shown.hex(' ') or '(empty)'}{more}",
        f"  input as bytes: {shown!r}{more}",
        f"  cut: {example.describe_cut()}",
        f"  reads: {example.schedule.describe()}",
    ]


class SameOutcomeError(ConformanceError):
    """Property 1: replies, close or error depend on how the stream was cut or read."""

    property = 1
    name = "same-outcome"


class ByteAccountingError(ConformanceError):
    """Property 2: ``try_consume`` returned a count that is not an int in ``0..len(data)``,
    or consumed plus buffered bytes do not add up to the bytes fed."""

    property = 2
    name = "byte-accounting"


class KeptViewError(ConformanceError):
    """Property 3: the consumer kept the memoryview (or a slice, or its object) after returning."""

    property = 3
    name = "view-not-kept"


class UnexpectedExceptionError(ConformanceError):
    """Property 4: an exception other than ``ProtocolError`` escaped a session or detector."""

    property = 4
    name = "only-protocol-errors"


class DetectionError(ConformanceError):
    """Property 5: detection changed its answer as bytes arrived, or depended on the cut."""

    property = 5
    name = "stable-detection"


class LimitError(ConformanceError):
    """Property 6: a buffer or a message went past the provider's limits."""

    property = 6
    name = "limits-and-linear-work"


class NonLinearWorkError(LimitError):
    """Property 6: parsing work grows faster than the bytes fed (e.g. a re-scan on every read)."""


class RoundTripError(ConformanceError):
    """Property 7: build -> parse -> build changed the bytes, or the session did not
    consume declaration-built messages at their boundaries."""

    property = 7
    name = "round-trip"


class CompletenessError(ConformanceError):
    """Property 8: a stream of valid messages (from the declaration, the corpus or ``grow``)
    was not detected, not consumed to its last byte, or (where the target declares
    replies) not answered once per message, as it was cut."""

    property = 8
    name = "completeness"


_CLASSES: dict[int, type[ConformanceError]] = {
    cls.property: cls
    for cls in (
        SameOutcomeError,
        ByteAccountingError,
        KeptViewError,
        UnexpectedExceptionError,
        DetectionError,
        LimitError,
        RoundTripError,
        CompletenessError,
    )
}


def error_class(number: int) -> type[ConformanceError]:
    """The exception class of property ``number`` (KeyError if there is none)."""
    return _CLASSES[number]


def missing_extra(exc: ModuleNotFoundError) -> ModuleNotFoundError:
    """The one-line error for a missing dependency of the kit (Hypothesis, pytest)."""
    if TESTING_EXTRA in str(exc):
        return exc
    name = (exc.name or "a dependency").partition(".")[0]
    return ModuleNotFoundError(f"wireproto.testing needs {name}: {TESTING_EXTRA}", name=exc.name)
