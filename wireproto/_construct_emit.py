"""Consumer loops compiled ahead of time: a generated loop, typed, written to a module.

:func:`~wireproto._construct_compile.compile_construct` generates the source of a
framed consumer loop when a declaration is first used, so mypyc never sees it and it
runs interpreted in both builds. :func:`typed_loop` turns one generated loop (its
source and the values its names stand for) into a self-contained module text with the
types mypyc needs (the header's integers as ``int``); :func:`emit_module` writes such
texts into one module, which a provider imports (and the compiled build compiles).
That module registers each function under the exact text it was made from
(:func:`register`), and ``compile_construct`` takes a registered function only when the
text it generates now is the same, byte for byte: the declaration stays the one source
of truth, and a stale module is ignored (the generated loop runs; a test says it is
stale).
"""

from __future__ import annotations

import re
import struct
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["emit_module", "precompiled", "register", "typed_loop"]

_PRECOMPILED: dict[str, Callable[..., int]] = {}

_LOOP_DEF = re.compile(
    r"def (\w+)\(buf, offset, total, max_body, check, handler, sender, replies, flush,"
    r" flush_size, watch_close, malformed\):"
)
_TYPED_DEF = (
    "def {name}(\n"
    "    buf: Any,\n"
    "    offset: int,\n"
    "    total: int,\n"
    "    max_body: int,\n"
    "    check: Any,\n"
    "    handler: Any,\n"
    "    sender: Any,\n"
    "    replies: list[Any],\n"
    "    flush: Any,\n"
    "    flush_size: int,\n"
    "    watch_close: bool,\n"
    "    malformed: Any,\n"
    ") -> int:"
)
_UNPACK = re.compile(r"\s*((?:\w+, )+)= (\w+)\(")
_NAME = re.compile(r"\b[A-Za-z_]\w*\b")
_KINDS = {
    **dict.fromkeys("bBhHiIlLqQnNP", "int"),
    "?": "bool",
    "c": "bytes",
    **dict.fromkeys("efd", "float"),
}


def register(loops: Mapping[str, Callable[..., int]]) -> None:
    """Offer precompiled loops, each under the :func:`typed_loop` text it was made from."""
    _PRECOMPILED.update(loops)


def precompiled(text: str) -> Callable[..., int] | None:
    """The registered loop made from exactly ``text``, if any."""
    return _PRECOMPILED.get(text)


def _value_kinds(fmt: str) -> list[str]:
    """The Python type of each value ``struct.Struct(fmt).unpack_from`` returns."""
    kinds: list[str] = []
    for count, code in re.findall(r"(\d*)([a-zA-Z?])", fmt.lstrip("@=<>!")):
        if code == "x":
            continue
        if code in "sp":  # one value of the count's size ('c': one byte per value)
            kinds.append("bytes")
            continue
        kind = _KINDS.get(code)
        if kind is None:
            raise ValueError(f"unexpected struct code {code!r}")
        kinds += [kind] * int(count or 1)
    return kinds


def _literal(value: object) -> str | None:
    """Source that rebuilds ``value``: literals, tuples of them, ``struct`` objects."""
    if value is None or type(value) in (bool, int, bytes, str):
        return repr(value)
    if type(value) is tuple:
        parts: list[str] = []
        for item in value:
            part = _literal(item)
            if part is None:
                return None
            parts.append(part)
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
    if isinstance(value, struct.Struct):
        return f"struct.Struct({value.format!r})"
    owner = getattr(value, "__self__", None)
    method = getattr(value, "__name__", "")
    if isinstance(owner, struct.Struct) and method in ("pack", "unpack_from"):
        return f"struct.Struct({owner.format!r}).{method}"
    return None


def _imported(name: str, value: object) -> str | None:
    """``from module import name`` for a class or function reachable by its module."""
    module = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "." in qualname:
        return None
    if getattr(sys.modules.get(module), qualname, None) is not value:
        return None
    alias = "" if qualname == name else f" as {name}"
    return f"from {module} import {qualname}{alias}"


def typed_loop(source: str, namespace: Mapping[str, Any]) -> str | None:
    """The typed, self-contained module text of one generated consumer loop, or None.

    ``source`` is the loop's generated source, ``namespace`` the values of the names
    it uses. None when a value cannot be written as source (the loop then always
    runs as generated).
    """
    lines = source.rstrip("\n").split("\n")
    head = _LOOP_DEF.fullmatch(lines[0])
    if head is None:
        return None
    body = "\n".join(lines[1:])
    imports: set[str] = set()
    consts: list[str] = []
    declared: list[str] = []
    kinds: dict[str, str] = {}
    used = sorted({n for n in _NAME.findall(body) if n in namespace and n != "__builtins__"})
    for name in used:
        value = namespace[name]
        literal = _literal(value)
        if literal is not None:
            if "struct." in literal:
                imports.add("import struct")
            consts.append(f"{name}: Final = {literal}")
            continue
        line = _imported(name, value)
        if line is None:
            return None
        imports.add(line)
    for line in lines[1:]:
        match = _UNPACK.match(line)
        if match is None or match.group(2) not in namespace:
            continue
        owner = getattr(namespace[match.group(2)], "__self__", None)
        if type(owner) is not struct.Struct:
            continue
        names = match.group(1).rstrip(", ").split(", ")
        try:
            types = _value_kinds(owner.format)
        except ValueError:  # a code this module does not know: the loop stays generated
            return None
        if len(types) != len(names):
            return None
        for var, kind in zip(names, types, strict=True):
            if kinds.setdefault(var, kind) != kind:
                return None
            declared.append(f"    {var}: {kind}")
    typed_def = _TYPED_DEF.format(name=head.group(1))
    return "\n".join(
        [
            "from typing import Any, Final",
            *sorted(imports),
            "",
            *consts,
            "",
            "",
            typed_def,
            *dict.fromkeys(declared),
            body,
            "",
        ]
    )


def emit_module(texts: Sequence[str], doc: str) -> str:
    """A module of the loops of :func:`typed_loop` ``texts``, registering each on import.

    The functions and constants of the i-th text get the suffix ``_i`` (the texts
    are written as generated, each self-contained); ``doc`` is the module docstring.
    """
    imports: dict[str, None] = {"from typing import Any, Final": None}
    parts: list[str] = []
    registered: list[str] = []
    for index, text in enumerate(texts):
        header, _, rest = text.partition("\n\n")
        for line in header.split("\n"):
            imports[line] = None
        defined = re.findall(r"^(\w+): Final = ", rest, re.MULTILINE)
        function = re.search(r"^def (\w+)\(", rest, re.MULTILINE)
        if function is None:
            raise ValueError("not a typed_loop text")
        renamed = rest.strip("\n")
        for name in [*defined, function.group(1)]:
            renamed = re.sub(rf"\b{name}\b", f"{name}_{index}", renamed)
        parts.append(renamed)
        registered.append(f"        _TEXT_{index}: {function.group(1)}_{index},")
        parts.append(f"_TEXT_{index}: Final = {text!r}")
    return "\n".join(
        [
            f'"""{doc}"""',
            "",
            *imports,
            "from wireproto._construct_emit import register",
            "",
            *[part + "\n\n" for part in parts],
            "register(",
            "    {",
            *registered,
            "    }",
            ")",
            "",
        ]
    )
