"""CONFIG GET/SET/RESETSTAT/REWRITE/HELP over a registry of parameters other modules extend.

A :class:`Parameter` reads its value from the provider and, when it may be
changed at run time, validates and applies a new one (Redis's error texts).
:func:`register_parameter` adds one (or replaces one of the same name): a
family module registers what it implements at import time. The encoding
thresholds (``hash-max-listpack-entries``...) are process-wide, as a whole
redis-server's (:mod:`providers.datatypes.thresholds`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from wireproto._listener_limits import OpenFilesLimit

from ...datatypes.thresholds import THRESHOLDS
from ...kvstore import compile_glob, parse_int64
from ..limits import RespLimits
from ..replies import OK, bulk, error, map_reply
from . import persistence
from ._base import Client, Command, ProviderState, container
from ._hub import keyspace_events_text, parse_keyspace_events

__all__ = [
    "COMMANDS",
    "Parameter",
    "checked_int",
    "enum_parameter",
    "fixed",
    "int_parameter",
    "parameters",
    "parse_memory",
    "register_parameter",
]

Getter = Callable[[ProviderState], bytes]
Setter = Callable[[ProviderState, bytes], bytes | None]
"""Applies a value; returns Redis's reason text when the value is refused (nothing changed)."""


ClientGetter = Callable[[Client], bytes]
ClientSetter = Callable[[Client, bytes], bytes | None]


@dataclass(frozen=True, slots=True)
class Parameter:
    """One CONFIG parameter: Redis's name, how to read it and (None: immutable) to set it."""

    name: bytes
    get: Getter
    set: Setter | None = None
    aliases: tuple[bytes, ...] = ()
    """Older names Redis still answers to (``hash-max-ziplist-entries``)."""
    client_get: ClientGetter | None = None
    client_set: ClientSetter | None = None
    """Read and set through the asking client instead of the provider, for what the
    client's listener holds (``requirepass``: its users)."""

    def read(self, s: Client) -> bytes:
        """The value, as ``s`` sees it."""
        return self.get(s.provider) if self.client_get is None else self.client_get(s)

    def apply(self, s: Client, value: bytes) -> bytes | None:
        """Set ``value`` for ``s``; Redis's reason text when it is refused."""
        if self.client_set is not None:
            return self.client_set(s, value)
        assert self.set is not None
        return self.set(s.provider, value)

    @property
    def mutable(self) -> bool:
        """Whether CONFIG SET may change it."""
        return self.set is not None or self.client_set is not None


def _persistence_set(provider: ProviderState, name: bytes, value: bytes) -> bytes | None:
    """CONFIG SET of a persistence parameter through the log (the reason text if refused)."""
    refused = persistence.config_set(provider.store, name, value)
    if refused is None:
        return None
    text = refused[1:].rstrip(b"\r\n")
    prefix = b"ERR CONFIG SET failed (possibly related to argument '%s') - " % name
    return text[len(prefix) :] if text.startswith(prefix) else text


_PARAMETERS: dict[bytes, Parameter] = {}
_NAMES: dict[bytes, Parameter] = {}


def register_parameter(parameter: Parameter) -> None:
    """Add ``parameter`` to CONFIG (replacing one of the same name)."""
    _PARAMETERS[parameter.name] = parameter
    _NAMES[parameter.name] = parameter
    for alias in parameter.aliases:
        _NAMES[alias] = parameter


def parameters() -> Sequence[Parameter]:
    """Every registered parameter, in registration order."""
    return tuple(_PARAMETERS.values())


def fixed(value: bytes) -> Getter:
    """A getter for a value this server does not change."""
    return lambda provider: value


def _stored(name: bytes, default: bytes) -> Getter:
    return lambda provider: provider.config_values.get(name, default)


def checked_int(value: bytes, low: int, high: int) -> int | bytes:
    """``value`` as an integer in ``low..high``, or the reason CONFIG SET refuses it (Redis's)."""
    parsed = parse_int64(value)
    if parsed is None:
        return b"argument couldn't be parsed into an integer"
    if not low <= parsed <= high:
        return b"argument must be between %d and %d inclusive" % (low, high)
    return parsed


