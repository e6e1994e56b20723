"""The command line as a subprocess: signals, TLS and PROXY options, ``--workers``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import ssl
import sys
from pathlib import Path

import pytest
from _lines import ROOT, TIMEOUT, close, connect_to, in_loop, read_to_eof
from _tls import client_context
from wireproto.providers.kvbin import Opcode, build_request

from wireproto._proxy import (
    build_proxy_v2,
)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_cli_serves_until_a_signal(loop: str, signum: signal.Signals) -> None:
    async def scenario() -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-P", "-m", "wireproto", "serve", "--port", "0", "--loop", loop),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert process.stdout is not None
            start = await asyncio.wait_for(process.stdout.readline(), TIMEOUT)
            match = re.fullmatch(rb"wireproto serving .+ on 127\.0\.0\.1:(\d+)\n", start)
            assert match, start
            port = int(match[1])
            assert port != 0
            client = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
            process.send_signal(signum)
            assert await read_to_eof(client) == b""  # closed by the shutdown, with a FIN
            await close(client)
            out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
            assert process.returncode == 0, err
            assert out == b"wireproto stopped\n"
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

    in_loop(scenario)


# -- the command line: TLS options and --workers ---------------------------------------


async def _start_cli(*args: str) -> tuple[asyncio.subprocess.Process, int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-P", "-m", "wireproto", "serve", "--port", "0", *args),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), TIMEOUT)).decode()
    match = re.fullmatch(r"wireproto serving .+ on 127\.0\.0\.1:(\d+)( with \d+ workers)?\n", line)
    if match is None:
        process.kill()
        await process.wait()
        raise AssertionError(line)
    return process, int(match[1]), line


async def _kvbin_echo(port: int, payload: bytes, context: ssl.SSLContext | None = None) -> bytes:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname="localhost" if context else None
        ),
        TIMEOUT,
    )
    try:
        writer.write(build_request(Opcode.ECHO, b"", payload, 1))
        reply = await asyncio.wait_for(reader.readexactly(12 + len(payload)), TIMEOUT)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await asyncio.wait_for(writer.wait_closed(), TIMEOUT)
    return reply[12:]


def test_cli_serves_tls_and_plain(tls_files: dict[str, Path]) -> None:
    async def scenario() -> None:
        process, port, _line = await _start_cli(
            *("--tls-cert", str(tls_files["cert"]), "--tls-key", str(tls_files["key"])),
            *("--idle-timeout", "30", "--max-connections", "50", "--max-receive-memory", "64m"),
        )
        try:
            assert await _kvbin_echo(port, b"secure", client_context(tls_files)) == b"secure"
            assert await _kvbin_echo(port, b"plain") == b"plain"
            process.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
            assert process.returncode == 0, err
            assert out == b"wireproto stopped\n"
            assert b"event=server.start" in err and b"tls=on" in err
            assert b"event=server.stop" in err
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

    in_loop(scenario)


def test_cli_serves_a_proxy_header_then_required_tls(tls_files: dict[str, Path]) -> None:
    async def scenario() -> None:
        process, port, _line = await _start_cli(
            *("--tls-cert", str(tls_files["cert"]), "--tls-key", str(tls_files["key"])),
            *("--tls-required", "--proxy-protocol-from", "127.0.0.0/8"),
        )
        try:
            reader, writer = await connect_to(port)
            writer.write(build_proxy_v2(("203.0.113.7", 4000), ("127.0.0.1", port)))
            await writer.start_tls(client_context(tls_files), server_hostname="localhost")
            writer.write(build_request(Opcode.ECHO, b"", b"proxied", 1))
            reply = await asyncio.wait_for(reader.readexactly(12 + 7), TIMEOUT)
            assert reply[12:] == b"proxied"
            writer.close()
            plain = await connect_to(port)  # neither a PROXY header nor TLS: refused
            plain[1].write(build_request(Opcode.ECHO, b"", b"plain", 1))
            assert await asyncio.wait_for(plain[0].read(), TIMEOUT) == b""
            plain[1].close()
            process.send_signal(signal.SIGTERM)
            _out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
            assert process.returncode == 0, err
            assert b"tls=required proxy=on" in err
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

    in_loop(scenario)


def test_cli_workers_share_the_port_and_a_dead_worker_is_restarted() -> None:
    async def scenario() -> None:
        process, port, line = await _start_cli("--workers", "2", "--log-level", "info")
        assert line.endswith(" with 2 workers\n")
        assert process.stderr is not None
        started: list[tuple[int, int]] = []
        changed = asyncio.Event()

        async def read_log() -> None:
            assert process.stderr is not None
            async for raw in process.stderr:
                match = re.search(rb"event=worker\.start worker=(\d+) pid=(\d+)", raw)
                if match:
                    started.append((int(match[1]), int(match[2])))
                    changed.set()

        logger = asyncio.create_task(read_log())
        try:
            async with asyncio.timeout(TIMEOUT):
                while len(started) < 2:
                    changed.clear()
                    await changed.wait()
            for index in range(10):
                assert await _kvbin_echo(port, b"%d" % index) == b"%d" % index
            _worker, victim = started[0]
            os.kill(victim, signal.SIGKILL)
            async with asyncio.timeout(TIMEOUT):
                while len(started) < 3:
                    changed.clear()
                    await changed.wait()
            assert started[2][0] == started[0][0] and started[2][1] != victim
            for index in range(10):  # the port keeps being served
                assert await _kvbin_echo(port, b"again %d" % index) == b"again %d" % index
            process.send_signal(signal.SIGTERM)
            assert process.stdout is not None
            rest = await asyncio.wait_for(process.stdout.read(), TIMEOUT)
            assert await asyncio.wait_for(process.wait(), TIMEOUT) == 0
            assert rest == b"wireproto stopped\n"
            for _index, pid in started[1:]:
                with pytest.raises(ProcessLookupError):
                    os.kill(pid, 0)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            await asyncio.wait_for(logger, TIMEOUT)

    in_loop(scenario)
