"""A Redis stream: entries ordered by ID, kept in nodes as Redis's radix tree keeps them.

IDs are ``(milliseconds, sequence)`` pairs of unsigned 64-bit integers. Entries
live in a sorted list (bisect for ranges) and a dict from ID to the flat
``[field, value, ...]`` list. Nodes matter only for what a client can see of
them: ``XTRIM``/``XADD`` with ``~`` remove whole nodes only, so the stream
records which IDs went into which node, as Redis's listpacks do: a new node
starts when the tail node holds ``stream-node-max-entries`` (100; CONFIG SET) entries,
deleted ones included. (Redis also starts one at ``stream-node-max-bytes``,
4096 bytes of listpack; that bound is not modelled: with entries over about
40 bytes an approximate trim may keep a different number of entries than
redis-server, which ``specs/resp/README.md`` lists.)
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from ..datatypes.thresholds import THRESHOLDS
from ..kvstore import register_kind

__all__ = [
    "MAX_ID",
    "Consumer",
    "Group",
    "Pending",
    "Stream",
    "StreamId",
    "format_id",
]

StreamId = tuple[int, int]
U64 = (1 << 64) - 1
MAX_ID: StreamId = (U64, U64)


def format_id(stream_id: StreamId) -> bytes:
    """``<ms>-<seq>``."""
    return b"%d-%d" % stream_id


class _Node:
    """One listpack of Redis's radix tree: the IDs appended to it and how many are live."""

    __slots__ = ("ids", "live")

    def __init__(self) -> None:
        self.ids: list[StreamId] = []
        self.live = 0


class Consumer:
    """A consumer of a group: its pending entries and when it was last seen."""

    __slots__ = ("name", "pending", "seen_time")

    def __init__(self, name: bytes, now: int) -> None:
        self.name = name
        self.pending: dict[StreamId, Pending] = {}
        self.seen_time = now


class Pending:
    """An entry delivered and not acknowledged (Redis's NACK)."""

    __slots__ = ("consumer", "delivery_count", "delivery_time")

    def __init__(self, consumer: Consumer | None, now: int) -> None:
        self.consumer = consumer
        self.delivery_time = now
        self.delivery_count = 1


class Group:
    """A consumer group: the last delivered ID, the entries read, the pending entries."""

    __slots__ = ("consumers", "entries_read", "last_id", "pending")

    def __init__(self, last_id: StreamId, entries_read: int) -> None:
        self.last_id = last_id
        self.entries_read = entries_read
        """-1 when unknown (Redis's ``SCG_INVALID_ENTRIES_READ``)."""
        self.pending: dict[StreamId, Pending] = {}
        self.consumers: dict[bytes, Consumer] = {}

    def drop(self, stream_id: StreamId) -> None:
        """Forget a pending entry (XACK, or a claim of a deleted entry)."""
        entry = self.pending.pop(stream_id)
        if entry.consumer is not None:
            entry.consumer.pending.pop(stream_id, None)

    def give(self, stream_id: StreamId, entry: Pending, consumer: Consumer) -> None:
        """Move a pending entry to ``consumer``."""
        if entry.consumer is not consumer:
            if entry.consumer is not None:
                entry.consumer.pending.pop(stream_id, None)
            consumer.pending[stream_id] = entry
            entry.consumer = consumer


