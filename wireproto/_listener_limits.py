"""The listener's limits that may change while it serves (a provider's run-time setting).

:class:`~wireproto._listener.ServerLimits` is what a listener starts with and
stays frozen; :class:`ListenerLimits` is the part of it an administrator may
change at run time, e.g. through RESP's ``CONFIG SET maxclients``. The listener
owns one (``ListenerState.runtime_limits``) and reads it when it admits a
connection, so a new value holds for every format on the port at once.
Sessions reach it through their sender's ``listener``, as they reach its users.
"""

from __future__ import annotations

import resource

__all__ = ["RESERVED_FILES", "ListenerLimits", "OpenFilesLimit", "fit_open_files"]

RESERVED_FILES = 64
"""Descriptors kept for the process besides its connections (listening sockets, logs, files)."""


class OpenFilesLimit(ValueError):
    """The process may not hold that many connections; ``fits`` is how many it may."""

    def __init__(self, wanted: int, fits: int) -> None:
        super().__init__(
            f"the open-file limit lets the process hold {fits} connections, not {wanted}"
        )
        self.fits = fits


def fit_open_files(connections: int) -> int:
    """Raise the open-file limit (soft, and hard when allowed) to hold ``connections``.

    Returns how many connections the limit then holds (at least ``connections``
    when it could be raised far enough), as Redis's ``adjustOpenFilesLimit``.
    """
    wanted = connections + RESERVED_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return connections
    unlimited = hard == resource.RLIM_INFINITY
    # Never lower the hard limit; raising it needs privilege (as root, Redis does).
    attempts = [(wanted, hard if unlimited or hard >= wanted else wanted)]
    if not unlimited and soft < hard < wanted:
        attempts.append((hard, hard))  # else as many as the hard limit allows
    for target, ceiling in attempts:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, ceiling))
        except (ValueError, OSError):
            continue
        soft = target
        break
    return min(connections, max(soft - RESERVED_FILES, 1))


class ListenerLimits:
    """A listener's limits that may change while it serves, validated on every change.

    ``max_connections``: open connections the listener admits (a new one past
    it is closed as soon as it is accepted; those already open stay).
    """

    __slots__ = ("_max_connections",)

    def __init__(self, max_connections: int) -> None:
        self._max_connections = 0
        self.set_max_connections(max_connections, raise_files=False)

    @property
    def max_connections(self) -> int:
        """Open connections admitted."""
        return self._max_connections

    def set_max_connections(self, value: int, *, raise_files: bool = True) -> None:
        """Admit up to ``value`` open connections from now on.

        ``ValueError`` if ``value`` is below 1; :class:`OpenFilesLimit` (nothing
        changed) when ``raise_files`` and the process's open-file limit cannot
        be raised to hold that many.
        """
        if value < 1:
            raise ValueError("max_connections must be at least 1")
        if raise_files:
            fits = fit_open_files(value)
            if fits < value:
                raise OpenFilesLimit(value, fits)
        self._max_connections = value
