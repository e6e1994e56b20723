"""Server commands: COMMAND (the table described), CONFIG, INFO, TIME, DBSIZE and FLUSH*."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from ...kvstore import compile_glob
from ..replies import EMPTY_ARRAY, OK, bulk, bulk_array, integer, map_reply, set_header, verbatim
from ._base import SYNTAX_ERROR, Client, Command


def _command_entry(s: Client, command: Command) -> bytes:
    flags = command.flags
    subcommands = [] if command.subcommands is None else list(command.subcommands.values())
    first, last, step = command.keys
    return b"".join(
        [
            b"*10\r\n",
            bulk(command.name.encode()),
            integer(command.arity),
            set_header(len(flags), s.resp3),
            *(b"+%s\r\n" % flag.encode() for flag in flags),
            integer(first),
            integer(last),
            integer(step),
            set_header(0, s.resp3),
            EMPTY_ARRAY,
            EMPTY_ARRAY,
            b"*%d\r\n" % len(subcommands),
            *(_command_entry(s, sub) for sub in subcommands),
        ]
    )


def command_command(commands: Mapping[bytes, Command], top_level: Sequence[Command]) -> Command:
    """COMMAND and its subcommands, describing the table ``commands`` (by name) and its
    ``top_level`` commands in order. Both are read when a client asks, so the table
    holding this command may be completed after it is made."""

    def command(s: Client, argv: list[bytes]) -> bytes:
        entries = [_command_entry(s, command) for command in top_level]
        return b"*%d\r\n" % len(entries) + b"".join(entries)

    def command_count(s: Client, argv: list[bytes]) -> bytes:
        return integer(len(top_level))

    def command_info(s: Client, argv: list[bytes]) -> bytes:
        if len(argv) == 2:
            return command(s, argv)
        entries = []
        for name in argv[2:]:
            found = find_command(name)
            entries.append(s.null if found is None else _command_entry(s, found))
        return b"*%d\r\n" % len(entries) + b"".join(entries)

    def find_command(name: bytes) -> Command | None:
        """A command by its full name (``get``, ``client|setname``), any case."""
        base, _, sub = name.lower().partition(b"|")
        command = commands.get(base)
        if command is None or not sub:
            return command
        return None if command.subcommands is None else command.subcommands.get(sub)

    def command_docs(s: Client, argv: list[bytes]) -> bytes:
        return map_reply([], s.resp3)

    def command_list(s: Client, argv: list[bytes]) -> bytes:
        if len(argv) != 2:
            return SYNTAX_ERROR
        return bulk_array((command.name.encode() for command in top_level), s.null)

    return Command(
        "command",
        -1,
        command,  # COMMAND alone lists every command
        ("loading", "stale"),
        subcommands={
            sub.name.split("|")[1].encode(): sub
            for sub in (
                Command("command|count", 2, command_count, ("loading", "stale")),
                Command("command|docs", -2, command_docs, ("loading", "stale")),
                Command("command|info", -2, command_info, ("loading", "stale")),
                Command("command|list", -2, command_list, ("loading", "stale")),
            )
        },
    )


def config_get(s: Client, argv: list[bytes]) -> bytes:
    """CONFIG GET."""
    parameters = s.provider.config()
    found: dict[bytes, bytes] = {}
    for pattern in argv[2:]:
        match = compile_glob(pattern.lower())
        for name, value in parameters.items():
            if name not in found and match(name):
                found[name] = value
    return map_reply([(bulk(name), bulk(value)) for name, value in found.items()], s.resp3)


def info(s: Client, argv: list[bytes]) -> bytes:
    """INFO."""
    listener = s.sender.listener
    stats = listener.stats() if listener is not None else None
    return verbatim(s.provider.info([arg.lower() for arg in argv[1:]], stats), s.resp3)


def time_(s: Client, argv: list[bytes]) -> bytes:
    """TIME."""
    now = time.time_ns() // 1000
    return bulk_array((b"%d" % (now // 1_000_000), b"%d" % (now % 1_000_000)), s.null)


def dbsize(s: Client, argv: list[bytes]) -> bytes:
    """DBSIZE."""
    return integer(len(s.store))


def flush(s: Client, argv: list[bytes]) -> bytes:
    """FLUSHDB (the selected database) and FLUSHALL (every database)."""
    if len(argv) == 1 or (len(argv) == 2 and argv[1].lower() in (b"sync", b"async")):
        if argv[0].lower() == b"flushall":
            for store in s.provider.databases:
                store.flush()
        else:
            s.store.flush()
        return OK
    return SYNTAX_ERROR
