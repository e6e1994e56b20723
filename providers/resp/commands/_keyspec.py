"""Redis 7.0's key specifications and how Redis finds a request's keys with them
(``getKeysFromCommandWithSpecs`` in ``src/db.c``): begin_search by index or keyword,
find_keys by range or keynum, and the command-specific ``getkeys_proc`` fallbacks Redis
uses when a spec cannot answer (``evalGetKeys``, ``sortGetKeys``, ``xreadGetKeys``...)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ...kvstore import parse_int64

__all__ = [
    "KEY_FLAG_NAMES",
    "Index",
    "KeyNum",
    "KeySpec",
    "Keyword",
    "Range",
    "Unknown",
    "flag_bits",
    "flag_names",
    "get_keys",
    "legacy_range",
]

KEY_FLAG_NAMES = (
    "RO",
    "RW",
    "OW",
    "RM",
    "access",
    "update",
    "insert",
    "delete",
    "not_key",
    "incomplete",
    "variable_flags",
)
"""Key spec flags, in the order Redis lists them (their bit order)."""

_BIT = {name: 1 << i for i, name in enumerate(KEY_FLAG_NAMES)}
RO, RW, OW, RM, ACCESS, UPDATE, INSERT, DELETE, NOT_KEY, INCOMPLETE, VARIABLE_FLAGS = (
    _BIT[name] for name in KEY_FLAG_NAMES
)


def flag_bits(names: tuple[str, ...]) -> int:
    """The bit mask of key spec flag ``names``."""
    bits = 0
    for name in names:
        bits |= _BIT[name]
    return bits


def flag_names(bits: int) -> tuple[str, ...]:
    """The names of the key spec flags in ``bits``, in Redis's order."""
    return tuple(name for name in KEY_FLAG_NAMES if bits & _BIT[name])


@dataclass(frozen=True, slots=True)
class Index:
    """begin_search ``index``: the search starts at argument ``pos``."""

    pos: int


@dataclass(frozen=True, slots=True)
class Keyword:
    """begin_search ``keyword``: the search starts after ``keyword``, looked for from
    argument ``startfrom`` on (negative: backwards from the end)."""

    keyword: str
    startfrom: int


@dataclass(frozen=True, slots=True)
class Unknown:
    """begin_search or find_keys ``unknown``: the keys cannot be found from the spec."""


@dataclass(frozen=True, slots=True)
class Range:
    """find_keys ``range``: keys up to ``lastkey`` (relative to the first; negative: from
    the end), every ``keystep``; ``limit`` > 1 keeps 1/limit of the remaining arguments."""

    lastkey: int
    keystep: int
    limit: int


@dataclass(frozen=True, slots=True)
class KeyNum:
    """find_keys ``keynum``: the key count is at ``keynumidx`` (relative to the search's
    start), the keys begin at ``firstkey``, every ``keystep``."""

    keynumidx: int
    firstkey: int
    keystep: int


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One key specification, as COMMAND INFO describes it."""

    flags: tuple[str, ...]
    begin_search: Index | Keyword | Unknown
    find_keys: Range | KeyNum | Unknown
    notes: str = ""
    bits: int = field(init=False, repr=False, compare=False)
    """The flags as a bit mask."""
    plain: tuple[int, int, int] | None = field(init=False, repr=False, compare=False)
    """(first, lastkey, step) of an index and range spec without a limit that may be used
    as it is (not ``not_key``, ``incomplete`` or ``variable_flags``); else None."""

    def __post_init__(self) -> None:
        bits = flag_bits(self.flags)
        object.__setattr__(self, "bits", bits)
        begin, find = self.begin_search, self.find_keys
        plain = None
        simple = not bits & (NOT_KEY | INCOMPLETE | VARIABLE_FLAGS)
        if simple and isinstance(begin, Index) and isinstance(find, Range) and not find.limit:
            plain = (begin.pos, find.lastkey, find.keystep)
        object.__setattr__(self, "plain", plain)


KeyRefs = list[tuple[int, int]]
"""Key positions in a request, each with the flags Redis reports for it."""


def _c_string(arg: bytes) -> bytes:
    nul = arg.find(b"\0")
    return arg if nul < 0 else arg[:nul]


def _same_word(arg: bytes, word: bytes) -> bool:
    """``strcasecmp`` on a C string: the argument up to its first NUL."""
    return _c_string(arg).lower() == word


def _int32(value: int) -> int:
    """A C ``int`` conversion: the low 32 bits, signed."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _atoi(arg: bytes) -> int:
    """glibc's ``atoi``: ``(int) strtol``: blanks, a sign, digits; clamped, then cut."""
    text = _c_string(arg).lstrip(b" \t\n\v\f\r")
    sign = 1
    if text[:1] in (b"+", b"-"):
        sign = -1 if text[:1] == b"-" else 1
        text = text[1:]
    digits = len(text) - len(text.lstrip(b"0123456789"))
    value = sign * int(text[:digits]) if digits else 0
    return _int32(max(-(1 << 63), min(value, (1 << 63) - 1)))


