"""ACL, sans-I/O: the rule parser (each rule kind, Redis's error texts), the description
that round-trips through ACL GETUSER/LIST, NOPERM on RESP (commands, keys, channels, MULTI,
EXEC, scripts), users shared by the formats of one listener, and memcached refusals.

Expected RESP bytes were read from redis-server 7.0.15 (``e2e/test_acl_against_redis.py``
compares the same kinds of exchanges live).
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable

import pytest
from _drive import resp_command as cmd
from _resp import bulk
from hypothesis import given, settings
from hypothesis import strategies as st
from wireproto.providers import memcache, resp
from wireproto.providers.kvstore import glob_match
from wireproto.providers.resp.commands.acl import catalog

from wireproto import AuthSettings, Connection, ConnectionSettings, Registry, ServerStats
from wireproto._users import (
    LOG_GROUPING,
    LOG_MAX_LENGTH,
    READ,
    WRITE,
    AclError,
    LogEntry,
    User,
    UserDirectory,
    hash_password,
)

CATALOG = catalog(resp.RespProvider().command_list())
HEADER = struct.Struct(">BBHBBHIIQ")


def fresh(*rules: bytes) -> User:
    user = User(b"u")
    for rule in rules:
        user.apply(rule, CATALOG)
    return user


# -- rules, one kind at a time ---------------------------------------------------------


def test_a_new_user_is_off_with_no_permission() -> None:
    user = fresh()
    assert user.describe(CATALOG) == b"off resetchannels -@all"
    assert not user.can_run("get") and not user.check_password(b"")


def test_on_off_and_passwords() -> None:
    user = fresh(b"on", b">p1", b">p2", b">p1")
    assert user.passwords == [hash_password(b"p1"), hash_password(b"p2")]
    assert user.check_password(b"p2") and not user.check_password(b"p3")
    user.apply(b"<p1", CATALOG)
    assert not user.check_password(b"p1")
    user.apply(b"!" + hash_password(b"p2"), CATALOG)
    assert user.passwords == []
    user.apply(b"#" + hash_password(b"p3"), CATALOG)
    assert user.check_password(b"p3")
    user.apply(b"off", CATALOG)
    assert not user.check_password(b"p3")  # a disabled user never passes
    user.apply(b"on", CATALOG)
    user.apply(b"nopass", CATALOG)
    assert user.passwords == [] and user.check_password(b"anything")
    user.apply(b"resetpass", CATALOG)
    assert not user.nopass and not user.check_password(b"anything")


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        (b"#abc", "The password hash must be exactly 64 characters"),
        (b"#" + b"A" * 64, "The password hash must be exactly 64 characters"),
        (b"<never", "The password you are trying to remove from the user does not exist"),
        (b"+nosuch", "Unknown command or category name in ACL"),
        (b"-@nosuch", "Unknown command or category name in ACL"),
        (b"+client|nosuch", "Unknown command or category name in ACL"),
        (b"+client|list|x", "Allowing first-arg of a subcommand is not supported"),
        (b"+get|", "Syntax error"),
        (b"%X~k", "Syntax error"),
        (b"%R", "Syntax error"),
        (b"bogus", "Syntax error"),
        (b"(~x +get)", "Syntax error"),
    ],
)
def test_refused_rules(rule: bytes, reason: str) -> None:
    with pytest.raises(AclError) as caught:
        fresh(rule)
    assert caught.value.reason.startswith(reason)


def test_patterns_after_the_star_are_refused() -> None:
    with pytest.raises(AclError, match="'allkeys' flag"):
        fresh(b"allkeys", b"~k")
    with pytest.raises(AclError, match="'allchannels' flag"):
        fresh(b"&*", b"&c")


def test_command_rules() -> None:
    user = fresh(b"+get", b"+@hash", b"-hdel", b"+client|list", b"+select|0")
    assert user.can_run("get") and user.can_run("hset") and not user.can_run("hdel")
    assert user.can_run("client|list") and not user.can_run("client|kill")
    assert user.can_run("select", b"0") and not user.can_run("select", b"1")
    assert not user.can_run("set")
    user.apply(b"+client", CATALOG)  # a container brings its subcommands
    assert user.can_run("client|kill")
    user.apply(b"allcommands", CATALOG)
    assert user.all_commands and user.can_run("set")
    user.apply(b"-set", CATALOG)
    assert not user.all_commands and not user.can_run("set") and user.can_run("get")
    assert user.describe_commands(CATALOG) == b"+@all -set"
    user.apply(b"nocommands", CATALOG)
    assert user.describe_commands(CATALOG) == b"-@all"


def test_key_rules() -> None:
    user = fresh(b"~k*", b"%R~r*", b"%W~w*", b"%RW~b*", b"%R~k*")
    assert user.describe_keys() == b"~k* %R~r* %W~w* ~b*"
    match = resp_glob()
    assert user.can_access(b"k1", READ | WRITE, match)
    assert user.can_access(b"r1", READ, match) and not user.can_access(b"r1", WRITE, match)
    assert user.can_access(b"w1", WRITE, match) and not user.can_access(b"w1", READ, match)
    assert not user.can_access(b"z", READ, match)
    user.apply(b"resetkeys", CATALOG)
    assert user.describe_keys() == b"" and not user.can_access(b"k1", READ, match)
    user.apply(b"allkeys", CATALOG)
    assert user.describe_keys() == b"~*" and user.can_access(b"z", WRITE, match)


def test_channel_rules() -> None:
    user = fresh(b"&news.*", b"&exact")
    match = resp_glob()
    assert user.can_use_channel(b"news.today", False, match)
    assert not user.can_use_channel(b"news.today", True, match)  # patterns compare literally
    assert user.can_use_channel(b"news.*", True, match)
    assert user.describe_channels() == b"&news.* &exact"
    user.apply(b"allchannels", CATALOG)
    assert user.describe_channels() == b"&*"
    user.apply(b"resetchannels", CATALOG)
    assert user.describe_channels() == b""


def test_reset() -> None:
    user = fresh(b"on", b">p", b"~*", b"&*", b"+@all")
    user.apply(b"reset", CATALOG)
    assert user.describe(CATALOG) == b"off sanitize-payload resetchannels -@all"


def resp_glob() -> Callable[[bytes, bytes], bool]:
    return glob_match


# -- the description round-trips -------------------------------------------------------

RULES = st.one_of(
    st.sampled_from(
        [b"on", b"off", b"nopass", b"resetpass", b">a", b">b", b"allkeys", b"resetkeys",
         b"allchannels", b"resetchannels", b"allcommands", b"nocommands", b"reset",
         b"skip-sanitize-payload", b"sanitize-payload", b"+select|0", b"+client|list",
         b"-client", b"+config|get", b"~k*", b"%R~r*", b"%W~w*", b"&c*", b"&d"]
    ),
    st.builds(lambda sign, name: sign + b"@" + name.encode(), st.sampled_from([b"+", b"-"]),
              st.sampled_from(list(CATALOG.categories))),
    st.builds(lambda sign, name: sign + name.encode(), st.sampled_from([b"+", b"-"]),
              st.sampled_from([n for n in CATALOG.names if "|" not in n][:80])),
)  # fmt: skip


def _state(user: User) -> tuple[object, ...]:
    bits = frozenset(name for name in CATALOG.names if user.can_run(name))
    first = {name: sorted(args) for name, args in user.first_args.items() if name not in bits}
    return (
        user.enabled, user.nopass, user.sanitize, tuple(user.passwords), bits, user.future,
        first, user.all_keys, tuple(user.keys), user.all_channels, tuple(user.channels),
    )  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.lists(RULES, max_size=12))
def test_the_description_rebuilds_the_same_user(rules: list[bytes]) -> None:
    user = User(b"u")
    for rule in rules:
        # A refused rule (a pattern after allkeys...) changes nothing.
        with contextlib.suppress(AclError):
            user.apply(rule, CATALOG)
    again = User(b"u")
    for token in user.describe(CATALOG).split(b" "):
        again.apply(token, CATALOG)
    assert _state(again) == _state(user)
    assert again.describe(CATALOG) == user.describe(CATALOG)


@settings(max_examples=40, deadline=None)
@given(st.lists(RULES, max_size=8))
def test_acl_list_text_round_trips_through_setuser(rules: list[bytes]) -> None:
    client = RespClient()
    client.call("ACL", "SETUSER", "u1", *rules)  # may be refused as a whole
    listed = client.call("ACL", "LIST").split(b"\r\n")
    lines = [item for item in listed if item.startswith(b"user u1 ")]
    if not lines:  # the whole SETUSER was refused: no user
        return
    line = lines[0]
    tokens = line.split(b" ")[2:]
    assert client.call("ACL", "SETUSER", "u2", *tokens) == b"+OK\r\n"
    first = client.call("ACL", "GETUSER", "u1")
    second = client.call("ACL", "GETUSER", "u2")
    assert first == second


# -- RESP ------------------------------------------------------------------------------


class Listener:
    """What a Server's listener offers its sessions, for connections built by hand."""

    def __init__(self, auth: AuthSettings) -> None:
        self.users = UserDirectory(auth)
        self.draining = False

    def stats(self) -> ServerStats:  # pragma: no cover - not asked here
        raise NotImplementedError


