"""maxmemory in RESP: the CONFIG parameters, the check before each command, OBJECT's answers.

The account, access information and evictor are :mod:`providers.eviction`'s
:class:`~providers.eviction.MemoryGuard` (one per set of databases). While one is
armed, :meth:`RespSession.execute` runs every command (the direct path is off) and
calls :func:`before_command` first: it records the access to the command's keys
(Redis's ``lookupKey``) and evicts, refusing a ``denyoom`` command (any queued
command inside MULTI) with ``-OOM`` when nothing more can be evicted, as Redis
7.0's ``processCommand`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ...eviction import POLICIES, MemoryGuard, Settings, guard_of, register_size, sampled_size
from ..stream import Stream
from ._base import Client, Command, ProviderState
from ._meta import key_positions
from .config import Parameter, checked_int, parse_memory, register_parameter

__all__ = ["OOM", "before_command", "guard", "parse_memory", "use_table"]

OOM = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"
"""Redis's ``shared.oomerr``."""

_ENDING = frozenset(("exec", "discard", "quit", "reset"))
"""What MULTI does not refuse when out of memory (EXEC only without queued writes)."""
_NOT_TOUCHING = frozenset(("object|encoding", "object|freq", "object|idletime", "object|refcount"))


def guard(provider: ProviderState) -> MemoryGuard:
    """The memory guard of ``provider``'s databases."""
    return guard_of(provider.databases)


def _stream_size(value: object) -> int:
    """A stream: its entries' fields and values, 64 bytes per consumer group and pending entry."""
    if not isinstance(value, Stream):
        return 0
    groups = sum(64 + 48 * len(group.pending) for group in value.groups.values())
    entries = value.entries
    return groups + sampled_size(
        iter(entries.values()),
        len(entries),
        lambda fields: 32 + sum(len(item) + 8 for item in fields),  # type: ignore[attr-defined, misc]
    )


register_size(Stream, _stream_size)


def _keys(command: Command, argv: list[bytes]) -> list[bytes]:
    return [argv[i] for i in key_positions(command, argv)]


def before_command(s: Client, command: Command) -> bytes | None:
    """Access tracking and eviction before ``command`` runs; ``-OOM`` to refuse it."""
    memory = guard_of(s.provider.databases)
    if not memory.armed:
        return None
    argv = s.last_argv
    name = command.name
    queueing = s.multi is not None and command.queued
    touching = not s.no_touch or name == "touch"
    if argv is not None and touching and not queueing and name not in _NOT_TOUCHING:
        db = s.db
        for key in _keys(command, argv):
            memory.touch(db, key)
    if s.deny_blocking:  # inside EXEC or a script: Redis checked memory before it
        return None
    if memory.make_room():
        return None
    if s.multi is None:
        return OOM if "denyoom" in command.flags else None
    if name == "exec":  # refused when a queued command would use memory
        return OOM if any(_denyoom(queued) for queued in s.multi) else None
    return None if name in _ENDING else OOM


_TABLE: dict[bytes, Command] = {}


def use_table(table: Mapping[bytes, Command]) -> None:
    """Give the command table (for EXEC's check of the queued commands)."""
    _TABLE.update(table)


def _denyoom(argv: list[bytes]) -> bool:
    command = _TABLE.get(argv[0].lower())
    if command is not None and command.subcommands is not None and len(argv) > 1:
        command = command.subcommands.get(argv[1].lower())
    return command is not None and "denyoom" in command.flags


# -- CONFIG ------------------------------------------------------------------------------


def _set_maxmemory(provider: ProviderState, value: bytes) -> bytes | None:
    parsed = parse_memory(value)
    if parsed is None:
        return b"argument must be a memory value"
    guard(provider).configure(maxmemory=parsed)
    return None


def _set_policy(provider: ProviderState, value: bytes) -> bytes | None:
    if value.lower() not in POLICIES:
        return b"argument(s) must be one of the following: " + b", ".join(POLICIES)
    guard(provider).configure(policy=value.lower())
    return None


def _int_parameter(name: bytes, field: str, low: int, high: int) -> Parameter:
    def get(provider: ProviderState) -> bytes:
        return b"%d" % _INT_FIELDS[field](guard(provider).settings)

    def set_(provider: ProviderState, value: bytes) -> bytes | None:
        parsed = checked_int(value, low, high)
        if isinstance(parsed, bytes):
            return parsed
        guard(provider).configure(**{field: parsed})  # type: ignore[arg-type]
        return None

    return Parameter(name, get, set_)


_INT_MAX = (1 << 31) - 1
_INT_FIELDS: dict[str, Callable[[Settings], int]] = {
    "samples": lambda settings: settings.samples,
    "lfu_log_factor": lambda settings: settings.lfu_log_factor,
    "lfu_decay_time": lambda settings: settings.lfu_decay_time,
    "tenacity": lambda settings: settings.tenacity,
}

for _parameter in (
    Parameter(
        b"maxmemory",
        lambda p: b"%d" % guard(p).settings.maxmemory,
        _set_maxmemory,
    ),
    Parameter(b"maxmemory-policy", lambda p: guard(p).settings.policy, _set_policy),
    _int_parameter(b"maxmemory-samples", "samples", 1, _INT_MAX),
    _int_parameter(b"lfu-log-factor", "lfu_log_factor", 0, _INT_MAX),
    _int_parameter(b"lfu-decay-time", "lfu_decay_time", 0, _INT_MAX),
    _int_parameter(b"maxmemory-eviction-tenacity", "tenacity", 0, 100),
):
    register_parameter(_parameter)
