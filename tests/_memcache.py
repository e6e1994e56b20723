"""Driving memcached text sessions through a Connection, for the memcached tests."""

from __future__ import annotations

from collections.abc import Iterable

from _drive import replay
from wireproto.providers import resp
from wireproto.providers.memcache import Claim, MemcacheProvider, register

from wireproto._connection import Connection, ConnectionSettings
from wireproto._registry import Registry

__all__ = ["make_registry", "run", "shared_registry"]


def make_registry(provider: MemcacheProvider | None = None, claim: Claim = Claim.ALL) -> Registry:
    registry = Registry()
    register(registry, provider, claim=claim)
    return registry


def run(
    chunks: Iterable[bytes],
    registry: Registry | None = None,
    connection_settings: ConnectionSettings | None = None,
) -> tuple[bytes, Connection]:
    connection = Connection(registry or make_registry(), connection_settings)
    return replay(connection, chunks, until_closed=True), connection


def shared_registry(claim: Claim) -> Registry:
    registry = Registry()
    resp.register(registry)
    register(registry, claim=claim)
    return registry
