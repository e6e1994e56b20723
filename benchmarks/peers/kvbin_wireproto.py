"""kvbin served by wireproto (prints its port, serves until killed).

Run with ``python -P``: the wireproto installed in that interpreter (pure or
compiled) serves, never the checkout.
"""

from __future__ import annotations

import asyncio

from wireproto.providers.kvbin import KVBIN, KvbinProvider

from wireproto._registry import Registry
from wireproto._server import Server


async def main() -> None:
    registry = Registry()
    registry.register(KVBIN, KvbinProvider())
    async with Server(registry, "127.0.0.1", 0) as server:
        print(server.port, flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
