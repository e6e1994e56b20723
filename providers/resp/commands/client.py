"""CLIENT LIST, INFO, KILL, NO-EVICT, NO-TOUCH, REPLY, PAUSE, UNPAUSE, UNBLOCK, TRACKING,
CACHING, GETREDIR, TRACKINGINFO and HELP.

CLIENT LIST's lines keep Redis 7's field names and order, with the fields
this server can fill (no query-buffer or reply-list internals it does not
have). SETNAME, GETNAME, ID and SETINFO are in :mod:`.connection`. PAUSE holds
commands back in the waiting room (:mod:`.blocking`); TRACKING's table and
invalidations are in :mod:`._tracking`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from ..replies import OK, bulk, error, integer, map_reply, set_header
from ._base import LLONG_MAX, NOT_INTEGER, SYNTAX_ERROR, Client, Command, bounded_int, c_string
from ._tracking import Tracking, table_of, tracking_of
from .blocking import WAITING, end_pause, pause_of, start_pause, time_out, wake

__all__ = ["COMMANDS", "client_line"]

_TYPES = (b"normal", b"master", b"replica", b"slave", b"pubsub")


def _address(value: object) -> bytes:
    if isinstance(value, tuple) and len(value) >= 2:
        host, port = value[0], value[1]
        if ":" in str(host):
            return b"[%s]:%d" % (str(host).encode(), port)
        return b"%s:%d" % (str(host).encode(), port)
    return b"" if value is None else str(value).encode()


def _fd(s: Client) -> int:
    sock = s.sender.get_extra_info("socket")
    fileno = getattr(sock, "fileno", None)
    if fileno is None:
        return -1
    try:
        number = fileno()
    except OSError:
        return -1
    return number if isinstance(number, int) else -1


def _flags(s: Client) -> bytes:
    flags = b""
    if s.subscriptions is not None:
        flags += b"P"
    if s.multi is not None:
        flags += b"x"
    if s.blocked is not None:
        flags += b"b"
    tracking = tracking_of(s)
    if tracking is not None:
        flags += b"t"
        if tracking.broken:
            flags += b"R"
        if tracking.bcast:
            flags += b"B"
    if s.no_evict:
        flags += b"e"
    if s.no_touch:
        flags += b"T"
    return flags or b"N"


def _is_type(s: Client, kind: bytes) -> bool:
    if kind == b"pubsub":
        return s.subscriptions is not None
    if kind == b"normal":
        return s.subscriptions is None
    return False  # no replication here: no master or replica connections


def _last_command(s: Client) -> bytes:
    argv = s.last_argv
    return s.command_name(argv) if argv else b"NULL"


def client_line(s: Client, now: float) -> bytes:
    """One CLIENT LIST line (no newline)."""
    subs = s.subscriptions
    memory = s.sender.memory
    multi = -1 if s.multi is None else len(s.multi)
    fields: list[tuple[bytes, bytes | int]] = [
        (b"id", s.client_id),
        (b"addr", _address(s.sender.get_extra_info("peername"))),
        (b"laddr", _address(s.sender.get_extra_info("sockname"))),
        (b"fd", _fd(s)),
        (b"name", s.name or b""),
        (b"age", int(now - s.created)),
        (b"idle", int(now - s.last_active)),
        (b"flags", _flags(s)),
        (b"db", getattr(s, "db", 0)),
        (b"sub", 0 if subs is None else len(subs.channels)),
        (b"psub", 0 if subs is None else len(subs.patterns)),
        (b"ssub", 0 if subs is None else len(subs.shard)),
        (b"multi", multi),
        (b"argv-mem", memory.arguments),
        (b"omem", memory.output),
        (b"tot-mem", memory.held),
        (b"events", b"r"),
        (b"cmd", _last_command(s)),
        (b"user", s.user.name),
        (b"redir", _redirect(s)),
        (b"resp", 3 if s.resp3 else 2),
        (b"lib-name", s.client_info.get(b"lib-name", b"")),
        (b"lib-ver", s.client_info.get(b"lib-ver", b"")),
    ]
    return b" ".join(
        b"%s=%s" % (key, value if isinstance(value, bytes) else b"%d" % value)
        for key, value in fields
    )


def _redirect(s: Client) -> int:
    tracking = tracking_of(s)
    return -1 if tracking is None else tracking.redirect


def _lines(s: Client, clients: Iterable[Client]) -> bytes:
    now = time.monotonic()
    text = b"".join(client_line(client, now) + b"\n" for client in clients)
    return bulk(text) if not s.resp3 else b"=%d\r\ntxt:%s\r\n" % (len(text) + 4, text)


def client_list(s: Client, argv: list[bytes]) -> bytes:
    """CLIENT LIST [TYPE type] [ID id ...]."""
    clients = list(s.provider.clients.values())
    if len(argv) == 2:
        return _lines(s, clients)
    option = argv[2].lower()
    if option == b"type" and len(argv) == 4:
        kind = argv[3].lower()
        if kind not in _TYPES:
            return error(b"ERR Unknown client type '%s'" % c_string(argv[3]))
        return _lines(s, [client for client in clients if _is_type(client, kind)])
    if option == b"id" and len(argv) >= 4:
        wanted: list[int] = []
        for arg in argv[3:]:
            number = bounded_int(arg)
            if number is None or number <= 0:
                return b"-ERR Invalid client ID\r\n"
            wanted.append(number)
        table = s.provider.clients
        return _lines(s, [table[number] for number in dict.fromkeys(wanted) if number in table])
    return SYNTAX_ERROR


def client_info(s: Client, argv: list[bytes]) -> bytes:
    """CLIENT INFO."""
    return _lines(s, [s])


def _kill(s: Client, victim: Client) -> None:
    if victim is s:
        s.closing = True  # after this reply, as Redis closes itself last
    else:
        victim.sender.close()


def _has_id(number: int) -> Callable[[Client], bool]:
    return lambda client: client.client_id == number


def _at(end: str, address: bytes) -> Callable[[Client], bool]:
    return lambda client: _address(client.sender.get_extra_info(end)) == address


def _of_type(kind: bytes) -> Callable[[Client], bool]:
    return lambda client: _is_type(client, kind)


def _of_user(user: bytes) -> Callable[[Client], bool]:
    return lambda client: client.user.name == user


def client_kill(s: Client, argv: list[bytes]) -> bytes:
    """CLIENT KILL addr, or CLIENT KILL [ID|ADDR|LADDR|USER|TYPE|SKIPME value] ..."""
    clients = list(s.provider.clients.values())
    if len(argv) == 3:  # the old form: an address, an error when nobody has it
        for client in clients:
            if _address(client.sender.get_extra_info("peername")) == argv[2]:
                _kill(s, client)
                return OK
        return b"-ERR No such client\r\n"
    if len(argv) % 2:
        return SYNTAX_ERROR
    skip_me = True
    tests: list[Callable[[Client], bool]] = []
    for i in range(2, len(argv), 2):
        option, value = argv[i].lower(), argv[i + 1]
        if option == b"id":
            number = bounded_int(value)
            if number is None or number <= 0:  # Redis: a non-number reads as 0
                return b"-ERR client-id should be greater than 0\r\n"
            tests.append(_has_id(number))
        elif option == b"addr":
            tests.append(_at("peername", value))
        elif option == b"laddr":
            tests.append(_at("sockname", value))
        elif option == b"type":
            kind = value.lower()
            if kind not in _TYPES:
                return error(b"ERR Unknown client type '%s'" % c_string(value))
            tests.append(_of_type(kind))
        elif option == b"user":
            if s.users.get(value) is None:
                return error(b"ERR No such user '%s'" % c_string(value))
            tests.append(_of_user(value))
        elif option == b"skipme":
            if value.lower() not in (b"yes", b"no"):
                return SYNTAX_ERROR
            skip_me = value.lower() == b"yes"
        else:
            return SYNTAX_ERROR
    killed = 0
    for client in clients:
        if (client is s and skip_me) or not all(test(client) for test in tests):
            continue
        _kill(s, client)
        killed += 1
    return integer(killed)


def _on_off(name: bytes, argv: list[bytes]) -> bool | None:
    value = argv[2].lower()
    if value in (b"on", b"off"):
        return value == b"on"
    return None


def client_no_evict(s: Client, argv: list[bytes]) -> bytes:
    """CLIENT NO-EVICT ON|OFF: exempt from client eviction (``maxmemory-clients``, which this
    server does not have: keys are evicted, clients never); the flag shows in CLIENT LIST."""
    value = _on_off(b"no-evict", argv)
    if value is None:
        return SYNTAX_ERROR
    s.no_evict = value
    return OK


def client_no_touch(s: Client, argv: list[bytes]) -> bytes:
    """CLIENT NO-TOUCH ON|OFF: the client's commands (but TOUCH) leave keys' LRU/LFU
    information alone (:func:`~.maxmemory.before_command` reads the flag)."""
    value = _on_off(b"no-touch", argv)
    if value is None:
        return SYNTAX_ERROR
    s.no_touch = value
    return OK


def client_reply(s: Client, argv: list[bytes]) -> bytes:
    """CLIENT REPLY ON|OFF|SKIP."""
    mode = argv[2].lower()
    if mode not in (b"on", b"off", b"skip"):
        return SYNTAX_ERROR
    s.set_reply_mode(mode)
    return OK


def _subcommand_syntax_error(argv: list[bytes]) -> bytes:
    return error(
        b"ERR unknown subcommand or wrong number of arguments for '%s'. Try CLIENT HELP."
        % c_string(argv[1])[:128]
    )


def client_pause(s: Client, argv: list[bytes]) -> bytes:
    """CLIENT PAUSE timeout [WRITE|ALL] (milliseconds)."""
    if len(argv) > 4:
        return _subcommand_syntax_error(argv)
    writes_only = False
    if len(argv) == 4:
        mode = argv[3].lower()
        if mode not in (b"write", b"all"):
            return b"-ERR CLIENT PAUSE mode must be WRITE or ALL\r\n"
        writes_only = mode == b"write"
    milliseconds = bounded_int(argv[2])
    if milliseconds is None:
        return b"-ERR timeout is not an integer or out of range\r\n"
    if milliseconds < 0:
        return b"-ERR timeout is negative\r\n"
    if milliseconds > LLONG_MAX - int(time.time() * 1000):
        return b"-ERR timeout is out of range\r\n"
    clock: Callable[[], float] = getattr(s.sender, "clock", time.monotonic)
    start_pause(s, clock() + milliseconds / 1000, writes_only)
    return OK


def client_unpause(s: Client, argv: list[bytes]) -> bytes:
    """CLIENT UNPAUSE: the held commands run, in order."""
    pause = pause_of(s.provider, create=False)
    if pause is not None:
        end_pause(pause)
    return OK


def client_unblock(s: Client, argv: list[bytes]) -> bytes:
    """CLIENT UNBLOCK id [TIMEOUT|ERROR]: end a blocking command (BLPOP, XREAD...) at once."""
    if len(argv) > 4:
        return _subcommand_syntax_error(argv)
    as_error = False
    if len(argv) == 4:
        reason = argv[3].lower()
        if reason not in (b"timeout", b"error"):
            return b"-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n"
        as_error = reason == b"error"
    number = bounded_int(argv[2])
    if number is None:
        return NOT_INTEGER
    target = s.provider.clients.get(number)
    blocked = None if target is None else target.blocked
    pause = pause_of(s.provider, create=False)
    if target is None or blocked is None or (pause is not None and blocked in pause.postponed):
        return integer(0)  # a client a pause holds back is not blocked by a command
    if as_error:
        WAITING.remove(blocked)
        wake(target, b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n")
    else:
        time_out(target)
    return integer(1)


_TRACKING_OPTIONS = (b"bcast", b"optin", b"optout", b"noloop")


def _overlap(prefix: bytes, other: bytes) -> bool:
    return prefix.startswith(other) or other.startswith(prefix)


def client_tracking(s: Client, argv: list[bytes]) -> bytes:
    """CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]."""
    redirect = 0
    options: set[bytes] = set()
    prefixes: list[bytes] = []
    j = 3
    while j < len(argv):
        option = argv[j].lower()
        more = j + 1 < len(argv)
        if option == b"redirect" and more:
            j += 1
            if redirect:
                return b"-ERR A client can only redirect to a single other client\r\n"
            number = bounded_int(argv[j])
            if number is None:
                return NOT_INTEGER
            if number not in s.provider.clients:
                return b"-ERR The client ID you want redirect to does not exist\r\n"
            redirect = number
        elif option in _TRACKING_OPTIONS:
            options.add(option)
        elif option == b"prefix" and more:
            j += 1
            prefixes.append(argv[j])
        else:
            return SYNTAX_ERROR
        j += 1
    mode = argv[2].lower()
    if mode == b"off":
        table_of(s.provider).disable(s)
        return OK
    if mode != b"on":
        return SYNTAX_ERROR
    bcast = b"bcast" in options
    current = tracking_of(s)
    if not bcast and prefixes:
        return b"-ERR PREFIX option requires BCAST mode to be enabled\r\n"
    if current is not None and current.bcast != bcast:
        return (
            b"-ERR You can't switch BCAST mode on/off before disabling tracking for this "
            b"client, and then re-enabling it with a different mode.\r\n"
        )
    if bcast and (b"optin" in options or b"optout" in options):
        return b"-ERR OPTIN and OPTOUT are not compatible with BCAST\r\n"
    if b"optin" in options and b"optout" in options:
        return b"-ERR You can't specify both OPTIN mode and OPTOUT mode\r\n"
    if current is not None and (
        (b"optin" in options and current.optout) or (b"optout" in options and current.optin)
    ):
        return (
            b"-ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this "
            b"client, and then re-enabling it with a different mode.\r\n"
        )
    if bcast:
        for i, prefix in enumerate(prefixes):
            for existing in current.prefixes if current is not None else ():
                if _overlap(existing, prefix):
                    return error(
                        b"ERR Prefix '%s' overlaps with an existing prefix '%s'. "
                        b"Prefixes for a single client must not overlap."
                        % (c_string(prefix), c_string(existing))
                    )
            for other in prefixes[i + 1 :]:
                if _overlap(prefix, other):
                    return error(
                        b"ERR Prefix '%s' overlaps with another provided prefix '%s'. "
                        b"Prefixes for a single client must not overlap."
                        % (c_string(prefix), c_string(other))
                    )
    table = table_of(s.provider)
    tracking = current if current is not None else Tracking(table)
    tracking.redirect = redirect
    tracking.broken = False
    tracking.bcast = bcast
    tracking.optin = b"optin" in options
    tracking.optout = b"optout" in options
    tracking.noloop = b"noloop" in options
    if bcast:
        for prefix in prefixes or [b""]:
            tracking.prefixes[prefix] = None
    table.enable(s, tracking)
    return OK


def client_caching(s: Client, argv: list[bytes]) -> bytes:
    """CLIENT CACHING YES|NO: whether the next command's keys are tracked (OPTIN/OPTOUT)."""
    tracking = tracking_of(s)
    if tracking is None:
        return (
            b"-ERR CLIENT CACHING can be called only when the client is in tracking mode "
            b"with OPTIN or OPTOUT mode enabled\r\n"
        )
    value = argv[2].lower()
    if value == b"yes":
        if not tracking.optin:
            return (
                b"-ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.\r\n"
            )
    elif value == b"no":
        if not tracking.optout:
            return (
                b"-ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.\r\n"
            )
    else:
        return SYNTAX_ERROR
    tracking.caching = True
    return OK


