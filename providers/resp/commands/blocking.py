"""Blocking list commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP) and the waiting room.

A command that finds nothing to pop blocks its client: the session stops
consuming (its pipelined commands wait in the receive buffer) and the
client joins, in order, the queue of each key it waits on. The store's
observers mark a key with waiters as ready when it is written; after each
top-level command (so after EXEC, never inside a transaction, as Redis's
``handleClientsBlockedOnKeys``) :meth:`WaitingRoom.serve` serves the
waiters of the ready keys first come, first served, while the list has
items. A served client gets its reply, then its connection offers it the
buffered bytes again (``sender.resume()``). A timeout is a deadline the
session reports to its connection; a client that disconnects is forgotten.
Inside MULTI (``deny_blocking``) the commands answer at once, as Redis does.

CLIENT PAUSE uses the same room: while a provider is paused, a command it
holds back is not run; its client is blocked (no keys, the pause's end as its
deadline) and queued in the provider's :class:`Pause`, and when the pause ends
(UNPAUSE, or the deadline) each held command runs in the order it came, its
reply is sent and its connection resumes, as Redis's ``BLOCKED_POSTPONE``.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from ...kvstore import Store, WrongType
from ..numbers import parse_long_double
from ..replies import bulk
from ._base import (
    LLONG_MAX,
    SYNTAX_ERROR,
    WRONGTYPE,
    Blocked,
    Client,
    Command,
    ProviderState,
    Serve,
)
from .lists import HEAD, TAIL, list_position, move, parse_mpop, pop_count_reply

__all__ = [
    "COMMANDS",
    "WAITING",
    "Blocked",
    "Pause",
    "WaitingRoom",
    "block",
    "end_pause",
    "forget",
    "from_list",
    "parse_timeout",
    "pause_of",
    "postpone",
    "start_pause",
    "time_out",
]

Pop = Callable[[Store, bytes, deque[bytes]], bytes]
"""Pops for a blocked client from the (non-empty) list at a key; its reply."""


def from_list(pop: Pop) -> Serve:
    """Serves with ``pop`` when the key holds a non-empty list (else None: wait on)."""

    def serve(store: Store, key: bytes) -> bytes | None:
        try:
            items = store.read_container(key, deque)
        except WrongType:
            return None
        return pop(store, key, items) if items else None

    return serve


TIMEOUT_NOT_FLOAT = b"-ERR timeout is not a float or out of range\r\n"
TIMEOUT_NEGATIVE = b"-ERR timeout is negative\r\n"


class WaitingRoom:
    """The blocked clients of every store, queued by key, and the keys written since."""

    def __init__(self) -> None:
        self.count = 0
        """How many clients are blocked, plus one per paused provider (sessions check it
        before their fast path, so every command goes through ``execute`` meanwhile)."""
        self.pauses = 0
        """How many providers are paused (CLIENT PAUSE): ``execute`` asks :func:`postpone`."""
        self._soon: list[Callable[[], None]] = []
        self.ready: list[tuple[Store, bytes]] = []
        self._ready_set: set[tuple[Store, bytes]] = set()
        self._queues: dict[Store, dict[bytes, deque[Blocked]]] = {}
        self._stops: dict[Store, Callable[[], None]] = {}

    def add(self, blocked: Blocked) -> None:
        """Queue ``blocked`` behind the clients already waiting on each of its keys."""
        store = blocked.store
        queues = self._queues.get(store)
        if queues is None:
            queues = self._queues[store] = {}
            self._stops[store] = store.observe(self._observer(store, queues))
        for key in dict.fromkeys(blocked.keys):
            queue = queues.get(key)
            if queue is None:
                queue = queues[key] = deque()
            queue.append(blocked)
        self.count += 1

    def remove(self, blocked: Blocked) -> None:
        """Take ``blocked`` out of every queue it is in."""
        store = blocked.store
        queues = self._queues[store]
        for key in dict.fromkeys(blocked.keys):
            queue = queues[key]
            queue.remove(blocked)
            if not queue:
                del queues[key]
        if not queues:
            del self._queues[store]
            self._stops.pop(store)()
        self.count -= 1

    def _observer(
        self, store: Store, queues: dict[bytes, deque[Blocked]]
    ) -> Callable[[bytes, bytes], None]:
        ready = self.ready
        ready_set = self._ready_set

        def written(event: bytes, key: bytes) -> None:
            if key in queues and (store, key) not in ready_set:
                ready_set.add((store, key))
                ready.append((store, key))
            elif event == b"flushdb":  # every key is gone: its waiters learn it (XREADGROUP)
                self.all_keys_ready(store)

        return written

    def all_keys_ready(self, store: Store) -> None:
        """Every key clients wait on in ``store`` may hold a value now (SWAPDB replaced its
        keys): serve them after the command, as Redis's ``scanDatabaseForReadyKeys``."""
        queues = self._queues.get(store)
        if queues:
            for key in queues:
                entry = (store, key)
                if entry not in self._ready_set:
                    self._ready_set.add(entry)
                    self.ready.append(entry)

    def call_soon(self, store: Store, callback: Callable[[], None]) -> None:
        """Run ``callback`` after the current command, where sessions call :meth:`serve`."""
        self._soon.append(callback)
        self.ready.append((store, b""))  # no client waits on it: serve() skips it

    def serve(self) -> None:
        """Serve the waiters of the keys written since the last call, first come first served."""
        ready = self.ready
        if self._soon:
            soon, self._soon = self._soon, []
            for callback in soon:
                callback()
        while ready:
            store, key = entry = ready.pop(0)
            self._ready_set.discard(entry)
            queues = self._queues.get(store)
            queue = queues.get(key) if queues is not None else None
            while queue:
                blocked = queue[0]
                try:
                    reply = blocked.serve(store, key)
                except WrongType:  # BLMOVE's destination holds another type
                    reply = WRONGTYPE
                if reply is None:
                    break  # nothing to pop (or another type): the clients go on waiting
                self.remove(blocked)
                wake(blocked.client, reply)


