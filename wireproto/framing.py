"""Framing: find whole frames in a byte stream, then parse each once with construct.

A :class:`Framer` looks at the unread bytes of one connection and says where
the frame at their head ends, or that more bytes are needed. It decides from
the header alone (never by catching construct's ``StreamError`` and parsing
again from the start, which is quadratic when bytes drip in), and it checks a
declared length against its cap as soon as the header is there, before
anything is allocated for the body. :class:`FramedConsumer` turns a framer
and a handler into a session; :class:`FramedProvider` turns them into a
provider. Messages are parsed by functions generated from their construct
declaration (:func:`compile_construct`); construct's own compiled mode is
refused: it is documented as unsafe on untrusted input.
"""

from __future__ import annotations

import re
import struct
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import construct

from wireproto._construct_compile import (
    ZERO_COPY_MIN,
    CompiledConstruct,
    compile_construct,
    loop_text,
)
from wireproto._construct_emit import emit_module
from wireproto._errors import ContractError, ProtocolError
from wireproto._session import BytesLike, Limits, NetworkSender

if TYPE_CHECKING:
    from wireproto._detect import WireFormat

__all__ = [
    "CompiledConstruct",
    "DelimiterFramer",
    "FixedSizeFramer",
    "FrameSpan",
    "FramedConsumer",
    "FramedProvider",
    "Framer",
    "Handler",
    "LengthFieldFramer",
    "SessionHook",
    "VarintFramer",
    "compile_construct",
    "precompiled_loops",
]

Handler = Callable[[Any, NetworkSender], "BytesLike | None"]
"""Called with each parsed message (or payload ``bytes``) and the session's sender.

It returns its reply (queued with the other replies of the same read and
sent with them, one ``send`` per read), or None after sending through the
sender itself (or when there is nothing to answer).
"""


class FrameSpan(NamedTuple):
    """Where the frame at the head of the data lies (offsets from the head).

    A named tuple rather than a frozen dataclass: one is built per frame, and
    a tuple is built several times faster.
    """

    payload_start: int
    payload_end: int
    frame_end: int
    """Bytes the whole frame occupies from the head."""


class Framer(Protocol):
    """Finds frame boundaries in one stream.

    Stateful per stream: create one per session. ``data`` is a 1-D view of
    unsigned bytes starting at a frame boundary. After :meth:`next_frame`
    returns ``None``, the next call must be given data starting at the same
    offset (the same incomplete frame with more bytes appended); after it
    returns a span, the next call starts at ``frame_end``.
    """

    @property
    def max_frame_size(self) -> int:
        """The size cap this framer enforces (each framer says what it bounds)."""
        ...

    def next_frame(self, data: memoryview, /) -> FrameSpan | None:
        """The span of the frame at the head of ``data``, or ``None`` to wait for more.

        Raises :class:`~wireproto._errors.ProtocolError` on a malformed or
        oversized frame, as early as the bytes prove it.
        """
        ...


def _refuse_compiled(con: construct.Construct[Any, Any], what: str) -> None:
    if isinstance(con, construct.Compiled):
        raise ValueError(
            f"{what} is a compiled construct: compiled mode returns short data on truncated "
            "input and must never parse network input; pass the declaration instead"
        )


def _unwrap_renamed(con: construct.Construct[Any, Any]) -> construct.Construct[Any, Any]:
    while isinstance(con, construct.Renamed):
        con = con.subcon
    return con


_NATIVE_ORDER = "<" if sys.byteorder == "little" else ">"
_INT_CODES = frozenset("bBhHlLqQ")


@dataclass(frozen=True, slots=True)
class _StructPlan:
    """A header decoded by one ``struct.Struct``: where the length is, what must match."""

    layout: struct.Struct
    length_index: int
    consts: tuple[tuple[int, str, Any], ...]  # (tuple index, field name, expected value)


def _field_code(con: construct.Construct[Any, Any]) -> tuple[str, str] | None:
    """``(byte order or "", struct code)`` for a field struct can decode, else None."""
    con = _unwrap_renamed(con)
    if isinstance(con, construct.FormatField):
        order, code = con.fmtstr[0], con.fmtstr[1:]
        if con.length == 1:
            return "", code
        return (_NATIVE_ORDER if order == "=" else order), code
    if isinstance(con, construct.Bytes) and type(con.length) is int:
        return "", f"{con.length}s"
    return None


