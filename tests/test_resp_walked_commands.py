"""GET and SET run straight from the parser's step as the commands do.

A session runs the plain ``GET key`` and ``SET key value`` at the head of a batch
without making their argument lists (``RespSession._run_direct``): from the walk of
whole multibulk commands in the compiled build (``WALK_MULTIBULK``, ``_run_walked``),
from the split on CRLF in the interpreted one (``_run_split``). Whatever the pipeline,
its cuts and the limits, such a session must answer, store and remember its last
command exactly as one that runs every command through ``run_commands`` and
``execute`` (``RUN_DIRECT`` off).
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import wireproto.providers.resp.pure_parser as pure_parser_module
import wireproto.providers.resp.session as session_module
from _drive import cut, replay
from _drive import resp_command as cmd
from hypothesis import given, settings
from hypothesis import strategies as st
from wireproto.providers.resp import RespLimits, RespProvider, register
from wireproto.providers.resp.session import RespSession

from wireproto import CloseReason, Connection, Registry

START = 1_700_000_000_000
KEYS = [b"a", b"b", b"key:1", b"\r\n", b""]


@contextmanager
def multibulk(walk: bool) -> Iterator[None]:
    """Parsers made meanwhile walk whole multibulk commands, or split them."""
    saved = pure_parser_module.WALK_MULTIBULK
    pure_parser_module.WALK_MULTIBULK = walk
    try:
        yield
    finally:
        pure_parser_module.WALK_MULTIBULK = saved


@contextmanager
def direct_runs(direct: bool) -> Iterator[None]:
    """Sessions run GET and SET straight from the parser's step meanwhile, or not."""
    saved = session_module.RUN_DIRECT
    session_module.RUN_DIRECT = direct
    try:
        yield
    finally:
        session_module.RUN_DIRECT = saved


WAYS = pytest.mark.parametrize("walk", [True, False], ids=["walk", "split"])


def _connection(walk: bool, limits: RespLimits) -> tuple[Connection, RespProvider]:
    provider = RespProvider(accelerated=False, limits=limits, clock=lambda: START)
    registry = Registry()
    register(registry, provider)
    with multibulk(walk):
        connection = Connection(registry)
        connection.receive_data(cmd(b"PING"))  # detection: the session (and parser) now
    connection.data_to_send()
    return connection, provider


def _session(connection: Connection) -> RespSession:
    session = connection._session
    assert isinstance(session, RespSession)
    return session


_keys = st.sampled_from(KEYS)
_values = st.binary(max_size=8) | st.sampled_from([b"x" * 1023, b"x" * 1024, b"\r\n*1\r\n"])
_commands = st.one_of(
    st.tuples(st.just(b"GET"), _keys).map(lambda argv: cmd(*argv)),
    st.tuples(st.just(b"SET"), _keys, _values).map(lambda argv: cmd(*argv)),
    st.tuples(st.sampled_from([b"get", b"Get"]), _keys).map(lambda argv: cmd(*argv)),
    st.tuples(st.just(b"set"), _keys, _values).map(lambda argv: cmd(*argv)),
    st.just(cmd(b"GET")),
    st.tuples(_keys, _keys).map(lambda keys: cmd(b"GET", *keys)),
    st.tuples(_keys, _values).map(lambda argv: cmd(b"SET", *argv, b"NX")),
    st.tuples(_keys, _values).map(lambda argv: cmd(b"LPUSH", *argv)),  # GET: WRONGTYPE
    st.tuples(_keys).map(lambda argv: cmd(b"DEL", *argv)),
    st.tuples(_keys).map(lambda argv: cmd(b"APPEND", *argv, b"!")),  # a bytearray value
    st.tuples(_keys).map(lambda argv: cmd(b"EXPIRE", *argv, b"100")),
    st.sampled_from([cmd(b"MULTI"), cmd(b"EXEC"), cmd(b"DISCARD"), b"PING\r\n", b"GET a\r\n"]),
    st.sampled_from([cmd(b"CLIENT", b"REPLY", b"OFF"), cmd(b"CLIENT", b"REPLY", b"ON")]),
    st.just(b"*2\r\n$3\r\nGET\r\n$01\r\na\r\n"),  # not canonical: Redis reads it all the same
)
_limits = st.sampled_from(
    [
        RespLimits(),
        RespLimits(max_bulk_len=5, max_multibulk_len=3),
        RespLimits(max_multibulk_len=2),
        RespLimits(max_output_buffered=2048),  # a batch of large GETs passes it
    ]
)


