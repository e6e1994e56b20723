"""CLIENT LIST, INFO, KILL, NO-EVICT, NO-TOUCH, REPLY, TRACKING, GETREDIR and HELP.

CLIENT LIST's lines keep Redis 7's field names and order, with the fields
this server can fill (no query-buffer or reply-list internals it does not
have). SETNAME, GETNAME, ID and SETINFO are in :mod:`.connection`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from ..replies import OK, bulk, error, integer
from ._base import SYNTAX_ERROR, Client, Command, bounded_int, c_string

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
        (b"redir", -1),
        (b"resp", 3 if s.resp3 else 2),
        (b"lib-name", s.client_info.get(b"lib-name", b"")),
        (b"lib-ver", s.client_info.get(b"lib-ver", b"")),
    ]
    return b" ".join(
        b"%s=%s" % (key, value if isinstance(value, bytes) else b"%d" % value)
        for key, value in fields
    )


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


def client_tracking(s: Client, argv: list[bytes]) -> bytes:
    """CLIENT TRACKING: not implemented here (no client-side caching invalidations)."""
    return b"-ERR CLIENT TRACKING is not supported by this server\r\n"


def client_getredir(s: Client, argv: list[bytes]) -> bytes:
    """CLIENT GETREDIR: tracking is never on here."""
    return integer(-1)


_CONN = ("noscript", "loading", "stale")
_ADMIN = ("admin", "noscript", "loading", "stale")

COMMANDS: list[Command] = [
    Command("client|list", -2, client_list, _ADMIN, tips=("nondeterministic_output",)),
    Command("client|info", 2, client_info, _CONN, tips=("nondeterministic_output",)),
    Command("client|kill", -3, client_kill, _ADMIN),
    Command("client|no-evict", 3, client_no_evict, _ADMIN),
    Command("client|no-touch", 3, client_no_touch, ("noscript", "loading", "stale", "fast")),
    Command("client|reply", 3, client_reply, _CONN),
    Command("client|tracking", -3, client_tracking, _CONN),
    Command("client|getredir", 2, client_getredir, _CONN),
]
"""CLIENT's subcommands from this module (the table adds them to CLIENT)."""
