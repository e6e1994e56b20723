"""Layers: streams inside a connection's stream (PROXY, TLS, WebSocket, your own).

A layer is detected on the first bytes like a wire format (or required by the
listener), consumes its own framing and hands the inner bytes to a fresh inner
connection that detects again. See ``docs/layers.md``.
"""

from wireproto._layer import Admission, BaseLayer, Layer, LayerFormat, LayerHost, LayerKind
from wireproto._proxy import ProxyHeader, ProxySettings, build_proxy_v1, build_proxy_v2
from wireproto._tls import TlsSettings
from wireproto._websocket import WebSocketSettings

__all__ = [
    "Admission",
    "BaseLayer",
    "Layer",
    "LayerFormat",
    "LayerHost",
    "LayerKind",
    "ProxyHeader",
    "ProxySettings",
    "TlsSettings",
    "WebSocketSettings",
    "build_proxy_v1",
    "build_proxy_v2",
]
