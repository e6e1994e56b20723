"""INCRBYFLOAT's arithmetic: Redis's ``long double``, emulated exactly.

Redis parses with ``strtold``, adds in ``long double`` and prints with
``%.17Lf`` minus trailing zeros. On x86-64 Linux ``long double`` is the
80-bit x87 format (64-bit significand), so ``10.5 + 0.1`` prints ``10.6``
where a C ``double`` would give ``10.59999999999999964``. Values here are
exact ``Fraction`` objects rounded to that format after every operation.
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["add_long_doubles", "format_long_double", "parse_long_double"]

_SIGNIFICAND_BITS = 64
_MIN_NORMAL_EXP = -16382
_MAX_EXP = 16383
_MAX_CHARS = 5 * 1024
"""Redis's MAX_LONG_DOUBLE_CHARS: longer strings are not floats."""

_DECIMAL = re.compile(rb"([+-]?)(?:([0-9]+)\.?([0-9]*)|\.([0-9]+))(?:[eE]([+-]?[0-9]+))?")
_HEX = re.compile(
    rb"([+-]?)0[xX](?:([0-9a-fA-F]+)\.?([0-9a-fA-F]*)|\.([0-9a-fA-F]+))(?:[pP]([+-]?[0-9]+))?"
)
_INFINITY = re.compile(rb"([+-]?)(?:inf|infinity)", re.IGNORECASE)
_SPACE = frozenset(b" \t\n\x0b\x0c\r")

INF = float("inf")
LongDouble = Fraction | float
"""A finite value as a Fraction, or ``inf`` / ``-inf``."""


def _round(value: Fraction) -> Fraction | None:
    """``value`` rounded (half to even) to an x87 long double; None on overflow."""
    if not value:
        return value
    negative = value < 0
    magnitude = -value if negative else value
    p, q = magnitude.numerator, magnitude.denominator
    exponent = p.bit_length() - q.bit_length()
    if (p << max(-exponent, 0)) < (q << max(exponent, 0)):
        exponent -= 1  # now 2**exponent <= magnitude < 2**(exponent + 1)
    if exponent > _MAX_EXP:
        return None
    scale = max(exponent, _MIN_NORMAL_EXP) - (_SIGNIFICAND_BITS - 1)
    if scale >= 0:
        significand, rest = divmod(p, q << scale)
        half = q << scale
    else:
        significand, rest = divmod(p << -scale, q)
        half = q
    if 2 * rest > half or (2 * rest == half and significand & 1):
        significand += 1
    if significand >> _SIGNIFICAND_BITS:
        significand >>= 1
        scale += 1
        if exponent + 1 > _MAX_EXP:
            return None
    rounded = Fraction(significand << scale) if scale >= 0 else Fraction(significand, 1 << -scale)
    return -rounded if negative else rounded


_CHUNK = 1000
"""Decimal digits converted at a time: Python refuses int <-> str beyond 4300 digits."""


def _decimal_int(digits: bytes) -> int:
    """``int(digits)`` for any number of ASCII digits (no sys-wide digit limit changed)."""
    value = 0
    for start in range(0, len(digits), _CHUNK):
        chunk = digits[start : start + _CHUNK]
        value = value * 10 ** len(chunk) + int(chunk)
    return value


def _exponent(text: bytes | None) -> int:
    """A signed decimal exponent, clamped where any float would over- or underflow anyway."""
    if not text:
        return 0
    negative = text[0] == 45  # '-'
    digits = text.lstrip(b"+-").lstrip(b"0") or b"0"
    value = int(digits) if len(digits) <= 9 else 10**9
    return -value if negative else value


def _decimal_digits(value: int) -> bytes:
    """``b"%d" % value`` for a non-negative int of any size."""
    if value < 10**_CHUNK:
        return b"%d" % value
    chunks: list[bytes] = []
    while value >= 10**_CHUNK:
        value, low = divmod(value, 10**_CHUNK)
        chunks.append(b"%0*d" % (_CHUNK, low))
    chunks.append(b"%d" % value)
    return b"".join(reversed(chunks))


def _from_parts(mantissa: int, exponent: int, base: int) -> Fraction | None:
    """``mantissa * base**exponent`` as ``strtold`` would give it (None: out of range)."""
    if not mantissa:
        return Fraction(0)
    # Bounds in bits keep absurd exponents from building huge integers: the
    # largest long double is below 2**16384, the smallest above 2**-16446.
    magnitude = mantissa.bit_length() + exponent * (3.3219280948873626 if base == 10 else 1)
    if magnitude > 16400:
        return None
    if magnitude < -16500:
        return None  # underflows to zero: ERANGE
    if exponent >= 0:
        exact = Fraction(mantissa * base**exponent)
    else:
        exact = Fraction(mantissa, base**-exponent)
    rounded = _round(exact)
    if not rounded:
        return None  # a non-zero input that rounds to zero is ERANGE too
    return rounded


def parse_long_double(text: bytes) -> LongDouble | None:
    """Redis's ``string2ld``: the value, or None when it is not a valid float.

    Accepts what ``strtold`` accepts (decimal, hex, ``inf``) without leading
    space or trailing bytes, rejects NaN and out-of-range values. Redis 7
    also checks that ``strtold`` consumed all ``len(text)`` bytes, so a NUL
    byte anywhere makes the string invalid (not a C-string cut).
    """
    if not text or len(text) >= _MAX_CHARS or text[0] in _SPACE:
        return None
    match = _DECIMAL.fullmatch(text)
    if match is not None:
        sign, whole, fraction, only_fraction, exp = match.groups()
        digits = (whole + fraction) if whole is not None else only_fraction
        decimals = len(fraction) if whole is not None else len(only_fraction)
        value = _from_parts(_decimal_int(digits), _exponent(exp) - decimals, 10)
    else:
        match = _HEX.fullmatch(text)
        if match is not None:
            sign, whole, fraction, only_fraction, exp = match.groups()
            digits = (whole + fraction) if whole is not None else only_fraction
            decimals = len(fraction) if whole is not None else len(only_fraction)
            value = _from_parts(int(digits, 16), _exponent(exp) - 4 * decimals, 2)
        else:
            match = _INFINITY.fullmatch(text)
            if match is None:
                return None
            return -INF if match.group(1) == b"-" else INF
    if value is None:
        return None
    return -value if sign == b"-" else value


def add_long_doubles(left: LongDouble, right: LongDouble) -> Fraction | None:
    """``left + right`` in long double; None when the sum is NaN or infinite."""
    if isinstance(left, float) or isinstance(right, float):
        return None  # an infinity plus anything is infinite or NaN
    return _round(left + right)


def format_long_double(value: Fraction) -> bytes:
    """``%.17Lf`` without trailing zeros (Redis's ``LD_STR_HUMAN``)."""
    scaled = round(value * 10**17)
    sign = b"-" if value < 0 else b""
    digits = _decimal_digits(abs(scaled)).rjust(18, b"0")
    text = (digits[:-17] + b"." + digits[-17:]).rstrip(b"0").rstrip(b".")
    if sign and text == b"0":
        return b"0"
    return sign + text
