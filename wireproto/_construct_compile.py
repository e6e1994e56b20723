"""Compile a construct declaration into specialised, bounds-checked parse and build functions.

construct's interpreter walks the declaration for every message (a context
``Container`` per ``Struct``, a stream object per ``Prefixed``); its own
compiled mode is faster but reads short input silently, so it must never see
network bytes. This module generates Python source once per declaration, in
the spirit of the framer's header fast path: consecutive fixed-size fields
become one ``struct.unpack_from`` (or one ``pack``), every read is checked
against the end of its bounds, and every failure raises the exception class
construct raises for the same input (``StreamError`` for short input,
``ConstError`` for a wrong constant, ...). Parsed values are equal to
construct's (``Container``, ``ListContainer``, ``EnumIntegerString``).

Byte fields are slices of the input: ``bytes`` when parsing ``bytes``,
``memoryview`` slices (no copy) when parsing a ``memoryview``.

What the compiler does not know (lambdas, ``Switch``, strings, ...) is
served by construct's interpreter for the whole declaration; parse and build
fall back independently (``CompiledConstruct.parse_compiled``).
"""

from __future__ import annotations

import operator
import re
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import construct as c
from construct.expr import BinExpr, FuncPath, Path, UniExpr
from construct.lib.binary import integer2bytes

from wireproto._construct_emit import precompiled, typed_loop

__all__ = ["CompiledConstruct", "compile_construct"]

_NATIVE = "<" if sys.byteorder == "little" else ">"
_INT_CODES = frozenset("bBhHlLqQ")


ZERO_COPY_MIN = 64 * 1024
"""Frames this large are parsed as a view of their one copy: byte fields are memoryviews."""

_FLAG = type(c.Flag)
_GREEDY_BYTES = type(c.GreedyBytes)
_TERMINATED = type(c.Terminated)
_PASS = type(c.Pass)


class _Unsupported(Exception):
    """The declaration holds something the compiler does not translate."""


@dataclass(frozen=True, slots=True)
class CompiledConstruct:
    """Parse and build functions for one declaration, and the source they came from."""

    construct: c.Construct[Any, Any]
    parse: Callable[[Any], Any]
    """``parse(data)``: like ``construct.parse`` (bytes, bytearray or memoryview)."""
    build: Callable[[Any], bytes]
    """``build(obj)``: like ``construct.build``; byte fields may also be memoryviews."""
    parse_compiled: bool
    build_compiled: bool
    source: str = field(repr=False)
    fields: tuple[str, ...] | None = None
    """The names of the message's fields, in order, when ``parse_fields`` and
    ``build_fields`` were generated: the named values of a ``Struct``, those of
    nested ``Struct`` s in their place, ``Const``, ``Rebuild`` and ``Padding``
    fields left out (their values are known or computed)."""
    parse_fields: Callable[[Any], tuple[Any, ...]] | None = None
    """``parse_fields(data)``: the values of :attr:`fields` as a tuple, no
    ``Container``; the same checks and errors as ``parse``."""
    build_fields: Callable[..., bytes] | None = None
    """``build_fields(*values)``: ``build`` from the values of :attr:`fields`."""
    parse_framed: Callable[..., tuple[int, Any]] | None = None
    """For a ``Struct`` of fixed-size fields then a ``Prefixed`` body ending the
    frame: ``parse_framed(buf, offset, total, max_body, check)`` frames and
    parses at once (the header read once); ``(end, message)`` or ``(0, None)``.
    ``check(buf, offset)`` is called (to raise the framer's error) unless every
    ``Const`` of the header matches and the length is at most ``max_body``."""
    parse_framed_fields: Callable[..., tuple[int, Any]] | None = None
    """``parse_framed`` giving the tuple of ``parse_fields``."""
    consume_framed: Callable[..., int] | None = None
    """``parse_framed`` in a loop over every whole frame, each message handed to a
    handler: ``consume_framed(buf, offset, total, max_body, check, handler, sender,
    replies, flush, flush_size, watch_close, malformed)`` returns the end of the last
    frame consumed (see :func:`_consume_loop`)."""
    consume_framed_fields: Callable[..., int] | None = None
    """``consume_framed`` handing over the tuple of ``parse_fields``."""


_CACHE: dict[int, CompiledConstruct] = {}
_LOOP_TEXTS: dict[int, dict[str, str]] = {}


def compile_construct(con: c.Construct[Any, Any]) -> CompiledConstruct:
    """The compiled functions of ``con`` (generated once per declaration, then cached)."""
    if isinstance(con, c.Compiled):
        raise ValueError("compile the declaration, not construct's compiled form")
    cached = _CACHE.get(id(con))
    if cached is not None and cached.construct is con:
        return cached
    sources: list[str] = []
    functions: dict[str, Any] = {}
    for name, gen in (("parse", _ParseGen()), ("build", _BuildGen())):
        try:
            src, namespace = gen.function(con)
        except _Unsupported:
            continue
        exec(compile(src, f"<wireproto {name} {_short_repr(con)}>", "exec"), namespace)
        functions[name] = namespace[name]
        sources.append(src)
    extra: dict[str, Any] = {}
    loop_texts: dict[str, str] = {}
    flat_parse, flat_framed = _ParseGen(flat=True), _ParseGen(flat=True)
    positional = _BuildGen(positional=True, unchecked=True)
    makers: list[tuple[str, Callable[[], tuple[str, dict[str, Any]]]]] = [
        ("parse_fields", lambda: flat_parse.function(con)),
        ("build_fields", lambda: positional.function_fields(con)),
        ("parse_framed", lambda: _ParseGen().framed(con)),
        ("parse_framed_fields", lambda: flat_framed.framed(con)),
    ]
    for name, make in makers:
        try:
            src, namespace = make()
        except _Unsupported:
            continue
        src = re.sub(r"^def \w+\(", f"def {name}(", src, count=1)
        exec(compile(src, f"<wireproto {name} {_short_repr(con)}>", "exec"), namespace)
        extra[name] = namespace[name]
        sources.append(src)
        if name.startswith("parse_framed"):
            loop_name = name.replace("parse_", "consume_")
            loop = _consume_loop(src, loop_name)
            extra[loop_name] = _loop_function(con, loop_name, loop, namespace, loop_texts)
            sources.append(loop)
    names = flat_parse.names
    if "parse_fields" not in extra or "build_fields" not in extra:
        extra.pop("parse_fields", None)
        extra.pop("build_fields", None)
        extra.pop("parse_framed_fields", None)
        extra.pop("consume_framed_fields", None)
    elif [p.removeprefix("p_") for p in positional.params] != list(names):
        raise AssertionError(f"internal: fields {names} and parameters {positional.params}")
    parse_ok, build_ok = "parse" in functions, "build" in functions
    parse: Callable[[Any], Any] = functions.get("parse", con.parse)
    build: Callable[[Any], bytes] = functions.get("build", con.build)
    source = "\n".join(sources)
    compiled = CompiledConstruct(
        con,
        parse,
        build,
        parse_ok,
        build_ok,
        source,
        names if "parse_fields" in extra else None,
        extra.get("parse_fields"),
        extra.get("build_fields"),
        extra.get("parse_framed"),
        extra.get("parse_framed_fields"),
        extra.get("consume_framed"),
        extra.get("consume_framed_fields"),
    )
    _CACHE[id(con)] = compiled  # declarations are module-level: kept for the process
    _LOOP_TEXTS[id(con)] = loop_texts
    return compiled


