"""The texts a new user meets when something is wrong: each says what and where."""

from __future__ import annotations

import asyncio
import logging
import signal
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wireproto import Limits, NetworkSender, WireFormat, match_prefix
from wireproto._errors import exception_text
from wireproto._registry import Registry
from wireproto._server import Server
from wireproto.testing import Example, FuzzTarget, check_example
from wireproto.testing.errors import UnexpectedExceptionError

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 60


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    code = "from wireproto._cli import main; raise SystemExit(main())"
    return subprocess.run(
        [sys.executable, "-P", "-c", code, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("serve", "--port", "abc"), "argument --port: 'abc' is not a port number"),
        (("serve", "--detect-timeout", "x"), "'x' is not a number of seconds >= 0"),
        (("serve", "--workers", "two"), "argument --workers: 'two' is not a positive integer"),
        (("fuzz", "kvbin", "--seconds", "abc"), "'abc' is not a positive number of seconds"),
        (("fuzz", "kvbin", "--examples", "x"), "argument --examples: 'x' is not a positive"),
    ],
)
def test_a_bad_number_names_the_option_not_the_parser_function(
    args: tuple[str, ...], message: str
) -> None:
    done = _cli(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "invalid _" not in done.stderr


def test_a_missing_tls_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    done = _cli("serve", "--port", "0", "--tls-cert", str(missing))
    assert done.returncode == 2
    assert f"TLS: --tls-cert '{missing}': no such file" in done.stderr
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    done = _cli("serve", "--port", "0", "--tls-cert", str(garbage))
    assert done.returncode == 2
    assert f"cannot load the certificate chain from --tls-cert '{garbage}'" in done.stderr


def test_an_option_no_plugin_reads_is_refused() -> None:
    done = _cli("serve", "--port", "0", "--set", "resp.nosuch=1")
    assert done.returncode == 2
    assert "--set resp.nosuch=1: no installed plugin reads the option 'resp.nosuch'" in done.stderr
    assert "resp.password" in done.stderr  # the options the plugins do read


def test_an_unknown_fallback_format_is_refused() -> None:
    done = _cli("serve", "--port", "0", "--fallback-format", "nosuch")
    assert done.returncode == 2
    assert "--fallback-format nosuch: no such format is registered (registered: " in done.stderr


def test_the_registry_says_what_a_provider_lacks() -> None:
    class NoLimits:
        def create_session(self, wire_format: object, sender: object) -> object:
            return None

    with pytest.raises(TypeError) as caught:
        Registry().register(WireFormat("x", match_prefix(b"x")), NoLimits())  # type: ignore[arg-type]
    text = str(caught.value)
    assert "is not a SessionProvider: it has no limits (a SessionProvider has a `limits`" in text
    with pytest.raises(TypeError, match="it has no limits and no create_session"):
        Registry().register(WireFormat("x", match_prefix(b"x")), object())  # type: ignore[arg-type]


def test_fuzzing_a_factory_of_something_else_is_a_one_line_usage_error(tmp_path: Path) -> None:
    (tmp_path / "notprovider.py").write_text(
        textwrap.dedent(
            """
            class Half:
                def create_session(self, wire_format, sender):
                    return None

            def make():
                return Half()
            """
        )
    )
    done = _cli("fuzz", f"{tmp_path / 'notprovider.py'}:make", "--seconds=1", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "is not a SessionProvider: it has no limits" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


class _Unpacks:
    def __init__(self, sender: NetworkSender) -> None:
        self.sender = sender

    def try_consume(self, data: memoryview, /) -> int:
        struct.unpack_from(">I", data)
        return 4

    def close(self) -> None:
        pass


def test_exception_classes_are_named_with_their_module() -> None:
    try:
        struct.unpack_from(">I", b"")
    except struct.error as exc:
        assert exception_text(exc).startswith("struct.error: unpack_from requires")
    assert exception_text(ValueError("x")) == "ValueError: x"
    with pytest.raises(UnexpectedExceptionError, match=r"raised struct\.error: unpack_from"):
        check_example(FuzzTarget.from_consumer(_Unpacks), Example.whole(b"ab"))


class _Provider:
    limits = Limits()

    def __init__(self, fail_create: bool) -> None:
        self.fail_create = fail_create

    def create_session(self, wire_format: WireFormat, sender: NetworkSender) -> _Closes:
        if self.fail_create:
            raise RuntimeError("no backend")
        return _Closes()


class _Closes:
    def try_consume(self, data: memoryview, /) -> int:
        return len(data)

    def close(self) -> None:
        raise RuntimeError("close failed")


BRPC = WireFormat("brpc", match_prefix(b"B"))


async def _one_client(registry: Registry) -> None:
    async with Server(registry, "127.0.0.1", 0) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"Bhello")
        await writer.drain()
        await asyncio.wait_for(reader.read(), 10)  # the server closes it, or EOF below
        writer.close()
        await writer.wait_closed()


@pytest.mark.parametrize(
    ("fail_create", "expected"),
    [
        (True, "detected brpc from "),
        (False, "session close() of brpc failed"),
    ],
)
def test_session_failures_name_the_format(
    fail_create: bool, expected: str, caplog: pytest.LogCaptureFixture
) -> None:
    registry = Registry()
    registry.register(BRPC, _Provider(fail_create))
    with caplog.at_level(logging.ERROR):
        asyncio.run(
            asyncio.wait_for(_one_client(registry) if fail_create else _closing(registry), 20)
        )
    messages = [record.getMessage() for record in caplog.records]
    assert any(expected in message for message in messages), messages
    if fail_create:
        assert any(
            "but its provider's create_session() raised RuntimeError: no backend" in message
            for message in messages
        )
    assert not any("undetected" in message or "WireFormat(" in message for message in messages)


async def _closing(registry: Registry) -> None:
    async with Server(registry, "127.0.0.1", 0) as server:
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"Bhello")
        await writer.drain()
        for _ in range(200):  # bounded: until the session exists
            if server.open_connections and all(c.wire_format for c in server.connections):
                break
            await asyncio.sleep(0.01)
        writer.close()
        await writer.wait_closed()
        for _ in range(200):
            if not server.open_connections:
                break
            await asyncio.sleep(0.01)


