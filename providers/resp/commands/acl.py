"""ACL: the listener's users (:mod:`wireproto._users`) as Redis 7.0 shows and changes them,
and the permission check every command passes (``ACLCheckAllPerm``)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from typing import Final

from wireproto._users import READ, WRITE, CommandCatalog, LogEntry, RuleError, User

from ...kvstore import glob_match, parse_int64
from ..replies import OK, bulk, bulk_array, error, integer, map_reply, set_header
from ._base import Client, Command, c_string, container, help_reply
from ._keyspec import ACCESS, DELETE, INSERT, UPDATE
from ._meta import ACL_CATEGORIES, categories, has_keys, key_references
from .client import client_line
from .config import Parameter, register_parameter

__all__ = ["COMMANDS", "catalog", "log_denial", "refusal", "script_refusal", "use_lookup"]

_CATALOGS: dict[int, CommandCatalog] = {}
_LOOKUP: list[Callable[[list[bytes]], Command | bytes]] = []


def use_lookup(lookup: Callable[[list[bytes]], Command | bytes]) -> None:
    """The table's ``lookup`` (the table imports this module, so it hands it over)."""
    _LOOKUP[:] = [lookup]


def catalog(commands: Sequence[Command]) -> CommandCatalog:
    """The commands and categories rules may name, from the command table (built once)."""
    found = _CATALOGS.get(id(commands))
    if found is not None:
        return found
    names: list[str] = []
    subcommands: dict[str, tuple[str, ...]] = {}
    members: dict[str, list[str]] = {name: [] for name in ACL_CATEGORIES}
    for command in commands:
        if "|" in command.name:
            continue
        family = [command]
        if command.subcommands is not None:
            subs = sorted(
                {sub.name: sub for sub in command.subcommands.values()}.values(),
                key=lambda sub: sub.name,
            )
            subcommands[command.name] = tuple(sub.name for sub in subs)
            family += subs
        for entry in family:
            names.append(entry.name)
            for category in categories(entry) if entry.subcommands is None else ():
                members[category].append(entry.name)
    result = CommandCatalog(
        tuple(names),
        subcommands,
        {name: tuple(found_members) for name, found_members in members.items()},
    )
    _CATALOGS[id(commands)] = result
    return result


def _catalog(s: Client) -> CommandCatalog:
    return catalog(s.provider.command_list())


# -- the check ------------------------------------------------------------------------

_WRITES: Final = INSERT | DELETE | UPDATE
_CHANNELS: Final = {
    "subscribe": (1, False),
    "ssubscribe": (1, False),
    "psubscribe": (1, True),
    "publish": (-1, False),
    "spublish": (-1, False),
}
"""Commands naming channels Redis checks: (first channel, or -1: argv[1] only; patterns)."""

DENIED_CMD, DENIED_KEY, DENIED_CHANNEL = 1, 2, 3


def check(user: User, command: Command, argv: list[bytes]) -> tuple[int, int]:
    """Redis's ``ACLSelectorCheckCmd``: (0, 0) if ``user`` may run ``argv``, else (what is
    denied, the position of the key or channel)."""
    # +cmd|arg names a first argument of commands without subcommands only
    first = argv[1] if len(argv) > 1 else None
    if not user.all_commands and not command.no_auth and not user.can_run(command.name, first):
        return DENIED_CMD, 0
    if not user.all_keys and has_keys(command, argv):
        for position, bits in key_references(command, argv):
            # ACLSelectorCheckKey: access reads; insert, delete and update write
            access = (READ if bits & ACCESS else 0) | (WRITE if bits & _WRITES else 0)
            if not user.can_access(argv[position], access, glob_match):
                return DENIED_KEY, position
    channels = _CHANNELS.get(command.name)
    if not user.all_channels and channels is not None:
        start, is_pattern = channels
        positions = [1] if start < 0 else range(start, len(argv))
        for position in positions:
            if not user.can_use_channel(argv[position], is_pattern, glob_match):
                return DENIED_CHANNEL, position
    return 0, 0


_REASONS: Final = {DENIED_CMD: "command", DENIED_KEY: "key", DENIED_CHANNEL: "channel"}


