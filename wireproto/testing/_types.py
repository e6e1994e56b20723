"""The plain data the kit passes around: examples, read schedules, outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import accumulate

__all__ = ["Example", "Outcome", "ReadSchedule", "Stream"]

DEFAULT_INITIAL_BUFFER_SIZE = 16 * 1024


@dataclass(frozen=True, slots=True)
class ReadSchedule:
    """How the simulated transport reads: the receive buffer's initial size, then
    the most bytes each ``get_buffer``/``buffer_updated`` pair delivers.

    ``read_sizes`` is cycled; empty means "as much as the region and the
    arrived bytes allow", which is what asyncio does.
    """

    initial_buffer_size: int = DEFAULT_INITIAL_BUFFER_SIZE
    read_sizes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.initial_buffer_size < 1:
            raise ValueError("initial_buffer_size must be at least 1")
        if any(size < 1 for size in self.read_sizes):
            raise ValueError("read sizes must be at least 1")

    def describe(self) -> str:
        """A one-line, human-readable form."""
        sizes = ", ".join(map(str, self.read_sizes)) if self.read_sizes else "unlimited"
        return f"initial buffer {self.initial_buffer_size} bytes, read sizes {sizes}"


@dataclass(frozen=True, slots=True)
class Stream:
    """Bytes a client sends on one connection, with the message boundaries when known.

    ``boundaries`` are the offsets where a message ends (the last is
    ``len(data)`` for a stream of whole messages). ``messages`` holds the
    messages when they were built from a construct declaration (the
    round-trip check parses them again). ``valid`` marks a stream of whole,
    valid messages (built from the declaration, the corpus or ``grow``): the
    completeness check requires it to be detected, consumed to the last byte
    and, where the target declares replies, answered once per message.
    """

    data: bytes
    boundaries: tuple[int, ...] = ()
    messages: tuple[bytes, ...] = ()
    valid: bool = False

    @classmethod
    def of_messages(
        cls, messages: tuple[bytes, ...], *, built: bool = False, valid: bool = False
    ) -> Stream:
        """The stream of ``messages`` back to back; ``built``: they are declaration-built
        (and so valid); ``valid``: they are valid messages of another origin."""
        ends = tuple(accumulate(len(message) for message in messages))
        return cls(b"".join(messages), ends, messages if built else (), built or valid)


@dataclass(frozen=True, slots=True)
class Example:
    """One input to the checks: a stream, how it arrives, and how it is read.

    ``chunks`` are the sizes of the successive arrivals (they sum to
    ``len(stream)``): ``(len(stream),)`` is the whole stream at once,
    ``(1, 1, ...)`` a one-byte drip. ``boundaries``, ``messages`` and
    ``valid`` are the :class:`Stream`'s.
    """

    stream: bytes
    chunks: tuple[int, ...]
    schedule: ReadSchedule = field(default_factory=ReadSchedule)
    boundaries: tuple[int, ...] = ()
    messages: tuple[bytes, ...] = ()
    valid: bool = False

    def __post_init__(self) -> None:
        if sum(self.chunks) != len(self.stream) or any(size < 1 for size in self.chunks):
            raise ValueError(
                f"chunks {self.chunks!r} are not positive sizes summing to {len(self.stream)}"
            )

    @classmethod
    def whole(cls, stream: bytes | Stream, schedule: ReadSchedule | None = None) -> Example:
        """``stream`` arriving in one piece."""
        return cls.cut(stream, (len(_data(stream)),) if _data(stream) else (), schedule)

    @classmethod
    def drip(cls, stream: bytes | Stream, schedule: ReadSchedule | None = None) -> Example:
        """``stream`` arriving one byte at a time."""
        return cls.cut(stream, (1,) * len(_data(stream)), schedule)

    @classmethod
    def cut(
        cls,
        stream: bytes | Stream,
        chunks: tuple[int, ...],
        schedule: ReadSchedule | None = None,
    ) -> Example:
        """``stream`` arriving in ``chunks``."""
        schedule = schedule if schedule is not None else ReadSchedule()
        if isinstance(stream, Stream):
            return cls(
                stream.data, chunks, schedule, stream.boundaries, stream.messages, stream.valid
            )
        return cls(stream, chunks, schedule)

    @property
    def as_stream(self) -> Stream:
        """The stream this example cuts."""
        return Stream(self.stream, self.boundaries, self.messages, self.valid)

    @property
    def cut_points(self) -> tuple[int, ...]:
        """The offsets where one arrival ends and the next begins."""
        return tuple(accumulate(self.chunks))[:-1]

    def describe_cut(self) -> str:
        """The cut in words: whole, one-byte drip, or the cut offsets."""
        if len(self.chunks) <= 1:
            return "the whole stream in one piece"
        if all(size == 1 for size in self.chunks):
            return "a one-byte drip"
        points = ", ".join(map(str, self.cut_points))
        return f"cut at offsets {points} (chunk sizes {', '.join(map(str, self.chunks))})"


def _data(stream: bytes | Stream) -> bytes:
    return stream.data if isinstance(stream, Stream) else stream


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one connection did with a stream, as property 1 compares it.

    ``error`` is ``"TypeName: message"`` of the error that closed the
    connection, if any.
    """

    wire_format: str | None
    replies: bytes
    closed: bool
    close_reason: str | None
    error: str | None

    def describe(self) -> str:
        """A short summary for failure messages."""
        fmt = self.wire_format or "no format"
        state = f"closed ({self.close_reason})" if self.closed else "open"
        error = f", error {self.error}" if self.error else ""
        replies = _hex_preview(self.replies)
        return f"format {fmt}; {state}{error}; replies {len(self.replies)} bytes {replies}"


def _hex_preview(data: bytes, limit: int = 48) -> str:
    if not data:
        return "(none)"
    text = data[:limit].hex(" ")
    return text + (" ..." if len(data) > limit else "")
