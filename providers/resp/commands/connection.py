"""Connection commands: PING, ECHO, QUIT, SELECT, AUTH, HELLO and CLIENT."""

from __future__ import annotations

from ...kvstore import parse_int64
from ..replies import EMPTY_ARRAY, OK, PONG, bulk, error, integer, map_reply
from ._base import (
    REDIS_VERSION,
    SYNTAX_ERROR,
    WRONGPASS,
    Client,
    arity_error,
    c_string,
    db_index,
)

# -- connection -----------------------------------------------------------------


def ping(s: Client, argv: list[bytes]) -> bytes:
    """PING."""
    if len(argv) > 2:
        return arity_error("ping")
    if s.subscriptions is not None and not s.resp3:  # RESP2 pub/sub mode: a push-like array
        return b"*2\r\n$4\r\npong\r\n" + bulk(argv[1] if len(argv) == 2 else b"")
    return PONG if len(argv) == 1 else bulk(argv[1])


def reset(s: Client, argv: list[bytes]) -> bytes:
    """RESET: leave MULTI, WATCH and pub/sub, back to RESP2, no name, default authentication."""
    s.reset()
    return b"+RESET\r\n"


def echo(s: Client, argv: list[bytes]) -> bytes:
    """ECHO."""
    return bulk(argv[1])


def quit_(s: Client, argv: list[bytes]) -> bytes:
    """QUIT."""
    s.closing = True
    return OK


def select(s: Client, argv: list[bytes]) -> bytes:
    """SELECT."""
    index = db_index(s, argv[1])
    if isinstance(index, bytes):
        return index
    s.select_db(index)
    return OK


def auth(s: Client, argv: list[bytes]) -> bytes:
    """AUTH [username] password: run as that user (Redis's ``ACLAuthenticateUser``)."""
    if len(argv) > 3:
        return SYNTAX_ERROR
    if len(argv) == 2:
        if s.users.default.nopass:
            return (
                b"-ERR AUTH <password> called without any password configured for the "
                b"default user. Are you sure your configuration is correct?\r\n"
            )
        user, password = s.users.default.name, argv[1]
    else:
        user, password = argv[1], argv[2]
    return OK if _log_in(s, user, password, argv[0]) else WRONGPASS


def _log_in(s: Client, name: bytes, password: bytes, command: bytes) -> bool:
    user = s.users.authenticate(name, password)
    if user is None:
        s.log_auth_failure(command, name)
        return False
    s.login(user)
    return True


_NAME_ERROR = b"Client names cannot contain spaces, newlines or special characters."


def _valid_attribute(value: bytes) -> bool:
    return all(33 <= byte <= 126 for byte in value)


def hello(s: Client, argv: list[bytes]) -> bytes:
    """HELLO."""
    version = 0
    j = 1
    if len(argv) >= 2:
        parsed = parse_int64(argv[1])
        if parsed is None:
            return b"-ERR Protocol version is not an integer or out of range\r\n"
        if not 2 <= parsed <= 3:
            return b"-NOPROTO unsupported protocol version\r\n"
        version = parsed
        j = 2
    credentials: tuple[bytes, bytes] | None = None
    name: bytes | None = None
    while j < len(argv):
        more = len(argv) - 1 - j
        option = argv[j].lower()
        if option == b"auth" and more >= 2:
            credentials = (argv[j + 1], argv[j + 2])
            j += 3
        elif option == b"setname" and more >= 1:
            name = argv[j + 1]
            if not _valid_attribute(name):
                return error(b"ERR " + _NAME_ERROR)
            j += 2
        else:
            return error(b"ERR Syntax error in HELLO option '%s'" % c_string(argv[j]))
    if credentials is not None and not _log_in(s, *credentials, argv[0]):
        return WRONGPASS
    if not s.authenticated:
        return (
            b"-NOAUTH HELLO must be called with the client already authenticated, "
            b"otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
            b"authenticate the client and select the RESP protocol version at the same time\r\n"
        )
    if name is not None:
        s.name = name or None
    if version:
        s.set_protocol(version)
    return map_reply(
        [
            (bulk(b"server"), bulk(b"redis")),
            (bulk(b"version"), bulk(REDIS_VERSION)),
            (bulk(b"proto"), integer(3 if s.resp3 else 2)),
            (bulk(b"id"), integer(s.client_id)),
            (bulk(b"mode"), bulk(b"standalone")),
            (bulk(b"role"), bulk(b"master")),
            (bulk(b"modules"), EMPTY_ARRAY),
        ],
        s.resp3,
    )


def client_setname(s: Client, argv: list[bytes]) -> bytes:
    """CLIENT SETNAME."""
    if not _valid_attribute(argv[2]):
        return error(b"ERR " + _NAME_ERROR)
    s.name = argv[2] or None
    return OK


def client_getname(s: Client, argv: list[bytes]) -> bytes:
    """CLIENT GETNAME."""
    return s.null if s.name is None else bulk(s.name)


def client_id(s: Client, argv: list[bytes]) -> bytes:
    """CLIENT ID."""
    return integer(s.client_id)


def client_setinfo(s: Client, argv: list[bytes]) -> bytes:
    """CLIENT SETINFO."""
    attribute = argv[2].lower()
    if attribute not in (b"lib-name", b"lib-ver"):
        return error(b"ERR Unrecognized option '%s'" % c_string(argv[2]))
    if not _valid_attribute(argv[3]):
        return error(
            b"ERR %s cannot contain spaces, newlines or special characters." % c_string(argv[2])
        )
    s.client_info[attribute] = argv[3]
    return OK