def loop_text(con: c.Construct[Any, Any], name: str) -> str | None:
    """The typed module text (:func:`~wireproto._construct_emit.typed_loop`) of the
    consumer loop ``name`` (``consume_framed`` or ``consume_framed_fields``) of ``con``."""
    compile_construct(con)
    return _LOOP_TEXTS[id(con)].get(name)


def _loop_function(
    con: c.Construct[Any, Any],
    name: str,
    loop: str,
    namespace: dict[str, Any],
    texts: dict[str, str],
) -> Callable[..., int]:
    """The consumer loop of source ``loop``: as generated, or the same compiled ahead of time.

    Its typed text (:func:`~wireproto._construct_emit.typed_loop`) goes to ``texts``; a
    function registered under exactly that text (a module of ``precompiled_loops``,
    compiled by mypyc in the wheel) is taken instead of the generated one.
    """
    exec(compile(loop, f"<wireproto {name} {_short_repr(con)}>", "exec"), namespace)
    text = typed_loop(loop, namespace)
    if text is not None:
        texts[name] = text
        ahead = precompiled(text)
        if ahead is not None:
            return ahead
    function: Callable[..., int] = namespace[name]
    return function


def _short_repr(con: c.Construct[Any, Any]) -> str:
    text = repr(con)
    return text if len(text) <= 60 else text[:57] + "..."


# -- shared pieces -----------------------------------------------------------------------


def _unwrap(con: c.Construct[Any, Any]) -> c.Construct[Any, Any]:
    while isinstance(con, c.Renamed):
        if con.parsed is not None:
            raise _Unsupported("a parsed= hook")
        con = con.subcon
    if con.parsed is not None:
        raise _Unsupported("a parsed= hook")
    return con


def _order(fmtstr: str) -> str:
    return _NATIVE if fmtstr[0] == "=" else fmtstr[0]


_OPERATORS = {
    operator.add: "+",
    operator.sub: "-",
    operator.mul: "*",
    operator.floordiv: "//",
    operator.mod: "%",
    operator.lshift: "<<",
    operator.rshift: ">>",
    operator.and_: "&",
    operator.or_: "|",
    operator.xor: "^",
}
_FUNCTIONS = frozenset({len, sum, min, max, abs})


def _expr_code(expr: object, lookup: Callable[[list[str]], str]) -> str:
    """Python source for a construct ``this`` expression, fields read through ``lookup``.

    Paths from ``this``, ``len_``/``sum_``/``min_``/``max_``/``abs_``, integer
    constants and arithmetic; anything else (a lambda, a parent ``_`` path) is
    left to construct.
    """
    if type(expr) is int:
        return repr(expr)
    if isinstance(expr, Path):
        fields: list[str] = []
        node: Any = expr
        while node._Path__parent is not None:
            fields.append(node._Path__field)
            node = node._Path__parent
        fields.reverse()
        if node._Path__name != "this" or not fields:
            raise _Unsupported(f"expression {expr!r}")
        if not all(type(f) is str and f and not f.startswith("_") for f in fields):
            raise _Unsupported(f"expression {expr!r}")
        return lookup(fields)
    node = expr
    if isinstance(node, BinExpr) and node.op in _OPERATORS:  # type: ignore[attr-defined]
        left = _expr_code(node.lhs, lookup)  # type: ignore[attr-defined]
        right = _expr_code(node.rhs, lookup)  # type: ignore[attr-defined]
        return f"({left} {_OPERATORS[node.op]} {right})"  # type: ignore[attr-defined]
    if isinstance(node, UniExpr) and node.op is operator.neg:  # type: ignore[attr-defined]
        return f"(-{_expr_code(node.operand, lookup)})"  # type: ignore[attr-defined]
    if isinstance(expr, FuncPath):
        func, operand = expr._FuncPath__func, expr._FuncPath__operand  # type: ignore[attr-defined]
        if func in _FUNCTIONS and operand is not None:
            return f"{func.__name__}({_expr_code(operand, lookup)})"
    raise _Unsupported(f"expression {expr!r}")


@dataclass(slots=True)
class _Fixed:
    """A fixed-size piece one struct format decodes: its codes and how to finish it."""

    order: str  # "" when the piece has no byte order (single bytes, Bytes(n))
    fmt: str
    nvals: int
    size: int
    # Sequential (size, layout-or-None, expected) steps, replayed on short input so a
    # wrong constant before the end raises ConstError as construct would.
    steps: tuple[tuple[int, struct.Struct | None, Any], ...]
    finish: Callable[[_ParseGen, list[str], str], str]
    """Emit checks/conversions for the value names; return the value's expression."""
    prepare: Callable[[_BuildGen, str, str], list[str]]
    """Emit checks/conversions of the source expression; return the packed value exprs."""


def _no_step(size: int) -> tuple[tuple[int, struct.Struct | None, Any], ...]:
    return ((size, None, None),)