WAITING = WaitingRoom()
"""The process's waiting room (a store is served by the threads of one event loop)."""


def wake(client: Client, reply: bytes) -> None:
    """Send ``reply`` to a client that was blocked, and let it go on with its next commands."""
    client.blocked = None
    client.last_active = time.monotonic()  # a reply counts (Redis's lastinteraction): timeout
    sender = client.sender
    sender.send(reply)
    resume: Callable[[], None] | None = getattr(sender, "resume", None)
    if resume is not None:
        resume()


def block(
    s: Client, keys: list[bytes], timeout: float | None, serve: Serve, timeout_reply: bytes
) -> bytes:
    """Block ``s`` on ``keys`` for ``timeout`` seconds (None: forever); no reply yet."""
    deadline = None if timeout is None else _clock(s)() + timeout
    blocked = Blocked(s, s.store, tuple(keys), deadline, serve, timeout_reply)
    s.blocked = blocked
    WAITING.add(blocked)
    return b""


def time_out(s: Client) -> None:
    """The blocked client's deadline passed: it gets the timeout reply (a null array).

    A client a pause holds back waits for the pause to end instead (it may have
    been extended): when it is over, every held client runs its command."""
    blocked = s.blocked
    if blocked is None:
        return
    pause = pause_of(s.provider, create=False)
    if pause is not None and blocked in pause.postponed:
        if pause.end <= _clock(s)():
            end_pause(pause)
        return
    WAITING.remove(blocked)
    wake(s, blocked.timeout_reply)


def forget(s: Client) -> None:
    """The client is gone: it waits no more."""
    blocked = s.blocked
    if blocked is not None:
        s.blocked = None
        pause = pause_of(s.provider, create=False)
        if pause is not None and blocked in pause.postponed:
            pause.postponed.remove(blocked)
        else:
            WAITING.remove(blocked)


def _clock(s: Client) -> Callable[[], float]:
    clock: Callable[[], float] = getattr(s.sender, "clock", time.monotonic)
    return clock


lookup_command: Callable[[list[bytes]], Command | bytes] | None = None
"""The command table's ``lookup`` (the table sets it: it imports this module)."""


