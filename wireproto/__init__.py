"""wireproto: serve wire protocols from Python.

Detection picks a connection's wire format from its first bytes, a registry
maps the format to a session provider, and the session consumes whole
messages from the connection's receive buffer.
"""

from wireproto._auth import AuthSettings
from wireproto._connection import CloseReason, Connection, ConnectionSettings
from wireproto._detect import Detector, Verdict, WireFormat, match_any, match_prefix
from wireproto._errors import ProtocolError
from wireproto._registry import Registry
from wireproto._server import Server, ServerLimits
from wireproto._session import (
    Authenticating,
    BytesLike,
    Limits,
    Maintained,
    MessageConsumer,
    NetworkSender,
    SessionProvider,
)
from wireproto._stats import FormatStats, ServerStats
from wireproto.framing import FramedProvider, LengthFieldFramer

__all__ = [
    "AuthSettings",
    "Authenticating",
    "BytesLike",
    "CloseReason",
    "Connection",
    "ConnectionSettings",
    "Detector",
    "FormatStats",
    "FramedProvider",
    "LengthFieldFramer",
    "Limits",
    "Maintained",
    "MessageConsumer",
    "NetworkSender",
    "ProtocolError",
    "Registry",
    "Server",
    "ServerLimits",
    "ServerStats",
    "SessionProvider",
    "Verdict",
    "WireFormat",
    "match_any",
    "match_prefix",
]

__version__ = "0.1.0"