def _plan_header(header: construct.Struct, length_field: str, size: int) -> _StructPlan | None:
    """Derive one ``struct.Struct`` for ``header``, or None when a field does not map."""
    order = ""
    codes: list[str] = []
    consts: list[tuple[int, str, Any]] = []
    length_index = -1
    index = 0
    for sub in header.subcons:
        name = sub.name
        con = _unwrap_renamed(sub)
        if (
            isinstance(con, construct.Padded)
            and con.subcon is construct.Pass
            and type(con.length) is int
        ):
            codes.append(f"{con.length}x")  # read and discarded, as Padded parses
            continue
        const: construct.Const[Any, Any] | None = None
        if isinstance(con, construct.Const):
            if name == length_field:
                return None
            const = con
            inner = _unwrap_renamed(con.subcon)
        elif isinstance(con, construct.Enum):
            inner = _unwrap_renamed(con.subcon)  # the framer only needs the raw integer
        else:
            inner = con
        mapped = _field_code(inner)
        if mapped is None:
            return None
        field_order, code = mapped
        if field_order:
            if order and field_order != order:
                return None  # mixed byte orders: no single struct
            order = field_order
        if name == length_field:
            if inner is not con or code not in _INT_CODES:
                return None  # an Enum or non-integer length: let construct decide
            length_index = index
        if const is not None:
            consts.append((index, name or "constant", const.value))
        codes.append(code)
        index += 1
    if length_index < 0:
        return None
    layout = struct.Struct((order or ">") + "".join(codes))
    if layout.size != size:
        return None
    return _StructPlan(layout, length_index, tuple(consts))