def _from_specs(specs: tuple[KeySpec, ...], argv: list[bytes]) -> KeyRefs | None:
    """``getKeysUsingKeySpecs``: the keys the specs find, or None where a spec cannot tell
    (a count out of range, a key past the end, an incomplete or unknown spec)."""
    argc = len(argv)
    found: KeyRefs = []
    for spec in specs:
        bits = spec.bits
        if bits & NOT_KEY:
            continue
        begin = spec.begin_search
        if isinstance(begin, Index):
            first = begin.pos
        elif isinstance(begin, Keyword):
            first = 0
            word = begin.keyword.lower().encode()
            start = begin.startfrom if begin.startfrom > 0 else argc + begin.startfrom
            end = argc - 1 if begin.startfrom > 0 else 1
            i = start
            while i != end:
                if i >= argc or i < 1:
                    break
                if _same_word(argv[i], word):
                    first = i + 1
                    break
                i = i + 1 if start <= end else i - 1
            if not first:
                continue
        else:
            return None
        find = spec.find_keys
        if isinstance(find, Range):
            step = find.keystep
            if find.lastkey >= 0:
                last = first + find.lastkey
            elif not find.limit:
                last = argc + find.lastkey
            else:
                last = first + (int((argc - first) / find.limit) + find.lastkey)
        elif isinstance(find, KeyNum):
            step = find.keystep
            if find.keynumidx >= argc or first + find.keynumidx >= argc:
                return None
            numkeys = parse_int64(argv[first + find.keynumidx])
            if numkeys is None or numkeys < 0:
                return None
            first += find.firstkey
            last = _int32(first + _int32(numkeys) - 1)
        else:
            return None
        if last >= argc or last < first or first >= argc:
            return None
        found.extend((i, bits) for i in range(first, last + 1, step))
        if bits & INCOMPLETE:
            return None
    return found


def _generic(store: int, count_at: int, first: int, argv: list[bytes]) -> KeyRefs:
    """``genericGetKeys``: ``[destination] numkeys key...``, flags unknown (0)."""
    num = _atoi(argv[count_at])
    if num < 1 or num > len(argv) - first:
        return []
    keys = [(first + i, 0) for i in range(num)]
    return [*keys, (store, 0)] if store else keys


def _sort(argv: list[bytes]) -> KeyRefs:
    keys = [(1, RO | ACCESS)]
    store = 0
    skips = {b"limit": 2, b"get": 1, b"by": 1}
    i = 2
    while i < len(argv):
        word = _c_string(argv[i]).lower()
        # Redis's loop tests "store" only while looking at the first skip entry
        if word in skips:
            i += skips[word]
        elif word == b"store" and i + 1 < len(argv):
            store = i + 1
        i += 1
    return [*keys, (store, OW | UPDATE)] if store else keys


def _migrate(argv: list[bytes]) -> KeyRefs:
    first, num = 3, 1
    skips = {b"copy": 0, b"replace": 0, b"auth": 1, b"auth2": 2}
    if len(argv) > 6:
        i = 6
        while i < len(argv):
            word = _c_string(argv[i]).lower()
            if word == b"keys":
                if argv[3]:
                    num = 0
                else:
                    first, num = i + 1, len(argv) - i - 1
                break
            i += skips.get(word, 0) + 1
    return [(first + i, RW | ACCESS | DELETE) for i in range(num)]


def _georadius(argv: list[bytes]) -> KeyRefs:
    stored = -1
    i = 5
    while i < len(argv):
        if _c_string(argv[i]).lower() in (b"store", b"storedist") and i + 1 < len(argv):
            stored = i + 1
            i += 1
        i += 1
    return [(1, 0)] if stored < 0 else [(1, 0), (stored, 0)]


