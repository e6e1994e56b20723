"""Redis's HyperLogLog, byte for byte: the same hash, registers, sparse and dense encodings.

A HyperLogLog is a Redis string: a 16-byte header (``HYLL``, the encoding, three
zero bytes, the cached cardinality little-endian with its top bit meaning
"stale"), then 16384 six-bit registers, either *dense* (12288 bytes) or *sparse*
(run-length opcodes ZERO ``00xxxxxx``, XZERO ``01xxxxxx yyyyyyyy`` and VAL
``1vvvvvxx``). Every function here edits that string in place exactly as
``hyperloglog.c`` of Redis 7.0 does, so ``GET``, ``DUMP`` and ``PFCOUNT`` give the
bytes and numbers redis-server gives, and a value copied from redis-server
works here and back. The estimator is Otmar Ertl's, as Redis has used since 5.0.
"""

from __future__ import annotations

import math

__all__ = [
    "DENSE",
    "REGISTERS",
    "SPARSE",
    "HllError",
    "add",
    "cached_count",
    "count",
    "count_registers",
    "is_hll",
    "merge_into",
    "new_sparse",
    "registers_of",
    "set_registers",
    "to_dense",
]

HEADER = 16
_P = 14
REGISTERS = 1 << _P
_Q = 64 - _P
_DENSE_SIZE = HEADER + (REGISTERS * 6 + 7) // 8
DENSE, SPARSE = 0, 1
SPARSE_MAX_BYTES = 3000
"""``hll-sparse-max-bytes``: a sparse value that would grow past it turns dense."""

_M64 = (1 << 64) - 1
_MURMUR_M = 0xC6A4A7935BD1E995
_SEED = 0xADC83B19
_ALPHA_INF = 0.721347520444481703680
_VAL_MAX = 32
_VAL_MAX_LEN = 4
_ZERO_MAX_LEN = 64


class HllError(Exception):
    """The value is a string but not a valid HyperLogLog (``INVALIDOBJ``)."""


def murmur64a(data: bytes) -> int:
    """MurmurHash64A with Redis's seed, endian-neutral as Redis reads it."""
    size = len(data)
    h = (_SEED ^ (size * _MURMUR_M)) & _M64
    whole = size - (size & 7)
    for start in range(0, whole, 8):
        k = (int.from_bytes(data[start : start + 8], "little") * _MURMUR_M) & _M64
        k ^= k >> 47
        h ^= (k * _MURMUR_M) & _M64
        h = (h * _MURMUR_M) & _M64
    if size & 7:
        h ^= int.from_bytes(data[whole:], "little")
        h = (h * _MURMUR_M) & _M64
    h ^= h >> 47
    h = (h * _MURMUR_M) & _M64
    return h ^ (h >> 47)


def pattern(element: bytes) -> tuple[int, int]:
    """``(register, run)``: where ``element`` lands and its ``000...1`` run length (1..51)."""
    hashed = murmur64a(element)
    rest = (hashed >> _P) | (1 << _Q)
    return hashed & (REGISTERS - 1), (rest & -rest).bit_length()


def new_sparse() -> bytearray:
    """An empty HyperLogLog as Redis creates it: sparse, one XZERO covering every register."""
    value = bytearray(b"HYLL\x01\x00\x00\x00" + bytes(8))
    left = REGISTERS
    while left:
        run = min(left, 16384)
        value += bytes(((run - 1) >> 8 | 0x40, (run - 1) & 0xFF))
        left -= run
    return value


def is_hll(value: bytes | bytearray) -> bool:
    """Redis's ``isHLLObjectOrReply`` check on a string."""
    if len(value) < HEADER or value[:4] != b"HYLL" or value[4] > SPARSE:
        return False
    return value[4] != DENSE or len(value) == _DENSE_SIZE


# -- dense -----------------------------------------------------------------------


def _dense_get(value: bytearray | bytes, index: int) -> int:
    bit = index * 6
    byte, shift = HEADER + (bit >> 3), bit & 7
    low = value[byte]
    high = value[byte + 1] if byte + 1 < len(value) else 0
    return ((low >> shift) | (high << (8 - shift))) & 63


def _dense_set(value: bytearray, index: int, count: int) -> None:
    bit = index * 6
    byte, shift = HEADER + (bit >> 3), bit & 7
    value[byte] = (value[byte] & ~(63 << shift) & 0xFF) | ((count << shift) & 0xFF)
    if byte + 1 < len(value):
        value[byte + 1] = (value[byte + 1] & ~(63 >> (8 - shift)) & 0xFF) | (count >> (8 - shift))


