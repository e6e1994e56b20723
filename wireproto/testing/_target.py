"""What the kit fuzzes: a :class:`FuzzTarget`, and how to find one from a string."""

from __future__ import annotations

import copy
import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from importlib import metadata, resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from wireproto._connection import ConnectionSettings
from wireproto._detect import WireFormat, match_any
from wireproto._registry import ENTRY_POINT_GROUP, Registry
from wireproto._session import Limits, MessageConsumer, NetworkSender, SessionProvider

if TYPE_CHECKING:
    import construct

__all__ = [
    "FuzzTarget",
    "Grow",
    "TargetError",
    "TargetOptions",
    "load_corpus",
    "load_target",
    "packaged_corpus",
    "target_grow",
    "target_limits",
]

Grow = Callable[[int], bytes]
"""``grow(n)``: a valid stream of about ``n`` bytes (one message with an ``n``-byte body)."""


class TargetError(Exception):
    """A fuzz target could not be found or built (a usage error, not a property failure)."""


@dataclass(frozen=True, slots=True)
class FuzzTarget:
    """A wire format to check: how to make a fresh registry, and inputs to start from.

    ``make_registry`` is called for every run, so sessions of one run never
    see state left by another (property 1 compares runs). ``wire_format`` is
    the format under test; other formats in the registry take part in
    detection. ``message`` is an optional construct declaration of one whole,
    valid message, built self-consistently (lengths as ``Prefixed``): it gives
    structure-aware inputs and enables the round-trip check. ``corpus`` holds
    seed streams. ``grow(n)`` returns a valid stream of about ``n`` bytes for
    the linear-work check; when it is None it is derived from ``message``.
    ``spec`` is the string :func:`load_target` finds this target by; the CLI
    writes it into regression files. ``limits``, when set, replace the
    provider's limits for the format under test. ``replies`` declares that
    every message is answered: a dripped stream of valid messages must then
    get replies exactly when each message is complete (property 8).
    """

    name: str
    make_registry: Callable[[], Registry] = field(repr=False)
    wire_format: WireFormat
    message: construct.Construct[Any, Any] | None = field(default=None, repr=False)
    corpus: tuple[bytes, ...] = field(default=(), repr=False)
    grow: Grow | None = field(default=None, repr=False)
    settings: ConnectionSettings = field(default_factory=ConnectionSettings, repr=False)
    spec: str | None = None
    limits: Limits | None = None
    replies: bool = False

    @classmethod
    def from_plugin(
        cls,
        register: Callable[[Registry], None],
        format_name: str | None = None,
        **options: Unpack[TargetOptions],
    ) -> FuzzTarget:
        """A target whose registry is filled by a plugin's ``register(registry)`` each run.

        ``format_name`` picks the format under test when the plugin registers
        several. ``options`` are the other :class:`FuzzTarget` fields; a
        provider attribute ``fuzz_message`` (a construct declaration) or
        ``fuzz_grow`` is used when those options are not given.
        """

        def make_registry() -> Registry:
            registry = Registry()
            register(registry)
            return registry

        registry = make_registry()
        wire_format = _pick_format(registry, format_name)
        provider = registry.provider(wire_format)
        options.setdefault("message", getattr(provider, "fuzz_message", None))
        options.setdefault("grow", getattr(provider, "fuzz_grow", None))
        options.setdefault("name", wire_format.name)
        return cls(make_registry=make_registry, wire_format=wire_format, **options)

    @classmethod
    def from_provider(
        cls,
        provider: SessionProvider | Callable[[], SessionProvider],
        wire_format: WireFormat | None = None,
        **options: Unpack[TargetOptions],
    ) -> FuzzTarget:
        """A target serving ``wire_format`` with ``provider``.

        Pass a factory (a class or a function) when sessions share state
        through the provider; an instance is deep-copied for each run. Without
        ``wire_format``, every stream is routed to the provider
        (``match_any``).
        """
        fresh = _provider_factory(provider)
        fmt = wire_format if wire_format is not None else WireFormat("target", match_any)

        def make_registry() -> Registry:
            registry = Registry()
            registry.register(fmt, fresh())
            return registry

        options.setdefault("name", fmt.name)
        return cls(make_registry=make_registry, wire_format=fmt, **options)

    @classmethod
    def from_consumer(
        cls,
        create_session: Callable[[NetworkSender], MessageConsumer],
        *,
        wire_format: WireFormat | None = None,
        **options: Unpack[TargetOptions],
    ) -> FuzzTarget:
        """A target for a bare ``MessageConsumer``: ``create_session(sender)`` makes each one.

        ``limits`` (default :class:`~wireproto._session.Limits`) are the session's.
        """
        chosen = options.get("limits") or Limits()

        def factory() -> SessionProvider:
            return _ConsumerProvider(create_session, chosen)

        return cls.from_provider(factory, wire_format, **options)

    def with_corpus(self, corpus: Iterable[bytes]) -> FuzzTarget:
        """This target with ``corpus`` added to its seed streams."""
        return replace(self, corpus=self.corpus + tuple(corpus))

    @property
    def label(self) -> str:
        """How failures name this target."""
        return self.spec or self.name


