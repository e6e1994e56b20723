"""COMMAND and its subcommands: the command table described as Redis 7.0 describes its own."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ...kvstore import compile_glob
from ..replies import bulk, bulk_array, integer, map_reply
from ._base import SYNTAX_ERROR, Client, Command
from ._keyspec import flag_names
from ._keyspecs import ARITY, NO_MANDATORY_KEYS
from ._meta import (
    categories,
    command_entry,
    family,
    flag_set,
    has_keys,
    key_references,
    redis_name,
)

__all__ = ["command_command"]


class _Described:
    """A command table, read when a client asks (the table may be completed later)."""

    def __init__(
        self,
        commands: Mapping[bytes, Command],
        top_level: Sequence[Command],
        lookup: Callable[[list[bytes]], Command | bytes],
    ) -> None:
        self.commands = commands
        self.top_level = top_level
        self.lookup = lookup

    def every_command(self) -> list[Command]:
        found: list[Command] = []
        for command in self.top_level:
            found.append(command)
            if command.subcommands is not None:
                found.extend(command.subcommands.values())
        return found

    def command(self, s: Client, argv: list[bytes]) -> bytes:
        entries = [command_entry(command, s.resp3) for command in self.top_level]
        return b"*%d\r\n" % len(entries) + b"".join(entries)

    def command_count(self, s: Client, argv: list[bytes]) -> bytes:
        return integer(len(self.top_level))

    def command_info(self, s: Client, argv: list[bytes]) -> bytes:
        if len(argv) == 2:
            return self.command(s, argv)
        entries = []
        for name in argv[2:]:
            found = self.find_command(name)
            entries.append(s.null if found is None else command_entry(found, s.resp3))
        return b"*%d\r\n" % len(entries) + b"".join(entries)

    def find_command(self, name: bytes) -> Command | None:
        """A command by its full name (``get``, ``client|setname``), any case."""
        base, _, sub = name.lower().partition(b"|")
        command = self.commands.get(base)
        if command is None or not sub:
            return command
        return None if command.subcommands is None else command.subcommands.get(sub)

    def docs_entry(self, command: Command, resp3: bool) -> bytes:
        # Redis leaves out the fields a command lacks; we have no summaries of our own to
        # give (docstrings do not survive mypyc), so the group is the one field every
        # command has.
        pairs = [(bulk(b"group"), bulk(family(command).encode()))]
        if command.subcommands is not None:
            subs = list(command.subcommands.values())
            pairs.append(
                (
                    bulk(b"subcommands"),
                    map_reply(
                        [(bulk(sub.name.encode()), self.docs_entry(sub, resp3)) for sub in subs],
                        resp3,
                    ),
                )
            )
        return map_reply(pairs, resp3)

    def command_docs(self, s: Client, argv: list[bytes]) -> bytes:
        if len(argv) == 2:
            chosen = list(self.top_level)
        else:
            chosen = [c for c in (self.find_command(name) for name in argv[2:]) if c is not None]
        return map_reply(
            [(bulk(c.name.encode()), self.docs_entry(c, s.resp3)) for c in chosen], s.resp3
        )

    def command_list(self, s: Client, argv: list[bytes]) -> bytes:
        names = [command.name.encode() for command in self.every_command()]
        if len(argv) == 2:
            return bulk_array(names, s.null)
        if len(argv) != 5 or argv[2].lower() != b"filterby":
            return SYNTAX_ERROR
        kind, value = argv[3].lower(), argv[4]
        if kind == b"module":
            names = []  # no command comes from a module
        elif kind == b"aclcat":
            wanted = value.lower().decode("latin-1")
            names = [c.name.encode() for c in self.every_command() if wanted in categories(c)]
        elif kind == b"pattern":
            match = compile_glob(value.lower())
            names = [name for name in names if match(name)]
        else:
            return SYNTAX_ERROR
        return bulk_array(names, s.null)

    def keys_of(self, argv: list[bytes]) -> list[tuple[int, int]] | bytes:
        """``getKeysSubcommandImpl``: the keys of the request ``argv[2:]`` with their flag
        bits, or the error Redis gives."""
        request = argv[2:]
        command = self.commands.get(request[0].lower())
        if command is not None and command.subcommands is not None and len(request) > 1:
            command = command.subcommands.get(request[1].lower())
        # A Redis container our table serves as one command (XGROUP): Redis's subcommand
        name = "" if command is None else redis_name(command, request)
        if command is None or (name != command.name and name not in ARITY):
            return b"-ERR Invalid command specified\r\n"
        if not has_keys(command, request):
            return b"-ERR The command has no key arguments\r\n"
        arity = command.arity if name == command.name else ARITY[name]
        if (arity > 0 and arity != len(request)) or len(request) < -arity:
            return b"-ERR Invalid number of arguments specified for command\r\n"
        found = key_references(command, request)
        if not found and name not in NO_MANDATORY_KEYS:
            return b"-ERR Invalid arguments specified for command\r\n"
        return found

    def command_getkeys(self, s: Client, argv: list[bytes]) -> bytes:
        found = self.keys_of(argv)
        if isinstance(found, bytes):
            return found
        return bulk_array((argv[2 + i] for i, _ in found), s.null)

    def command_getkeysandflags(self, s: Client, argv: list[bytes]) -> bytes:
        found = self.keys_of(argv)
        if isinstance(found, bytes):
            return found
        entries = [
            b"*2\r\n" + bulk(argv[2 + i]) + flag_set(flag_names(bits), s.resp3) for i, bits in found
        ]
        return b"*%d\r\n" % len(entries) + b"".join(entries)


def command_command(
    commands: Mapping[bytes, Command],
    top_level: Sequence[Command],
    lookup: Callable[[list[bytes]], Command | bytes],
) -> Command:
    """COMMAND and its subcommands, describing the table ``commands`` (by name) and its
    ``top_level`` commands in order; ``lookup`` finds a request's command (GETKEYS).
    They are read when a client asks, so the table holding this command may be
    completed after it is made."""
    table = _Described(commands, top_level, lookup)
    stats = ("loading", "stale")
    conn = ("connection",)
    return Command(
        "command",
        -1,
        table.command,  # COMMAND alone lists every command
        stats,
        subcommands={
            sub.name.split("|")[1].encode(): sub
            for sub in (
                Command("command|count", 2, table.command_count, stats, acl_categories=conn),
                Command("command|docs", -2, table.command_docs, stats, acl_categories=conn),
                Command("command|info", -2, table.command_info, stats, acl_categories=conn),
                Command("command|list", -2, table.command_list, stats, acl_categories=conn),
                Command("command|getkeys", -4, table.command_getkeys, stats, acl_categories=conn),
                Command(
                    "command|getkeysandflags",
                    -4,
                    table.command_getkeysandflags,
                    stats,
                    acl_categories=conn,
                ),
            )
        },
        acl_categories=("connection",),
        tips=("nondeterministic_output_order",),
    )
