"""RESP: the Redis protocol (RESP2 and RESP3) over an embedded key-value store.

``register(registry)`` serves the ``resp`` wire format with a
:class:`RespProvider`; build one yourself for options (password, limits,
parser choice) and register it with :data:`RESP`. ``specs/resp`` describes
framing, detection and limits.
"""

from __future__ import annotations

from wireproto import Registry, WireFormat

from ..kvstore import share_databases, shared_databases
from .commands import COMMANDS, REDIS_VERSION, command_names
from .detection import inline_detector
from .parser import HIREDIS_AVAILABLE, RequestParser, RespLimits
from .provider import PARSER_ENV, RespProvider
from .session import RespSession

__all__ = [
    "COMMANDS",
    "HIREDIS_AVAILABLE",
    "PARSER_ENV",
    "REDIS_VERSION",
    "RESP",
    "RequestParser",
    "RespLimits",
    "RespProvider",
    "RespSession",
    "register",
    "resp_format",
]


def resp_format(max_inline_len: int = RespLimits().max_inline_len) -> WireFormat:
    """The ``resp`` wire format, detecting inline commands up to ``max_inline_len``."""
    return WireFormat("resp", inline_detector(command_names(), max_inline_len))


RESP = resp_format()
"""The ``resp`` wire format: ``*`` first, or a complete inline line naming a command."""


def register(registry: Registry, provider: RespProvider | None = None) -> RespProvider:
    """Entry point of the ``wireproto.providers`` group; returns the provider (and its store).

    Without ``provider``, one is made on the registry's
    :func:`~providers.kvstore.shared_store`, so the memcached provider loaded
    into the same registry serves the same keys (database 0 of its
    :func:`~providers.kvstore.shared_databases`). It reads the registry
    options ``resp.password`` (Redis's ``requirepass``: clients must AUTH)
    and ``resp.max-clients`` (reported by INFO; the server enforces its own
    ``--max-connections``). A given ``provider``'s store becomes the
    registry's shared store and its databases the registry's
    (:func:`~providers.kvstore.share_databases`).
    """
    if provider is None:
        options = registry.options
        provider = RespProvider(
            databases=shared_databases(registry),
            password=options.get("resp.password") or None,
            max_clients=int(options.get("resp.max-clients", "10000")),
        )
    else:
        share_databases(registry, provider.databases)
    registry.register(RESP, provider)
    return provider
