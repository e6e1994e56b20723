"""Fixtures shared by several test modules (the unit and the end-to-end tests)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _tls import make_tls_files


@pytest.fixture(params=[False, True], ids=["pure", "hiredis"])
def accelerated(request: pytest.FixtureRequest) -> bool:
    """Run the test on the pure-Python RESP parser and on the hiredis one."""
    value: bool = request.param
    return value


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A test CA and a server certificate, made once per session."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))
