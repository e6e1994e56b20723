"""Persistence commands: BGREWRITEAOF, SAVE, BGSAVE, LASTSAVE, SHUTDOWN; INFO persistence and
the ``appendonly``/``appendfsync`` parameters of CONFIG.

They drive the append-only log that ``wireproto serve --dir`` attaches to the
store (``providers/persistence``), found through
:func:`~providers.kvstore.service`; without ``--dir`` there is none and the
commands that need files say so.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Protocol, cast

from ...kvstore import Store, service
from ..replies import OK, error, integer, simple
from ._base import SYNTAX_ERROR, Client, Command

__all__ = ["COMMANDS", "Durability", "config_set", "config_values", "durability", "info_section"]

NO_DIR = error(b"ERR persistence is off: start wireproto serve with --dir DIR")
_STARTED = int(time.time())


class Durability(Protocol):
    """What these commands use of an ``AppendLog`` (``providers.persistence.log``)."""

    enabled: bool
    mode: str
    last_save_time: int
    rewrite_scheduled: bool

    @property
    def child_running(self) -> str:
        """``rewrite``, ``save`` or the empty string."""
        ...

    def rewrite(self) -> bool:
        """Start a rewrite in a forked child."""
        ...

    def bgsave(self) -> bool:
        """Write the snapshot from a forked child."""
        ...

    def save(self) -> None:
        """Write the snapshot in this process."""
        ...

    def flush(self) -> None:
        """Write the pending records."""
        ...

    def fsync(self) -> None:
        """fsync the log."""
        ...

    def close(self) -> None:
        """Write, fsync and stop logging."""
        ...

    def enable(self) -> None:
        """Log again after close (a new base first)."""
        ...

    def set_mode(self, mode: str) -> None:
        """Change ``appendfsync``."""
        ...

    def info_fields(self) -> list[tuple[str, int | str]]:
        """INFO persistence's fields."""
        ...


def durability(store: Store) -> Durability | None:
    """The append-only log of ``store``, if the server was started with ``--dir``."""
    found = service(store, "persistence")
    return None if found is None else cast(Durability, found)


def bgrewriteaof(s: Client, argv: list[bytes]) -> bytes:
    """BGREWRITEAOF."""
    log = durability(s.store)
    if log is None:
        return NO_DIR
    child = log.child_running
    if child == "rewrite":
        return error(b"ERR Background append only file rewriting already in progress")
    if child:
        log.rewrite_scheduled = True
        return simple(b"Background append only file rewriting scheduled")
    log.rewrite()
    return simple(b"Background append only file rewriting started")


def save(s: Client, argv: list[bytes]) -> bytes:
    """SAVE."""
    log = durability(s.store)
    if log is None:
        return NO_DIR
    if log.child_running == "save":
        return error(b"ERR Background save already in progress")
    try:
        log.save()
    except OSError:
        return error(b"ERR")
    return OK


def bgsave(s: Client, argv: list[bytes]) -> bytes:
    """BGSAVE [SCHEDULE]."""
    if len(argv) > 2 or (len(argv) == 2 and argv[1].lower() != b"schedule"):
        return SYNTAX_ERROR
    log = durability(s.store)
    if log is None:
        return NO_DIR
    child = log.child_running
    if child == "save":
        return error(b"ERR Background save already in progress")
    if child:
        return error(
            b"ERR Another child process is active (AOF?): can't BGSAVE right now. "
            b"Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible."
        )
    log.bgsave()
    return simple(b"Background saving started")


def lastsave(s: Client, argv: list[bytes]) -> bytes:
    """LASTSAVE: the unix time of the last successful snapshot (start time if none)."""
    log = durability(s.store)
    return integer(_STARTED if log is None else log.last_save_time)


def shutdown(s: Client, argv: list[bytes]) -> bytes:
    """SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE]: the log is written and fsynced, then SIGTERM.

    The server then stops as on SIGTERM (replies already queued are written);
    like Redis, the client gets no reply.
    """
    options = {arg.lower() for arg in argv[1:]}
    allowed = {b"nosave", b"save", b"now", b"force", b"abort"}
    if not options <= allowed or {b"save", b"nosave"} <= options:
        return SYNTAX_ERROR
    if b"abort" in options:  # nothing waits to be aborted: SHUTDOWN here is never deferred
        return SYNTAX_ERROR if len(options) > 1 else b"-ERR No shutdown in progress.\r\n"
    log = durability(s.store)
    if log is not None:
        if log.child_running and b"save" not in options:
            pass  # the child's file is left unfinished; the log is complete without it
        if b"save" in options:
            try:
                log.save()
            except OSError:
                if b"force" not in options:
                    return error(b"ERR Errors trying to SHUTDOWN. Check logs.")
        log.flush()
        log.fsync()
    s.closing = True
    os.kill(os.getpid(), signal.SIGTERM)
    return b""


