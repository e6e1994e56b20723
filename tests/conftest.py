"""Fixtures shared by several test modules (the unit and the end-to-end tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _tls import make_tls_files
from wireproto.providers.datatypes.thresholds import THRESHOLDS


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Files holding a test marked ``long`` run first, each kept whole, the rest in order.

    Under ``-n 2`` (CI) a file is one unit of work handed out in this order: a file
    whose test runs for minutes must start early, not be the tail one worker runs alone.
    """
    first = {item.path for item in items if item.get_closest_marker("long") is not None}
    items.sort(key=lambda item: item.path not in first)  # stable: order within a file kept


@pytest.fixture(params=[False, True], ids=["pure", "hiredis"])
def accelerated(request: pytest.FixtureRequest) -> bool:
    """Run the test on the pure-Python RESP parser and on the hiredis one."""
    value: bool = request.param
    return value


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A test CA and a server certificate, made once per session."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(autouse=True)
def _encoding_thresholds_restored() -> Iterator[None]:
    """CONFIG SET of an encoding threshold holds for the whole process (as for a whole
    redis-server): put the defaults back after each test that changed them."""
    saved = {name: getattr(THRESHOLDS, name) for name in THRESHOLDS.__slots__}
    yield
    for name, value in saved.items():
        setattr(THRESHOLDS, name, value)
