"""HTTP/1.1 on the same port, through h11: ``/healthz``, ``/metrics`` (Prometheus) and ``/``.

``register(registry)`` (the ``wireproto.providers`` entry point) serves the
``http`` wire format, detected by :func:`wireproto.guard.http_request_detector`
(a complete request line), so an HTTP request never reaches a text command
provider. A ``GET`` asking ``Upgrade: websocket`` is the WebSocket layer's
(:mod:`wireproto._websocket`), detected before the formats. ``specs/http``
describes what is served.

On a listener that requires a password, ``/healthz`` is still served (it
tells nothing but up or draining), while ``/metrics`` and ``/`` need HTTP
Basic credentials of the listener's user (``default``): the provider is
:class:`~wireproto._session.Authenticating`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from wireproto import AuthSettings, Limits, MessageConsumer, NetworkSender, Registry, WireFormat
from wireproto.guard import HTTP_FORMAT_NAME, http_request_detector

from .metrics import CONTENT_TYPE, render
from .session import HttpSession, HttpSettings

__all__ = [
    "CONTENT_TYPE",
    "HTTP",
    "MAX_HEADER_OPTION",
    "MAX_REQUESTS_OPTION",
    "HttpProvider",
    "HttpSession",
    "HttpSettings",
    "register",
    "render",
]

HTTP = WireFormat(HTTP_FORMAT_NAME, http_request_detector)
"""The ``http`` wire format: a complete HTTP/1.x request line."""

MAX_HEADER_OPTION = "http.max-header-size"
MAX_REQUESTS_OPTION = "http.max-requests"


class HttpProvider:
    """Serves the ``http`` format (an ``Authenticating`` ``SessionProvider``).

    ``clock`` gives the time of the ``Date`` header.
    """

    def __init__(
        self, settings: HttpSettings | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings if settings is not None else HttpSettings()
        self._clock = clock

    @property
    def limits(self) -> Limits:
        """The receive buffer holds one request head at most."""
        return Limits(max_message_size=self.settings.max_header_size)

    def check_auth(self, auth: AuthSettings) -> None:
        """Nothing to check: the listener's user is the only one (HTTP Basic)."""

    def create_session(self, wire_format: WireFormat, sender: NetworkSender) -> MessageConsumer:
        """A new HTTP session."""
        return HttpSession(self.settings, sender, self._clock)


def register(registry: Registry, provider: HttpProvider | None = None) -> HttpProvider:
    """Entry point of the ``wireproto.providers`` group; returns the provider.

    Without ``provider`` its settings come from the registry options
    ``http.max-header-size`` and ``http.max-requests``.
    """
    if provider is None:
        options = registry.options
        defaults = HttpSettings()
        provider = HttpProvider(
            HttpSettings(
                max_header_size=int(options.get(MAX_HEADER_OPTION, defaults.max_header_size)),
                max_requests=int(options.get(MAX_REQUESTS_OPTION, defaults.max_requests)),
            )
        )
    registry.register(HTTP, provider)
    return provider
