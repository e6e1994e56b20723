"""The public names of the fuzz kit, pinned: a change to them is a change of the public API."""

from __future__ import annotations

import importlib
import inspect
import tomllib
from pathlib import Path

import wireproto.testing
from wireproto.testing import errors

ROOT = Path(__file__).resolve().parent.parent
KIT = ROOT / "wireproto" / "testing"

PUBLIC = [
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
ERRORS = [
    "PROPERTIES",
    "ByteAccountingError",
    "CompletenessError",
    "ConformanceError",
    "DetectionError",
    "KeptViewError",
    "LimitError",
    "NonLinearWorkError",
    "RoundTripError",
    "SameOutcomeError",
    "UnexpectedExceptionError",
    "error_class",
]
STRATEGIES = [
    "Built",
    "buffer_schedules",
    "chunkings",
    "examples",
    "from_construct",
    "grown_streams",
    "mutated",
    "streams",
    "target_streams",
]
# The modules a user may import; every other module of the kit starts with "_".
PUBLIC_MODULES = {"__init__", "__main__", "errors", "pytest_plugin", "strategies"}


def test_the_kit_exports_exactly_the_pinned_names() -> None:
    assert wireproto.testing.__all__ == PUBLIC
    assert dir(wireproto.testing) == sorted([*PUBLIC, "errors", "strategies"])


def test_every_exported_name_resolves_and_says_what_it_is() -> None:
    for name in PUBLIC:
        value = getattr(wireproto.testing, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__doc__, name
            assert value.__module__.startswith("wireproto.testing"), name


def test_a_name_that_is_not_exported_is_not_an_attribute() -> None:
    for name in ("run_example", "load_target", "Regression", "chunkings", "SameOutcomeError"):
        assert not hasattr(wireproto.testing, name), name


def test_the_errors_module_holds_every_property_error() -> None:
    assert errors.__all__ == ERRORS
    assert wireproto.testing.ConformanceError is errors.ConformanceError
    assert wireproto.testing.PROPERTIES is errors.PROPERTIES
    classes = [getattr(errors, name) for name in ERRORS if name.endswith("Error")]
    assert all(issubclass(cls, errors.ConformanceError) for cls in classes)
    assert issubclass(errors.ConformanceError, AssertionError)
    for number, name in errors.PROPERTIES.items():
        cls = errors.error_class(number)
        assert (cls.property, cls.name, cls.__module__) == (number, name, errors.__name__)


def test_the_strategies_module_exports_the_pinned_names() -> None:
    strategies = importlib.import_module("wireproto.testing.strategies")
    assert strategies.__all__ == STRATEGIES
    assert wireproto.testing.strategies is strategies


def test_only_the_public_modules_lack_the_underscore() -> None:
    names = {path.stem for path in KIT.glob("*.py")}
    public = {name for name in names if name.startswith("__") or not name.startswith("_")}
    assert public == PUBLIC_MODULES


def test_the_pytest_entry_point_names_the_plugin_module() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    module = project["entry-points"]["pytest11"]["wireproto"]
    assert module == "wireproto.testing.pytest_plugin"
    assert importlib.import_module(module).pytest_collect_file
