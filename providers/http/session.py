"""One HTTP/1.1 connection on h11: health, metrics and a status page, pipelined as h11 allows.

The session frames whole request heads itself (:func:`~wireproto._websocket.head_length`,
within ``max_header_size``) and gives each to h11, which parses it and
writes the response; so the size limit holds however the bytes are cut, and
h11 never buffers more than one head. Served: ``GET``/``HEAD`` of
``/healthz``, ``/metrics`` and ``/``; 404 elsewhere, 405 for other methods.
A request with a body is answered, then the connection is closed (nothing
here takes a body).
"""

from __future__ import annotations

import base64
import binascii
import html
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus

import h11

import wireproto
from wireproto import NetworkSender, ProtocolError, ServerStats
from wireproto._users import UserDirectory
from wireproto.guard import head_length

from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import render as render_metrics

__all__ = ["HttpSession", "HttpSettings"]

_SERVER = f"wireproto/{wireproto.__version__}".encode()
_TEXT = b"text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Limits of one HTTP connection.

    ``max_header_size``: bytes of a request head (request line, headers,
    blank line); one more is answered 431 and the connection closed.
    ``max_requests``: requests served on one connection; the last one's
    response says ``Connection: close``.
    """

    max_header_size: int = 8192
    max_requests: int = 1000

    def __post_init__(self) -> None:
        if self.max_header_size < 64:
            raise ValueError("max_header_size must be at least 64")
        if self.max_requests < 1:
            raise ValueError("max_requests must be at least 1")


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    body: bytes
    content_type: bytes = _TEXT
    headers: tuple[tuple[bytes, bytes], ...] = ()


_NOT_FOUND = _Response(404, b"not found\n")
_NOT_ALLOWED = _Response(405, b"method not allowed\n", headers=((b"Allow", b"GET, HEAD"),))
_UNAUTHORIZED = _Response(
    401,
    b"authentication required\n",
    headers=((b"WWW-Authenticate", b'Basic realm="wireproto", charset="UTF-8"'),),
)


def _basic_credentials(request: h11.Request) -> tuple[bytes, bytes] | None:
    """The (username, password) of the request's HTTP Basic ``Authorization``, or None."""
    for name, value in request.headers:
        if name != b"authorization":
            continue
        scheme, _, credentials = value.partition(b" ")
        if scheme.lower() != b"basic":
            return None
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True)
        except binascii.Error:
            return None
        username, colon, password = decoded.partition(b":")
        return (username, password) if colon else None
    return None


