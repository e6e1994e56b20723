"""What COMMAND reports of a :class:`Command`: its family, ACL categories and key specs,
derived as Redis derives them (``setImplicitACLCategories``) from its flags and family."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from types import ModuleType

from ..replies import bulk, integer, set_header
from ._base import Command
from ._keyspec import (
    GETKEYS_PROCS as GETKEYS_PROCS_BY_NAME,
)
from ._keyspec import (
    NOT_KEY,
    Index,
    KeyNum,
    KeySpec,
    Keyword,
    Range,
    Unknown,
    flag_bits,
    get_keys,
    legacy_range,
)
from ._keyspecs import ACL_CATEGORIES as ACL_CATEGORIES_OF
from ._keyspecs import GETKEYS_PROCS, KEY_SPECS, TIPS

__all__ = [
    "ACL_CATEGORIES",
    "categories",
    "command_entry",
    "family",
    "flag_set",
    "flags_in_order",
    "has_keys",
    "key_flags",
    "key_positions",
    "key_references",
    "key_specs",
    "legacy_key_positions",
    "legacy_keys",
    "redis_name",
    "with_redis_metadata",
]

ACL_CATEGORIES = (
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
)
"""Redis's ACL categories, in the order COMMAND INFO and ACL CAT list them."""

_FAMILIES = {
    "strings": ("string", "string"),
    "keys": ("generic", "keyspace"),
    "generic": ("generic", "keyspace"),
    "databases": ("generic", "keyspace"),
    "blocking": ("list", "list"),
    "lists": ("list", "list"),
    "hashes": ("hash", "hash"),
    "sets": ("set", "set"),
    "zsets": ("sorted-set", "sortedset"),
    "pubsub": ("pubsub", "pubsub"),
    "transactions": ("transactions", "transaction"),
    "connection": ("connection", "connection"),
    "client": ("connection", "connection"),
    "scripting": ("scripting", "scripting"),
    "streams": ("stream", "stream"),
    "stream_groups": ("stream", "stream"),
    "bitmaps": ("bitmap", "bitmap"),
    "geo": ("geo", "geo"),
    "hyperloglog": ("hyperloglog", "hyperloglog"),
}
"""Module name -> (COMMAND DOCS group, the family's ACL category)."""


_FLAG_NAMES = (
    "write readonly denyoom module admin pubsub noscript blocking loading stale skip_monitor "
    "skip_slowlog asking fast no_auth may_replicate sentinel only_sentinel no_mandatory_keys "
    "protected no_async_loading no_multi movablekeys allow_busy"
)
_FLAG_ORDER = {name: i for i, name in enumerate(_FLAG_NAMES.split())}
"""Redis's command flag bits, in the order COMMAND INFO lists them."""
_HIDDEN = frozenset({"may_replicate", "sentinel", "only_sentinel", "protected"})
"""Flags COMMAND INFO leaves out on purpose (``addReplyFlagsForCommand``)."""


def flags_in_order(command: Command) -> list[str]:
    """The command's flags as COMMAND INFO lists them (Redis's bit order)."""
    flags = list(command.flags)
    known = KEY_SPECS.get(command.name)
    movable = legacy_range(known)[1] if known is not None else command.find_keys is not None
    if movable and "movablekeys" not in flags:
        flags.append("movablekeys")
    shown = [flag for flag in flags if flag not in _HIDDEN]
    return sorted(shown, key=lambda flag: _FLAG_ORDER.get(flag, len(_FLAG_ORDER)))


_MODULE_OF: dict[int, str] = {}
_NAMES: set[str] = set()
"""Handler id -> the family module defining it, filled by :func:`remember_families`."""


def remember_families(modules: Iterable[ModuleType]) -> None:
    """Record which module defines each handler. A function compiled by mypyc does not
    report its own module as the interpreter does, so the table tells us instead."""
    modules = list(modules)
    _NAMES.update(module.__name__ for module in modules)
    for module in modules:
        family_name = module.__name__.rpartition(".")[2]
        for value in vars(module).values():
            defined_in = getattr(value, "__module__", None)
            # Interpreted: only where it is defined (families import each other's helpers).
            if callable(value) and (defined_in == module.__name__ or defined_in not in _NAMES):
                _MODULE_OF.setdefault(id(value), family_name)


def _module(command: Command) -> str:
    found = _MODULE_OF.get(id(command.handler))
    if found is not None:
        return found
    return getattr(command.handler, "__module__", "").rpartition(".")[2]


def family(command: Command) -> str:
    """COMMAND DOCS's group: given, or the family of the module defining the handler."""
    if command.group is not None:
        return command.group
    return _FAMILIES.get(_module(command), ("server", ""))[0]