def log_denial(
    s: Client, reason: str, context: str, what: bytes, username: bytes | None = None
) -> None:
    """Add to ACL LOG (``addACLLogEntry``): ``what`` was denied to the connection's user
    (or ``username``, for a failed AUTH)."""
    entry = LogEntry(
        reason,
        context,
        what,
        s.user.name if username is None else username,
        time.time(),
        client_line(s, time.monotonic()),
    )
    s.users.log_denial(entry)


def _log_check(s: Client, command: Command, argv: list[bytes], context: str) -> int:
    denied, position = check(s.user, command, argv)
    if denied:
        what = command.name.encode() if denied == DENIED_CMD else argv[position]
        log_denial(s, _REASONS[denied], context, what)
    return denied


def refusal(s: Client, command: Command, argv: list[bytes]) -> bytes | None:
    """The ``-NOPERM`` reply if the connection's user may not run ``argv``, else None."""
    denied = _log_check(s, command, argv, "toplevel" if s.multi is None else "multi")
    if not denied:
        return None
    if denied == DENIED_CMD:
        text = b"this user has no permissions to run the '%s' command" % command.name.encode()
    else:
        what = b"keys" if denied == DENIED_KEY else b"channels"
        text = b"this user has no permissions to access one of the %s used as arguments" % what
    if command.name == "exec":  # Redis's rejectCommand: EXEC's refusal discards the transaction
        s.end_multi()
        s.unwatch_all()
        return b"-EXECABORT Transaction discarded because of: NOPERM %s\r\n" % text
    return b"-NOPERM %s\r\n" % text


_SCRIPT_REASONS: Final = {
    DENIED_CMD: b"can't run this command or subcommand",
    DENIED_KEY: b"can't access at least one of the keys mentioned in the command arguments",
    DENIED_CHANNEL: b"can't publish to the channel mentioned in the command",
}


def script_refusal(s: Client, argv: list[bytes]) -> bytes | None:
    """What ``redis.call`` raises when the script's user may not run ``argv`` (Redis's
    ``scriptVerifyACL``: ``ERR The user executing the script ...``), or None."""
    command = _LOOKUP[0](argv)
    if isinstance(command, bytes):
        return None  # the unknown command or arity error comes from running it
    denied = _log_check(s, command, argv, "lua")
    if not denied:
        return None
    return b"ERR The user executing the script %s" % _SCRIPT_REASONS[denied]


# -- ACL subcommands ------------------------------------------------------------------


def acl_whoami(s: Client, argv: list[bytes]) -> bytes:
    """ACL WHOAMI."""
    return bulk(s.user.name)


def acl_users(s: Client, argv: list[bytes]) -> bytes:
    """ACL USERS: every user's name, in order."""
    return bulk_array([user.name for user in s.users], s.null)


def acl_list(s: Client, argv: list[bytes]) -> bytes:
    """ACL LIST: every user as an ACL file line."""
    table = _catalog(s)
    return bulk_array([b"user %s %s" % (u.name, u.describe(table)) for u in s.users], s.null)


def acl_cat(s: Client, argv: list[bytes]) -> bytes:
    """ACL CAT [category]: the categories, or the commands in one."""
    if len(argv) == 2:
        return bulk_array((name.encode() for name in ACL_CATEGORIES), s.null)
    wanted = argv[2].lower().decode("latin-1")
    if wanted not in ACL_CATEGORIES:
        return error(b"ERR Unknown category '%s'" % c_string(argv[2])[:128])
    names = [
        command.name.encode()
        for command in s.provider.command_list()
        if wanted in categories(command)
    ]
    return bulk_array(names, s.null)


def acl_setuser(s: Client, argv: list[bytes]) -> bytes:
    """ACL SETUSER name [rule ...]: every rule applies, or none."""
    name = argv[2]
    if any(byte in b" \t\n\v\f\r\0" for byte in name):
        return b"-ERR Usernames can't contain spaces or null characters\r\n"
    rules = _merge_selectors(argv[3:])
    if isinstance(rules, bytes):
        return rules
    try:
        s.users.set_user(name, rules, _catalog(s))
    except RuleError as exc:
        return error(
            b"ERR Error in ACL SETUSER modifier '%s': %s"
            % (c_string(exc.rule), exc.reason.encode())
        )
    return OK


