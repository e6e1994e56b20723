"""wireproto: serve wire protocols from Python.

Detection picks a connection's wire format from its first bytes, a registry
maps the format to a session provider, and the session consumes whole
messages from the connection's receive buffer.
"""

from wireproto.auth import NO_AUTH, AuthSettings
from wireproto.buffer import BufferFull, ReceiveBuffer
from wireproto.connection import CloseReason, Connection, ConnectionSettings, ConnectionState
from wireproto.detect import (
    Detection,
    Detector,
    Verdict,
    WireFormat,
    detect,
    match_any,
    match_prefix,
)
from wireproto.errors import ContractError, ProtocolError
from wireproto.framing import (
    DelimiterFramer,
    FixedSizeFramer,
    FramedConsumer,
    FramedProvider,
    Framer,
    FrameSpan,
    Handler,
    LengthFieldFramer,
    VarintFramer,
)
from wireproto.guard import guarded, http_request_detector, is_http_line
from wireproto.layer import Admission, BaseLayer, Layer, LayerFormat, LayerHost, LayerKind
from wireproto.memory import MemoryAccount, MemoryBudget, MemoryLimitExceeded, OutputLimitExceeded
from wireproto.proxy import ProxyHeader, ProxySettings, build_proxy_v1, build_proxy_v2
from wireproto.registry import ENTRY_POINT_GROUP, PluginFailure, Registry
from wireproto.server import Server, ServerLimits
from wireproto.session import (
    Authenticating,
    BytesLike,
    Limits,
    Maintained,
    MessageConsumer,
    NetworkSender,
    SessionProvider,
)
from wireproto.stats import FormatStats, ServerStats
from wireproto.tls import TlsSettings

__all__ = [
    "ENTRY_POINT_GROUP",
    "NO_AUTH",
    "Admission",
    "AuthSettings",
    "Authenticating",
    "BaseLayer",
    "BufferFull",
    "BytesLike",
    "CloseReason",
    "Connection",
    "ConnectionSettings",
    "ConnectionState",
    "ContractError",
    "DelimiterFramer",
    "Detection",
    "Detector",
    "FixedSizeFramer",
    "FormatStats",
    "FrameSpan",
    "FramedConsumer",
    "FramedProvider",
    "Framer",
    "Handler",
    "Layer",
    "LayerFormat",
    "LayerHost",
    "LayerKind",
    "LengthFieldFramer",
    "Limits",
    "Maintained",
    "MemoryAccount",
    "MemoryBudget",
    "MemoryLimitExceeded",
    "MessageConsumer",
    "NetworkSender",
    "OutputLimitExceeded",
    "PluginFailure",
    "ProtocolError",
    "ProxyHeader",
    "ProxySettings",
    "ReceiveBuffer",
    "Registry",
    "Server",
    "ServerLimits",
    "ServerStats",
    "SessionProvider",
    "TlsSettings",
    "VarintFramer",
    "Verdict",
    "WireFormat",
    "build_proxy_v1",
    "build_proxy_v2",
    "detect",
    "guarded",
    "http_request_detector",
    "is_http_line",
    "match_any",
    "match_prefix",
]

__version__ = "0.1.0"