def categories(command: Command) -> list[str]:
    """The command's ACL categories, in Redis's order."""
    found = set(command.acl_categories)
    if command.name in KEY_SPECS:  # a Redis 7.0 command: the categories it declares
        found.update(ACL_CATEGORIES_OF.get(command.name, ()))
    else:  # the family's
        if command.group is None:
            own = _FAMILIES.get(_module(command), ("", ""))[1]
        else:
            own = next((cat for group, cat in _FAMILIES.values() if group == command.group), "")
        if own:
            found.add(own)
    flags = command.flags
    if "write" in flags:
        found.add("write")
    if "readonly" in flags and "scripting" not in found:
        found.add("read")
    if "admin" in flags:
        found.update(("admin", "dangerous"))
    if "pubsub" in flags:
        found.add("pubsub")
    if "fast" in flags:
        found.add("fast")
    if "blocking" in flags:
        found.add("blocking")
    if "fast" not in found:
        found.add("slow")
    return [name for name in ACL_CATEGORIES if name in found]


def key_flags(command: Command) -> tuple[str, ...]:
    """The key spec's flags of a command Redis 7.0 lacks: given, or read-only access /
    read-write update."""
    if command.key_flags is not None:
        return command.key_flags
    if "write" in command.flags:
        return ("RW", "update")
    return ("RO", "access")


_SPECS: dict[str, tuple[KeySpec, ...]] = {}
"""Key specs of the commands Redis 7.0 lacks, made once from their (first, last, step)."""


def key_specs(command: Command) -> tuple[KeySpec, ...]:
    """The command's key specs: Redis 7.0's own, else one made of its (first, last, step)
    and :func:`key_flags`."""
    found = KEY_SPECS.get(command.name)
    if found is not None:
        return found
    found = _SPECS.get(command.name)
    if found is None:
        first, last, step = command.keys
        found = ()
        if first > 0:
            lastkey = last if last < 0 else last - first
            found = (KeySpec(key_flags(command), Index(first), Range(lastkey, step, 0)),)
        _SPECS[command.name] = found
    return found


_CONTAINERS = frozenset(name.partition("|")[0] for name in KEY_SPECS if "|" in name)
"""Redis's commands with subcommands."""


def redis_name(command: Command, argv: list[bytes]) -> str:
    """The name Redis's table gives the request ``argv``: ``xgroup|create`` where our
    table serves one of Redis's containers as a single command."""
    if command.subcommands is None and len(argv) > 1 and command.name in _CONTAINERS:
        return command.name + "|" + argv[1].lower().decode("latin-1")
    return command.name


def _specs_and_proc(command: Command, argv: list[bytes]) -> tuple[tuple[KeySpec, ...], str | None]:
    name = redis_name(command, argv)
    if name != command.name:
        return KEY_SPECS.get(name, ()), GETKEYS_PROCS.get(name)
    return key_specs(command), GETKEYS_PROCS.get(name)


def has_keys(command: Command, argv: list[bytes] | None = None) -> bool:
    """Redis's ``doesCommandHaveKeys`` (of the subcommand ``argv`` names, for a Redis
    container our table serves whole): a ``getkeys_proc`` or a spec of real keys."""
    if command.find_keys is not None:
        return True
    specs, proc = _specs_and_proc(command, argv or [])
    return proc is not None or any(not spec.bits & NOT_KEY for spec in specs)


def key_references(command: Command, argv: list[bytes]) -> list[tuple[int, int]]:
    """Where the keys of the request ``argv`` are, each with its key spec flag bits (Redis's
    ``getKeysFromCommandWithSpecs``: COMMAND GETKEYS, ACL key permissions)."""
    if command.find_keys is not None and command.name not in KEY_SPECS:
        bits = flag_bits(key_flags(command))
        return [(i, bits) for i in command.find_keys(argv)]
    specs, proc = _specs_and_proc(command, argv)
    return get_keys(specs, proc, argv)


def key_positions(command: Command, argv: list[bytes]) -> list[int]:
    """Where the keys of the request ``argv`` are (COMMAND GETKEYS)."""
    return [position for position, _ in key_references(command, argv)]


def legacy_key_positions(command: Command, argv: list[bytes]) -> list[int]:
    """Redis's ``getKeysFromCommand``, which client-side tracking uses: the command's
    ``getkeys_proc``, else its (first, last, step) alone."""
    name = redis_name(command, argv)
    proc = GETKEYS_PROCS.get(name)
    if proc is not None:
        return [position for position, _ in GETKEYS_PROCS_BY_NAME[proc](argv)]
    if command.find_keys is not None and name not in KEY_SPECS:
        return command.find_keys(argv)
    first, last, step = _legacy(name) if name in KEY_SPECS else command.keys
    if first <= 0:
        return []
    end = len(argv) + last if last < 0 else last
    if end >= len(argv):  # too few arguments: the command will say so
        return []
    return list(range(first, end + 1, step))


