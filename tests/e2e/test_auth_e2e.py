"""Authentication end to end: ``wireproto serve --password`` over loopback, real clients, and
the memcached replies compared with a real memcached 1.6 (``-Y authfile`` for the text token,
``-S`` with a sasldb for binary SASL PLAIN).

Clients: redis-py (RESP AUTH), pymemcache (the text protocol; it speaks no SASL, so its
``set`` carries the ``username password`` token as memcached's documentation says),
libmemcached's ``memccp`` / ``memccat`` with ``--binary --username --password`` (SASL
PLAIN through cyrus-sasl), and raw sockets.
"""

from __future__ import annotations

import datetime
import os
import socket
import ssl
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from _serve import HOST, RunningServer, daemon, first_reply, serve, tool
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheClientError
from test_auth import BINARY_CASES, TEXT_CASES
from wireproto.providers import kvbin

PASSWORD = "s3cret"
SOCKET_TIMEOUT = 5.0
QUIET_WAIT = 0.3  # how long a reply that should not come is waited for
FORMATS = ("resp", "memcache-text", "memcache-binary", "kvbin")
HEADER = struct.Struct(">BBHBBHIIQ")
AUTH_ERROR = b"\x00\x20"


def request(opcode: int, key: bytes = b"", value: bytes = b"", extras: bytes = b"") -> bytes:
    body = extras + key + value
    return HEADER.pack(0x80, opcode, len(key), len(extras), 0, 0, len(body), 0, 0) + body


def read_exactly(sock: socket.socket, size: int, timeout: float = SOCKET_TIMEOUT) -> bytes:
    """Up to ``size`` bytes: fewer only if the peer closes or ``timeout`` passes."""
    received = b""
    deadline = time.monotonic() + timeout
    while len(received) < size:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            chunk = sock.recv(size - len(received))
        except TimeoutError:
            break
        if not chunk:
            break
        received += chunk
    return received


def closed_by_peer(sock: socket.socket) -> bool:
    """True once the peer closed: a read gives EOF (or a reset)."""
    sock.settimeout(SOCKET_TIMEOUT)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def exchange(port: int, steps: list[tuple[bytes, bytes]], closes: bool) -> list[bytes]:
    """Send each request, read as many bytes as its expected reply; the replies, then b"<EOF>"."""
    replies: list[bytes] = []
    with socket.create_connection((HOST, port), timeout=SOCKET_TIMEOUT) as sock:
        for data, expected in steps:
            sock.sendall(data)
            if expected:
                replies.append(read_exactly(sock, len(expected)))
            else:  # nothing may come: wait a little for it
                replies.append(read_exactly(sock, 1, QUIET_WAIT))
        if closes:
            replies.append(b"<EOF>" if closed_by_peer(sock) else b"<open>")
    return replies


def expected_replies(steps: list[tuple[bytes, bytes]], closes: bool) -> list[bytes]:
    return [reply for _, reply in steps] + ([b"<EOF>"] if closes else [])


# -- servers --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("wireproto-auth") / "server.log"
    with serve(log, "--password", PASSWORD, formats=FORMATS) as running:
        yield running


def memcached_command(binary: str, port: int) -> list[str]:
    """memcached 1.6 on 127.0.0.1:``port``, TCP only, one worker thread."""
    user = ["-u", "root"] if os.geteuid() == 0 else []  # memcached refuses to run as root
    return [binary, "-l", HOST, "-p", str(port), "-U", "0", "-t", "1", *user]


