"""Counts instead of times: the RESP path of ``resp_micro.py``, for a machine too noisy to time.

Two measures that do not move with the other load on the machine:

- ``--opcodes``: the Python bytecodes each function runs per batch of 16
  commands (``sys.settrace`` with opcode events), most first. C work (a
  ``bytes.split``, a ``map``) counts as one opcode, so compare like with like.
- without it, the script just runs ``--batches`` batches of one layer, to be
  counted by valgrind: the instructions of N batches less those of M batches,
  over (N - M) * 16, are the CPU instructions per command::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python benchmarks/resp_count.py --layer shell --test SET --batches 2500
    # the same with --batches 500; "Collected" of the first less the second, / 32000

``--parser hiredis`` runs the hiredis parser instead of the pure-Python one. Run it
from the repository root, with the interpreter of the build to count.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import resp_micro


def step_of(layer: str, test: str, accelerated: bool = False) -> Callable[[], None]:
    """One batch of ``test`` through ``layer`` (resp_micro's layers; hiredis if ``accelerated``)."""
    data = resp_micro.WORKLOADS[test]
    if layer == "parser":
        return resp_micro.parser_step(accelerated, data)
    if layer == "session":
        return resp_micro.session_step(accelerated, data)[0]
    if layer == "connection":
        return resp_micro.connection_step(accelerated, data)[0]
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    return resp_micro.shell_step(accelerated, data, loop)[0]


def count_opcodes(step: Callable[[], None], batches: int) -> collections.Counter[str]:
    """Bytecodes run per function over ``batches`` calls of ``step``."""
    counts: collections.Counter[str] = collections.Counter()

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        if event == "opcode":
            code = frame.f_code
            counts[f"{os.path.basename(code.co_filename)}:{code.co_name}"] += 1
        return tracer

    sys.settrace(tracer)
    try:
        for _ in range(batches):
            step()
    finally:
        sys.settrace(None)
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layer", choices=resp_micro.LAYERS, default="shell")
    parser.add_argument("--test", choices=list(resp_micro.WORKLOADS), default="SET")
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--opcodes", action="store_true", help="print bytecodes per function")
    parser.add_argument(
        "--parser", choices=("pure", "hiredis"), default="pure", help="the RESP parser to run"
    )
    args = parser.parse_args(argv)
    if args.parser == "hiredis" and not resp_micro.HIREDIS_AVAILABLE:
        parser.error("hiredis is not installed")
    step = step_of(args.layer, args.test, accelerated=args.parser == "hiredis")
    for _ in range(200):  # warm-up: the specialising interpreter settles
        step()
    if not args.opcodes:
        for _ in range(args.batches):
            step()
        return 0
    counts = count_opcodes(step, args.batches)
    per_command = sum(counts.values()) / args.batches / resp_micro.PIPELINE
    print(f"{args.layer} {args.test}: {per_command:.1f} bytecodes per command")
    for name, count in counts.most_common(25):
        print(f"{count / args.batches:8.1f} per batch  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
