"""The memcached provider: both formats, one engine, the registry's shared store."""

from __future__ import annotations

import weakref

from wireproto import AuthSettings, Limits, MessageConsumer, NetworkSender, Registry, WireFormat

from ..kvstore import Store, shared_store
from .binary import BinarySession
from .binary_messages import binary_detector
from .engine import MemcacheEngine, MemcacheSettings
from .text import TextSession
from .text_detection import SHARED_WITH_RESP, Claim, text_detector

__all__ = [
    "BINARY_PRIORITY",
    "CLAIM_OPTION",
    "ITEM_SIZE_OPTION",
    "MEMCACHE_BINARY",
    "MEMCACHE_TEXT",
    "TEXT_PRIORITY",
    "MemcacheProvider",
    "register",
    "text_format",
]

CLAIM_OPTION = "memcache.claim"
"""Registry option read by :func:`register` without ``claim``: ``all`` or ``unambiguous``."""
ITEM_SIZE_OPTION = "memcache.item-size-max"
"""Registry option read by :func:`register` without ``settings``: bytes, or ``<n>k``/``<n>m``."""

TEXT_PRIORITY = 5
"""Above RESP's 0: the memcached text detector decides first which lines are its own."""
BINARY_PRIORITY = 10

TEXT_NAME = "memcache-text"
BINARY_NAME = "memcache-binary"


def text_format(
    claim: Claim = Claim.ALL,
    *,
    priority: int = TEXT_PRIORITY,
    shared: frozenset[bytes] = SHARED_WITH_RESP,
) -> WireFormat:
    """The ``memcache-text`` format with the given ambiguity rule and priority.

    ``shared`` lists the memcached words the RESP provider on the port also
    serves (for ``Claim.UNAMBIGUOUS``). A priority below RESP's (0) hands
    every line RESP accepts to RESP, whatever ``claim`` says.
    """
    return WireFormat(TEXT_NAME, text_detector(claim, shared), priority)


MEMCACHE_TEXT = text_format()
"""``memcache-text``: a complete first line starting with a lower-case memcached command."""
MEMCACHE_BINARY = WireFormat(BINARY_NAME, binary_detector(), BINARY_PRIORITY)
"""``memcache-binary``: streams starting with the request magic 0x80."""


class MemcacheProvider:
    """Serves memcached text and binary sessions from one engine and store.

    Pass ``store`` to serve a given store. Otherwise ``registry`` names where
    the store comes from, bound when first needed (normally by the first
    connection, once every plugin is registered): the registry's
    :func:`~providers.kvstore.shared_store`, which RESP's ``register`` serves
    too (its provider's store, when it was given one). Without either, the
    provider has a store of its own.
    """

    def __init__(
        self,
        store: Store | None = None,
        settings: MemcacheSettings | None = None,
        *,
        registry: Registry | None = None,
    ) -> None:
        self.settings = settings if settings is not None else MemcacheSettings()
        self._limits = self.settings.limits
        self._registry = weakref.ref(registry) if registry is not None else None
        self._engine: MemcacheEngine | None = None
        if store is not None or registry is None:
            self._engine = MemcacheEngine(store if store is not None else Store(), self.settings)

    @property
    def limits(self) -> Limits:
        """One command line (or binary header) plus one maximal item."""
        return self._limits

    @property
    def engine(self) -> MemcacheEngine:
        """The engine every session of this provider shares (binds the store on first use)."""
        if self._engine is None:
            self._engine = MemcacheEngine(self._bind_store(), self.settings)
        return self._engine

    @property
    def store(self) -> Store:
        """The key-value store served."""
        return self.engine.store

    maintenance_interval = 0.1
    """Seconds between two :meth:`maintain` rounds (the server runs them)."""

    def maintain(self) -> None:
        """Apply a delayed ``flush_all`` whose time has come, then expire keys nobody reads.

        Bounded: at most 1,000 expired keys per round, in batches of 20, as the
        RESP provider does on the same store.
        """
        engine = self.engine
        engine.check_flush()
        for _ in range(50):
            if engine.store.sweep(20) < 20:
                break

    def check_auth(self, auth: AuthSettings) -> None:
        """Both formats authenticate against any listener setting (binary SASL, text token)."""

    def create_session(self, wire_format: WireFormat, sender: NetworkSender) -> MessageConsumer:
        """A text or binary session, by the format's name."""
        if wire_format.name == BINARY_NAME:
            return BinarySession(self.engine, sender)
        return TextSession(self.engine, sender)

    def _bind_store(self) -> Store:
        registry = self._registry() if self._registry is not None else None
        if registry is None:
            return Store()
        return shared_store(registry)


def register(
    registry: Registry,
    provider: MemcacheProvider | None = None,
    *,
    claim: Claim | None = None,
    settings: MemcacheSettings | None = None,
) -> MemcacheProvider:
    """Entry point of the ``wireproto.providers`` group: serve both memcached formats.

    Without ``provider``, one is made on the registry's shared store (see
    :class:`MemcacheProvider`). ``claim`` picks which first lines shared with
    RESP (``get k``) are memcached's on this registry's listener. Without
    ``claim`` and ``settings``, the registry options decide
    (``wireproto serve --set memcache.claim=unambiguous --set
    memcache.item-size-max=4m``); a bad value fails the plugin.
    """
    options = registry.options
    if claim is None:
        claim = Claim(options.get(CLAIM_OPTION, Claim.ALL.value).strip().lower())
    if settings is None and ITEM_SIZE_OPTION in options:
        settings = MemcacheSettings(item_size_max=_size(options[ITEM_SIZE_OPTION]))
    if provider is None:
        provider = MemcacheProvider(settings=settings, registry=registry)
    registry.register(text_format(claim), provider)
    registry.register(MEMCACHE_BINARY, provider)
    return provider


def _size(text: str) -> int:
    """``1048576``, ``1024k`` or ``1m`` (memcached's ``-I`` units) in bytes."""
    value = text.strip().lower()
    scale = {"k": 1 << 10, "m": 1 << 20}.get(value[-1:], 1)
    digits = value[:-1] if scale > 1 else value
    if not digits.isdigit():
        raise ValueError(f"{ITEM_SIZE_OPTION} must be bytes, <n>k or <n>m, not {text!r}")
    return int(digits) * scale
