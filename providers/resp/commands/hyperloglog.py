"""HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, on strings in Redis's own encoding
(:mod:`providers.resp.hyperloglog`)."""

from __future__ import annotations

from .. import hyperloglog as hll
from ..replies import OK, ONE, ZERO, error, integer
from ._base import Client, Command

__all__ = ["COMMANDS"]

_NOT_HLL = b"-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n"
_CORRUPT = error(b"INVALIDOBJ Corrupted HLL object detected")


def pfadd(s: Client, argv: list[bytes]) -> bytes:
    """PFADD key [element ...]: 1 if the estimate may have changed (or the key was created)."""
    store, key = s.store, argv[1]
    current = store.read_string(key)
    if current is not None and not hll.is_hll(current):
        return _NOT_HLL
    value, _ = store.edit_string(key, 0)
    updated = 0
    if current is None:
        value[:] = hll.new_sparse()
        updated = 1
    try:
        for element in argv[2:]:
            updated += hll.add(value, element)
    except hll.HllError:
        return _CORRUPT
    if updated:
        value[15] |= 0x80
        store.string_written(key, b"pfadd")
    return ONE if updated else ZERO


def pfcount(s: Client, argv: list[bytes]) -> bytes:
    """PFCOUNT key [key ...]: the estimate of one, or of the union of several."""
    store = s.store
    if len(argv) > 2:
        maximum = [0] * hll.REGISTERS
        for key in argv[1:]:
            value = store.read_string(key)
            if value is None:
                continue
            if not hll.is_hll(value):
                return _NOT_HLL
            try:
                hll.merge_into(maximum, value)
            except hll.HllError:
                return _CORRUPT
        return integer(hll.count_registers(maximum))
    current = store.read_string(argv[1])
    if current is None:
        return ZERO
    if not hll.is_hll(current):
        return _NOT_HLL
    if not current[15] & 0x80:
        return integer(int.from_bytes(current[8:16], "little"))
    value, _ = store.edit_string(argv[1], 0)
    try:
        result = hll.cached_count(value)
    except hll.HllError:
        return _CORRUPT
    store.string_written(argv[1], None)
    return integer(result)


def pfmerge(s: Client, argv: list[bytes]) -> bytes:
    """PFMERGE destkey [sourcekey ...]: the union into ``destkey`` (which counts as a source)."""
    store = s.store
    maximum = [0] * hll.REGISTERS
    dense = False
    for key in argv[1:]:
        value = store.read_string(key)
        if value is None:
            continue
        if not hll.is_hll(value):
            return _NOT_HLL
        dense = dense or value[4] == hll.DENSE
        try:
            hll.merge_into(maximum, value)
        except hll.HllError:
            return _CORRUPT
    existed = store.read_string(argv[1]) is not None
    target, _ = store.edit_string(argv[1], 0)
    if not existed:
        target[:] = hll.new_sparse()
    try:
        if dense:
            hll.to_dense(target)
        hll.set_registers(target, maximum)
    except hll.HllError:
        return _CORRUPT
    target[15] |= 0x80
    store.string_written(argv[1], b"pfadd")
    return OK


COMMANDS: list[Command] = [
    Command("pfadd", -2, pfadd, ("write", "denyoom", "fast"), (1, 1, 1)),
    Command("pfcount", -2, pfcount, ("readonly", "may_replicate"), (1, -1, 1)),
    Command("pfmerge", -2, pfmerge, ("write", "denyoom"), (1, -1, 1)),
]
"""The HyperLogLog commands, for the command table."""