def _fixed(con: c.Construct[Any, Any]) -> _Fixed | None:  # noqa: PLR0915 - one case per class
    """The fixed-size description of ``con``, or None when it is not fixed-size."""
    con = _unwrap(con)
    if isinstance(con, c.FormatField):
        order = "" if con.length == 1 else _order(con.fmtstr)
        code = con.fmtstr[1]
        return _Fixed(
            order,
            code,
            1,
            con.length,
            _no_step(con.length),
            lambda g, v, ind: v[0],
            lambda g, src, ind: [src],
        )
    if isinstance(con, _FLAG):
        return _Fixed("", "?", 1, 1, _no_step(1), lambda g, v, ind: v[0], lambda g, s, i: [s])
    if isinstance(con, c.Bytes) and type(con.length) is int:
        n = con.length

        def bytes_prepare(g: _BuildGen, src: str, ind: str) -> list[str]:
            var = g.var("b")
            g.line(ind, f"{var} = {src}")
            g.line(ind, f"if type({var}) is not bytes or len({var}) != {n}:")
            g.line(ind + "    ", f"{var} = bytes(_bytes_arg({var}, {n}))")
            return [var]

        return _Fixed("", f"{n}s", 1, n, _no_step(n), lambda g, v, ind: v[0], bytes_prepare)
    if isinstance(con, c.BytesInteger):
        width, signed, swapped = con.length, con.signed, con.swapped
        if type(width) is not int or width <= 0 or type(swapped) is not bool:
            raise _Unsupported("a BytesInteger with a computed length or order")
        byteorder = "little" if swapped else "big"

        def bint_finish(g: _ParseGen, v: list[str], ind: str) -> str:
            return f"_from_bytes({v[0]}, {byteorder!r}, signed={signed})"

        def bint_prepare(g: _BuildGen, src: str, ind: str) -> list[str]:
            var = g.var("i")
            g.line(ind, f"{var} = _int_bytes({src}, {width}, {byteorder!r}, {signed})")
            return [var]

        return _Fixed("", f"{width}s", 1, width, _no_step(width), bint_finish, bint_prepare)
    if isinstance(con, c.Padded) and isinstance(con.subcon, _PASS) and type(con.length) is int:
        n = con.length
        if con.pattern != b"\x00" or n < 0:
            raise _Unsupported("a Padding with a pattern")
        return _Fixed("", f"{n}x", 0, n, _no_step(n), lambda g, v, ind: "None", lambda g, s, i: [])
    if isinstance(con, c.Const):
        inner = _fixed(con.subcon)
        if inner is None or inner.nvals != 1:
            raise _Unsupported("a Const over a variable-size field")
        value = con.value
        layout = struct.Struct((inner.order or ">") + inner.fmt)
        if layout.size != inner.size or inner.finish(_ParseGen(), ["x"], "") != "x":
            raise _Unsupported("a Const over a converted field")
        try:
            layout.pack(value)
        except struct.error as exc:
            raise _Unsupported(f"an unpackable Const: {exc}") from None

        def const_finish(g: _ParseGen, v: list[str], ind: str) -> str:
            if g.consts_checked:  # checked already (parse_framed's header)
                return v[0]
            name = g.const(value, "const")
            g.line(ind, f"if not {v[0]} == {g.literal(value, 'const')}:")
            g.line(
                ind + "    ",
                f"raise ConstError(f'parsing expected {{{name}!r}} but parsed {{{v[0]}!r}}')",
            )
            return v[0]

        def const_prepare(g: _BuildGen, src: str, ind: str) -> list[str]:
            name = g.const(value, "const")
            if src == "None":
                return [name]
            var = g.var("k")
            g.line(ind, f"{var} = {src}")
            g.line(ind, f"if {var} is not None and {var} != {name}:")
            g.line(
                ind + "    ",
                f"raise ConstError(f'building expected None or {{{name}!r}} but got {{{var}!r}}')",
            )
            return [name]

        step = (inner.size, layout, value)
        return _Fixed(inner.order, inner.fmt, 1, inner.size, (step,), const_finish, const_prepare)
    if isinstance(con, c.Enum):
        inner = _fixed(con.subcon)
        if inner is None or inner.nvals != 1 or not isinstance(_unwrap(con.subcon), c.FormatField):
            raise _Unsupported("an Enum over something other than a FormatField")
        enum_con = con

        def enum_finish(g: _ParseGen, v: list[str], ind: str) -> str:
            dec = g.const(enum_con.decmapping, "dec")
            var = g.var("e")
            g.line(ind, f"{var} = {dec}.get({v[0]})")
            g.line(ind, f"if {var} is None:")
            g.line(ind + "    ", f"{var} = EnumInteger({v[0]})")
            return var

        def enum_prepare(g: _BuildGen, src: str, ind: str) -> list[str]:
            enc = g.const(enum_con.encmapping, "enc")
            var = g.var("e")
            g.line(ind, f"{var} = {src}")
            g.line(ind, f"if not isinstance({var}, int):")
            g.line(ind + "    ", f"{var} = _encode({enc}, {var})")
            return [var]

        return _Fixed(inner.order, inner.fmt, 1, inner.size, inner.steps, enum_finish, enum_prepare)
    if isinstance(con, c.Struct):
        return _fixed_struct(con)
    return None


def _fixed_struct(con: c.Struct) -> _Fixed | None:
    items: list[tuple[str | None, _Fixed]] = []
    order = ""
    for sub in con.subcons:
        piece = _fixed(sub)
        if piece is None:
            return None
        if piece.order:
            if order and piece.order != order:
                return None
            order = piece.order
        items.append((sub.name, piece))
    fmt = "".join(piece.fmt for _, piece in items)
    steps = tuple(step for _, piece in items for step in piece.steps)

    def finish(g: _ParseGen, v: list[str], ind: str) -> str:
        fields: list[str] = []
        at = 0
        for name, piece in items:
            expr = piece.finish(g, v[at : at + piece.nvals], ind)
            at += piece.nvals
            if name:
                fields.append(f"{name!r}: {expr}")
        var = g.var("s")
        g.line(ind, f"{var} = Container({{{', '.join(fields)}}})")
        return var

    def prepare(g: _BuildGen, src: str, ind: str) -> list[str]:
        obj = g.var("o")
        g.line(ind, f"{obj} = {src}")
        g.line(ind, f"if {obj} is None:")
        g.line(ind + "    ", f"{obj} = {{}}")
        values: list[str] = []
        for name, piece in items:
            values += piece.prepare(g, g.field_source(obj, name, _flag_none(con, name)), ind)
        return values

    size = sum(piece.size for _, piece in items)
    nvals = sum(piece.nvals for _, piece in items)
    return _Fixed(order, fmt, nvals, size, steps, finish, prepare)


def _flag_none(con: c.Struct, name: str | None) -> bool:
    for sub in con.subcons:
        if sub.name == name:
            return bool(sub.flagbuildnone)
    return True


def _not_a_field(sub: c.Construct[Any, Any], inner: c.Construct[Any, Any]) -> bool:
    """True for a named field that is not among the message's fields (see ``fields``):
    a ``Const``, a ``Rebuild``, anything built from nothing (``Padding``)."""
    if isinstance(inner, c.Const | c.Rebuild):
        return True
    return bool(sub.flagbuildnone) and not isinstance(inner, c.Struct)


def _holds_struct(con: c.Construct[Any, Any]) -> bool:
    """A ``Struct``, or a ``Prefixed`` one: its fields are spliced among the message's."""
    while isinstance(con, c.Prefixed):
        con = _unwrap(con.subcon)
    return isinstance(con, c.Struct)


def _prefixed_array(con: c.Construct[Any, Any]) -> tuple[c.Construct[Any, Any], Any] | None:
    """``(countfield, subcon)`` when ``con`` is what ``PrefixedArray`` returns."""
    if not isinstance(con, c.FocusedSeq) or con.parsebuildfrom != "items":
        return None
    subs = con.subcons
    if len(subs) != 2 or [s.name for s in subs] != ["count", "items"]:
        return None
    count, items = _unwrap(subs[0]), _unwrap(subs[1])
    if not isinstance(count, c.Rebuild) or not isinstance(items, c.Array):
        return None
    if repr(items.count) != "this['count']" or items.discard:
        return None
    return count.subcon, items.subcon


def _unsigned(con: c.Construct[Any, Any]) -> bool:
    inner = _unwrap(con)
    if isinstance(inner, c.FormatField):
        return inner.fmtstr[1] in "BHLQ"
    return isinstance(inner, c.BytesInteger) and not inner.signed


def _length_field(con: c.Construct[Any, Any]) -> _Fixed:
    piece = _fixed(con)
    inner = _unwrap(con)
    if piece is None or piece.nvals != 1:
        raise _Unsupported("a length field that is not a fixed-size integer")
    if isinstance(inner, c.FormatField) and inner.fmtstr[1] in _INT_CODES:
        return piece
    if isinstance(inner, c.BytesInteger):
        return piece
    raise _Unsupported("a length field that is not an integer")


