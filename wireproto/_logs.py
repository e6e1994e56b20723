"""What a listener logs: rate-limited warnings and the reason each connection closed.

Everything logs under ``wireproto._server`` (the name users configure).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from wireproto._connection import CloseReason, Connection
from wireproto._errors import exception_text
from wireproto.memory import MemoryBudget

__all__ = ["ListenerWarnings", "RateLimitedWarning", "format_peer", "log", "log_close"]

log = logging.getLogger("wireproto.server")

_QUIET_CLOSES = frozenset(
    {
        CloseReason.PROTOCOL_ERROR,
        CloseReason.NO_MATCH,
        CloseReason.DETECT_TIMEOUT,
        CloseReason.IDLE_TIMEOUT,
        CloseReason.HANDSHAKE_TIMEOUT,
    }
)


class RateLimitedWarning:
    """Logs at most one warning per ``interval`` seconds, counting the ones it held back."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._next = 0.0
        self._held_back = 0

    def __call__(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now < self._next:
            self._held_back += 1
            log.debug(message, *args)
            return
        held_back, self._held_back = self._held_back, 0
        self._next = now + self._interval
        if held_back:
            log.warning(message + " suppressed=%d", *args, held_back)
        else:
            log.warning(message, *args)


@dataclass(frozen=True, slots=True)
class ListenerWarnings:
    """A listener's rate-limited warnings, one per kind of trouble (10 s apart at most)."""

    slow_reader: RateLimitedWarning = field(default_factory=lambda: RateLimitedWarning(10.0))
    rejected: RateLimitedWarning = field(default_factory=lambda: RateLimitedWarning(10.0))
    memory: RateLimitedWarning = field(default_factory=lambda: RateLimitedWarning(10.0))


def format_peer(peer: object) -> str:
    """``host:port`` (``[host]:port`` for IPv6) of a peername, else its ``str()``."""
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = peer[0], peer[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(peer)


def log_close(
    conn: Connection, peer: object, warnings: ListenerWarnings, budget: MemoryBudget
) -> None:
    """Log why ``conn`` (from ``peer``) closed: an error, a rate-limited warning or a debug line."""
    reason = conn.close_reason
    if reason is CloseReason.SESSION_FAILED and conn.error is not None:
        if conn.wire_format is None and conn.detected is not None:
            log.error(
                "detected %s from %s, but its provider's create_session() raised %s",
                conn.detected.name,
                peer,
                exception_text(conn.error),
                exc_info=conn.error,
            )
        else:
            log.error(
                "%s session from %s failed: %s",
                conn.wire_format.name if conn.wire_format else "undetected",
                peer,
                exception_text(conn.error),
                exc_info=conn.error,
            )
    elif reason is CloseReason.OUTPUT_LIMIT:
        warnings.slow_reader(
            "event=connection.closed reason=output-limit peer=%s max_output_buffered=%d error=%r",
            format_peer(peer),
            conn.output_limit or 0,
            str(conn.error or "more reply bytes unread than the limit"),
        )
    elif reason is CloseReason.MEMORY_LIMIT:
        warnings.memory(
            "event=connection.closed reason=memory-limit peer=%s memory=%d limit=%d error=%r",
            format_peer(peer),
            budget.used,
            budget.limit,
            str(conn.error or ""),
        )
    elif reason is CloseReason.AUTH_REQUIRED:
        warnings.rejected(
            "event=connection.rejected reason=auth-required peer=%s %s",
            format_peer(peer),
            conn.error,
        )
    elif reason in _QUIET_CLOSES:
        log.debug("closed %s (%s) %s", peer, reason.value, conn.error or "")
