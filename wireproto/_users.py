"""The users a listener knows (Redis's ACL), shared by every wire format on it.

A :class:`UserDirectory` holds :class:`User` records: enabled or not, their
passwords (SHA-256 hashes), the commands they may run, the key and channel
patterns they may touch. It starts from the listener's
:class:`~wireproto._auth.AuthSettings` (user ``default``: its password, or
``nopass``, with every permission) and changes at run time (RESP's ``ACL
SETUSER``). Rules follow Redis 7.0's ``acl.c`` (``ACLSetUser``,
``ACLSetSelector``) and are described back as it describes them
(``ACLDescribeUser``). Commands are named as Redis names them (``get``,
``client|list``); a :class:`CommandCatalog` tells the rules which commands
and categories exist. Key and channel patterns are Redis globs, matched by
the function the caller passes (the store's matcher).

The listener keeps one directory (``sender.listener.users``); see
:func:`directory_for`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from wireproto._auth import AuthSettings

__all__ = [
    "LOG_GROUPING",
    "LOG_MAX_LENGTH",
    "READ",
    "WRITE",
    "AclError",
    "CommandCatalog",
    "KeyPattern",
    "LogEntry",
    "RuleError",
    "User",
    "UserDirectory",
    "directory_for",
    "hash_password",
]

READ: Final = 1
"""Key permission: read (``%R~``)."""
WRITE: Final = 2
"""Key permission: write (``%W~``)."""
_ALL = READ | WRITE

Glob = Callable[[bytes, bytes], bool]
"""``match(pattern, subject)``: whether ``subject`` matches the Redis glob ``pattern``."""


def hash_password(password: bytes) -> bytes:
    """The SHA-256 hex digest Redis stores and shows (``#<hash>``)."""
    return hashlib.sha256(password).hexdigest().encode()


class AclError(ValueError):
    """A rule Redis refuses; ``reason`` is ``ACLSetUserStringError``'s text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_UNKNOWN = "Unknown command or category name in ACL"
_SYNTAX = "Syntax error"
_AFTER_ALLKEYS = (
    "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not "
    "have any effect. Try 'resetkeys' to start with an empty list of patterns"
)
_AFTER_ALLCHANNELS = (
    "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does "
    "not have any effect. Try 'resetchannels' to start with an empty list of channels"
)
_NO_SUCH_PASSWORD = "The password you are trying to remove from the user does not exist"
_BAD_HASH = (
    "The password hash must be exactly 64 characters and contain only lowercase hexadecimal "
    "characters"
)
_SUB_FIRST_ARG = "Allowing first-arg of a subcommand is not supported"


@dataclass(frozen=True)
class CommandCatalog:
    """The commands rules may name: every full name (``client|list``) in table order, each
    container's subcommands, and each ACL category's members, categories in Redis's order."""

    names: tuple[str, ...]
    subcommands: Mapping[str, tuple[str, ...]]
    categories: Mapping[str, tuple[str, ...]]
    _known: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_known", frozenset(self.names))

    def known(self, name: str) -> bool:
        """Whether ``name`` (lower case) is a command or subcommand."""
        return name in self._known


@dataclass(frozen=True, slots=True)
class KeyPattern:
    """A key glob and what it grants (:data:`READ`, :data:`WRITE` or both)."""

    pattern: bytes
    flags: int

    def describe(self) -> bytes:
        """As Redis writes it: ``~pat``, ``%R~pat`` or ``%W~pat``."""
        prefix = {_ALL: b"~", READ: b"%R~", WRITE: b"%W~"}[self.flags]
        return prefix + self.pattern


def _has_spaces(value: bytes) -> bool:
    return any(byte in b" \t\n\v\f\r\0" for byte in value)


def _hex_hash(value: bytes) -> bool:
    return len(value) == 64 and all(byte in b"0123456789abcdef" for byte in value)


def _password_hash(rule: bytes, plain: bytes) -> bytes:
    """The SHA-256 hex a password rule names: hashed from ``plain`` rules, else given."""
    if rule[:1] == plain:
        return hash_password(rule[1:])
    if _hex_hash(rule[1:]):
        return rule[1:]
    raise AclError(_BAD_HASH)


class User:
    """One user: flags, password hashes and its root selector (commands, keys, channels).

    Mutated only through :meth:`apply` (one rule) or :meth:`UserDirectory.set_user`
    (all of a command's rules or none).
    """

    __slots__ = (
        "all_channels",
        "all_commands",
        "all_keys",
        "allowed",
        "channels",
        "enabled",
        "first_args",
        "future",
        "keys",
        "name",
        "nopass",
        "passwords",
        "sanitize",
    )

    def __init__(self, name: bytes) -> None:
        self.name = name
        self.enabled = False
        self.nopass = False
        self.sanitize: bool | None = None
        """``sanitize-payload`` (True), ``skip-sanitize-payload`` (False) or neither."""
        self.passwords: list[bytes] = []
        """SHA-256 hex digests, in the order added."""
        self.all_commands = False
        """Redis's ALLCOMMANDS flag: every command, checked without :attr:`allowed`."""
        self.future = False
        """The reserved bit ``+@all`` sets: described from ``+@all`` rather than ``-@all``."""
        self.allowed: set[str] = set()
        """Commands whose bit is set (meaningful when :attr:`all_commands` is off)."""
        self.first_args: dict[str, list[bytes]] = {}
        """``+cmd|arg`` for commands without subcommands: the first arguments allowed."""
        self.all_keys = False
        self.keys: list[KeyPattern] = []
        self.all_channels = False
        self.channels: list[bytes] = []

    # -- checks -------------------------------------------------------------------------

    @property
    def unrestricted(self) -> bool:
        """Whether every command may touch every key and channel (no check is needed)."""
        return self.all_commands and self.all_keys and self.all_channels

    def can_run(self, name: str, first_arg: bytes | None = None) -> bool:
        """Whether the command ``name`` (``get``, ``client|list``) may run."""
        if self.all_commands or name in self.allowed:
            return True
        allowed = self.first_args.get(name)
        return (
            allowed is not None
            and first_arg is not None
            and first_arg.lower() in (a.lower() for a in allowed)
        )

    def can_access(self, key: bytes, flags: int, match: Glob) -> bool:
        """Whether ``key`` may be used with ``flags`` (:data:`READ` | :data:`WRITE`)."""
        if self.all_keys:
            return True
        return any(
            pattern.flags & flags == flags and match(pattern.pattern, key) for pattern in self.keys
        )

    def can_use_channel(self, channel: bytes, is_pattern: bool, match: Glob) -> bool:
        """Whether ``channel`` may be published or subscribed to (a PSUBSCRIBE pattern is
        compared literally, as Redis does)."""
        if self.all_channels:
            return True
        if is_pattern:
            return channel in self.channels
        return any(match(pattern, channel) for pattern in self.channels)

    def check_password(self, password: bytes) -> bool:
        """Whether ``password`` is one of the user's (any, with ``nopass``); disabled users
        never pass."""
        if not self.enabled:
            return False
        if self.nopass:
            return True
        hashed = hash_password(password)
        found = False
        for stored in self.passwords:  # every comparison runs
            found |= hmac.compare_digest(hashed, stored)
        return found

    # -- rules --------------------------------------------------------------------------

    def copy(self) -> User:
        """An independent copy (rules are staged on one, as Redis does)."""
        other = User(self.name)
        for name in User.__slots__:
            value = getattr(self, name)
            if isinstance(value, (list, set)):
                value = value.copy()
            elif isinstance(value, dict):
                value = {key: list(args) for key, args in value.items()}
            setattr(other, name, value)
        return other

    def copy_from(self, other: User) -> None:
        """Take every field of ``other`` (the staged copy) but the name."""
        for name in User.__slots__:
            if name != "name":
                setattr(self, name, getattr(other, name))

    def _bit(self, name: str) -> bool:
        return self.all_commands or name in self.allowed

    def _set_bit(self, name: str, value: bool, catalog: CommandCatalog) -> None:
        if value:
            self.allowed.add(name)
            return
        if self.all_commands:  # ALLCOMMANDS means every bit is set: make them explicit
            self.all_commands = False
            self.allowed = set(catalog.names)
        self.allowed.discard(name)

    def _change(self, name: str, allow: bool, catalog: CommandCatalog) -> None:
        """Redis's ``ACLChangeSelectorPerm``: a container's subcommands follow it."""
        self._set_bit(name, allow, catalog)
        self.first_args.pop(name, None)
        for sub in catalog.subcommands.get(name, ()):
            self._set_bit(sub, allow, catalog)

    def _all(self, allow: bool, catalog: CommandCatalog) -> None:
        self.all_commands = self.future = allow
        self.allowed = set(catalog.names) if allow else set()
        self.first_args.clear()

    def _category(self, category: str, allow: bool, catalog: CommandCatalog) -> None:
        members = catalog.categories.get(category.lower())
        if members is None:
            raise AclError(_UNKNOWN)
        for name in members:
            self._change(name, allow, catalog)

    def apply(self, rule: bytes, catalog: CommandCatalog) -> None:
        """Apply one rule (``ACLSetUser``); :class:`AclError` if Redis refuses it."""
        if not rule:
            return
        lower = rule.lower()
        if lower == b"on":
            self.enabled = True
        elif lower == b"off":
            self.enabled = False
        elif lower == b"skip-sanitize-payload":
            self.sanitize = False
        elif lower == b"sanitize-payload":
            self.sanitize = True
        elif lower == b"nopass":
            self.nopass = True
            self.passwords.clear()
        elif lower == b"resetpass":
            self.nopass = False
            self.passwords.clear()
        elif rule[:1] in (b">", b"#"):
            hashed = _password_hash(rule, plain=b">")
            if hashed not in self.passwords:
                self.passwords.append(hashed)
            self.nopass = False
        elif rule[:1] in (b"<", b"!"):
            hashed = _password_hash(rule, plain=b"<")
            if hashed not in self.passwords:
                raise AclError(_NO_SUCH_PASSWORD)
            self.passwords.remove(hashed)
        elif lower == b"reset":
            for step in (b"resetpass", b"resetkeys", b"resetchannels", b"off"):
                self.apply(step, catalog)
            self.sanitize = True
            self._all(False, catalog)
        elif rule[:1] == b"(" and rule[-1:] == b")":
            raise AclError(_SYNTAX)  # selectors are not supported here
        elif lower == b"clearselectors":
            pass  # there are no selectors beside the root one
        else:
            self._selector_rule(rule, lower, catalog)

    def _selector_rule(self, rule: bytes, lower: bytes, catalog: CommandCatalog) -> None:
        """Redis's ``ACLSetSelector``."""
        if lower in (b"allkeys", b"~*"):
            self.all_keys = True
            self.keys.clear()
        elif lower == b"resetkeys":
            self.all_keys = False
            self.keys.clear()
        elif lower in (b"allchannels", b"&*"):
            self.all_channels = True
            self.channels.clear()
        elif lower == b"resetchannels":
            self.all_channels = False
            self.channels.clear()
        elif lower in (b"allcommands", b"+@all"):
            self._all(True, catalog)
        elif lower in (b"nocommands", b"-@all"):
            self._all(False, catalog)
        elif rule[:1] in (b"~", b"%"):
            self._key_rule(rule)
        elif rule[:1] == b"&":
            if self.all_channels:
                raise AclError(_AFTER_ALLCHANNELS)
            if _has_spaces(rule[1:]):
                raise AclError(_SYNTAX)
            if rule[1:] not in self.channels:
                self.channels.append(rule[1:])
            self.all_channels = False
        elif rule[:1] in (b"+", b"-") and rule[1:2] != b"@":
            self._command_rule(rule, catalog)
        elif rule[:1] in (b"+", b"-"):
            self._category(rule[2:].decode("latin-1"), rule[:1] == b"+", catalog)
        else:
            raise AclError(_SYNTAX)

    def _key_rule(self, rule: bytes) -> None:
        if self.all_keys:
            raise AclError(_AFTER_ALLKEYS)
        flags = 0
        offset = 1
        if rule[:1] == b"%":
            while offset < len(rule):
                char = rule[offset : offset + 1].upper()
                if char == b"R" and not flags & READ:
                    flags |= READ
                elif char == b"W" and not flags & WRITE:
                    flags |= WRITE
                elif char == b"~":
                    offset += 1
                    break
                else:
                    raise AclError(_SYNTAX)
                offset += 1
            else:
                # Redis reads on past the rule's end here; every such rule is refused.
                raise AclError(_SYNTAX)
        else:
            flags = _ALL
        pattern = rule[offset:]
        if _has_spaces(pattern) or not flags:
            raise AclError(_SYNTAX)
        for i, existing in enumerate(self.keys):
            if existing.pattern == pattern:
                self.keys[i] = KeyPattern(pattern, existing.flags | flags)
                break
        else:
            self.keys.append(KeyPattern(pattern, flags))
        self.all_keys = False

    def _command_rule(self, rule: bytes, catalog: CommandCatalog) -> None:
        allow = rule[:1] == b"+"
        name = rule[1:].decode("latin-1").lower()
        if not allow or "|" not in name:
            if not catalog.known(name):
                raise AclError(_UNKNOWN)
            self._change(name, allow, catalog)
            return
        parent, _, sub = name.rpartition("|")
        if not catalog.known(parent):
            raise AclError(_UNKNOWN)
        if "|" in parent:
            raise AclError(_SUB_FIRST_ARG)
        if not sub:
            raise AclError(_SYNTAX)
        if parent in catalog.subcommands:
            if not catalog.known(name):
                raise AclError(_UNKNOWN)
            self._change(name, True, catalog)
            return
        allowed = self.first_args.setdefault(parent, [])
        original = rule[1:].rpartition(b"|")[2]
        if original.lower() not in (arg.lower() for arg in allowed):
            allowed.append(original)

    # -- description --------------------------------------------------------------------

    def flag_names(self) -> list[bytes]:
        """The flags ACL GETUSER lists, in Redis's order."""
        flags = [b"on" if self.enabled else b"off"]
        if self.nopass:
            flags.append(b"nopass")
        if self.sanitize is False:
            flags.append(b"skip-sanitize-payload")
        elif self.sanitize is True:
            flags.append(b"sanitize-payload")
        return flags

    def describe_keys(self) -> bytes:
        """GETUSER's ``keys``: ``~*``, or the patterns separated by spaces."""
        if self.all_keys:
            return b"~*"
        return b" ".join(pattern.describe() for pattern in self.keys)

    def describe_channels(self) -> bytes:
        """GETUSER's ``channels``: ``&*``, or the patterns separated by spaces."""
        if self.all_channels:
            return b"&*"
        return b" ".join(b"&" + channel for channel in self.channels)

    def describe_commands(self, catalog: CommandCatalog) -> bytes:
        """Redis's ``ACLDescribeSelectorCommandRules``: ``+@all``/``-@all``, the best-fitting
        categories, then single commands, so that applying them rebuilds the same bits."""
        additive = not self.future
        rules = [b"-@all" if additive else b"+@all"]
        fake = User(b"")
        fake._all(not additive, catalog)
        temp = self.copy()
        applied: set[str] = set()
        while True:
            best, min_diff, max_same = "", 1 << 62, 0
            for category, members in catalog.categories.items():
                if category in applied:
                    continue
                on = sum(1 for name in members if temp._bit(name))
                off = len(members) - on
                diff, same = (off, on) if additive else (on, off)
                if same > diff and (diff < min_diff or (diff == min_diff and same > max_same)):
                    best, min_diff, max_same = category, diff, same
            if not best:
                break
            fake._category(best, additive, catalog)
            temp._category(best, not additive, catalog)
            rules.append((b"+@" if additive else b"-@") + best.encode())
            applied.add(best)
        for name in catalog.names:
            bit = self._bit(name)
            if bit != fake._bit(name):
                rules.append((b"+" if bit else b"-") + name.encode())
                fake._change(name, bit, catalog)
            if not bit:
                rules += [b"+%s|%s" % (name.encode(), a) for a in self.first_args.get(name, ())]
        return b" ".join(rules)

    def describe(self, catalog: CommandCatalog) -> bytes:
        """Redis's ``ACLDescribeUser``: what ACL LIST shows after ``user <name>``."""
        parts = self.flag_names()
        parts += [b"#" + hashed for hashed in self.passwords]
        if self.all_keys:
            parts.append(b"~*")
        else:
            parts += [pattern.describe() for pattern in self.keys]
        if self.all_channels:
            parts.append(b"&*")
        else:
            parts.append(b"resetchannels")
            parts += [b"&" + channel for channel in self.channels]
        parts.append(self.describe_commands(catalog))
        return b" ".join(parts)


@dataclass
class LogEntry:
    """One ACL LOG entry: what was denied to whom, and how many times lately."""

    reason: str
    """``command``, ``key``, ``channel`` or ``auth``."""
    context: str
    """``toplevel``, ``multi`` or ``lua``."""
    object: bytes
    username: bytes
    time: float
    """When it last happened (seconds, ``time.time()``)."""
    client_info: bytes
    count: int = 1


LOG_GROUPING = 60.0
"""Seconds within which a denial like a recent one bumps its count (Redis's 60 s)."""
LOG_MAX_LENGTH = 128
"""Entries the log keeps (Redis's ``acllog-max-len`` default)."""


class UserDirectory:
    """The listener's users by name, and who is logged in as each (to end their sessions).

    Built from :class:`AuthSettings`: user ``default`` with the listener's
    password (or ``nopass``), every command, key and channel. A session
    :meth:`attach` es itself to the user it runs as with a callback that is
    called when the user's rules change (``changed``) or the user is deleted
    (``deleted``).
    """

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        default = User(settings.username)
        default.enabled = True
        default.all_commands = default.future = True
        default.all_keys = default.all_channels = True
        if settings.password is None:
            default.nopass = True
        else:
            default.passwords.append(hash_password(settings.password))
        self._users: dict[bytes, User] = {settings.username: default}
        self.log: list[LogEntry] = []
        """ACL LOG, newest first (Redis's ``addACLLogEntry``)."""
        self._sessions: dict[bytes, dict[object, Callable[[str], None]]] = {}

    @property
    def default(self) -> User:
        """The user a connection starts as (``default``)."""
        return self._users[self.settings.username]

    @property
    def auth_required(self) -> bool:
        """Whether a new connection must authenticate (Redis's ``authRequired``)."""
        default = self.default
        return not default.nopass or not default.enabled

    @property
    def open_to_anyone(self) -> bool:
        """Whether a client may be served without authenticating at all (a format with
        no authentication of its own): ``default`` is on, needs no password and may run
        every command on every key and channel."""
        default = self.default
        return default.enabled and default.nopass and default.unrestricted

    def get(self, name: bytes) -> User | None:
        """The user called ``name``, or None."""
        return self._users.get(name)

    def __iter__(self) -> Iterator[User]:
        """The users in name order (as Redis's radix tree lists them)."""
        return iter([self._users[name] for name in sorted(self._users)])

    def __len__(self) -> int:
        return len(self._users)

    def authenticate(self, name: bytes, password: bytes) -> User | None:
        """The user ``name`` if ``password`` is one of its own and it is enabled, else None."""
        user = self._users.get(name)
        if user is None:
            hash_password(password)  # the same work whether the user exists or not
            return None
        return user if user.check_password(password) else None

    def set_user(self, name: bytes, rules: Sequence[bytes], catalog: CommandCatalog) -> None:
        """ACL SETUSER: apply every rule to a copy, then keep it (created if new); on an
        :class:`AclError` (``.rule`` says which) nothing changes."""
        existing = self._users.get(name)
        staged = existing.copy() if existing is not None else User(name)
        for rule in rules:
            try:
                staged.apply(rule, catalog)
            except AclError as exc:
                raise RuleError(rule, exc.reason) from None
        if existing is None:
            self._users[name] = staged
            return
        existing.copy_from(staged)
        self._notify(name, "changed")

    def delete(self, name: bytes) -> bool:
        """ACL DELUSER of one user (not the default one): whether it existed. Its sessions
        are told (``deleted``): Redis closes them."""
        if name == self.settings.username:
            raise ValueError("the default user cannot be removed")
        if self._users.pop(name, None) is None:
            return False
        self._notify(name, "deleted")
        self._sessions.pop(name, None)
        return True

    def attach(self, user: User, session: object, callback: Callable[[str], None]) -> None:
        """Call ``callback("changed" | "deleted")`` when ``user`` changes, until :meth:`detach`."""
        self._sessions.setdefault(user.name, {})[session] = callback

    def detach(self, user: User, session: object) -> None:
        """Stop telling ``session`` about ``user``."""
        sessions = self._sessions.get(user.name)
        if sessions is not None:
            sessions.pop(session, None)
            if not sessions:
                del self._sessions[user.name]

    def log_denial(self, entry: LogEntry) -> None:
        """Record a denial: a match among the last 10 entries (same reason, context, object
        and user, within :data:`LOG_GROUPING`) moves to the head with its count bumped."""
        for i, current in enumerate(self.log[:10]):
            if (
                current.reason == entry.reason
                and current.context == entry.context
                and abs(current.time - entry.time) <= LOG_GROUPING
                and current.object == entry.object
                and current.username == entry.username
            ):
                del self.log[i]
                current.count += 1
                current.time = entry.time
                current.client_info = entry.client_info
                self.log.insert(0, current)
                return
        self.log.insert(0, entry)
        del self.log[LOG_MAX_LENGTH:]

    def _notify(self, name: bytes, what: str) -> None:
        for callback in list(self._sessions.get(name, {}).values()):
            callback(what)


class RuleError(AclError):
    """An :class:`AclError` for one rule of a SETUSER."""

    def __init__(self, rule: bytes, reason: str) -> None:
        super().__init__(reason)
        self.rule = rule


def directory_for(
    auth: AuthSettings, listener: object, own: dict[AuthSettings, UserDirectory]
) -> UserDirectory:
    """The directory of ``listener`` (a sender's ``listener``) when it has one for the
    settings ``auth``, else the one in ``own`` for them (a provider's, outside a
    ``Server``: tests and fuzzing), created on first use."""
    found = getattr(listener, "users", None)
    if isinstance(found, UserDirectory) and found.settings == auth:
        return found
    directory = own.get(auth)
    if directory is None:
        directory = own[auth] = UserDirectory(auth)
    return directory
