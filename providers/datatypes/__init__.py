"""Redis data structures beyond deque, dict and set (sorted sets), pure Python."""