def client_getredir(s: Client, argv: list[bytes]) -> bytes:
    """CLIENT GETREDIR: the client ID invalidations go to (0: none, -1: tracking is off)."""
    return integer(_redirect(s))


def client_trackinginfo(s: Client, argv: list[bytes]) -> bytes:
    """CLIENT TRACKINGINFO: flags, redirect and prefixes."""
    tracking = tracking_of(s)
    flags = [b"off"]
    prefixes: list[bytes] = []
    if tracking is not None:
        flags = [b"on"]
        if tracking.bcast:
            flags.append(b"bcast")
        if tracking.optin:
            flags.append(b"optin")
            if tracking.caching:
                flags.append(b"caching-yes")
        if tracking.optout:
            flags.append(b"optout")
            if tracking.caching:
                flags.append(b"caching-no")
        if tracking.noloop:
            flags.append(b"noloop")
        if tracking.broken:
            flags.append(b"broken_redirect")
        prefixes = sorted(tracking.prefixes)  # Redis keeps them in a radix tree
    return map_reply(
        [
            (bulk(b"flags"), set_header(len(flags), s.resp3) + b"".join(map(bulk, flags))),
            (bulk(b"redirect"), integer(-1 if tracking is None else tracking.redirect)),
            (bulk(b"prefixes"), b"*%d\r\n" % len(prefixes) + b"".join(map(bulk, prefixes))),
        ],
        s.resp3,
    )