class Pause:
    """One provider's CLIENT PAUSE: until when, whether only writes wait, who waits."""

    def __init__(self) -> None:
        self.active = False
        self.end = 0.0
        """When the pause ends, on the connections' clock."""
        self.writes_only = False
        """WRITE mode: only commands that may write (or replicate) wait."""
        self.postponed: list[Blocked] = []
        """The clients held back, in the order their commands came."""
        self.provider: ProviderState | None = None
        self.resume_expiry = False
        """Active expiry was on when the pause began: it comes back when the pause ends."""


_PAUSE = "resp.pause"


def pause_of(provider: ProviderState, create: bool = True) -> Pause | None:
    """The provider's :class:`Pause` (kept on its database 0), made on first use."""
    services = provider.store.services
    pause = services.get(_PAUSE)
    if isinstance(pause, Pause):
        return pause
    if not create:
        return None
    made = services[_PAUSE] = Pause()
    return made


def start_pause(s: Client, end: float, writes_only: bool) -> None:
    """CLIENT PAUSE: until ``end`` (the later of two pauses), the stricter mode of two."""
    pause = pause_of(s.provider)
    assert pause is not None
    if not pause.active:
        pause.active = True
        pause.end = end
        pause.writes_only = writes_only
        # Redis expires no key while clients are paused (a failover must not lose writes).
        pause.provider = s.provider
        pause.resume_expiry = s.provider.active_expire
        s.provider.active_expire = False
        WAITING.pauses += 1
        WAITING.count += 1
    else:
        pause.end = max(pause.end, end)
        pause.writes_only = pause.writes_only and writes_only
    for blocked in pause.postponed:
        blocked.deadline = pause.end


def end_pause(pause: Pause) -> None:
    """The pause is over (UNPAUSE or its end): the held commands run, in order."""
    if not pause.active:
        return
    pause.active = False
    WAITING.pauses -= 1
    WAITING.count -= 1
    if pause.resume_expiry and pause.provider is not None:
        pause.provider.active_expire = True
    held, pause.postponed = pause.postponed, []
    for blocked in held:
        client = blocked.client
        client.blocked = None
        reply = blocked.serve(blocked.store, b"")
        if client.blocked is None:  # not held again, nor blocked by its command
            wake(client, reply or b"")
        if WAITING.ready:
            WAITING.serve()


def _may_write(s: Client, command: Command) -> bool:
    """Redis's ``is_may_replicate_command``: WRITE pauses what may write or replicate."""
    flags = command.flags
    if "write" in flags or "may_replicate" in flags:
        return True
    if command.name == "exec" and s.multi is not None and lookup_command is not None:
        for argv in s.multi:
            queued = lookup_command(argv)
            if not isinstance(queued, bytes) and (
                "write" in queued.flags or "may_replicate" in queued.flags
            ):
                return True
    return False


def postpone(s: Client, command: Command, argv: list[bytes]) -> bool:
    """Whether a pause holds ``argv`` back (then ``s`` is blocked until it ends)."""
    pause = pause_of(s.provider, create=False)
    if pause is None or not pause.active or s.deny_blocking:
        return False  # inside EXEC or a script the rest runs (Redis's pause-in-transaction)
    if pause.end <= _clock(s)():
        end_pause(pause)
        return False
    if pause.writes_only and not _may_write(s, command):
        return False

    def run(store: Store, key: bytes) -> bytes:
        return s.execute(argv)

    blocked = Blocked(s, s.store, (), pause.end, run, b"")
    s.blocked = blocked
    pause.postponed.append(blocked)
    return True


def parse_timeout(value: bytes) -> float | bytes | None:
    """Redis's ``getTimeoutFromObjectOrReply`` in seconds: the timeout, None (0: forever), or
    the error reply. Like Redis, the milliseconds are rounded up, and what does not fit in
    a 64-bit integer (``inf`` included) is "negative"."""
    parsed = parse_long_double(value)
    if parsed is None:
        return TIMEOUT_NOT_FLOAT
    if isinstance(parsed, float):
        return TIMEOUT_NEGATIVE
    milliseconds = math.ceil(parsed * 1000)
    if milliseconds < 0 or milliseconds > LLONG_MAX:
        return TIMEOUT_NEGATIVE
    return milliseconds / 1000 if milliseconds else None


