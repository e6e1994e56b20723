"""SORT and SORT_RO over lists, sets and sorted sets: BY (with ``*`` and ``->field``), LIMIT, GET,
ASC/DESC, ALPHA and STORE, as Redis 7.0's sort.c."""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...datatypes.encodings import set_in_order
from ...datatypes.zset import ZSet
from ...kvstore import Store, kind_name
from ..replies import bulk, integer
from ._base import (
    LLONG_MAX,
    LLONG_MIN,
    NOT_INTEGER,
    SYNTAX_ERROR,
    WRONGTYPE,
    Client,
    Command,
    bounded_int,
    c_string,
)

__all__ = ["COMMANDS", "strtod", "strtod_prefix"]

_STRTOD = re.compile(
    rb"[ \t\n\v\f\r]*([+-]?)(?:"
    rb"(0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?)"
    rb"|((?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    rb"|(inf(?:inity)?|nan(?:\([0-9A-Za-z_]*\))?)"
    rb")",
    re.IGNORECASE,
)
_DBL_MIN = 2.2250738585072014e-308


def strtod(text: bytes) -> float | None:
    """C's ``strtod`` as SORT checks it: the value, or None for trailing bytes, a range
    error or NaN. The text ends at its first NUL; an empty text is 0, as in C."""
    text = c_string(text)
    match = _STRTOD.match(text)
    if match is None:
        return 0.0 if not text else None  # no conversion: only "" ends at once
    if match.end() != len(text):
        return None
    sign, hexadecimal, decimal, word = match.groups()
    if word is not None:
        if word[:1].lower() == b"n":
            return None
        value = math.inf
    elif hexadecimal is not None:
        digits = hexadecimal.decode()
        if "p" not in digits.lower():
            digits += "p0"
        try:
            value = float.fromhex(digits)
        except OverflowError:
            return None
    else:
        value = float(decimal)
        mantissa = re.split(rb"[eE]", decimal)[0]
        if math.isinf(value) or (0 < value < _DBL_MIN):
            return None  # ERANGE: overflow, or an underflow glibc reports
        if value == 0 and mantissa.strip(b"0.") != b"":
            return None  # underflowed to zero
    return -value if sign == b"-" else value


def strtod_prefix(text: bytes) -> float:
    """What C's ``strtold(text, NULL)`` gives, as DEBUG SLEEP reads it: the value of the
    longest prefix that reads as a number (trailing bytes ignored); 0.0 when none does
    or it is out of range."""
    match = _STRTOD.match(c_string(text))
    if match is None:
        return 0.0
    value = strtod(match.group(0))
    return 0.0 if value is None else value


def _lookup(store: Store, pattern: bytes, element: bytes) -> bytes | None:
    """Redis's ``lookupKeyByPattern``: ``#``, ``prefix*suffix`` and ``prefix*suffix->field``."""
    if pattern == b"#":
        return element
    star = pattern.find(b"*")
    if star < 0:
        return None
    arrow = pattern.find(b"->", star + 1)
    field: bytes | None = None
    key_pattern = pattern
    if arrow >= 0 and arrow + 2 < len(pattern):
        field = pattern[arrow + 2 :]
        key_pattern = pattern[:arrow]
    key = key_pattern[:star] + element + key_pattern[star + 1 :]
    value = store.value_of(key)
    if value is None:
        return None
    if field is not None:
        if type(value) is not dict:
            return None
        found = value.get(field)
        return found if isinstance(found, bytes) else None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return None


@dataclass(slots=True)
class _Options:
    desc: bool = False
    alpha: bool = False
    limit_start: int = 0
    limit_count: int = -1
    by: bytes | None = None
    store_key: bytes | None = None
    gets: list[bytes] = field(default_factory=list)

    @property
    def dontsort(self) -> bool:
        """BY a pattern without ``*``: every weight is the same, the native order stays."""
        return self.by is not None and b"*" not in self.by


