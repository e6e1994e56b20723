"""Consumer loops compiled ahead of time: typed from the generated loop, taken while current."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import construct as c
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_construct_compile import FRAMED_LE, _framer_check, _loop_run, _same, _Sender
from wireproto.providers import _kvbin_loop, kvbin

from wireproto import _construct_emit
from wireproto._construct_compile import compile_construct, loop_text
from wireproto._construct_emit import _value_kinds, emit_module, typed_loop
from wireproto.framing import precompiled_loops
from wireproto.testing.strategies import from_construct

ROOT = Path(__file__).resolve().parent.parent
NAME = "consume_framed_fields"


def _message(length: Any = c.Int16ub) -> c.Struct[Any, Any]:
    """A new declaration object each call (compile_construct caches by identity)."""
    return c.Struct(
        "magic" / c.Const(b"\x01"),
        "kind" / c.Int8ub,
        "body" / c.Prefixed(length, c.Struct("key" / c.Prefixed(c.Int8ub, c.GreedyBytes))),
    )


MESSAGE = _message()


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """An empty registry of precompiled loops for one test."""
    loops: dict[str, Any] = {}
    monkeypatch.setattr(_construct_emit, "_PRECOMPILED", loops)
    return loops


def test_the_kvbin_loop_module_is_current_and_runs() -> None:
    text = (ROOT / "providers" / "_kvbin_loop.py").read_text()
    # Stale: regenerate with the command in the module's docstring.
    assert text == kvbin._loop_module()
    loop = compile_construct(kvbin.REQUEST).consume_framed_fields
    assert loop is _kvbin_loop.consume_framed_fields_0  # so the property tests run it


def test_a_module_is_taken_for_the_same_declaration_only(registry: dict[str, Any]) -> None:
    module = precompiled_loops([_message()], "test", fields=True)
    namespace: dict[str, Any] = {}
    exec(compile(module, "<emitted>", "exec"), namespace)
    assert len(registry) == 1
    assert compile_construct(_message()).consume_framed_fields is namespace[f"{NAME}_0"]
    # The same source with another length format: its text differs, the generated loop runs.
    other = compile_construct(_message(c.Int16ul)).consume_framed_fields
    assert other is not None and other is not namespace[f"{NAME}_0"]
    assert other.__name__ == NAME


def test_a_stale_module_is_ignored(registry: dict[str, Any]) -> None:
    text = loop_text(_message(), NAME)
    assert text is not None
    stale = text.replace("if total - offset < 4:", "if total - offset < 5:")
    assert stale != text  # e.g. a module written before the header grew

    def never(*args: object) -> int:
        raise AssertionError("a stale loop ran")

    registry[stale] = never
    loop = compile_construct(_message()).consume_framed_fields
    assert loop is not never and loop is not None


def test_a_loop_whose_names_cannot_be_written_is_not_typed() -> None:
    # e.g. an Enum's mapping: that loop always runs as generated.
    assert loop_text(FRAMED_LE, NAME) is None
    source = "def consume_framed_fields(buf, offset, total, max_body, check, handler, sender,"
    source += " replies, flush, flush_size, watch_close, malformed):\n    return _odd(buf)\n"
    assert typed_loop(source, {"_odd": lambda buf: 0}) is None
    assert typed_loop(source, {"_odd": len}) is not None  # a builtin, imported by name
    assert typed_loop("def other(x):\n    return x\n", {}) is None


def test_struct_formats_give_the_types_of_their_values() -> None:
    assert _value_kinds(">3sBLL") == ["bytes", "int", "int", "int"]
    assert _value_kinds("<2H?xq") == ["int", "int", "bool", "int"]
    assert _value_kinds("=e") == ["float"]
    assert _value_kinds(">2c3x") == ["bytes", "bytes"]
    with pytest.raises(ValueError, match="struct code"):
        _value_kinds(">Z")


def test_emit_module_keeps_each_loop_apart() -> None:
    first, second = loop_text(_message(), NAME), loop_text(_message(c.Int16ul), NAME)
    assert first is not None and second is not None
    module = emit_module([first, second], "two")
    namespace: dict[str, Any] = {}
    exec(compile(module, "<emitted>", "exec"), namespace)
    assert namespace["_TEXT_0"] == first and namespace["_TEXT_1"] == second
    assert namespace[f"{NAME}_0"] is not namespace[f"{NAME}_1"]


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_the_typed_loop_agrees_with_the_generated_one(data: st.DataObject) -> None:
    # The typed module, run interpreted, against the generated loop on the same
    # (perhaps damaged) stream: same messages, end, errors, flushes.
    text = loop_text(MESSAGE, NAME)
    generated = compile_construct(MESSAGE).consume_framed_fields
    assert text is not None and generated is not None
    namespace: dict[str, Any] = {}
    exec(compile(emit_module([text], "test"), "<emitted>", "exec"), namespace)
    typed = namespace[f"{NAME}_0"]
    framer, check = _framer_check(MESSAGE)
    max_body = framer.max_frame_size - framer.header_size
    frames = [data.draw(from_construct(MESSAGE)).data for _ in range(data.draw(st.integers(0, 3)))]
    stream = bytearray(b"".join(frames))
    if stream and data.draw(st.booleans()):
        stream[data.draw(st.integers(0, len(stream) - 1))] = data.draw(st.integers(0, 255))
    stream = stream[: data.draw(st.integers(0, len(stream)))]
    close_after = data.draw(st.none() | st.integers(1, 3))
    flush_size = data.draw(st.integers(1, 8))
    runs = [
        _loop_run(
            loop,
            memoryview(bytes(stream)),
            start=0,
            max_body=max_body,
            check=check,
            sender=_Sender(close_after),
            flush_size=flush_size,
        )
        for loop in (generated, typed)
    ]
    (kind, value, messages, flushes), (kind2, value2, messages2, flushes2) = runs
    assert (kind, value) == (kind2, value2)
    assert len(messages) == len(messages2) and all(map(_same, messages, messages2))
    assert flushes == flushes2
