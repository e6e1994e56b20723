"""The server runs each provider's periodic maintenance, and stops it on close."""

from __future__ import annotations

import asyncio
import logging

import pytest

from wireproto import (
    Limits,
    Maintained,
    MessageConsumer,
    NetworkSender,
    Registry,
    WireFormat,
    match_prefix,
)
from wireproto._server import Server


class _Session:
    def try_consume(self, data: memoryview, /) -> int:
        return len(data)

    def close(self) -> None:
        pass


class _Provider:
    maintenance_interval = 0.01

    def __init__(self, fail_first: bool = False) -> None:
        self.calls = 0
        self.fail_first = fail_first
        self.limits = Limits()

    def create_session(self, wire_format: WireFormat, sender: NetworkSender) -> MessageConsumer:
        return _Session()

    def maintain(self) -> None:
        self.calls += 1
        if self.fail_first and self.calls == 1:
            raise RuntimeError("maintenance bug")


async def _serve_until(provider: _Provider, calls: int) -> int:
    registry = Registry()
    registry.register(WireFormat("a", match_prefix(b"A")), provider)
    registry.register(WireFormat("b", match_prefix(b"B")), provider)  # the same provider twice
    async with Server(registry, "127.0.0.1", 0):
        async with asyncio.timeout(10):
            while provider.calls < calls:
                await asyncio.sleep(0.01)
    stopped_at = provider.calls
    await asyncio.sleep(0.05)  # several intervals: no call after close
    return provider.calls - stopped_at


def test_maintenance_runs_periodically_once_per_provider_and_stops_on_close() -> None:
    provider = _Provider()
    assert isinstance(provider, Maintained)
    assert asyncio.run(_serve_until(provider, 3)) == 0


def test_a_failing_maintenance_round_is_logged_and_the_next_one_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider = _Provider(fail_first=True)
    with caplog.at_level(logging.ERROR, logger="wireproto.server"):
        assert asyncio.run(_serve_until(provider, 3)) == 0
    assert any("maintenance" in record.getMessage() for record in caplog.records)


def test_resp_provider_expires_keys_nobody_reads() -> None:
    from wireproto.providers.kvstore import Store  # noqa: PLC0415
    from wireproto.providers.resp import RespProvider  # noqa: PLC0415

    now = [1_000_000]
    provider = RespProvider(store=Store(lambda: now[0]))
    for index in range(1500):
        provider.store.set(b"k%d" % index, b"v", expire_at=now[0] + 10)
    provider.store.set(b"kept", b"v")
    now[0] += 11
    provider.maintain()
    assert len(provider.store) == 501  # one round expires at most 1,000 keys
    provider.maintain()
    assert len(provider.store) == 1