EMBEDDED = """
import asyncio, sys
from wireproto import Limits, WireFormat, match_prefix
from wireproto._registry import Registry
from wireproto._server import Server

async def main():
    server = Server(Registry(), "127.0.0.1", 0)
    await server.start()
    serving = asyncio.ensure_future(server.serve_until_signal())
    await asyncio.sleep(0)  # it runs to its first wait: the signal handlers are in place
    print("serving", flush=True)
    await serving
    print("stopped", flush=True)

asyncio.run(main())
"""


def test_ctrl_c_stops_an_embedded_server_without_a_traceback(tmp_path: Path) -> None:
    script = tmp_path / "embedded.py"
    script.write_text(EMBEDDED)
    process = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "serving\n"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert out == "stopped\n"
    assert err == ""


def test_fuzzing_a_close_that_raises_reports_it_once(tmp_path: Path) -> None:
    (tmp_path / "closes.py").write_text(
        textwrap.dedent(
            """
            from wireproto import Limits

            class Session:
                def try_consume(self, data, /):
                    return len(data)

                def close(self):
                    raise RuntimeError("close failed")

            class Provider:
                limits = Limits()

                def create_session(self, wire_format, sender):
                    return Session()
            """
        )
    )
    done = _cli("fuzz", f"{tmp_path / 'closes.py'}:Provider", "--examples=50", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "session close() of" not in done.stderr
    assert done.stdout.count("close() raised RuntimeError: close failed") == 1


def test_with_workers_a_bad_option_fails_before_any_worker_starts() -> None:
    done = _cli("serve", "--port", "0", "--workers", "2", "--set", "resp.nosuch=1")
    assert done.returncode == 2
    assert done.stderr.count("no installed plugin reads the option 'resp.nosuch'") == 1
