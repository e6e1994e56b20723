"""Valid values for a construct declaration, drawn through a :class:`Chooser`.

One walker serves two masters: Hypothesis (a chooser backed by ``draw``, so
examples shrink) and the atheris mutator (a chooser backed by
``random.Random``). ``Prefixed``, ``PrefixedArray`` and ``Rebuild`` fields
are left to construct, so the built bytes always carry correct lengths.

Supported: ``Struct`` (nested), ``Sequence``, ``FocusedSeq`` (so
``PrefixedArray``), ``FormatField`` integers, floats and ``?``,
``BytesInteger``, ``BitsInteger`` and ``Flag`` (also inside ``BitStruct``),
``VarInt``, ``ZigZag``, ``Bytes``, ``GreedyBytes``, ``Prefixed``,
``Array``, ``GreedyRange``, ``Const``, ``Enum``, ``FlagsEnum``, ``Mapping``,
``Padding``/``Padded``, ``Aligned``, ``FixedSized``, ``NullTerminated``,
``NullStripped``, strings (``PascalString``, ``CString``, ``PaddedString``,
``GreedyString``), ``Default``, ``Rebuild``, ``Computed``, ``Checksum``,
``Switch``, ``IfThenElse``/``If``, ``Select``/``Optional``, ``Renamed``,
bit/byte-wise wrappers, and other adapters through their decoder.
"""

from __future__ import annotations

import io
import random
import struct
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import construct as c

__all__ = [
    "Chooser",
    "RandomChooser",
    "UnsupportedConstructError",
    "generate",
    "grow_function",
    "mutate_stream",
    "parse_messages",
]

T = TypeVar("T")

_MISSING: Any = object()

# construct's singletons (Pass, Flag, VarInt, ...) are instances: match on their classes.
_PASS = type(c.Pass)
_FLAG = type(c.Flag)
_VARINT = type(c.VarInt)
_ZIGZAG = type(c.ZigZag)
_GREEDY_BYTES = type(c.GreedyBytes)
_NO_VALUE = (
    c.Const, c.Computed, c.Rebuild, c.Checksum, c.Peek,
    _PASS, type(c.Terminated), type(c.Index), type(c.Tell),
)  # fmt: skip
_DYNAMIC_LIMIT = 1 << 16


class UnsupportedConstructError(ValueError):
    """The declaration uses a construct the generator cannot make values for."""


class Chooser(Protocol):
    """The source of every choice the walker makes."""

    def integer(self, low: int, high: int) -> int:
        """An integer in ``low..high``."""
        ...

    def binary(self, min_size: int, max_size: int) -> bytes:
        """Bytes of a length in ``min_size..max_size``."""
        ...

    def text(self, max_size: int, *, ascii_only: bool, forbid_nul: bool) -> str:
        """A string of at most ``max_size`` characters."""
        ...

    def floating(self, width: int) -> float:
        """A finite float representable in ``width`` bits."""
        ...

    def pick(self, options: Sequence[T]) -> T:
        """One of ``options`` (not empty)."""
        ...

    def flag(self) -> bool:
        """True or False."""
        ...

    def keep(self) -> bool:
        """Whether to keep a template value instead of drawing a new one."""
        ...


