"""Redis's data types beyond what a plain ``deque``, ``dict`` or ``set`` gives, and
their representation (encodings, RDB serialisation); pure Python."""
