"""The asyncio shell: a TCP listener that drives one :class:`Connection` per client.

Everything about bytes lives in :mod:`wireproto._connection`. The shell is
small modules with one job each: :class:`Server` here (binding, starting,
closing), the protocol adapter per connection (:mod:`wireproto._protocol`),
the state they share (:mod:`wireproto._listener`), admission
(:mod:`wireproto._admission`), the per-turn write batching
(:mod:`wireproto._writes`) and the listener's logs (:mod:`wireproto._logs`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import KeysView
from types import MappingProxyType, TracebackType
from typing import cast

from wireproto._connection import Connection, ConnectionSettings
from wireproto._listener import ListenerState, ServerLimits
from wireproto._logs import format_peer, log
from wireproto._protocol import ConnectionProtocol
from wireproto._proxy import ProxySettings
from wireproto._registry import Registry
from wireproto._session import Maintained
from wireproto._stats import ServerStats
from wireproto._tls import TlsSettings
from wireproto.memory import MemoryBudget

__all__ = ["Server", "ServerLimits"]


def _layer_mode(settings: ConnectionSettings, kind: type[TlsSettings | ProxySettings]) -> str:
    """``off``, ``on`` or ``required``: how a listener offers a built-in layer (for the log)."""
    for layer in settings.layers:
        if isinstance(layer, kind):
            return "required" if layer.required else "on"
    return "off"


class Server:
    """A TCP server that detects each client's wire format and runs its session.

    Use it as an async context manager, or call :meth:`start` and
    :meth:`close`. ``linger_timeout`` bounds how long a closed connection keeps
    reading (and discarding) while it waits for the peer's FIN. ``limits``
    bound all connections together; ``reuse_port`` sets ``SO_REUSEPORT`` so
    that several processes can share the port (``wireproto serve --workers``).
    """

    def __init__(
        self,
        registry: Registry,
        host: str = "127.0.0.1",
        port: int = 6380,
        *,
        settings: ConnectionSettings | None = None,
        limits: ServerLimits | None = None,
        backlog: int = 1024,
        linger_timeout: float = 5.0,
        reuse_port: bool = False,
    ) -> None:
        if linger_timeout <= 0:
            raise ValueError("linger_timeout must be positive")
        self.registry = registry
        self.settings = settings if settings is not None else ConnectionSettings()
        self.limits = limits if limits is not None else ServerLimits()
        self.linger_timeout = linger_timeout
        self._host = host
        self._port = port
        self._backlog = backlog
        self._reuse_port = reuse_port
        self._listener: asyncio.Server | None = None
        self._state = ListenerState(registry, self.settings, self.limits, linger_timeout)
        self._close_task: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        self._maintenance: list[asyncio.TimerHandle] = []

    async def start(self) -> None:
        """Bind and start accepting connections.

        Raises ``ValueError`` when the settings' ``auth`` would leave data open
        (see :meth:`~wireproto._registry.Registry.check_auth`).
        """
        if self._listener is not None or self._state.closing:
            raise RuntimeError("the server was already started")
        # A configuration that would leave data open fails here, before any client is served.
        self.registry.check_auth(self.settings.auth, self.settings.fallback_format)
        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(
            self._new_protocol,
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_port=self._reuse_port or None,
            start_serving=True,
        )
        self._start_maintenance(loop)
        limits = self.limits
        log.info(
            "event=server.start pid=%d addresses=%s formats=%s tls=%s proxy=%s max_connections=%d "
            "max_connections_per_client=%s max_receive_memory=%d",
            os.getpid(),
            ",".join(format_peer(address) for address in self.addresses),
            ",".join(fmt.name for fmt in self.registry.formats) or "-",
            _layer_mode(self.settings, TlsSettings),
            _layer_mode(self.settings, ProxySettings),
            limits.max_connections,
            limits.max_connections_per_client,
            limits.max_receive_memory,
        )

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """The (host, port) pairs actually bound; empty before :meth:`start`."""
        if self._listener is None:
            return []
        return [cast(tuple[str, int], sock.getsockname()[:2]) for sock in self._listener.sockets]

    @property
    def port(self) -> int:
        """The bound port (the OS's choice when 0 was asked)."""
        addresses = self.addresses
        if not addresses:
            raise RuntimeError("the server is not listening")
        return addresses[0][1]

    @property
    def open_connections(self) -> int:
        """Connections whose transport is still open: detecting, active or closing.

        Not only sessions: a connection still detecting its format counts too.
        """
        return len(self._state.live)

    @property
    def connections(self) -> KeysView[Connection]:
        """A live, read-only view of the open connections."""
        return MappingProxyType(self._state.live).keys()

    @property
    def stats(self) -> ServerStats:
        """A frozen snapshot of the counters (connections, detections, bytes, closes).

        Sessions reach it as ``sender.listener.stats()``.
        """
        return self._state.stats()

    @property
    def draining(self) -> bool:
        """True once :meth:`drain` or :meth:`close` was called (``ServerStats.draining``).

        Sessions read it as ``sender.listener.draining``.
        """
        return self._state.draining

    def drain(self) -> None:
        """Tell sessions the server is about to stop, while it still serves.

        Health checks (e.g. an HTTP ``/healthz``) then fail, so that a load
        balancer moves traffic away before :meth:`close`.
        """
        if self._state.drain():
            log.info("event=server.drain pid=%d", os.getpid())

    @property
    def receive_memory(self) -> MemoryBudget:
        """The memory budget shared by the connections (read-only use)."""
        return self._state.budget

    @property
    def paused_connections(self) -> int:
        """Open connections whose reading is paused because their peer does not read."""
        return sum(1 for protocol in self._state.live.values() if protocol.reading_paused)

    async def serve_forever(self) -> None:
        """Serve until :meth:`close` completes; cancelling this closes the server."""
        if self._listener is None and not self._state.closing:
            await self.start()
        try:
            await self._closed.wait()
        except asyncio.CancelledError:
            await self.close()
            raise

    async def serve_until_signal(self, timeout: float = 5.0) -> None:
        """Serve until SIGINT (Ctrl-C) or SIGTERM, then :meth:`close` and return.

        For a server embedded in an asyncio program: ``asyncio.run(main())``
        with ``await server.serve_until_signal()`` stops cleanly on Ctrl-C,
        without a ``KeyboardInterrupt`` traceback. Where the loop cannot
        handle signals, it serves like :meth:`serve_forever`.
        """
        import signal  # noqa: PLC0415

        if self._listener is None and not self._state.closing:
            await self.start()
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        handled: list[signal.Signals] = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, stop.set)
            except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
                continue
            handled.append(signum)
        closed = asyncio.ensure_future(self._closed.wait())
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait((closed, stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            stopped.cancel()
            for signum in handled:
                loop.remove_signal_handler(signum)
            await self.close(timeout)

    async def close(self, timeout: float = 5.0) -> None:
        """Stop accepting, flush and FIN every connection, reset those left after ``timeout``."""
        if self._close_task is None:
            self._state.closing = True
            self._state.drain()
            self._close_task = asyncio.create_task(self._close(timeout))
        await asyncio.shield(self._close_task)

    def _start_maintenance(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run each distinct provider's periodic work (see :class:`Maintained`)."""
        providers = {id(p): p for p in self.registry.view().values() if isinstance(p, Maintained)}
        for index, provider in enumerate(providers.values()):

            def run(provider: Maintained = provider, index: int = index) -> None:
                try:
                    provider.maintain()
                except Exception:
                    log.exception("maintenance of %r failed", provider)
                if not self._state.closing:
                    interval = provider.maintenance_interval
                    self._maintenance[index] = loop.call_later(interval, run)

            self._maintenance.append(loop.call_later(provider.maintenance_interval, run))

    async def _close(self, timeout: float) -> None:
        for handle in self._maintenance:
            handle.cancel()
        try:
            if self._listener is not None:
                self._listener.close()
            for protocol in list(self._state.live.values()):
                protocol.shutdown()
            try:
                await asyncio.wait_for(self._state.idle.wait(), timeout)
            except TimeoutError:
                for protocol in list(self._state.live.values()):
                    protocol.abort()
                await self._state.idle.wait()  # abort() always leads to connection_lost
            if self._listener is not None:
                await self._listener.wait_closed()
        finally:
            self._closed.set()
            stats = self.stats
            log.info(
                "event=server.stop pid=%d accepted=%d rejected=%d bytes_received=%d "
                "bytes_sent=%d protocol_errors=%d",
                os.getpid(),
                stats.accepted,
                stats.rejected_total,
                stats.bytes_received,
                stats.bytes_sent,
                stats.protocol_errors,
            )

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def client_connections(self, client: str) -> int:
        """How many open connections count against ``client``'s per-address limit."""
        return self._state.clients.connections(client)

    def _new_protocol(self) -> ConnectionProtocol:
        """The adapter for one accepted connection: it gets the listener's state, explicitly."""
        return ConnectionProtocol(self._state)
