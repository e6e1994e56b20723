"""WebSocket frames per second: wireproto's layer (on wsproto) beside the websockets library.

Both parse the same masked client bytes sans-I/O, in the same process: one
message of ``--size`` bytes cut into frames of ``--frame`` bytes (1: the
worst case, a header per byte). wireproto's figure is the whole path (the
layer, then RESP inside: the message is ``SET key <value>``); the peer's is
``websockets``' server protocol (``websockets.protocol``) receiving the same
frames and assembling the message, with no RESP behind it. Prints medians
and the ratio; nothing is asserted.

    .venv/bin/python benchmarks/websocket.py --size 1m --frame 1 --runs 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _drive import resp_command
from _ws import connection, decode, handshake, ws_registry
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from wireproto._websocket import WebSocketSettings

CHUNK = 1 << 16


def masked_frames(message: bytes, size: int) -> bytes:
    """Client frames as a browser sends them: masked, ``size`` payload bytes each."""
    mask = os.urandom(4)
    out = bytearray()
    count = (len(message) + size - 1) // size
    for index in range(count):
        piece = message[index * size : (index + 1) * size]
        opcode = 0x2 if index == 0 else 0x0
        fin = 0x80 if index == count - 1 else 0
        length = len(piece)
        if length < 126:
            header = bytes([fin | opcode, 0x80 | length])
        elif length < 1 << 16:
            header = bytes([fin | opcode, 0x80 | 126]) + length.to_bytes(2, "big")
        else:
            header = bytes([fin | opcode, 0x80 | 127]) + length.to_bytes(8, "big")
        out += header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(piece))
    return bytes(out)


def run_wireproto(request: bytes, frames: bytes, size: int) -> float:
    registry, _ = ws_registry(WebSocketSettings(max_message_size=size + 64))
    conn = connection(registry)
    start = time.perf_counter()
    conn.receive_data(request)
    output = bytearray(conn.data_to_send())
    for offset in range(0, len(frames), CHUNK):
        conn.receive_data(frames[offset : offset + CHUNK])
        output += conn.data_to_send()
    elapsed = time.perf_counter() - start
    assert decode(bytes(output)).messages == [b"+OK\r\n"]
    return elapsed


def run_websockets(request: bytes, frames: bytes, size: int) -> float:
    protocol = ServerProtocol(max_size=size + 64)
    start = time.perf_counter()
    protocol.receive_data(request)
    (handshake_request,) = protocol.events_received()
    protocol.send_response(protocol.accept(handshake_request))
    protocol.data_to_send()
    assert protocol.state is State.OPEN
    received = 0
    for offset in range(0, len(frames), CHUNK):
        protocol.receive_data(frames[offset : offset + CHUNK])
        for event in protocol.events_received():
            assert isinstance(event, Frame)
            if event.opcode in (Opcode.BINARY, Opcode.CONT):
                received += len(event.data)
    elapsed = time.perf_counter() - start
    assert received == size, received
    return elapsed


def _size(text: str) -> int:
    factor = {"k": 1 << 10, "m": 1 << 20}.get(text[-1:].lower(), 1)
    return int(text[:-1] if factor != 1 else text) * factor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=_size, default=1 << 20, help="message bytes (1m)")
    parser.add_argument("--frame", type=_size, default=1, help="payload bytes per frame (1)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    overhead = len(resp_command("SET", "key", b"")) - 1  # "$0" becomes "$<digits>"
    value = b"v" * (args.size - overhead - len(str(args.size)))
    message = resp_command("SET", "key", value)
    frames = masked_frames(message, args.frame)
    request = handshake()
    frame_count = (len(message) + args.frame - 1) // args.frame
    ours = [run_wireproto(request, frames, len(message)) for _ in range(args.runs)]
    theirs = [run_websockets(request, frames, len(message)) for _ in range(args.runs)]
    print(f"message {len(message)} bytes in {frame_count} frames of {args.frame} bytes")
    print("| server | median s | frames/s |")
    print("|---|---:|---:|")
    for name, times in (("wireproto (wsproto + RESP)", ours), ("websockets (parse only)", theirs)):
        median = statistics.median(times)
        print(f"| {name} | {median:.2f} | {frame_count / median:,.0f} |")
    print(f"ratio wireproto/websockets: {statistics.median(ours) / statistics.median(theirs):.2f}")


if __name__ == "__main__":
    main()