_HELP = (
    b"CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    b"CACHING (YES|NO)",
    b"    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    b"GETREDIR",
    b"    Return the client ID we are redirecting to when tracking is enabled.",
    b"GETNAME",
    b"    Return the name of the current connection.",
    b"ID",
    b"    Return the ID of the current connection.",
    b"INFO",
    b"    Return information about the current client connection.",
    b"KILL <ip:port>",
    b"    Kill connection made from <ip:port>.",
    b"KILL <option> <value> [<option> <value> [...]]",
    b"    Kill connections. Options are:",
    b"    * ADDR (<ip:port>|<unixsocket>:0)",
    b"      Kill connections made from the specified address",
    b"    * LADDR (<ip:port>|<unixsocket>:0)",
    b"      Kill connections made to specified local address",
    b"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    b"      Kill connections by type.",
    b"    * USER <username>",
    b"      Kill connections authenticated by <username>.",
    b"    * SKIPME (YES|NO)",
    b"      Skip killing current connection (default: yes).",
    b"LIST [options ...]",
    b"    Return information about client connections. Options:",
    b"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    b"      Return clients of specified type.",
    b"UNPAUSE",
    b"    Stop the current client pause, resuming traffic.",
    b"PAUSE <timeout> [WRITE|ALL]",
    b"    Suspend all, or just write, clients for <timeout> milliseconds.",
    b"REPLY (ON|OFF|SKIP)",
    b"    Control the replies sent to the current connection.",
    b"SETNAME <name>",
    b"    Assign the name <name> to the current connection.",
    b"UNBLOCK <clientid> [TIMEOUT|ERROR]",
    b"    Unblock the specified blocked client.",
    b"TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    b"         [OPTIN] [OPTOUT] [NOLOOP]",
    b"    Control server assisted client side caching.",
    b"TRACKINGINFO",
    b"    Report tracking status for the current connection.",
    b"NO-EVICT (ON|OFF)",
    b"    Protect current client connection from eviction.",
    b"HELP",
    b"    Prints this help.",
)
"""Redis 7.0's CLIENT HELP text."""


