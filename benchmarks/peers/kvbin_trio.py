"""kvbin on trio (prints its port, serves until killed)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import trio
from _kvbin_core import KvbinCore

STORE: dict[bytes, bytes] = {}


async def serve(stream: trio.SocketStream) -> None:
    core = KvbinCore(STORE)
    async with stream:
        while True:
            data = await stream.receive_some(256 * 1024)
            if not data:
                return
            replies = core.feed(data)
            if replies:
                await stream.send_all(replies)
            if core.closed:
                return


async def main() -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    print(listeners[0].socket.getsockname()[1], flush=True)
    await trio.serve_listeners(serve, listeners)


if __name__ == "__main__":
    trio.run(main)