class LengthFieldFramer:
    """Frames that start with a fixed-size header holding the body's length.

    ``header`` is a construct ``Struct`` of fixed size; ``length_field`` names
    the field holding the length of the body (or of the whole frame when
    ``length_includes_header``). The span covers the whole frame as the
    payload (``payload_start == 0``), so one message declaration can parse
    header and body together. ``max_frame_size`` caps the whole frame, header
    included; it is checked as soon as the header is complete.

    When the header is made only of struct-mappable fields (``FormatField``
    integers and floats, ``Bytes(n)``, ``Const`` over those, ``Padding(n)``,
    ``Enum`` over a ``FormatField``), one ``struct.Struct`` decodes it and
    ``Const`` fields are checked at once; otherwise construct parses it.
    """

    __slots__ = (
        "_const_index",
        "_const_value",
        "_consts",
        "_header",
        "_header_size",
        "_includes_header",
        "_layout",
        "_length_field",
        "_length_index",
        "_max",
        "_message",
        "_pending_end",
        "_simple",
    )

    def __init__(
        self,
        header: construct.Construct[Any, Any],
        length_field: str,
        *,
        length_includes_header: bool = False,
        max_frame_size: int = 1 << 20,
    ) -> None:
        _refuse_compiled(header, "the header")
        try:
            size = header.sizeof()
        except (construct.ConstructError, KeyError, AttributeError, TypeError) as exc:
            raise ValueError(f"the header must have a fixed size: {exc}") from exc
        struct_con = _unwrap_renamed(header)
        if not isinstance(struct_con, construct.Struct):
            raise ValueError("the header must be a construct Struct")
        if all(sub.name != length_field for sub in struct_con.subcons):
            raise ValueError(f"the header has no field named {length_field!r}")
        if size < 1:
            raise ValueError("the header must be at least one byte long")
        if max_frame_size < size:
            raise ValueError(f"max_frame_size {max_frame_size} is smaller than the header")
        self._header = header
        self._header_size = size
        self._length_field = length_field
        self._includes_header = length_includes_header
        self._max = max_frame_size
        self._pending_end = 0  # frame end of a header already parsed, while its body arrives
        self._message: construct.Construct[Any, Any] | None = None  # set by from_message
        plan = _plan_header(struct_con, length_field, size)
        self._layout = plan.layout if plan is not None else None
        self._length_index = plan.length_index if plan is not None else -1
        self._consts = plan.consts if plan is not None else ()
        self._simple = plan is not None and len(self._consts) <= 1 and not length_includes_header
        self._const_index = self._consts[0][0] if self._consts else -1
        self._const_value = self._consts[0][2] if self._consts else None

    @classmethod
    def from_message(
        cls, message: construct.Construct[Any, Any], *, max_frame_size: int = 1 << 20
    ) -> LengthFieldFramer:
        """A framer for ``message``, a ``Struct`` of fixed-size fields then a ``Prefixed`` body.

        The header is the fields before the ``Prefixed`` one plus its length
        field, so it is declared once: the message both frames and parses
        (and builds replies). Only zero-size fields (``Terminated``) may follow
        the body.
        """
        _refuse_compiled(message, "the message")
        struct_con = _unwrap_renamed(message)
        if not isinstance(struct_con, construct.Struct):
            raise ValueError("the message must be a construct Struct")
        subcons = list(struct_con.subcons)
        body_index = next(
            (
                i
                for i, sub in enumerate(subcons)
                if isinstance(_unwrap_renamed(sub), construct.Prefixed)
            ),
            -1,
        )
        if body_index < 0:
            raise ValueError("the message has no Prefixed field to take the length from")
        body = _unwrap_renamed(subcons[body_index])
        assert isinstance(body, construct.Prefixed)
        if body.includelength:
            raise ValueError("a Prefixed body that counts its own length field is not supported")
        for sub in subcons[body_index + 1 :]:
            if not isinstance(_unwrap_renamed(sub), type(construct.Terminated)):
                raise ValueError(
                    f"field {sub.name!r} follows the Prefixed body: the length must end the frame"
                )
        name = subcons[body_index].name or "length"
        header = construct.Struct(*subcons[:body_index], name / body.lengthfield)
        framer = cls(header, name, max_frame_size=max_frame_size)
        framer._message = message
        return framer

    @property
    def max_frame_size(self) -> int:
        """The largest whole frame (header and body) accepted."""
        return self._max

    @property
    def header_size(self) -> int:
        """The header's size in bytes."""
        return self._header_size

    @property
    def uses_fast_path(self) -> bool:
        """True when one ``struct.Struct`` decodes the header instead of construct."""
        return self._layout is not None

    def next_frame(self, data: memoryview, /) -> FrameSpan | None:
        """See :meth:`Framer.next_frame`."""
        end = self._pending_end
        if not end:
            if len(data) < self._header_size:
                return None
            end = self._frame_end(data)
            if len(data) < end:
                self._pending_end = end
                return None
        elif len(data) < end:
            return None
        else:
            self._pending_end = 0
        return FrameSpan(0, end, end)

    def frame_end_at(self, data: memoryview, offset: int, /) -> int:
        """Where the frame starting at ``offset`` ends (absolute), or 0 to wait for more.

        :meth:`next_frame` without a view per frame, for consumers that walk
        one buffer: the same checks, the same state.
        """
        end = self._pending_end
        size = len(data) - offset
        if not end:
            if size < self._header_size:
                return 0
            if self._simple:  # the struct fast path, one constant at most: inlined
                values = self._layout.unpack_from(data, offset)  # type: ignore[union-attr]
                if self._const_index >= 0 and values[self._const_index] != self._const_value:
                    end = self._frame_end(data, offset)  # raises the error
                end = self._header_size + values[self._length_index]
                if end > self._max:
                    raise ProtocolError(f"frame of {end} bytes exceeds the {self._max}-byte limit")
            else:
                end = self._frame_end(data, offset)
            if size < end:
                self._pending_end = end
                return 0
            return offset + end
        if size < end:
            return 0
        self._pending_end = 0
        return offset + end

    def _frame_end(self, data: memoryview, offset: int = 0) -> int:
        length: int
        layout = self._layout
        if layout is not None:
            values = layout.unpack_from(data, offset)
            for index, name, expected in self._consts:
                if values[index] != expected:
                    raise ProtocolError(
                        f"bad {name} in frame header: expected {expected!r}, got {values[index]!r}"
                    )
            length = values[self._length_index]
        else:
            try:
                parsed = self._header.parse(bytes(data[offset : offset + self._header_size]))
            except construct.ConstructError as exc:
                raise ProtocolError(f"malformed frame header: {exc}") from None
            # object, not int: an Enum length parses to an EnumIntegerString (a str),
            # which a compiled (mypyc) int variable would refuse before the check below.
            raw: object = parsed[self._length_field]
            if isinstance(raw, construct.EnumIntegerString):
                length = int(raw)  # its __int__ gives the raw value
            elif isinstance(raw, int):
                length = raw
            else:
                raise TypeError(f"length field {self._length_field!r} parsed to {raw!r}")
        if self._includes_header:
            if length < self._header_size:
                raise ProtocolError(
                    f"declared frame length {length} is shorter than the "
                    f"{self._header_size}-byte header"
                )
            end = length
        else:
            if length < 0:
                raise ProtocolError(f"negative declared body length {length}")
            end = self._header_size + length
        if end > self._max:
            raise ProtocolError(f"frame of {end} bytes exceeds the {self._max}-byte limit")
        return end