def client_help(s: Client, argv: list[bytes]) -> bytes:
    """CLIENT HELP."""
    return b"*%d\r\n" % len(_HELP) + b"".join(b"+%s\r\n" % line for line in _HELP)


_CONN = ("noscript", "loading", "stale")
_ADMIN = ("admin", "noscript", "loading", "stale")

COMMANDS: list[Command] = [
    Command("client|list", -2, client_list, _ADMIN, tips=("nondeterministic_output",)),
    Command("client|info", 2, client_info, _CONN, tips=("nondeterministic_output",)),
    Command("client|kill", -3, client_kill, _ADMIN),
    Command("client|no-evict", 3, client_no_evict, _ADMIN),
    Command("client|no-touch", 3, client_no_touch, ("noscript", "loading", "stale", "fast")),
    Command("client|reply", 3, client_reply, _CONN),
    Command("client|pause", -3, client_pause, _ADMIN),
    Command("client|unpause", 2, client_unpause, _ADMIN),
    Command("client|unblock", -3, client_unblock, _ADMIN),
    Command("client|tracking", -3, client_tracking, _CONN),
    Command("client|caching", 3, client_caching, _CONN),
    Command("client|getredir", 2, client_getredir, _CONN),
    Command("client|trackinginfo", 2, client_trackinginfo, _CONN),
    Command("client|help", 2, client_help, ("loading", "stale")),
]
"""CLIENT's subcommands from this module (the table adds them to CLIENT)."""
