"""Processes for the end-to-end tests: ``wireproto serve`` and the real servers it is compared with.

Everything listens on 127.0.0.1 and is stopped by its pid: SIGTERM, then
SIGKILL if it lingers.
"""

from __future__ import annotations

import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.backoff import NoBackoff
from redis.retry import Retry

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
START_LINE = re.compile(r"wireproto serving (.+) on 127\.0\.0\.1:(\d+)\n")
"""What ``wireproto serve`` prints once it listens: its formats and its address."""
NO_RETRY = Retry(NoBackoff(), 0)
"""``redis.Redis(retry=NO_RETRY)`` for a client whose error is the point (a refused login, a
killed server): redis-py 8 retries any ConnectionError, AuthenticationError included, 10 times
with backoff, seconds before the error the test waits for."""


def tool(*names: str) -> str:
    """The path of a Debian tool the tests need; a failure (never a skip) when it is missing."""
    for name in names:
        path = shutil.which(name)
        if path is not None:
            return path
    pytest.fail(f"{' / '.join(names)} is not installed: run .ci/install-debian-packages (as root)")


def read_line(process: subprocess.Popen[bytes], timeout: float) -> bytes:
    """The first line on the process's stdout, waiting at most ``timeout`` seconds."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    line = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                break
            byte = os.read(fd, 1)
            if not byte:
                break
            line += byte
    return line


def stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM this pid, SIGKILL it if it lingers; its exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)
    assert process.returncode is not None
    return process.returncode


@dataclass
class RunningServer:
    """A ``wireproto serve`` subprocess a test module started."""

    process: subprocess.Popen[bytes]
    port: int


def start(
    log: Path, *options: str, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``wireproto serve --host 127.0.0.1 --port 0 OPTIONS``, its stderr to ``log``.

    ``env`` is added to this process's environment.
    """
    command = [
        sys.executable,
        "-P",
        "-m",
        "wireproto",
        "serve",
        "--host",
        HOST,
        "--port",
        "0",
        *options,
    ]
    with log.open("wb") as err:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            cwd=REPO,
            env=None if env is None else {**os.environ, **env},
        )


@contextmanager
def serve(
    log: Path, *options: str, formats: Collection[str], env: Mapping[str, str] | None = None
) -> Iterator[RunningServer]:
    """:func:`start`, check the start line names ``formats``; on exit stop it, check its log."""
    process = start(log, *options, env=env)
    try:
        line = read_line(process, START_TIMEOUT).decode(errors="replace")
        match = START_LINE.fullmatch(line)
        assert match, f"start line {line!r}; log:\n{log.read_text()}"
        assert set(formats) <= set(match[1].split(", ")), line
        yield RunningServer(process, int(match[2]))
    finally:
        status = stop(process)
        assert process.stdout is not None
        rest = process.stdout.read()
        process.stdout.close()
    text = log.read_text()
    assert status == 0, f"exit status {status}; log:\n{text}"
    assert rest == b"wireproto stopped\n"
    # The shell logs an exception raised by a session as an ERROR: a provider bug a client hit.
    assert " ERROR " not in text, text
    assert "Traceback" not in text, text


def first_reply(port: int, request: bytes, size: int) -> bytes:
    """Up to ``size`` bytes the server on ``port`` answers to ``request``; b"" if it cannot."""
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as sock:
            sock.sendall(request)
            return sock.recv(size)
    except OSError:
        return b""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def daemon(
    name: str, command: Callable[[int], list[str]], ready: Callable[[int], bool], log: Path
) -> Iterator[int]:
    """Run ``command(port)`` on a free port until ``ready(port)``; yield the port, then stop it.

    Its output goes to ``log``. A server that does not start fails the test.
    """
    for _attempt in range(3):  # the probed port may be taken before the server binds it
        port = _free_port()
        with log.open("ab") as out:
            process = subprocess.Popen(
                command(port), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while process.poll() is None and time.monotonic() < deadline:
                if ready(port):
                    yield port
                    return
                time.sleep(0.05)
        finally:
            stop(process)
    pytest.fail(f"{name} did not start:\n{log.read_text()}")


@contextmanager
def redis_server(workdir: Path, *options: str) -> Iterator[int]:
    """A real ``redis-server`` (persistence off, 127.0.0.1 only), the oracle; yields its port.

    ``options`` are more command-line settings (``"--enable-debug-command", "yes"``)."""
    binary = tool("redis-server")

    def command(port: int) -> list[str]:
        return [
            binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
            "--dir", str(workdir), "--daemonize", "no", "--logfile", "", *options,
        ]  # fmt: skip

    def ready(port: int) -> bool:
        return first_reply(port, b"PING\r\n", 16) == b"+PONG\r\n"

    with daemon("redis-server", command, ready, workdir / "log") as port:
        yield port
