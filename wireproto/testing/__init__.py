"""The fuzz kit: prove a stream parser right however the bytes are cut.

``check_wire_format(target)`` drives a provider's sessions through the
sans-I/O :class:`~wireproto._connection.Connection` with Hypothesis-generated
streams, cuts and read schedules, and checks eight properties (numbered in
:data:`PROPERTIES`), each failing with its own subclass of
:class:`ConformanceError` (:mod:`wireproto.testing.errors`):

1. same-outcome: the same replies, close and error however the stream is
   cut or read;
2. byte-accounting: ``try_consume`` returns an int in ``0..len(data)``, and
   consumed + buffered = fed;
3. view-not-kept: the memoryview is not kept after returning;
4. only-protocol-errors: only ``ProtocolError`` leaves a session;
5. stable-detection: detection never changes a decided answer, nor depends
   on the cut;
6. limits-and-linear-work: buffers stay within the limits and work stays
   linear in the bytes fed;
7. round-trip: declaration-built messages round-trip and are consumed at
   their boundaries;
8. completeness: streams of valid messages (declaration, corpus, ``grow``)
   are detected, consumed to the last byte and, where the target declares
   replies, answered once per message, however they are cut.

Also here: :func:`check_example` (one stream, one cut, no Hypothesis), a
``RuleBasedStateMachine`` (:class:`ConsumerMachine`) and the layer property
(:func:`check_layer_cuts`). The strategies are in
:mod:`wireproto.testing.strategies`, the pytest plugin (regression files,
fixtures) in :mod:`wireproto.testing.pytest_plugin`; ``wireproto fuzz`` is
the command line. Importing this package does not import Hypothesis; the
names that need it load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from wireproto.testing._layers import LayerOutcome, LayerPeer, PlainPeer, TlsPeer, check_layer_cuts
from wireproto.testing._properties import check_example
from wireproto.testing._target import FuzzTarget, TargetOptions
from wireproto.testing._types import Example, ReadSchedule, Stream
from wireproto.testing.errors import PROPERTIES, ConformanceError

if TYPE_CHECKING:
    from wireproto.testing import strategies as strategies
    from wireproto.testing._check import CheckReport, check_wire_format
    from wireproto.testing._machine import ConsumerMachine

# tests/test_testing_api.py pins this list: a change to it is a change of the public API.
__all__ = [
    "PROPERTIES",
    "CheckReport",
    "ConformanceError",
    "ConsumerMachine",
    "Example",
    "FuzzTarget",
    "LayerOutcome",
    "LayerPeer",
    "PlainPeer",
    "ReadSchedule",
    "Stream",
    "TargetOptions",
    "TlsPeer",
    "check_example",
    "check_layer_cuts",
    "check_wire_format",
]

_LAZY = {
    "CheckReport": "wireproto.testing._check",
    "check_wire_format": "wireproto.testing._check",
    "ConsumerMachine": "wireproto.testing._machine",
}


def __getattr__(name: str) -> Any:
    # The names that need Hypothesis are imported on first use.
    if name == "strategies":
        return importlib.import_module("wireproto.testing.strategies")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*__all__, "errors", "strategies"])