def _dense_raise(value: bytearray, index: int, count: int) -> int:
    if count > _dense_get(value, index):
        _dense_set(value, index, count)
        return 1
    return 0


def _dense_registers(value: bytes | bytearray) -> list[int]:
    registers: list[int] = []
    extend = registers.extend
    for start in range(HEADER, HEADER + REGISTERS * 6 // 8, 3):
        word = value[start] | value[start + 1] << 8 | value[start + 2] << 16
        extend((word & 63, (word >> 6) & 63, (word >> 12) & 63, word >> 18))
    return registers


# -- sparse ------------------------------------------------------------------------


def _runs(value: bytes | bytearray) -> list[tuple[int, int]]:
    """The sparse opcodes as ``(register value, run length)``; HllError if they do not cover
    exactly 16384 registers."""
    runs: list[tuple[int, int]] = []
    position, end, covered = HEADER, len(value), 0
    while position < end:
        op = value[position]
        if op & 0x80:
            run, register = (op & 3) + 1, ((op >> 2) & 0x1F) + 1
            position += 1
        elif op & 0x40:
            if position + 1 >= end:
                raise HllError
            run, register = ((op & 0x3F) << 8 | value[position + 1]) + 1, 0
            position += 2
        else:
            run, register = (op & 0x3F) + 1, 0
            position += 1
        covered += run
        runs.append((register, run))
    if covered != REGISTERS:
        raise HllError
    return runs


def to_dense(value: bytearray) -> None:
    """Redis's ``hllSparseToDense``, in place (the header and cached count are kept)."""
    if value[4] == DENSE:
        return
    dense = bytearray(_DENSE_SIZE)
    dense[:HEADER] = value[:HEADER]
    dense[4] = DENSE
    index = 0
    position, end = HEADER, len(value)
    while position < end:
        op = value[position]
        if op & 0x80:
            run, register = (op & 3) + 1, ((op >> 2) & 0x1F) + 1
            if run + index > REGISTERS:
                break
            for each in range(index, index + run):
                _dense_set(dense, each, register)
            index += run
            position += 1
        elif op & 0x40:
            index += ((op & 0x3F) << 8 | (value[position + 1] if position + 1 < end else 0)) + 1
            position += 2
        else:
            index += (op & 0x3F) + 1
            position += 1
    if index != REGISTERS:
        raise HllError
    value[:] = dense


def _val(register: int, run: int) -> int:
    return 0x80 | (register - 1) << 2 | (run - 1)


def _zeros(run: int) -> bytes:
    if run > _ZERO_MAX_LEN:
        return bytes(((run - 1) >> 8 | 0x40, (run - 1) & 0xFF))
    return bytes((run - 1,))


def _sparse_raise(value: bytearray, index: int, count: int) -> int:
    """Redis's ``hllSparseSet``: raise register ``index`` to ``count``; 1 if it changed.

    Splits the opcode that covers it, merges equal neighbours, and turns the value
    dense when ``count`` exceeds 32 or the value would outgrow ``SPARSE_MAX_BYTES``.
    """
    if count > _VAL_MAX:
        return _promote(value, index, count)
    position, end, first, previous, span = HEADER, len(value), 0, -1, 0
    while position < end:
        op = value[position]
        width = 1
        if not op & 0xC0:
            span = (op & 0x3F) + 1
        elif op & 0x80:
            span = (op & 3) + 1
        else:
            span = ((op & 0x3F) << 8 | value[position + 1]) + 1
            width = 2
        if index <= first + span - 1:
            break
        previous = position
        position += width
        first += span
    if span == 0 or position >= end:
        raise HllError
    op = value[position]
    is_val, is_xzero = bool(op & 0x80), (op & 0xC0) == 0x40
    run = span
    if is_val:
        if ((op >> 2) & 0x1F) + 1 >= count:
            return 0
        if run == 1:
            value[position] = _val(count, 1)
            _merge_neighbours(value, previous)
            return 1
    elif not is_xzero and run == 1:
        value[position] = _val(count, 1)
        _merge_neighbours(value, previous)
        return 1
    last = first + span - 1
    sequence = bytearray()
    if not is_val:
        if index != first:
            sequence += _zeros(index - first)
        sequence.append(_val(count, 1))
        if index != last:
            sequence += _zeros(last - index)
    else:
        current = ((op >> 2) & 0x1F) + 1
        if index != first:
            sequence.append(_val(current, index - first))
        sequence.append(_val(count, 1))
        if index != last:
            sequence.append(_val(current, last - index))
    old_width = 2 if is_xzero else 1
    if len(sequence) > old_width and len(value) + len(sequence) - old_width > SPARSE_MAX_BYTES:
        return _promote(value, index, count)
    value[position : position + old_width] = sequence
    _merge_neighbours(value, previous)
    return 1


def _merge_neighbours(value: bytearray, previous: int) -> None:
    """Step 4 of ``hllSparseSet``: merge equal adjacent VALs (at most 5 opcodes from
    ``previous``), then mark the cached count stale."""
    position = previous if previous >= 0 else HEADER
    budget = 5
    while position < len(value) and budget:
        budget -= 1
        op = value[position]
        if (op & 0xC0) == 0x40:
            position += 2
            continue
        if not op & 0xC0:
            position += 1
            continue
        if position + 1 < len(value) and value[position + 1] & 0x80:
            following = value[position + 1]
            register = ((op >> 2) & 0x1F) + 1
            if register == ((following >> 2) & 0x1F) + 1:
                run = (op & 3) + (following & 3) + 2
                if run <= _VAL_MAX_LEN:
                    value[position + 1] = _val(register, run)
                    del value[position]
                    continue
        position += 1
    value[15] |= 0x80


def _promote(value: bytearray, index: int, count: int) -> int:
    to_dense(value)
    changed = _dense_raise(value, index, count)
    assert changed == 1
    return changed


def _raise(value: bytearray, index: int, count: int) -> int:
    if value[4] == DENSE:
        return _dense_raise(value, index, count)
    return _sparse_raise(value, index, count)


# -- the commands' building blocks ---------------------------------------------------


def add(value: bytearray, element: bytes) -> int:
    """``PFADD`` of one element: 1 if a register grew (the caller invalidates the cache)."""
    index, run = pattern(element)
    return _raise(value, index, run)


def registers_of(value: bytes | bytearray) -> list[int]:
    """All 16384 registers of a valid HyperLogLog (HllError for a corrupt sparse one)."""
    if value[4] == DENSE:
        return _dense_registers(value)
    registers: list[int] = []
    for register, run in _runs(value):
        registers += [register] * run
    if len(registers) != REGISTERS:
        raise HllError
    return registers


def merge_into(maximum: list[int], value: bytes | bytearray) -> None:
    """``maximum[i] = max(maximum[i], register i)`` (Redis's ``hllMerge``)."""
    for index, register in enumerate(registers_of(value)):
        maximum[index] = max(maximum[index], register)


def count_registers(registers: list[int]) -> int:
    """The cardinality estimate of 16384 registers (``hllCount``, Ertl's estimator)."""
    histogram = [0] * 64
    for register in registers:
        histogram[register] += 1
    m = float(REGISTERS)
    z = m * _tau((m - histogram[_Q + 1]) / m)
    for j in range(_Q, 0, -1):
        z += histogram[j]
        z *= 0.5
    z += m * _sigma(histogram[0] / m)
    estimate = _ALPHA_INF * m * m / z
    return math.floor(estimate + 0.5)


def count(value: bytes | bytearray) -> int:
    """The estimate of one HyperLogLog, computed (not the cache)."""
    return count_registers(registers_of(value))


def cached_count(value: bytearray) -> int:
    """``PFCOUNT key``: the cached count, or the computed one, stored in the cache."""
    if not value[15] & 0x80:
        return int.from_bytes(value[8:16], "little")
    result = count(value)
    value[8:16] = result.to_bytes(8, "little")
    return result


def set_registers(value: bytearray, registers: list[int]) -> None:
    """Raise every register of ``value`` to ``registers`` in order (PFMERGE's write)."""
    for index, register in enumerate(registers):
        if register:
            _raise(value, index, register)


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        previous = z
        z += x * y
        y += y
        if previous == z:
            return z


def _tau(x: float) -> float:
    if x in (0.0, 1.0):
        return 0.0
    y, z = 1.0, 1 - x
    while True:
        x = math.sqrt(x)
        previous = z
        y *= 0.5
        z -= (1 - x) ** 2 * y
        if previous == z:
            return z / 3