class _Gen:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.ns: dict[str, Any] = {
            "Container": c.Container,
            "ListContainer": c.ListContainer,
            "EnumInteger": c.EnumInteger,
            "StreamError": c.StreamError,
            "ConstError": c.ConstError,
            "ConstructError": c.ConstructError,
            "RangeError": c.RangeError,
            "TerminatedError": c.TerminatedError,
            "FormatFieldError": c.FormatFieldError,
            "struct_error": struct.error,
            "_from_bytes": int.from_bytes,
            "_bytes_arg": _bytes_arg,
            "_greedy_arg": _greedy_arg,
            "_int_bytes": _int_bytes,
            "_encode": _encode,
            "_short": _short,
        }
        self._count = 0
        self._consts: dict[int, str] = {}

    def var(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}{self._count}"

    def const(self, value: object, prefix: str) -> str:
        name = self._consts.get(id(value))
        if name is None:
            name = f"_{prefix}{len(self.ns)}"
            self.ns[name] = value
            self._consts[id(value)] = name
        return name

    def line(self, ind: str, text: str) -> None:
        self.lines.append(ind + text)

    def literal(self, value: object, prefix: str) -> str:
        """An int's or bytes' literal (no global lookup), else the constant's name."""
        return repr(value) if type(value) in (int, bytes) else self.const(value, prefix)