def info_section(store: Store) -> bytes:
    """INFO's ``# Persistence`` section for the server of ``store``."""
    log = durability(store)
    if log is not None:
        fields = log.info_fields()
    else:
        fields = [
            ("loading", 0),
            ("async_loading", 0),
            ("rdb_changes_since_last_save", 0),
            ("rdb_bgsave_in_progress", 0),
            ("rdb_last_save_time", _STARTED),
            ("rdb_last_bgsave_status", "ok"),
            ("rdb_last_bgsave_time_sec", -1),
            ("rdb_current_bgsave_time_sec", -1),
            ("rdb_saves", 0),
            ("aof_enabled", 0),
            ("aof_rewrite_in_progress", 0),
            ("aof_rewrite_scheduled", 0),
            ("aof_last_rewrite_time_sec", -1),
            ("aof_current_rewrite_time_sec", -1),
            ("aof_last_bgrewrite_status", "ok"),
            ("aof_rewrites", 0),
            ("aof_last_write_status", "ok"),
        ]
    lines = [b"# Persistence"] + [f"{name}:{value}".encode() for name, value in fields]
    return b"\r\n".join(lines) + b"\r\n"


def config_values(store: Store) -> dict[bytes, bytes]:
    """CONFIG GET's ``appendonly`` and ``appendfsync``."""
    log = durability(store)
    if log is None:
        return {b"appendonly": b"no", b"appendfsync": b"everysec"}
    return {b"appendonly": b"yes" if log.enabled else b"no", b"appendfsync": log.mode.encode()}


def config_set(store: Store, name: bytes, value: bytes) -> bytes | None:
    """CONFIG SET ``appendonly``/``appendfsync``: the error reply, or ``None`` when applied."""
    log = durability(store)
    text = value.lower()
    if name == b"appendfsync":
        if text not in (b"always", b"everysec", b"no"):
            return error(
                b"ERR CONFIG SET failed (possibly related to argument 'appendfsync') - "
                b"argument(s) must be one of the following: everysec, always, no"
            )
        if log is None:
            return NO_DIR
        log.set_mode(text.decode())
        return None
    if name == b"appendonly":
        if text not in (b"yes", b"no"):
            return error(
                b"ERR CONFIG SET failed (possibly related to argument 'appendonly') - "
                b"argument must be 'yes' or 'no'"
            )
        if log is None:
            return NO_DIR if text == b"yes" else None
        if text == b"yes":
            log.enable()
        else:
            log.close()
        return None
    return error(b"ERR Unknown option or number of arguments for CONFIG SET - '%s'" % name)


def config_set_command(s: Client, argv: list[bytes]) -> bytes:
    """CONFIG SET parameter value [parameter value ...] (the persistence parameters)."""
    if len(argv) % 2:
        return error(b"ERR wrong number of arguments for 'config|set' command")
    for index in range(2, len(argv), 2):
        refused = config_set(s.store, argv[index].lower(), argv[index + 1])
        if refused is not None:
            return refused
    return OK


COMMANDS: list[Command] = [
    Command("bgrewriteaof", 1, bgrewriteaof, ("admin", "noscript", "no_async_loading")),
    Command("save", 1, save, ("admin", "noscript", "no_async_loading", "no_multi")),
    Command("bgsave", -1, bgsave, ("admin", "noscript", "no_async_loading")),
    Command(
        "lastsave",
        1,
        lastsave,
        ("loading", "stale", "fast"),
        acl_categories=("admin", "dangerous"),
        tips=("nondeterministic_output",),
    ),
    Command(
        "shutdown",
        -1,
        shutdown,
        ("admin", "noscript", "loading", "stale", "no_multi", "allow_busy"),
    ),
]
"""The commands of this family (CONFIG SET's persistence part is :func:`config_set_command`)."""
