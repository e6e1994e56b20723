"""Per-request CPU cost of the kvbin path, sans I/O: no sockets, no event loop.

Feeds the batches the end-to-end benchmark sends (16 pipelined SET+GET pairs,
32-byte values, per read) and times nested layers, so the difference between
two rows is what the outer layer adds:

- ``parse (construct)``: ``REQUEST.parse`` by construct's interpreter, the old path;
- ``parse (compiled)``: the functions ``compile_construct(REQUEST)`` generated;
- ``parse fields (compiled)``: ``parse_fields``, the values as a tuple (no ``Container``);
- ``build reply (compiled)``: ``compile_construct(REPLY).build`` from a dict;
- ``build reply fields``: ``build_fields(status, request_id, body)`` (what kvbin calls);
- ``framer``: ``LengthFieldFramer.from_message(REQUEST).frame_end_at`` over a batch
  (the two-step path of ``FramedConsumer``);
- ``frame+parse fused (fields)``: ``parse_framed_fields`` over a batch, the one
  generated function that frames and parses (what kvbin's ``FramedConsumer`` calls);
- ``consumer loop (fields)``: ``consume_framed_fields`` over a batch, the loop a
  ``FramedConsumer`` runs per read (frame, parse, handler call, replies queued),
  with a handler returning one constant reply: kvbin's loop, compiled ahead of time
  (``providers/_kvbin_loop.py``) in the compiled build;
- ``session``: the kvbin session's ``try_consume`` (frame, parse, store, reply),
  with a sender that drops the bytes;
- ``connection``: ``Connection.get_buffer`` / ``buffer_updated`` /
  ``data_to_send`` around the session;
- ``hand-written core``: the same batches through ``KvbinCore.feed``
  (``benchmarks/peers/_kvbin_core.py``: one ``struct`` loop over a bytearray, the
  core of the hand-written peers), no framework: the floor ``connection`` is
  compared with (messages/s and the ratio, same run).

Each cell is the median of ``--runs`` runs, in microseconds of CPU time
(``time.process_time``) per request (a SET or a GET). Run from the root::

    .venv/bin/python benchmarks/kvbin_micro.py [--quick]

Nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

# The installed wireproto (pure or compiled), not the source folder; the peers' core.
sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))

from _kvbin_core import KvbinCore
from wireproto.providers.kvbin import (
    KVBIN,
    REPLY,
    REQUEST,
    KvbinProvider,
    Opcode,
    Status,
    build_reply,
    build_request,
)

from wireproto._build import current
from wireproto._connection import Connection, ConnectionSettings
from wireproto._registry import Registry
from wireproto.framing import LengthFieldFramer, _malformed, compile_construct

PIPELINE = 16
VALUE = b"v" * 32


def batch(index: int) -> bytes:
    """16 SET+GET pairs on distinct keys, as one read."""
    parts = []
    for i in range(PIPELINE):
        key = b"key:%d" % (index * PIPELINE + i)
        parts.append(build_request(Opcode.SET, key, VALUE, 2 * i))
        parts.append(build_request(Opcode.GET, key, b"", 2 * i + 1))
    return b"".join(parts)


class _Drop:
    def send(self, data: object, /) -> None:
        pass

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str, default: object = None, /) -> object:
        return default


def _timed(run: Callable[[], int], runs: int) -> float:
    results = []
    for index in range(runs + 1):
        gc.collect()
        start = time.process_time()
        requests = run()
        elapsed = time.process_time() - start
        if index:  # the first run warms up
            results.append(elapsed / requests * 1e6)
    return statistics.median(results)


def main() -> None:  # noqa: PLR0915 - one closure per row
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--batches", type=int, default=3000)
    parser.add_argument("--quick", action="store_true", help="3 runs of 1000 batches")
    args = parser.parse_args()
    runs, count = (3, 1000) if args.quick else (args.runs, args.batches)
    batches = [batch(i) for i in range(count)]
    frames = [build_request(Opcode.SET, b"key:1", VALUE, 7)] * (count * 2 * PIPELINE)
    per_batch = 2 * PIPELINE
    compiled_parse = compile_construct(REQUEST).parse
    compiled_build = compile_construct(REPLY).build
    fields_parse = compile_construct(REQUEST).parse_fields
    fields_build = compile_construct(REPLY).build_fields
    framed_fields = compile_construct(REQUEST).parse_framed_fields
    assert fields_parse is not None and fields_build is not None and framed_fields is not None

    def interpreted() -> int:
        parse = REQUEST.parse
        few = frames[: len(frames) // 10]
        for frame in few:
            parse(frame)
        return len(few)

    def compiled() -> int:
        for frame in frames:
            compiled_parse(frame)
        return len(frames)

    def parse_fields() -> int:
        for frame in frames:
            fields_parse(frame)
        return len(frames)

    def build_fields() -> int:
        for index in range(len(frames)):
            fields_build(0, index, VALUE)
        return len(frames)

    def fused() -> int:
        cut = LengthFieldFramer.from_message(REQUEST)
        check = cut._frame_end
        limit = cut.max_frame_size - cut.header_size
        for data in batches:
            view = memoryview(data)
            offset = 0
            total = len(data)
            while offset < total:
                offset = framed_fields(view, offset, total, limit, check)[0]
        return count * per_batch

    def consumer_loop() -> int:
        cut = LengthFieldFramer.from_message(REQUEST)
        check = cut._frame_end
        limit = cut.max_frame_size - cut.header_size
        loop = compile_construct(REQUEST).consume_framed_fields
        assert loop is not None
        constant = build_reply(Status.OK, 0)

        def handler(fields: object, sender: object) -> bytes:
            return constant

        def flush() -> None:
            replies.clear()

        for data in batches:
            replies: list[bytes] = []
            view = memoryview(data)
            loop(view, 0, len(data), limit, check, handler, None, replies, flush, 1 << 16, False,
                 _malformed)  # fmt: skip
        return count * per_batch

    def build() -> int:
        for index in range(len(frames)):
            compiled_build({"status": 0, "request_id": index, "body": VALUE})
        return len(frames)

    def framer() -> int:
        cut = LengthFieldFramer.from_message(REQUEST)
        frame_end_at = cut.frame_end_at
        for data in batches:
            view = memoryview(data)
            offset = 0
            while offset < len(data):
                offset = frame_end_at(view, offset)
        return count * per_batch

    def session() -> int:
        provider = KvbinProvider()
        consumer = provider.create_session(KVBIN, _Drop())
        for data in batches:
            view = memoryview(data)
            assert consumer.try_consume(view) == len(data)
        return count * per_batch

    def connection() -> int:
        registry = Registry()
        registry.register(KVBIN, KvbinProvider())
        conn = Connection(registry, ConnectionSettings(detect_timeout=None))
        for data in batches:
            region = conn.get_buffer(len(data))
            region[: len(data)] = data
            conn.buffer_updated(len(data))
            conn.data_to_send()
        return count * per_batch

    def core() -> int:
        hand = KvbinCore({})
        for data in batches:
            hand.feed(data)
        return count * per_batch

    print(f"kvbin sans I/O, {PIPELINE} pipelined SET+GET per read, {len(VALUE)}-byte values,")
    version = sys.version.split()[0]
    print(f"median of {runs} runs, microseconds of CPU per request (Python {version})")
    print(f"build: {current().describe()}")
    results: dict[str, float] = {}
    for name, run in (
        ("parse (construct)", interpreted),
        ("parse (compiled)", compiled),
        ("parse fields (compiled)", parse_fields),
        ("build reply (compiled)", build),
        ("build reply fields", build_fields),
        ("framer", framer),
        ("frame+parse fused (fields)", fused),
        ("consumer loop (fields)", consumer_loop),
        ("session", session),
        ("connection", connection),
        ("hand-written core", core),
    ):
        results[name] = _timed(run, runs)
        print(f"  {name:<28} {results[name]:6.2f}")
    conn, hand = results["connection"], results["hand-written core"]
    print(
        f"connection: {1e6 / conn:,.0f} messages/s; hand-written core: {1e6 / hand:,.0f}"
        f" messages/s; connection / core time: {conn / hand:.2f}x"
    )


if __name__ == "__main__":
    main()
