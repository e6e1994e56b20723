"""Bitmap commands on strings: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD(_RO).

Bit 0 is the most significant bit of the first byte, as in Redis. Writes grow
the string in place (:meth:`~providers.kvstore.Store.edit_string`), so a run
of SETBITs costs O(1) each; reads look at the stored bytes without a copy.
"""

from __future__ import annotations

from ...kvstore import parse_int64
from ..replies import ONE, ZERO, error, integer
from ._base import NOT_INTEGER, SYNTAX_ERROR, Client, Command

__all__ = ["COMMANDS"]

_BAD_OFFSET = error(b"ERR bit offset is not an integer or out of range")
_BAD_BIT = error(b"ERR bit is not an integer or out of range")
_BAD_TYPE = error(
    b"ERR Invalid bitfield type. Use something like i16 u8. "
    b"Note that u64 is not supported but i64 is."
)
_BIT_ARGUMENT = error(b"ERR The bit argument must be 1 or 0.")
_BAD_OVERFLOW = error(b"ERR Invalid OVERFLOW type specified")
_RO_ONLY_GET = error(b"ERR BITFIELD_RO only supports the GET subcommand")
_NOT_SINGLE = error(b"ERR BITOP NOT must be called with a single source key.")

_WRAP, _SAT, _FAIL = 0, 1, 2
_OVERFLOWS = {b"wrap": _WRAP, b"sat": _SAT, b"fail": _FAIL}
_U64 = (1 << 64) - 1


def _bit_offset(s: Client, arg: bytes, bits: int = 0) -> int | None:
    """Redis's ``getBitOffsetFromArgument``: ``#n`` (times ``bits``) when ``bits`` is given."""
    hashed = bits > 0 and arg[:1] == b"#"
    offset = parse_int64(arg[1:] if hashed else arg)
    if offset is None:
        return None
    if hashed:
        offset *= bits
    if offset < 0 or (offset >> 3) >= s.provider.resp_limits.max_bulk_len:
        return None
    return offset


def setbit(s: Client, argv: list[bytes]) -> bytes:
    """SETBIT key offset value: the bit's previous value."""
    offset = _bit_offset(s, argv[2])
    if offset is None:
        return _BAD_OFFSET
    on = parse_int64(argv[3])
    if on is None or on & ~1:
        return _BAD_BIT
    value, dirty = s.store.edit_string(argv[1], (offset >> 3) + 1)
    index, mask = offset >> 3, 0x80 >> (offset & 7)
    was = value[index] & mask
    if dirty or bool(was) != bool(on):
        value[index] = (value[index] | mask) if on else (value[index] & ~mask)
        s.store.string_written(argv[1], b"setbit")
    return ONE if was else ZERO


def getbit(s: Client, argv: list[bytes]) -> bytes:
    """GETBIT key offset."""
    offset = _bit_offset(s, argv[2])
    if offset is None:
        return _BAD_OFFSET
    value = s.store.read_string(argv[1])
    index = offset >> 3
    if value is None or index >= len(value):
        return ZERO
    return ONE if value[index] & (0x80 >> (offset & 7)) else ZERO


def _range(size: int, start: int, end: int, in_bits: bool) -> tuple[int, int, int, int] | None:
    """Byte range ``start..end`` with the masks of the bits outside a BIT range, or None if empty.

    Redis's index rules: negative from the end, clamped, ``end`` past the last is the last.
    """
    total = size * 8 if in_bits else size
    if start < 0:
        start += total
    if end < 0:
        end += total
    start, end = max(start, 0), max(end, 0)
    end = min(end, total - 1)
    first_mask = last_mask = 0
    if in_bits and start <= end:
        first_mask = ~((1 << (8 - (start & 7))) - 1) & 0xFF
        last_mask = (1 << (7 - (end & 7))) - 1
        start >>= 3
        end >>= 3
    if start > end:
        return None
    return start, end, first_mask, last_mask


def _unit(arg: bytes) -> bool | None:
    """``BIT`` (True) or ``BYTE`` (False); None for anything else."""
    unit = arg.lower()
    return True if unit == b"bit" else False if unit == b"byte" else None


def bitcount(s: Client, argv: list[bytes]) -> bytes:
    """BITCOUNT key [start end [BYTE|BIT]]."""
    argc = len(argv)
    value = s.store.read_string(argv[1])
    if value is None:
        return ZERO
    if argc == 2:
        return integer(int.from_bytes(value, "big").bit_count())
    if argc not in (4, 5):
        return SYNTAX_ERROR
    start, end = parse_int64(argv[2]), parse_int64(argv[3])
    if start is None or end is None:
        return NOT_INTEGER
    if start < 0 and end < 0 and start > end:
        return ZERO
    in_bits = False
    if argc == 5:
        unit = _unit(argv[4])
        if unit is None:
            return SYNTAX_ERROR
        in_bits = unit
    found = _range(len(value), start, end, in_bits)
    if found is None:
        return ZERO
    first, last, first_mask, last_mask = found
    count = int.from_bytes(value[first : last + 1], "big").bit_count()
    count -= (value[first] & first_mask).bit_count() + (value[last] & last_mask).bit_count()
    return integer(count)


