"""Hypothesis strategies for stream parsers: cuts, read schedules, streams, construct messages.

Importing this module imports Hypothesis; ``import wireproto.testing`` alone
does not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from wireproto.testing._errors import missing_extra

try:
    from hypothesis import assume
    from hypothesis import strategies as st
except ModuleNotFoundError as exc:
    raise missing_extra(exc) from None

from wireproto.testing._construct import Chooser, T, generate, grow_function
from wireproto.testing._types import Example, ReadSchedule, Stream

if TYPE_CHECKING:
    import construct

    from wireproto.testing._properties import Seeds
    from wireproto.testing._target import FuzzTarget

__all__ = [
    "Built",
    "buffer_schedules",
    "chunkings",
    "examples",
    "from_construct",
    "grown_streams",
    "mutated",
    "streams",
    "target_streams",
]


@dataclass(frozen=True, slots=True)
class Built:
    """A value of a construct declaration and the bytes it builds to."""

    value: Any
    data: bytes


def _sizes(length: int, points: Sequence[int]) -> tuple[int, ...]:
    edges = [0, *sorted(set(points)), length]
    return tuple(b - a for a, b in pairwise(edges) if b > a)


def chunkings(
    data: bytes | Stream, boundaries: Sequence[int] | None = None, *, max_cuts: int = 16
) -> st.SearchStrategy[tuple[int, ...]]:
    """Ways ``data`` can arrive, as chunk sizes summing to ``len(data)``.

    Draws the whole stream in one piece, random cut points, a cut at every
    message boundary (and just before or after some), or a one-byte drip.
    ``boundaries`` default to a :class:`Stream`'s. Shrinks towards fewer cuts.
    """
    raw = data.data if isinstance(data, Stream) else data
    ends = tuple(boundaries) if boundaries is not None else (
        data.boundaries if isinstance(data, Stream) else ()
    )  # fmt: skip
    length = len(raw)
    if length == 0:
        return st.just(())
    if length == 1:
        return st.just((1,))
    options: list[st.SearchStrategy[tuple[int, ...]]] = [
        st.just((length,)),
        st.lists(st.integers(1, length - 1), max_size=min(max_cuts, length - 1)).map(
            lambda points: _sizes(length, points)
        ),
    ]
    inner = sorted({end for end in ends if 0 < end < length})
    if inner:
        near = sorted(
            {end + step for end in inner for step in (-1, 0, 1) if 0 < end + step < length}
        )
        options.append(st.just(_sizes(length, inner)))
        options.append(
            st.lists(st.sampled_from(near), min_size=1, max_size=max_cuts).map(
                lambda points: _sizes(length, points)
            )
        )
    options.append(st.just((1,) * length))
    return st.one_of(options)


def buffer_schedules(*, max_read_size: int = 64) -> st.SearchStrategy[ReadSchedule]:
    """Receive-buffer initial sizes and per-read size caps for ``get_buffer``/``buffer_updated``.

    Shrinks towards the default (16 KiB buffer, unlimited reads).
    """
    initial = st.sampled_from([16 * 1024, 1, 2, 3, 8, 64, 1024])
    sizes = st.lists(
        st.one_of(st.integers(1, max_read_size), st.sampled_from([4096, 65536])), max_size=6
    ).map(tuple)
    return st.builds(ReadSchedule, initial, sizes)


class _DrawChooser:
    """Feeds the construct walker from Hypothesis draws, so examples shrink."""

    def __init__(self, draw: st.DrawFn) -> None:
        self._draw = draw

    def integer(self, low: int, high: int) -> int:
        return self._draw(st.integers(low, high))

    def binary(self, min_size: int, max_size: int) -> bytes:
        return self._draw(st.binary(min_size=min_size, max_size=max_size))

    def text(self, max_size: int, *, ascii_only: bool, forbid_nul: bool) -> str:
        alphabet = st.characters(
            codec="ascii" if ascii_only else "utf-8",
            exclude_characters="\x00" if forbid_nul else None,
        )
        return self._draw(st.text(alphabet, max_size=max_size))

    def floating(self, width: int) -> float:
        return self._draw(st.floats(width=width, allow_nan=False))  # type: ignore[arg-type]

    def pick(self, options: Sequence[T]) -> T:
        return self._draw(st.sampled_from(options))

    def flag(self) -> bool:
        return self._draw(st.booleans())

    def keep(self) -> bool:
        return self._draw(st.booleans())


def from_construct(
    declaration: construct.Construct[Any, Any], *, max_field_size: int = 32, max_items: int = 4
) -> st.SearchStrategy[Built]:
    """Valid values of ``declaration`` with their built bytes.

    Length prefixes (``Prefixed``, ``PrefixedArray``, ``Rebuild``) are
    computed by construct when building, so the bytes are always
    well-formed. Variable-size fields hold at most ``max_field_size`` bytes,
    repeated fields at most ``max_items`` items. Raises
    ``UnsupportedConstructError`` (a ``ValueError``) on first use if the
    declaration holds a construct the generator does not know.
    """

    @st.composite
    def built(draw: st.DrawFn) -> Built:
        chooser: Chooser = _DrawChooser(draw)
        value = generate(declaration, chooser, max_field_size=max_field_size, max_items=max_items)
        try:
            data = declaration.build(value)
        except Exception:  # e.g. a string longer than a tiny length field allows
            assume(False)
            raise
        return Built(value, data)

    return built()


def _to_stream(items: list[Any]) -> Stream:
    if items and isinstance(items[0], Built):
        return Stream.of_messages(tuple(item.data for item in items), built=True)
    return Stream.of_messages(tuple(items))


def streams(
    messages: Sequence[bytes] | st.SearchStrategy[bytes] | st.SearchStrategy[Built],
    *,
    min_messages: int = 1,
    max_messages: int = 6,
) -> st.SearchStrategy[Stream]:
    """Streams of messages back to back, with their boundaries.

    ``messages`` is a list of messages to pick from (with repetition), or a
    strategy of messages; with :func:`from_construct`, the streams carry
    their messages and are treated as valid by the round-trip check.
    """
    if isinstance(messages, st.SearchStrategy):
        items: st.SearchStrategy[Any] = messages
    else:
        choices = list(messages)
        if not choices:
            raise ValueError("streams() needs at least one message")
        items = st.sampled_from(choices)
    return st.lists(items, min_size=min_messages, max_size=max_messages).map(_to_stream)


_EDGE_SIZES = (126, 127, 128, 129, 130, 131, 254, 255, 256, 257, 258)

_EDITS = ("flip", "truncate", "delete", "insert", "duplicate", "set")


def mutated(base: st.SearchStrategy[Stream], *, max_edits: int = 3) -> st.SearchStrategy[Stream]:
    """``base`` streams with a few byte-level edits: flips, cuts, deletions, insertions."""

    @st.composite
    def edit(draw: st.DrawFn) -> Stream:
        stream = draw(base)
        data = bytearray(stream.data)
        first = len(data)
        for _ in range(draw(st.integers(1, max_edits))):
            kind = draw(st.sampled_from(_EDITS))
            size = len(data)
            at = draw(st.integers(0, size))
            first = min(first, at)
            if kind == "flip" and at < size:
                data[at] ^= draw(st.integers(1, 255))
            elif kind == "set" and at < size:
                data[at] = draw(st.sampled_from([0, 0x7F, 0x80, 0xFF, 0x0A, 0x0D]))
            elif kind == "truncate":
                del data[at:]
            elif kind == "delete":
                del data[at : at + draw(st.integers(1, 8))]
            elif kind == "insert":
                data[at:at] = draw(st.binary(min_size=1, max_size=8))
            elif kind == "duplicate":
                data[at:at] = data[at : at + draw(st.integers(1, 16))]
        kept = tuple(end for end in stream.boundaries if end <= first)
        return Stream(bytes(data), kept)

    return edit()


def examples(
    stream_strategy: st.SearchStrategy[Stream | bytes],
    *,
    schedules: st.SearchStrategy[ReadSchedule] | None = None,
) -> st.SearchStrategy[Example]:
    """Examples: a stream from ``stream_strategy``, a chunking of it, a read schedule."""
    schedule_strategy = schedules if schedules is not None else buffer_schedules()

    @st.composite
    def example(draw: st.DrawFn) -> Example:
        drawn = draw(stream_strategy)
        stream = drawn if isinstance(drawn, Stream) else Stream(drawn)
        chunks = draw(chunkings(stream))
        return Example.cut(stream, chunks, draw(schedule_strategy))

    return example()


_GROWN_MAX = 2048
"""The largest message :func:`grown_streams` asks ``grow`` for (the limit permitting)."""


def grown_streams(
    grow: Callable[[int], bytes], max_size: int, *, max_messages: int = 4
) -> st.SearchStrategy[Stream]:
    """Valid streams of 1 to ``max_messages`` messages made by ``grow(n)``, of varied sizes:
    small, up to ``max_size`` (capped at 2048), and where length prefixes change width.

    For targets that give only ``grow`` (stateful consumers, formats without a
    declaration): the completeness check then applies to every one.
    """
    top = max(0, min(max_size, _GROWN_MAX))
    edges = [size for size in (0, 1, 2, *_EDGE_SIZES, top - 1, top) if 0 <= size <= top]
    sizes = st.one_of(st.integers(0, min(top, 32)), st.integers(0, top), st.sampled_from(edges))
    made: dict[int, bytes] = {}

    def message(size: int) -> bytes:
        if size not in made:
            made[size] = grow(size)
        return made[size]

    return st.lists(sizes, min_size=1, max_size=max_messages).map(
        lambda chosen: Stream.of_messages(tuple(message(size) for size in chosen), valid=True)
    )


def target_streams(
    target: FuzzTarget, seeds: Seeds | None = None, *, max_noise: int = 48
) -> st.SearchStrategy[Stream]:
    """Streams for ``target``: noise after a known message prefix, corpus frames recombined,
    declaration-built messages, ``grow``-built messages, and mutations of those."""
    from wireproto.testing._target import target_grow, target_limits  # noqa: PLC0415

    raw: list[st.SearchStrategy[Stream]] = [st.binary(max_size=max_noise).map(Stream)]
    if seeds is not None and seeds.prefixes:
        raw.insert(
            0,
            st.tuples(st.sampled_from(seeds.prefixes), st.binary(max_size=max_noise)).map(
                lambda parts: Stream(parts[0] + parts[1])
            ),
        )
    valid: list[st.SearchStrategy[Stream]] = []
    if seeds is not None and seeds.frames:
        # Not marked valid: a frame cut out of a session may need the frames before it.
        valid.append(streams(seeds.frames))
    if seeds is not None and seeds.streams:
        valid.append(st.sampled_from(seeds.streams))
    if target.message is not None:
        valid.append(streams(from_construct(target.message)))
        grow = grow_function(target.message)
        if grow is not None:
            # Where length prefixes change width (varints at 128, one byte at 256).
            sized = sorted({len(grow(size)): grow(size) for size in _EDGE_SIZES}.items())
            edges = [Stream.of_messages((data,), built=True) for _, data in sized]
            valid.append(st.sampled_from(edges))
    grow = target_grow(target)
    if grow is not None:
        valid.append(grown_streams(grow, target_limits(target).max_message_size))
    if not valid:
        return st.one_of(raw)
    return st.one_of(*raw, *valid, mutated(st.one_of(valid)))
