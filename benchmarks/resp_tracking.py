"""What CLIENT TRACKING costs per command, sans I/O.

One tracking connection (RESP3) sends batches of 50 GETs and 50 SETs over 50 keys
while another connection overwrites those keys (so every read key is invalidated
and read again); the same with tracking off, ON, and ON BCAST. Each figure is the
median of 7 rounds of 200 batch pairs, in microseconds of CPU time
(``time.process_time``) per command. Nothing here asserts a speed.

Run it from the repository root::

    .venv/bin/python benchmarks/resp_tracking.py
"""

from __future__ import annotations

import statistics
import time

from wireproto.providers.resp import RespProvider, register

from wireproto import Connection, Registry


def _command(*args: str) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(
        b"$%d\r\n%s\r\n" % (len(arg), arg.encode()) for arg in args
    )


def per_command(tracking: str | None) -> float:
    """Median CPU microseconds per command with ``CLIENT TRACKING <tracking>`` (None: off)."""
    registry = Registry()
    register(registry, RespProvider(accelerated=False))
    client, other = Connection(registry), Connection(registry)
    client.receive_data(_command("HELLO", "3"))
    client.data_to_send()
    if tracking:
        client.receive_data(_command("CLIENT", "TRACKING", *tracking.split()))
        assert client.data_to_send() == b"+OK\r\n"
    batch = b"".join(_command("GET", f"k{i}") for i in range(50))
    batch += b"".join(_command("SET", f"k{i}", "v") for i in range(50))
    overwrite = b"".join(_command("SET", f"k{i}", "w") for i in range(50))
    rounds = []
    for _ in range(7):
        started = time.process_time()
        for _ in range(200):
            client.receive_data(batch)
            client.data_to_send()
            other.receive_data(overwrite)
            other.data_to_send()
            client.data_to_send()
        rounds.append((time.process_time() - started) / (200 * 150) * 1e6)
    return statistics.median(rounds)


def main() -> None:
    """Print one line per mode."""
    for mode in (None, "ON", "ON BCAST"):
        print(f"tracking {mode or 'off':9} {per_command(mode):.2f} us CPU/command")


if __name__ == "__main__":
    main()