class RespClient:
    def __init__(self, listener: Listener | None = None, auth: AuthSettings | None = None) -> None:
        registry = Registry()
        resp.register(registry, PROVIDER if listener is not None else resp.RespProvider())
        memcache.register(registry, MEMCACHE)
        self.connection = Connection(
            registry, ConnectionSettings(auth=auth or AuthSettings()), listener=listener
        )

    def call(self, *args: bytes | str | int) -> bytes:
        self.connection.receive_data(cmd(*args))
        return self.connection.data_to_send()

    def send(self, data: bytes) -> bytes:
        self.connection.receive_data(data)
        return self.connection.data_to_send()


PROVIDER = resp.RespProvider()
MEMCACHE = memcache.MemcacheProvider()


def alice(listener: Listener, *rules: str) -> RespClient:
    admin = RespClient(listener)
    assert admin.call("ACL", "SETUSER", "alice", "on", ">pw", *rules) == b"+OK\r\n"
    client = RespClient(listener)
    assert client.call("AUTH", "alice", "pw") == b"+OK\r\n"
    return client


def test_noperm_texts() -> None:
    client = alice(Listener(AuthSettings()), "~k*", "&ch*", "+get", "+publish", "+multi")
    assert client.call("SET", "k1", "v") == (
        b"-NOPERM this user has no permissions to run the 'set' command\r\n"
    )
    assert client.call("GET", "zz") == (
        b"-NOPERM this user has no permissions to access one of the keys used as arguments\r\n"
    )
    assert client.call("GET", "k1") == b"$-1\r\n"
    assert client.call("PUBLISH", "nope", "m") == (
        b"-NOPERM this user has no permissions to access one of the channels used as arguments\r\n"
    )
    assert client.call("PUBLISH", "ch1", "m") == b":0\r\n"
    assert client.call("CLIENT", "LIST") == (
        b"-NOPERM this user has no permissions to run the 'client|list' command\r\n"
    )
    assert client.call("ACL", "WHOAMI") == (
        b"-NOPERM this user has no permissions to run the 'acl|whoami' command\r\n"
    )