def _outcome(
    walk: bool, direct: bool, stream: bytes, cuts: list[int], limits: RespLimits
) -> tuple[object, ...]:
    connection, provider = _connection(walk, limits)
    with direct_runs(direct):
        replies = replay(connection, cut(stream, cuts))
    store = provider.store
    stored = {key: store.stored(key) for key in KEYS}
    session = connection._session
    last = session.last_argv if isinstance(session, RespSession) else None
    return replies, connection.state, connection.close_reason, stored, last


@WAYS
@settings(max_examples=300, deadline=None)
@given(
    commands=st.lists(_commands, max_size=12),
    cuts=st.lists(st.integers(0), max_size=3),
    limits=_limits,
)
def test_get_and_set_run_directly_answer_as_through_run_commands(
    walk: bool, commands: list[bytes], cuts: list[int], limits: RespLimits
) -> None:
    stream = b"".join(commands)
    expected = _outcome(False, False, stream, cuts, limits)
    assert _outcome(walk, True, stream, cuts, limits) == expected


@WAYS
def test_a_batch_of_get_and_set_runs_without_the_parsers_commands(walk: bool) -> None:
    """Run directly, the batch never reaches ``whole_commands``' list; else it does."""
    batch = cmd(b"SET", b"k", b"v") + cmd(b"GET", b"k") + cmd(b"GET", b"nothing")
    for direct in (True, False):
        connection, _ = _connection(walk, RespLimits())
        parser = _session(connection)._parser
        parser._fast_commands = []  # what whole_commands() took last: nothing yet
        with direct_runs(direct):
            assert replay(connection, [batch]) == b"+OK\r\n$1\r\nv\r\n$-1\r\n"
        assert (parser._fast_commands == []) is direct
        assert _session(connection).last_argv == [b"GET", b"nothing"]


@WAYS
def test_the_direct_run_stops_at_the_first_other_command_and_the_rest_runs_as_usual(
    walk: bool,
) -> None:
    batch = cmd(b"SET", b"k", b"v") + cmd(b"INCR", b"n") + cmd(b"GET", b"k") + b"PING\r\n"
    connection, provider = _connection(walk, RespLimits())
    assert replay(connection, [batch]) == b"+OK\r\n:1\r\n$1\r\nv\r\n+PONG\r\n"
    assert provider.store.get(b"n") == b"1"
    assert _session(connection)._parser._fast_commands == [[b"INCR", b"n"], [b"GET", b"k"]]


@WAYS
def test_inside_multi_get_and_set_are_queued_not_run(walk: bool) -> None:
    batch = cmd(b"MULTI") + cmd(b"SET", b"k", b"v") + cmd(b"GET", b"k")
    connection, provider = _connection(walk, RespLimits())
    assert replay(connection, [batch]) == b"+OK\r\n+QUEUED\r\n+QUEUED\r\n"
    assert provider.store.get(b"k") is None
    assert replay(connection, [cmd(b"EXEC")]) == b"*2\r\n+OK\r\n$1\r\nv\r\n"


def test_a_batch_of_large_gets_stops_at_the_output_limit_before_building_the_rest() -> None:
    """64 GETs of a 1 MiB value under a 4 MiB output limit: the batch stops once its
    replies pass the limit, whichever path runs them, rather than building 64 MiB."""
    for walk in (True, False):
        connection, provider = _connection(walk, RespLimits(max_output_buffered=4 << 20))
        provider.store.set(b"big", b"x" * (1 << 20))
        tracemalloc.start()
        try:
            replay(connection, [cmd(b"GET", b"big") * 64])
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert connection.close_reason is CloseReason.OUTPUT_LIMIT
        assert peak < 16 << 20, (walk, peak)


@WAYS
@pytest.mark.parametrize("size", [5, 6], ids=["max", "max+1"])
def test_a_bulk_at_the_limit_runs_directly_and_one_past_it_is_refused_as_before(
    walk: bool, size: int
) -> None:
    limits = RespLimits(max_bulk_len=5)
    batch = cmd(b"SET", b"k", b"v" * size) + cmd(b"GET", b"k" * size)
    outcomes = [_outcome(walk, direct, batch, [], limits) for direct in (True, False)]
    assert outcomes[0] == outcomes[1]
    replies = outcomes[0][0]
    if size == 5:
        assert replies == b"+OK\r\n$-1\r\n"
    else:
        assert replies == b"-ERR Protocol error: invalid bulk length\r\n"
