"""Building binary replies: the functions generated from the construct declarations
beside the same bytes packed by hand with ``struct``, in the same run.

memcached binary responses (``providers/memcache/binary_messages.py``:
``VALUE_RESPONSE``, ``STATUS_RESPONSE``, ``TEXT_RESPONSE``, ``DELTA_RESPONSE``) and kvbin replies
(``providers/kvbin.py``: ``REPLY``) are built by ``build_fields``, the positional
function ``compile_construct`` generates per declaration (one ``struct`` pack of the
fixed fields, then the variable ones). Each row times, interleaved round by round:

- ``hand``: the hand-written ``struct.Struct.pack`` and concatenation the memcached
  session used before (and a hand-written kvbin reply);
- ``generated``: the ``build_fields`` function the session calls now;
- ``dict``: the generated ``build`` from a ``dict`` (the ``Container`` path), and
  ``construct``: construct's own interpreter, for scale (a tenth of the calls).

Then the memcached binary session (``BinarySession.try_consume`` through a sans-I/O
``Connection``) over pipelined GETs and SETs: what a request costs with the generated
replies (run the script with the pure and with the compiled build's Python to compare
the two builds).

Each cell is the median of ``--runs`` runs, in nanoseconds of CPU time
(``time.process_time``) per reply. Run from the root::

    .venv/bin/python benchmarks/memcache_binary_micro.py [--quick]

Nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import struct
import sys
import time
from collections.abc import Callable

from wireproto.providers import kvbin
from wireproto.providers.memcache import binary_messages as m
from wireproto.providers.memcache import register

from wireproto._build import current
from wireproto._connection import Connection, ConnectionSettings
from wireproto._registry import Registry
from wireproto.framing import compile_construct

VALUE = b"v" * 32
KEY = b"key:123456"
HEADER = struct.Struct(">BBHBBHIIQ")  # what binary.py packed by hand before
FLAGS = struct.Struct(">I")
DELTA = struct.Struct(">Q")
KVBIN_HEADER = struct.Struct(">3sBII")


def hand_get(  # noqa: PLR0917 - the fields of the reply, as build_fields takes them
    opcode: int, opaque: int, cas: int, flags: int, key: bytes, value: bytes
) -> bytes:
    head = HEADER.pack(0x81, opcode, len(key), 4, 0, 0, 4 + len(key) + len(value), opaque, cas)
    return head + FLAGS.pack(flags) + key + value


def hand_status(opcode: int, opaque: int, cas: int) -> bytes:
    return HEADER.pack(0x81, opcode, 0, 0, 0, 0, 0, opaque, cas)


def hand_error(opcode: int, status: int, opaque: int, text: bytes) -> bytes:
    return HEADER.pack(0x81, opcode, 0, 0, 0, status, len(text), opaque, 0) + text


def hand_delta(opcode: int, opaque: int, cas: int, value: int) -> bytes:
    return HEADER.pack(0x81, opcode, 0, 0, 0, 0, 8, opaque, cas) + DELTA.pack(value)


def hand_kvbin(status: int, request_id: int, body: bytes) -> bytes:
    return KVBIN_HEADER.pack(kvbin.MAGIC, status, request_id, len(body)) + body


Row = tuple[str, Callable[[int], None], Callable[[int], None], Callable[[int], None] | None]


def rows() -> list[Row]:
    """(name, hand, generated, dict) loops: each builds ``n`` replies."""
    value_response = m.build_value_response
    status_response = m.build_status_response
    text_response = m.build_text_response
    delta_response = m.build_delta_response
    kvbin_reply = compile_construct(kvbin.REPLY).build_fields
    assert kvbin_reply is not None
    value_dict = compile_construct(m.VALUE_RESPONSE).build
    status_dict = compile_construct(m.STATUS_RESPONSE).build
    text = m.ERROR_TEXT[m.Status.KEY_ENOENT]

    def get_hand(n: int) -> None:
        for i in range(n):
            hand_get(0, i, 7, 3, b"", VALUE)

    def get_gen(n: int) -> None:
        for i in range(n):
            value_response(0, 0, i, 7, 3, b"", VALUE)

    def get_dict(n: int) -> None:
        for i in range(n):
            value_dict(
                {
                    "opcode": 0,
                    "status": 0,
                    "opaque": i,
                    "cas": 7,
                    "extras": {"flags": 3},
                    "key": b"",
                    "value": VALUE,
                }
            )

    def getk_hand(n: int) -> None:
        for i in range(n):
            hand_get(0x0C, i, 7, 3, KEY, VALUE)

    def getk_gen(n: int) -> None:
        for i in range(n):
            value_response(0x0C, 0, i, 7, 3, KEY, VALUE)

    def set_hand(n: int) -> None:
        for i in range(n):
            hand_status(1, i, 7)

    def set_gen(n: int) -> None:
        for i in range(n):
            status_response(1, 0, i, 7)

    def set_dict(n: int) -> None:
        for i in range(n):
            status_dict({"opcode": 1, "status": 0, "opaque": i, "cas": 7})

    def error_hand(n: int) -> None:
        for i in range(n):
            hand_error(0, 1, i, text)

    def error_gen(n: int) -> None:
        for i in range(n):
            text_response(0, 1, i, 0, text)

    def incr_hand(n: int) -> None:
        for i in range(n):
            hand_delta(5, i, 7, i)

    def incr_gen(n: int) -> None:
        for i in range(n):
            delta_response(5, 0, i, 7, i)

    def kvbin_hand(n: int) -> None:
        for i in range(n):
            hand_kvbin(0, i, VALUE)

    def kvbin_gen(n: int) -> None:
        for i in range(n):
            kvbin_reply(0, i, VALUE)

    return [
        ("memcached GET hit (flags, 32 B value)", get_hand, get_gen, get_dict),
        ("memcached GETK hit (10 B key)", getk_hand, getk_gen, None),
        ("memcached SET stored (header only)", set_hand, set_gen, set_dict),
        ("memcached error (Not found)", error_hand, error_gen, None),
        ("memcached INCR (8 B value)", incr_hand, incr_gen, None),
        ("kvbin reply (32 B body)", kvbin_hand, kvbin_gen, None),
    ]


def _ns(run: Callable[[int], None], n: int) -> float:
    gc.collect()
    start = time.process_time()
    run(n)
    return (time.process_time() - start) / n * 1e9


def _session_batches(count: int, depth: int) -> tuple[list[bytes], list[bytes]]:
    sets, gets = [], []
    for b in range(count):
        keys = [b"key:%d" % (b * depth + i) for i in range(depth)]
        extras = m.STORE_EXTRAS.build({"flags": 0, "expiration": 0})
        sets.append(b"".join(m.build_request(m.Opcode.SET, k, VALUE, extras) for k in keys))
        gets.append(b"".join(m.build_request(m.Opcode.GET, k) for k in keys))
    return sets, gets


def _connection() -> Connection:
    registry = Registry()
    register(registry)
    return Connection(registry, ConnectionSettings(detect_timeout=None))


def _feed(conn: Connection, batches: list[bytes]) -> None:
    for data in batches:
        region = conn.get_buffer(len(data))
        region[: len(data)] = data
        conn.buffer_updated(len(data))
        conn.data_to_send()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--quick", action="store_true", help="3 runs of 50,000 calls")
    parser.add_argument(
        "--session-only",
        action="store_true",
        help="only the session rows (they run on an older tree's install too)",
    )
    args = parser.parse_args()
    runs, calls = (3, 50_000) if args.quick else (args.runs, args.calls)
    print(f"Python {sys.version.split()[0]}, {current().describe()}; median of {runs} runs,")
    print("ns of CPU per reply (hand-written and generated interleaved in each run)\n")
    print("| reply | hand `struct` | generated `build_fields` | generated / hand | dict |")
    print("|---|---:|---:|---:|---:|")
    for name, hand, gen, from_dict in [] if args.session_only else rows():
        assert hand is not None
        cells: dict[str, list[float]] = {"hand": [], "gen": [], "dict": []}
        for index in range(runs + 1):
            h, g = _ns(hand, calls), _ns(gen, calls)
            d = _ns(from_dict, calls // 4) if from_dict is not None else 0.0
            if index:  # the first round warms up
                cells["hand"].append(h)
                cells["gen"].append(g)
                cells["dict"].append(d)
        hm, gm = statistics.median(cells["hand"]), statistics.median(cells["gen"])
        dm = f"{statistics.median(cells['dict']):.0f}" if from_dict is not None else ""
        print(f"| {name} | {hm:.0f} | {gm:.0f} | {gm / hm:.2f} | {dm} |")
    depth, count = 16, max(calls // 16 // 4, 100)
    sets, gets = _session_batches(count, depth)
    conn = _connection()
    _feed(conn, sets)  # the keys the GETs hit
    print(
        f"\nmemcached binary session through `Connection` ({depth} pipelined requests per read)\n"
    )
    print("| requests | ns of CPU per request |")
    print("|---|---:|")
    for name, batches in (("SET", sets), ("GET hit", gets)):
        results = []
        for index in range(runs + 1):
            gc.collect()
            start = time.process_time()
            _feed(conn, batches)
            elapsed = time.process_time() - start
            if index:
                results.append(elapsed / (len(batches) * depth) * 1e9)
        print(f"| {name} | {statistics.median(results):.0f} |")


if __name__ == "__main__":
    main()