_VARINT_MAX_BYTES = 5


class VarintFramer:
    """Frames of a LEB128 varint length prefix (as ``construct.VarInt`` builds it), then a payload.

    ``max_frame_size`` caps the *payload* length; the whole frame is at most
    five bytes longer. The prefix is at most five bytes (lengths below 2**35).
    """

    __slots__ = ("_max", "_pending_end", "_pending_start")

    def __init__(self, *, max_frame_size: int = 1 << 20) -> None:
        if max_frame_size < 0:
            raise ValueError("max_frame_size must not be negative")
        self._max = max_frame_size
        self._pending_start = 0
        self._pending_end = 0

    @property
    def max_frame_size(self) -> int:
        """The largest payload accepted (the prefix is not counted)."""
        return self._max

    def next_frame(self, data: memoryview, /) -> FrameSpan | None:
        """See :meth:`Framer.next_frame`."""
        size = len(data)
        end = self._pending_end
        if end:
            if size < end:
                return None
            self._pending_end = 0
            return FrameSpan(self._pending_start, end, end)
        if not size:
            return None
        byte = data[0]
        length = byte & 0x7F
        start = 1
        shift = 7
        while byte & 0x80:
            if start == _VARINT_MAX_BYTES:
                raise ProtocolError(f"varint length prefix longer than {_VARINT_MAX_BYTES} bytes")
            if start == size:
                return None
            byte = data[start]
            length |= (byte & 0x7F) << shift
            start += 1
            shift += 7
        if length > self._max:
            raise ProtocolError(f"payload of {length} bytes exceeds the {self._max}-byte limit")
        end = start + length
        if size < end:
            self._pending_start = start
            self._pending_end = end
            return None
        return FrameSpan(start, end, end)


class DelimiterFramer:
    """Lines ended by ``delimiter``; the payload is the line without it.

    Each byte is searched once across calls: the framer remembers where its
    search stopped and only looks back ``len(delimiter) - 1`` bytes, for a
    delimiter split across reads. A line of ``max_line_length`` bytes is
    accepted; a longer one is a ``ProtocolError`` as soon as
    ``max_line_length + len(delimiter)`` bytes hold no delimiter.
    """

    __slots__ = ("_bytes_scanned", "_delimiter", "_limit", "_max_line", "_scanned", "_search")

    def __init__(self, delimiter: bytes = b"\r\n", *, max_line_length: int = 64 * 1024) -> None:
        if not delimiter:
            raise ValueError("the delimiter must not be empty")
        if max_line_length < 0:
            raise ValueError("max_line_length must not be negative")
        self._delimiter = bytes(delimiter)
        self._max_line = max_line_length
        self._limit = max_line_length + len(delimiter)
        # re searches any buffer in place, between two offsets: no copy of the view.
        self._search = re.compile(re.escape(self._delimiter)).search
        self._scanned = 0  # bytes of the current line already searched
        self._bytes_scanned = 0

    @property
    def bytes_scanned(self) -> int:
        """Bytes handed to the search so far, look-back included: at most
        ``len(delimiter)`` times the bytes received, however they were cut."""
        return self._bytes_scanned

    @property
    def delimiter(self) -> bytes:
        """The bytes that end a line."""
        return self._delimiter

    @property
    def max_line_length(self) -> int:
        """The longest line accepted, delimiter not counted."""
        return self._max_line

    @property
    def max_frame_size(self) -> int:
        """The largest whole frame: the longest line plus the delimiter."""
        return self._limit

    def next_frame(self, data: memoryview, /) -> FrameSpan | None:
        """See :meth:`Framer.next_frame`."""
        scanned = self._scanned
        size = len(data)
        if size < scanned:
            raise ContractError("DelimiterFramer was given less data than before")
        end = size if size < self._limit else self._limit
        if end > scanned:
            width = len(self._delimiter)
            start = scanned - width + 1 if scanned >= width else 0
            # Fewer than len(delimiter) bytes cannot hold one; the look-back covers them later.
            if end - start >= width:
                match = self._search(data, start, end)
                if match is not None:
                    line_end = match.start()
                    del match  # it refers to the view
                    frame_end = line_end + width
                    self._bytes_scanned += frame_end - start
                    self._scanned = 0
                    return FrameSpan(0, line_end, frame_end)
                self._bytes_scanned += end - start
            self._scanned = end
        if end >= self._limit:
            raise ProtocolError(f"line longer than the {self._max_line}-byte limit")
        return None