def target_limits(target: FuzzTarget) -> Limits:
    """The limits the format under test runs with: the target's, else its provider's."""
    if target.limits is not None:
        return target.limits
    return target.make_registry().provider(target.wire_format).limits


def target_grow(target: FuzzTarget) -> Grow | None:
    """The target's ``grow``, else one derived from its declaration, else None."""
    if target.grow is not None:
        return target.grow
    if target.message is None:
        return None
    from wireproto.testing._construct import grow_function  # noqa: PLC0415

    return grow_function(target.message)


class TargetOptions(TypedDict, total=False):
    """The optional :class:`FuzzTarget` fields, as keyword arguments of its constructors."""

    name: str
    message: construct.Construct[Any, Any] | None
    corpus: tuple[bytes, ...]
    grow: Grow | None
    settings: ConnectionSettings
    spec: str | None
    limits: Limits | None
    replies: bool


class _ConsumerProvider:
    """Wraps a session factory as a provider."""

    def __init__(self, create: Callable[[NetworkSender], MessageConsumer], limits: Limits) -> None:
        self._create = create
        self._limits = limits

    @property
    def limits(self) -> Limits:
        return self._limits

    def create_session(self, wire_format: WireFormat, sender: NetworkSender) -> MessageConsumer:
        return self._create(sender)


def _provider_factory(
    provider: SessionProvider | Callable[[], SessionProvider],
) -> Callable[[], SessionProvider]:
    # A class passes the runtime protocol check too (it has both attributes).
    if isinstance(provider, type) or not isinstance(provider, SessionProvider):
        if not callable(provider):
            raise TargetError(f"{provider!r} is neither a SessionProvider nor a factory of one")
        factory: Callable[[], SessionProvider] = provider
        return factory
    prototype = provider
    try:
        copy.deepcopy(prototype)
    except Exception as exc:
        raise TargetError(
            f"cannot copy {prototype!r} for each run ({exc!r}); pass a factory instead"
        ) from exc
    return lambda: copy.deepcopy(prototype)


def _pick_format(registry: Registry, name: str | None) -> WireFormat:
    if name is not None:
        if name not in registry:
            known = ", ".join(fmt.name for fmt in registry) or "none"
            raise TargetError(f"no wire format {name!r} is registered (registered: {known})")
        return registry.wire_format(name)
    if len(registry) != 1:
        known = ", ".join(fmt.name for fmt in registry) or "none"
        raise TargetError(f"name the format to check (registered: {known})")
    return registry.formats[0]


def load_corpus(directory: str | Path) -> tuple[bytes, ...]:
    """The files of ``directory`` (not recursive), sorted by name, as seed streams."""
    path = Path(directory)
    if not path.is_dir():
        raise TargetError(f"corpus directory {str(path)!r} does not exist")
    return tuple(
        item.read_bytes()
        for item in sorted(path.iterdir())
        if item.is_file() and item.stat().st_size
    )


def load_target(
    spec: str,
    *,
    corpus: str | Path | None = None,
    root: str | Path | None = None,
    group: str = ENTRY_POINT_GROUP,
) -> FuzzTarget:
    """Find the target ``spec`` names.

    ``spec`` is a registered format name (found among installed plugins), or
    ``module:attribute`` / ``path/to/file.py:attribute`` naming a
    :class:`FuzzTarget`, a ``SessionProvider`` (instance, class or factory),
    a ``WireFormat`` served by an installed plugin, or a function returning
    one of those. ``corpus`` adds the files of a directory as seeds; without
    it, ``specs/<format>/corpus`` under ``root`` (default: the current
    directory) is used when it exists. Raises :class:`TargetError`.
    """
    base = Path(root) if root is not None else Path.cwd()
    if ":" in spec:
        module, value = _import_object(spec, base)
        target = _target_from_object(value, spec, group, module)
    else:
        target = FuzzTarget.from_plugin(_plugin_for(spec, group), spec, spec=spec)
    target = replace(target, spec=spec)
    try:
        target.make_registry()
    except (TypeError, ValueError) as exc:
        raise TargetError(f"{spec}: {exc}") from None
    if corpus is not None:
        return target.with_corpus(load_corpus(corpus))
    if target.corpus:
        return target
    default = base / "specs" / target.wire_format.name / "corpus"
    if default.is_dir():
        return target.with_corpus(load_corpus(default))
    return target.with_corpus(packaged_corpus(target.wire_format.name))