def _xread(argv: list[bytes]) -> KeyRefs:
    streams = -1
    skips = {b"block": 1, b"count": 1, b"group": 2, b"noack": 0}
    i = 1
    while i < len(argv):
        word = _c_string(argv[i]).lower()
        if word == b"streams":
            streams = i
            break
        if word not in skips:
            break
        i += skips[word] + 1
    num = len(argv) - streams - 1 if streams >= 0 else 0
    if streams < 0 or num == 0 or num % 2:
        return []
    return [(i, 0) for i in range(streams + 1, len(argv) - num // 2)]


def _set(argv: list[bytes]) -> KeyRefs:
    if any(_c_string(arg).lower() == b"get" for arg in argv[3:]):
        return [(1, RW | ACCESS | UPDATE)]
    return [(1, OW | UPDATE)]


def _bitfield(argv: list[bytes]) -> KeyRefs:
    readonly = True
    i = 2
    while i < len(argv):
        left = len(argv) - i - 1
        word = _c_string(argv[i]).lower()
        if word == b"get" and left >= 2:
            i += 2
        elif word in (b"set", b"incrby") and left >= 3:
            readonly = False
            break
        elif word == b"overflow" and left >= 1:
            i += 1
        else:
            readonly = False
            break
        i += 1
    return [(1, RO | ACCESS if readonly else RW | ACCESS | UPDATE)]


GETKEYS_PROCS: dict[str, Callable[[list[bytes]], KeyRefs]] = {
    "sintercardGetKeys": lambda argv: _generic(0, 1, 2, argv),
    "zunionInterDiffStoreGetKeys": lambda argv: _generic(1, 2, 3, argv),
    "zunionInterDiffGetKeys": lambda argv: _generic(0, 1, 2, argv),
    "evalGetKeys": lambda argv: _generic(0, 2, 3, argv),
    "functionGetKeys": lambda argv: _generic(0, 2, 3, argv),
    "lmpopGetKeys": lambda argv: _generic(0, 1, 2, argv),
    "blmpopGetKeys": lambda argv: _generic(0, 2, 3, argv),
    "zmpopGetKeys": lambda argv: _generic(0, 1, 2, argv),
    "bzmpopGetKeys": lambda argv: _generic(0, 2, 3, argv),
    "sortROGetKeys": lambda argv: [(1, RO | ACCESS)],
    "sortGetKeys": _sort,
    "migrateGetKeys": _migrate,
    "georadiusGetKeys": _georadius,
    "xreadGetKeys": _xread,
    "setGetKeys": _set,
    "bitfieldGetKeys": _bitfield,
}
"""Redis's ``getkeys_proc`` functions by name (as the command JSON files name them)."""


def get_keys(specs: tuple[KeySpec, ...], proc: str | None, argv: list[bytes]) -> KeyRefs:
    """Redis's ``getKeysFromCommandWithSpecs``: the key positions of the request ``argv``
    (name first) and their flags, from the ``specs``, else from the ``getkeys_proc``
    named ``proc``."""
    argc = len(argv)
    found: KeyRefs = []
    for spec in specs:  # the common case first: plain ranges that fit the request
        plain = spec.plain
        if plain is None:
            break
        first, lastkey, step = plain
        last = first + lastkey if lastkey >= 0 else argc + lastkey
        if last >= argc or last < first or first >= argc:
            break
        bits = spec.bits
        if first == last:
            found.append((first, bits))
        else:
            found += [(i, bits) for i in range(first, last + 1, step)]
    else:
        if specs:
            return found
    has_key_spec = any(not spec.bits & NOT_KEY for spec in specs)
    has_variable_flags = any(spec.bits & VARIABLE_FLAGS for spec in specs)
    if has_key_spec and not has_variable_flags:
        from_specs = _from_specs(specs, argv)
        if from_specs is not None:
            return from_specs
    if proc is not None:
        return GETKEYS_PROCS[proc](argv)
    return []


def legacy_range(specs: tuple[KeySpec, ...]) -> tuple[tuple[int, int, int], bool]:
    """Redis's ``populateCommandLegacyRangeSpec``: COMMAND INFO's (first key, last key,
    step) and whether the command has ``movablekeys``."""
    if not specs:
        return (0, 0, 0), False
    only, only_find = specs[0].begin_search, specs[0].find_keys
    if len(specs) == 1 and isinstance(only, Index) and isinstance(only_find, Range):
        last = only_find.lastkey + only.pos if only_find.lastkey >= 0 else only_find.lastkey
        return (only.pos, last, only_find.keystep), bool(specs[0].bits & INCOMPLETE)
    movable = False
    firstkey, lastkey, prev_lastkey = 1 << 31, 0, 0
    for spec in specs:
        begin, find = spec.begin_search, spec.find_keys
        if not isinstance(begin, Index) or not isinstance(find, Range):
            movable = True
            continue
        if find.keystep != 1 or (prev_lastkey and prev_lastkey != begin.pos - 1):
            movable = True
            continue
        if spec.bits & INCOMPLETE:
            movable = True
        firstkey = min(firstkey, begin.pos)
        absolute = find.lastkey + begin.pos if find.lastkey >= 0 else find.lastkey
        # Redis compares as unsigned: a negative (from the end) last key wins
        lastkey = max(lastkey, absolute, key=lambda n: n & 0xFFFFFFFF)
        prev_lastkey = lastkey
    if firstkey == 1 << 31:
        return (0, 0, 0), True
    return (firstkey, lastkey, 1), movable
