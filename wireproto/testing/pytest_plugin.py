"""The pytest plugin of the fuzz kit (entry point ``pytest11``: ``wireproto``).

It replays every regression file (``*.json`` in a directory named
``fuzz_regressions``) as a test, and provides the strategies as fixtures.
Importing it is cheap: Hypothesis and the kit load only when a regression
is replayed or a fixture is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

__all__ = [
    "RegressionFile",
    "RegressionItem",
    "wireproto_buffer_schedules",
    "wireproto_chunkings",
    "wireproto_from_construct",
    "wireproto_strategies",
    "wireproto_streams",
]

REGRESSION_DIRECTORY = "fuzz_regressions"


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Collect ``fuzz_regressions/*.json`` files as regression tests."""
    if file_path.suffix == ".json" and file_path.parent.name == REGRESSION_DIRECTORY:
        file: pytest.Collector = RegressionFile.from_parent(parent, path=file_path)
        return file
    return None


class RegressionFile(pytest.File):
    """One saved failing input."""

    def collect(self) -> Iterator[pytest.Item]:
        """One item: the replay."""
        yield RegressionItem.from_parent(self, name="replay")


class RegressionItem(pytest.Item):
    """Replays one regression file through the kit's checks."""

    def runtest(self) -> None:
        """Replay the file; fail with the kit's report."""
        from wireproto.testing._regression import replay_regression  # noqa: PLC0415

        replay_regression(self.path, root=self.config.rootpath)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str:
        """The kit's own report, not a traceback into the kit."""
        if isinstance(excinfo.value, AssertionError):
            return f"{self.path.name}: {excinfo.value}"
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Where the test comes from."""
        return self.path, None, f"fuzz regression {self.path.name}"


def _strategies() -> ModuleType:
    from wireproto.testing import strategies  # noqa: PLC0415

    return strategies


@pytest.fixture(scope="session")
def wireproto_strategies() -> ModuleType:
    """The module :mod:`wireproto.testing.strategies`."""
    return _strategies()


@pytest.fixture(scope="session")
def wireproto_chunkings() -> Any:
    """:func:`wireproto.testing.strategies.chunkings`."""
    return _strategies().chunkings


@pytest.fixture(scope="session")
def wireproto_buffer_schedules() -> Any:
    """:func:`wireproto.testing.strategies.buffer_schedules`."""
    return _strategies().buffer_schedules


@pytest.fixture(scope="session")
def wireproto_streams() -> Any:
    """:func:`wireproto.testing.strategies.streams`."""
    return _strategies().streams


@pytest.fixture(scope="session")
def wireproto_from_construct() -> Any:
    """:func:`wireproto.testing.strategies.from_construct`."""
    return _strategies().from_construct