class _ParseGen(_Gen):
    # Where the next read starts: an int literal while every read so far had a
    # fixed size, else a variable name ("pos", or the end of a length-prefixed body).
    pos = "0"
    # True while the Consts being finished were compared already (parse_framed's header).
    consts_checked = False

    def __init__(self, *, flat: bool = False) -> None:
        super().__init__()
        # Flat: return the message's fields as a tuple (see CompiledConstruct.fields).
        self.flat = flat
        self.flats: dict[str, list[tuple[str, str]]] = {}
        self.names: tuple[str, ...] = ()

    def advanced(self, size: str) -> str:
        """The source of the position ``size`` bytes further."""
        if self.pos.isdigit() and size.isdigit():
            return str(int(self.pos) + int(size))
        return size if self.pos == "0" else f"{self.pos} + {size}"

    def room(self, end: str) -> str:
        """The source of the bytes left before ``end``."""
        return end if self.pos == "0" else f"{end} - {self.pos}"

    def settle(self, ind: str) -> None:
        """Keep the position in the ``pos`` variable (before a loop and at its end)."""
        if self.pos != "pos":
            self.line(ind, f"pos = {self.pos}")
            self.pos = "pos"

    def function(self, con: c.Construct[Any, Any]) -> tuple[str, dict[str, Any]]:
        ind = "    "
        self.line("", "def parse(data):")
        self.line(ind, "end = len(data)")
        result = self.value(con, "end", ind, {})
        self.line(ind, f"return {self.returned(result, ind)}")
        return "\n".join(self.lines) + "\n", self.ns

    def read_fixed(self, pieces: list[_Fixed], end: str, ind: str) -> list[str]:
        """Emit one bounds-checked unpack of ``pieces``; return one value name per piece."""
        order = next((p.order for p in pieces if p.order), ">")
        fmt = "".join(p.fmt for p in pieces)
        layout = struct.Struct(order + fmt)
        size = layout.size
        names = [self.var("v") for _ in range(sum(p.nvals for p in pieces))]
        steps = tuple(step for p in pieces for step in p.steps)
        self.line(ind, f"if {self.room(end)} < {size}:")
        self.line(ind + "    ", f"_short(data, {self.pos}, {end}, {self.const(steps, 'steps')})")
        if names:
            target = names[0] + "," if len(names) == 1 else ", ".join(names)
            offset = "" if self.pos == "0" else f", {self.pos}"
            self.line(ind, f"{target} = {self.const(layout.unpack_from, 'unpack')}(data{offset})")
        if self.pos.isdigit():
            self.pos = self.advanced(str(size))
        else:
            self.line(ind, f"pos = {self.pos} + {size}")
            self.pos = "pos"
        values: list[str] = []
        at = 0
        for piece in pieces:
            expr = piece.finish(self, names[at : at + piece.nvals], ind)
            if not expr.isidentifier():
                var = self.var("x")
                self.line(ind, f"{var} = {expr}")
                expr = var
            values.append(expr)
            at += piece.nvals
        return values

    def read_length(self, piece: _Fixed, end: str, ind: str, includes: int) -> str:
        """Emit the read of a length prefix and return the body's end name."""
        (n,) = self.read_fixed([piece], end, ind)
        if includes:
            n = f"({n} - {includes})"
        stop = self.var("end")
        self.line(ind, f"if {n} < 0:")
        self.line(ind + "    ", f"raise StreamError(f'length must be non-negative, found {{{n}}}')")
        self.line(ind, f"{stop} = {self.advanced(n)}")
        self.line(ind, f"if {stop} > {end}:")
        self.line(
            ind + "    ",
            f"raise StreamError(f'stream read less than specified amount, expected {{{n}}}, "
            f"found {{{self.room(end)}}}')",
        )
        return stop

    def value(self, con: c.Construct[Any, Any], end: str, ind: str, ctx: dict[str, str]) -> str:
        """Emit the parse of ``con`` from ``pos`` (bounded by ``end``); return its expression."""
        con = _unwrap(con)
        if isinstance(con, c.Struct):
            return self.struct(con, end, ind)
        piece = _fixed(con)
        if piece is not None:
            return self.read_fixed([piece], end, ind)[0]
        if isinstance(con, _GREEDY_BYTES):
            var = self.var("g")
            self.line(ind, f"{var} = data[{self.pos}:{end}]")
            self.pos = end
            return var
        if isinstance(con, c.Bytes):
            return self.computed_bytes(con, end, ind, ctx)
        if isinstance(con, c.Prefixed):
            includes = _length_field(con.lengthfield).size if con.includelength else 0
            stop = self.read_length(_length_field(con.lengthfield), end, ind, includes)
            return self.prefixed_body(con.subcon, stop, ind, ctx)
        array = _prefixed_array(con)
        if array is not None:
            (count,) = self.read_fixed([_length_field(array[0])], end, ind)
            return self.array(array[1], count, end, ind)
        if isinstance(con, _TERMINATED):
            self.line(ind, f"if {self.pos} < {end}:")
            self.line(ind + "    ", "raise TerminatedError('expected end of stream')")
            return "None"
        if isinstance(con, _PASS):
            return "None"
        if isinstance(con, c.Rebuild):
            return self.value(con.subcon, end, ind, ctx)
        raise _Unsupported(type(con).__name__)

    def prefixed_body(
        self, con: c.Construct[Any, Any], stop: str, ind: str, ctx: dict[str, str]
    ) -> str:
        if isinstance(_unwrap(con), _GREEDY_BYTES):
            var = self.var("g")
            self.line(ind, f"{var} = data[{self.pos}:{stop}]")
        else:
            var = self.value(con, stop, ind, ctx)
        self.pos = stop
        return var

    def computed_bytes(self, con: c.Bytes, end: str, ind: str, ctx: dict[str, str]) -> str:
        def lookup(fields: list[str]) -> str:
            if fields[0] not in ctx:
                raise _Unsupported(f"a length reading {fields[0]!r}, not a field before it")
            return ctx[fields[0]] + "".join(f"[{f!r}]" for f in fields[1:])

        length = _expr_code(con.length, lookup)
        n = self.var("n")
        var = self.var("b")
        self.line(ind, f"{n} = {length}")
        self.line(ind, f"if {n} < 0:")
        self.line(ind + "    ", f"raise StreamError(f'length must be non-negative, found {{{n}}}')")
        self.line(ind, f"if {self.room(end)} < {n}:")
        self.line(
            ind + "    ",
            f"raise StreamError(f'stream read less than specified amount, expected {{{n}}}, "
            f"found {{{self.room(end)}}}')",
        )
        self.line(ind, f"{var} = data[{self.pos}:{self.advanced(n)}]")
        self.line(ind, f"pos = {self.advanced(n)}")
        self.pos = "pos"
        return var

    def array(self, con: c.Construct[Any, Any], count: str, end: str, ind: str) -> str:
        flat, self.flat = self.flat, False  # an array is one field: a list of Containers
        var = self.var("a")
        item = self.var("i")
        self.line(ind, f"if not 0 <= {count}:")
        self.line(ind + "    ", f"raise RangeError(f'invalid count {{{count}}}')")
        self.line(ind, f"{var} = ListContainer()")
        self.settle(ind)
        self.line(ind, f"for {item} in range({count}):")
        inner = ind + "    "
        self.line(inner, f"{var}.append({self.value(con, end, inner, {})})")
        self.settle(inner)
        self.flat = flat
        return var

    def struct(self, con: c.Struct, end: str, ind: str) -> str:
        fields: list[tuple[str, str]] = []
        ctx: dict[str, str] = {}
        pending: list[tuple[str | None, _Fixed]] = []

        def flush() -> list[str]:
            if not pending:
                return []
            values = self.read_fixed([p for _, p in pending], end, ind)
            for (name, _), val in zip(pending, values, strict=True):
                if name:
                    fields.append((name, val))
                    ctx[name] = val
            pending.clear()
            return values

        def clashes(piece: _Fixed) -> bool:
            return bool(piece.order) and any(p.order and p.order != piece.order for _, p in pending)

        skip: set[str] = set()
        for sub in con.subcons:
            name = sub.name
            inner = _unwrap(sub)
            if name and _not_a_field(sub, inner):
                skip.add(name)
            # Flat, a nested Struct gives its fields rather than a Container.
            piece = None if self.flat and isinstance(inner, c.Struct) else _fixed(inner)
            if piece is not None:
                if clashes(piece):
                    flush()
                pending.append((name, piece))
                continue
            if isinstance(inner, c.Prefixed):
                # The length prefix joins the fixed fields before it in one unpack.
                length = _length_field(inner.lengthfield)
                if clashes(length):
                    flush()
                pending.append((None, length))
                n = flush()[-1]
                if inner.includelength:
                    n = f"({n} - {length.size})"
                stop = self.var("end")
                if inner.includelength or not _unsigned(inner.lengthfield):
                    self.line(ind, f"if {n} < 0:")
                    self.line(
                        ind + "    ",
                        f"raise StreamError(f'length must be non-negative, found {{{n}}}')",
                    )
                self.line(ind, f"{stop} = {self.advanced(n)}")
                self.line(ind, f"if {stop} > {end}:")
                self.line(
                    ind + "    ",
                    f"raise StreamError(f'stream read less than specified amount, expected "
                    f"{{{n}}}, found {{{self.room(end)}}}')",
                )
                val = self.prefixed_body(inner.subcon, stop, ind, ctx)
            else:
                flush()
                val = self.value(inner, end, ind, ctx)
            if name:
                fields.append((name, val))
                ctx[name] = val
        flush()
        return self.result(fields, skip, ind)

    def result(self, fields: list[tuple[str, str]], skip: set[str], ind: str) -> str:
        """A Struct's value: a ``Container``, or (flat) a token for its fields."""
        if self.flat:
            leaves: list[tuple[str, str]] = []
            for name, val in fields:
                if val in self.flats:
                    leaves += self.flats[val]
                elif name not in skip:
                    leaves.append((name, val))
            token = self.var("flat")
            self.flats[token] = leaves
            return token
        var = self.var("s")
        body = ", ".join(f"{name!r}: {val}" for name, val in fields)
        self.line(ind, f"{var} = Container({{{body}}})")
        return var

    def returned(self, result: str, ind: str) -> str:
        """The source of the value a parse returns: ``result``, or (flat) a tuple."""
        if not self.flat:
            return result
        if result not in self.flats:
            raise _Unsupported("fields of something other than a Struct")
        names = [name for name, _ in self.flats[result]]
        if len(set(names)) != len(names) or not all(n.isidentifier() for n in names):
            raise _Unsupported("fields whose names repeat or are not identifiers")
        self.names = tuple(names)
        values = [val for _, val in self.flats[result]]
        return "(" + "".join(f"{v}, " for v in values) + ")"

    def framed(self, con: c.Construct[Any, Any]) -> tuple[str, dict[str, Any]]:
        """A function framing and parsing at once: ``(data, offset, total, max_body, check)``.

        It reads the header once (the fields before the ``Prefixed`` body and
        its length) from the receive buffer, calls ``check(data, offset)`` (the
        framer, which raises its error) unless every ``Const`` matches and the
        length is within ``max_body``, copies the whole frame once and parses
        the body from it. It returns ``(frame end, message)``, or ``(0, None)``
        while the frame is incomplete.
        """
        con = _unwrap(con)
        if not isinstance(con, c.Struct):
            raise _Unsupported("a framed message that is not a Struct")
        subs = list(con.subcons)
        at = next((i for i, s in enumerate(subs) if isinstance(_unwrap(s), c.Prefixed)), -1)
        if at < 0:
            raise _Unsupported("no Prefixed body")
        body = _unwrap(subs[at])
        assert isinstance(body, c.Prefixed)
        if body.includelength or not all(
            isinstance(_unwrap(s), _TERMINATED) for s in subs[at + 1 :]
        ):
            raise _Unsupported("a body that does not end the frame")
        header, layout = _framed_header(subs[:at], body)
        size = layout.size
        names = [self.var("v") for _ in range(sum(p.nvals for _, p, _ in header) + 1)]
        ind, deep = "    ", "        "
        self.line("", "def parse_framed(buf, offset, total, max_body, check):")
        self.line(ind, f"if total - offset < {size}:")
        self.line(deep, "return 0, None")
        unpack = self.const(layout.unpack_from, "unpack")
        self.line(ind, f"{', '.join(names)}, = {unpack}(buf, offset)")
        n = names[-1]
        fast = [f"{n} <= max_body"] if _unsigned(body.lengthfield) else [f"0 <= {n} <= max_body"]
        consts: list[tuple[str, Any]] = []
        at_value = 0
        for _, piece, inner in header:
            if isinstance(inner, c.Const):
                fast.append(f"{names[at_value]} == {self.literal(inner.value, 'const')}")
                consts.append((names[at_value], inner.value))
            at_value += piece.nvals
        self.line(ind, f"if not ({' and '.join(fast)}):")
        self.line(deep, "check(buf, offset)  # the framer raises its error")
        for got, value in consts:  # in case it did not: construct's error
            name = self.const(value, "const")
            self.line(deep, f"if not {got} == {name}:")
            self.line(
                deep + "    ",
                f"raise ConstError(f'parsing expected {{{name}!r}} but parsed {{{got}!r}}')",
            )
        self.line(ind, f"stop = {size} + {n}")
        self.line(ind, "if total - offset < stop:")
        self.line(deep, "return 0, None")
        self.line(ind, "data = buf[offset : offset + stop].tobytes()")
        self.line(ind, f"if stop >= {ZERO_COPY_MIN}:")
        self.line(deep, "data = memoryview(data)  # byte fields are views of the one copy")
        return self.framed_body(subs, at, header, names, size)

    def framed_body(
        self,
        subs: list[c.Construct[Any, Any]],
        at: int,
        header: list[tuple[str | None, _Fixed, Any]],
        names: list[str],
        size: int,
    ) -> tuple[str, dict[str, Any]]:
        ind = "    "
        body = _unwrap(subs[at])
        assert isinstance(body, c.Prefixed)
        fields: list[tuple[str, str]] = []
        ctx: dict[str, str] = {}
        skip: set[str] = set()
        at_value = 0
        self.consts_checked = True  # the header's, by the fast test or after check
        for name, piece, inner in header:
            expr = piece.finish(self, names[at_value : at_value + piece.nvals], ind)
            at_value += piece.nvals
            if not expr.isidentifier():
                var = self.var("x")
                self.line(ind, f"{var} = {expr}")
                expr = var
            if name:
                fields.append((name, expr))
                ctx[name] = expr
                if _not_a_field(inner, inner):
                    skip.add(name)
        self.consts_checked = False
        self.pos = str(size)
        val = self.prefixed_body(body.subcon, "stop", ind, ctx)
        body_name = subs[at].name
        if body_name:
            fields.append((body_name, val))
        fields += [(s.name, "None") for s in subs[at + 1 :] if s.name]
        skip.update(s.name for s in subs[at + 1 :] if s.name)
        result = self.returned(self.result(fields, skip, ind), ind)
        self.line(ind, f"return offset + stop, {result}")
        return "\n".join(self.lines) + "\n", self.ns