@pytest.fixture(scope="module")
def memcached_ascii_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real memcached with ``-Y``: an authfile holding ``default:s3cret``."""
    binary = tool("memcached")
    directory = tmp_path_factory.mktemp("memcached-ascii-auth")
    authfile = directory / "authfile"
    authfile.write_text(f"default:{PASSWORD}\n")

    def command(port: int) -> list[str]:
        return [*memcached_command(binary, port), "-Y", str(authfile)]

    def ready(port: int) -> bool:
        return first_reply(port, b"version\r\n", 64).startswith(b"CLIENT_ERROR")

    with daemon("memcached -Y", command, ready, directory / "log") as port:
        yield port


@pytest.fixture(scope="module")
def memcached_sasl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real memcached with ``-S``: cyrus-sasl PLAIN over a sasldb holding ``default``."""
    binary = tool("memcached")
    saslpasswd2 = tool("saslpasswd2")
    directory = tmp_path_factory.mktemp("memcached-sasl")
    sasldb = directory / "sasldb2"
    (directory / "memcached.conf").write_text(f"mech_list: plain\nsasldb_path: {sasldb}\n")
    subprocess.run(
        [saslpasswd2, "-a", "memcached", "-c", "-p", "-f", str(sasldb), "default"],
        input=PASSWORD.encode(),
        check=True,
        timeout=30,
    )
    os.environ["SASL_CONF_PATH"] = str(directory)  # read by the memcached started below

    def command(port: int) -> list[str]:
        return [*memcached_command(binary, port), "-S"]

    def ready(port: int) -> bool:
        return first_reply(port, request(0x0B), 64).startswith(b"\x81\x0b")

    try:
        with daemon("memcached -S", command, ready, directory / "log") as port:
            yield port
    finally:
        del os.environ["SASL_CONF_PATH"]


# -- nothing is open ---------------------------------------------------------------------------


def test_unauthenticated_clients_of_every_format_cannot_touch_the_data(
    server: RunningServer,
) -> None:
    owner = redis.Redis(host=HOST, port=server.port, password=PASSWORD)
    try:
        owner.flushall()
        assert owner.set("secret", "TOPSECRET")
        # memcached text: every command, reads, writes, deletes and flushes
        steps = [
            (b"get secret\r\n", b"CLIENT_ERROR unauthenticated\r\n"),
            (b"gets secret\r\n", b"CLIENT_ERROR unauthenticated\r\n"),
            (b"mg secret v\r\n", b"CLIENT_ERROR unauthenticated\r\n"),
            (b"set secret 0 0 5\r\npwned\r\n", b"CLIENT_ERROR bad authentication token format\r\n"),
            (b"append secret 0 0 1\r\n", b"CLIENT_ERROR unauthenticated\r\n"),
            (b"x\r\n", b"CLIENT_ERROR unauthenticated\r\n"),
            (b"ms secret 1\r\n", b"CLIENT_ERROR unauthenticated\r\n"),
            (b"delete secret\r\n", b"CLIENT_ERROR unauthenticated\r\n"),
            (b"md secret\r\n", b"CLIENT_ERROR unauthenticated\r\n"),
            (b"incr secret 1\r\n", b"CLIENT_ERROR unauthenticated\r\n"),
            (b"flush_all\r\n", b"CLIENT_ERROR unauthenticated\r\n"),
        ]
        assert exchange(server.port, steps, False) == expected_replies(steps, False)
        client = Client((HOST, server.port), timeout=SOCKET_TIMEOUT)
        try:
            for attempt in (
                lambda: client.get("secret"),
                lambda: client.delete("secret", noreply=False),
                lambda: client.flush_all(noreply=False),
            ):
                with pytest.raises(MemcacheClientError, match="unauthenticated"):
                    attempt()
        finally:
            client.close()
        # memcached binary: each request gets "Auth failure." and the connection closes
        for opcode, extras in (
            (0x00, b""),  # get
            (0x01, b"\0" * 8),  # set
            (0x04, b""),  # delete
            (0x0E, b""),  # append
            (0x05, b"\0" * 20),  # incr
        ):
            value = b"pwned" if opcode in (0x01, 0x0E) else b""
            with socket.create_connection((HOST, server.port), timeout=SOCKET_TIMEOUT) as sock:
                sock.sendall(request(opcode, b"secret", value, extras))
                reply = read_exactly(sock, 24 + 13)
                assert reply[1] == opcode and reply[6:8] == AUTH_ERROR, reply
                assert reply[24:] == b"Auth failure."
                assert closed_by_peer(sock)
        with socket.create_connection((HOST, server.port), timeout=SOCKET_TIMEOUT) as sock:
            sock.sendall(request(0x08))  # flush
            assert read_exactly(sock, 24 + 13)[6:8] == AUTH_ERROR
        # kvbin: refused at detection, not a byte answered
        for opcode in (kvbin.Opcode.GET, kvbin.Opcode.SET, kvbin.Opcode.DELETE):
            with socket.create_connection((HOST, server.port), timeout=SOCKET_TIMEOUT) as sock:
                sock.sendall(kvbin.build_request(opcode, b"secret", b"pwned"))
                assert closed_by_peer(sock)
        assert owner.get("secret") == b"TOPSECRET"
        assert owner.dbsize() == 1
        info = owner.info("wireproto")
        assert info["rejected_auth_required"] >= 3
    finally:
        owner.close()


