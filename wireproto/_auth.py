"""Authentication, a listener setting every wire format on the port honours.

A listener either requires no authentication, or requires every client to
authenticate before it reads or changes anything, whatever the wire format.
Each format speaks its own protocol's authentication against the listener's
:class:`AuthSettings` (RESP ``AUTH``, memcached's SASL ``PLAIN`` or its
``set``-carried token); a format whose provider cannot authenticate is not
served on a listener that requires it. Sessions read the setting from their
sender's :attr:`~wireproto._session.NetworkSender.auth`, and the users made from
it (and by ``ACL SETUSER``) from the listener's directory (:mod:`wireproto._users`).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

__all__ = ["DEFAULT_USER", "NO_AUTH", "AuthSettings"]

DEFAULT_USER = b"default"
"""The user a bare password authenticates (Redis's ``AUTH <password>``)."""


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """Who may use a listener: ``password`` for user :data:`DEFAULT_USER`, or nobody checked.

    ``password`` ``None`` (the default) means clients need not authenticate.
    With a password, a client authenticates as ``username`` (``default``, as
    Redis's default user) with that password; RESP's one-argument ``AUTH``
    names ``username`` implicitly. This is the listener's starting point: its
    users (Redis's ACL, changed at run time) live in the listener's
    :class:`~wireproto._users.UserDirectory`, whose ``default`` user this
    setting makes.
    """

    password: bytes | None = None
    username: bytes = DEFAULT_USER

    def __post_init__(self) -> None:
        if self.password is not None and not isinstance(self.password, bytes):
            raise TypeError("password must be bytes or None")
        if not isinstance(self.username, bytes) or not self.username:
            raise ValueError("username must be non-empty bytes")

    @classmethod
    def with_password(cls, password: str | bytes | None) -> AuthSettings:
        """Settings requiring ``password`` (a ``str`` is UTF-8 encoded; ``None``: no auth)."""
        if isinstance(password, str):
            password = password.encode()
        return cls(password)

    @property
    def required(self) -> bool:
        """True when clients must authenticate before anything else."""
        return self.password is not None

    def check(self, username: bytes, password: bytes) -> bool:
        """Whether ``username`` / ``password`` authenticate, compared in constant time.

        Always False when no password is configured: there is nobody to be.
        """
        expected = self.password
        if expected is None:
            return False
        # Both comparisons run whatever the first one says.
        user_ok = hmac.compare_digest(username, self.username)
        password_ok = hmac.compare_digest(password, expected)
        return user_ok & password_ok


NO_AUTH = AuthSettings()
"""A listener that requires no authentication."""
