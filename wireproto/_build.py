"""Which build of wireproto runs: the hot modules compiled by mypyc, or pure Python.

``COMPILED_SOURCES`` is the one list of modules a wheel build compiles (``setup.py``
reads it from this file without importing the package), and :func:`current` tells
which of them actually loaded as extension modules. The pure-Python source is the
reference: the compiled build is the same source, and an editable install is pure.
"""

from __future__ import annotations

import importlib
import importlib.machinery
from dataclasses import dataclass
from functools import cache
from typing import Final

__all__ = ["COMPILED_SOURCES", "PACKAGE_DIRS", "Build", "current", "module_name"]

# Chosen by measurement (benchmarks/README.md, "compiled build"); not listed:
# wireproto/_server.py (the server's setup, not on the per-request path),
# wireproto/_session.py (runtime-checkable Protocols), and wireproto/framing.py: it
# compiles and passes its tests, but its per-message work is the code compile_construct
# generates (interpreted either way), and compiled it measured no faster. kvbin's
# handler is listed: it calls the compiled store natively (benchmarks/README.md,
# kvbin). Paths are relative to the project root; this file must import nothing
# outside the standard library.
COMPILED_SOURCES: Final[tuple[str, ...]] = (
    "wireproto/_buffer.py",
    "wireproto/_connection.py",
    "wireproto/_writes.py",
    "wireproto/_protocol.py",
    "wireproto/memory.py",
    "wireproto/_stats.py",
    "providers/kvstore.py",
    "providers/_kvbin_loop.py",
    "providers/kvbin.py",
    "providers/persistence/dirty.py",
    "providers/resp/numbers.py",
    "providers/resp/replies.py",
    "providers/resp/limits.py",
    "providers/resp/pure_parser.py",
    "providers/resp/hiredis_parser.py",
    "providers/resp/parser.py",
    "providers/resp/commands/_base.py",
    "providers/resp/commands/_table.py",
    "providers/resp/commands/connection.py",
    "providers/resp/commands/keys.py",
    "providers/resp/commands/server.py",
    "providers/resp/commands/strings.py",
    "providers/resp/commands/transactions.py",
    "providers/resp/session.py",
    "providers/memcache/auth.py",
    "providers/memcache/engine.py",
    "providers/memcache/text_base.py",
    "providers/memcache/text_classic.py",
    "providers/memcache/text_meta.py",
    "providers/memcache/text_detection.py",
    "providers/memcache/text.py",
    "providers/memcache/binary_messages.py",
    "providers/memcache/binary.py",
)

# Where each top-level source folder is installed, as the setuptools package-dir
# mapping says (e.g. {"providers": "wireproto.providers"} once providers moves there).
PACKAGE_DIRS: Final[dict[str, str]] = {"wireproto": "wireproto", "providers": "wireproto.providers"}


def module_name(source: str) -> str:
    """The import name of a source path of ``COMPILED_SOURCES`` (``a/b/c.py`` -> ``a.b.c``)."""
    top, *rest = source.removesuffix(".py").split("/")
    if rest and rest[-1] == "__init__":
        rest.pop()
    return ".".join([PACKAGE_DIRS[top], *rest])


@dataclass(frozen=True)
class Build:
    """The running build: ``compiled`` names the listed modules loaded as extensions."""

    compiled: tuple[str, ...]

    @property
    def kind(self) -> str:
        """``"compiled"`` when any listed module is an extension module, else ``"pure"``."""
        return "compiled" if self.compiled else "pure"

    def describe(self) -> str:
        """A short label: ``compiled: 11 modules`` or ``pure Python``."""
        if not self.compiled:
            return "pure Python"
        count = len(self.compiled)
        return f"compiled: {count} module{'s' if count != 1 else ''}"


def _is_extension(module_file: str | None) -> bool:
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    return module_file is not None and module_file.endswith(tuple(suffixes))


@cache
def current() -> Build:
    """Import every listed module and report which ones loaded as extension modules."""
    names = (module_name(source) for source in COMPILED_SOURCES)
    compiled = tuple(
        name for name in names if _is_extension(importlib.import_module(name).__file__)
    )
    return Build(compiled)