_LEGACY: dict[str, tuple[int, int, int]] = {}


def _legacy(name: str) -> tuple[int, int, int]:
    found = _LEGACY.get(name)
    if found is None:
        found = _LEGACY[name] = legacy_range(KEY_SPECS[name])[0]
    return found


def _pairs(pairs: list[tuple[bytes, bytes]], resp3: bool) -> bytes:
    header = b"%%%d\r\n" % len(pairs) if resp3 else b"*%d\r\n" % (2 * len(pairs))
    return header + b"".join(bulk(key) + value for key, value in pairs)


def flag_set(flags: tuple[str, ...], resp3: bool) -> bytes:
    """Flags as Redis replies them: a set (RESP3) or array of simple strings."""
    return set_header(len(flags), resp3) + b"".join(b"+%s\r\n" % f.encode() for f in flags)


def _begin_search(begin: Index | Keyword | Unknown, resp3: bool) -> bytes:
    if isinstance(begin, Index):
        kind, spec = b"index", [(b"index", integer(begin.pos))]
    elif isinstance(begin, Keyword):
        keyword = [(b"keyword", bulk(begin.keyword.encode()))]
        kind, spec = b"keyword", [*keyword, (b"startfrom", integer(begin.startfrom))]
    else:
        kind, spec = b"unknown", []
    return _pairs([(b"type", bulk(kind)), (b"spec", _pairs(spec, resp3))], resp3)


def _find_keys(find: Range | KeyNum | Unknown, resp3: bool) -> bytes:
    if isinstance(find, Range):
        kind, spec = (
            b"range",
            [
                (b"lastkey", integer(find.lastkey)),
                (b"keystep", integer(find.keystep)),
                (b"limit", integer(find.limit)),
            ],
        )
    elif isinstance(find, KeyNum):
        kind, spec = (
            b"keynum",
            [
                (b"keynumidx", integer(find.keynumidx)),
                (b"firstkey", integer(find.firstkey)),
                (b"keystep", integer(find.keystep)),
            ],
        )
    else:
        kind, spec = b"unknown", []
    return _pairs([(b"type", bulk(kind)), (b"spec", _pairs(spec, resp3))], resp3)


def _key_spec(spec: KeySpec, resp3: bool) -> bytes:
    """``addReplyCommandKeySpecs``'s map for one spec."""
    notes = [(b"notes", bulk(spec.notes.encode()))] if spec.notes else []
    return _pairs(
        [
            *notes,
            (b"flags", flag_set(spec.flags, resp3)),
            (b"begin_search", _begin_search(spec.begin_search, resp3)),
            (b"find_keys", _find_keys(spec.find_keys, resp3)),
        ],
        resp3,
    )


def legacy_keys(command: Command) -> tuple[int, int, int]:
    """COMMAND INFO's (first key, last key, step): Redis's, from its key specs."""
    return _legacy(command.name) if command.name in KEY_SPECS else command.keys


def command_entry(command: Command, resp3: bool) -> bytes:
    """COMMAND INFO's ten-item description of ``command``."""
    flags = flags_in_order(command)
    subcommands = [] if command.subcommands is None else list(command.subcommands.values())
    first, last, step = legacy_keys(command)
    cats = categories(command)
    specs = [_key_spec(spec, resp3) for spec in key_specs(command)]
    return b"".join(
        [
            b"*10\r\n",
            bulk(command.name.encode()),
            integer(command.arity),
            set_header(len(flags), resp3),
            *(b"+%s\r\n" % flag.encode() for flag in flags),
            integer(first),
            integer(last),
            integer(step),
            set_header(len(cats), resp3),
            *(b"+@%s\r\n" % cat.encode() for cat in cats),
            set_header(len(command.tips), resp3),
            *(bulk(tip.encode()) for tip in command.tips),
            set_header(len(specs), resp3),
            *specs,
            set_header(len(subcommands), resp3),
            *(command_entry(sub, resp3) for sub in subcommands),
        ]
    )


def with_redis_metadata(command: Command) -> Command:
    """``command`` with Redis 7.0's tips, where it has some and ``command`` gives none (its
    subcommands too)."""
    changes: dict[str, object] = {}
    tips = TIPS.get(command.name)
    if tips and not command.tips:
        changes["tips"] = tips
    if command.subcommands is not None:
        changes["subcommands"] = {
            name: with_redis_metadata(sub) for name, sub in command.subcommands.items()
        }
    return replace(command, **changes) if changes else command  # type: ignore[arg-type]
