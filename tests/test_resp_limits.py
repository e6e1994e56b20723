"""RESP request limits: validation, and the receive buffer they need."""

from __future__ import annotations

import pytest
from wireproto.providers.resp import RespProvider
from wireproto.providers.resp.limits import RespLimits


def test_receive_buffer_cap_matches_the_limits() -> None:
    limits = RespLimits(max_bulk_len=100, max_inline_len=40)
    assert RespProvider(limits=limits, accelerated=False).limits.max_message_size == 102
    limits = RespLimits(max_bulk_len=8, max_inline_len=40)
    assert RespProvider(limits=limits, accelerated=False).limits.max_message_size == 42


def test_limits_validation() -> None:
    with pytest.raises(ValueError, match="max_bulk_len"):
        RespLimits(max_bulk_len=0)
    with pytest.raises(ValueError, match="INT_MAX"):
        RespLimits(max_multibulk_len=2**31)
    with pytest.raises(ValueError, match="max_output_buffered"):
        RespLimits(max_output_buffered=0)
    assert RespLimits(max_bulk_len=10, max_output_buffered=5).output_limit == 5
    assert RespLimits(max_bulk_len=10).output_limit == 10 + (64 << 20)
