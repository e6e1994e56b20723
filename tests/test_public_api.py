"""wireproto's public API is a conscious choice: these tests pin it."""

from __future__ import annotations

import pkgutil

import wireproto
import wireproto.layers

TOP_LEVEL = {
    "AuthSettings", "Authenticating", "BytesLike", "CloseReason", "Connection",
    "ConnectionSettings", "Detector", "FormatStats", "FramedProvider", "LengthFieldFramer",
    "Limits", "Maintained", "MessageConsumer", "NetworkSender", "ProtocolError", "Registry",
    "Server", "ServerLimits", "ServerStats", "SessionProvider", "Verdict", "WireFormat",
    "match_any", "match_prefix",
}  # fmt: skip


def test_the_top_level_exports_exactly_its_names() -> None:
    assert set(wireproto.__all__) == TOP_LEVEL
    for name in TOP_LEVEL - {"Detector", "BytesLike"}:  # those two are type aliases
        assert getattr(wireproto, name).__module__.startswith(
            ("wireproto._", "wireproto.framing")
        ), name


def test_the_only_public_modules_are_the_documented_ones() -> None:
    public = {
        info.name
        for info in pkgutil.iter_modules(wireproto.__path__)
        if not info.name.startswith("_")
    }
    # wireproto.providers (the top-level folder providers/) is listed only in a wheel.
    assert public - {"providers"} == {"framing", "guard", "layers", "memory", "testing"}


def test_the_layers_module_gathers_the_layer_contract_and_the_built_in_layers() -> None:
    assert {"Layer", "BaseLayer", "LayerFormat", "TlsSettings", "ProxySettings"} <= set(
        wireproto.layers.__all__
    )
    assert "WebSocketSettings" in wireproto.layers.__all__