def packaged_corpus(format_name: str) -> tuple[bytes, ...]:
    """The corpus shipped with the package for a built-in format (empty for other names)."""
    folder = resources.files("wireproto.testing") / "corpora" / format_name
    if not folder.is_dir():
        return ()
    files = sorted((item for item in folder.iterdir() if item.is_file()), key=lambda i: i.name)
    return tuple(data for data in (item.read_bytes() for item in files) if data)


def _import_object(spec: str, base: Path) -> tuple[Any, object]:
    module_name, _, attribute = spec.rpartition(":")
    if not module_name or not attribute:
        raise TargetError(f"{spec!r} is not module:attribute")
    try:
        if module_name.endswith(".py") or "/" in module_name:
            module = _import_path(base / module_name)
        else:
            module = _import_module(module_name, base)
    except TargetError:
        raise
    except Exception as exc:
        raise TargetError(f"cannot import {module_name!r}: {exc!r}") from exc
    value: object = module
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError as exc:
            raise TargetError(f"{module_name!r} has no attribute {attribute!r}") from exc
    return module, value


def _import_module(name: str, base: Path) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        # Like pytest and uvicorn: a module beside the working directory is found too.
        root = str(base)
        if exc.name is None or not name.startswith(exc.name) or root in sys.path:
            raise
        sys.path.insert(0, root)
        return importlib.import_module(name)


def _import_path(path: Path) -> Any:
    if not path.is_file():
        raise TargetError(f"no file {str(path)!r}")
    name = f"_wireproto_fuzz_{abs(hash(str(path.resolve())))}"
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise TargetError(f"cannot import {str(path)!r}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    # Like `python file.py`: the modules beside the file can be imported by it.
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module_spec.loader.exec_module(module)
    return module


def _target_from_object(value: object, spec: str, group: str, module: Any) -> FuzzTarget:
    if isinstance(value, FuzzTarget):
        return value
    if isinstance(value, WireFormat):
        return _target_for_format(value, spec, group, module)
    if isinstance(value, SessionProvider) and not isinstance(value, type):
        return FuzzTarget.from_provider(value, name=spec)
    if isinstance(value, type):
        return FuzzTarget.from_provider(value, name=spec)
    if callable(value):
        made = value()
        if isinstance(made, FuzzTarget):
            return made
        if isinstance(made, SessionProvider):
            return FuzzTarget.from_provider(value, name=spec)
        raise TargetError(
            f"{spec} returned something that is not a FuzzTarget or SessionProvider: "
            f"{_not_a_provider(made)}"
        )
    raise TargetError(
        f"{spec} is {value!r}: expected a FuzzTarget, SessionProvider, WireFormat or a factory"
    )


def _target_for_format(wire_format: WireFormat, spec: str, group: str, module: Any) -> FuzzTarget:
    """A ``WireFormat`` target: served by its module's ``register(registry)``, a
    :class:`FuzzTarget` of its module that checks it, or an installed plugin."""
    register = getattr(module, "register", None)
    if callable(register):
        scratch = Registry()
        try:
            register(scratch)
        except Exception as exc:
            raise TargetError(f"{spec}: register(registry) of its module raised {exc!r}") from exc
        if scratch.formats and wire_format.name in scratch:
            return FuzzTarget.from_plugin(register, wire_format.name)
    targets = {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, FuzzTarget) and value.wire_format == wire_format
    }
    if len(targets) == 1:
        return next(iter(targets.values()))
    if targets:
        raise TargetError(
            f"{spec}: several FuzzTargets of its module check {wire_format.name!r} "
            f"({', '.join(sorted(targets))}): name one of them"
        )
    try:
        return FuzzTarget.from_plugin(_plugin_for(wire_format.name, group), wire_format.name)
    except TargetError:
        raise TargetError(
            f"{spec} is the WireFormat {wire_format.name!r}, but nothing serves it: its module "
            "has no register(registry) that registers it and no FuzzTarget of it, and no "
            "installed plugin registers it; name a FuzzTarget or a SessionProvider factory instead"
        ) from None


def _not_a_provider(value: object) -> str:
    """What the registry says is missing from ``value``."""
    try:
        Registry().register(WireFormat("target", match_any), value)  # type: ignore[arg-type]
    except TypeError as exc:
        return str(exc)
    return f"{value!r}"


def _plugin_for(format_name: str, group: str) -> Callable[[Registry], None]:
    """The installed plugin's ``register`` that registers ``format_name``."""
    found: list[str] = []
    for entry_point in sorted(metadata.entry_points(group=group), key=lambda ep: ep.name):
        try:
            register: Callable[[Registry], None] = entry_point.load()
            scratch = Registry()
            register(scratch)
        except Exception:  # a broken plugin is not the one we are after
            continue
        if format_name in scratch:
            return register
        found += [fmt.name for fmt in scratch]
    known = ", ".join(found) or "none"
    raise TargetError(f"no installed plugin registers {format_name!r} (installed formats: {known})")
