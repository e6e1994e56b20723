"""INFO's wireproto section shows the listener's counters (an in-process Server)."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from wireproto.providers.resp import RespProvider, register

from wireproto import Registry
from wireproto._server import Server


async def _scenario() -> tuple[dict[str, Any], dict[str, Any]]:
    registry = Registry()
    register(registry, RespProvider())
    async with Server(registry, "127.0.0.1", 0) as server:
        # One garbage client first: a protocol error the counters must show.
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"*1\r\n$x\r\n")
        assert (await reader.read()).startswith(b"-ERR Protocol error")
        writer.close()
        await writer.wait_closed()
        client = aioredis.Redis(host="127.0.0.1", port=server.port)
        try:
            await client.set("k", "v")
            section = await client.info("wireproto")
            default = await client.info()
        finally:
            await client.aclose()
    return section, default


def test_info_wireproto_section() -> None:
    section, default = asyncio.run(asyncio.wait_for(_scenario(), 20))
    assert section["connections_accepted"] == 2
    assert section["connections_active"] == 1
    assert section["protocol_errors"] == 1
    assert section["closes_protocol_error"] == 1
    assert section["detections_match"] == 2
    assert section["net_input_bytes"] > len(b"*1\r\n$x\r\n")
    resp = section["format_resp"]  # redis-py splits "a=1,b=2" into a dict
    assert (resp["sessions"], resp["active"], resp["protocol_errors"]) == (2, 1, 1)
    assert "connections_accepted" in default  # part of the default INFO
    assert "redis_version" in default