class Stream:
    """A stream value (``TYPE`` ``stream``); empty streams stay in the keyspace."""

    __slots__ = (
        "_node_of",
        "_nodes",
        "entries",
        "entries_added",
        "first_id",
        "groups",
        "ids",
        "last_id",
        "max_deleted_id",
    )

    def __init__(self) -> None:
        self.ids: list[StreamId] = []
        self.entries: dict[StreamId, list[bytes]] = {}
        self.last_id: StreamId = (0, 0)
        self.first_id: StreamId = (0, 0)
        self.max_deleted_id: StreamId = (0, 0)
        self.entries_added = 0
        self._nodes: list[_Node] = []
        self._node_of: dict[StreamId, _Node] = {}
        self.groups: dict[bytes, Group] = {}

    @property
    def node_count(self) -> int:
        """How many listpack nodes hold the entries (XINFO's radix-tree-keys)."""
        return len(self._nodes)

    def has_tombstones(self, start: StreamId) -> bool:
        """Redis's ``streamRangeHasTombstones(start, +)``: a deletion at or after ``start``."""
        if not self.ids or self.max_deleted_id == (0, 0) or self.first_id > self.max_deleted_id:
            return False
        return start <= self.max_deleted_id

    def distance_from_first_ever(self, stream_id: StreamId) -> int:
        """Redis's ``streamEstimateDistanceFromFirstEverEntry``: entries read up to
        ``stream_id``, or -1 when it cannot be known."""
        if not self.entries_added:
            return 0
        if not self.ids and stream_id <= self.last_id:
            return self.entries_added
        if stream_id == self.last_id:
            return self.entries_added
        if stream_id > self.last_id:
            return -1
        if self.max_deleted_id == (0, 0) or self.max_deleted_id < self.first_id:
            if stream_id < self.first_id:
                return self.entries_added - len(self.ids)
            if stream_id == self.first_id:
                return self.entries_added - len(self.ids) + 1
        return -1

    def lag(self, group: Group) -> int | None:
        """XINFO's ``lag`` of ``group``, or None when it cannot be known."""
        if not self.entries_added:
            return 0
        if group.entries_read != -1 and not self.has_tombstones(group.last_id):
            return self.entries_added - group.entries_read
        read = self.distance_from_first_ever(group.last_id)
        return None if read == -1 else self.entries_added - read

    def __len__(self) -> int:
        return len(self.ids)

    def copy(self) -> Stream:
        """An independent copy (COPY)."""
        other = Stream()
        other.ids = list(self.ids)
        other.entries = {key: list(value) for key, value in self.entries.items()}
        other.last_id, other.first_id = self.last_id, self.first_id
        other.max_deleted_id, other.entries_added = self.max_deleted_id, self.entries_added
        for name, group in self.groups.items():
            twin_group = other.groups[name] = Group(group.last_id, group.entries_read)
            for consumer in group.consumers.values():
                twin_consumer = Consumer(consumer.name, consumer.seen_time)
                twin_group.consumers[consumer.name] = twin_consumer
            for stream_id, entry in group.pending.items():
                owner = None
                if entry.consumer is not None:
                    owner = twin_group.consumers[entry.consumer.name]
                twin_entry = Pending(owner, entry.delivery_time)
                twin_entry.delivery_count = entry.delivery_count
                twin_group.pending[stream_id] = twin_entry
                if owner is not None:
                    owner.pending[stream_id] = twin_entry
        for node in self._nodes:
            twin = _Node()
            twin.ids, twin.live = list(node.ids), node.live
            other._nodes.append(twin)
            for each in twin.ids:
                if each in other.entries:
                    other._node_of[each] = twin
        return other

    def append(self, stream_id: StreamId, fields: list[bytes]) -> None:
        """Add an entry whose ID is above :attr:`last_id` (the caller checked)."""
        limit = THRESHOLDS.stream_node_max_entries  # 0: no limit, as in Redis
        if not self._nodes or (limit and len(self._nodes[-1].ids) >= limit):
            self._nodes.append(_Node())
        node = self._nodes[-1]
        node.ids.append(stream_id)
        node.live += 1
        self._node_of[stream_id] = node
        self.ids.append(stream_id)
        self.entries[stream_id] = fields
        if len(self.ids) == 1:
            self.first_id = stream_id
        self.last_id = stream_id
        self.entries_added += 1

    def delete(self, stream_id: StreamId) -> bool:
        """XDEL of one ID; whether it was there."""
        if self.entries.pop(stream_id, None) is None:
            return False
        self.ids.pop(bisect_left(self.ids, stream_id))
        node = self._node_of.pop(stream_id)
        node.live -= 1
        if not node.live:
            self._nodes.remove(node)
        self.max_deleted_id = max(self.max_deleted_id, stream_id)
        self.first_id = self.ids[0] if self.ids else (0, 0)
        return True

    def range(self, start: StreamId, end: StreamId, count: int, reverse: bool) -> list[StreamId]:
        """IDs in ``start..end`` (inclusive), at most ``count`` (0: all), newest first if
        ``reverse``."""
        if start > end:
            return []
        low, high = bisect_left(self.ids, start), bisect_right(self.ids, end)
        if reverse:
            found = self.ids[max(high - count, low) if count else low : high]
            found.reverse()
            return found
        return self.ids[low : min(low + count, high) if count else high]

    def trim(
        self, max_length: int | None, min_id: StreamId | None, approx: bool, limit: int
    ) -> int:
        """Redis's ``streamTrim`` by length or by minimum ID; the entries removed.

        With ``approx`` only whole nodes go; ``limit`` (0: none) caps the entries removed.
        """
        deleted = 0
        while self._nodes:
            if max_length is not None and len(self.ids) <= max_length:
                break
            node = self._nodes[0]
            if limit and deleted + node.live > limit:
                break
            if max_length is not None:
                whole = len(self.ids) - node.live >= max_length
            else:
                assert min_id is not None
                whole = node.ids[-1] < min_id
            if whole:
                self._nodes.pop(0)
                for stream_id in node.ids:
                    if self.entries.pop(stream_id, None) is not None:
                        del self._node_of[stream_id]
                drop = node.live
                del self.ids[:drop]
                deleted += drop
                continue
            if approx:
                break
            for stream_id in list(node.ids):
                if stream_id not in self.entries:
                    continue
                if max_length is not None:
                    if len(self.ids) <= max_length:
                        break
                elif min_id is not None and stream_id >= min_id:
                    break
                self.entries.pop(stream_id)
                del self._node_of[stream_id]
                self.ids.pop(0)
                node.live -= 1
                deleted += 1
            break
        if deleted:
            self.first_id = self.ids[0] if self.ids else (0, 0)
        return deleted


register_kind(Stream, b"stream", keep_empty=True)