class RandomChooser:
    """Choices from ``random.Random``, biased to small sizes and edge values."""

    def __init__(self, rng: random.Random, *, keep_probability: float = 0.8) -> None:
        self._rng = rng
        self._keep = keep_probability

    def integer(self, low: int, high: int) -> int:
        rng = self._rng
        roll = rng.random()
        if roll < 0.2:
            return rng.choice([low, high, max(low, min(high, 0)), min(high, low + 1)])
        if roll < 0.5:
            return rng.randint(low, min(high, low + 255))
        return rng.randint(low, high)

    def binary(self, min_size: int, max_size: int) -> bytes:
        size = self.integer(min_size, max_size) if max_size > min_size else min_size
        return self._rng.randbytes(size)

    def text(self, max_size: int, *, ascii_only: bool, forbid_nul: bool) -> str:
        size = self.integer(0, max_size) if max_size > 0 else 0
        low = 1 if forbid_nul else 0
        high = 0x7F if ascii_only else 0x2FF
        return "".join(chr(self._rng.randint(low, high)) for _ in range(size))

    def floating(self, width: int) -> float:
        value = self._rng.uniform(-1e6, 1e6)
        if width < 64:
            value = struct.unpack("<e" if width == 16 else "<f", _pack_float(value, width))[0]
        return float(value)

    def pick(self, options: Sequence[T]) -> T:
        return options[self._rng.randrange(len(options))]

    def flag(self) -> bool:
        return self._rng.random() < 0.5

    def keep(self) -> bool:
        return self._rng.random() < self._keep


def _pack_float(value: float, width: int) -> bytes:
    code = "<e" if width == 16 else "<f"
    try:
        return struct.pack(code, value)
    except OverflowError:
        return struct.pack(code, 0.0)


class _GrowChooser:
    """Smallest choices everywhere, except the first byte field that can hold ``want`` bytes."""

    def __init__(self, want: int) -> None:
        self.want = want
        self.grown = want == 0

    def integer(self, low: int, high: int) -> int:
        return 0 if low <= 0 <= high else low

    def binary(self, min_size: int, max_size: int) -> bytes:
        if not self.grown and max_size >= self.want >= min_size:
            self.grown = True
            return b"a" * self.want
        return b"a" * min_size

    def text(self, max_size: int, *, ascii_only: bool, forbid_nul: bool) -> str:
        if not self.grown and max_size >= self.want:
            self.grown = True
            return "a" * self.want
        return ""

    def floating(self, width: int) -> float:
        return 0.0

    def pick(self, options: Sequence[T]) -> T:
        return options[0]

    def flag(self) -> bool:
        return False

    def keep(self) -> bool:
        return False


def _int_range(size: int, signed: bool) -> tuple[int, int]:
    bits = 8 * size
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def _max_length(lengthfield: c.Construct[Any, Any]) -> int:
    """The largest length ``lengthfield`` can encode (bounded for generation)."""
    field = _unwrap(lengthfield)
    if isinstance(field, c.FormatField) and field.fmtstr[-1] in "bBhHiIlLqQnN":
        return _int_range(struct.calcsize(field.fmtstr), field.fmtstr[-1].islower())[1]
    if isinstance(field, c.BytesInteger) and isinstance(field.length, int):
        return _int_range(field.length, field.signed)[1]
    return 1 << 62  # VarInt and friends


def _unwrap(con: c.Construct[Any, Any]) -> c.Construct[Any, Any]:
    while isinstance(con, c.Renamed):
        con = con.subcon
    return con


def _evaluate(param: Any, context: c.Container[Any]) -> Any:
    return param(context) if callable(param) else param


