"""End-to-end tests: each is marked ``e2e`` (``pytest -m "not e2e"`` runs the unit suite),
and ``run`` runs a scenario on the default loop and on uvloop."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop  # a test dependency: if it is missing these tests must fail, not skip
from _differential import Pair
from _lines import LOOPS, TIMEOUT, Run
from _serve import redis_server

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


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real ``redis-server`` 7 (persistence off, 127.0.0.1 only) for the module; its port."""
    with redis_server(tmp_path_factory.mktemp("redis-differential")) as port:
        yield port


@pytest.fixture(scope="module")
def pair(redis_port: int) -> Iterator[Pair]:
    """A :class:`~_differential.Pair`: redis-server and an in-process RESP connection."""
    both = Pair(redis_port)
    yield both
    both.close()