def _options(argv: list[bytes], readonly: bool) -> _Options | bytes:
    options = _Options()
    j = 2
    while j < len(argv):
        option = argv[j].lower()
        left = len(argv) - j - 1
        if option in (b"asc", b"desc"):
            options.desc = option == b"desc"
        elif option == b"alpha":
            options.alpha = True
        elif option == b"limit" and left >= 2:
            start = bounded_int(argv[j + 1], LLONG_MIN, LLONG_MAX)
            count = bounded_int(argv[j + 2], LLONG_MIN, LLONG_MAX)
            if start is None or count is None:
                return NOT_INTEGER
            options.limit_start, options.limit_count = start, count
            j += 2
        elif option == b"store" and left >= 1 and not readonly:
            options.store_key = argv[j + 1]
            j += 1
        elif option == b"by" and left >= 1:
            options.by = argv[j + 1]
            j += 1
        elif option == b"get" and left >= 1:
            options.gets.append(argv[j + 1])
            j += 1
        else:
            return SYNTAX_ERROR
        j += 1
    return options


def _sorted(store: Store, elements: list[bytes], options: _Options) -> list[bytes] | None:
    """``elements`` in SORT's order (BY, ALPHA, DESC); None when a weight is not a double."""
    by = options.by
    key: Callable[[bytes], Any]
    if options.alpha:
        if by is not None:
            pattern = by

            def key(element: bytes) -> Any:
                found = _lookup(store, pattern, element)
                return (0, b"") if found is None else (1, found)

        else:

            def key(element: bytes) -> Any:
                return element

    else:
        scores: dict[bytes, float] = {}
        for element in elements:
            weight = element if by is None else _lookup(store, by, element)
            score = 0.0 if weight is None else strtod(weight)
            if score is None:
                return None
            scores[element] = score

        def key(element: bytes) -> Any:
            return (scores[element], element)

    return sorted(elements, key=key, reverse=options.desc)


def _sort(s: Client, argv: list[bytes], readonly: bool) -> bytes:
    options = _options(argv, readonly)
    if isinstance(options, bytes):
        return options
    store = s.store
    value = store.value_of(argv[1])
    kind = b"list" if value is None else kind_name(value)
    if value is None:
        elements: list[bytes] = []
    elif kind == b"list":
        elements = list(value)  # type: ignore[call-overload]
    elif kind == b"set":
        elements = set_in_order(value)  # type: ignore[arg-type]
    elif type(value) is ZSet:
        value.skiplist = True  # Redis converts a sorted set it sorts, for good
        elements = [member for member, _ in value]  # by score
    else:
        return WRONGTYPE
    if options.dontsort and kind == b"set" and options.store_key is not None:
        options.alpha, options.by = True, None  # a stored result must not depend on order
    size = len(elements)
    start = min(max(options.limit_start, 0), size)
    count = min(max(options.limit_count, -1), size)
    end = size - 1 if count < 0 else start + count - 1
    if start >= size:
        start, end = size - 1, size - 2
    end = min(end, size - 1)
    if options.dontsort:
        if kind != b"set" and options.desc:  # lists and sorted sets keep their order
            elements.reverse()
    else:
        ordered = _sorted(store, elements, options)
        if ordered is None:
            return b"-ERR One or more scores can't be converted into double\r\n"
        elements = ordered
    chosen = elements[start : end + 1] if end >= start else []
    return _output(s, chosen, options)


def _output(s: Client, chosen: list[bytes], options: _Options) -> bytes:
    store, gets = s.store, options.gets
    if options.store_key is None:
        if not gets:
            return b"*%d\r\n" % len(chosen) + b"".join(map(bulk, chosen))
        null = s.null
        parts = [
            null if (found := _lookup(store, pattern, element)) is None else bulk(found)
            for element in chosen
            for pattern in gets
        ]
        return b"*%d\r\n" % len(parts) + b"".join(parts)
    if gets:
        result = deque(
            _lookup(store, pattern, element) or b"" for element in chosen for pattern in gets
        )
    else:
        result = deque(chosen)
    if result:
        store.set_value(options.store_key, result)
        store.notify(b"sortstore", options.store_key)
    else:
        store.delete(options.store_key)
    return integer(len(result))


def sort(s: Client, argv: list[bytes]) -> bytes:
    """SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
    [STORE destination]."""
    return _sort(s, argv, False)


def sort_ro(s: Client, argv: list[bytes]) -> bytes:
    """SORT_RO: SORT without STORE."""
    return _sort(s, argv, True)


COMMANDS: list[Command] = [
    Command("sort", -2, sort, ("write", "denyoom"), (1, 1, 1)),
    Command("sort_ro", -2, sort_ro, ("readonly",), (1, 1, 1)),
]
