"""Registry: registration rules, detection order, read-only view, entry-point plugins."""

from __future__ import annotations

import itertools
import logging
import sys
import textwrap
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

import wireproto._registry
from wireproto._detect import Verdict, WireFormat, match_any, match_prefix
from wireproto._registry import ENTRY_POINT_GROUP, PluginFailure, Registry
from wireproto._session import Limits, MessageConsumer, NetworkSender


class Session:
    def try_consume(self, data: memoryview, /) -> int:
        return len(data)

    def close(self) -> None:
        pass


class Provider:
    def __init__(self, limits: Limits | None = None) -> None:
        self._limits = limits if limits is not None else Limits()

    @property
    def limits(self) -> Limits:
        return self._limits

    def create_session(self, wire_format: WireFormat, sender: NetworkSender) -> MessageConsumer:
        return Session()


def test_register_and_look_up() -> None:
    registry = Registry()
    resp = WireFormat("resp", match_prefix(b"*"))
    provider = Provider()
    registry.register(resp, provider)
    assert registry.provider(resp) is provider
    assert registry.wire_format("resp") is resp
    assert "resp" in registry
    assert resp in registry
    assert WireFormat("resp", match_any) in registry  # equality is by name
    assert "http" not in registry
    assert WireFormat("http", match_any) not in registry
    assert len(registry) == 1
    assert list(registry) == [resp]


def test_unknown_names_and_formats_raise_key_error() -> None:
    registry = Registry()
    registry.register(WireFormat("resp", match_any), Provider())
    with pytest.raises(KeyError):
        registry.wire_format("http")
    with pytest.raises(KeyError):
        registry.provider(WireFormat("http", match_any))


def test_one_provider_may_serve_several_formats() -> None:
    registry = Registry()
    provider = Provider()
    a, b = WireFormat("a", match_any), WireFormat("b", match_any)
    registry.register(a, provider)
    registry.register(b, provider)
    assert registry.provider(a) is registry.provider(b) is provider


def test_duplicate_registration_is_an_error() -> None:
    registry = Registry()
    first = Provider()
    registry.register(WireFormat("resp", match_any), first)
    with pytest.raises(ValueError, match="resp"):
        registry.register(WireFormat("resp", match_prefix(b"*"), priority=9), Provider())
    assert registry.provider(registry.wire_format("resp")) is first
    assert registry.wire_format("resp").priority == 0
    assert len(registry) == 1


class NoLimits:
    def create_session(self, wire_format: WireFormat, sender: NetworkSender) -> MessageConsumer:
        return Session()


@pytest.mark.parametrize("provider", [object(), NoLimits(), Session(), "provider"])
def test_a_non_provider_is_rejected(provider: object) -> None:
    registry = Registry()
    with pytest.raises(TypeError):
        registry.register(WireFormat("resp", match_any), provider)  # type: ignore[arg-type]
    assert "resp" not in registry
    assert len(registry) == 0
    registry.register(WireFormat("resp", match_any), Provider())  # the name is still free
    assert "resp" in registry


def test_order_is_priority_descending_then_registration_order() -> None:
    registry = Registry()
    specs = [("a", 0), ("b", 5), ("c", 0), ("d", 5), ("e", -1), ("f", 10)]
    for name, priority in specs:
        registry.register(WireFormat(name, match_any, priority), Provider())
    expected = ["f", "b", "d", "a", "c", "e"]
    assert [f.name for f in registry.formats] == expected
    assert [f.name for f in registry] == expected
    assert isinstance(registry.formats, tuple)


def test_detection_follows_the_registry_order() -> None:
    registry = Registry()
    low = WireFormat("low", match_any, priority=-10)
    high = WireFormat("high", match_any, priority=10)
    registry.register(low, Provider())
    registry.register(high, Provider())
    assert registry.detect(b"x").wire_format is high
    assert registry.detect(b"").verdict is Verdict.NEED_MORE


def test_a_catch_all_waits_for_a_specific_format_in_the_registry() -> None:
    registry = Registry()
    registry.register(WireFormat("any", match_any, priority=-100), Provider())
    registry.register(WireFormat("http", match_prefix(b"GET "), priority=0), Provider())
    assert registry.detect(b"GE").verdict is Verdict.NEED_MORE
    assert registry.detect(b"GET ").wire_format == registry.wire_format("http")
    assert registry.detect(b"GX").wire_format == registry.wire_format("any")


def test_the_view_is_read_only() -> None:
    registry = Registry()
    resp = WireFormat("resp", match_any)
    provider = Provider()
    registry.register(resp, provider)
    view = registry.view()
    assert dict(view) == {resp: provider}
    with pytest.raises(TypeError):
        view[WireFormat("http", match_any)] = Provider()  # type: ignore[index]
    with pytest.raises(TypeError):
        del view[resp]  # type: ignore[attr-defined]
    assert not hasattr(view, "clear")
    assert registry.provider(resp) is provider
    assert len(registry) == 1


# -- plugins through entry points --------------------------------------------

GOOD_PLUGIN = """
from wireproto._detect import WireFormat, match_prefix
from wireproto._session import Limits


class _Session:
    def try_consume(self, data, /):
        return len(data)

    def close(self):
        pass


class _Provider:
    limits = Limits()

    def create_session(self, wire_format, sender):
        return _Session()


def register(registry):
    registry.register(WireFormat({name!r}, match_prefix({prefix!r})), _Provider())
"""

BROKEN_IMPORT = """
raise ImportError("plugin dependency missing")
"""

RAISING_REGISTER = """
def register(registry):
    raise RuntimeError("register() failed on purpose")
"""


