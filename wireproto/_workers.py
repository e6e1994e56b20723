"""``wireproto serve --workers N``: N server processes sharing one port.

The supervisor reserves the port (a socket bound with ``SO_REUSEPORT``, never
listening, so the kernel gives it no connections), starts N worker processes
that each listen on it with ``SO_REUSEPORT`` (the kernel spreads new
connections over them), restarts a worker that dies, and forwards SIGTERM
and SIGINT to the workers, which close gracefully. Nothing is shared between
workers: each has its own providers, so in-memory state is per worker.

Workers run the installed package, never a ``wireproto/`` folder in the
current directory: they start as ``python -P -m wireproto`` (``-P``, Python
3.11: no unsafe path such as the working directory is put first on
``sys.path``; ``PYTHONPATH`` and site-packages are kept, as the supervisor
saw them, which ``-I`` would drop). Each worker is in its own process group,
so a terminal's Ctrl-C reaches the supervisor only, which forwards it.

A worker dies with its supervisor, even after ``kill -9``: on Linux the
kernel sends it SIGTERM when the supervisor exits (``prctl(PR_SET_PDEATHSIG)``
through ctypes); everywhere, it also watches the read end of a pipe whose only
write end the supervisor holds, and EOF on it means the supervisor is gone.
Either way the worker shuts down as on SIGTERM. A supervisor refuses to start
on a port where something already listens (orphaned workers from a
supervisor that died before this change, another server): without that
check, ``SO_REUSEPORT`` would let it share the port silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import errno
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from types import FrameType

__all__ = [
    "SUPERVISOR_ENV",
    "WORKER_INDEX_ENV",
    "reuse_port_available",
    "supervise",
    "watch_supervisor",
]

SUPERVISOR_ENV = "WIREPROTO_SUPERVISOR"
"""``<supervisor pid>:<fd>`` in a worker's environment: the pipe to watch for EOF."""
WORKER_INDEX_ENV = "WIREPROTO_WORKER"
"""A worker's number (0 to N-1) in its environment: ``--dir`` gives it ``DIR/worker-K``."""

_PR_SET_PDEATHSIG = 1

_log = logging.getLogger("wireproto.workers")

_START_TIMEOUT = 30.0
_POLL_INTERVAL = 0.05
_MAX_BACKOFF = 30.0
_STABLE_AFTER = 10.0  # a worker that ran this long before dying restarts at once


def reuse_port_available() -> bool:
    """Whether this OS lets several sockets listen on one port (``SO_REUSEPORT``)."""
    return hasattr(socket, "SO_REUSEPORT")


class PortInUse(OSError):
    """Something already listens on the port the supervisor was asked to serve."""


def _probe_port(family: int, kind: int, proto: int, address: tuple[object, ...]) -> None:
    """Raise :class:`PortInUse` when a socket listens on ``address``.

    The probe binds without ``SO_REUSEPORT`` (with ``SO_REUSEADDR``, so
    connections in TIME_WAIT do not count): on Linux that fails exactly when
    a socket listens there, including ``SO_REUSEPORT`` listeners of the same
    user that the supervisor's own bind would silently join.
    """
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise PortInUse(
                errno.EADDRINUSE,
                f"port {address[1]} is already in use (another server, or the workers of a "
                "supervisor that died); stop them first",
            ) from exc


def _reserve_port(host: str, port: int) -> socket.socket:
    family, kind, proto, _name, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    if port:
        _probe_port(family, kind, proto, address)
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def _set_parent_death_signal(signum: int) -> bool:
    """Linux: have the kernel send ``signum`` to this process when its parent exits."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def watch_supervisor(loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> bool:
    """In a worker: call ``stop`` once the supervisor is gone; False outside a worker.

    Sets the parent-death signal (SIGTERM, which the caller handles as a
    graceful stop), then watches the supervisor's pipe for EOF; a supervisor
    that died before the watch was set up is noticed through ``getppid()``.
    """
    value = os.environ.pop(SUPERVISOR_ENV, None)
    if value is None:
        return False
    supervisor, _, fd_text = value.partition(":")
    fd = int(fd_text)
    _set_parent_death_signal(signal.SIGTERM)

    def gone() -> None:
        loop.remove_reader(fd)
        os.close(fd)
        _log.warning("event=worker.orphaned reason=the supervisor is gone")
        stop()

    def readable() -> None:
        try:
            data = os.read(fd, 64)
        except BlockingIOError:
            return
        if not data:
            gone()

    os.set_blocking(fd, False)
    loop.add_reader(fd, readable)
    if os.getppid() != int(supervisor):
        gone()
    return True


class _Worker:
    def __init__(self, index: int, command: list[str], capture: bool, watch_fd: int) -> None:
        self.index = index
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            pass_fds=(watch_fd,),
            env={
                **os.environ,
                SUPERVISOR_ENV: f"{os.getpid()}:{watch_fd}",
                WORKER_INDEX_ENV: str(index),
            },
            process_group=0,
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
    except PortInUse as exc:
        _log.error("cannot listen: %s", exc.strerror)
        return 1
    except OSError as exc:
        _log.error("cannot listen: %s", exc)
        return 1
    with reserved:
        port = reserved.getsockname()[1]
        command = [
            sys.executable,
            *("-P", "-m", "wireproto", "serve"),  # -P: never a wireproto/ in the cwd
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
        # Workers watch the read end; EOF on it (this process gone) stops them.
        self._watch_fd, self._alive_fd = os.pipe()

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
            os.close(self._watch_fd)
            os.close(self._alive_fd)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop_signal = signum

    def _start_all(self) -> bool:
        deadline = time.monotonic() + _START_TIMEOUT
        self._workers = [
            _Worker(index, self._command, True, self._watch_fd) for index in range(self._count)
        ]
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
            self._workers[index] = _Worker(index, self._command, False, self._watch_fd)

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
