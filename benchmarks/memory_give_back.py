"""Does ``malloc_trim`` (``wireproto.memory.give_back_memory``) give memory back after a spike?

Allocates about 600 MB of objects of one size, interleaved with small
long-lived objects (as a server's replies and its bookkeeping are), frees the
large ones, and prints the RSS after the free and after
``give_back_memory()``. Whether glibc keeps the freed pages depends on the
heap's history (a freed mmapped chunk raises its mmap threshold, so objects
of 100 KB then land on the heap, which glibc trims only from its top): small
changes to this script (one more import) change the outcome. Run:
``.venv/bin/python benchmarks/memory_give_back.py`` (Linux, glibc).
"""

import time
from pathlib import Path

from wireproto.memory import give_back_memory


def rss():
    """This process's resident set, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no VmRSS")


base = rss()
for size in (100_000, 1 << 20):
    big, small = [], []
    x = bytes(2 << 20)  # a freed mmapped chunk raises glibc's mmap threshold
    del x
    for _ in range(6000 if size == 100_000 else 600):
        big.append(b"v" * size)
        small.append(bytearray(200))  # long-lived small objects
    held = rss()
    del big
    after = rss()
    t = time.perf_counter()
    trimmed = give_back_memory()
    dt = (time.perf_counter() - t) * 1000
    print(
        f"{size}-byte objects: baseline {base} MiB, holding {held} MiB, after the free {after} "
        f"MiB, after give_back_memory() {rss()} MiB ({'malloc_trim' if trimmed else 'none'}, "
        f"{dt:.1f} ms)"
    )
    del small
