"""End-to-end tests: each is marked ``e2e`` (``pytest -m "not e2e"`` runs the unit suite),
and ``run`` runs a scenario on the default loop and on uvloop."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest
import uvloop  # a test dependency: if it is missing these tests must fail, not skip
from _lines import LOOPS, TIMEOUT, Run

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under ``tests/e2e/`` ``e2e``: real sockets, subprocesses and peers."""
    for item in items:
        if _HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(params=sorted(LOOPS))
def run(request: pytest.FixtureRequest) -> Run:
    """Run a scenario to completion, under a global timeout, on the parametrized loop."""
    name: str = request.param

    async def checked(scenario: Coroutine[Any, Any, None]) -> None:
        assert isinstance(asyncio.get_running_loop(), uvloop.Loop) == (name == "uvloop")
        await asyncio.wait_for(scenario, TIMEOUT)

    def runner(scenario: Coroutine[Any, Any, None]) -> None:
        with asyncio.Runner(loop_factory=LOOPS[name]) as loop_runner:
            loop_runner.run(checked(scenario))

    return runner