def int_parameter(
    name: bytes, default: int, low: int, high: int, aliases: tuple[bytes, ...] = ()
) -> Parameter:
    """An integer kept in the provider's ``config_values`` (checked as Redis checks it)."""

    def set_(provider: ProviderState, value: bytes) -> bytes | None:
        parsed = checked_int(value, low, high)
        if isinstance(parsed, bytes):
            return parsed
        provider.config_values[name] = b"%d" % parsed
        return None

    return Parameter(name, _stored(name, b"%d" % default), set_, aliases)


def _threshold(name: bytes, aliases: tuple[bytes, ...] = (), memory: bool = False) -> Parameter:
    """An encoding threshold (:data:`~providers.datatypes.thresholds.THRESHOLDS`, for the
    whole process as for a whole redis-server), 0 to LONG_MAX (``memory``: with units)."""
    attribute = name.decode().replace("-", "_")

    def get(provider: ProviderState) -> bytes:
        return b"%d" % getattr(THRESHOLDS, attribute)

    def set_(provider: ProviderState, value: bytes) -> bytes | None:
        check = _checked_memory if memory else checked_int
        parsed = check(value, 0, _LONG_MAX)
        if isinstance(parsed, bytes):
            return parsed
        setattr(THRESHOLDS, attribute, parsed)
        return None

    return Parameter(name, get, set_, aliases)


def enum_parameter(name: bytes, default: bytes, choices: Sequence[bytes]) -> Parameter:
    """One of ``choices`` (any case), kept in the provider's ``config_values``."""

    def set_(provider: ProviderState, value: bytes) -> bytes | None:
        if value.lower() not in choices:
            return b"argument(s) must be one of the following: " + b", ".join(choices)
        provider.config_values[name] = value.lower()
        return None

    return Parameter(name, _stored(name, default), set_)


_ULLONG = (1 << 64) - 1
_UNITS = {
    b"": 1,
    b"b": 1,
    b"k": 1000,
    b"kb": 1024,
    b"m": 1000**2,
    b"mb": 1024**2,
    b"g": 1000**3,
    b"gb": 1024**3,
}


def parse_memory(value: bytes) -> int | None:
    """Redis's ``memtoull``: digits and an optional unit (``k``, ``kb``, ``mb``...); None if bad."""
    digits = len(value) - len(value.lstrip(b"0123456789"))
    if value[:1] == b"-":
        return None
    unit = _UNITS.get(value[digits:].lower())
    if unit is None or digits >= 128:
        return None
    # No digits at all reads as 0, as strtoull("") does for Redis ("mb" sets 0).
    return (min(int(value[:digits] or b"0"), _ULLONG) * unit) & _ULLONG


def _checked_memory(value: bytes, low: int, high: int) -> int | bytes:
    """A memory value (``2mb``) in ``low..high``, or Redis's reason to refuse it.

    As Redis reads it into a ``long long``: past ``LLONG_MAX`` it wraps to a
    negative number, below any ``low``.
    """
    parsed = parse_memory(value)
    if parsed is None:
        return b"argument must be a memory value"
    if parsed > _LONG_MAX:
        parsed -= 1 << 64
    if not low <= parsed <= high:
        return b"argument must be between %d and %d inclusive" % (low, high)
    return parsed


def _set_keyspace_events(provider: ProviderState, value: bytes) -> bytes | None:
    classes = parse_keyspace_events(value)
    if classes is None:
        return b"Invalid event class character. Use 'Ag$lshzxeKEtmdn'."
    provider.pubsub.set_keyspace_events(classes)
    return None


_LONG_MAX = (1 << 63) - 1
_INT_MAX = (1 << 31) - 1
_UINT_MAX = (1 << 32) - 1


def _set_hz(provider: ProviderState, value: bytes) -> bytes | None:
    """``hz``: Redis takes 0 to INT_MAX and runs at 1 to 500 (``updateHZ``); so does the
    active-expiry round here."""
    parsed = parse_int64(value)
    if parsed is None:
        return b"argument couldn't be parsed into an integer"
    if not 0 <= parsed <= _INT_MAX:
        return b"argument must be between 0 and %d inclusive" % _INT_MAX
    provider.hz = min(max(parsed, 1), 500)
    return None


