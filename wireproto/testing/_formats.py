"""Which formats can claim the same first bytes: ``wireproto formats``, ``wireproto detect``
and the overlap warning of ``wireproto serve``.

Detection asks formats by descending priority, then registration order; a
stream two detectors both match goes to the first one asked. An overlap is
found by showing each format's corpus samples (the first bytes of each
stream of its corpus, from ``specs/<format>/corpus`` or the copies shipped
with the package) to every other format's detector.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from wireproto._detect import Verdict, WireFormat
from wireproto._errors import exception_text
from wireproto._registry import Registry
from wireproto.testing._target import load_corpus, packaged_corpus

__all__ = [
    "DetectRow",
    "Overlap",
    "corpora",
    "describe_detection",
    "describe_formats",
    "find_overlaps",
]

_SAMPLE_BYTES = 16 * 1024
"""A sample is a corpus stream's first bytes, as much as detection sees by default."""


@dataclass(frozen=True, slots=True)
class Overlap:
    """``other`` matches ``sample``, a sample of ``owner``'s corpus."""

    owner: str
    other: str
    sample: bytes
    winner: str
    by_order: bool
    """True when the two priorities are equal, so registration order picks the winner."""

    def describe(self) -> str:
        """One line."""
        why = (
            "equal priorities: the one registered first wins"
            if self.by_order
            else "the higher priority wins"
        )
        return (
            f"{self.other} also matches {self.owner}'s corpus sample {self.sample[:24]!r}: "
            f"{self.winner} gets such streams ({why})"
        )


def corpora(registry: Registry, root: str | Path | None = None) -> dict[str, tuple[bytes, ...]]:
    """Each registered format's corpus: ``specs/<name>/corpus`` under ``root`` (default: the
    current directory) when it exists, else the copy shipped with the package, if any."""
    base = Path(root) if root is not None else Path.cwd()
    found: dict[str, tuple[bytes, ...]] = {}
    for wire_format in registry.formats:
        folder = base / "specs" / wire_format.name / "corpus"
        streams = load_corpus(folder) if folder.is_dir() else packaged_corpus(wire_format.name)
        if streams:
            found[wire_format.name] = streams
    return found


def _verdict(wire_format: WireFormat, data: bytes) -> Verdict | str:
    try:
        verdict = wire_format.detector(data)
    except Exception as exc:  # reported, not raised: these are diagnostics
        return f"raised {exception_text(exc)}"
    return verdict if isinstance(verdict, Verdict) else f"returned {verdict!r}"


def find_overlaps(registry: Registry, samples: Mapping[str, Iterable[bytes]]) -> list[Overlap]:
    """Every (format, other format) pair where the other matches a sample of the format's
    corpus; one sample per pair."""
    formats = registry.formats
    rank = {wire_format.name: index for index, wire_format in enumerate(formats)}
    found: list[Overlap] = []
    for owner in formats:
        streams = [stream[:_SAMPLE_BYTES] for stream in samples.get(owner.name, ())]
        for other in formats:
            if other == owner:
                continue
            sample = next(
                (data for data in streams if _verdict(other, data) is Verdict.MATCH), None
            )
            if sample is None:
                continue
            winner = owner if rank[owner.name] < rank[other.name] else other
            by_order = owner.priority == other.priority
            found.append(Overlap(owner.name, other.name, sample, winner.name, by_order))
    return found


def _qualified(value: object) -> str:
    kind = value if isinstance(value, type) else type(value)
    name = getattr(value, "__qualname__", None) or kind.__qualname__
    module = getattr(value, "__module__", None) or kind.__module__
    return f"{module}.{name}"


def describe_formats(registry: Registry, samples: Mapping[str, Iterable[bytes]]) -> list[str]:
    """``wireproto formats``: one block per format in detection order, then the overlaps."""
    overlaps = find_overlaps(registry, samples)
    lines = [f"{len(registry)} formats, in detection order (higher priority first):"]
    for wire_format in registry.formats:
        provider = registry.provider(wire_format)
        claims = sorted({o.other for o in overlaps if o.owner == wire_format.name})
        claimed = sorted({o.owner for o in overlaps if o.other == wire_format.name})
        corpus = len(tuple(samples.get(wire_format.name, ())))
        lines += [
            f"{wire_format.name}",
            f"  priority:  {wire_format.priority}",
            f"  provider:  {_qualified(provider)}",
            f"  detector:  {_qualified(wire_format.detector)}",
            f"  corpus:    {corpus} streams"
            if corpus
            else "  corpus:    none (overlaps with its bytes are not checked)",
            f"  its first bytes may also be claimed by: {', '.join(claims) or 'none seen'}",
            f"  it may also claim the first bytes of:   {', '.join(claimed) or 'none seen'}",
        ]
    if overlaps:
        lines.append("overlaps:")
        lines += [f"  {overlap.describe()}" for overlap in overlaps]
    return lines


@dataclass(frozen=True, slots=True)
class DetectRow:
    """One format's verdict on some bytes."""

    name: str
    priority: int
    verdict: str


def describe_detection(registry: Registry, data: bytes) -> list[str]:
    """``wireproto detect``: each format's verdict in the order asked, the winner and why."""
    rows = []
    for wire_format in registry.formats:
        verdict = _verdict(wire_format, data)
        shown = verdict.value if isinstance(verdict, Verdict) else verdict
        rows.append(DetectRow(wire_format.name, wire_format.priority, shown))
    width = max((len(row.name) for row in rows), default=0)
    lines = [f"{len(data)} bytes: {data[:48]!r}{' ...' if len(data) > 48 else ''}"]
    lines += [f"  {row.name:<{width}}  priority {row.priority:>3}  {row.verdict}" for row in rows]
    try:
        detection = registry.detect(data)
    except Exception as exc:
        lines.append(f"no winner: detection raised {exception_text(exc)}")
        return lines
    match = [row for row in rows if row.verdict == Verdict.MATCH.value]
    if detection.wire_format is not None:
        winner = detection.wire_format
        reasons = [
            f"priority {winner.priority} > {row.priority} of {row.name}"
            if winner.priority > row.priority
            else f"registered before {row.name} at the same priority {row.priority}"
            for row in match
            if row.name != winner.name
        ]
        why = "; ".join(reasons) if reasons else "the only format that matches"
        lines.append(f"winner: {winner.name} ({why})")
    elif detection.verdict is Verdict.NEED_MORE:
        waiting = [row.name for row in rows if row.verdict == Verdict.NEED_MORE.value]
        held = f"; {match[0].name} matches but is asked after them" if match else ""
        lines.append(f"no winner yet: {', '.join(waiting)} need more bytes to decide{held}")
    else:
        lines.append("no format matches: the connection would be closed (no-match)")
    return lines