def test_noperm_in_multi_exec_and_scripts() -> None:
    client = alice(Listener(AuthSettings()), "~k*", "+get", "+multi", "+eval")
    assert client.call("MULTI") == b"+OK\r\n"
    assert client.call("GET", "zz").startswith(b"-NOPERM")
    assert client.call("EXEC") == (
        b"-EXECABORT Transaction discarded because of: NOPERM this user has no permissions to "
        b"run the 'exec' command\r\n"
    )
    assert client.call("GET", "k1") == b"$-1\r\n"  # the transaction was discarded
    reply = client.call("EVAL", "return redis.call('set', 'k1', 'v')", "0")
    assert reply.startswith(
        b"-ERR The user executing the script can't run this command or subcommand script: "
    )
    reply = client.call("EVAL", "return redis.pcall('get', 'zz')", "0")
    assert reply == (
        b"-ERR The user executing the script can't access at least one of the keys mentioned "
        b"in the command arguments\r\n"
    )


def test_the_fast_path_checks_after_a_rule_change() -> None:
    listener = Listener(AuthSettings())
    client = RespClient(listener)
    assert client.call("SET", "k", "v") == b"+OK\r\n"
    admin = RespClient(listener)
    assert admin.call("ACL", "SETUSER", "default", "-set") == b"+OK\r\n"
    assert client.call("SET", "k", "v").startswith(b"-NOPERM")
    assert admin.call("ACL", "SETUSER", "default", "+set") == b"+OK\r\n"
    assert client.call("SET", "k", "v") == b"+OK\r\n"


def test_auth_hello_whoami_and_deluser() -> None:
    listener = Listener(AuthSettings())
    client = alice(listener, "+@all", "~*")
    assert client.call("ACL", "WHOAMI") == b"$5\r\nalice\r\n"
    assert client.call("AUTH", "alice", "bad") == (
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    )
    assert client.call("HELLO", "3", "AUTH", "nobody", "x") == (
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    )
    assert client.call("HELLO", "2", "AUTH", "default", "x").startswith(b"*14\r\n")
    assert client.call("ACL", "WHOAMI") == b"$7\r\ndefault\r\n"
    again = alice(listener, "+@all")
    admin = RespClient(listener)
    assert admin.call("ACL", "DELUSER", "alice", "nobody") == b":1\r\n"
    assert again.connection.data_to_send() == b""
    assert again.connection.state.name in ("CLOSING", "CLOSED")
    assert admin.call("ACL", "DELUSER", "default") == (
        b"-ERR The 'default' user cannot be removed\r\n"
    )
    # Deleting its own user: the reply, then the connection closes (the PING does not run).
    own = RespClient(listener)
    own.call("ACL", "SETUSER", "self", "on", "nopass", "+@all")
    assert own.call("AUTH", "self", "x") == b"+OK\r\n"
    assert own.send(cmd("ACL", "DELUSER", "self") + cmd("PING")) == b":1\r\n"
    assert own.connection.state.name == "CLOSED"


