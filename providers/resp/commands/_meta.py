"""What COMMAND reports of a :class:`Command`: its family, ACL categories and key specs,
derived as Redis derives them (``setImplicitACLCategories``) from its flags and family."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from types import ModuleType

from ..replies import bulk, integer, set_header
from ._base import Command

__all__ = [
    "ACL_CATEGORIES",
    "categories",
    "command_entry",
    "family",
    "flags_in_order",
    "key_flags",
    "key_positions",
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


def flags_in_order(command: Command) -> list[str]:
    """The command's flags as COMMAND INFO lists them (Redis's bit order)."""
    flags = list(command.flags)
    if command.find_keys is not None and "movablekeys" not in flags:
        flags.append("movablekeys")
    return sorted(flags, key=lambda flag: _FLAG_ORDER.get(flag, len(_FLAG_ORDER)))


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
    """The key spec's flags: given, or read-only access / read-write update."""
    if command.key_flags is not None:
        return command.key_flags
    if "write" in command.flags:
        return ("RW", "update")
    return ("RO", "access")


def key_positions(command: Command, argv: list[bytes]) -> list[int]:
    """Where the keys of the request ``argv`` are (COMMAND GETKEYS)."""
    if command.find_keys is not None:
        return command.find_keys(argv)
    first, last, step = command.keys
    if first <= 0:
        return []
    end = len(argv) + last if last < 0 else last
    return list(range(first, min(end, len(argv) - 1) + 1, step))


def _pairs(pairs: list[tuple[bytes, bytes]], resp3: bool) -> bytes:
    header = b"%%%d\r\n" % len(pairs) if resp3 else b"*%d\r\n" % (2 * len(pairs))
    return header + b"".join(bulk(key) + value for key, value in pairs)


def _key_spec(command: Command, resp3: bool) -> bytes:
    first, last, step = command.keys
    flags = key_flags(command)
    lastkey = last if last < 0 else last - first
    return _pairs(
        [
            (
                b"flags",
                set_header(len(flags), resp3) + b"".join(b"+%s\r\n" % f.encode() for f in flags),
            ),
            (
                b"begin_search",
                _pairs(
                    [
                        (b"type", bulk(b"index")),
                        (b"spec", _pairs([(b"index", integer(first))], resp3)),
                    ],
                    resp3,
                ),
            ),
            (
                b"find_keys",
                _pairs(
                    [
                        (b"type", bulk(b"range")),
                        (
                            b"spec",
                            _pairs(
                                [
                                    (b"lastkey", integer(lastkey)),
                                    (b"keystep", integer(step)),
                                    (b"limit", integer(0)),
                                ],
                                resp3,
                            ),
                        ),
                    ],
                    resp3,
                ),
            ),
        ],
        resp3,
    )


def command_entry(command: Command, resp3: bool) -> bytes:
    """COMMAND INFO's ten-item description of ``command``."""
    flags = flags_in_order(command)
    subcommands = [] if command.subcommands is None else list(command.subcommands.values())
    first, last, step = command.keys
    cats = categories(command)
    specs = [_key_spec(command, resp3)] if first > 0 else []
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


