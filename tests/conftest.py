"""Fixtures shared by several test modules."""

from __future__ import annotations

import pytest


@pytest.fixture(params=[False, True], ids=["pure", "hiredis"])
def accelerated(request: pytest.FixtureRequest) -> bool:
    """Run the test on the pure-Python RESP parser and on the hiredis one."""
    value: bool = request.param
    return value
