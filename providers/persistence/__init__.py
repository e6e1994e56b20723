"""Durability for the shared store: an append-only log, rewrites and snapshots.

``wireproto serve --dir DIR [--appendfsync always|everysec|no]`` sets the
registry options ``persistence.dir`` and ``persistence.appendfsync``; this
plugin's :func:`register` then replays ``DIR`` into the registry's databases
(:func:`~providers.kvstore.shared_databases`) and logs every later write,
whichever format made it. Without ``persistence.dir`` it does nothing. See
``docs/durability.md``.
"""

from __future__ import annotations

import asyncio
import atexit
from collections.abc import Callable

from wireproto import Registry

from ..kvstore import Store, attach_service, service, shared_databases
from .log import FSYNC_MODES, AppendLog
from .records import register_codec

__all__ = ["FSYNC_MODES", "AppendLog", "log_of", "register", "register_codec"]


def log_of(store: Store) -> AppendLog | None:
    """The append-only log that records ``store`` (database 0 of a server), if any."""
    found = service(store, "persistence")
    return found if isinstance(found, AppendLog) else None


def _call_soon(callback: Callable[[], None]) -> None:
    try:
        asyncio.get_running_loop().call_soon(callback)
    except RuntimeError:  # no loop (replay, tests): the next reply barrier writes it
        return


def attach(registry: Registry, directory: str, mode: str = "everysec", **options: int) -> AppendLog:
    """Log the databases of ``registry`` in ``directory`` (replayed first); the log."""
    databases = shared_databases(registry)
    log = AppendLog(directory, list(databases), mode, schedule=_call_soon, **options)
    log.open()
    for store in databases:
        attach_service(store, "persistence", log)
    registry.before_replies(log.flush)
    atexit.register(log.close)
    return log


def register(registry: Registry) -> None:
    """Entry point of the ``wireproto.providers`` group: logs the store when asked to.

    Options: ``persistence.dir`` (none: nothing is written), ``persistence.appendfsync``
    (``always``, ``everysec`` (default) or ``no``), ``persistence.auto-rewrite-min-size``
    (bytes; default 64 MiB).
    """
    options = registry.options
    directory = options.get("persistence.dir")
    mode = options.get("persistence.appendfsync", "everysec")
    min_size = int(options.get("persistence.auto-rewrite-min-size", str(64 << 20)))
    if not directory:
        return
    attach(registry, directory, mode, auto_rewrite_min_size=min_size)