class Plugins:
    """Writes plugin modules into a temporary directory and fakes their entry points."""

    def __init__(self, directory: Path, monkeypatch: pytest.MonkeyPatch, prefix: str) -> None:
        self.directory = directory
        self.prefix = prefix
        self.entry_points: list[metadata.EntryPoint] = []
        self.groups_asked: list[str] = []
        self.modules: list[str] = []
        monkeypatch.syspath_prepend(str(directory))
        monkeypatch.setattr(wireproto._registry.metadata, "entry_points", self._entry_points)

    def add(self, entry_name: str, source: str, group: str = ENTRY_POINT_GROUP) -> str:
        module = f"{self.prefix}_{entry_name.replace('-', '_')}"
        (self.directory / f"{module}.py").write_text(textwrap.dedent(source))
        self.modules.append(module)
        value = f"{module}:register"
        self.entry_points.append(metadata.EntryPoint(name=entry_name, value=value, group=group))
        return value

    def _entry_points(self, *, group: str) -> list[metadata.EntryPoint]:
        self.groups_asked.append(group)
        return [ep for ep in self.entry_points if ep.group == group]


_module_prefixes = itertools.count()


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Plugins]:
    # Unique module names: a module imported by one test is never reused by the next.
    fake = Plugins(tmp_path, monkeypatch, f"wp_test_plugin_{next(_module_prefixes)}")
    yield fake
    for module in fake.modules:
        sys.modules.pop(module, None)


def test_plugins_load_and_failures_are_listed_and_logged(
    plugins: Plugins, caplog: pytest.LogCaptureFixture
) -> None:
    raises = plugins.add("c-raises", RAISING_REGISTER)
    good = plugins.add("b-good", GOOD_PLUGIN.format(name="good", prefix=b"G"))
    broken = plugins.add("a-broken", BROKEN_IMPORT)

    registry = Registry()
    with caplog.at_level(logging.ERROR, logger="wireproto.registry"):
        failures = registry.load_plugins()

    assert plugins.groups_asked == [ENTRY_POINT_GROUP]
    assert [f.name for f in registry.formats] == ["good"]
    assert registry.detect(b"G").wire_format == registry.wire_format("good")
    assert [(f.name, f.value) for f in failures] == [("a-broken", broken), ("c-raises", raises)]
    assert "plugin dependency missing" in failures[0].error
    assert "register() failed on purpose" in failures[1].error
    assert registry.plugin_failures == failures
    assert all(isinstance(f, PluginFailure) for f in failures)
    assert good not in {f.value for f in failures}

    logged = [r for r in caplog.records if r.name == "wireproto.registry"]
    assert [r.levelno for r in logged] == [logging.ERROR, logging.ERROR]
    assert "a-broken" in logged[0].getMessage()
    assert "c-raises" in logged[1].getMessage()


def test_plugins_register_in_entry_point_name_order(plugins: Plugins) -> None:
    plugins.add("zeta", GOOD_PLUGIN.format(name="zeta-format", prefix=b"Z"))
    plugins.add("alpha", GOOD_PLUGIN.format(name="alpha-format", prefix=b"A"))
    plugins.add("mid", GOOD_PLUGIN.format(name="mid-format", prefix=b"M"))
    registry = Registry.from_plugins()
    assert [f.name for f in registry.formats] == ["alpha-format", "mid-format", "zeta-format"]
    assert registry.plugin_failures == ()


def test_a_plugin_registering_a_taken_name_fails_alone(plugins: Plugins) -> None:
    plugins.add("first", GOOD_PLUGIN.format(name="same", prefix=b"S"))
    plugins.add("second", GOOD_PLUGIN.format(name="same", prefix=b"T"))
    plugins.add("third", GOOD_PLUGIN.format(name="other", prefix=b"O"))
    registry = Registry()
    failures = registry.load_plugins()
    assert [f.name for f in failures] == ["second"]
    assert "already registered" in failures[0].error
    assert [f.name for f in registry.formats] == ["same", "other"]
    assert registry.detect(b"S").wire_format == registry.wire_format("same")


def test_plugin_failures_accumulate_and_calls_return_their_own(plugins: Plugins) -> None:
    plugins.add("bad", RAISING_REGISTER)
    registry = Registry()
    first = registry.load_plugins()
    second = registry.load_plugins()
    assert [f.name for f in first] == ["bad"]
    assert [f.name for f in second] == ["bad"]
    assert [f.name for f in registry.plugin_failures] == ["bad", "bad"]


def test_plugins_of_another_group_are_not_loaded(plugins: Plugins) -> None:
    plugins.add("elsewhere", GOOD_PLUGIN.format(name="elsewhere", prefix=b"E"), group="other")
    registry = Registry.from_plugins()
    assert len(registry) == 0
    other = Registry.from_plugins("other")
    assert [f.name for f in other.formats] == ["elsewhere"]
    assert plugins.groups_asked == [ENTRY_POINT_GROUP, "other"]


def test_options_reach_plugins_read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str | None] = []

    def register(registry: Registry) -> None:
        seen.append(registry.options.get("demo.colour"))

    class _EntryPoint:
        name = "demo"
        value = "demo:register"

        def load(self) -> object:
            return register

    monkeypatch.setattr("wireproto._registry.metadata.entry_points", lambda **_: [_EntryPoint()])
    registry = Registry.from_plugins(options={"demo.colour": "blue"})
    assert seen == ["blue"]
    with pytest.raises(TypeError):
        registry.options["demo.colour"] = "red"  # type: ignore[index]
    assert Registry().options == {}