class HttpSession:
    """The session of one HTTP connection (a ``MessageConsumer``)."""

    def __init__(
        self, settings: HttpSettings, sender: NetworkSender, clock: Callable[[], float]
    ) -> None:
        self._settings = settings
        self._sender = sender
        self._clock = clock
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=settings.max_header_size)
        self._served = 0
        self._closed = False

    def try_consume(self, data: memoryview, /) -> int:
        """Answer every whole request head at the start of ``data``; return the bytes used."""
        used = 0
        limit = self._settings.max_header_size
        while used < len(data) and not self._closed:
            size = head_length(data[used : used + limit])
            if size is None:
                if len(data) - used >= limit:
                    reply = self._error(431, b"request header fields too large\n")
                    raise ProtocolError(f"HTTP request head over {limit} bytes", reply)
                break
            self._request(bytes(data[used : used + size]))
            used += size
        return used

    def close(self) -> None:
        """Nothing is held."""
        self._closed = True

    # -- internals ---------------------------------------------------------------

    def _request(self, head: bytes) -> None:
        parser = self._h11
        parser.receive_data(head)
        try:
            request = parser.next_event()
            end = parser.next_event()  # EndOfMessage, or NEED_DATA when a body follows
        except h11.RemoteProtocolError as exc:
            reply = self._error(exc.error_status_hint, b"bad request\n")
            raise ProtocolError(f"bad HTTP request: {exc}", reply) from None
        assert isinstance(request, h11.Request)
        self._served += 1
        close = end is h11.NEED_DATA or self._served >= self._settings.max_requests
        response = self._route(request)
        self._sender.send(self._render(response, head_only=request.method == b"HEAD", close=close))
        if close or parser.our_state is h11.MUST_CLOSE:
            self._closed = True
            self._sender.close()
        else:
            parser.start_next_cycle()

    def _route(self, request: h11.Request) -> _Response:
        if request.method not in (b"GET", b"HEAD"):
            return _NOT_ALLOWED
        path = request.target.split(b"?", 1)[0]
        if path == b"/healthz":
            if self._stats().draining:
                return _Response(503, b"draining\n", headers=((b"Cache-Control", b"no-store"),))
            return _Response(200, b"ok\n", headers=((b"Cache-Control", b"no-store"),))
        if path not in (b"/metrics", b"/"):
            return _NOT_FOUND
        if not self._authorized(request):
            return _UNAUTHORIZED
        if path == b"/metrics":
            body = render_metrics(self._stats()).encode()
            return _Response(200, body, METRICS_CONTENT_TYPE.encode())
        return _Response(200, _status_page(self._stats()), b"text/html; charset=utf-8")

    def _authorized(self, request: h11.Request) -> bool:
        """On a password listener: HTTP Basic credentials of one of the listener's users,
        which may run Redis's ``info`` (ACL: the status and metrics are what INFO tells)."""
        users = getattr(self._sender.listener, "users", None)
        if isinstance(users, UserDirectory):  # under a Server: its users
            if not users.auth_required:
                return users.default.can_run("info")
            credentials = _basic_credentials(request)
            user = None if credentials is None else users.authenticate(*credentials)
            return user is not None and user.can_run("info")
        auth = self._sender.auth
        if not auth.required:
            return True
        credentials = _basic_credentials(request)
        return credentials is not None and auth.check(*credentials)

    def _stats(self) -> ServerStats:
        listener = self._sender.listener
        if listener is not None:
            return listener.stats()
        return ServerStats()  # not under a Server (a test driving a Connection)

    def _headers(self, response: _Response, close: bool) -> list[tuple[bytes, bytes]]:
        headers = [
            (b"Server", _SERVER),
            (b"Date", formatdate(self._clock(), usegmt=True).encode()),
            (b"Content-Type", response.content_type),
            (b"Content-Length", str(len(response.body)).encode()),
            *response.headers,
        ]
        if close:
            headers.append((b"Connection", b"close"))
        return headers

    def _render(self, response: _Response, *, head_only: bool, close: bool) -> bytes:
        parser = self._h11
        head = h11.Response(
            status_code=response.status,
            headers=self._headers(response, close),
            reason=HTTPStatus(response.status).phrase.encode(),
        )
        out = parser.send(head)
        if not head_only and response.body:
            out = (out or b"") + (parser.send(h11.Data(data=response.body)) or b"")
        return (out or b"") + (parser.send(h11.EndOfMessage()) or b"")

    def _error(self, status: int, body: bytes) -> bytes:
        """An error response before the close (the request could not be read)."""
        self._closed = True
        return self._render(_Response(status, body), head_only=False, close=True)


def _status_page(stats: ServerStats) -> bytes:
    state = "draining" if stats.draining else "serving"
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{counters.sessions}</td><td>{counters.active}</td>"
        f"<td>{counters.bytes_received}</td><td>{counters.bytes_sent}</td>"
        f"<td>{counters.protocol_errors}</td></tr>\n"
        for name, counters in stats.formats.items()
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>wireproto</title></head>
<body>
<h1>wireproto {html.escape(wireproto.__version__)}: {state}</h1>
<p>{stats.active} open connections, {stats.accepted} accepted, {stats.rejected_total} rejected,
{stats.protocol_errors} protocol errors; {stats.bytes_received} bytes received,
{stats.bytes_sent} sent; receive memory {stats.receive_memory} of {stats.receive_memory_limit}.</p>
<table>
<tr><th>format</th><th>sessions</th><th>open</th><th>bytes received</th><th>bytes sent</th>
<th>protocol errors</th></tr>
{rows}</table>
<p><a href="/metrics">metrics</a> · <a href="/healthz">health</a></p>
</body></html>
"""
    return page.encode()