def _first_bit(chunk: bytes | bytearray, bit: int) -> int:
    """Redis's ``redisBitpos``: the first ``bit`` in ``chunk``; for 0 past the end if none."""
    if bit:
        number = int.from_bytes(chunk, "big")
        return len(chunk) * 8 - number.bit_length() if number else -1
    inverted = int.from_bytes(chunk, "big") ^ ((1 << (len(chunk) * 8)) - 1)
    return len(chunk) * 8 - inverted.bit_length()


def bitpos(s: Client, argv: list[bytes]) -> bytes:
    """BITPOS key bit [start [end [BYTE|BIT]]]."""
    argc = len(argv)
    bit = parse_int64(argv[2])
    if bit is None:
        return NOT_INTEGER
    if bit not in (0, 1):
        return _BIT_ARGUMENT
    value = s.store.read_string(argv[1])
    if value is None:
        return integer(-1 if bit else 0)
    end_given = argc >= 5
    if argc == 3:
        found = _range(len(value), 0, len(value) - 1, False) if value else None
    elif argc > 6:
        return SYNTAX_ERROR
    else:
        start = parse_int64(argv[3])
        if start is None:
            return NOT_INTEGER
        in_bits = False
        if argc == 6:
            unit = _unit(argv[5])
            if unit is None:
                return SYNTAX_ERROR
            in_bits = unit
        if end_given:
            end = parse_int64(argv[4])
            if end is None:
                return NOT_INTEGER
        else:
            end = len(value) * 8 + 7 if in_bits else len(value) - 1
        found = _range(len(value), start, end, in_bits)
    if found is None:
        return integer(-1)
    first, last, first_mask, last_mask = found
    chunk = bytearray(value[first : last + 1])
    if bit:
        chunk[0] &= ~first_mask & 0xFF
        chunk[-1] &= ~last_mask & 0xFF
    else:
        chunk[0] |= first_mask
        chunk[-1] |= last_mask
    position = _first_bit(chunk, bit)
    if end_given and bit == 0 and position == len(chunk) * 8:
        return integer(-1)
    return integer(position if position == -1 else position + first * 8)


def bitop(s: Client, argv: list[bytes]) -> bytes:
    """BITOP AND|OR|XOR|NOT destkey key [key ...]: the length of the result."""
    operation = argv[1].lower()
    if operation not in (b"and", b"or", b"xor", b"not"):
        return SYNTAX_ERROR
    if operation == b"not" and len(argv) != 4:
        return _NOT_SINGLE
    sources = [s.store.read_string(key) for key in argv[3:]]
    size = max(map(len, (source or b"" for source in sources)))
    store, target = s.store, argv[2]
    if not size:
        store.delete(target)
        return ZERO
    numbers = [int.from_bytes((source or b"").ljust(size, b"\0"), "big") for source in sources]
    result = numbers[0]
    if operation == b"not":
        result ^= (1 << (size * 8)) - 1
    for number in numbers[1:]:
        if operation == b"and":
            result &= number
        elif operation == b"or":
            result |= number
        else:
            result ^= number
    store.set(target, result.to_bytes(size, "big"))
    return integer(size)


# -- BITFIELD ------------------------------------------------------------------


def _field_type(arg: bytes) -> tuple[bool, int] | None:
    """``i<bits>`` (signed, 1-64) or ``u<bits>`` (unsigned, 1-63)."""
    sign = arg[:1]
    if sign not in (b"i", b"u"):
        return None
    bits = parse_int64(arg[1:])
    signed = sign == b"i"
    if bits is None or bits < 1 or bits > (64 if signed else 63):
        return None
    return signed, bits


def _read_field(value: bytes | bytearray, offset: int, bits: int, signed: bool) -> int:
    first, last = offset >> 3, (offset + bits - 1) >> 3
    chunk = bytes(value[first : last + 1]).ljust(last - first + 1, b"\0")
    number = int.from_bytes(chunk, "big") >> ((last + 1) * 8 - offset - bits)
    number &= (1 << bits) - 1
    if signed and number >> (bits - 1):
        number -= 1 << bits
    return number


def _write_field(value: bytearray, offset: int, bits: int, number: int) -> None:
    first, last = offset >> 3, (offset + bits - 1) >> 3
    shift = (last + 1) * 8 - offset - bits
    mask = ((1 << bits) - 1) << shift
    current = int.from_bytes(value[first : last + 1], "big")
    current = (current & ~mask) | ((number << shift) & mask)
    value[first : last + 1] = current.to_bytes(last - first + 1, "big")


