"""Replay specs/resp: the conformance vectors and the seed corpus, on both parsers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hiredis
import pytest
from _drive import replay as _replay
from wireproto.providers.resp import RespLimits, RespProvider, register
from wireproto.providers.resp.parser import RequestParser

from wireproto import CloseReason, Connection, Registry
from wireproto._connection import ConnectionState

SPEC = Path(__file__).resolve().parent.parent / "specs" / "resp"
VECTORS: list[dict[str, Any]] = json.loads((SPEC / "vectors.json").read_text())["vectors"]
CORPUS = sorted(SPEC.joinpath("corpus").glob("*.bin"))
START = 1_700_000_000_000


def _connection(accelerated: bool, vector: dict[str, Any] | None = None) -> Connection:
    vector = vector or {}
    provider = RespProvider(
        accelerated=accelerated,
        password=vector.get("password"),
        limits=RespLimits(**vector.get("limits", {})),
        clock=lambda: START,
    )
    registry = Registry()
    register(registry, provider)
    return Connection(registry)


@pytest.mark.parametrize("vector", VECTORS, ids=[vector["name"] for vector in VECTORS])
@pytest.mark.parametrize("cutting", ["whole", "bytewise"])
@pytest.mark.parametrize("accelerated", [False, True], ids=["pure", "hiredis"])
def test_vectors(vector: dict[str, Any], cutting: str, accelerated: bool) -> None:
    request = vector["request"].encode("latin-1")
    chunks = [request] if cutting == "whole" else [request[i : i + 1] for i in range(len(request))]
    connection = _connection(accelerated, vector)
    assert _replay(connection, chunks) == vector["reply"].encode("latin-1")
    assert (connection.state is ConnectionState.CLOSED) is vector["closes"]
    if vector["closes"]:
        reason = CloseReason(vector.get("close_reason", "protocol-error"))
        assert connection.close_reason is reason


def _count_commands(stream: bytes) -> int:
    parser = RequestParser(RespLimits())
    assert parser.begin(memoryview(stream))
    count = 0
    while (command := parser.next_command()) is not None:
        count += bool(command)
    assert parser.end() == len(stream)
    return count


def _count_replies(replies: bytes) -> int:
    reader = hiredis.Reader()
    reader.feed(replies)
    count = 0
    while reader.gets() is not False:
        count += 1
    return count


@pytest.mark.parametrize("path", CORPUS, ids=[path.name for path in CORPUS])
@pytest.mark.parametrize("accelerated", [False, True], ids=["pure", "hiredis"])
def test_corpus_streams_get_one_reply_per_command(path: Path, accelerated: bool) -> None:
    stream = path.read_bytes()
    connection = _connection(accelerated)
    replies = _replay(connection, [stream])
    assert connection.close_reason in (None, CloseReason.SESSION_CLOSED)  # QUIT may end one
    assert b"Protocol error" not in replies
    assert _count_replies(replies) == _count_commands(stream)
    bytewise = _replay(_connection(accelerated), [stream[i : i + 1] for i in range(len(stream))])
    assert bytewise == replies