def _pop_one(where: int) -> Pop:
    def serve(store: Store, key: bytes, items: deque[bytes]) -> bytes:
        value = items.popleft() if where == HEAD else items.pop()
        store.container_written(key, b"lpop" if where == HEAD else b"rpop")
        return b"*2\r\n" + bulk(key) + bulk(value)

    return serve


_POP_HEAD, _POP_TAIL = _pop_one(HEAD), _pop_one(TAIL)


def _bpop(s: Client, argv: list[bytes], where: int) -> bytes:
    timeout = parse_timeout(argv[-1])
    if isinstance(timeout, bytes):
        return timeout
    keys = argv[1:-1]
    serve = _POP_HEAD if where == HEAD else _POP_TAIL
    store = s.store
    for key in keys:
        items = store.read_container(key, deque)
        if items:
            return serve(store, key, items)
    if s.deny_blocking:
        return s.null_array
    return block(s, keys, timeout, from_list(serve), s.null_array)


def blpop(s: Client, argv: list[bytes]) -> bytes:
    """BLPOP key [key ...] timeout."""
    return _bpop(s, argv, HEAD)


def brpop(s: Client, argv: list[bytes]) -> bytes:
    """BRPOP key [key ...] timeout."""
    return _bpop(s, argv, TAIL)


def _bmove(s: Client, argv: list[bytes], sides: tuple[int, int], timeout: float | None) -> bytes:
    source, target = argv[1], argv[2]
    items = s.store.read_container(source, deque)
    if items:
        return move(s.store, source, items, target, sides)
    if s.deny_blocking:
        return s.null

    def serve(store: Store, key: bytes, items: deque[bytes]) -> bytes:
        return move(store, key, items, target, sides)

    return block(s, [source], timeout, from_list(serve), s.null_array)


def blmove(s: Client, argv: list[bytes]) -> bytes:
    """BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout."""
    wherefrom = list_position(argv[3])
    whereto = list_position(argv[4])
    if wherefrom is None or whereto is None:
        return SYNTAX_ERROR
    timeout = parse_timeout(argv[5])
    if isinstance(timeout, bytes):
        return timeout
    return _bmove(s, argv, (wherefrom, whereto), timeout)


def brpoplpush(s: Client, argv: list[bytes]) -> bytes:
    """BRPOPLPUSH source destination timeout."""
    timeout = parse_timeout(argv[3])
    if isinstance(timeout, bytes):
        return timeout
    return _bmove(s, argv, (TAIL, HEAD), timeout)


def blmpop(s: Client, argv: list[bytes]) -> bytes:
    """BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]."""
    parsed = parse_mpop(argv, 2)
    if isinstance(parsed, bytes):
        return parsed
    keys, where, count = parsed
    timeout = parse_timeout(argv[1])
    if isinstance(timeout, bytes):
        return timeout
    store = s.store
    for key in keys:
        items = store.read_container(key, deque)
        if items:
            return pop_count_reply(store, key, items, where, count)
    if s.deny_blocking:
        return s.null_array

    def serve(store: Store, key: bytes, items: deque[bytes]) -> bytes:
        return pop_count_reply(store, key, items, where, count)

    return block(s, keys, timeout, from_list(serve), s.null_array)


_BLOCKING = ("write", "blocking")
_NOSCRIPT = ("write", "noscript", "blocking")  # Redis 7.0 keeps these out of scripts
_NOSCRIPT_DENYOOM = ("write", "denyoom", "noscript", "blocking")

COMMANDS: list[Command] = [
    Command("blpop", -3, blpop, _NOSCRIPT, (1, -2, 1)),
    Command("brpop", -3, brpop, _NOSCRIPT, (1, -2, 1)),
    Command("brpoplpush", 4, brpoplpush, _NOSCRIPT_DENYOOM, (1, 2, 1)),
    Command("blmove", 6, blmove, _NOSCRIPT_DENYOOM, (1, 2, 1)),
    Command("blmpop", -5, blmpop, _BLOCKING, (0, 0, 0)),
]
