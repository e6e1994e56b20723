"""Authentication at the listener, sans-I/O: the setting, the start-time checks, the refusal
at detection, and each built-in format's own authentication (RESP AUTH/HELLO, memcached
binary SASL PLAIN, memcached text's ``set``-carried token) driven through ``Connection``.

The expected memcached bytes were read from a real memcached 1.6.18 (``-S`` with a sasldb
holding ``default``/``s3cret``, and ``-Y`` with an authfile); ``e2e/test_auth_e2e.py`` replays
the same tables against it.
"""

from __future__ import annotations

import asyncio
import logging
import struct

import pytest
from _drive import bytewise, replay, resp_command
from wireproto.providers import kvbin, memcache, resp
from wireproto.providers.memcache.auth import parse_plain, text_auth_step

from wireproto import _cli as cli
from wireproto._auth import NO_AUTH, AuthSettings
from wireproto._connection import CloseReason, Connection, ConnectionSettings, ConnectionState
from wireproto._registry import Registry
from wireproto._server import Server
from wireproto._session import Authenticating
from wireproto._stats import StatsCollector

PASSWORD = b"s3cret"
HEADER = struct.Struct(">BBHBBHIIQ")


def request(opcode: int, key: bytes = b"", value: bytes = b"", opaque: int = 0) -> bytes:
    """A memcached binary request without extras."""
    return HEADER.pack(0x80, opcode, len(key), 0, 0, 0, len(key) + len(value), opaque, 0) + (
        key + value
    )


def response(opcode: int, status: int, opaque: int = 0, value: bytes = b"") -> bytes:
    """A memcached binary response without key or extras."""
    return HEADER.pack(0x81, opcode, 0, 0, 0, status, len(value), opaque, 0) + value


def full_registry() -> Registry:
    """RESP, both memcached formats and kvbin, as ``wireproto serve`` loads them."""
    registry = Registry()
    resp.register(registry)
    memcache.register(registry)
    kvbin.register(registry)
    return registry


def connect(
    registry: Registry, password: bytes | None = PASSWORD, stats: StatsCollector | None = None
) -> Connection:
    auth = AuthSettings(password) if password is not None else NO_AUTH
    return Connection(registry, ConnectionSettings(auth=auth), stats=stats)


def talk(data: bytes, password: bytes | None = PASSWORD) -> tuple[bytes, Connection]:
    connection = connect(full_registry(), password)
    return replay(connection, [data]), connection


# -- the setting ------------------------------------------------------------------------


def test_the_setting_checks_user_and_password() -> None:
    auth = AuthSettings.with_password("s3cret")
    assert auth.required and auth.password == PASSWORD
    assert auth.check(b"default", PASSWORD)
    assert not auth.check(b"default", b"s3cre")
    assert not auth.check(b"default", b"s3cret ")
    assert not auth.check(b"admin", PASSWORD)
    assert not auth.check(b"", b"")
    assert not NO_AUTH.required
    assert not NO_AUTH.check(b"default", b"")  # nobody to authenticate as
    assert AuthSettings.with_password(None) == NO_AUTH
    assert AuthSettings(PASSWORD, username=b"app").check(b"app", PASSWORD)


def test_the_setting_refuses_what_is_not_bytes() -> None:
    with pytest.raises(TypeError):
        AuthSettings("s3cret")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="username"):
        AuthSettings(PASSWORD, username=b"")


def test_built_in_declarations() -> None:
    registry = full_registry()
    names = {fmt.name: registry.authenticates(fmt) for fmt in registry}
    assert names == {
        "resp": True,
        "memcache-text": True,
        "memcache-binary": True,
        "kvbin": False,
    }
    assert not isinstance(kvbin.KvbinProvider(), Authenticating)


# -- start-time checks --------------------------------------------------------------------


def test_a_fallback_that_cannot_authenticate_fails_the_check() -> None:
    registry = full_registry()
    with pytest.raises(ValueError, match="fallback format 'kvbin' cannot authenticate"):
        registry.check_auth(AuthSettings(PASSWORD), "kvbin")
    registry.check_auth(AuthSettings(PASSWORD), "resp")
    registry.check_auth(NO_AUTH, "kvbin")


def test_a_provider_with_its_own_password_must_match_the_listener() -> None:
    registry = Registry()
    resp.register(registry, resp.RespProvider(password="s3cret"))
    with pytest.raises(ValueError, match="own password"):
        registry.check_auth(NO_AUTH)  # memcached or kvbin beside it would be open
    with pytest.raises(ValueError, match="own password"):
        registry.check_auth(AuthSettings(b"other"))
    registry.check_auth(AuthSettings(PASSWORD))