def _set_maxclients(provider: ProviderState, value: bytes) -> bytes | None:
    """``maxclients``: the listener's admission, for every format on it (Redis: 1 to
    UINT_MAX, and the open-file limit raised to fit, or the number that fits)."""
    parsed = checked_int(value, 1, _UINT_MAX)
    if isinstance(parsed, bytes):
        return parsed
    try:
        provider.set_max_clients(parsed)
    except OpenFilesLimit as exc:
        return (
            b"The operating system is not able to handle the specified number of clients, "
            b"try with %d" % exc.fits
        )
    return None


def _set_timeout(provider: ProviderState, value: bytes) -> bytes | None:
    """``timeout``: seconds a client may stay idle (0: forever), 0 to INT_MAX."""
    parsed = checked_int(value, 0, _INT_MAX)
    if isinstance(parsed, bytes):
        return parsed
    provider.timeout = parsed
    return None


_MIN_LIMIT = 1024 * 1024
"""The least ``proto-max-bulk-len`` and ``client-query-buffer-limit`` Redis takes (1 MB)."""


def _limit_parameter(name: bytes, field: str, read: Callable[[RespLimits], int]) -> Parameter:
    """A request limit of :class:`~..limits.RespLimits` (``field``, read by ``read``): a
    memory value, 1 MB to LONG_MAX, applied to new and open connections."""

    def get(provider: ProviderState) -> bytes:
        return b"%d" % read(provider.resp_limits)

    def set_(provider: ProviderState, value: bytes) -> bytes | None:
        parsed = _checked_memory(value, _MIN_LIMIT, _LONG_MAX)
        if isinstance(parsed, bytes):
            return parsed
        limits = provider.resp_limits
        if read(limits) != parsed:
            provider.set_resp_limits(dataclasses.replace(limits, **{field: parsed}))
        return None

    return Parameter(name, get, set_)


def _set_save(provider: ProviderState, value: bytes) -> bytes | None:
    """``save``: checked as Redis checks it; only no save points (``""``) is accepted, as
    this server takes snapshots on SAVE/BGSAVE/SHUTDOWN only, never on a schedule."""
    words = value.split()
    if len(words) % 2:
        return b"Invalid save parameters"
    for index, word in enumerate(words):
        number = parse_int64(word)
        if number is None or number < (1 if index % 2 == 0 else 0):
            return b"Invalid save parameters"
    if words:
        return b"automatic save points are not supported (use SAVE or BGSAVE)"
    return None


for _parameter in (
    Parameter(b"maxclients", lambda p: b"%d" % p.max_clients, _set_maxclients),
    Parameter(b"timeout", lambda p: b"%d" % p.timeout, _set_timeout),
    _limit_parameter(b"proto-max-bulk-len", "max_bulk_len", lambda limits: limits.max_bulk_len),
    _limit_parameter(
        b"client-query-buffer-limit", "max_query_len", lambda limits: limits.max_query_len
    ),
    Parameter(b"maxmemory", fixed(b"0")),
    Parameter(b"maxmemory-policy", fixed(b"noeviction")),
    Parameter(b"hz", lambda p: b"%d" % p.hz, _set_hz),
    Parameter(
        b"notify-keyspace-events",
        lambda p: keyspace_events_text(p.pubsub.keyspace_classes),
        _set_keyspace_events,
    ),
    Parameter(b"databases", lambda p: b"%d" % p.database_count),
    Parameter(b"save", fixed(b""), _set_save),
    Parameter(
        b"appendonly",
        lambda p: persistence.config_values(p.store)[b"appendonly"],
        lambda p, value: _persistence_set(p, b"appendonly", value),
    ),
    Parameter(
        b"appendfsync",
        lambda p: persistence.config_values(p.store)[b"appendfsync"],
        lambda p, value: _persistence_set(p, b"appendfsync", value),
    ),
    int_parameter(b"list-max-listpack-size", -2, -(1 << 31), _INT_MAX, (b"list-max-ziplist-size",)),
    int_parameter(b"list-compress-depth", 0, 0, _INT_MAX),
    _threshold(b"hash-max-listpack-entries", (b"hash-max-ziplist-entries",)),
    _threshold(b"hash-max-listpack-value", (b"hash-max-ziplist-value",), memory=True),
    _threshold(b"set-max-intset-entries"),
    _threshold(b"zset-max-listpack-entries", (b"zset-max-ziplist-entries",)),
    _threshold(b"zset-max-listpack-value", (b"zset-max-ziplist-value",), memory=True),
    _threshold(b"stream-node-max-entries"),
    _threshold(b"stream-node-max-bytes", memory=True),
    int_parameter(b"latency-monitor-threshold", 0, 0, _LONG_MAX),
    int_parameter(b"busy-reply-threshold", 5000, 0, _LONG_MAX, (b"lua-time-limit",)),
):
    register_parameter(_parameter)


