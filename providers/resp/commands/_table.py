"""The RESP command table: every command by name, in the order COMMAND lists them, and
:func:`lookup`, which finds the command a request names and checks its arity."""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

from . import (
    acl,
    admin,
    bitmaps,
    blocking,
    client,
    config,
    connection,
    databases,
    describe,
    generic,
    geo,
    hashes,
    hyperloglog,
    keys,
    lists,
    maxmemory,
    persistence,
    pubsub,
    scripting,
    server,
    sets,
    sort,
    standalone,
    stream_groups,
    streams,
    strings,
    transactions,
    zsets,
)
from ._base import Command, arity_error, container, unknown_command, unknown_subcommand
from ._meta import remember_families, with_redis_metadata

__all__ = ["COMMANDS", "command_names", "lookup"]

_W = ("write",)
_WD = ("write", "denyoom")
_R = ("readonly",)
_RF = ("readonly", "fast")
_WF = ("write", "fast")
_WDF = ("write", "denyoom", "fast")
_CONN = ("fast", "stale", "loading")
_TXF = ("noscript", "loading", "stale", "fast", "allow_busy")
_ANY_TIME = ("noscript", "loading", "stale", "fast", "no_auth", "allow_busy")
_CLIENT = ("noscript", "loading", "stale")
_ONE_KEY = (1, 1, 1)
_ALL_KEYS = (1, -1, 1)

