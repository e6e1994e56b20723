"""Amplification attacks over loopback: small requests that ask for large replies or holdings.

Each test starts ``wireproto serve`` (``tests/_serve.py``), attacks it from a
plain socket, and checks the server's peak RSS (``VmHWM`` in
``/proc/<pid>/status``), that the attacker was cut off and logged, and that a
bystander connected before the attack is still served.
"""

from __future__ import annotations

import re
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _drive import resp_command as cmd
from _serve import HOST, RunningServer, serve

MIB = 1 << 20
PEAK_LIMIT = 300 * MIB
"""The most the server may ever hold (VmHWM) under these attacks with a 64 MiB output limit."""
VALUE = b"v" * 100_000
BUFFER = 16 * 1024
"""A connection's first receive buffer, what an idle one is charged."""
TIMEOUT = 30.0


def status(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` memory field (``VmHWM``, ``VmRSS``) in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


def connect(port: int, *, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket()
    if rcvbuf is not None:  # before connect(), so the window stays small
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(TIMEOUT)
    sock.connect((HOST, port))
    return sock


def read_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


def cut_off(sock: socket.socket) -> int:
    """Read until the server closes (or resets) the connection; the bytes read."""
    received = 0
    deadline = time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline:
            chunk = sock.recv(1 << 20)
            if not chunk:
                return received
            received += len(chunk)
    except ConnectionResetError:
        return received
    raise AssertionError("the server did not close the connection")


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server sent its FIN or a reset (without waiting)."""
    if not select.select([sock], [], [], 0)[0]:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except ConnectionResetError:
        return True


def send_until_closed(sock: socket.socket, chunks: Iterator[bytes]) -> bool:
    """Send every chunk; False once the server has closed or reset the connection.

    A closed connection may go on reading (and dropping) what we send until its
    linger timeout, so its FIN is looked for after each chunk.
    """
    try:
        for chunk in chunks:
            sock.sendall(chunk)
            if closed_by_server(sock):
                return False
    except (BrokenPipeError, ConnectionResetError):
        return False
    return True


def resp_call(sock: socket.socket, *args: bytes | str, size: int) -> bytes:
    sock.sendall(cmd(*args))
    return read_exactly(sock, size)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[RunningServer, Path]]:
    log = tmp_path / "serve.log"
    with serve(
        log,
        "--log-level",
        "info",
        "--max-output-buffered",
        "64m",
        formats={"resp", "memcache-text"},
    ) as running:
        yield running, log


def bystander_is_served(port: int, bystander: socket.socket) -> None:
    expected = b"$%d\r\n%s\r\n" % (len(VALUE), VALUE)
    assert resp_call(bystander, "GET", "big", size=len(expected)) == expected
    assert resp_call(bystander, "PING", size=7) == b"+PONG\r\n"
    with connect(port) as fresh:
        assert resp_call(fresh, "PING", size=7) == b"+PONG\r\n"


def budget_used(sock: socket.socket) -> int:
    """The server's ``receive_memory`` (the memory budget's use), from INFO."""
    sock.sendall(cmd("INFO", "wireproto"))
    header = b""
    while not header.endswith(b"\r\n"):
        header += sock.recv(1)
    body = read_exactly(sock, int(header[1:-2]) + 2)
    match = re.search(rb"\r\nreceive_memory:(\d+)\r\n", body)
    assert match, body
    return int(match[1])


def only_the_bystander_is_charged(bystander: socket.socket) -> None:
    """Once the attackers are gone, the budget holds the bystander's first buffer only."""
    deadline = time.monotonic() + 5
    while (used := budget_used(bystander)) != BUFFER and time.monotonic() < deadline:
        time.sleep(0.05)
    assert used == BUFFER


def logged(log: Path, reason: str) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if f"reason={reason}" in log.read_text():
            return True
        time.sleep(0.05)
    return False


def test_mget_of_one_large_value_many_times(server: tuple[RunningServer, Path]) -> None:
    running, log = server
    port, pid = running.port, running.process.pid
    with connect(port) as bystander, connect(port) as attacker:
        assert resp_call(bystander, "SET", "big", VALUE, size=5) == b"+OK\r\n"
        request = cmd("MGET", *["big"] * 20_000)  # 180 KB asking for 2 GB
        assert len(request) < 200_000
        send_until_closed(attacker, iter([request]))
        assert cut_off(attacker) < 64 * MIB
        assert logged(log, "output-limit")
        bystander_is_served(port, bystander)
        only_the_bystander_is_charged(bystander)
    assert status(pid, "VmHWM") < PEAK_LIMIT


def test_memcached_multi_get_of_one_large_value(server: tuple[RunningServer, Path]) -> None:
    running, log = server
    port, pid = running.port, running.process.pid
    big = b"m" * 1_000_000
    with connect(port) as bystander, connect(port) as attacker:
        assert resp_call(bystander, "SET", "big", VALUE, size=5) == b"+OK\r\n"
        attacker.sendall(b"set mbig 0 0 %d\r\n%s\r\n" % (len(big), big))
        assert read_exactly(attacker, 8) == b"STORED\r\n"
        attacker.sendall(b"get" + b" mbig" * 1000 + b"\r\n")  # 5 KB asking for 1 GB
        assert cut_off(attacker) < 64 * MIB
        assert logged(log, "output-limit")
        bystander_is_served(port, bystander)
        only_the_bystander_is_charged(bystander)
    assert status(pid, "VmHWM") < PEAK_LIMIT


def test_a_pipelining_client_that_never_reads(server: tuple[RunningServer, Path]) -> None:
    running, log = server
    port, pid = running.port, running.process.pid
    with connect(port) as bystander, connect(port, rcvbuf=4096) as attacker:
        assert resp_call(bystander, "SET", "big", VALUE, size=5) == b"+OK\r\n"
        batch = cmd("GET", "big") * 1000  # 22 KB asking for 100 MB
        # Bounded: 200 batches ask for 20 GB; the server must have cut us off long before.
        closed = not send_until_closed(attacker, (batch for _ in range(200)))
        assert closed or cut_off(attacker) >= 0
        assert logged(log, "output-limit")
        bystander_is_served(port, bystander)
        only_the_bystander_is_charged(bystander)
    assert status(pid, "VmHWM") < PEAK_LIMIT


def test_unfinished_commands_stay_within_the_budget(tmp_path: Path) -> None:
    """Three connections send ``*100000`` then 1 MB bulks: held as arguments, in the budget."""
    log = tmp_path / "serve.log"
    budget = 64 * MIB
    bulk = b"$%d\r\n%s\r\n" % (MIB, b"a" * MIB)
    with serve(
        log, "--log-level", "info", "--max-receive-memory", "64m", formats={"resp"}
    ) as running:
        port, pid = running.port, running.process.pid
        with connect(port) as bystander:
            assert resp_call(bystander, "SET", "big", VALUE, size=5) == b"+OK\r\n"
            before = status(pid, "VmRSS")
            attackers = [connect(port) for _ in range(3)]
            try:
                for attacker in attackers:
                    attacker.sendall(b"*100000\r\n")
                open_ = list(attackers)
                for _ in range(700):  # bounded: each would hold 700 MB
                    for attacker in list(open_):
                        if not send_until_closed(attacker, iter([bulk])):
                            open_.remove(attacker)
                    if not open_:
                        break
                assert not open_, "an attacker was never cut off"
            finally:
                for attacker in attackers:
                    attacker.close()
            assert logged(log, "memory-limit")
            bystander_is_served(port, bystander)
            only_the_bystander_is_charged(bystander)
            # Given back, not only uncharged: nothing pins what the attackers held.
            kept = status(pid, "VmRSS") - before
            assert kept < 32 * MIB, f"{kept / MIB:.0f} MiB still held"
        growth = status(pid, "VmHWM") - before
        assert growth < budget + 64 * MIB, f"RSS grew {growth / MIB:.0f} MiB"
