"""The registry: which session provider serves which wire format, and the users' layers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from types import MappingProxyType
from typing import Any

from wireproto._auth import AuthSettings
from wireproto._detect import Detection, Verdict, WireFormat, detect
from wireproto._layer import LayerKind
from wireproto._session import Authenticating, SessionProvider
from wireproto.guard import first_line, is_http_line, log_attack

__all__ = ["ENTRY_POINT_GROUP", "PluginFailure", "Registry"]

ENTRY_POINT_GROUP = "wireproto.providers"
"""Installed plugins name a ``register(registry)`` callable in this group."""

_log = logging.getLogger("wireproto.registry")


@dataclass(frozen=True, slots=True)
class PluginFailure:
    """A plugin that could not be loaded or registered, and why."""

    name: str
    value: str
    error: str


class _ReadOptions(Mapping[str, str]):
    """The registry's options, read-only, remembering which names were looked up."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self.asked.add(name)
        return name in self._values

    def get(self, name: str, default: Any = None) -> Any:
        """The value of ``name``, or ``default``."""
        self.asked.add(name)
        return self._values.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"RegistryOptions({self._values!r})"


class Registry:
    """Maps each ``WireFormat`` to the ``SessionProvider`` that serves it.

    Detection asks formats by descending priority, then registration order,
    so the order is deterministic whatever the plugins' install order.
    """

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        self._options = _ReadOptions(dict(options or {}))
        self._providers: dict[WireFormat, SessionProvider] = {}
        # Per format, whether its provider authenticates: asked on every connection, and
        # isinstance() of a runtime-checkable Protocol walks the Protocol's members.
        self._authenticating: dict[WireFormat, bool] = {}
        self._by_name: dict[str, WireFormat] = {}
        self._ordered: tuple[WireFormat, ...] = ()
        self._layers: tuple[LayerKind, ...] = ()
        self._failures: list[PluginFailure] = []
        self._barriers: tuple[Callable[[], None], ...] = ()

    @property
    def options(self) -> Mapping[str, str]:
        """Settings for plugins, by dotted name (``"resp.password"``); read-only.

        ``wireproto serve --set NAME=VALUE`` fills them; each plugin's
        ``register(registry)`` reads the names it documents.
        """
        return self._options

    @property
    def asked_options(self) -> frozenset[str]:
        """The option names plugins have looked up so far (present or not)."""
        return frozenset(self._options.asked)

    @property
    def unread_options(self) -> tuple[str, ...]:
        """The options given that no plugin has looked up: misspelt, or for no installed
        plugin (``wireproto serve`` refuses them)."""
        return tuple(name for name in self._options if name not in self._options.asked)

    def register(self, wire_format: WireFormat, provider: SessionProvider) -> None:
        """Serve ``wire_format`` with ``provider``; a second registration is an error."""
        if wire_format.name in self._by_name or self._layer_named(wire_format.name):
            raise ValueError(f"wire format {wire_format.name!r} is already registered")
        if not isinstance(provider, SessionProvider):
            missing = [name for name in ("limits", "create_session") if not hasattr(provider, name)]
            raise TypeError(
                f"{provider!r} is not a SessionProvider: it has no {' and no '.join(missing)} "
                "(a SessionProvider has a `limits` attribute (a Limits) and a "
                "`create_session(wire_format, sender)` method)"
            )
        self._providers[wire_format] = provider
        self._authenticating[wire_format] = isinstance(provider, Authenticating)
        self._by_name[wire_format.name] = wire_format
        # sorted() is stable: equal priorities keep registration order.
        self._ordered = tuple(sorted(self._providers, key=lambda fmt: -fmt.priority))

    def register_layer(self, kind: LayerKind) -> None:
        """Offer the layer ``kind`` on every connection, after the listener's own layers.

        Layers are detected before the formats, in registration order; the
        inner connection of a layer detects the formats and the layers
        registered after it. A name already used by a format or a layer is an
        error.
        """
        name = kind.wire_format.name
        if name in self._by_name or self._layer_named(name):
            raise ValueError(f"wire format {name!r} is already registered")
        self._layers = (*self._layers, kind)

    def before_replies(self, barrier: Callable[[], None]) -> None:
        """Call ``barrier()`` before each batch of replies is written to a client.

        A durability barrier: an append-only log writes (and, if asked, fsyncs)
        the changes the batch made, so no reply acknowledges a write that is
        not stored yet. Batches written together at the end of an event-loop
        turn share one call that does the work (group commit).
        """
        self._barriers = (*self._barriers, barrier)

    @property
    def reply_barriers(self) -> tuple[Callable[[], None], ...]:
        """What :meth:`before_replies` registered, in order."""
        return self._barriers

    @property
    def layers(self) -> tuple[LayerKind, ...]:
        """Registered layer kinds, outermost first."""
        return self._layers

    def _layer_named(self, name: str) -> bool:
        return any(kind.wire_format.name == name for kind in self._layers)

    def provider(self, wire_format: WireFormat) -> SessionProvider:
        """The provider registered for ``wire_format`` (KeyError if none)."""
        return self._providers[wire_format]

    def authenticates(self, wire_format: WireFormat) -> bool:
        """Whether ``wire_format``'s provider speaks its protocol's authentication."""
        return self._authenticating[wire_format]

    def check_auth(self, auth: AuthSettings, fallback_format: str | None = None) -> None:
        """Raise ``ValueError`` if a listener with ``auth`` would leave data open.

        With authentication required, ``fallback_format`` must name a format
        that authenticates; every provider that declares
        :class:`~wireproto._session.Authenticating` checks its own
        configuration against ``auth`` (a different password of its own, say).
        """
        if auth.required and fallback_format is not None and fallback_format in self._by_name:
            fallback = self._by_name[fallback_format]
            if not self.authenticates(fallback):
                raise ValueError(
                    f"the fallback format {fallback_format!r} cannot authenticate clients, "
                    "but the listener requires a password"
                )
        checked: set[int] = set()
        for provider in self._providers.values():
            if id(provider) in checked or not isinstance(provider, Authenticating):
                continue
            checked.add(id(provider))
            provider.check_auth(auth)

    def wire_format(self, name: str) -> WireFormat:
        """The registered format called ``name`` (KeyError if none)."""
        return self._by_name[name]

    def __contains__(self, item: object) -> bool:
        return item in self._providers or item in self._by_name

    def __iter__(self) -> Iterator[WireFormat]:
        """Formats in detection order."""
        return iter(self._ordered)

    def __len__(self) -> int:
        return len(self._ordered)

    @property
    def formats(self) -> tuple[WireFormat, ...]:
        """Registered formats in detection order."""
        return self._ordered

    def view(self) -> Mapping[WireFormat, SessionProvider]:
        """A read-only view of the registrations."""
        return MappingProxyType(self._providers)

    def detect(self, data: bytes) -> Detection:
        """Detect the format of a stream that starts with ``data``.

        A stream refused whose first line is HTTP (see :mod:`wireproto.guard`)
        is logged as a possible cross-protocol attack.
        """
        detection = detect(self._ordered, data)
        if detection.verdict is Verdict.NO_MATCH:
            line = first_line(data)
            if line is not None and is_http_line(line):
                log_attack("this listener")
        return detection

    @property
    def plugin_failures(self) -> tuple[PluginFailure, ...]:
        """Plugins that failed to load, in the order they were tried."""
        return tuple(self._failures)

    def load_plugins(self, group: str = ENTRY_POINT_GROUP) -> tuple[PluginFailure, ...]:
        """Load every installed plugin of ``group``, sorted by entry-point name.

        Each entry point names a callable taking this registry. A plugin that
        fails to import or to register is logged and listed; the others still
        load. Returns the failures of this call.
        """
        failures: list[PluginFailure] = []
        for entry_point in sorted(metadata.entry_points(group=group), key=lambda ep: ep.name):
            try:
                register: Callable[[Registry], None] = entry_point.load()
                register(self)
            except Exception as exc:  # one broken plugin must not stop the others
                failure = PluginFailure(entry_point.name, entry_point.value, repr(exc))
                _log.error("plugin %s (%s) failed: %r", entry_point.name, entry_point.value, exc)
                failures.append(failure)
        self._failures.extend(failures)
        return tuple(failures)

    @classmethod
    def from_plugins(
        cls, group: str = ENTRY_POINT_GROUP, options: Mapping[str, str] | None = None
    ) -> Registry:
        """A registry holding every installed plugin of ``group``, given ``options``."""
        registry = cls(options)
        registry.load_plugins(group)
        return registry