def test_the_refusal_is_logged(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with (
        serve(log, "--password", PASSWORD, formats=FORMATS) as running,
        socket.create_connection((HOST, running.port), timeout=SOCKET_TIMEOUT) as sock,
    ):
        sock.sendall(kvbin.build_request(kvbin.Opcode.GET, b"k"))
        assert closed_by_peer(sock)
    lines = [line for line in log.read_text().splitlines() if "reason=auth-required" in line]
    assert len(lines) == 1, lines
    assert " WARNING " in lines[0]
    assert lines[0].endswith(" format=kvbin cannot authenticate"), lines[0]


# -- real clients authenticate -----------------------------------------------------------------


def test_pymemcache_authenticates_with_the_text_token(server: RunningServer) -> None:
    owner = redis.Redis(host=HOST, port=server.port, password=PASSWORD)
    client = Client((HOST, server.port), timeout=SOCKET_TIMEOUT)
    try:
        owner.set("shared", "from-redis")
        assert client.set("any-key", f"default {PASSWORD}", noreply=False) is True
        assert client.get("shared") == b"from-redis"
        assert client.set("shared", "from-memcached", noreply=False) is True
        assert owner.get("shared") == b"from-memcached"
    finally:
        client.close()
        owner.close()
    wrong = Client((HOST, server.port), timeout=SOCKET_TIMEOUT)
    try:
        with pytest.raises(MemcacheClientError, match="authentication failure"):
            wrong.set("any-key", "default nope", noreply=False)
        with pytest.raises(MemcacheClientError, match="unauthenticated"):
            wrong.get("shared")
    finally:
        wrong.close()


def libmemcached(
    name: str, port: int, *options: str, cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool(f"memc{name}", f"mem{name}"), f"--servers={HOST}:{port}", *options],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


@pytest.mark.parametrize("target", ["wireproto", "memcached"])
def test_libmemcached_sasl_plain(
    target: str, server: RunningServer, memcached_sasl: int, tmp_path: Path
) -> None:
    port = server.port if target == "wireproto" else memcached_sasl
    (tmp_path / "sasl-file").write_text("copied over SASL")
    good = ("--binary", "--username=default", f"--password={PASSWORD}")
    copied = libmemcached("cp", port, *good, "sasl-file", cwd=tmp_path)
    assert copied.returncode == 0, copied.stderr
    read = libmemcached("cat", port, *good, "sasl-file", cwd=tmp_path)
    assert (read.returncode, read.stdout) == (0, "copied over SASL\n"), read.stderr
    for options in (("--binary", "--username=default", "--password=nope"), ("--binary",)):
        refused = libmemcached("cat", port, *options, "sasl-file", cwd=tmp_path)
        assert (refused.returncode, refused.stdout) == (1, ""), refused.stderr
    wrong = libmemcached(
        "cat", port, "--binary", "--username=x", "--password=y", "sasl-file", cwd=tmp_path
    )
    assert "AUTHENTICATION FAILURE" in wrong.stderr


def test_sasl_plain_with_a_raw_socket(server: RunningServer) -> None:
    owner = redis.Redis(host=HOST, port=server.port, password=PASSWORD)
    try:
        owner.set("raw", "v")
        with socket.create_connection((HOST, server.port), timeout=SOCKET_TIMEOUT) as sock:
            sock.sendall(request(0x20))
            assert read_exactly(sock, 24 + 5)[24:] == b"PLAIN"
            sock.sendall(request(0x21, b"PLAIN", b"\0default\0" + PASSWORD.encode()))
            assert read_exactly(sock, 24 + 13)[24:] == b"Authenticated"
            sock.sendall(request(0x0C, b"raw"))  # getk
            reply = read_exactly(sock, 24 + 4 + 3 + 1)
            assert reply[6:8] == b"\0\0" and reply.endswith(b"rawv")
    finally:
        owner.close()


# -- inside TLS --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory = tmp_path_factory.mktemp("auth-tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    options = ("--password", PASSWORD, "--tls-cert", str(cert_file), "--tls-key", str(key_file))
    with serve(directory / "server.log", *options, "--tls-required", formats=FORMATS) as running:
        yield running


def tls_socket(port: int) -> ssl.SSLSocket:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    sock = socket.create_connection((HOST, port), timeout=SOCKET_TIMEOUT)
    return context.wrap_socket(sock, server_hostname="localhost")


def tls_closed(sock: ssl.SSLSocket) -> bool:
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, ssl.SSLError):
        return True


