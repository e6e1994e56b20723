"""``wireproto serve --workers N``: installed code only, death with the supervisor, a held port.

Each test starts a real supervisor (``python -P -m wireproto``, so the
supervisor itself runs the installed package) and talks to it over
loopback; every process is stopped by its pid, every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _serve import HOST, STOP_TIMEOUT, first_reply, read_line, stop

from wireproto import _workers as workers

START_TIMEOUT = 30.0
ORPHAN = [sys.executable, "-P", "-m", "wireproto", "serve"]
WORKER_START = re.compile(r"event=worker\.start worker=(\d+) pid=(\d+)")

HOSTILE_INIT = """\
import os, pathlib
pathlib.Path(os.environ["HOSTILE_MARKER"]).write_text(str(os.getpid()))
"""
HOSTILE_MAIN = """\
import sys
print("wireproto serving hostile on 127.0.0.1:1", flush=True)
sys.exit(3)
"""


def _supervisor(
    cwd: Path, log: Path, *options: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-P", "-m", "wireproto", "serve", "--host", HOST, *options]
    with log.open("wb") as err:
        return subprocess.Popen(
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            env={**os.environ, **(env or {})},
        )


def _started_line(process: subprocess.Popen[bytes], log: Path) -> re.Match[str]:
    line = read_line(process, START_TIMEOUT).decode(errors="replace")
    match = re.fullmatch(r"wireproto serving (.+) on 127\.0\.0\.1:(\d+) with (\d+) workers\n", line)
    assert match, f"start line {line!r}; log:\n{log.read_text()}"
    return match


def _worker_pids(log: Path) -> list[int]:
    return [int(match[2]) for match in WORKER_START.finditer(log.read_text())]


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its new parent to reap it does not)."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # pragma: no cover - no /proc
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return status.rsplit(")", 1)[1].split()[0] != "Z"


def _port_free(port: int) -> bool:
    """Whether nothing listens on ``port`` (the supervisor's own probe)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def _running(
    cwd: Path, log: Path, *options: str, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    process = _supervisor(cwd, log, "--log-level", "info", *options, env=env)
    pids: list[int] = []
    try:
        match = _started_line(process, log)
        pids = _worker_pids(log)
        yield process, int(match[2])
    finally:
        stop(process)
        if process.stdout is not None:
            process.stdout.close()
        pids += _worker_pids(log)
        for pid in set(pids):  # never leave a worker behind, whatever the test did
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def test_workers_run_the_installed_package_not_the_cwd(tmp_path: Path) -> None:
    hostile = tmp_path / "wireproto"
    hostile.mkdir()
    (hostile / "__init__.py").write_text(HOSTILE_INIT)
    (hostile / "__main__.py").write_text(HOSTILE_MAIN)
    marker = tmp_path / "marker"
    log = tmp_path / "log"
    env = {"HOSTILE_MARKER": str(marker)}
    with _running(tmp_path, log, "--port", "0", "--workers", "2", env=env) as (_process, port):
        assert first_reply(port, b"PING\r\n", 16) == b"+PONG\r\n"
        assert len(_worker_pids(log)) == 2
        for pid in _worker_pids(log):  # each in its own process group, not the supervisor's
            assert os.getpgid(pid) == pid
    assert not marker.exists(), "a worker imported wireproto/ from the current directory"
    # The hostile package is importable from there: the marker proves the check can fail.
    subprocess.run(
        [sys.executable, "-c", "import wireproto"],
        cwd=tmp_path,
        env={**os.environ, **env},
        check=True,
        timeout=STOP_TIMEOUT,
    )
    assert marker.exists()


def test_workers_die_with_a_killed_supervisor(tmp_path: Path) -> None:
    log = tmp_path / "log"
    with _running(tmp_path, log, "--port", "0", "--workers", "2") as (process, port):
        pids = _worker_pids(log)
        assert len(pids) == 2
        assert first_reply(port, b"PING\r\n", 16) == b"+PONG\r\n"
        assert not _port_free(port)
        process.kill()
        process.wait(STOP_TIMEOUT)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and (
            any(_alive(pid) for pid in pids) or not _port_free(port)
        ):
            time.sleep(0.02)
        assert not any(_alive(pid) for pid in pids), log.read_text()
        assert _port_free(port)
        assert first_reply(port, b"PING\r\n", 16) == b""


@pytest.mark.parametrize("holder", ["orphaned-worker", "plain-listener"])
def test_a_second_supervisor_on_a_held_port_fails_clearly(tmp_path: Path, holder: str) -> None:
    # An orphan as a supervisor that died before this change left it: a worker
    # started by hand (no supervisor to watch), listening with SO_REUSEPORT.
    if holder == "orphaned-worker":
        orphan_log = tmp_path / "orphan.log"
        with orphan_log.open("wb") as err:
            orphan = subprocess.Popen(
                [*ORPHAN, "--host", HOST, "--port", "0", "--reuse-port"],
                cwd=tmp_path,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
            )
        try:
            line = read_line(orphan, START_TIMEOUT).decode()
            match = re.fullmatch(r"wireproto serving .+ on 127\.0\.0\.1:(\d+)\n", line)
            assert match, line
            port = int(match[1])
            _second_supervisor_fails(tmp_path, port)
            assert first_reply(port, b"PING\r\n", 16) == b"+PONG\r\n"  # the holder is untouched
        finally:
            stop(orphan)
            if orphan.stdout is not None:
                orphan.stdout.close()
    else:
        with socket.socket() as listener:
            listener.bind((HOST, 0))
            listener.listen()
            _second_supervisor_fails(tmp_path, listener.getsockname()[1])


def _second_supervisor_fails(tmp_path: Path, port: int) -> None:
    log = tmp_path / "second.log"
    second = _supervisor(tmp_path, log, "--port", str(port), "--workers", "2")
    try:
        assert second.wait(START_TIMEOUT) == 1
    finally:
        stop(second)
        if second.stdout is not None:
            assert second.stdout.read() == b""
            second.stdout.close()
    text = log.read_text()
    assert f"port {port} is already in use" in text, text
    assert "event=worker.start" not in text


def test_a_free_port_is_still_served(tmp_path: Path) -> None:
    """The probe does not refuse a port that nothing listens on (max: it was just freed)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]
    log = tmp_path / "log"
    with _running(tmp_path, log, "--port", str(port), "--workers", "2") as (_process, served):
        assert served == port
        assert first_reply(port, b"PING\r\n", 16) == b"+PONG\r\n"


def test_watch_supervisor_outside_a_worker_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(workers.SUPERVISOR_ENV, raising=False)
    stopped: list[bool] = []
    assert not workers.watch_supervisor(None, lambda: stopped.append(True))  # type: ignore[arg-type]
    assert stopped == []


def test_watch_supervisor_stops_on_eof_of_the_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    """The portable fallback alone: EOF on the pipe stops the worker."""
    read_end, write_end = os.pipe()
    monkeypatch.setenv(workers.SUPERVISOR_ENV, f"{os.getppid()}:{read_end}")
    monkeypatch.setattr(workers, "_set_parent_death_signal", lambda signum: False)

    async def scenario() -> bool:
        loop = asyncio.get_running_loop()
        stopped = asyncio.Event()
        assert workers.watch_supervisor(loop, stopped.set)
        assert workers.SUPERVISOR_ENV not in os.environ  # not passed on to grandchildren
        os.write(write_end, b"x")  # data is not EOF
        await asyncio.sleep(0.05)
        assert not stopped.is_set()
        os.close(write_end)
        await asyncio.wait_for(stopped.wait(), STOP_TIMEOUT)
        return True

    assert asyncio.run(scenario())
    with pytest.raises(OSError):
        os.fstat(read_end)  # the worker closed its end


def test_watch_supervisor_notices_a_supervisor_gone_before_the_watch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read_end, write_end = os.pipe()
    monkeypatch.setenv(workers.SUPERVISOR_ENV, f"{os.getppid() + 1_000_000}:{read_end}")
    monkeypatch.setattr(workers, "_set_parent_death_signal", lambda signum: False)
    stopped: list[bool] = []

    async def scenario() -> None:
        workers.watch_supervisor(asyncio.get_running_loop(), lambda: stopped.append(True))

    try:
        asyncio.run(scenario())
        assert stopped == [True]
    finally:
        os.close(write_end)