class FixedSizeFramer:
    """Frames of one fixed size; the payload is the whole frame."""

    __slots__ = ("_size", "_span")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("the frame size must be at least 1")
        self._size = size
        self._span = FrameSpan(0, size, size)

    @classmethod
    def from_construct(cls, con: construct.Construct[Any, Any]) -> FixedSizeFramer:
        """A framer for ``con``'s fixed size (ValueError if it has none)."""
        _refuse_compiled(con, "the construct")
        try:
            size = con.sizeof()
        except (construct.ConstructError, KeyError, AttributeError, TypeError) as exc:
            raise ValueError(f"the construct must have a fixed size: {exc}") from exc
        return cls(size)

    @property
    def max_frame_size(self) -> int:
        """The frame size."""
        return self._size

    def next_frame(self, data: memoryview, /) -> FrameSpan | None:
        """See :meth:`Framer.next_frame`."""
        return self._span if len(data) >= self._size else None


_ZERO_COPY_MIN = ZERO_COPY_MIN

_FLUSH_SIZE = 64 * 1024
"""Returned replies are sent once they add up to this much, not only at the end of a read:
the connection's memory account sees them grow."""


def _malformed(exc: Exception) -> ProtocolError:
    """The error of a message construct could not parse."""
    return ProtocolError(f"malformed message: {exc}")


def _send(sender: NetworkSender, replies: list[Any]) -> None:
    sender.send(replies[0] if len(replies) == 1 else b"".join(replies))