def test_a_user_password_for_default_requires_auth_on_new_connections() -> None:
    listener = Listener(AuthSettings())
    admin = RespClient(listener)
    assert admin.call("ACL", "SETUSER", "default", ">pw") == b"+OK\r\n"
    fresh_client = RespClient(listener)
    assert fresh_client.call("GET", "k") == b"-NOAUTH Authentication required.\r\n"
    assert fresh_client.call("AUTH", "pw") == b"+OK\r\n"


def test_getuser_shapes() -> None:
    client = RespClient()
    client.call("ACL", "SETUSER", "u", "on", "~a", "&b", "+get")
    two = client.call("ACL", "GETUSER", "u")
    assert two == (
        b"*12\r\n$5\r\nflags\r\n*1\r\n$2\r\non\r\n$9\r\npasswords\r\n*0\r\n"
        b"$8\r\ncommands\r\n$10\r\n-@all +get\r\n$4\r\nkeys\r\n$2\r\n~a\r\n"
        b"$8\r\nchannels\r\n$2\r\n&b\r\n$9\r\nselectors\r\n*0\r\n"
    )
    client.call("HELLO", "3")
    three = client.call("ACL", "GETUSER", "u")
    assert three.startswith(b"%6\r\n$5\r\nflags\r\n~1\r\n")
    assert client.call("ACL", "GETUSER", "nobody") == b"_\r\n"


def test_dryrun_genpass_and_errors() -> None:
    client = RespClient()
    client.call("ACL", "SETUSER", "u", "on", "~k*", "+get")
    assert client.call("ACL", "DRYRUN", "u", "get", "k1") == b"+OK\r\n"
    assert client.call("ACL", "DRYRUN", "u", "set", "k1", "v") == bulk(
        b"This user has no permissions to run the 'set' command"
    )
    assert client.call("ACL", "DRYRUN", "u", "get", "z") == bulk(
        b"This user has no permissions to access the 'z' key"
    )
    assert client.call("ACL", "DRYRUN", "x", "get", "z") == b"-ERR User 'x' not found\r\n"
    assert len(client.call("ACL", "GENPASS")) == len(b"$64\r\n\r\n") + 64
    assert client.call("ACL", "GENPASS", "5").startswith(b"$2\r\n")  # (bits + 3) // 4 digits
    assert client.call("ACL", "GENPASS", "0").startswith(b"-ERR ACL GENPASS argument")
    assert client.call("ACL", "GENPASS", "4096").startswith(b"$1024\r\n")
    assert client.call("ACL", "GENPASS", "4097").startswith(b"-ERR ACL GENPASS argument")
    assert client.call("ACL", "SETUSER", "a b") == (
        b"-ERR Usernames can't contain spaces or null characters\r\n"
    )
    assert client.call("ACL", "SETUSER", "u", "(~x", "+get") == (
        b"-ERR Unmatched parenthesis in acl selector starting at '(~x'.\r\n"
    )
    assert client.call("ACL", "SETUSER", "u", "on", "+nosuch", "~q") == (
        b"-ERR Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL\r\n"
    )
    assert b"~q" not in client.call("ACL", "LIST")  # nothing of a refused SETUSER applies


# -- memcached on the same listener ---------------------------------------------------