def _consume_loop(framed: str, name: str) -> str:
    """The source of a consumer loop around the body of ``framed`` (a ``parse_framed``).

    Per whole frame: frame and parse inline (no call, no ``(end, message)`` tuple),
    a construct error raised as ``malformed(exc)``, then ``handler(message, sender)``
    (whatever it raises propagates); a reply that is not None is appended to
    ``replies`` and ``flush()`` runs once ``flush_size`` bytes of replies are queued
    since the last flush (it sends and empties ``replies``). The loop stops at the
    first incomplete frame, or after the handler asks to close (``watch_close`` and
    ``sender.close_requested``), and returns the end of the last frame consumed.
    """
    lines = framed.rstrip("\n").split("\n")
    body = lines[1:]
    last = body.pop()
    done = re.fullmatch(r"    return offset \+ stop, (.+)", last)
    if done is None or any(re.search(r"\breturn\b", line) and "return 0, None" not in line
                           for line in body):  # fmt: skip
        raise AssertionError(f"internal: unexpected parse_framed source:\n{framed}")
    out = [
        f"def {name}(buf, offset, total, max_body, check, handler, sender, replies, flush,"
        " flush_size, watch_close, malformed):",
        "    queued = 0",
        "    while True:",
        "        try:",
    ]
    out += ["        " + line.replace("return 0, None", "break") for line in body]
    out += [
        f"            message = {done.group(1)}",
        "        except (ConstructError, UnicodeError) as exc:",
        "            raise malformed(exc) from None",
        "        offset += stop",
        "        reply = handler(message, sender)",
        "        if reply is not None:",
        "            replies.append(reply)",
        "            queued += len(reply)",
        "            if queued >= flush_size:",
        "                flush()",
        "                queued = 0",
        "        if watch_close and sender.close_requested:",
        "            break",
        "    return offset",
    ]
    return "\n".join(out) + "\n"


def _framed_header(
    subs: list[c.Construct[Any, Any]], body: c.Prefixed[Any, Any]
) -> tuple[list[tuple[str | None, _Fixed, Any]], struct.Struct]:
    """The fixed-size fields before a framed body, and one struct for them and its length."""
    header: list[tuple[str | None, _Fixed, Any]] = []
    for sub in subs:
        inner = _unwrap(sub)
        piece = None if isinstance(inner, c.Struct) else _fixed(inner)
        if piece is None:
            raise _Unsupported("a header field that is not fixed-size")
        header.append((sub.name, piece, inner))
    pieces = [p for _, p, _ in header] + [_length_field(body.lengthfield)]
    orders = {p.order for p in pieces if p.order}
    if len(orders) > 1:
        raise _Unsupported("a header of mixed byte orders")
    layout = struct.Struct((orders.pop() if orders else ">") + "".join(p.fmt for p in pieces))
    return header, layout


