"""ACL end to end: ``wireproto serve --password`` over loopback; users made with redis-py's
``ACL SETUSER`` authenticate and are refused on every format of the listener: redis-py
(RESP), pymemcache (memcached text, the ``set``-carried token), a raw socket (memcached
binary SASL PLAIN) and curl (HTTP Basic on ``/metrics``); ``ACL DELUSER`` closes the user's
connections."""

from __future__ import annotations

import socket
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from _serve import HOST, NO_RETRY, RunningServer, serve, tool
from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheClientError

PASSWORD = "s3cret"
TIMEOUT = 5.0
HEADER = struct.Struct(">BBHBBHIIQ")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("wireproto-acl") / "server.log"
    with serve(log, "--password", PASSWORD, formats=("resp", "memcache-text")) as running:
        yield running


@pytest.fixture
def owner(server: RunningServer) -> Iterator[redis.Redis]:
    client = redis.Redis(host=HOST, port=server.port, password=PASSWORD)
    yield client
    client.execute_command("ACL", "DELUSER", "reader", "writer")
    client.close()


def test_redis_py_users(server: RunningServer, owner: redis.Redis) -> None:
    assert owner.acl_setuser("reader", enabled=True, passwords=["+rpw"], keys=["r:*"],
                             commands=["+get", "+mget"])  # fmt: skip
    owner.set("r:1", "one")
    reader = redis.Redis(host=HOST, port=server.port, username="reader", password="rpw")
    try:
        assert reader.get("r:1") == b"one"
        with pytest.raises(redis.exceptions.NoPermissionError, match=r"'acl\|whoami'"):
            reader.acl_whoami()
        with pytest.raises(redis.exceptions.NoPermissionError, match="run the 'set' command"):
            reader.set("r:1", "x")
        with pytest.raises(redis.exceptions.NoPermissionError, match="one of the keys"):
            reader.get("other")
    finally:
        reader.close()
    user = owner.acl_getuser("reader")
    assert user["keys"] == ["~r:*"] and "on" in user["flags"]
    assert owner.acl_users() == ["default", "reader"]
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(
            host=HOST, port=server.port, username="reader", password="no", retry=NO_RETRY
        ).ping()


def test_pymemcache_as_a_user(server: RunningServer, owner: redis.Redis) -> None:
    owner.execute_command("ACL", "SETUSER", "writer", "on", ">wpw", "+set", "+get", "~m:*")
    client = Client((HOST, server.port), timeout=TIMEOUT)

    def log_in() -> None:  # pymemcache reconnects after a CLIENT_ERROR: log in again
        assert client.set("auth", "writer wpw", noreply=False) is True

    try:
        log_in()
        assert client.set("m:1", "v", noreply=False) is True
        assert owner.get("m:1") == b"v"
        with pytest.raises(MemcacheClientError, match="NOPERM this user has no permissions"):
            client.set("elsewhere", "v", noreply=False)
        log_in()
        with pytest.raises(MemcacheClientError, match="run the 'del' command"):
            client.delete("m:1", noreply=False)
        log_in()
        assert client.get("m:1") == b"v"
        with pytest.raises(MemcacheClientError, match="run the 'flushall' command"):
            client.flush_all(noreply=False)
        assert owner.get("m:1") == b"v"
    finally:
        client.close()


def _binary(opcode: int, key: bytes = b"", value: bytes = b"", extras: bytes = b"") -> bytes:
    body = extras + key + value
    return HEADER.pack(0x80, opcode, len(key), len(extras), 0, 0, len(body), 0, 0) + body


def _status(sock: socket.socket) -> int:
    header = b""
    while len(header) < 24:
        chunk = sock.recv(24 - len(header))
        assert chunk
        header += chunk
    fields = HEADER.unpack(header)
    remaining = fields[6]
    while remaining:
        remaining -= len(sock.recv(remaining))
    return int(fields[5])


def test_binary_sasl_as_a_user(server: RunningServer, owner: redis.Redis) -> None:
    owner.execute_command("ACL", "SETUSER", "reader", "on", ">rpw", "+get", "~b:*")
    owner.set("b:1", "v")
    with socket.create_connection((HOST, server.port), timeout=TIMEOUT) as sock:
        sock.sendall(_binary(0x21, b"PLAIN", b"\0reader\0rpw"))
        assert _status(sock) == 0
        sock.sendall(_binary(0x00, b"b:1"))
        assert _status(sock) == 0
        sock.sendall(_binary(0x00, b"x"))
        assert _status(sock) == 0x20
        sock.sendall(_binary(0x01, b"b:1", b"w", extras=b"\0" * 8))
        assert _status(sock) == 0x20
    assert owner.get("b:1") == b"v"


