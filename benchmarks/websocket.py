"""WebSocket frames per second: wireproto's layer (on wsproto) beside wsproto alone and websockets.

All parse the same masked client bytes sans-I/O, in the same process: one
message of ``--size`` bytes cut into frames of ``--frame`` bytes (1: the
worst case, a header per byte). wireproto's figure is the whole path (the
layer, then RESP inside: the message is ``SET key <value>``); ``wsproto
alone`` is wsproto's server connection yielding the frames' events and
nothing else (the floor of a layer built on wsproto); the peer is
``websockets``' server protocol (``websockets.protocol``) receiving the same
frames. Prints medians (CPU seconds of this process) and ratios; with
``--limit`` it also runs the layer with the message at ``max_message_size``
and one byte over it (closed with 1009, checked). Nothing is asserted.

    .venv/bin/python benchmarks/websocket.py --size 1m --frame 1 --runs 3
    .venv/bin/python benchmarks/websocket.py --size 16m --frame 1 --runs 1 --limit
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
from _ws import connection, decode, handshake, one_byte_frames, ws_registry
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage

from wireproto._websocket import WebSocketSettings

CHUNK = 1 << 16


def masked_frames(message: bytes, size: int) -> bytes:
    """Client frames as a browser sends them: masked, ``size`` payload bytes each."""
    mask = os.urandom(4)
    if size == 1:
        return one_byte_frames(message, mask)
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


def run_wireproto(request: bytes, frames: bytes, size: int, limit: int | None = None) -> float:
    """CPU seconds of the layer and RESP taking the message (``limit``: its message limit)."""
    settings = WebSocketSettings(max_message_size=limit if limit is not None else size + 64)
    registry, _ = ws_registry(settings)
    conn = connection(registry)
    start = time.process_time()
    conn.receive_data(request)
    output = bytearray(conn.data_to_send())
    for offset in range(0, len(frames), CHUNK):
        conn.receive_data(frames[offset : offset + CHUNK])
        output += conn.data_to_send()
    elapsed = time.process_time() - start
    decoded = decode(bytes(output))
    if size > settings.max_message_size:
        assert decoded.close is not None and decoded.close.code == 1009, decoded.close
        assert decoded.messages == []
    else:
        assert decoded.messages == [b"+OK\r\n"], decoded.messages[:1]
    return elapsed


def run_wsproto(request: bytes, frames: bytes, size: int) -> float:
    """CPU seconds of wsproto's server connection alone yielding the frames' events."""
    ws = WSConnection(ConnectionType.SERVER)
    start = time.process_time()
    ws.receive_data(request)
    for _ in ws.events():
        pass
    ws.send(AcceptConnection())
    received = 0
    for offset in range(0, len(frames), CHUNK):
        ws.receive_data(frames[offset : offset + CHUNK])
        for event in ws.events():
            assert isinstance(event, BytesMessage)
            received += len(event.data)
    elapsed = time.process_time() - start
    assert received == size, received
    return elapsed


def run_websockets(request: bytes, frames: bytes, size: int) -> float:
    protocol = ServerProtocol(max_size=size + 64)
    start = time.process_time()
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
    elapsed = time.process_time() - start
    assert received == size, received
    return elapsed


def _size(text: str) -> int:
    factor = {"k": 1 << 10, "m": 1 << 20}.get(text[-1:].lower(), 1)
    return int(text[:-1] if factor != 1 else text) * factor


def _message(size: int) -> bytes:
    """``SET key <value>`` of exactly ``size`` bytes."""
    overhead = len(resp_command("SET", "key", b"")) - 1  # "$0" becomes "$<digits>"
    value = b"v" * (size - overhead - len(str(size)))
    message = resp_command("SET", "key", value)
    assert len(message) == size, (len(message), size)
    return message


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=_size, default=1 << 20, help="message bytes (1m)")
    parser.add_argument("--frame", type=_size, default=1, help="payload bytes per frame (1)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--limit",
        action="store_true",
        help="also the layer at max_message_size = --size, and one byte over it (1009)",
    )
    args = parser.parse_args()
    message = _message(args.size)
    frames = masked_frames(message, args.frame)
    request = handshake()
    frame_count = (len(message) + args.frame - 1) // args.frame
    rows: list[tuple[str, list[float]]] = [
        ("wireproto (wsproto + RESP)", []),
        ("wsproto alone (events only)", []),
        ("websockets (parse only)", []),
    ]
    for _ in range(args.runs):  # interleaved, so the machine's noise falls on all alike
        rows[0][1].append(run_wireproto(request, frames, len(message)))
        rows[1][1].append(run_wsproto(request, frames, len(message)))
        rows[2][1].append(run_websockets(request, frames, len(message)))
    if args.limit:
        over = _message(args.size + 1)
        over_frames = masked_frames(over, args.frame)
        rows.append(("wireproto, message at the limit", []))
        rows.append(("wireproto, one byte over (1009)", []))
        for _ in range(args.runs):
            rows[3][1].append(run_wireproto(request, frames, len(message), args.size))
            rows[4][1].append(run_wireproto(request, over_frames, len(over), args.size))
    print(f"message {len(message)} bytes in {frame_count} frames of {args.frame} bytes")
    print("| server | median CPU s | frames/s |")
    print("|---|---:|---:|")
    for name, times in rows:
        median = statistics.median(times)
        print(f"| {name} | {median:.2f} | {frame_count / median:,.0f} |")
    ours = statistics.median(rows[0][1])
    print(f"ratio wireproto/wsproto alone: {ours / statistics.median(rows[1][1]):.2f}")
    print(f"ratio wireproto/websockets: {ours / statistics.median(rows[2][1]):.2f}")


if __name__ == "__main__":
    main()