def _matches(pattern: bytes) -> Iterator[tuple[bytes, Parameter]]:
    lowered = pattern.lower()
    if not any(char in lowered for char in b"*?["):
        parameter = _NAMES.get(lowered)
        if parameter is not None:
            yield lowered, parameter
        return
    match = compile_glob(lowered)
    for name, parameter in _NAMES.items():
        if match(name):
            yield name, parameter


def config_get(s: Client, argv: list[bytes]) -> bytes:
    """CONFIG GET pattern [pattern ...]: every parameter (or old name) matching a glob."""
    found: dict[bytes, bytes] = {}
    for pattern in argv[2:]:
        for name, parameter in _matches(pattern):
            if name not in found:
                found[name] = parameter.read(s)
    return map_reply([(bulk(name), bulk(value)) for name, value in found.items()], s.resp3)


def _set_failed(name: bytes, reason: bytes) -> bytes:
    return error(b"ERR CONFIG SET failed (possibly related to argument '%s') - %s" % (name, reason))


def config_set(s: Client, argv: list[bytes]) -> bytes:
    """CONFIG SET name value [name value ...]: all applied, or none (Redis's errors)."""
    if len(argv) % 2:
        return b"-ERR wrong number of arguments for 'config|set' command\r\n"
    pairs: list[tuple[bytes, Parameter, bytes]] = []
    seen: set[bytes] = set()
    for i in range(2, len(argv), 2):
        name = argv[i].lower()
        parameter = _NAMES.get(name)
        if parameter is None:
            return error(
                b"ERR Unknown option or number of arguments for CONFIG SET - '%s'" % argv[i]
            )
        if name in seen:  # by the name given, as Redis: an old name and its new one both apply
            return _set_failed(argv[i], b"duplicate parameter")
        seen.add(name)
        if not parameter.mutable:
            return _set_failed(argv[i], b"can't set immutable config")
        pairs.append((argv[i], parameter, argv[i + 1]))
    applied: list[tuple[Parameter, bytes]] = []
    for given, parameter, value in pairs:
        old = parameter.read(s)
        reason = parameter.apply(s, value)
        if reason is not None:
            for done, previous in reversed(applied):  # atomic: put back what was set
                done.apply(s, previous)
            return _set_failed(given, reason)
        applied.append((parameter, old))
    return OK


def config_resetstat(s: Client, argv: list[bytes]) -> bytes:
    """CONFIG RESETSTAT: INFO's counters start again from zero."""
    s.provider.reset_stats()
    return OK


def config_rewrite(s: Client, argv: list[bytes]) -> bytes:
    """CONFIG REWRITE: there is no configuration file to rewrite."""
    return b"-ERR The server is running without a config file\r\n"


_HELP = (
    b"CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    b"GET <pattern>",
    b"    Return parameters matching the glob-like <pattern> and their values.",
    b"SET <directive> <value>",
    b"    Set the configuration <directive> to <value>.",
    b"RESETSTAT",
    b"    Reset statistics reported by the INFO command.",
    b"REWRITE",
    b"    Rewrite the configuration file.",
    b"HELP",
    b"    Prints this help.",
)


def config_help(s: Client, argv: list[bytes]) -> bytes:
    """CONFIG HELP."""
    return b"*%d\r\n" % len(_HELP) + b"".join(b"+%s\r\n" % line for line in _HELP)


_ADMIN = ("admin", "noscript", "loading", "stale")

COMMANDS: list[Command] = [
    container(
        "config",
        -2,
        (),
        Command("config|get", -3, config_get, _ADMIN),
        Command("config|set", -4, config_set, _ADMIN),
        Command("config|resetstat", 2, config_resetstat, _ADMIN),
        Command("config|rewrite", 2, config_rewrite, _ADMIN),
        Command("config|help", 2, config_help, ("loading", "stale")),
    )
]
