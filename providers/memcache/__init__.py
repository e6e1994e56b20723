"""memcached's text and binary protocols over the key-value store RESP also serves.

``register(registry)`` (the ``wireproto.providers`` entry point) serves the
``memcache-text`` and ``memcache-binary`` wire formats with one
:class:`MemcacheProvider` on the registry's shared store
(:func:`providers.kvstore.shared_store`), so a value set through memcached
is read by Redis ``GET`` and the other way round. For other settings, or to
resolve ``get k`` (valid in both memcached and RESP) differently on one
listener, build the formats and the provider yourself::

    registry = Registry()
    register(registry, claim=Claim.UNAMBIGUOUS, settings=MemcacheSettings(item_size_max=4 << 20))

or, from the command line, ``wireproto serve --set memcache.claim=unambiguous
--set memcache.item-size-max=4m`` (the registry options :data:`CLAIM_OPTION`
and :data:`ITEM_SIZE_OPTION`).

``specs/memcache-text`` and ``specs/memcache-binary`` describe the formats.
"""

from __future__ import annotations

from .binary import BinarySession
from .binary_messages import binary_detector
from .engine import (
    DEFAULT_VERSION,
    KEY_MAX_LENGTH,
    MemcacheEngine,
    MemcacheSettings,
    item_total_size,
)
from .provider import (
    BINARY_PRIORITY,
    CLAIM_OPTION,
    ITEM_SIZE_OPTION,
    MEMCACHE_BINARY,
    MEMCACHE_TEXT,
    TEXT_PRIORITY,
    MemcacheProvider,
    register,
    text_format,
)
from .text import TextSession
from .text_detection import COMMAND_WORDS, SHARED_WITH_RESP, Claim, text_detector

__all__ = [
    "BINARY_PRIORITY",
    "CLAIM_OPTION",
    "COMMAND_WORDS",
    "DEFAULT_VERSION",
    "ITEM_SIZE_OPTION",
    "KEY_MAX_LENGTH",
    "MEMCACHE_BINARY",
    "MEMCACHE_TEXT",
    "SHARED_WITH_RESP",
    "TEXT_PRIORITY",
    "BinarySession",
    "Claim",
    "MemcacheEngine",
    "MemcacheProvider",
    "MemcacheSettings",
    "TextSession",
    "binary_detector",
    "item_total_size",
    "register",
    "text_detector",
    "text_format",
]
