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


def _from_parts(mantissa: int, exponent: int, base: int) -> Fraction | None:
    """``mantissa * base**exponent`` as ``strtold`` would give it (None: out of range)."""
    if not mantissa:
        return Fraction(0)
    # log10 bounds keep absurd exponents from building huge integers.
    magnitude = len(str(mantissa)) + exponent * (1 if base == 10 else 0.30103)
    if magnitude > 4940:
        return None
    if magnitude < -4970:
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
    space or trailing bytes, rejects NaN and out-of-range values.
    """
    if not text or len(text) >= _MAX_CHARS or text[0] in _SPACE:
        return None
    nul = text.find(b"\0")
    if nul >= 0:
        text = text[:nul]  # strtold sees a C string
        if not text:
            return Fraction(0)
    match = _DECIMAL.fullmatch(text)
    if match is not None:
        sign, whole, fraction, only_fraction, exp = match.groups()
        digits = (whole + fraction) if whole is not None else only_fraction
        decimals = len(fraction) if whole is not None else len(only_fraction)
        value = _from_parts(int(digits), int(exp or b"0") - decimals, 10)
    else:
        match = _HEX.fullmatch(text)
        if match is not None:
            sign, whole, fraction, only_fraction, exp = match.groups()
            digits = (whole + fraction) if whole is not None else only_fraction
            decimals = len(fraction) if whole is not None else len(only_fraction)
            value = _from_parts(int(digits, 16), int(exp or b"0") - 4 * decimals, 2)
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
    digits = b"%018d" % abs(scaled)
    text = (digits[:-17] + b"." + digits[-17:]).rstrip(b"0").rstrip(b".")
    if sign and text == b"0":
        return b"0"
    return sign + text
