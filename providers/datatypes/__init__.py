"""Redis's data types beyond what a plain ``deque``, ``dict`` or ``set`` gives (sorted sets),
and their representation (encodings, RDB serialisation); pure Python."""
