"""PROXY v2, then TLS, then RESP on one loopback connection through the asyncio server."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
from _drive import resp_command
from _lines import Run
from _tls import client_context, make_tls_files, server_context
from test_layers import TIMEOUT, TRUSTED, resp_registry

from wireproto import ConnectionSettings, Server, ServerLimits
from wireproto._proxy import build_proxy_v2
from wireproto._tls import TlsSettings


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


async def _proxied_tls_client(
    port: int, source: tuple[str, int], context: ssl.SSLContext
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(build_proxy_v2(source, ("127.0.0.1", port)))
    await writer.drain()
    await writer.start_tls(context, server_hostname="localhost")
    return reader, writer


def test_proxy_v2_then_tls_then_resp_over_loopback(tls_files: dict[str, Path], run: Run) -> None:
    async def scenario() -> None:
        settings = ConnectionSettings(layers=(TRUSTED, TlsSettings(server_context(tls_files))))
        limits = ServerLimits(max_connections_per_client=1)
        async with Server(
            resp_registry(), "127.0.0.1", 0, settings=settings, limits=limits
        ) as server:
            context = client_context(tls_files)
            reader, writer = await _proxied_tls_client(server.port, ("203.0.113.9", 5555), context)
            assert writer.get_extra_info("ssl_object").version() == "TLSv1.3"
            writer.write(resp_command("SET", "k", "over proxy and tls") + resp_command("GET", "k"))
            expected = b"+OK\r\n$18\r\nover proxy and tls\r\n"
            assert await asyncio.wait_for(reader.readexactly(len(expected)), TIMEOUT) == expected
            (conn,) = list(server.connections)
            assert conn.get_extra_info("proxy_source") == ("203.0.113.9", 5555)
            tls = conn.inner
            assert tls is not None and tls.wire_format is not None
            assert tls.wire_format.name == "tls"
            assert tls.inner is not None and tls.inner.get_extra_info("sni") == "localhost"
            assert tls.inner.get_extra_info("proxy_source") == ("203.0.113.9", 5555)
            # The per-client limit counts the PROXY source: a second one from it is refused ...
            _again, again = await _proxied_tls_client(
                server.port, ("203.0.113.10", 1), context
            )  # another source is served
            refused_reader, refused = await asyncio.open_connection("127.0.0.1", server.port)
            refused.write(build_proxy_v2(("203.0.113.9", 6666), ("127.0.0.1", server.port)))
            assert await asyncio.wait_for(refused_reader.read(), TIMEOUT) == b""
            assert server.stats.rejected == {"max-connections-per-client": 1}
            stats = server.stats
            assert stats.formats["proxy"].sessions == 3
            assert stats.formats["tls"].sessions == 2
            assert stats.formats["resp"].sessions == 1
            for each in (writer, again, refused):
                each.close()
            await asyncio.wait_for(server.close(), TIMEOUT)

    run(scenario())