def test_memcached_text_under_a_user() -> None:
    listener = Listener(AuthSettings(b"root"))
    admin = RespClient(listener, AuthSettings(b"root"))
    assert admin.call("AUTH", "root") == b"+OK\r\n"
    assert admin.call("ACL", "SETUSER", "mc", "on", ">pw", "+get", "%R~r*", "~w*", "+set") == (
        b"+OK\r\n"
    )
    mc = RespClient(listener, AuthSettings(b"root"))
    assert mc.send(b"set x 0 0 5\r\nmc pw\r\n") == b"STORED\r\n"  # the token names the user
    assert mc.send(b"set w1 0 0 1\r\na\r\n") == b"STORED\r\n"
    assert mc.send(b"set r1 0 0 1\r\na\r\nget w1 z\r\n") == (
        b"CLIENT_ERROR NOPERM this user has no permissions to access one of the keys used as "
        b"arguments\r\nCLIENT_ERROR NOPERM this user has no permissions to access one of the "
        b"keys used as arguments\r\n"
    )
    assert mc.send(b"get r1 w1\r\n") == b"VALUE w1 0 1\r\na\r\nEND\r\n"
    assert mc.send(b"delete w1\r\n") == (
        b"CLIENT_ERROR NOPERM this user has no permissions to run the 'del' command\r\n"
    )
    assert mc.send(b"flush_all\r\n") == (
        b"CLIENT_ERROR NOPERM this user has no permissions to run the 'flushall' command\r\n"
    )
    # A rule change reaches the open connection.
    assert admin.call("ACL", "SETUSER", "mc", "+del") == b"+OK\r\n"
    assert mc.send(b"delete w1\r\n") == b"DELETED\r\n"


def _binary(opcode: int, key: bytes = b"", value: bytes = b"", extras: bytes = b"") -> bytes:
    body = extras + key + value
    return HEADER.pack(0x80, opcode, len(key), len(extras), 0, 0, len(body), 0, 0) + body


def test_memcached_binary_under_a_user() -> None:
    listener = Listener(AuthSettings(b"root"))
    admin = RespClient(listener, AuthSettings(b"root"))
    admin.call("AUTH", "root")
    admin.call("ACL", "SETUSER", "mc", "on", ">pw", "+get", "~k*")
    mc = RespClient(listener, AuthSettings(b"root"))
    reply = mc.send(_binary(0x21, b"PLAIN", b"\0mc\0pw"))
    assert reply[6:8] == b"\x00\x00"  # status 0: authenticated as mc
    allowed = mc.send(_binary(0x00, b"k1"))
    assert allowed[6:8] == b"\x00\x01"  # key not found: the get ran
    refused = mc.send(_binary(0x00, b"z"))
    assert refused[6:8] == b"\x00\x20"  # auth error: the key is not mc's
    stored = mc.send(_binary(0x01, b"k1", b"v", extras=b"\0" * 8))
    assert stored[6:8] == b"\x00\x20"  # mc may not set
    assert admin.call("GET", "k1") == b"$-1\r\n"


def test_acl_log_records_denials_as_redis() -> None:
    listener = Listener(AuthSettings())
    client = alice(listener, "~k*", "+get", "+multi", "+discard")
    client.send(cmd("GET", "z") + cmd("GET", "z") + cmd("SET", "k", "v"))
    client.send(cmd("MULTI") + cmd("GET", "q") + cmd("DISCARD") + cmd("AUTH", "alice", "no"))
    admin = RespClient(listener)
    log = admin.call("ACL", "LOG")
    entries = log.split(b"$5\r\ncount\r\n")[1:]
    summary = [
        tuple(entry.split(b"\r\n")[i] for i in (0, 4, 8, 12, 16)) for entry in entries
    ]  # count, reason, context, object, username
    assert summary == [
        (b":1", b"auth", b"toplevel", b"AUTH", b"alice"),
        (b":1", b"key", b"multi", b"q", b"alice"),
        (b":1", b"command", b"toplevel", b"set", b"alice"),
        (b":2", b"key", b"toplevel", b"z", b"alice"),
    ]
    assert b"cmd=set user=alice" in entries[2]
    assert admin.call("ACL", "LOG", "1").count(b"$5\r\ncount\r\n") == 1
    assert admin.call("ACL", "LOG", "RESET") == b"+OK\r\n"
    assert admin.call("ACL", "LOG") == b"*0\r\n"


def test_the_log_keeps_128_entries_and_groups_within_the_last_10() -> None:
    directory = UserDirectory(AuthSettings())

    def deny(what: bytes, when: float = 0.0) -> None:
        directory.log_denial(LogEntry("key", "toplevel", what, b"u", when, b""))

    for i in range(LOG_MAX_LENGTH):
        deny(b"k%d" % i)
    assert len(directory.log) == LOG_MAX_LENGTH
    deny(b"k-new")
    assert len(directory.log) == LOG_MAX_LENGTH  # max + 1: the oldest went
    assert directory.log[-1].object == b"k1"
    deny(b"k119")  # the 10th newest: grouped, moved to the head
    assert (directory.log[0].object, directory.log[0].count) == (b"k119", 2)
    deny(b"k117")  # the 11th newest: a new entry
    assert (directory.log[0].object, directory.log[0].count) == (b"k117", 1)
    deny(b"k117", when=LOG_GROUPING + 0.5)  # too late to group
    assert directory.log[0].count == 1 and directory.log[1].object == b"k117"