class FramedConsumer:
    """A session that cuts frames with ``framer`` and hands each one to ``handler``.

    Each payload is copied once out of the receive buffer and parsed once
    with ``message`` by the functions :func:`compile_construct` generates
    from it (never construct's compiled mode), or passed as ``bytes`` when
    ``message`` is None. With ``fields=True`` the handler gets the tuple of
    the message's fields (:attr:`CompiledConstruct.fields`) instead of a
    ``Container``. Byte fields are slices of that copy: ``bytes`` for
    frames under 64 KiB, read-only ``memoryview`` slices for larger ones, so
    a large payload a handler only forwards is never copied again. When the
    framer is ``LengthFieldFramer.from_message(message)``, one generated
    function frames and parses each message (the header is read once). A
    construct error is a ``ProtocolError``; whatever the handler raises
    propagates unchanged.

    The handler gets ``sender`` itself. The replies it returns are sent
    together, one ``send`` per :meth:`try_consume` (or per 64 KiB of
    replies), before the call returns or raises; a handler that sends through
    the sender instead must return None, and one session should not mix
    both (a reply sent directly would pass the returned ones still queued).
    Once the handler asks to close (a sender with a ``close_requested``
    flag, as the ``Connection``'s has), the frames after it are left unread.
    The view given to :meth:`try_consume` is never kept. ``message`` does
    not have to use the whole payload: end it with ``construct.Terminated``
    to reject trailing bytes.
    """

    __slots__ = (
        "_closed",
        "_framed",
        "_framer",
        "_handler",
        "_max_body",
        "_on_close",
        "_parse",
        "_sender",
        "_watch_close",
        "wire_format",
    )

    def __init__(
        self,
        framer: Framer,
        handler: Handler,
        sender: NetworkSender,
        message: construct.Construct[Any, Any] | None = None,
        *,
        fields: bool = False,
        wire_format: WireFormat | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._framer = framer
        self._handler = handler
        self._sender = sender
        self._watch_close = hasattr(sender, "close_requested")
        self._parse, self._framed = _parsers(framer, message, fields)
        self._max_body = (
            framer._max - framer._header_size if type(framer) is LengthFieldFramer else 0
        )
        self._on_close = on_close
        self._closed = False
        self.wire_format = wire_format
        """The format this session was created for, if the creator said."""

    @property
    def framer(self) -> Framer:
        """The framer cutting this session's stream."""
        return self._framer

    def try_consume(self, data: memoryview, /) -> int:
        """Handle every whole frame at the head of ``data``; return the bytes they use."""
        if self._framed is not None:
            return self._consume_framed(data)
        framer = self._framer
        if type(framer) is LengthFieldFramer:
            return self._consume_length_framed(framer, data)
        handler = self._handler
        sender: Any = self._sender
        watch_close = self._watch_close
        parse = self._parse
        total = len(data)
        offset = 0
        replies: list[Any] = []
        queued = 0
        view = data
        try:
            while True:
                span = framer.next_frame(view)
                if span is None:
                    break
                start, stop, end = span
                if not (0 <= start <= stop <= end <= len(view) and end):
                    raise ContractError(f"{framer!r} returned {span!r} for {len(view)} bytes")
                payload = bytes(view[start:stop])
                offset += end
                if parse is None:
                    reply = handler(payload, sender)
                else:
                    try:
                        parsed = parse(
                            payload if stop - start < _ZERO_COPY_MIN else memoryview(payload)
                        )
                    except (construct.ConstructError, UnicodeError) as exc:
                        raise _malformed(exc) from None
                    reply = handler(parsed, sender)
                if reply is not None:
                    replies.append(reply)
                    queued += len(reply)
                    if queued >= _FLUSH_SIZE:
                        _send(sender, replies)
                        replies = []
                        queued = 0
                if offset == total or (watch_close and sender.close_requested):
                    break
                if view is not data:
                    view.release()
                view = data[offset:]
        finally:
            if view is not data:
                view.release()
            if replies:
                _send(sender, replies)
        return offset

    def _consume_length_framed(self, framer: LengthFieldFramer, data: memoryview) -> int:
        # The common case without a view and a span per frame (see try_consume).
        handler = self._handler
        sender: Any = self._sender
        watch_close = self._watch_close
        parse = self._parse
        frame_end_at = framer.frame_end_at
        total = len(data)
        offset = 0
        zero_copy = _ZERO_COPY_MIN
        replies: list[Any] = []
        queued = 0
        try:
            while offset < total:
                end = frame_end_at(data, offset)
                if not end:
                    break
                if parse is None:
                    reply = handler(data[offset:end].tobytes(), sender)
                else:
                    try:
                        if end - offset < zero_copy:
                            parsed = parse(data[offset:end].tobytes())
                        else:
                            parsed = parse(memoryview(data[offset:end].tobytes()))
                    except (construct.ConstructError, UnicodeError) as exc:
                        raise _malformed(exc) from None
                    reply = handler(parsed, sender)
                offset = end
                if reply is not None:
                    replies.append(reply)
                    queued += len(reply)
                    if queued >= _FLUSH_SIZE:
                        _send(sender, replies)
                        replies = []
                        queued = 0
                if watch_close and sender.close_requested:
                    break
        finally:
            if replies:
                _send(sender, replies)
        return offset

    def _consume_framed(self, data: memoryview) -> int:
        # One generated loop frames, parses and calls the handler (see _parsers).
        sender: Any = self._sender
        replies: list[Any] = []

        def flush() -> None:
            _send(sender, replies)
            replies.clear()

        loop: Any = self._framed
        try:
            offset: int = loop(
                data,
                0,
                len(data),
                self._max_body,
                self._framer._frame_end,  # type: ignore[attr-defined]
                self._handler,
                sender,
                replies,
                flush,
                _FLUSH_SIZE,
                self._watch_close,
                _malformed,
            )
        finally:
            if replies:
                _send(sender, replies)
        return offset

    def close(self) -> None:
        """Run ``on_close`` once; later calls do nothing."""
        if self._closed:
            return
        self._closed = True
        if self._on_close is not None:
            self._on_close()


def _parsers(
    framer: Framer, message: construct.Construct[Any, Any] | None, fields: bool
) -> tuple[Callable[[Any], Any] | None, Callable[..., Any] | None]:
    """The parse function for ``message`` and, when the framer was made from it, the
    generated loop that frames, parses and hands over each message (else None)."""
    if message is None:
        if fields:
            raise ValueError("fields=True needs a message declaration")
        return None, None
    _refuse_compiled(message, "the message")
    compiled = compile_construct(message)
    parse = compiled.parse_fields if fields else compiled.parse
    if parse is None:
        raise ValueError("the message has no fields to hand over (see CompiledConstruct.fields)")
    framed = compiled.consume_framed_fields if fields else compiled.consume_framed
    if (
        type(framer) is LengthFieldFramer
        and framer._message is message
        and framer._layout is not None  # the framer's check reads the header as the function
        and not framer._includes_header
    ):
        return parse, framed
    return parse, None


SessionHook = Callable[[NetworkSender], None]
"""A per-session hook, called with the sender the session was created with."""


class FramedProvider:
    """A provider serving one framing: ``framer_factory()`` makes each session's framer.

    Handlers get the very sender ``create_session`` received, so it can
    identify the connection (a subscriber list, per-connection state keyed by
    it). ``on_open(sender)`` runs when a session is created, ``on_close(sender)``
    once when it ends. ``limits.max_message_size`` caps the receive buffer,
    so it should be at least the largest whole frame the framer accepts; a
    bigger frame is rejected by the connection either way. ``message`` and
    ``fields`` are :class:`FramedConsumer`'s. To serve several formats with
    different handlers, register one provider per format.
    """

    __slots__ = (
        "_fields",
        "_framer_factory",
        "_handler",
        "_limits",
        "_message",
        "_on_close",
        "_on_open",
    )

    def __init__(
        self,
        framer_factory: Callable[[], Framer],
        handler: Handler,
        *,
        message: construct.Construct[Any, Any] | None = None,
        fields: bool = False,
        limits: Limits = Limits(),  # noqa: B008 - frozen, so sharing the default is safe
        on_open: SessionHook | None = None,
        on_close: SessionHook | None = None,
    ) -> None:
        if message is not None:
            _refuse_compiled(message, "the message")
            compiled = compile_construct(message)  # generated now, not on the first connection
            if fields and compiled.fields is None:
                raise ValueError("the message has no fields to hand over")
        elif fields:
            raise ValueError("fields=True needs a message declaration")
        self._fields = fields
        self._framer_factory = framer_factory
        self._handler = handler
        self._message = message
        self._limits = limits
        self._on_open = on_open
        self._on_close = on_close

    @property
    def limits(self) -> Limits:
        """The limits enforced on this provider's connections."""
        return self._limits

    def create_session(self, wire_format: WireFormat, sender: NetworkSender) -> FramedConsumer:
        """A new :class:`FramedConsumer` with a fresh framer; runs ``on_open(sender)``."""
        on_close = self._on_close
        consumer = FramedConsumer(
            self._framer_factory(),
            self._handler,
            sender,
            self._message,
            fields=self._fields,
            wire_format=wire_format,
            on_close=None if on_close is None else (lambda: on_close(sender)),
        )
        if self._on_open is not None:
            self._on_open(sender)
        return consumer


def precompiled_loops(
    messages: Sequence[construct.Construct[Any, Any]], doc: str, *, fields: bool = False
) -> str:
    """The source of a module holding the consumer loops of ``messages``, typed for mypyc.

    :func:`compile_construct` generates the loop a :class:`FramedConsumer` runs per
    read (frame, parse, handler call) when a message is first used, so it stays
    interpreted even in a compiled build. Written to a module of a compiled package
    and imported before the messages are first compiled, the same loops run
    compiled: each is taken only while the text generated from the declaration is
    still the one it was made from, so a stale module is ignored (test that the file
    equals this text). ``fields`` picks the loops of ``fields=True`` consumers;
    ``doc`` is the module's docstring.
    """
    name = "consume_framed_fields" if fields else "consume_framed"
    texts: list[str] = []
    for message in messages:
        text = loop_text(message, name)
        if text is None:
            raise ValueError(f"no typed consumer loop for {message}")
        texts.append(text)
    return emit_module(texts, doc)