def _wrap(number: int, bits: int, signed: bool) -> int:
    number &= (1 << bits) - 1
    if signed and number >> (bits - 1):
        number -= 1 << bits
    return number


def _overflowed(old: int, increment: int, bits: int, signed: bool, mode: int) -> tuple[bool, int]:
    """Redis's ``check(Un)signedBitfieldOverflow``: (overflowed, the value to store)."""
    if signed:
        high = (1 << (bits - 1)) - 1
        low = -high - 1
    else:
        high, low = (1 << bits) - 1, 0
    result = old + increment
    if low <= result <= high:
        return False, result
    if mode == _SAT:
        return True, high if result > high else low
    return True, _wrap(result, bits, signed)


_Operation = tuple[bytes, bool, int, int, int, int]
"""(name, signed, bits, bit offset, SET value or INCRBY increment, overflow mode)."""


def _bitfield_operations(s: Client, argv: list[bytes]) -> list[_Operation] | bytes:
    """BITFIELD's subcommands, parsed all before any runs (as Redis does), or the error."""
    operations: list[_Operation] = []
    overflow = _WRAP
    index, argc = 2, len(argv)
    while index < argc:
        left = argc - index - 1
        name = argv[index].lower()
        if name == b"overflow" and left >= 1:
            mode = _OVERFLOWS.get(argv[index + 1].lower())
            if mode is None:
                return _BAD_OVERFLOW
            overflow = mode
            index += 2
            continue
        if not ((name == b"get" and left >= 2) or (name in (b"set", b"incrby") and left >= 3)):
            return SYNTAX_ERROR
        field = _field_type(argv[index + 1])
        if field is None:
            return _BAD_TYPE
        signed, bits = field
        offset = _bit_offset(s, argv[index + 2], bits)
        if offset is None:
            return _BAD_OFFSET
        number = 0
        if name != b"get":
            parsed = parse_int64(argv[index + 3])
            if parsed is None:
                return NOT_INTEGER
            number = parsed
        operations.append((name, signed, bits, offset, number, overflow))
        index += 3 if name == b"get" else 4
    return operations


def _bitfield(s: Client, argv: list[bytes], read_only: bool) -> bytes:
    operations = _bitfield_operations(s, argv)
    if isinstance(operations, bytes):
        return operations
    writes_to = max((op[3] + op[2] - 1 for op in operations if op[0] != b"get"), default=-1)
    store, key = s.store, argv[1]
    value: bytes | bytearray | None
    dirty = False
    if writes_to < 0:
        value = store.read_string(key)
    elif read_only:
        return _RO_ONLY_GET
    else:
        value, dirty = store.edit_string(key, (writes_to >> 3) + 1)
    replies: list[bytes] = []
    changes = 0
    for name, signed, bits, offset, number, mode in operations:
        if name == b"get":
            replies.append(integer(_read_field(value or b"", offset, bits, signed)))
            continue
        assert isinstance(value, bytearray)
        old = _read_field(value, offset, bits, signed)
        if name == b"incrby":
            failed, new = _overflowed(old, number, bits, signed, mode)
            reply = new
        else:
            failed, new = _overflowed(_wrap_set(number, signed), 0, bits, signed, mode)
            reply = old
        if failed and mode == _FAIL:
            replies.append(s.null)
            continue
        replies.append(integer(reply))
        _write_field(value, offset, bits, new)
        if dirty or old != new:
            changes += 1
    if changes:
        store.string_written(key, b"setbit")
    return b"*%d\r\n" % len(replies) + b"".join(replies)


def _wrap_set(number: int, signed: bool) -> int:
    """SET's value as Redis holds it: an int64 (unsigned fields see it as a uint64)."""
    return number if signed else number & _U64


def bitfield(s: Client, argv: list[bytes]) -> bytes:
    """BITFIELD key [GET type offset | SET type offset value | INCRBY ... | OVERFLOW ...]..."""
    return _bitfield(s, argv, False)


def bitfield_ro(s: Client, argv: list[bytes]) -> bytes:
    """BITFIELD_RO key [GET type offset ...]."""
    return _bitfield(s, argv, True)


_ONE_KEY = (1, 1, 1)
COMMANDS: list[Command] = [
    Command("setbit", 4, setbit, ("write", "denyoom"), _ONE_KEY),
    Command("getbit", 3, getbit, ("readonly", "fast"), _ONE_KEY),
    Command("bitcount", -2, bitcount, ("readonly",), _ONE_KEY),
    Command("bitpos", -3, bitpos, ("readonly",), _ONE_KEY),
    Command("bitop", -4, bitop, ("write", "denyoom"), (2, -1, 1)),
    Command("bitfield", -2, bitfield, ("write", "denyoom"), _ONE_KEY),
    Command("bitfield_ro", -2, bitfield_ro, ("readonly", "fast"), _ONE_KEY),
]
"""The bitmap commands, for the command table."""
