"""The hiredis steps of the RESP request parser: whole commands read by ``hiredis.Reader``
(C), each verified against the bytes so that hiredis's laxer grammar never changes what
a command means (see :mod:`.parser` for the design).
"""

from __future__ import annotations

import re
from typing import Any, Final

from wireproto.memory import MemoryAccount

from .limits import (
    HEADER_LIMIT,
    HEADER_SIZES,
    UNAUTHENTICATED_MAX_BULK_LEN,
    UNAUTHENTICATED_MAX_MULTIBULK_LEN,
    RespLimits,
)
from .pure_parser import PureParser

try:
    import hiredis as _hiredis  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # pragma: no cover - depends on the environment
    _hiredis = None  # type: ignore[assignment, unused-ignore]

__all__ = ["HIREDIS_AVAILABLE", "HiredisParser"]

HIREDIS_AVAILABLE = _hiredis is not None
"""Whether the hiredis accelerator can be used."""

_DANGER: Final = re.compile(rb"[*%~>|][0-9]{4}")
"""An aggregate header of 1000+ elements, which hiredis would preallocate."""

_SIZES: Final = tuple(header + size + 2 for size, header in enumerate(HEADER_SIZES))
"""Bytes of a canonical bulk string of each size: header, data, CRLF."""


def _screen_table() -> bytes:
    table = bytearray(b" " * 256)
    for byte in b"0123456789":
        table[byte] = ord("0")
    for byte in b"*%>":  # aggregates (a "~" or "|" is unsafe already)
        table[byte] = ord("*")
    for byte in b"+=(~|":
        table[byte] = ord("+")
    return bytes(table)


_SCREEN: Final = _screen_table()
"""Maps the type bytes for which hiredis returns ``bytes`` or a list without a ``$`` or
``*`` header to ``+``, aggregate type bytes to ``*`` and digits to ``0``: one
``translate`` and two ``find`` calls then do what ``_DANGER`` and a search for
the unsafe bytes would do in a regex scan four times slower."""

_FALLBACK: Final[list[bytes]] = []
"""Returned by the hiredis step to hand a command to the pure parser."""

_HiredisError: Final[type[Exception]] = _hiredis.HiredisError if _hiredis is not None else Exception


def _new_reader() -> Any:
    if _hiredis is None:
        raise RuntimeError("the hiredis accelerator is not installed (pip install hiredis)")
    return _hiredis.Reader()


class HiredisParser(PureParser):
    """:class:`~.pure_parser.PureParser` and a ``hiredis.Reader`` (when ``accelerated``).

    hiredis never holds a partial command across batches (its reader is dropped
    and made again), so only the pure steps hold, and charge, unfinished commands.
    """

    __slots__ = ("_feeding", "_hiredis_batches", "_reader")

    def __init__(
        self,
        limits: RespLimits,
        *,
        accelerated: bool = False,
        memory: MemoryAccount | None = None,
        walk: bool | None = None,
    ) -> None:
        super().__init__(limits, memory=memory, walk=walk)
        self._reader: Any = _new_reader() if accelerated else None
        self._feeding = False
        # The compiled walk takes whole commands for less than hiredis's reader and screen.
        self._hiredis_batches = accelerated and not self.walk

    @property
    def accelerated(self) -> bool:
        """Whether hiredis parses whole commands."""
        return self._reader is not None

    def _renew_reader(self) -> None:
        """Drop the reader (it may hold part of a command) for a new one."""
        self._reader = _new_reader()

    def _hiredis_safe(self, data: bytes, pos: int) -> bool:
        """Whether every command hiredis returns from these bytes can be checked by its size.

        Without the bytes that start simple, verbatim and big-number strings
        (which hiredis returns as ``bytes`` too), sets or attributes (which it
        returns as lists), a list of ``bytes`` can only come from a ``*N``
        array of ``$len`` bulks, whose headers hiredis reads as strictly as
        Redis: such a command takes exactly its canonical size. The limits
        cannot be hit by fewer bytes than the smallest of them.
        """
        max_bulk = self._max_bulk
        if self.unauthenticated:
            max_bulk = min(max_bulk, UNAUTHENTICATED_MAX_BULK_LEN)
        if len(data) - pos > min(max_bulk, self._max_query):
            return False
        screened = data.translate(_SCREEN)
        return screened.find(b"+", pos) < 0 and screened.find(b"*0000", pos) < 0

    def _hiredis_batch(self, data: bytes, pos: int) -> list[list[bytes]]:
        """The whole commands hiredis reads from ``data[pos:]`` (see :meth:`_hiredis_safe`)."""
        reader = self._reader
        reader.feed(data, pos)
        gets = reader.gets
        max_count = self._max_multibulk
        if self.unauthenticated:
            max_count = min(max_count, UNAUTHENTICATED_MAX_MULTIBULK_LEN)
        sizes = _SIZES
        commands: list[list[bytes]] = []
        append = commands.append
        used = 0
        try:
            while True:
                command = gets()
                if type(command) is not list:
                    break  # False (no whole command left), or not a command of bulks
                count = len(command)
                if not 0 < count <= max_count:
                    break  # too many arguments, or none (next_command() takes "*0")
                size = HEADER_SIZES[count]
                for arg in command:
                    if type(arg) is not bytes:
                        break
                    size += sizes[len(arg)]
                else:
                    used += size
                    append(command)
                    continue
                break
        except (_HiredisError, IndexError):  # not RESP, or sizes the tables do not hold
            pass
        self._pos = pos + used
        if self._pos < len(data):
            self._renew_reader()  # it holds part of a command: drop it
        return commands

    # -- one command at a time ----------------------------------------------------

    def _feed(self) -> None:
        self._tried = True
        data = self._data
        pos = self._pos
        if pos < len(data) and data[pos] == 42 and _DANGER.search(data, pos) is None:
            self._reader.feed(data, pos)
            self._feeding = True

    def _next_accelerated(self) -> list[bytes] | None:
        data = self._data
        pos = self._pos
        if pos >= len(data):
            return None  # every fed byte was a verified command: the reader is empty
        if data[pos] != 42:
            return _FALLBACK
        try:
            command = self._reader.gets()
        except _HiredisError:
            return _FALLBACK
        if type(command) is not list:
            return _FALLBACK
        count = len(command)
        if count > self._max_multibulk or (
            self.unauthenticated and count > UNAUTHENTICATED_MAX_MULTIBULK_LEN
        ):
            return _FALLBACK
        max_bulk = self._max_bulk
        if self.unauthenticated:
            max_bulk = min(max_bulk, UNAUTHENTICATED_MAX_BULK_LEN)
        at = pos + (HEADER_SIZES[count] if count < HEADER_LIMIT else len(str(count)) + 3)
        held = 0
        try:
            for arg in command:
                if type(arg) is not bytes or data[at] != 36:
                    return _FALLBACK
                length = len(arg)
                if length > max_bulk:
                    return _FALLBACK
                held += length
                at += (
                    length
                    + 2
                    + (HEADER_SIZES[length] if length < HEADER_LIMIT else len(str(length)) + 3)
                )
        except IndexError:
            return _FALLBACK
        if held > self._max_query:
            return _FALLBACK
        self._pos = at
        return command