def test_inside_tls_the_same_rules_hold(tls_server: RunningServer) -> None:
    owner = redis.Redis(
        host=HOST, port=tls_server.port, password=PASSWORD, ssl=True, ssl_cert_reqs="none"
    )
    try:
        owner.set("secret", "TOPSECRET")
        with tls_socket(tls_server.port) as sock:
            sock.sendall(b"get secret\r\nflush_all\r\n")
            replies = read_exactly(sock, 2 * len(b"CLIENT_ERROR unauthenticated\r\n"))
            assert replies == b"CLIENT_ERROR unauthenticated\r\n" * 2
        with tls_socket(tls_server.port) as sock:
            sock.sendall(request(0x08))
            assert read_exactly(sock, 24 + 13)[6:8] == AUTH_ERROR
            assert tls_closed(sock)
        with tls_socket(tls_server.port) as sock:
            sock.sendall(kvbin.build_request(kvbin.Opcode.DELETE, b"secret"))
            assert tls_closed(sock)
        with tls_socket(tls_server.port) as sock:
            sock.sendall(request(0x21, b"PLAIN", b"\0default\0" + PASSWORD.encode()))
            assert read_exactly(sock, 24 + 13)[24:] == b"Authenticated"
            sock.sendall(request(0x0C, b"secret"))  # getk
            assert read_exactly(sock, 24 + 4 + 6 + 9).endswith(b"secretTOPSECRET")
        assert owner.get("secret") == b"TOPSECRET"
    finally:
        owner.close()


# -- the replies are memcached's -----------------------------------------------------------------


def empty(port: int) -> None:
    """Empty wireproto's store (a case that looks a key up expects it missing)."""
    with redis.Redis(host=HOST, port=port, password=PASSWORD) as owner:
        owner.flushall()


@pytest.mark.parametrize("name", list(TEXT_CASES))
@pytest.mark.parametrize("target", ["wireproto", "memcached"])
def test_text_replies_match_memcached(
    name: str, target: str, server: RunningServer, memcached_ascii_auth: int
) -> None:
    steps, closes = TEXT_CASES[name]
    port = server.port if target == "wireproto" else memcached_ascii_auth
    empty(server.port)
    assert exchange(port, steps, closes) == expected_replies(steps, closes)


@pytest.mark.parametrize("name", list(BINARY_CASES))
@pytest.mark.parametrize("target", ["wireproto", "memcached"])
def test_binary_replies_match_memcached(
    name: str, target: str, server: RunningServer, memcached_sasl: int
) -> None:
    requests, expected, closes = BINARY_CASES[name]
    port = server.port if target == "wireproto" else memcached_sasl
    empty(server.port)
    assert exchange(port, [(requests, expected)], closes) == expected_replies(
        [(requests, expected)], closes
    )
