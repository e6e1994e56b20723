"""FASTER batches against ``wireproto serve``, beside the same operations as a RESP pipeline.

No FASTER server is available to compare with (it needs .NET), so the peer is
the same key-value work done as a RESP pipeline: against ``wireproto serve``
(the same store and shell, another protocol) and against redis-server.
Each round sends ``--batch`` Upserts and ``--batch`` Reads of distinct keys
as one FASTER batch (one round trip), or as one redis-py pipeline. Medians
of ``--runs`` runs, in operations per second, and the ratios of the same run.

    .venv/bin/python benchmarks/faster.py [--batch 100] [--rounds 200] [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from _faster_client import FasterClient, exchange  # noqa: E402
from _serve import daemon, start, stop  # noqa: E402
from wireproto.providers import kvbin  # noqa: E402

from wireproto import Connection, Registry  # noqa: E402

VALUE = b"v" * 32


def faster_round(port: int, rounds: int, batch: int) -> float:
    client = FasterClient()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        began = time.perf_counter()
        for r in range(rounds):
            for i in range(batch):
                client.upsert(b"bench:%d:%d" % (r, i), VALUE)
            for i in range(batch):
                client.read(b"bench:%d:%d" % (r, i))
            replies = exchange(sock, client, 2 * batch)
            assert replies[-1].output == VALUE
        return 2 * batch * rounds / (time.perf_counter() - began)


def resp_round(port: int, rounds: int, batch: int) -> float:
    with redis.Redis(host="127.0.0.1", port=port) as client:
        began = time.perf_counter()
        for r in range(rounds):
            pipe = client.pipeline(transaction=False)
            for i in range(batch):
                pipe.set(b"bench:%d:%d" % (r, i), VALUE)
            for i in range(batch):
                pipe.get(b"bench:%d:%d" % (r, i))
            assert pipe.execute()[-1] == VALUE
        return 2 * batch * rounds / (time.perf_counter() - began)


def in_process(rounds: int, batch: int) -> dict[str, float]:
    """Server-side cost alone: the same work fed to a sans-I/O Connection, ops/s."""
    registry = Registry.from_plugins()
    client = FasterClient()
    faster_stream = b""
    resp_stream = b""
    kvbin_stream = b""
    for r in range(rounds):
        for i in range(batch):
            key = b"bench:%d:%d" % (r, i)
            client.upsert(key, VALUE)
            kvbin_stream += kvbin.build_request(kvbin.Opcode.SET, key, VALUE)
            resp_stream += b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$32\r\n%s\r\n" % (len(key), key, VALUE)
        for i in range(batch):
            key = b"bench:%d:%d" % (r, i)
            client.read(key)
            kvbin_stream += kvbin.build_request(kvbin.Opcode.GET, key)
            resp_stream += b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(key), key)
        faster_stream += client.flush()
    rates = {}
    streams = (("faster", faster_stream), ("kvbin", kvbin_stream), ("resp", resp_stream))
    for name, stream in streams:
        connection = Connection(registry)
        began = time.perf_counter()
        for at in range(0, len(stream), 65536):  # 64 KiB reads, as a socket would give them
            connection.receive_data(stream[at : at + 65536])
            connection.data_to_send()
        rates[name] = 2 * batch * rounds / (time.perf_counter() - began)
    return rates


def _ping(port: int) -> bool:
    try:
        with redis.Redis(host="127.0.0.1", port=port, socket_timeout=0.5) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "serve.log"
        process = start(log)
        try:
            assert process.stdout is not None
            line = process.stdout.readline().decode()
            port = int(line.rsplit(":", 1)[1])
            results: dict[str, list[float]] = {"faster": [], "resp": [], "redis": []}
            redis_server = shutil.which("redis-server")
            assert redis_server, "redis-server is the peer"
            command: Callable[[int], list[str]] = lambda p: [  # noqa: E731
                redis_server, "--port", str(p), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no",
            ]  # fmt: skip
            with daemon("redis-server", command, _ping, Path(tmp) / "redis.log") as peer:
                for _ in range(args.runs):  # interleaved: the machine's load hits all three
                    results["faster"].append(faster_round(port, args.rounds, args.batch))
                    results["resp"].append(resp_round(port, args.rounds, args.batch))
                    results["redis"].append(resp_round(peer, args.rounds, args.batch))
        finally:
            stop(process)
    local: dict[str, list[float]] = {"faster": [], "kvbin": [], "resp": []}
    for _ in range(args.runs):
        for name, rate in in_process(args.rounds, args.batch).items():
            local[name].append(rate)
    medians = {name: statistics.median(values) for name, values in results.items()}
    print(
        f"batch {args.batch} upserts + {args.batch} reads, {args.rounds} rounds, {args.runs} runs"
    )
    print("| client -> server | ops/s (median) | / RESP on wireproto | / redis-server |")
    print("|---|---|---|---|")
    labels = {
        "faster": "FASTER batch (tests/_faster_client.py) -> wireproto",
        "resp": "redis-py pipeline -> wireproto",
        "redis": "redis-py pipeline -> redis-server",
    }
    for name, label in labels.items():
        value = medians[name]
        print(
            f"| {label} | {value:,.0f} | {value / medians['resp']:.2f} | "
            f"{value / medians['redis']:.2f} |"
        )
    print()
    print("| in process (server side only) | ops/s (median) | / RESP |")
    print("|---|---|---|")
    for name in ("faster", "kvbin", "resp"):
        value = statistics.median(local[name])
        print(f"| {name} | {value:,.0f} | {value / statistics.median(local['resp']):.2f} |")


if __name__ == "__main__":
    main()