class _Walker:
    def __init__(self, chooser: Chooser, field_size: int, items: int) -> None:
        self.chooser = chooser
        self.field_size = field_size
        self.items = items

    def value(
        self, con: c.Construct[Any, Any], context: c.Container[Any], limit: int, template: Any
    ) -> Any:
        con = _unwrap(con)
        chooser = self.chooser
        kept = template is not _MISSING and not isinstance(template, dict | list)
        if kept and chooser.keep():
            return template
        if isinstance(con, c.Struct | c.LazyStruct):
            return self.struct(con.subcons, context, limit, template)
        if isinstance(con, c.Sequence):
            items = template if isinstance(template, list) else []
            out = []
            for index, sub in enumerate(con.subcons):
                out.append(self.value(sub, context, limit, _at(items, index)))
            return c.ListContainer(out)
        if isinstance(con, c.FocusedSeq):
            return self.focused(con, context, limit, template)
        if isinstance(con, _NO_VALUE):
            return None
        leaf = self.leaf(con, context, limit)
        if leaf is not _MISSING:
            return leaf
        if isinstance(con, c.Prefixed):
            room = _max_length(con.lengthfield)
            if con.includelength:
                room -= con.lengthfield.sizeof()
            return self.value(con.subcon, context, min(limit, room), template)
        if isinstance(con, c.Array):
            return self.array(con, context, limit, template)
        if isinstance(con, c.GreedyRange):
            count = chooser.integer(0, self.items)
            items = template if isinstance(template, list) else []
            return c.ListContainer(
                self.value(con.subcon, context, limit, _at(items, index)) for index in range(count)
            )
        if isinstance(con, c.Padded):
            if isinstance(_unwrap(con.subcon), _PASS):
                return None
            room = _evaluate(con.length, context)
            return self.value(con.subcon, context, min(limit, room), template)
        if isinstance(con, c.FixedSized):
            room = _evaluate(con.length, context)
            return self.value(con.subcon, context, min(limit, room), template)
        if isinstance(con, c.NullTerminated):
            value = self.value(con.subcon, context, limit, template)
            if isinstance(value, bytes):
                while con.term in value:
                    value = value.replace(con.term, b"")
            return value
        if isinstance(con, c.NullStripped):
            value = self.value(con.subcon, context, limit, template)
            if isinstance(value, bytes):
                value = value.rstrip(con.pad)
            return value
        if isinstance(con, c.Default):
            return self.value(con.subcon, context, limit, template)
        if isinstance(con, c.Switch):
            key = self.dynamic(con.keyfunc, context, "Switch key")
            case = con.cases.get(key, con.default)
            return self.value(case, context, limit, template)
        if isinstance(con, c.IfThenElse):
            condition = self.dynamic(con.condfunc, context, "IfThenElse condition")
            branch = con.thensubcon if condition else con.elsesubcon
            return self.value(branch, context, limit, template)
        if isinstance(con, c.Select):
            return self.value(chooser.pick(con.subcons), context, limit, template)
        if isinstance(con, c.Aligned | c.Transformed | c.Restreamed | c.Lazy):
            return self.value(con.subcon, context, limit, template)
        if isinstance(con, c.Adapter):
            return self.adapted(con, context, limit)
        raise UnsupportedConstructError(
            f"cannot generate values for {type(con).__name__}: give the FuzzTarget a grow "
            "function and a corpus instead, or declare the message with supported constructs"
        )

    def leaf(self, con: c.Construct[Any, Any], context: c.Container[Any], limit: int) -> Any:
        """A value for a field that holds no other field, or _MISSING if ``con`` is not one."""
        chooser = self.chooser
        if isinstance(con, c.FormatField):
            return self.format_field(con)
        if isinstance(con, c.BytesInteger | c.BitsInteger):
            size = _evaluate(con.length, context)
            bits = size * 8 if isinstance(con, c.BytesInteger) else size
            low, high = (
                (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if con.signed else (0, (1 << bits) - 1)
            )
            return chooser.integer(low, high)
        if isinstance(con, _FLAG):
            return chooser.flag()
        if isinstance(con, _VARINT):
            return chooser.integer(0, (1 << 32) - 1)
        if isinstance(con, _ZIGZAG):
            return chooser.integer(-(1 << 31), (1 << 31) - 1)
        if isinstance(con, c.Bytes):
            return self.sized_bytes(con, context)
        if isinstance(con, _GREEDY_BYTES):
            return chooser.binary(0, min(limit, self.field_size))
        if isinstance(con, c.StringEncoded):
            return self.string(con, context, limit)
        if isinstance(con, c.Enum):
            labels = list(con.encmapping)
            if labels:
                return str(chooser.pick(labels))
            return self.value(con.subcon, context, limit, _MISSING)
        if isinstance(con, c.FlagsEnum):
            return c.Container({name: chooser.flag() for name in con.flags})
        if isinstance(con, c.Mapping):
            return chooser.pick(list(con.encmapping))
        return _MISSING

    def struct(
        self,
        subcons: Sequence[c.Construct[Any, Any]],
        parent: c.Container[Any],
        limit: int,
        template: Any,
    ) -> c.Container[Any]:
        fields = template if isinstance(template, dict) else {}
        out: c.Container[Any] = c.Container()
        context: c.Container[Any] = c.Container(_=parent)
        for sub in subcons:
            value = self.value(sub, context, limit, fields.get(sub.name, _MISSING))
            if sub.name and not isinstance(_unwrap(sub), _NO_VALUE):
                # A Rebuild's value exists only when building: leave it out of the context.
                out[sub.name] = value
                context[sub.name] = value
        return out

    def focused(self, con: Any, parent: c.Container[Any], limit: int, template: Any) -> Any:
        context: Any = c.Container(_=parent)
        result: Any = None
        for sub in con.subcons:
            if sub.name == con.parsebuildfrom:
                result = self.value(sub, context, limit, template)
                context[sub.name] = result
            elif not isinstance(_unwrap(sub), c.Const | c.Rebuild | c.Computed):
                raise UnsupportedConstructError(
                    f"FocusedSeq field {sub.name!r} must be a Const, Rebuild or Computed"
                )
        return result

    def format_field(self, con: Any) -> Any:
        code = con.fmtstr[-1]
        chooser = self.chooser
        if code == "?":
            return chooser.flag()
        if code in "efd":
            return chooser.floating({"e": 16, "f": 32, "d": 64}[code])
        if code in "cs":
            return chooser.binary(1, 1)
        low, high = _int_range(struct.calcsize(con.fmtstr), code.islower())
        return chooser.integer(low, high)

    def sized_bytes(self, con: Any, context: Any) -> bytes:
        try:
            size = _evaluate(con.length, context)
        except (KeyError, AttributeError):
            # The length is a Rebuild (or a field built after this one): any size is valid.
            return self.chooser.binary(0, self.field_size)
        if not isinstance(size, int) or not 0 <= size <= _DYNAMIC_LIMIT:
            raise UnsupportedConstructError(
                f"Bytes length {size!r} from the context is not a small integer: declare the "
                "length with Prefixed or Rebuild so that generated values stay valid"
            )
        return self.chooser.binary(size, size)

    def array(self, con: Any, context: Any, limit: int, template: Any) -> Any:
        try:
            count = _evaluate(con.count, context)
        except (KeyError, AttributeError):
            count = self.chooser.integer(0, self.items)  # counted by a Rebuild
        if not isinstance(count, int) or not 0 <= count <= _DYNAMIC_LIMIT:
            raise UnsupportedConstructError(f"Array count {count!r} is not a small integer")
        items = template if isinstance(template, list) else []
        return c.ListContainer(
            self.value(con.subcon, context, limit, _at(items, index)) for index in range(count)
        )

    def string(self, con: Any, context: Any, limit: int) -> str:
        encoding = con.encoding.replace("-", "_").lower()
        inner = _unwrap(con.subcon)
        forbid_nul = isinstance(inner, c.NullTerminated | c.FixedSized)
        room = limit
        if isinstance(inner, c.Prefixed):
            room = min(room, _max_length(inner.lengthfield))
        if isinstance(inner, c.FixedSized):
            room = min(room, _evaluate(inner.length, context))
        ascii_only = encoding not in ("utf8", "utf_8")
        text = self.chooser.text(
            min(room, self.field_size) if room >= 0 else 0,
            ascii_only=ascii_only,
            forbid_nul=forbid_nul,
        )
        if encoding not in ("utf8", "utf_8", "ascii", "latin_1", "latin1"):
            text = "".join(ch for ch in text if ch.isalnum()) or ""
        while text and len(text.encode(con.encoding)) > room:
            text = text[:-1]
        return text

    def adapted(self, con: Any, context: Any, limit: int) -> Any:
        for _ in range(20):
            raw = self.value(con.subcon, context, limit, _MISSING)
            try:
                if isinstance(con, c.Validator):
                    if con._validate(raw, context, "(generate)"):
                        return raw
                    continue
                return con._decode(raw, context, "(generate)")
            except Exception as exc:
                raise UnsupportedConstructError(
                    f"cannot derive a value for {type(con).__name__} from {raw!r}: {exc}"
                ) from exc
        raise UnsupportedConstructError(f"no generated value passes {type(con).__name__}")

    def dynamic(self, func: Any, context: c.Container[Any], what: str) -> Any:
        try:
            return _evaluate(func, context)
        except Exception as exc:
            raise UnsupportedConstructError(
                f"{what} depends on something generation cannot see: {exc!r}"
            ) from exc


def _at(items: Sequence[Any], index: int) -> Any:
    return items[index] if index < len(items) else _MISSING


def generate(
    con: c.Construct[Any, Any],
    chooser: Chooser,
    *,
    max_field_size: int = 32,
    max_items: int = 4,
    template: Any = _MISSING,
) -> Any:
    """A value ``con`` can build, from ``chooser``'s choices.

    Variable-size fields get at most ``max_field_size`` bytes, repeated
    fields at most ``max_items`` items. With ``template`` (a parsed value),
    each leaf keeps the template's value when ``chooser.keep()`` says so.
    """
    walker = _Walker(chooser, max_field_size, max_items)
    return walker.value(con, c.Container(), 1 << 62, template)


def grow_function(con: c.Construct[Any, Any]) -> Callable[[int], bytes] | None:
    """``grow(n)``: a message of ``con`` with one variable field grown to ``n`` bytes in total.

    None when the declaration has no variable-size byte or string field.
    """
    walker_size = 1 << 62

    def build(want: int) -> tuple[bytes, bool]:
        chooser = _GrowChooser(want)
        value = _Walker(chooser, walker_size, 0).value(con, c.Container(), walker_size, _MISSING)
        return con.build(value), chooser.grown

    base, _ = build(0)
    if not build(1)[1]:
        return None
    overhead = len(base)

    def grow(size: int) -> bytes:
        want = max(0, size - overhead)
        data = base
        for _ in range(4):  # a varint prefix may grow with the field
            data, _grown = build(want)
            if len(data) == size or want == 0:
                break
            want = max(0, want + size - len(data))
        return data

    return grow


def parse_messages(con: c.Construct[Any, Any], data: bytes) -> tuple[list[Any], bytes]:
    """Parse ``data`` as messages of ``con`` back to back; the values and the unparsed rest."""
    stream = io.BytesIO(data)
    values: list[Any] = []
    position = 0
    while position < len(data):
        try:
            value = con.parse_stream(stream)
        except Exception:
            break
        if stream.tell() == position:
            break  # an empty message would loop forever
        values.append(value)
        position = stream.tell()
    return values, data[position:]


def mutate_stream(
    con: c.Construct[Any, Any], data: bytes, rng: random.Random, *, max_field_size: int = 64
) -> bytes:
    """A structure-aware mutation of ``data``: messages inserted, dropped, duplicated or
    re-drawn field by field, then rebuilt, so that length fields stay valid."""
    values, rest = parse_messages(con, data)
    chooser = RandomChooser(rng)

    def fresh(template: Any = _MISSING) -> Any:
        return generate(con, chooser, max_field_size=max_field_size, template=template)

    operation = rng.randrange(5) if values else 0
    index = rng.randrange(len(values) + 1)
    if operation == 0:
        values.insert(index, fresh())
    elif operation == 1:
        del values[index % len(values)]
    elif operation == 2:
        values.insert(index, values[index % len(values)])
    elif operation == 3:
        values[index % len(values)] = fresh()
    else:
        values[index % len(values)] = fresh(values[index % len(values)])
    if rest and rng.random() < 0.5:
        rest = b""
    return b"".join(con.build(value) for value in values) + rest