class _BuildGen(_Gen):
    # The enclosing Struct's input name and the fields it has built so far.
    _scope: tuple[str, dict[str, str]] | None = None
    _local: set[str] = set()  # noqa: RUF012 - replaced, never changed in place
    # The enclosing Struct's Rebuild expressions and integer Consts, by name (for linear).
    _rebuilds: dict[str, object] = {}  # noqa: RUF012 - replaced, never changed in place

    def __init__(self, *, positional: bool = False, unchecked: bool = False) -> None:
        super().__init__()
        # Positional: the message's fields are the function's parameters, in order.
        self.positional = positional
        self.params: list[str] = []
        # Unchecked (positional only): see function_fields; omitted counts the checks left out.
        self.unchecked = positional and unchecked
        self.omitted = 0
        # ``len(p_x)`` already computed into a variable (a Rebuild's value), reused.
        self.lengths: dict[str, str] = {}

    def expr(self, expr: object) -> str:
        """``_expr_code`` in the current scope, each length already computed reused."""
        code = _expr_code(expr, self.lookup)
        for computed, var in self.lengths.items():
            code = code.replace(computed, var)
        return code

    def linear(self, expr: object) -> dict[object, int] | None:
        """``expr`` as a sum of integer multiples of field lengths (key ``("len", name)``)
        and of a constant (key ``1``), Rebuild fields expanded; None when it is not one."""
        if type(expr) is int:
            return {1: expr} if expr else {}
        if isinstance(expr, Path):
            node: Any = expr
            if node._Path__parent is None or node._Path__parent._Path__parent is not None:
                return None
            rebuilt = self._rebuilds.get(node._Path__field)
            return None if rebuilt is None else self.linear(rebuilt)
        if isinstance(expr, FuncPath):
            func, operand = expr._FuncPath__func, expr._FuncPath__operand  # type: ignore[attr-defined]
            if func is not len or not isinstance(operand, Path):
                return None
            node = operand
            if node._Path__parent is None or node._Path__parent._Path__parent is not None:
                return None
            return {("len", node._Path__field): 1}
        if isinstance(expr, BinExpr) and expr.op in (operator.add, operator.sub):  # type: ignore[attr-defined]
            left = self.linear(expr.lhs)  # type: ignore[attr-defined]
            right = self.linear(expr.rhs)  # type: ignore[attr-defined]
            if left is None or right is None:
                return None
            sign = 1 if expr.op is operator.add else -1  # type: ignore[attr-defined]
            total = dict(left)
            for key, coeff in right.items():
                total[key] = total.get(key, 0) + sign * coeff
            return {key: coeff for key, coeff in total.items() if coeff}
        return None

    def length_is_own(self, length: object, src: str) -> bool:
        """True when a ``Bytes(length)`` built from parameter ``src`` needs no length
        check: ``length`` works out to ``len(src)`` itself (a Rebuild of it)."""
        if not self.positional or not src.startswith("p_"):
            return False
        return self.linear(length) == {("len", src.removeprefix("p_")): 1}

    def lookup(self, fields: list[str]) -> str:
        """The source reading a ``this`` path in the enclosing Struct's context."""
        if self._scope is None:
            raise _Unsupported("a this-expression outside a Struct")
        obj, built = self._scope
        first = built.get(fields[0])
        if first is None:
            if self.positional:
                if len(fields) != 1 or f"p_{fields[0]}" not in self._local:
                    raise _Unsupported("a positional build reading a nested field")
                return f"p_{fields[0]}"
            first = f"{obj}[{fields[0]!r}]"
        return first + "".join(f"[{f!r}]" for f in fields[1:])

    def function_fields(self, con: c.Construct[Any, Any]) -> tuple[str, dict[str, Any]]:
        """``build_fields(*fields)``: the message built from its fields, in order.

        Unchecked (the default), the byte fields whose length is their own are not
        type-checked: ``bytes``, ``bytearray`` and views concatenate as they are, and
        anything else fails the concatenation with a ``TypeError``; then the checked
        function (generated beside it) runs on the same values and raises construct's
        error, or builds what construct would (the type checks cost more than the pack).
        """
        if not isinstance(_unwrap(con), c.Struct):
            raise _Unsupported("fields of something other than a Struct")
        checked: Callable[..., bytes] | None = None
        if self.unchecked:
            src, namespace = _BuildGen(positional=True, unchecked=False).function_fields(con)
            exec(compile(src, f"<wireproto build_fields {_short_repr(con)}>", "exec"), namespace)
            checked = namespace["build_fields"]
        ind = "        "
        body = self.join(self.parts(con, "None", ind), ind)
        if body.isidentifier():
            body = f"bytes({body})"  # one field's bytes, given as a bytearray or a view
        if checked is not None and not self.omitted:
            return src, namespace  # nothing was left unchecked: the checked function
        lines = self.lines
        self.lines = []
        params = ", ".join(self.params)
        self.line("", f"def build_fields({params}):")
        self.line("    ", "try:")
        self.lines += lines
        self.line(ind, f"return {body}")
        self.line("    ", "except struct_error as exc:")
        self.line(ind, "raise FormatFieldError(f'struct error during building: {exc}')")
        if checked is not None:
            self.line("    ", "except TypeError:")
            self.line(ind, f"return {self.const(checked, 'checked')}({params})")
        return "\n".join(self.lines) + "\n", self.ns

    def function(self, con: c.Construct[Any, Any]) -> tuple[str, dict[str, Any]]:
        ind = "    "
        self.line("", "def build(obj):")
        self.line(ind, "try:")
        parts = self.parts(con, "obj", ind + "    ")
        self.line(ind + "    ", f"return {self.join(parts, ind + '    ')}")
        self.line(ind, "except struct_error as exc:")
        self.line(ind + "    ", "raise FormatFieldError(f'struct error during building: {exc}')")
        return "\n".join(self.lines) + "\n", self.ns

    def field_source(self, obj: str, name: str | None, build_none: bool) -> str:
        if name is None:
            return "None"
        return f"{obj}.get({name!r})" if build_none else f"{obj}[{name!r}]"

    def join(self, parts: list[tuple[str, str, str]], ind: str) -> str:
        """One expression for the bytes of ``parts`` (fixed runs packed at once)."""
        exprs: list[str] = []
        packed: set[int] = set()  # the indexes of exprs that pack (always bytes)
        run: list[tuple[str, str, str]] = []

        def flush() -> None:
            if not run:
                return
            order = next((o for kind, o, _ in run if o), ">")
            fmt = "".join(kind[1:] for kind, _, _ in run)
            pack = self.const(struct.Struct(order + fmt).pack, "pack")
            values = [self.inlined(v) for _, _, v in run if v]
            exprs.append(f"{pack}({', '.join(values)})")
            packed.add(len(exprs) - 1)
            run.clear()

        for part in parts:
            kind, order, value = part
            if kind.startswith("="):
                if run and order and any(o and o != order for _, o, _ in run):
                    flush()
                run.append(part)
            else:
                flush()
                exprs.append(value)
        flush()
        if not exprs:
            return "b''"
        if len(exprs) == 1:
            return exprs[0]
        if len(exprs) in (2, 3) and 0 in packed:
            # bytes + bytes (or a view, or a bytearray: the result is bytes when the
            # packed bytes come first) is cheaper than a join of so few; the middle
            # part of three is copied twice, the last (a value, usually) once.
            return " + ".join(exprs)
        return f"b''.join(({', '.join(exprs)}))"

    def inlined(self, name: str) -> str:
        """A constant's literal when it is an int or bytes (no global lookup), else ``name``."""
        value = self.ns.get(name) if name.startswith("_const") else None
        return repr(value) if type(value) in (int, bytes) else name

    def fixed_parts(self, piece: _Fixed, src: str, ind: str) -> list[tuple[str, str, str]]:
        values = piece.prepare(self, src, ind)
        if piece.nvals == 0:
            return [("=" + piece.fmt, piece.order, "")]
        if len(values) != piece.nvals:
            raise _Unsupported("internal: value count")
        # One part per struct code so the run keeps fields in order.
        codes = re.findall(r"\d*[a-zA-Z?]", piece.fmt)
        vals = iter(values)
        return [
            ("=" + code, piece.order, "" if code.endswith("x") else next(vals)) for code in codes
        ]

    def struct_parts(self, con: c.Struct, src: str, ind: str) -> list[tuple[str, str, str]]:
        """The parts of a ``Struct``: its fields' parts, in order."""
        obj = self.var("o")
        if not self.positional:
            self.line(ind, f"{obj} = {src}")
            self.line(ind, f"if {obj} is None:")
            self.line(ind + "    ", f"{obj} = {{}}")
        parts: list[tuple[str, str, str]] = []
        outer, outer_local, outer_rebuilds = self._scope, self._local, self._rebuilds
        self._rebuilds = {}
        for sub in con.subcons:
            inner = _unwrap(sub)
            if sub.name and isinstance(inner, c.Rebuild):
                self._rebuilds[sub.name] = inner.func
            elif sub.name and isinstance(inner, c.Const) and type(inner.value) is int:
                self._rebuilds[sub.name] = inner.value
        self._local = {
            f"p_{sub.name}"
            for sub in con.subcons
            if sub.name and not _not_a_field(sub, _unwrap(sub)) and not _holds_struct(_unwrap(sub))
        }
        # Expressions read the context construct's Struct keeps: the input's
        # values, with each Rebuild's and Const's value as it is built.
        built: dict[str, str] = {}
        self._scope = (obj, built)
        for sub in con.subcons:
            inner = _unwrap(sub)
            if isinstance(inner, c.Rebuild):
                if not sub.name:
                    raise _Unsupported("an unnamed Rebuild")
                value = self.var("r")
                code = self.expr(inner.func)
                self.line(ind, f"{value} = {code}")
                if self.positional and re.fullmatch(r"len\(p_\w+\)", code):
                    self.lengths[code] = value
                built[sub.name] = value
                piece = _fixed(inner.subcon)
                if piece is None:
                    raise _Unsupported("a Rebuild of a variable-size field")
                parts += self.fixed_parts(piece, value, ind)
                continue
            if not self.positional:
                field = self.field_source(obj, sub.name, bool(sub.flagbuildnone))
            elif sub.name and not _not_a_field(sub, inner) and not _holds_struct(inner):
                field = f"p_{sub.name}"
                if field in self.params or not sub.name.isidentifier():
                    raise _Unsupported("fields whose names repeat or are not identifiers")
                self.params.append(field)
            else:
                field = "None"  # a Const, Padding or nested Struct: built from nothing here
            parts += self.parts(sub, field, ind)
            if sub.name and isinstance(inner, c.Const):
                value = inner.value
                built[sub.name] = repr(value) if type(value) is int else self.const(value, "const")
        self._scope, self._local, self._rebuilds = outer, outer_local, outer_rebuilds
        return parts

    def parts(self, con: c.Construct[Any, Any], src: str, ind: str) -> list[tuple[str, str, str]]:
        """Emit the preparation of ``con`` built from ``src``; return its parts:
        ``("=code", order, value)`` for a packed field, ``("b", "", expr)`` for bytes."""
        con = _unwrap(con)
        piece = None if self.positional and isinstance(con, c.Struct) else _fixed(con)
        if piece is not None:
            return self.fixed_parts(piece, src, ind)
        if isinstance(con, c.Struct):
            return self.struct_parts(con, src, ind)
        if isinstance(con, _GREEDY_BYTES):
            if self.positional and src.startswith("p_"):
                if self.unchecked:
                    self.omitted += 1
                    return [("b", "", src)]
                self.line(ind, f"if type({src}) is not bytes:")
                self.line(ind + "    ", f"{src} = _greedy_arg({src})")
                return [("b", "", src)]
            var = self.var("g")
            self.line(ind, f"{var} = {src}")
            self.line(ind, f"if type({var}) is not bytes:")
            self.line(ind + "    ", f"{var} = _greedy_arg({var})")
            return [("b", "", var)]
        if isinstance(con, c.Bytes):
            if self.length_is_own(con.length, src):
                # Its length is its own by construction: only a non-bytes value is checked.
                if self.unchecked:
                    self.omitted += 1
                    return [("b", "", src)]
                self.line(ind, f"if type({src}) is not bytes:")
                self.line(ind + "    ", f"{src} = _bytes_arg({src}, {self.expr(con.length)})")
                return [("b", "", src)]
            size = self.var("n")
            self.line(ind, f"{size} = {self.expr(con.length)}")
            var = self.var("b")
            self.line(ind, f"{var} = {src}")
            self.line(ind, f"if type({var}) is not bytes or len({var}) != {size}:")
            self.line(ind + "    ", f"{var} = _bytes_arg({var}, {size})")
            return [("b", "", var)]
        if isinstance(con, c.Prefixed):
            length = _length_field(con.lengthfield)
            body_parts = self.parts(con.subcon, src, ind)
            body = joined = self.join(body_parts, ind)
            if not joined.isidentifier():
                body = self.var("body")
                self.line(ind, f"{body} = {joined}")
            n = f"len({body})" + (f" + {length.size}" if con.includelength else "")
            return [*self.fixed_parts(length, n, ind), ("b", "", body)]
        array = _prefixed_array(con)
        if array is not None:
            length = _length_field(array[0])
            items = self.var("items")
            item = self.var("x")
            chunks = self.var("c")
            self.line(ind, f"{items} = {src}")
            self.line(ind, f"{chunks} = []")
            self.line(ind, f"for {item} in {items}:")
            inner = ind + "    "
            positional, self.positional = self.positional, False  # items are dicts
            self.line(
                inner, f"{chunks}.append({self.join(self.parts(array[1], item, inner), inner)})"
            )
            self.positional = positional
            return [
                *self.fixed_parts(length, f"len({items})", ind),
                ("b", "", f"b''.join({chunks})"),
            ]
        if isinstance(con, _TERMINATED | _PASS):
            return []
        raise _Unsupported(type(con).__name__)


