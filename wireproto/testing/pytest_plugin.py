"""The pytest plugin of the fuzz kit (entry point ``pytest11``: ``wireproto``).

It replays every regression file (``*.json`` in a directory named
``fuzz_regressions``, or in any directory listed in the ``wireproto_regressions``
ini option) as a test, and provides the strategies as fixtures. The listed
directories are collected by a plain ``pytest`` run even when they are outside
``testpaths``.
Importing it is cheap: Hypothesis and the kit load only when a regression
is replayed or a fixture is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from wireproto.testing._regression import INI_OPTION, REGRESSION_DIRECTORY

__all__ = [
    "INI_OPTION",
    "REGRESSION_DIRECTORY",
    "RegressionFile",
    "RegressionItem",
    "wireproto_buffer_schedules",
    "wireproto_chunkings",
    "wireproto_from_construct",
    "wireproto_strategies",
    "wireproto_streams",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ``wireproto_regressions`` ini option."""
    parser.addini(
        INI_OPTION,
        type="paths",
        default=[],
        help="directories of wireproto fuzz regression files to replay "
        f"(besides any directory named {REGRESSION_DIRECTORY})",
    )


def _listed(config: pytest.Config) -> list[Path]:
    paths: list[Path] = config.getini(INI_OPTION)
    return [path.resolve() for path in paths]


def pytest_configure(config: pytest.Config) -> None:
    """Add the listed directories to a run that was given no paths on the command line."""
    if config.args_source is pytest.Config.ArgsSource.ARGS:
        return
    collected = [Path(arg).resolve() for arg in config.args]
    for directory in _listed(config):
        inside = any(directory.is_relative_to(root) for root in collected)
        if directory.is_dir() and not inside:
            config.args.append(str(directory))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Collect ``*.json`` files of ``fuzz_regressions`` and the listed directories."""
    if file_path.suffix != ".json":
        return None
    folder = file_path.parent
    if folder.name == REGRESSION_DIRECTORY or folder.resolve() in _listed(parent.config):
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
