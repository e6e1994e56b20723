"""kvbin on a hand-written asyncio ``Protocol`` (prints its port, serves until killed)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _kvbin_core import KvbinCore

STORE: dict[bytes, bytes] = {}


class KvbinProtocol(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.core = KvbinCore(STORE)

    def data_received(self, data: bytes) -> None:
        core = self.core
        replies = core.feed(data)
        if replies:
            self.transport.write(replies)
        if core.closed:
            self.transport.close()


async def main() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(KvbinProtocol, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
