"""The ``Server``'s own settings (the loopback tests are in ``tests/e2e/test_server_e2e.py``)."""

from __future__ import annotations

import pytest

from wireproto import (
    ConnectionSettings,
)
from wireproto._server import ServerLimits


def test_server_limits_validate() -> None:
    for bad in (
        {"max_connections": 0},
        {"max_connections_per_client": 0},
        {"max_receive_memory": 0},
        {"max_output_buffered": 0},
    ):
        with pytest.raises(ValueError):
            ServerLimits(**bad)
    with pytest.raises(ValueError):
        ConnectionSettings(idle_timeout=0)