_NOTES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    # name: (key spec flags, tips, extra ACL categories), as Redis 7.0's command table
    "ping": ((), ("request_policy:all_shards", "response_policy:all_succeeded"), ()),
    "time": ((), ("nondeterministic_output",), ()),
    "info": (
        (),
        ("nondeterministic_output", "request_policy:all_shards", "response_policy:special"),
        ("dangerous",),
    ),
    "dbsize": ((), ("request_policy:all_shards", "response_policy:agg_sum"), ("keyspace",)),
    "flushdb": (
        (),
        ("request_policy:all_shards", "response_policy:all_succeeded"),
        ("keyspace", "dangerous"),
    ),
    "flushall": (
        (),
        ("request_policy:all_shards", "response_policy:all_succeeded"),
        ("keyspace", "dangerous"),
    ),
    "watch": (("RO",), (), ()),
    "set": (("RW", "access", "update", "variable_flags"), (), ()),
    "getdel": (("RW", "access", "delete"), (), ()),
    "getex": (("RW", "access", "update"), (), ()),
    "getset": (("RW", "access", "update"), (), ()),
    "setnx": (("OW", "insert"), (), ()),
    "setex": (("OW", "update"), (), ()),
    "psetex": (("OW", "update"), (), ()),
    "mget": ((), ("request_policy:multi_shard",), ()),
    "mset": (("OW", "update"), ("request_policy:multi_shard", "response_policy:all_succeeded"), ()),
    "msetnx": (("OW", "insert"), ("request_policy:multi_shard", "response_policy:agg_min"), ()),
    "del": (("RM", "delete"), ("request_policy:multi_shard", "response_policy:agg_sum"), ()),
    "unlink": (("RM", "delete"), ("request_policy:multi_shard", "response_policy:agg_sum"), ()),
    "exists": (("RO",), ("request_policy:multi_shard", "response_policy:agg_sum"), ()),
    "type": (("RO",), (), ()),
    "strlen": (("RO",), (), ()),
    "ttl": ((), ("nondeterministic_output",), ()),
    "pttl": ((), ("nondeterministic_output",), ()),
    "incr": (("RW", "access", "update"), (), ()),
    "decr": (("RW", "access", "update"), (), ()),
    "incrby": (("RW", "access", "update"), (), ()),
    "decrby": (("RW", "access", "update"), (), ()),
    "incrbyfloat": (("RW", "access", "update"), (), ()),
    "append": (("RW", "insert"), (), ()),
    "keys": (
        (),
        ("request_policy:all_shards", "nondeterministic_output_order"),
        ("dangerous",),
    ),
    "scan": ((), ("nondeterministic_output", "request_policy:special"), ()),
    "randomkey": ((), ("request_policy:all_shards", "nondeterministic_output"), ()),
    "swapdb": ((), (), ("dangerous",)),
    "restore": (("OW", "update"), (), ("dangerous",)),
    "sort": ((), (), ("set", "sortedset", "list", "dangerous")),
    "sort_ro": ((), (), ("set", "sortedset", "list", "dangerous")),
    "move": (("RW", "access", "update"), (), ()),
    "touch": (("RO",), ("request_policy:multi_shard", "response_policy:agg_sum"), ()),
    "dump": ((), ("nondeterministic_output",), ()),
    "object|encoding": (("RO",), ("nondeterministic_output",), ()),
    "object|freq": (("RO",), ("nondeterministic_output",), ()),
    "object|idletime": (("RO",), ("nondeterministic_output",), ()),
    "object|refcount": (("RO",), ("nondeterministic_output",), ()),
    "slowlog|get": ((), ("request_policy:all_nodes", "nondeterministic_output"), ()),
    "slowlog|len": (
        (),
        ("request_policy:all_nodes", "response_policy:agg_sum", "nondeterministic_output"),
        (),
    ),
    "slowlog|reset": ((), ("request_policy:all_nodes", "response_policy:all_succeeded"), ()),
    "latency|latest": (
        (),
        ("nondeterministic_output", "request_policy:all_nodes", "response_policy:special"),
        (),
    ),
    "latency|history": (
        (),
        ("nondeterministic_output", "request_policy:all_nodes", "response_policy:special"),
        (),
    ),
    "latency|reset": ((), ("request_policy:all_nodes", "response_policy:all_succeeded"), ()),
    "function|list": ((), ("nondeterministic_output_order",), ()),
    "ssubscribe": (("not_key",), (), ()),
    "sunsubscribe": (("not_key",), (), ()),
    "spublish": (("not_key",), (), ()),
    "command|docs": ((), ("nondeterministic_output_order",), ()),
    "command|info": ((), ("nondeterministic_output_order",), ()),
    "command|list": ((), ("nondeterministic_output_order",), ()),
    "config|set": ((), ("request_policy:all_nodes", "response_policy:all_succeeded"), ()),
}
"""What Redis's command table says of commands beyond their flags and key positions."""


def with_redis_metadata(command: Command) -> Command:
    """``command`` with Redis's key spec flags, tips and extra ACL categories, where known
    and not given (its subcommands too)."""
    changes: dict[str, object] = {}
    notes = _NOTES.get(command.name)
    if notes is not None:
        spec, tips, extra = notes
        if spec and command.key_flags is None:
            changes["key_flags"] = spec
        if tips and not command.tips:
            changes["tips"] = tips
        if extra and not command.acl_categories:
            changes["acl_categories"] = extra
    if command.subcommands is not None:
        changes["subcommands"] = {
            name: with_redis_metadata(sub) for name, sub in command.subcommands.items()
        }
    return replace(command, **changes) if changes else command  # type: ignore[arg-type]
