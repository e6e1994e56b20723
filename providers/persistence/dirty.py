"""The store observer of the append-only log: it marks written keys dirty, nothing more.

It runs inside every write to a logged database, so it is kept to a dict store
and compiled in the mypyc build (``wireproto/_build.py``); everything else the log
does happens once per batch (:meth:`AppendLog.flush <providers.persistence.log.AppendLog.flush>`).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["observer"]


def observer(
    db: int,
    dirty: dict[bytes, None],
    first: Callable[[int], None],
    flushed: Callable[[int], None],
    swapped: Callable[[int, int], None],
) -> Callable[[bytes, bytes], None]:
    """The observer of database ``db``: each written key goes into ``dirty``.

    ``first(db)`` is called when ``dirty`` stops being empty (the log schedules a
    write); ``flushed(db)`` on ``FLUSHDB``; ``swapped(db, other)`` on ``SWAPDB``.
    """

    def observe(event: bytes, key: bytes) -> None:
        if event == b"flushdb":
            flushed(db)
        elif event == b"swapdb":
            swapped(db, int(key))
        elif dirty:
            dirty[key] = None
        else:
            dirty[key] = None
            first(db)

    return observe