def _merge_selectors(args: list[bytes]) -> list[bytes] | bytes:
    """Redis's ``ACLMergeSelectorArguments``: ``(`` ... ``)`` spread over arguments is one."""
    merged: list[bytes] = []
    opened: bytes | None = None
    start = b""
    for arg in args:
        if opened is None and arg[:1] == b"(" and arg[-1:] != b")":
            opened, start = arg, arg
            continue
        if opened is not None:
            opened += b" " + arg
            if arg[-1:] == b")":
                merged.append(opened)
                opened = None
            continue
        merged.append(arg)
    if opened is not None:
        return error(
            b"ERR Unmatched parenthesis in acl selector starting at '%s'." % c_string(start)
        )
    return merged


def acl_deluser(s: Client, argv: list[bytes]) -> bytes:
    """ACL DELUSER name [name ...]: how many existed; their connections are closed."""
    directory = s.users
    default = directory.default.name
    if default in argv[2:]:
        return b"-ERR The 'default' user cannot be removed\r\n"
    return integer(sum(directory.delete(name) for name in argv[2:]))


def acl_getuser(s: Client, argv: list[bytes]) -> bytes:
    """ACL GETUSER name: flags, passwords, commands, keys, channels, selectors."""
    user = s.users.get(argv[2])
    if user is None:
        return s.null
    flags = user.flag_names()
    return map_reply(
        [
            (bulk(b"flags"), set_header(len(flags), s.resp3) + b"".join(map(bulk, flags))),
            (bulk(b"passwords"), bulk_array(user.passwords, s.null)),
            (bulk(b"commands"), bulk(user.describe_commands(_catalog(s)))),
            (bulk(b"keys"), bulk(user.describe_keys())),
            (bulk(b"channels"), bulk(user.describe_channels())),
            (bulk(b"selectors"), b"*0\r\n"),
        ],
        s.resp3,
    )