def test_the_server_does_not_start_when_data_would_be_open() -> None:
    settings = ConnectionSettings(auth=AuthSettings(PASSWORD), fallback_format="kvbin")
    server = Server(full_registry(), "127.0.0.1", 0, settings=settings)

    async def start() -> None:
        await server.start()

    with pytest.raises(ValueError, match="cannot authenticate"):
        asyncio.run(start())
    assert server.addresses == []  # it never listened


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--password", "s3cret", "--fallback-format", "kvbin"], "cannot serve: the fallback"),
        (["--password", ""], "the password must not be empty"),
        (["--password", "a", "--set", "resp.password=b"], "different passwords"),
        (
            ["--password", "a", "--fallback-format", "kvbin", "--workers", "2"],
            "authentication: the fallback format 'kvbin' cannot authenticate",
        ),
    ],
    ids=["fallback", "empty", "alias-differs", "workers"],
)
def test_wireproto_serve_refuses_open_configurations(
    options: list[str], message: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        status = cli.main(["serve", "--host", "127.0.0.1", "--port", "0", *options])
    assert status == 2
    assert message in caplog.text


# -- refusal at detection -----------------------------------------------------------------


def test_kvbin_is_refused_at_detection_on_a_password_listener() -> None:
    stats = StatsCollector()
    connection = connect(full_registry(), stats=stats)
    reply = replay(connection, [kvbin.build_request(kvbin.Opcode.GET, b"k")])
    assert reply == b""
    assert connection.state is ConnectionState.CLOSED
    assert connection.close_reason is CloseReason.AUTH_REQUIRED
    assert connection.session is None
    assert stats.snapshot().rejected == {"auth-required": 1}
    assert str(connection.error) == "format=kvbin cannot authenticate"


def test_kvbin_is_served_without_a_password() -> None:
    reply, connection = talk(kvbin.build_request(kvbin.Opcode.ECHO, b"", b"hi", 7), None)
    assert reply == kvbin.build_reply(kvbin.Status.OK, 7, b"hi")
    assert connection.state is ConnectionState.ACTIVE


def test_the_fallback_format_is_refused_the_same_way() -> None:
    registry = full_registry()
    settings = ConnectionSettings(auth=AuthSettings(PASSWORD), fallback_format="kvbin")
    connection = Connection(registry, settings)
    connection.detect_timed_out()
    assert connection.close_reason is CloseReason.AUTH_REQUIRED


# -- RESP -----------------------------------------------------------------------------------


def test_resp_authenticates_against_the_listener() -> None:
    stream = (
        resp_command("GET", "k")
        + resp_command("AUTH", "nope")
        + resp_command("AUTH", "s3cret")
        + resp_command("SET", "k", "v")
        + resp_command("GET", "k")
    )
    reply, _ = talk(stream)
    assert reply == (
        b"-NOAUTH Authentication required.\r\n"
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        b"+OK\r\n+OK\r\n$1\r\nv\r\n"
    )


def test_resp_hello_auth_against_the_listener() -> None:
    reply, _ = talk(resp_command("HELLO", "3", "AUTH", "default", "nope"))
    assert reply == b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    reply, _ = talk(resp_command("HELLO", "3", "AUTH", "default", "s3cret") + b"PING\r\n")
    assert reply.startswith(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n")
    assert reply.endswith(b"+PONG\r\n")


def test_resp_without_a_listener_password() -> None:
    reply, _ = talk(resp_command("AUTH", "s3cret") + resp_command("GET", "k"), None)
    assert reply == (
        b"-ERR AUTH <password> called without any password configured for the default user. "
        b"Are you sure your configuration is correct?\r\n$-1\r\n"
    )


# -- memcached binary: SASL PLAIN ------------------------------------------------------------

GET, VERSION, LIST, AUTH, STEP = 0x00, 0x0B, 0x20, 0x21, 0x22
AUTHENTICATED = b"Authenticated"
FAILURE = b"Auth failure."
PLAIN_OK = b"\0default\0s3cret"
NOT_FOUND = response(GET, 0x01, 6, b"Not found")

BINARY_CASES: dict[str, tuple[bytes, bytes, bool]] = {
    # name: (requests, memcached 1.6.18 -S's replies, closed afterwards)
    "list mechanisms": (request(LIST, opaque=7), response(LIST, 0, 7, b"PLAIN"), False),
    "get before auth": (request(GET, b"k", opaque=9), response(GET, 0x20, 9, FAILURE), True),
    "getq before auth": (request(0x09, b"k"), response(0x09, 0x20, 0, FAILURE), True),
    "unknown opcode before auth": (request(0x40), response(0x40, 0x20, 0, FAILURE), True),
    "auth then get": (
        request(AUTH, b"PLAIN", PLAIN_OK, 5) + request(GET, b"k", opaque=6),
        response(AUTH, 0, 5, AUTHENTICATED) + NOT_FOUND,
        False,
    ),
    "wrong password, then get": (
        request(AUTH, b"PLAIN", b"\0default\0nope", 5) + request(GET, b"k", opaque=6),
        response(AUTH, 0x20, 5, FAILURE) + response(GET, 0x20, 6, FAILURE),
        True,
    ),
    "empty auth, then step": (
        request(AUTH, b"PLAIN", b"", 5)
        + request(STEP, b"PLAIN", PLAIN_OK, 6)
        + request(GET, b"k", opaque=6),
        response(AUTH, 0x21, 5) + response(STEP, 0, 6, AUTHENTICATED) + NOT_FOUND,
        False,
    ),
    "step first": (
        request(STEP, b"PLAIN", PLAIN_OK, 6),
        response(STEP, 0x20, 6, FAILURE),
        False,
    ),
    "unknown mechanism": (
        request(AUTH, b"CRAM-MD5", b"x", 6),
        response(AUTH, 0x20, 6, FAILURE),
        False,
    ),
    "mechanism at the 32-byte limit": (
        request(AUTH, b"P" * 32, b"x", 6),
        response(AUTH, 0x20, 6, FAILURE),
        False,
    ),
    "mechanism too long": (
        request(AUTH, b"P" * 33, b"x", 6) + request(LIST),
        response(AUTH, 0x04, 6, b"Invalid arguments") + response(LIST, 0, 0, b"PLAIN"),
        False,
    ),
    "authzid equal to the user": (
        request(AUTH, b"PLAIN", b"default\0default\0s3cret", 5),
        response(AUTH, 0, 5, AUTHENTICATED),
        False,
    ),
    "authzid of another user": (
        request(AUTH, b"PLAIN", b"x\0default\0s3cret", 5),
        response(AUTH, 0x20, 5, FAILURE),
        False,
    ),
    "three NULs": (
        request(AUTH, b"PLAIN", PLAIN_OK + b"\0", 5),
        response(AUTH, 0x20, 5, FAILURE),
        False,
    ),
    "a failed re-auth forgets the first": (
        request(AUTH, b"PLAIN", PLAIN_OK, 5)
        + request(AUTH, b"PLAIN", b"\0default\0nope", 5)
        + request(GET, b"k", opaque=6),
        response(AUTH, 0, 5, AUTHENTICATED)
        + response(AUTH, 0x20, 5, FAILURE)
        + response(GET, 0x20, 6, FAILURE),
        True,
    ),
    "a step after success forgets it": (
        request(AUTH, b"PLAIN", PLAIN_OK, 5)
        + request(STEP, b"PLAIN", PLAIN_OK, 6)
        + request(GET, b"k", opaque=7),
        response(AUTH, 0, 5, AUTHENTICATED)
        + response(STEP, 0x20, 6, FAILURE)
        + response(GET, 0x20, 7, FAILURE),
        True,
    ),
    "list with a body": (
        request(LIST, b"k"),
        response(LIST, 0x04, 0, b"Invalid arguments"),
        True,
    ),
    "auth without a mechanism": (
        request(AUTH, b"", b"x"),
        response(AUTH, 0x04, 0, b"Invalid arguments"),
        True,
    ),
}


@pytest.mark.parametrize("name", list(BINARY_CASES))
@pytest.mark.parametrize("pieces", ["whole", "bytewise"])
def test_binary_sasl(name: str, pieces: str) -> None:
    requests, expected, closes = BINARY_CASES[name]
    connection = connect(full_registry())
    chunks = [requests] if pieces == "whole" else bytewise(requests)
    assert replay(connection, chunks) == expected
    assert (connection.state is ConnectionState.CLOSED) is closes


def test_binary_version_before_auth() -> None:
    reply, connection = talk(request(VERSION, opaque=3))
    version = memcache.MemcacheSettings().version.encode()
    assert reply == response(VERSION, 0, 3, version)
    assert connection.state is ConnectionState.ACTIVE


def test_binary_sasl_opcodes_are_unknown_without_a_password() -> None:
    # memcached without -S: "Unknown command", the body skipped, the connection open.
    reply, connection = talk(request(AUTH, b"PLAIN", PLAIN_OK, 5) + request(LIST), None)
    assert reply == response(AUTH, 0x81, 5, b"Unknown command") + response(
        LIST, 0x81, 0, b"Unknown command"
    )
    assert connection.state is ConnectionState.ACTIVE


# -- memcached text: the token in the first set --------------------------------------------

UNAUTHENTICATED = b"CLIENT_ERROR unauthenticated\r\n"
GET_K = (b"get k\r\n", UNAUTHENTICATED)  # a first line every format detector gives to memcached

TEXT_CASES: dict[str, tuple[list[tuple[bytes, bytes]], bool]] = {
    # name: ([(command, memcached 1.6.18 -Y's reply)], closed afterwards)
    "get": ([GET_K], False),
    "the token": ([(b"set k 0 0 14\r\ndefault s3cret\r\n", b"STORED\r\n")], False),
    "a wrong password": (
        [(b"set k 0 0 12\r\ndefault nope\r\n", b"CLIENT_ERROR authentication failure\r\n")],
        False,
    ),
    "no password": (
        [(b"set k 0 0 7\r\ndefault\r\n", b"CLIENT_ERROR bad authentication token format\r\n")],
        False,
    ),
    "bad termination": (
        [(b"set k 0 0 14\r\ndefault s3cretXX", b"CLIENT_ERROR bad command line termination\r\n")],
        False,
    ),
    "a set waiting for its data": ([(b"set k 0 0 5\r\n", b"")], False),
    "add": ([(b"add k 0 0 5\r\n", UNAUTHENTICATED), (b"hello\r\n", UNAUTHENTICATED)], False),
    "flush_all": ([(b"flush_all\r\n", UNAUTHENTICATED)], False),
    "delete": ([(b"delete k\r\n", UNAUTHENTICATED)], False),
    "junk without a newline": ([GET_K, (b"x" * 2049, b"")], True),
    "a bare newline": ([(b"set k 0 0 14\ndefault s3cret\r\n", b"STORED\r\n")], False),
    "setx": ([GET_K, (b"setx k 0 0 14\r\n", UNAUTHENTICATED)], False),
    "a negative size": ([(b"set k 0 0 -1\r\n", UNAUTHENTICATED)], False),
    "a size with a sign": ([(b"set k 0 0 +14\r\ndefault s3cret\r\n", b"STORED\r\n")], False),
    "a size and junk": ([(b"set k 0 0 14x\r\n", UNAUTHENTICATED)], False),
    "four tokens": ([(b"set k 0 14\r\n", UNAUTHENTICATED)], False),
    "spaces": ([(b"set  k  0 0  14\r\ndefault s3cret\r\n", b"STORED\r\n")], False),
    "two spaces in the token": (
        [(b"set k 0 0 15\r\ndefault  s3cret\r\n", b"STORED\r\n")],
        False,
    ),
    "an empty token": (
        [(b"set k 0 0 0\r\n\r\n", b"CLIENT_ERROR bad authentication token format\r\n")],
        False,
    ),
    "noreply is not honoured": (
        [(b"set k 0 0 14 noreply\r\ndefault s3cret\r\n", b"STORED\r\n")],
        False,
    ),
    "authenticated, then served": (
        [
            (b"set k 0 0 14\r\ndefault s3cret\r\n", b"STORED\r\n"),
            (b"set k 0 0 1\r\nv\r\n", b"STORED\r\n"),
            (b"get k\r\n", b"VALUE k 0 1\r\nv\r\nEND\r\n"),
        ],
        False,
    ),
}


@pytest.mark.parametrize("name", list(TEXT_CASES))
@pytest.mark.parametrize("pieces", ["whole", "bytewise"])
def test_text_auth(name: str, pieces: str) -> None:
    exchanges, closes = TEXT_CASES[name]
    data = b"".join(command for command, _ in exchanges)
    connection = connect(full_registry())
    chunks = [data] if pieces == "whole" else bytewise(data)
    assert replay(connection, chunks, until_closed=True) == b"".join(r for _, r in exchanges)
    assert (connection.state is ConnectionState.CLOSED) is closes


def test_text_junk_at_the_limit_waits() -> None:
    connection = connect(full_registry())
    assert replay(connection, [b"get k\r\n" + b"x" * 2048]) == UNAUTHENTICATED
    assert connection.state is ConnectionState.ACTIVE
    assert replay(connection, [b"x"]) == b""
    assert connection.close_reason is CloseReason.PROTOCOL_ERROR


def test_text_token_size_at_max_and_max_plus_one() -> None:
    user_pass = b"default " + b"p" * (16384 - 8)
    reply, connection = talk(b"set k 0 0 16384\r\n" + user_pass + b"\r\nget k\r\n")
    assert reply == b"CLIENT_ERROR authentication failure\r\n" + UNAUTHENTICATED
    reply, connection = talk(b"set k 0 0 16385\r\nget k\r\n")
    assert reply == b"CLIENT_ERROR auth token too long\r\n" + UNAUTHENTICATED
    assert connection.state is ConnectionState.ACTIVE


def test_text_without_a_password_set_stores() -> None:
    reply, _ = talk(b"set k 0 0 14\r\ndefault s3cret\r\nget k\r\n", None)
    assert reply == b"STORED\r\nVALUE k 0 14\r\ndefault s3cret\r\nEND\r\n"


def test_stats_settings_report_authentication() -> None:
    reply, _ = talk(b"set a 0 0 14\r\ndefault s3cret\r\nstats settings\r\n")
    assert b"STAT auth_enabled_sasl yes\r\n" in reply
    assert b"STAT auth_enabled_ascii yes\r\n" in reply
    reply, _ = talk(b"stats settings\r\n", None)
    assert b"STAT auth_enabled_sasl no\r\nSTAT auth_enabled_ascii no\r\n" in reply


def test_stats_count_authentications() -> None:
    registry = full_registry()
    stream = b"set a 0 0 11\r\ndefault bad\r\nget k\r\nset a 0 0 14\r\ndefault s3cret\r\n"
    replay(connect(registry), [stream])
    sasl = request(AUTH, b"PLAIN", b"\0default\0bad") + request(AUTH, b"PLAIN", PLAIN_OK)
    replay(connect(registry), [sasl + request(AUTH, b"PLAIN", b"")])  # the last continues
    reply = replay(connect(registry), [b"set a 0 0 14\r\ndefault s3cret\r\nstats\r\n"])
    # memcached's order: after store_too_large (and store_no_memory there)
    assert b"STAT store_too_large 0\r\nSTAT auth_cmds 5\r\nSTAT auth_errors 2\r\n" in reply


# -- nothing leaks before authentication ----------------------------------------------------


def test_unauthenticated_memcached_clients_cannot_touch_the_store() -> None:
    registry = full_registry()
    owner = connect(registry)
    assert replay(owner, [resp_command("AUTH", "s3cret") + resp_command("SET", "k", "TOP")]) == (
        b"+OK\r\n+OK\r\n"
    )
    text = b"get k\r\ngets k\r\nset k 0 0 3\r\nbad\r\nappend k 0 0 1\r\nx\r\ndelete k\r\n"
    text += b"incr k 1\r\ntouch k 1\r\nflush_all\r\nmg k v\r\nms k 1\r\nx\r\nmd k\r\n"
    reply = replay(connect(registry), [text])
    assert b"TOP" not in reply and b"STORED" not in reply and b"OK" not in reply
    for opcode in (0x00, 0x01, 0x04, 0x08, 0x0E, 0x05):  # get set delete flush append incr
        reply = replay(connect(registry), [request(opcode, b"k", b"x")])
        assert reply[6:8] == b"\x00\x20", (opcode, reply)
    assert replay(owner, [resp_command("GET", "k")]) == b"$3\r\nTOP\r\n"


# -- the pure parsers -----------------------------------------------------------------------


def test_parse_plain() -> None:
    assert parse_plain(b"\0user\0pw") == (b"user", b"pw")
    assert parse_plain(b"user\0user\0pw") == (b"user", b"pw")
    assert parse_plain(b"\0\0") == (b"", b"")
    assert parse_plain(b"other\0user\0pw") is None
    assert parse_plain(b"user\0pw") is None
    assert parse_plain(b"\0user\0pw\0") is None


def test_text_auth_step_needs() -> None:
    assert text_auth_step(b"set k 0").need == 8
    assert text_auth_step(b"set k 0 0 3\r\nab").need == 18
    step = text_auth_step(b"xx" + b"set k 0 0 3\r\na b\r\n", 2)
    assert step.used == 18 and step.credentials == (b"a", b"b")
