"""The append-only log of a server's databases: what is written, when it is fsynced, replay.

:class:`AppendLog` watches every database (``Store.observe``). A write marks
its key dirty; :meth:`AppendLog.flush` (the listener calls it before it
writes a batch of replies, and a loop callback calls it after writes nobody
is answered for) appends the state of each dirty key (the plain strings of a
database in one record) and, under
``appendfsync always``, fsyncs before returning, so no reply leaves before
the write it acknowledges is on disk (group commit: one fsync per batch).
``everysec`` fsyncs from a thread once a second; ``no`` leaves it to the OS.

Files in the directory, as Redis 7's multi-part AOF: a manifest names one
base (a snapshot: every key's state) and the incremental logs written since,
in order. A rewrite (:meth:`AppendLog.rewrite`) starts a new incremental
log, forks, and the child writes the new base from its copy of the memory;
when it succeeds, the manifest drops the old base and logs. ``SAVE``'s
snapshot (``dump.wps``) is the same format; it is loaded only when there
is no manifest.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from ..kvstore import Store
from . import records
from .dirty import observer

__all__ = ["FSYNC_MODES", "AppendLog", "LoadReport", "load_file", "write_snapshot"]

_log = logging.getLogger("wireproto.persistence")

FSYNC_MODES = ("always", "everysec", "no")
MANIFEST = "appendonly.manifest"
_SIZE = struct.Struct("<I")
SNAPSHOT = "dump.wps"


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_close(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError:
        _log.error("event=persistence.fsync_failed fd=%d", fd)
    finally:
        os.close(fd)


def _write_atomically(path: str, data: bytes, *, sync: bool = True) -> None:
    """Replace ``path`` with ``data`` through a rename; fsynced unless ``sync`` is false.

    Without ``sync`` the new file is what any process reads at once; only a
    machine crash in the next milliseconds could bring the old one back.
    """
    temporary = path + ".tmp"
    with open(temporary, "wb") as file:
        file.write(data)
        if sync:
            file.flush()
            os.fsync(file.fileno())
    os.replace(temporary, path)
    if sync:
        _fsync_dir(os.path.dirname(path) or ".")


def _sync_later(path: str) -> None:
    """fsync ``path`` and its folder from a thread (the loop must not wait for the disk)."""

    def sync() -> None:
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            _fsync_dir(os.path.dirname(path) or ".")
        except OSError as exc:
            _log.error("event=persistence.fsync_failed file=%s error=%r", path, exc)

    threading.Thread(target=sync, daemon=True).start()


def _unhook_cas(store: Store) -> Callable[[], None]:
    def stop() -> None:
        store.on_cas = None

    return stop


def _state_records(databases: Sequence[Store], per_frame: int = 1000) -> Iterable[bytes]:
    """Every live key of every database as state records, about ``per_frame`` keys to a frame.

    Each run of ``per_frame`` keys that are all plain strings is one string pairs record
    (:func:`~records.encode_string_pairs`).
    """
    now = databases[0].clock() if databases else 0
    batch: list[bytes] = []
    held = 0  # keys in batch
    for db, store in enumerate(databases):
        keys = store.stored_keys()
        for start in range(0, len(keys), per_frame):
            chunk = keys[start : start + per_frame]
            values = store.stored_strings(chunk)
            if values is not None:
                pairs: list[bytes] = [b""] * (2 * len(chunk))
                pairs[0::2] = chunk
                pairs[1::2] = values  # type: ignore[assignment]  # (a bytearray too)
                batch.append(records.encode_string_pairs(db, pairs))
                held += len(chunk)
            else:
                for key in chunk:
                    found = store.stored(key)
                    if found is None:
                        continue
                    value, expire_at, flags, cas = found
                    if expire_at is not None and expire_at <= now:
                        continue
                    batch.append(records.encode_state(db, key, value, expire_at, flags, cas=cas))
                    held += 1
            if held >= per_frame:
                yield records.frame(records.group(batch))
                batch.clear()
                held = 0
        if store.next_cas > 1:  # versions handed out to keys gone since: never again
            batch.append(records.encode(records.CasFloor(db, store.next_cas)))
    if batch:
        yield records.frame(records.group(batch))


def write_snapshot(path: str, databases: Sequence[Store]) -> int:
    """Write every key's state to ``path`` (through ``path.tmp``, fsynced); its size."""
    temporary = path + ".tmp"
    size = 0
    with open(temporary, "wb", buffering=1 << 20) as file:
        for data in _state_records(databases):
            file.write(data)
            size += len(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    _fsync_dir(os.path.dirname(path) or ".")
    return size


@dataclass(slots=True)
class LoadReport:
    """What replaying one file found."""

    records: int = 0
    good_bytes: int = 0
    file_bytes: int = 0
    bad: list[str] = field(default_factory=list)

    @property
    def torn(self) -> bool:
        """Whether bytes after the last whole record were found (and dropped)."""
        return self.good_bytes < self.file_bytes


def apply(record: records.Record, databases: Sequence[Store], now: int) -> None:
    """Replay ``record`` into ``databases`` (observers are not attached yet)."""
    if isinstance(record, records.State):
        store = databases[record.db]
        if record.expire_at is not None and record.expire_at <= now:
            store.delete(record.key)
        elif type(record.value) is bytes:
            store.set(record.key, record.value, expire_at=record.expire_at, flags=record.flags)
            if record.cas:
                store.restore_cas(record.key, record.cas)
        else:
            store.set_value(record.key, record.value, expire_at=record.expire_at)
    elif isinstance(record, records.Delete):
        databases[record.db].delete(record.key)
    elif isinstance(record, records.Flush):
        databases[record.db].flush()
    elif isinstance(record, records.Strings):
        store = databases[record.db]
        for key, value in zip(record.keys, record.values, strict=True):
            store.set(key, value)
    elif isinstance(record, records.CasFloor):
        databases[record.db].raise_next_cas(record.next)
    else:
        first, second = databases[record.first], databases[record.second]
        first.swap_with(second)


def load_file(path: str, databases: Sequence[Store], *, truncate: bool) -> LoadReport:
    """Replay the records of ``path``; with ``truncate``, cut a torn or corrupt tail off it."""
    with open(path, "rb") as file:
        data = file.read()
    frames, good = records.split_records(data)
    report = LoadReport(file_bytes=len(data), good_bytes=good)
    now = databases[0].clock()
    offset = 0
    for frame in frames:
        try:
            decoded = [records.decode(payload) for payload in records.unpack_items(frame)]
        except (ValueError, struct.error) as exc:  # checksummed, yet unreadable: stop here
            report.bad.append(str(exc))
            report.good_bytes = offset
            break
        for record in decoded:
            apply(record, databases, now)
        report.records += len(decoded)
        offset += len(frame) + 8
    if report.torn:
        _log.warning(
            "event=persistence.truncated file=%s records=%d kept_bytes=%d dropped_bytes=%d%s",
            path,
            report.records,
            report.good_bytes,
            report.file_bytes - report.good_bytes,
            "" if truncate else " (not truncated: not the last log)",
        )
        if truncate:
            with open(path, "r+b") as file:
                file.truncate(report.good_bytes)
                file.flush()
                os.fsync(file.fileno())
    return report


class AppendLog:
    """The append-only log of ``databases`` in ``directory``, with fsync ``mode``.

    Create it, then :meth:`open` (replays what the directory holds and starts
    logging). ``schedule(callback)`` asks for ``callback`` to run soon (a loop's
    ``call_soon``): it flushes writes no reply will flush. ``auto_rewrite_min_size``
    starts a rewrite when the incremental log passes it and has doubled since
    the last rewrite (Redis's auto-aof-rewrite-min-size and -percentage 100).
    """

    def __init__(
        self,
        directory: str,
        databases: Sequence[Store],
        mode: str = "everysec",
        *,
        schedule: Callable[[Callable[[], None]], None] | None = None,
        auto_rewrite_min_size: int = 64 << 20,
    ) -> None:
        if mode not in FSYNC_MODES:
            raise ValueError(f"appendfsync must be one of {', '.join(FSYNC_MODES)}, not {mode!r}")
        self.directory = directory
        self.databases = list(databases)
        self.mode = mode
        self.schedule = schedule
        self.auto_rewrite_min_size = auto_rewrite_min_size
        self._index_of = {id(store): db for db, store in enumerate(self.databases)}
        # Per database, the keys written since the last flush (a dict: ordered, no repeats),
        # and the databases whose dict went from empty to not since then. Plain puts go to
        # _puts instead, key then value (Store.observe's puts): logged first, then the
        # state of each dirty key as the store holds it, so that a later write wins.
        self._dirty: list[dict[bytes, None]] = [{} for _ in self.databases]
        self._puts: list[list[bytes]] = [[] for _ in self.databases]
        self._touched: list[int] = []
        self._pending: list[bytes] = []  # records (unframed) for the next write
        self._scheduled = False
        self._fd = -1
        self._stops: list[Callable[[], None]] = []
        self._base: str | None = None
        self._incrs: list[str] = []
        self._sequence = 0
        self._unsynced = False
        self._sync_thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._child: int | None = None
        self._child_kind = ""
        self._child_base = ""
        self._child_started = 0.0
        self._finishing: threading.Thread | None = None
        self.incr_size = 0
        self.base_size = 0
        self.rewrite_base_size = 0
        self.enabled = False
        self.last_write_ok = True
        self.last_fsync_ok = True
        self.rewrites = 0
        self.last_rewrite_ok = True
        self.last_rewrite_seconds = -1.0
        self.last_save_time = int(time.time())
        self.last_save_ok = True
        self.last_bgsave_seconds = -1.0
        self.changes_since_save = 0
        self.saves = 0
        self.rewrite_scheduled = False
        self.loaded: list[LoadReport] = []
        self._cas_floor = 1  # database 0's next cas version as the log last recorded it
        self._stale: list[str] = []  # files a manifest may not name with the current ones

    # -- start and stop ---------------------------------------------------------

    def _path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def open(self) -> None:
        """Replay the directory's files into the databases, then log every later write."""
        os.makedirs(self.directory, exist_ok=True)
        manifest = self._path(MANIFEST)
        if os.path.exists(manifest):
            self._read_manifest(manifest)
            files = ([self._base] if self._base else []) + self._incrs
            for position, name in enumerate(files):
                path = self._path(name)
                if not os.path.exists(path):
                    _log.warning("event=persistence.missing file=%s", path)
                    continue
                last = position == len(files) - 1
                self.loaded.append(load_file(path, self.databases, truncate=last))
            if self._base and os.path.exists(self._path(self._base)):
                self.base_size = os.path.getsize(self._path(self._base))
            self.rewrite_base_size = self.base_size
        else:
            snapshot = self._path(SNAPSHOT)
            if os.path.exists(snapshot):
                self.loaded.append(load_file(snapshot, self.databases, truncate=True))
            self._sequence = 1
            base = f"appendonly.{self._sequence}.base.wpl"
            self.base_size = write_snapshot(self._path(base), self.databases)
            self._base = base
            self._incrs = [f"appendonly.{self._sequence}.incr.wpl"]
            self._write_manifest()
        self._open_incr(self._incrs[-1])
        self._attach()
        self.enabled = True
        _log.info(
            "event=persistence.open dir=%s appendfsync=%s keys=%d records=%d",
            self.directory,
            self.mode,
            sum(len(store) for store in self.databases),
            sum(report.records for report in self.loaded),
        )

    def _attach(self) -> None:
        if self.databases:
            self._cas_floor = self.databases[0].next_cas
        for db, store in enumerate(self.databases):
            observe = self._observer(db)
            begun = self._puts_begun(db)
            self._stops.append(store.observe(observe, puts=self._puts[db], begun=begun))
            store.on_cas = self._cas_observer(db)
            self._stops.append(_unhook_cas(store))
        self._start_sync_thread()

    def close(self) -> None:
        """Write what is pending, fsync, stop logging (the databases stay as they are)."""
        if not self.enabled:
            return
        self.flush()
        self.fsync()
        for stop in self._stops:
            stop()
        self._stops.clear()
        self._closing.set()
        if self._sync_thread is not None:
            self._sync_thread.join(timeout=2)
            self._sync_thread = None
        if self._child is not None:  # as Redis does at shutdown: the child's file is dropped
            self._stop_child()
        if self._finishing is not None:
            self._finishing.join()
            self._finishing = None
        os.close(self._fd)
        self._fd = -1
        self.enabled = False

    def _read_manifest(self, path: str) -> None:
        with open(path, encoding="utf-8") as file:
            for line in file:
                kind, _, name = line.strip().partition(" ")
                if kind == "base":
                    self._base = name
                elif kind == "incr":
                    self._incrs.append(name)
                elif kind == "seq":
                    self._sequence = int(name)
        if not self._incrs:
            self._sequence += 1
            self._incrs.append(f"appendonly.{self._sequence}.incr.wpl")
            self._write_manifest()

    def _manifest(self) -> bytes:
        lines = [f"seq {self._sequence}"]
        if self._base:
            lines.append(f"base {self._base}")
        lines += [f"incr {name}" for name in self._incrs]
        return ("\n".join(lines) + "\n").encode()

    def _write_manifest(self, *, sync: bool = True) -> None:
        _write_atomically(self._path(MANIFEST), self._manifest(), sync=sync)
        if not sync:
            _sync_later(self._path(MANIFEST))

    def _open_incr(self, name: str, *, fresh: bool = False) -> None:
        # fresh: a name no manifest lists, maybe left by a crash before its manifest: emptied.
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | (os.O_TRUNC if fresh else 0)
        fd = os.open(self._path(name), flags, 0o644)
        old, self._fd = self._fd, fd
        self.incr_size = os.fstat(fd).st_size
        if old >= 0:  # fsync and close it in the background: that fsync may take long
            threading.Thread(target=_fsync_close, args=(old,), daemon=True).start()

    # -- what writes do -----------------------------------------------------------

    def _observer(self, db: int) -> Callable[[bytes, bytes], None]:
        return observer(db, self._dirty[db], self._first_dirty, self._flushed, self._swapped)

    def _puts_begun(self, db: int) -> Callable[[], None]:
        def begun() -> None:  # puts are not observer calls: this one says a batch began
            self._first_dirty(db)

        return begun

    def _first_dirty(self, db: int) -> None:
        self._touched.append(db)
        if not self._scheduled and self.schedule is not None:
            self._scheduled = True
            self.schedule(self._scheduled_flush)

    def _cas_observer(self, db: int) -> Callable[[bytes], None]:
        observe = self._observer(db)

        def handed_out(key: bytes) -> None:  # memcached's client holds it now: log it with the key
            observe(b"cas", key)

        return handed_out

    def _flushed(self, db: int) -> None:
        self._dirty[db].clear()
        self._puts[db].clear()
        self._pending.append(records.encode(records.Flush(db)))

    def _swapped(self, first: int, second: int) -> None:
        # The dirty keys of both databases changed before the swap: log them as they were.
        for db, partner in ((first, second), (second, first)):
            dirty = self._dirty[db]
            puts = self._puts[db]
            if puts:
                self._pending.append(records.encode_string_pairs(db, puts))
                puts.clear()
            for key in dirty:
                self._pending.append(self._state(db, key, self.databases[partner]))
            dirty.clear()
        self._pending.append(records.encode(records.Swap(first, second)))

    def _state(self, db: int, key: bytes, store: Store) -> bytes:
        found = store.stored(key)
        if found is None:
            return records.encode(records.Delete(db, key))
        value, expire_at, flags, cas = found
        return records.encode_state(db, key, value, expire_at, flags, cas=cas)

    def _scheduled_flush(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        """Append the state of every dirty key (fsynced under ``always``): the reply barrier."""
        touched = self._touched
        if not touched and not self._pending:
            return
        parts: list[bytes | bytearray] = []
        if self._pending:
            for payload in self._pending:
                parts += (_SIZE.pack(len(payload)), payload)
            self._pending.clear()
        for db in touched:
            dirty = self._dirty[db]
            puts = self._puts[db]
            self.changes_since_save += len(dirty) + len(puts) // 2
            if not dirty:  # the hot path: no step per key in Python, nor a read of the store
                if puts:
                    parts += records.sized_string_pairs(db, puts)
                    puts.clear()
                continue
            later: list[bytes | bytearray] = []
            self._encode_dirty(db, list(dirty), later, puts)
            dirty.clear()
            if puts:
                parts += records.sized_string_pairs(db, puts)
                puts.clear()
            parts += later  # states read from the store: after the puts they may follow
        touched.clear()
        if self.databases and self.databases[0].next_cas != self._cas_floor:
            # Versions handed out since (to keys maybe deleted since): never again after a restart.
            self._cas_floor = self.databases[0].next_cas
            floor = records.encode(records.CasFloor(0, self._cas_floor))
            parts += (_SIZE.pack(len(floor)), floor)
        if not parts:
            return
        data = records.frame(b"".join(parts))
        self._write(data)
        if self.mode == "always":
            self.fsync()
        else:
            self._unsynced = True
        if (
            self._child is None
            and self.incr_size > self.auto_rewrite_min_size
            and self.incr_size > self.rewrite_base_size
        ):
            self.rewrite()

    def _encode_dirty(
        self, db: int, keys: list[bytes], parts: list[bytes | bytearray], pairs: list[bytes]
    ) -> None:
        """Append the sized records of ``keys`` (dirty keys of database ``db``) to ``parts``.

        The plain strings among them are appended to ``pairs`` (key, value, ...), which
        the caller writes as one record, before ``parts``.
        """
        store = self.databases[db]
        values = store.stored_strings(keys)
        if values is not None:  # plain strings only: no Python step per key
            flat: list[bytes] = [b""] * (2 * len(keys))
            flat[0::2] = keys
            flat[1::2] = values  # type: ignore[assignment]  # (a bytearray too)
            pairs += flat
            return
        found = list(map(store.stored, keys))
        for key, state in zip(keys, found, strict=True):
            if state is None:
                payload = records.encode(records.Delete(db, key))
            elif type(state[0]) is bytes or type(state[0]) is bytearray:
                value, expire_at, flag, cas = state
                if expire_at is None and not flag and not cas:
                    pairs += (key, value)  # type: ignore[arg-type]
                else:  # with its cas: handing one out marks the key dirty (see _cas_observer)
                    parts += records.sized_string_state(db, key, state)  # type: ignore[arg-type]
                continue
            else:
                value, expire_at, flag, cas = state
                try:
                    payload = records.encode_state(db, key, value, expire_at, flag, cas=cas)
                except Exception:  # a codec failed: keep serving, say which key is not kept
                    _log.exception("event=persistence.unencodable db=%d key=%r", db, key)
                    self.last_write_ok = False
                    continue
            parts += (_SIZE.pack(len(payload)), payload)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            self.last_write_ok = True
        except OSError as exc:
            self.last_write_ok = False
            _log.error("event=persistence.write_failed error=%r", exc)
            return
        self.incr_size += len(data)

    def fsync(self) -> None:
        """fsync the incremental log now."""
        self._unsynced = False
        try:
            os.fdatasync(self._fd)
            self.last_fsync_ok = True
        except OSError as exc:
            self.last_fsync_ok = False
            _log.error("event=persistence.fsync_failed error=%r", exc)

    def _start_sync_thread(self) -> None:
        self._closing.clear()
        thread = threading.Thread(target=self._sync_every_second, name="aof-fsync", daemon=True)
        self._sync_thread = thread
        thread.start()

    def _sync_every_second(self) -> None:
        while not self._closing.wait(1.0):
            if self.mode == "everysec" and self._unsynced:
                self._unsynced = False
                fd = self._fd
                try:
                    os.fdatasync(fd)
                except OSError:  # the log was switched meanwhile: it was fsynced then
                    continue

    def enable(self) -> None:
        """CONFIG SET appendonly yes after ``no``: log again at once, the new base in a child.

        As Redis does, a rewrite starts (forked: clients do not wait for the
        base). The old files miss the writes made while the log was off, so
        until the child's base is written the manifest keeps naming them and
        not the new incremental log (a crash meanwhile restarts from them); the
        base's arrival replaces them all (:meth:`_rewrite_done`).
        """
        if self.enabled:
            return
        if self._child is not None:  # a BGSAVE's child started while the log was off
            self.wait_child(block=True)
        self._stale += ([self._base] if self._base else []) + self._incrs
        self._base = None
        self._incrs = []
        self.base_size = self.rewrite_base_size = 0
        self._attach()
        self.enabled = True
        self.rewrite()

    def set_mode(self, mode: str) -> None:
        """CONFIG SET appendfsync."""
        if mode not in FSYNC_MODES:
            raise ValueError(mode)
        self.mode = mode
        if mode == "always":
            self.flush()
            self.fsync()

    def info_fields(self) -> list[tuple[str, int | str]]:
        """INFO persistence's fields, as Redis names them (only those this log tracks)."""
        now = time.monotonic()
        child = self.child_running

        def running(kind: str) -> int:
            return int(now - self._child_started) if child == kind else -1

        return [
            ("loading", 0),
            ("async_loading", 0),
            (
                "rdb_changes_since_last_save",
                self.changes_since_save
                + sum(map(len, self._dirty))
                + sum(map(len, self._puts)) // 2,
            ),
            ("rdb_bgsave_in_progress", int(child == "save")),
            ("rdb_last_save_time", self.last_save_time),
            ("rdb_last_bgsave_status", "ok" if self.last_save_ok else "err"),
            ("rdb_last_bgsave_time_sec", round(self.last_bgsave_seconds)),
            ("rdb_current_bgsave_time_sec", running("save")),
            ("rdb_saves", self.saves),
            ("aof_enabled", int(self.enabled)),
            ("aof_rewrite_in_progress", int(child == "rewrite")),
            ("aof_rewrite_scheduled", int(self.rewrite_scheduled)),
            ("aof_last_rewrite_time_sec", round(self.last_rewrite_seconds)),
            ("aof_current_rewrite_time_sec", running("rewrite")),
            ("aof_last_bgrewrite_status", "ok" if self.last_rewrite_ok else "err"),
            ("aof_rewrites", self.rewrites),
            ("aof_last_write_status", "ok" if self.last_write_ok and self.last_fsync_ok else "err"),
            ("aof_current_size", self.base_size + self.incr_size),
            ("aof_base_size", self.base_size),
            ("aof_buffer_length", sum(map(len, self._pending))),  # records not written yet
        ]

    # -- rewrite and snapshots ------------------------------------------------------

    @property
    def child_running(self) -> str:
        """``rewrite``, ``save`` or the empty string."""
        return self._child_kind if self._child is not None else ""

    def rewrite(self) -> bool:
        """Start a rewrite in a forked child; False if a child is already running."""
        if self._child is not None:
            return False
        self.flush()  # the old log is fsynced in the background (see _open_incr)
        self._sequence += 1
        incr = f"appendonly.{self._sequence}.incr.wpl"
        self._incrs.append(incr)
        if self._finishing is not None:  # the last rewrite's files are still being switched
            self._finishing.join()
            self._finishing = None
        # The new log is listed before anything is written to it. Under always, durably so
        # before any reply; otherwise a thread fsyncs the manifest (~20 ms the loop skips).
        # Not while stale files are listed (see enable): only this rewrite's base may follow.
        if not self._stale:
            self._write_manifest(sync=self.mode == "always")
        self._open_incr(incr, fresh=True)
        base = f"appendonly.{self._sequence}.base.wpl"
        return self._fork("rewrite", self._path(base))

    def bgsave(self) -> bool:
        """BGSAVE: write the snapshot from a forked child; False if a child is running."""
        if self._child is not None:
            return False
        return self._fork("save", self._path(SNAPSHOT))

    def save(self) -> None:
        """SAVE: write the snapshot now, in this process."""
        try:
            write_snapshot(self._path(SNAPSHOT), self.databases)
        except OSError:
            self.last_save_ok = False
            raise
        self.last_save_ok = True
        self.last_save_time = int(time.time())
        self.changes_since_save = 0
        self.saves += 1

    def _fork(self, kind: str, path: str) -> bool:
        started = time.monotonic()
        pid = os.fork()
        forked = time.monotonic() - started
        if pid == 0:  # the child: write the file from the memory as it was, then leave
            status = 1
            try:
                write_snapshot(path, self.databases)
                status = 0
            finally:
                os._exit(status)
        self._child = pid
        self._child_kind = kind
        self._child_base = path
        self._child_started = started
        _log.info(
            "event=persistence.child kind=%s pid=%d file=%s fork_ms=%.1f",
            kind,
            pid,
            path,
            forked * 1000,
        )
        if self.schedule is not None:
            self.schedule(self._poll_child)
        return True

    def _poll_child(self) -> None:
        if self.wait_child(block=False) or self.schedule is None:
            return
        with contextlib.suppress(RuntimeError):
            import asyncio  # noqa: PLC0415

            asyncio.get_running_loop().call_later(0.05, self._poll_child)

    def _stop_child(self) -> None:
        assert self._child is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._child, signal.SIGKILL)
        os.waitpid(self._child, 0)
        with contextlib.suppress(OSError):
            os.unlink(self._child_base + ".tmp")
        _log.info("event=persistence.child_stopped kind=%s", self._child_kind)
        self._child = None
        self.rewrite_scheduled = False

    def wait_child(self, *, block: bool) -> bool:
        """Reap the child if it ended (or wait for it with ``block``); whether none runs now."""
        if self._child is None:
            return True
        pid, status = os.waitpid(self._child, 0 if block else os.WNOHANG)
        if pid == 0:
            return False
        ok = os.waitstatus_to_exitcode(status) == 0
        kind, path = self._child_kind, self._child_base
        self._child = None
        seconds = time.monotonic() - self._child_started
        if kind == "rewrite":
            self._rewrite_done(ok, path, seconds)
            if block and self._finishing is not None:
                self._finishing.join()
                self._finishing = None
        else:
            self.last_save_ok = ok
            self.last_bgsave_seconds = seconds
            if ok:
                self.last_save_time = int(time.time())
                self.changes_since_save = 0
                self.saves += 1
        _log.info("event=persistence.child_done kind=%s ok=%s seconds=%.3f", kind, ok, seconds)
        if self.rewrite_scheduled:
            self.rewrite_scheduled = False
            self.rewrite()
            return False
        return True

    def _rewrite_done(self, ok: bool, path: str, seconds: float) -> None:
        self.last_rewrite_ok = ok
        self.last_rewrite_seconds = seconds
        if not ok:
            with contextlib.suppress(OSError):
                os.unlink(path + ".tmp")
            return
        self.rewrites += 1
        old = ([self._base] if self._base else []) + self._incrs[:-1] + self._stale
        self._stale = []
        self._base = os.path.basename(path)
        self._incrs = self._incrs[-1:]
        self.base_size = self.rewrite_base_size = os.path.getsize(path)
        manifest = self._manifest()

        def switch() -> None:  # off the loop: two fsyncs, then the old files go
            try:
                _write_atomically(self._path(MANIFEST), manifest)
            except OSError as exc:
                _log.error("event=persistence.manifest_failed error=%r", exc)
                return
            for name in old:
                with contextlib.suppress(OSError):
                    os.unlink(self._path(name))

        self._finishing = threading.Thread(target=switch, daemon=True)
        self._finishing.start()