def acl_genpass(s: Client, argv: list[bytes]) -> bytes:
    """ACL GENPASS [bits]: random hex, 256 bits unless told."""
    bits = 256
    if len(argv) == 3:
        parsed = parse_int64(argv[2])
        if parsed is None:
            return b"-ERR value is not an integer or out of range\r\n"
        bits = parsed
    if not 0 < bits <= 4096:
        return (
            b"-ERR ACL GENPASS argument must be the number of bits for the output password, "
            b"a positive number up to 4096\r\n"
        )
    chars = (bits + 3) // 4
    return bulk(secrets.token_hex((chars + 1) // 2)[:chars].encode())


def acl_dryrun(s: Client, argv: list[bytes]) -> bytes:
    """ACL DRYRUN user command [arg ...]: OK, or why the user may not run it."""
    user = s.users.get(argv[2])
    if user is None:
        return error(b"ERR User '%s' not found" % c_string(argv[2]))
    found = _LOOKUP[0](argv[3:])
    if isinstance(found, bytes):
        if found.startswith(b"-ERR wrong number"):
            return found
        return error(b"ERR Command '%s' not found" % c_string(argv[3]))
    denied, position = check(user, found, argv[3:])
    if denied == DENIED_CMD:
        return bulk(b"This user has no permissions to run the '%s' command" % found.name.encode())
    if denied:
        kind = b"key" if denied == DENIED_KEY else b"channel"
        return bulk(
            b"This user has no permissions to access the '%s' %s"
            % (c_string(argv[3 + position]), kind)
        )
    return OK


def acl_no_file(s: Client, argv: list[bytes]) -> bytes:
    """ACL LOAD / SAVE: there is no ACL file."""
    return (
        b"-ERR This Redis instance is not configured to use an ACL file. You may want to "
        b"specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming "
        b"you have a Redis configuration file set) in order to store users in the Redis "
        b"configuration.\r\n"
    )


def acl_log(s: Client, argv: list[bytes]) -> bytes:
    """ACL LOG [count|RESET]: the latest denials, newest first (10 unless told)."""
    log = s.users.log
    count = 10
    if len(argv) == 3:
        if argv[2].lower() == b"reset":
            log.clear()
            return OK
        parsed = parse_int64(argv[2])
        if parsed is None:
            return b"-ERR value is not an integer or out of range\r\n"
        count = max(parsed, 0)
    now = time.time()
    entries = []
    for entry in log[:count]:
        age = b"%.17g" % round(now - entry.time, 3)
        entries.append(
            map_reply(
                [
                    (bulk(b"count"), integer(entry.count)),
                    (bulk(b"reason"), bulk(entry.reason.encode())),
                    (bulk(b"context"), bulk(entry.context.encode())),
                    (bulk(b"object"), bulk(entry.object)),
                    (bulk(b"username"), bulk(entry.username)),
                    (bulk(b"age-seconds"), b",%s\r\n" % age if s.resp3 else bulk(age)),
                    (bulk(b"client-info"), bulk(entry.client_info)),
                ],
                s.resp3,
            )
        )
    return b"*%d\r\n" % len(entries) + b"".join(entries)


_ACL_HELP = (
    b"CAT [<category>]",
    b"    List all commands that belong to <category>, or all command categories",
    b"    when no category is specified.",
    b"DELUSER <username> [<username> ...]",
    b"    Delete a list of users.",
    b"DRYRUN <username> <command> [<arg> ...]",
    b"    Returns whether the user can execute the given command without executing the command.",
    b"GETUSER <username>",
    b"    Get the user's details.",
    b"GENPASS [<bits>]",
    b"    Generate a secure 256-bit user password. The optional `bits` argument can",
    b"    be used to specify a different size.",
    b"LIST",
    b"    Show users details in config file format.",
    b"LOAD",
    b"    Reload users from the ACL file.",
    b"LOG [<count> | RESET]",
    b"    Show the ACL log entries.",
    b"SAVE",
    b"    Save the current config to the ACL file.",
    b"SETUSER <username> <attribute> [<attribute> ...]",
    b"    Create or modify a user with the specified attributes.",
    b"USERS",
    b"    List all the registered usernames.",
    b"WHOAMI",
    b"    Return the current connection username.",
)


def acl_help(s: Client, argv: list[bytes]) -> bytes:
    """ACL HELP (Redis's text)."""
    return help_reply(b"ACL", _ACL_HELP)


def _get_requirepass(s: Client) -> bytes:
    """``requirepass``: the last one set, or the listener's password at start."""
    value = s.provider.config_values.get(b"requirepass")
    if value is not None:
        return value
    password = s.users.settings.password
    return b"" if password is None else password


def _set_requirepass(s: Client, value: bytes) -> bytes | None:
    """``requirepass``: the default user's only password (empty: none needed), as Redis 7.0's
    ``ACLUpdateDefaultUserPassword``; for every format on the listener."""
    rules = [b"resetpass", b">" + value if value else b"nopass"]
    s.users.set_user(s.users.settings.username, rules, _catalog(s))
    s.provider.config_values[b"requirepass"] = value
    return None


register_parameter(
    Parameter(
        b"requirepass",
        lambda provider: b"",
        client_get=_get_requirepass,
        client_set=_set_requirepass,
    )
)

_ADMIN = ("admin", "noscript", "loading", "stale")


COMMANDS: list[Command] = [
    container(
        "acl",
        -2,
        (),
        Command("acl|whoami", 2, acl_whoami, ("noscript", "loading", "stale")),
        Command("acl|users", 2, acl_users, _ADMIN),
        Command("acl|list", 2, acl_list, _ADMIN),
        Command("acl|cat", -2, acl_cat, ("noscript", "loading", "stale")),
        Command("acl|setuser", -3, acl_setuser, _ADMIN),
        Command("acl|deluser", -3, acl_deluser, _ADMIN),
        Command("acl|getuser", 3, acl_getuser, _ADMIN),
        Command("acl|genpass", -2, acl_genpass, ("noscript", "loading", "stale")),
        Command("acl|dryrun", -4, acl_dryrun, _ADMIN),
        Command("acl|log", -2, acl_log, _ADMIN),
        Command("acl|load", 2, acl_no_file, _ADMIN),
        Command("acl|save", 2, acl_no_file, _ADMIN),
        Command("acl|help", 2, acl_help, ("loading", "stale")),
    )
]
