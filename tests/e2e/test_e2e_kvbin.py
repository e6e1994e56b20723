"""kvbin and a third-party plugin format served by the asyncio Server over loopback."""

from __future__ import annotations

import asyncio
import random
import textwrap
from collections.abc import Coroutine
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from wireproto.providers.kvbin import MAGIC, Opcode, Status, build_reply, build_request

from wireproto import Registry
from wireproto._server import Server

TIMEOUT = 10.0


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coroutine, TIMEOUT))


async def _read_reply(reader: asyncio.StreamReader) -> tuple[int, int, bytes]:
    header = await reader.readexactly(12)
    assert header[:3] == MAGIC
    status, request_id, length = header[3], int.from_bytes(header[4:8]), int.from_bytes(header[8:])
    return status, request_id, await reader.readexactly(length)


async def _read_to_eof(reader: asyncio.StreamReader) -> bytes:
    return await reader.read()  # b"" only on a clean FIN; a reset raises


def test_long_stream_in_random_pieces_while_a_garbage_client_is_closed() -> None:
    async def scenario() -> None:
        registry = Registry.from_plugins()
        async with Server(registry, "127.0.0.1", 0) as server:
            good_reader, good_writer = await asyncio.open_connection("127.0.0.1", server.port)
            rng = random.Random(20261127)
            count = 2000
            values = [rng.randbytes(rng.randrange(0, 300)) for _ in range(count)]
            stream = b"".join(
                build_request(Opcode.ECHO, b"", value, request_id)
                if request_id % 2
                else build_request(Opcode.SET, b"key%d" % request_id, value, request_id)
                for request_id, value in enumerate(values)
            )

            async def write_in_pieces() -> None:
                offset = 0
                while offset < len(stream):
                    size = rng.randrange(1, 64)
                    good_writer.write(stream[offset : offset + size])
                    offset += size
                    if rng.random() < 0.05:
                        await good_writer.drain()
                        await asyncio.sleep(0)
                await good_writer.drain()

            writer_task = asyncio.create_task(write_in_pieces())

            # Meanwhile a second client speaks kvbin, then breaks the framing.
            bad_reader, bad_writer = await asyncio.open_connection("127.0.0.1", server.port)
            bad_writer.write(build_request(Opcode.NOOP, request_id=99) + MAGIC + b"\xff" * 20)
            await bad_writer.drain()
            assert await _read_reply(bad_reader) == (Status.OK, 99, b"")
            status, request_id, text = await _read_reply(bad_reader)
            assert (status, request_id) == (Status.PROTOCOL_ERROR, 0)
            assert b"limit" in text or b"length" in text
            assert await _read_to_eof(bad_reader) == b""
            bad_writer.close()
            await bad_writer.wait_closed()

            for request_id, value in enumerate(values):
                status, got_id, body = await _read_reply(good_reader)
                assert (status, got_id) == (Status.OK, request_id)
                assert body == (value if request_id % 2 else b"")
            await writer_task

            good_writer.write(build_request(Opcode.GET, b"key0", request_id=7))
            assert await _read_reply(good_reader) == (Status.OK, 7, values[0])
            good_writer.close()
            await good_writer.wait_closed()

    _run(scenario())


PLUGIN_SOURCE = textwrap.dedent(
    '''
    """A third-party plugin: a greeting line protocol."""
    from wireproto import Limits, WireFormat, match_prefix
    from wireproto.framing import DelimiterFramer, FramedProvider

    GREET = WireFormat("greet", match_prefix(b"HELLO "))

    def _handle(line, sender):
        sender.send(b"WELCOME " + line[len(b"HELLO "):] + b"\\n")

    def register(registry):
        provider = FramedProvider(lambda: DelimiterFramer(b"\\n", max_line_length=100), _handle,
                                  limits=Limits(max_message_size=1024))
        registry.register(GREET, provider)
    '''
)


def test_third_party_plugin_detected_on_the_same_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "greet_plugin.py").write_text(PLUGIN_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    group = "wireproto.providers"
    installed = metadata.EntryPoints(
        [
            metadata.EntryPoint("kvbin", "wireproto.providers.kvbin:register", group),
            metadata.EntryPoint("greet", "greet_plugin:register", group),
        ]
    )

    def entry_points(**selection: str) -> metadata.EntryPoints:
        return installed.select(**selection)

    monkeypatch.setattr("wireproto._registry.metadata.entry_points", entry_points)
    registry = Registry.from_plugins()
    assert [fmt.name for fmt in registry] == ["kvbin", "greet"]
    assert registry.plugin_failures == ()

    async def scenario() -> None:
        async with Server(registry, "127.0.0.1", 0) as server:
            greet = await asyncio.open_connection("127.0.0.1", server.port)
            kv = await asyncio.open_connection("127.0.0.1", server.port)
            for chunk in (b"HEL", b"LO wor", b"ld\nHELLO again\n"):
                greet[1].write(chunk)
                await greet[1].drain()
            kv[1].write(build_request(Opcode.ECHO, b"", b"binary", 5))
            assert await greet[0].readline() == b"WELCOME world\n"
            assert await greet[0].readline() == b"WELCOME again\n"
            assert await kv[0].readexactly(18) == build_reply(Status.OK, 5, b"binary")
            for _, writer in (greet, kv):
                writer.close()
                await writer.wait_closed()

    _run(scenario())
