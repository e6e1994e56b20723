"""Redis's encoding thresholds (``hash-max-listpack-entries``...), which decide when a value
leaves its compact encoding (OBJECT ENCODING, listing order, DUMP's type byte), and the
size of a stream's nodes (``stream-node-max-entries``: which entries an approximate trim
removes together).

CONFIG SET changes them for the whole process, as it changes them for a whole
redis-server; test suites set them to force an encoding (``zset-max-listpack-entries 0``).
"""

from __future__ import annotations

__all__ = ["THRESHOLDS", "EncodingThresholds"]


class EncodingThresholds:
    """The thresholds in force (Redis 7.0's defaults until CONFIG SET changes them)."""

    __slots__ = (
        "hash_max_listpack_entries",
        "hash_max_listpack_value",
        "set_max_intset_entries",
        "stream_node_max_bytes",
        "stream_node_max_entries",
        "zset_max_listpack_entries",
        "zset_max_listpack_value",
    )

    def __init__(self) -> None:
        self.hash_max_listpack_entries = 512
        self.hash_max_listpack_value = 64
        self.set_max_intset_entries = 512
        self.stream_node_max_bytes = 4096
        self.stream_node_max_entries = 100
        self.zset_max_listpack_entries = 128
        self.zset_max_listpack_value = 64


THRESHOLDS = EncodingThresholds()
"""The process's thresholds."""