# -- run-time helpers of the generated code ----------------------------------------------


def _short(data: Any, pos: int, end: int, steps: tuple[tuple[int, Any, Any], ...]) -> None:
    """Raise what construct raises reading ``steps`` field by field from too few bytes."""
    for size, layout, expected in steps:
        if end - pos < size:
            raise c.StreamError(
                f"stream read less than specified amount, expected {size}, found {end - pos}"
            )
        if layout is not None:
            (value,) = layout.unpack_from(data, pos)
            if not value == expected:
                raise c.ConstError(f"parsing expected {expected!r} but parsed {value!r}")
        pos += size
    raise AssertionError("_short called with enough bytes")  # pragma: no cover


def _bytes_arg(value: Any, length: int) -> bytes | memoryview:
    """A ``Bytes(length)`` value as construct accepts it (bytes, bytearray, a view or an int)."""
    if type(value) is bytes:
        pass
    elif isinstance(value, int):
        value = integer2bytes(value, length)  # construct's own conversion and errors
    elif type(value) is bytearray:
        value = bytes(value)
    elif not isinstance(value, bytes | memoryview):
        raise c.StringError(f"cannot build {value!r} as {length} bytes")
    if len(value) != length:
        raise c.StreamError(f"bytes object of wrong length, expected {length}, found {len(value)}")
    return value  # type: ignore[no-any-return]


def _greedy_arg(value: Any) -> bytes | memoryview:
    """A ``GreedyBytes`` value as construct accepts it (bytes or a bytearray; a view too)."""
    if type(value) is bytearray:
        return bytes(value)
    if isinstance(value, bytes | memoryview):
        return value
    len(value)  # construct's TypeError for what has no length
    raise c.StringError(f"given non-bytes value, perhaps unicode? {value!r}")


def _int_bytes(value: Any, length: int, byteorder: str, signed: bool) -> bytes:
    if not isinstance(value, int):
        raise c.IntegerError(f"value {value} is not an integer")
    try:
        return value.to_bytes(length, byteorder, signed=signed)  # type: ignore[arg-type]
    except OverflowError as exc:
        raise c.IntegerError(str(exc)) from None


def _encode(mapping: dict[Any, int], value: Any) -> int:
    try:
        return mapping[value]
    except (KeyError, TypeError):
        raise c.MappingError(f"building failed, no mapping for {value!r}") from None
