"""Wire formats and the detection of a connection's format from its first bytes."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

__all__ = [
    "Detection",
    "Detector",
    "Verdict",
    "WireFormat",
    "detect",
    "match_any",
    "match_prefix",
]


class Verdict(enum.Enum):
    """A detector's answer about the bytes received so far."""

    MATCH = "match"
    NO_MATCH = "no-match"
    NEED_MORE = "need-more"


Detector = Callable[[bytes], Verdict]
"""A pure function of the bytes received so far.

Once it answers ``MATCH`` or ``NO_MATCH`` for some bytes, it must give the same
answer for every extension of those bytes.
"""


@dataclass(frozen=True, slots=True)
class WireFormat:
    """An open, hashable identity for a wire format: users define their own.

    Two formats are equal when their names are equal. Higher ``priority`` is
    asked first; among equal priorities, registration order decides.
    """

    name: str
    detector: Detector = field(compare=False, repr=False)
    priority: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if not self.name or not self.name.isprintable() or " " in self.name:
            raise ValueError(f"invalid wire format name {self.name!r}")


@dataclass(frozen=True, slots=True)
class Detection:
    """The outcome of detection over several formats.

    ``wire_format`` is set exactly when ``verdict`` is ``MATCH``.
    """

    verdict: Verdict
    wire_format: WireFormat | None = None


NEED_MORE = Detection(Verdict.NEED_MORE)
NO_MATCH = Detection(Verdict.NO_MATCH)


def detect(formats: Iterable[WireFormat], data: bytes) -> Detection:
    """Run detectors in the given order (highest priority first) over ``data``.

    The first ``MATCH`` wins unless a format asked before it still needs more
    bytes: then the answer is ``NEED_MORE``, so a catch-all never wins while a
    more specific format is undecided. This keeps the answer stable as bytes
    arrive, provided each detector is.
    """
    undecided = False
    for wire_format in formats:
        verdict = wire_format.detector(data)
        if verdict is Verdict.MATCH:
            return NEED_MORE if undecided else Detection(Verdict.MATCH, wire_format)
        if verdict is Verdict.NEED_MORE:
            undecided = True
        elif verdict is not Verdict.NO_MATCH:
            raise TypeError(f"detector of {wire_format.name!r} returned {verdict!r}, not a Verdict")
    return NEED_MORE if undecided else NO_MATCH


def match_prefix(*prefixes: bytes) -> Detector:
    """A detector that matches streams starting with any of ``prefixes``."""
    if not prefixes or any(not prefix for prefix in prefixes):
        raise ValueError("match_prefix needs non-empty prefixes")

    def detector(data: bytes) -> Verdict:
        if data.startswith(prefixes):
            return Verdict.MATCH
        if any(prefix.startswith(data) for prefix in prefixes):
            return Verdict.NEED_MORE
        return Verdict.NO_MATCH

    return detector


def match_any(data: bytes) -> Verdict:
    """A catch-all detector: matches as soon as there is one byte."""
    return Verdict.MATCH if data else Verdict.NEED_MORE