def test_curl_metrics_need_info(server: RunningServer, owner: redis.Redis) -> None:
    owner.execute_command("ACL", "SETUSER", "reader", "on", ">rpw", "+get")
    url = f"http://{HOST}:{server.port}/metrics"

    def status(user: str) -> str:
        done = subprocess.run(
            [tool("curl"), "-s", "-o", "/dev/null", "-w", "%{http_code}", "-u", user, url],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        return done.stdout

    assert status("reader:rpw") == "401"
    owner.execute_command("ACL", "SETUSER", "reader", "+info")
    assert status("reader:rpw") == "200"
    assert status(f"default:{PASSWORD}") == "200"


def test_deluser_closes_the_users_connections(server: RunningServer, owner: redis.Redis) -> None:
    owner.execute_command("ACL", "SETUSER", "writer", "on", ">wpw", "+@all", "~*")
    auth = b"*3\r\n$4\r\nAUTH\r\n$6\r\nwriter\r\n$3\r\nwpw\r\n"
    with socket.create_connection((HOST, server.port), timeout=TIMEOUT) as victim:
        victim.sendall(auth + b"*1\r\n$4\r\nPING\r\n")
        assert victim.recv(100) == b"+OK\r\n+PONG\r\n"
        assert owner.execute_command("ACL", "DELUSER", "writer") == 1
        assert victim.recv(100) == b""  # closed by the server
    with socket.create_connection((HOST, server.port), timeout=TIMEOUT) as again:
        again.sendall(auth)
        assert again.recv(200).startswith(b"-WRONGPASS")


def _kvbin_get(key: bytes, request_id: int) -> bytes:
    body = struct.pack(">H", len(key)) + key
    return b"\xc0KV\x01" + struct.pack(">II", request_id, len(body)) + body


def _read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    return received


def test_formats_without_authentication_follow_user_default(tmp_path: Path) -> None:
    """kvbin cannot authenticate: it is served as user ``default`` only while that user is
    open to anyone. An ACL SETUSER that gives ``default`` a password, restricts it or turns
    it off closes the open kvbin clients and refuses new ones; undoing it serves them again."""
    not_found = b"\xc0KV\x01" + struct.pack(">II", 1, 0)
    with serve(tmp_path / "server.log", formats=("resp", "kvbin")) as running:
        with redis.Redis(host=HOST, port=running.port) as anyone:
            anyone.execute_command("ACL", "SETUSER", "root", "on", ">rootpw", "+@all", "~*")
        root = redis.Redis(host=HOST, port=running.port, username="root", password="rootpw")
        try:
            for closing_rules in (["resetpass", ">pw"], ["-@all", "+ping"], ["off"]):
                with socket.create_connection((HOST, running.port), timeout=TIMEOUT) as open_one:
                    open_one.sendall(_kvbin_get(b"k", 1))
                    assert open_one.recv(100) == not_found  # served as default
                    root.execute_command("ACL", "SETUSER", "default", *closing_rules)
                    assert _read_until_closed(open_one) == b""  # closed by the server
                with socket.create_connection((HOST, running.port), timeout=TIMEOUT) as new:
                    new.sendall(_kvbin_get(b"k", 1))
                    assert _read_until_closed(new) == b""  # refused at detection
                root.execute_command(
                    "ACL", "SETUSER", "default", "on", "nopass", "+@all", "~*", "&*"
                )
                with socket.create_connection((HOST, running.port), timeout=TIMEOUT) as again:
                    again.sendall(_kvbin_get(b"k", 1))
                    assert again.recv(100) == not_found  # open to anyone again
        finally:
            root.close()


def test_config_set_requirepass_guards_every_format(tmp_path: Path) -> None:
    """CONFIG SET requirepass sets user ``default``'s only password, as Redis 7.0 does: new
    redis-py and pymemcache clients must authenticate, a kvbin client (which cannot) is
    closed and refused, and ``requirepass ""`` opens the port again."""
    not_found = b"\xc0KV\x01" + struct.pack(">II", 1, 0)
    with serve(tmp_path / "server.log", formats=("resp", "memcache-text", "kvbin")) as running:
        with socket.create_connection((HOST, running.port), timeout=TIMEOUT) as open_kvbin:
            open_kvbin.sendall(_kvbin_get(b"k", 1))
            assert open_kvbin.recv(100) == not_found
            with redis.Redis(host=HOST, port=running.port) as setter:
                assert setter.config_set("requirepass", "s3cret")
                assert setter.config_get("requirepass") == {"requirepass": "s3cret"}
                assert setter.ping()  # already authenticated, as on Redis
            assert _read_until_closed(open_kvbin) == b""
        with (
            redis.Redis(host=HOST, port=running.port, retry=NO_RETRY) as stranger,
            pytest.raises(redis.AuthenticationError),
        ):
            stranger.get("k")
        cache = Client((HOST, running.port), timeout=TIMEOUT)
        try:
            with pytest.raises(MemcacheClientError):
                cache.get("k")
        finally:
            cache.close()
        with redis.Redis(host=HOST, port=running.port, password="s3cret") as owner:
            assert owner.set("k", "v")
            assert owner.config_set("requirepass", "")
        with redis.Redis(host=HOST, port=running.port) as anyone:
            assert anyone.get("k") == b"v"
        with socket.create_connection((HOST, running.port), timeout=TIMEOUT) as kvbin:
            kvbin.sendall(_kvbin_get(b"k", 1))
            assert kvbin.recv(100) != b""
