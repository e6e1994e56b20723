"""kvbin on Twisted (epoll reactor; prints its port, serves until killed)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from twisted.internet import epollreactor

epollreactor.install()

# The reactor is chosen before anything imports twisted.internet.reactor.
from _kvbin_core import KvbinCore  # noqa: E402
from twisted.internet import interfaces, protocol, reactor  # noqa: E402
from zope.interface import implementer  # noqa: E402

STORE: dict[bytes, bytes] = {}


@implementer(interfaces.IHalfCloseableProtocol)
class KvbinProtocol(protocol.Protocol):
    def connectionMade(self) -> None:
        self.core = KvbinCore(STORE)

    def dataReceived(self, data: bytes) -> None:
        core = self.core
        replies = core.feed(data)
        if replies:
            self.transport.write(replies)
        if core.closed:
            self.transport.loseConnection()

    def readConnectionLost(self) -> None:
        self.transport.loseConnection()  # after the queued replies, as the others do

    def writeConnectionLost(self) -> None:
        pass


class KvbinFactory(protocol.Factory):
    protocol = KvbinProtocol


if __name__ == "__main__":
    port = reactor.listenTCP(0, KvbinFactory(), interface="127.0.0.1")
    print(port.getHost().port, flush=True)
    reactor.run()
