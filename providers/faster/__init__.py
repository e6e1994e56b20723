"""FASTER's remote protocols: the binary ``DefaultVarLenKV`` and its WebSocket variant.

``register(registry)`` (the ``wireproto.providers`` entry point) serves the
``faster`` and ``faster-ws`` wire formats with one :class:`FasterProvider` on
the registry's shared store (:func:`providers.kvstore.shared_store`): a key
upserted through FASTER is read by Redis ``GET`` and memcached ``get``.
``faster-ws`` is detected on the inner stream of a WebSocket layer (the
batches of FASTER's JavaScript client). ``specs/faster`` describes both.
"""

from __future__ import annotations

from wireproto import Registry

from ..kvstore import shared_store
from .session import (
    DEFAULT_SETTINGS,
    FASTER,
    FASTER_WS,
    PRIORITY,
    BatchFramer,
    FasterProvider,
    FasterSettings,
    binary_detector,
    ws_detector,
)
from .wire import (
    BATCH_HEADER,
    BINARY_REQUESTS,
    SPAN_BYTE,
    WS_BATCH_HEADER,
    WS_REQUESTS,
    MessageType,
    StatusCode,
    build_binary_batch,
    build_request,
    build_ws_batch,
)

__all__ = [
    "BATCH_HEADER",
    "BINARY_REQUESTS",
    "DEFAULT_SETTINGS",
    "FASTER",
    "FASTER_WS",
    "PRIORITY",
    "SPAN_BYTE",
    "WS_BATCH_HEADER",
    "WS_REQUESTS",
    "BatchFramer",
    "FasterProvider",
    "FasterSettings",
    "MessageType",
    "StatusCode",
    "binary_detector",
    "build_binary_batch",
    "build_request",
    "build_ws_batch",
    "register",
    "ws_detector",
]


def register(registry: Registry) -> None:
    """Entry point of the ``wireproto.providers`` group."""
    provider = FasterProvider(shared_store(registry))
    registry.register(FASTER, provider)
    registry.register(FASTER_WS, provider)