_COMMAND_LIST: list[Command] = []
_TABLE: dict[bytes, Command] = {}
_COMMAND_LIST += [
    Command("ping", -1, connection.ping, ("fast",)),
    Command("echo", 2, connection.echo, _CONN),
    Command("quit", -1, connection.quit_, _ANY_TIME, queued=False),
    Command("multi", 1, transactions.multi, _TXF, queued=False),
    Command(
        "exec",
        1,
        transactions.exec_,
        ("noscript", "loading", "stale", "skip_slowlog"),
        queued=False,
    ),
    Command("discard", 1, transactions.discard, _TXF, queued=False),
    Command(
        "watch",
        -2,
        transactions.watch,
        _TXF,
        (1, -1, 1),
        queued=False,
    ),
    Command("unwatch", 1, transactions.unwatch, _TXF),
    Command("select", 2, connection.select, _CONN),
    Command("auth", -2, connection.auth, _ANY_TIME),
    Command("hello", -1, connection.hello, _ANY_TIME),
    Command("time", 1, server.time_, _CONN),
    container(
        "client",
        -2,
        (),
        Command("client|setname", 3, connection.client_setname, _CLIENT),
        Command("client|getname", 2, connection.client_getname, _CLIENT),
        Command("client|id", 2, connection.client_id, _CLIENT),
        Command("client|setinfo", 4, connection.client_setinfo, _CLIENT),
        *client.COMMANDS,
    ),
    Command("info", -1, server.info, ("loading", "stale")),
    Command("dbsize", 1, server.dbsize, _RF),
    Command("flushdb", -1, server.flush, _W),
    Command("flushall", -1, server.flush, _W),
    Command("get", 2, strings.get, _RF, _ONE_KEY),
    Command("set", -3, strings.set_, _WD, _ONE_KEY),
    Command("getdel", 2, strings.getdel, _WF, _ONE_KEY),
    Command("getex", -2, strings.getex, _WF, _ONE_KEY),
    Command("getset", 3, strings.getset, _WDF, _ONE_KEY),
    Command("setnx", 3, strings.setnx, _WDF, _ONE_KEY),
    Command("setex", 4, strings.setex, _WD, _ONE_KEY),
    Command("psetex", 4, strings.psetex, _WD, _ONE_KEY),
    Command("mget", -2, strings.mget, _RF, _ALL_KEYS),
    Command("mset", -3, strings.mset, _WD, (1, -1, 2)),
    Command("msetnx", -3, strings.msetnx, _WD, (1, -1, 2)),
    Command("del", -2, keys.del_, _W, _ALL_KEYS),
    Command("unlink", -2, keys.del_, _WF, _ALL_KEYS),
    Command("exists", -2, keys.exists, _RF, _ALL_KEYS),
    Command("type", 2, keys.type_, _RF, _ONE_KEY),
    Command("expire", -3, keys.expire, _WF, _ONE_KEY),
    Command("pexpire", -3, keys.pexpire, _WF, _ONE_KEY),
    Command("expireat", -3, keys.expireat, _WF, _ONE_KEY),
    Command("pexpireat", -3, keys.pexpireat, _WF, _ONE_KEY),
    Command("expiretime", 2, keys.expiretime, _RF, _ONE_KEY),
    Command("pexpiretime", 2, keys.pexpiretime, _RF, _ONE_KEY),
    Command("ttl", 2, keys.ttl, _RF, _ONE_KEY),
    Command("pttl", 2, keys.pttl, _RF, _ONE_KEY),
    Command("persist", 2, keys.persist, _WF, _ONE_KEY),
    Command("incr", 2, strings.incr, _WDF, _ONE_KEY),
    Command("decr", 2, strings.decr, _WDF, _ONE_KEY),
    Command("incrby", 3, strings.incrby, _WDF, _ONE_KEY),
    Command("decrby", 3, strings.decrby, _WDF, _ONE_KEY),
    Command("incrbyfloat", 3, strings.incrbyfloat, _WDF, _ONE_KEY),
    Command("append", 3, strings.append, _WDF, _ONE_KEY),
    Command("strlen", 2, strings.strlen, _RF, _ONE_KEY),
    Command("getrange", 4, strings.getrange, _R, _ONE_KEY),
    Command("substr", 4, strings.getrange, _R, _ONE_KEY),
    Command("setrange", 4, strings.setrange, _WD, _ONE_KEY),
    Command("lcs", -3, strings.lcs, _R, (1, 2, 1)),
    Command("keys", 2, keys.keys, _R),
    Command("scan", -2, keys.scan, _R),
    Command("rename", 3, keys.rename, _W, (1, 2, 1)),
    Command("renamenx", 3, keys.renamenx, _WF, (1, 2, 1)),
    Command("randomkey", 1, keys.randomkey, _R),
    Command("reset", 1, connection.reset, _ANY_TIME, queued=False),
]
_COMMAND_LIST += databases.COMMANDS
_COMMAND_LIST += hashes.COMMANDS
_COMMAND_LIST += sets.COMMANDS
_COMMAND_LIST += generic.COMMANDS
_COMMAND_LIST += sort.COMMANDS
_COMMAND_LIST += bitmaps.COMMANDS
_COMMAND_LIST += hyperloglog.COMMANDS
_COMMAND_LIST += streams.COMMANDS
_COMMAND_LIST += stream_groups.COMMANDS
_COMMAND_LIST += scripting.COMMANDS
_COMMAND_LIST.append(container("script", -2, (), *scripting.SCRIPT_SUBCOMMANDS))
_COMMAND_LIST += lists.COMMANDS
_COMMAND_LIST += blocking.COMMANDS
_COMMAND_LIST += zsets.COMMANDS
_COMMAND_LIST += geo.COMMANDS
_COMMAND_LIST += pubsub.COMMANDS
# lookup() is defined below: the lambda reads it when a client asks.
_COMMAND_LIST.append(
    describe.command_command(_TABLE, _COMMAND_LIST, lambda argv: lookup(argv))  # noqa: PLW0108
)
_COMMAND_LIST += config.COMMANDS
_COMMAND_LIST += persistence.COMMANDS
# SHUTDOWN is persistence's (SAVE/NOSAVE with a log); admin's answers ABORT and the errors.
_COMMAND_LIST += [command for command in admin.COMMANDS if command.name != "shutdown"]
_COMMAND_LIST += acl.COMMANDS
_COMMAND_LIST += standalone.COMMANDS
_FAMILIES: tuple[ModuleType, ...] = (
    acl,
    admin,
    bitmaps,
    blocking,
    client,
    config,
    connection,
    databases,
    describe,
    generic,
)
_FAMILIES += (geo, hashes, hyperloglog, keys, lists, persistence, pubsub, scripting, server)
_FAMILIES += (sets, sort, stream_groups, streams, strings, transactions, zsets)
remember_families(_FAMILIES)
_COMMAND_LIST[:] = [with_redis_metadata(command) for command in _COMMAND_LIST]
_TABLE.update(
    (name, command)
    for command in _COMMAND_LIST
    for name in (command.name.encode(), command.name.upper().encode())
)

COMMANDS: Mapping[bytes, Command] = _TABLE
scripting.use_table(_TABLE)
maxmemory.use_table(_TABLE)
"""Commands by name (lower and upper case; :func:`lookup` folds other cases)."""
_TOP_LEVEL = tuple(_COMMAND_LIST)


def lookup(argv: list[bytes]) -> Command | bytes:
    """The command ``argv`` names, or the error reply when there is none or the arity is off."""
    command = COMMANDS.get(argv[0])
    if command is None:
        command = COMMANDS.get(argv[0].lower())
        if command is None:
            return unknown_command(argv)
    argc = len(argv)
    if command.subcommands is not None and argc > 1:
        sub = command.subcommands.get(argv[1].lower())
        if sub is None:
            return unknown_subcommand(argv)
        command = sub
    arity = command.arity
    if (arity > 0 and arity != argc) or argc < -arity:
        return arity_error(command.name)
    return command


blocking.lookup_command = lookup  # CLIENT PAUSE WRITE looks at what EXEC will run
acl.use_lookup(lookup)


def command_names() -> frozenset[bytes]:
    """Lower-case names of the top-level commands (the inline detector's vocabulary)."""
    return frozenset(command.name.encode() for command in _TOP_LEVEL)
