"""Imports point one way: contracts and state, then the connection, then layers, then the shell.

Every module of ``wireproto`` and ``providers`` is parsed with ``ast``; every
import counts, those inside functions and under ``TYPE_CHECKING`` included.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("wireproto", "providers")

# Lower ranks may not import higher ones (modules not listed are only checked for cycles).
RANKS = {
    **dict.fromkeys(
        (
            "wireproto._errors",
            "wireproto._detect",
            "wireproto._session",
            "wireproto._buffer",
            "wireproto._stats",
            "wireproto._layer",
            "wireproto._registry",
            "wireproto._listener_limits",
            "wireproto.framing",
        ),
        0,
    ),
    "wireproto._connection": 1,
    "wireproto._tls": 2,
    "wireproto._proxy": 2,
    "wireproto._logs": 2,
    "wireproto._admission": 2,
    "wireproto._writes": 2,
    "wireproto._listener": 3,
    "wireproto._protocol": 3,
    "wireproto._server": 3,
    "wireproto._workers": 3,
    "wireproto._cli": 4,
    "wireproto": 4,
}
# What providers may import of wireproto: the public API, never the connection or the shell.
PROVIDER_FORBIDDEN = re.compile(r"^wireproto\.(connection|server|workers|cli|testing)(\.|$)")
SHARED_STORE = "providers.kvstore"
SHARED_MEMORY = "providers.eviction"  # the store's memory account and evictor (maxmemory)
SHARED_DATATYPES = "providers.datatypes"  # the data structures of the store's values


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


MODULES = modules()


def imported(name: str, path: Path) -> Iterator[str]:
    """The modules of ours that ``name`` imports (any import statement, anywhere in it)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # "from a import b" imports the module a.b when there is one, else a.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        for dotted in targets:
            target = dotted
            while target and target not in MODULES:
                target = target.rpartition(".")[0]  # "import a.b.x": module a.b (x is a name)
            if target and target != name:
                yield target


GRAPH = {name: sorted(set(imported(name, path))) for name, path in MODULES.items()}


def cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_seen_whole() -> None:
    assert "wireproto._connection" in GRAPH and "providers.resp.session" in GRAPH
    assert "wireproto._layer" in GRAPH["wireproto._connection"]
    assert "wireproto._layer" in GRAPH["wireproto._tls"]
    # Imports under TYPE_CHECKING and inside functions count.
    assert "wireproto._detect" in GRAPH["wireproto._session"]
    assert "wireproto.testing._cli" in GRAPH["wireproto._cli"]


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"], "e": ["e"]}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": ["b"], "b": []}) == []


def test_no_import_cycles() -> None:
    assert cycles(GRAPH) == []


def test_imports_point_down_the_ranks() -> None:
    upward = [
        (name, target)
        for name, targets in GRAPH.items()
        for target in targets
        if name in RANKS and target in RANKS and RANKS[target] > RANKS[name]
    ]
    assert upward == []


SHARED_DATATYPES = "providers.datatypes"
"""Redis's data structures and their encodings: shared like the store (RESP, the AOF)."""


def test_providers_use_the_public_api_and_the_shared_store_only() -> None:
    wrong = []
    for name, targets in GRAPH.items():
        if not name.startswith("providers."):
            continue
        own = ".".join(name.split(".")[:2])  # providers.resp, providers.kvstore, ...
        # Its consumer loops compiled ahead of time (generated: framing.precompiled_loops).
        loops = "providers._" + own.removeprefix("providers.") + "_loop"
        for target in targets:
            foreign = target.startswith("providers.") and not (
                target in (own, loops, SHARED_STORE, SHARED_MEMORY)
                or target.startswith((own + ".", SHARED_DATATYPES + "."))
            )
            if foreign or PROVIDER_FORBIDDEN.match(target):
                wrong.append((name, target))
    assert wrong == []


def test_the_connection_names_no_layer() -> None:
    source = (ROOT / "wireproto" / "_connection.py").read_text()
    assert re.findall(r"tls|proxy|TLS|PROXY", source, flags=re.IGNORECASE) == []


def test_stats_hold_no_connection() -> None:
    assert "wireproto._connection" not in GRAPH["wireproto._stats"]
    source = (ROOT / "wireproto" / "_stats.py").read_text()
    assert '"protocol-error"' not in source  # close reasons are matched as CloseReason members


def test_providers_import_each_other_relatively() -> None:
    # providers/ will install as wireproto.providers: an absolute "providers." import breaks.
    absolute = []
    for name, path in MODULES.items():
        if not name.startswith("providers"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                targets = [node.module or ""]
            else:
                continue
            absolute += [(name, t) for t in targets if t.split(".")[0] == "providers"]
    assert absolute == []


def test_no_provider_reads_another_provider_s_attributes() -> None:
    # The store is shared through providers.kvstore.shared_store(), never found by getattr.
    found = [
        name
        for name, path in MODULES.items()
        if name.startswith("providers.") and re.search(r"getattr\([^)]*provider", path.read_text())
    ]
    assert found == []


def test_split_modules_depend_one_way() -> None:
    # Command families share only _base (and what is named below); the table imports them,
    # never the reverse.
    families = (
        "connection",
        "databases",
        "generic",
        "hashes",
        "keys",
        "server",
        "sets",
        "sort",
        "strings",
        "transactions",
    )
    package = "providers.resp.commands"
    also = {"databases": [f"{package}.blocking"]}  # SWAPDB wakes clients blocked on keys
    for family in families:
        inside = [t for t in GRAPH[f"{package}.{family}"] if t.startswith(package)]
        assert inside == [f"{package}._base", *also.get(family, [])], family
    assert {f"{package}.{family}" for family in families} <= set(GRAPH[f"{package}._table"])
    # The pure parser knows nothing of hiredis; the limits know neither parser.
    assert "providers.resp.hiredis_parser" not in GRAPH["providers.resp.pure_parser"]
    assert [t for t in GRAPH["providers.resp.limits"] if t.startswith("providers.")] == []
    # memcached: the commands never import the loop; the classic ones know nothing of meta.
    for module in ("text_classic", "text_meta"):
        assert "providers.memcache.text" not in GRAPH[f"providers.memcache.{module}"]
    assert "providers.memcache.text_meta" not in GRAPH["providers.memcache.text_classic"]
    assert "providers.memcache.binary" not in GRAPH["providers.memcache.binary_messages"]


def test_the_shell_uses_no_private_attribute_of_another_class() -> None:
    # The server and its protocol adapter share one ListenerState, passed explicitly.
    protocol = (ROOT / "wireproto" / "_protocol.py").read_text()
    server = (ROOT / "wireproto" / "_server.py").read_text()
    assert re.findall(r"\bserver\._", protocol) == []
    assert re.findall(r"\bprotocol\._", server) == []
    assert "wireproto._protocol" not in GRAPH["wireproto._listener"]
