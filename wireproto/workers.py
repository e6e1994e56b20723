"""``wireproto serve --workers N``: N server processes sharing one port.

The supervisor reserves the port (a socket bound with ``SO_REUSEPORT``, never
listening, so the kernel gives it no connections), starts N worker processes
that each listen on it with ``SO_REUSEPORT`` (the kernel spreads new
connections over them), restarts a worker that dies, and forwards SIGTERM
and SIGINT to the workers, which close gracefully. Nothing is shared between
workers: each has its own providers, so in-memory state is per worker.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

__all__ = ["reuse_port_available", "supervise"]

_log = logging.getLogger("wireproto.workers")

_START_TIMEOUT = 30.0
_POLL_INTERVAL = 0.05
_MAX_BACKOFF = 30.0
_STABLE_AFTER = 10.0  # a worker that ran this long before dying restarts at once


def reuse_port_available() -> bool:
    """Whether this OS lets several sockets listen on one port (``SO_REUSEPORT``)."""
    return hasattr(socket, "SO_REUSEPORT")


def _reserve_port(host: str, port: int) -> socket.socket:
    family, kind, proto, _name, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


class _Worker:
    def __init__(self, index: int, command: list[str], capture: bool) -> None:
        self.index = index
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        _log.info("event=worker.start worker=%d pid=%d", index, self.process.pid)

    def read_start_line(self, deadline: float) -> str | None:
        """The worker's "wireproto serving ..." line, or None if it died or took too long."""
        stream = self.process.stdout
        assert stream is not None
        line = b""
        with selectors.DefaultSelector() as selector:
            selector.register(stream, selectors.EVENT_READ)
            while not line.endswith(b"\n"):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    return None
                chunk = os.read(stream.fileno(), 1)
                if not chunk:
                    return None
                line += chunk
        return line.decode(errors="replace").rstrip("\n")

    def close_pipe(self) -> None:
        if self.process.stdout is not None:
            self.process.stdout.close()


def supervise(
    worker_argv: Sequence[str],
    *,
    workers: int,
    host: str,
    port: int,
    shutdown_timeout: float,
) -> int:
    """Run ``workers`` copies of ``wireproto serve worker_argv`` on one port until a signal.

    ``worker_argv`` are the ``serve`` options; the port, ``--workers 1`` and
    ``--reuse-port`` are appended. Returns the exit status.
    """
    if not reuse_port_available():
        _log.error("--workers needs SO_REUSEPORT, which this OS does not have")
        return 2
    try:
        reserved = _reserve_port(host, port)
    except OSError as exc:
        _log.error("cannot listen: %s", exc)
        return 1
    with reserved:
        port = reserved.getsockname()[1]
        command = [
            sys.executable,
            *("-m", "wireproto", "serve"),
            *worker_argv,
            *("--port", str(port), "--workers", "1", "--reuse-port"),
        ]
        return _Supervisor(command, workers, shutdown_timeout).run()


class _Supervisor:
    def __init__(self, command: list[str], count: int, shutdown_timeout: float) -> None:
        self._command = command
        self._count = count
        self._shutdown_timeout = shutdown_timeout
        self._workers: list[_Worker] = []
        self._stop_signal: int | None = None
        self._crashes = [0] * count

    def run(self) -> int:
        previous = {
            signum: signal.signal(signum, self._on_signal)
            for signum in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            if not self._start_all():
                self._stop_all(signal.SIGTERM)
                return 1
            while self._stop_signal is None:
                self._restart_dead()
                time.sleep(_POLL_INTERVAL)
            return self._stop_all(signal.SIGTERM)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            for worker in self._workers:
                worker.close_pipe()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop_signal = signum

    def _start_all(self) -> bool:
        deadline = time.monotonic() + _START_TIMEOUT
        self._workers = [_Worker(index, self._command, True) for index in range(self._count)]
        lines = [worker.read_start_line(deadline) for worker in self._workers]
        if any(line is None for line in lines):
            _log.error("event=workers.failed reason=a worker did not start")
            return False
        first = lines[0]
        assert first is not None
        print(f"{first} with {self._count} workers", flush=True)
        return True

    def _restart_dead(self) -> None:
        for index, worker in enumerate(self._workers):
            code = worker.process.poll()
            if code is None:
                continue
            lived = time.monotonic() - worker.started
            self._crashes[index] = 0 if lived >= _STABLE_AFTER else self._crashes[index] + 1
            delay = (
                min(_MAX_BACKOFF, 0.1 * 2 ** self._crashes[index]) if self._crashes[index] else 0
            )
            _log.warning(
                "event=worker.exit worker=%d pid=%d code=%d restart_in=%.1f",
                index,
                worker.process.pid,
                code,
                delay,
            )
            worker.close_pipe()
            end = time.monotonic() + delay
            while self._stop_signal is None and time.monotonic() < end:
                time.sleep(_POLL_INTERVAL)
            if self._stop_signal is not None:
                return
            self._workers[index] = _Worker(index, self._command, False)

    def _stop_all(self, signum: int) -> int:
        _log.info("event=workers.stop signal=%d workers=%d", signum, len(self._workers))
        for worker in self._workers:
            if worker.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(signum)
        deadline = time.monotonic() + self._shutdown_timeout + 5.0
        status = 0
        for worker in self._workers:
            try:
                code = worker.process.wait(max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                _log.error("event=worker.kill pid=%d reason=shutdown timeout", worker.process.pid)
                worker.process.kill()
                code = worker.process.wait()
            # -signum: a worker still starting, killed before it had handlers (or clients).
            if code not in (0, -signum):
                _log.error("event=worker.exit pid=%d code=%d", worker.process.pid, code)
                status = 1
        return status
