"""Write ``providers/resp/commands/_keyspecs.py`` from Redis's own command definitions.

Usage (a clone or mirror of https://github.com/redis/redis, and the tag to read)::

    python -P specs/resp/gen_keyspecs.py /path/to/redis.git 7.0.15

It reads ``src/commands/*.json`` at that tag with ``git show`` and writes every
command's key specs (flags, begin_search, find_keys, notes), its ``getkeys_proc``
and whether it has ``NO_MANDATORY_KEYS``, then formats the module with ruff.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "providers/resp/commands/_keyspecs.py"


def _git(repo: str, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", repo, *args], check=True, capture_output=True, text=True
    ).stdout


def _definitions(repo: str, ref: str) -> dict[str, dict[str, object]]:
    """Every command's JSON definition by full lower-case name (``object|encoding``)."""
    found: dict[str, dict[str, object]] = {}
    for path in _git(repo, "ls-tree", "--name-only", f"{ref}:src/commands").split():
        if path.endswith(".json"):
            text = _git(repo, "show", f"{ref}:src/commands/{path}")
            for name, definition in json.loads(text).items():
                container = definition.get("container")
                full = f"{container}|{name}" if container else name
                found[full.lower()] = definition
    return found


def _begin(spec: dict[str, dict[str, object] | None]) -> str:
    if "index" in spec:
        index = spec["index"]
        assert index is not None
        return f"Index({index['pos']})"
    if "keyword" in spec:
        keyword = spec["keyword"]
        assert keyword is not None
        return f"Keyword({json.dumps(keyword['keyword'])}, {keyword['startfrom']})"
    assert "unknown" in spec, spec
    return "Unknown()"


def _find(spec: dict[str, dict[str, object] | None]) -> str:
    if "range" in spec:
        found = spec["range"]
        assert found is not None
        return f"Range({found['lastkey']}, {found['step']}, {found['limit']})"
    if "keynum" in spec:
        found = spec["keynum"]
        assert found is not None
        return f"KeyNum({found['keynumidx']}, {found['firstkey']}, {found['step']})"
    assert "unknown" in spec, spec
    return "Unknown()"


_FLAGS = [
    "RO",
    "RW",
    "OW",
    "RM",
    "ACCESS",
    "UPDATE",
    "INSERT",
    "DELETE",
    "NOT_KEY",
    "INCOMPLETE",
    "VARIABLE_FLAGS",
]


def _tuple(items: Iterable[str]) -> str:
    """A tuple literal without the trailing comma that would make ruff split it."""
    found = list(items)
    return f"({found[0]},)" if len(found) == 1 else f"({', '.join(found)})"


def _spec(spec: dict[str, object]) -> str:
    flags = spec["flags"]
    assert isinstance(flags, list) and set(flags) <= set(_FLAGS), flags
    names = [f.lower() if len(f) > 2 else f for f in _FLAGS if f in flags]
    args = [
        _tuple(f'"{name}"' for name in names),
        _begin(spec["begin_search"]),  # type: ignore[arg-type]
        _find(spec["find_keys"]),  # type: ignore[arg-type]
    ]
    if "notes" in spec:
        args.append(json.dumps(spec["notes"]))
    return f"KeySpec({', '.join(args)})"


def render(definitions: dict[str, dict[str, object]], ref: str) -> str:
    """The module's source."""
    lines = [
        "# ruff: noqa: E501",
        f'"""Redis {ref}\'s key specifications, ``getkeys_proc`` names, tips, declared ACL',
        "categories, arities and ``NO_MANDATORY_KEYS`` commands, by full command name: made by",
        f"``specs/resp/gen_keyspecs.py`` from redis/redis ``src/commands/*.json`` at {ref}.",
        'Do not edit: run the script again."""',
        "",
        "from ._keyspec import Index, KeyNum, KeySpec, Keyword, Range, Unknown",
        "",
        '__all__ = ["ACL_CATEGORIES", "ARITY", "GETKEYS_PROCS", "KEY_SPECS",',
        '           "NO_MANDATORY_KEYS", "TIPS"]',
        "",
        "KEY_SPECS: dict[str, tuple[KeySpec, ...]] = {",
    ]
    for name in sorted(definitions):
        specs = definitions[name].get("key_specs", [])
        assert isinstance(specs, list)
        lines.append(f'    "{name}": {_tuple(_spec(s) for s in specs)},')
    lines += [
        "}",
        f'"""Every command of Redis {ref} (subcommands as ``container|name``): its key specs."""',
        "",
        "GETKEYS_PROCS: dict[str, str] = {",
    ]
    for name in sorted(definitions):
        proc = definitions[name].get("get_keys_function")
        if proc:
            lines.append(f'    "{name}": "{proc}",')
    lines += ["}", '"""Commands with a ``getkeys_proc``: its name."""', ""]
    lines.append("TIPS: dict[str, tuple[str, ...]] = {")
    for name in sorted(definitions):
        tips = definitions[name].get("command_tips", [])
        assert isinstance(tips, list)
        if tips:
            lines.append(f'    "{name}": {_tuple(json.dumps(tip.lower()) for tip in tips)},')
    lines += ["}", '"""COMMAND INFO\'s tips, where a command has some."""', ""]
    lines.append("ACL_CATEGORIES: dict[str, tuple[str, ...]] = {")
    for name in sorted(definitions):
        found = definitions[name].get("acl_categories", [])
        assert isinstance(found, list)
        if found:
            lines.append(f'    "{name}": {_tuple(json.dumps(cat.lower()) for cat in found)},')
    lines += [
        "}",
        '"""The ACL categories a command declares (Redis adds those its flags imply)."""',
        "",
    ]
    lines.append("ARITY: dict[str, int] = {")
    lines += [f'    "{name}": {definitions[name]["arity"]},' for name in sorted(definitions)]
    lines += ["}", '"""Every command\'s arity (negative: at least that many arguments)."""', ""]
    lines.append("NO_MANDATORY_KEYS = frozenset({")
    for name in sorted(definitions):
        flags = definitions[name].get("command_flags", [])
        assert isinstance(flags, list)
        if "NO_MANDATORY_KEYS" in flags:
            lines.append(f'    "{name}",')
    lines += ["})", '"""Commands that may be called without a key (GETKEYS: an empty list)."""']
    return "\n".join(lines) + "\n"


def main() -> None:
    """Read the JSON at the tag, write and format the module."""
    repo, ref = sys.argv[1], sys.argv[2]
    OUT.write_text(render(_definitions(repo, ref), ref))
    ruff = Path(sys.executable).parent / "ruff"
    subprocess.run([str(ruff), "format", str(OUT)], check=True, capture_output=True)


if __name__ == "__main__":
    main()
