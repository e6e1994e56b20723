"""The RESP request parser through the sans-I/O Connection: cuts, garbage, limits, drips.

Every test runs on the pure parser and on the hiredis one, which must be
indistinguishable, and with both ways of taking whole multibulk commands at once
(``WALK_MULTIBULK``: the split of the interpreted build, the walk of the compiled one).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import wireproto.providers.resp.hiredis_parser as hiredis_module
import wireproto.providers.resp.parser as parser_module
import wireproto.providers.resp.pure_parser as pure_parser_module
import wireproto.providers.resp.session as session_module
from _drive import bytewise, cut, replay
from _drive import resp_command as cmd
from hypothesis import given, settings
from hypothesis import strategies as st
from wireproto.providers.resp import RESP, RespLimits, RespProvider, register
from wireproto.providers.resp.parser import RequestParser

from wireproto import CloseReason, Connection, ProtocolError, Registry
from wireproto._auth import NO_AUTH
from wireproto._connection import ConnectionState
from wireproto.memory import MemoryAccount

START = 1_700_000_000_000
PATHS = pytest.mark.parametrize("accelerated", [False, True], ids=["pure", "hiredis"])


@contextmanager
def multibulk(walk: bool) -> Iterator[None]:
    """Parsers made meanwhile take whole multibulk commands by walking them, or by a split."""
    saved = pure_parser_module.WALK_MULTIBULK
    pure_parser_module.WALK_MULTIBULK = walk
    try:
        yield
    finally:
        pure_parser_module.WALK_MULTIBULK = saved


@pytest.fixture(autouse=True, scope="module", params=[False, True], ids=["split", "walk"])
def multibulk_strategy(request: pytest.FixtureRequest) -> Iterator[bool]:
    """Every test runs with both ways of taking whole multibulk commands."""
    with multibulk(request.param):
        yield request.param


def make_connection(
    accelerated: bool, limits: RespLimits | None = None, password: str | None = None
) -> Connection:
    provider = RespProvider(
        accelerated=accelerated, limits=limits, password=password, clock=lambda: START
    )
    registry = Registry()
    register(registry, provider)
    return Connection(registry)


def run(
    chunks: Iterable[bytes],
    accelerated: bool,
    limits: RespLimits | None = None,
    password: str | None = None,
) -> tuple[bytes, Connection]:
    connection = make_connection(accelerated, limits, password)
    return replay(connection, chunks), connection


def outcome(connection: Connection) -> tuple[ConnectionState, CloseReason | None]:
    return connection.state, connection.close_reason


# -- strategies ---------------------------------------------------------------------

_keys = st.sampled_from([b"a", b"b", b"key:1", b"\r\n", b""])
_values = st.binary(max_size=12)
_numbers = st.integers(-5, 5).map(lambda n: b"%d" % n)
_commands = st.one_of(
    st.tuples(st.just(b"SET"), _keys, _values),
    st.tuples(st.just(b"set"), _keys, _values, st.sampled_from([b"NX", b"XX", b"GET"])),
    st.tuples(st.just(b"GET"), _keys),
    st.tuples(st.just(b"INCR"), _keys),
    st.tuples(st.just(b"INCRBY"), _keys, _numbers),
    st.tuples(st.just(b"INCRBYFLOAT"), _keys, st.sampled_from([b"0.1", b"1e2", b"x"])),
    st.tuples(st.just(b"APPEND"), _keys, _values),
    st.tuples(st.just(b"GETRANGE"), _keys, _numbers, _numbers),
    st.tuples(st.just(b"SETRANGE"), _keys, st.integers(0, 4).map(b"%d".__mod__), _values),
    st.tuples(st.just(b"EXPIRE"), _keys, _numbers),
    st.tuples(st.just(b"TTL"), _keys),
    st.tuples(st.just(b"STRLEN"), _keys),
    st.tuples(st.just(b"PING")),
    st.tuples(st.just(b"PING"), _values),
    st.tuples(st.just(b"ECHO"), _values),
    st.tuples(st.just(b"DBSIZE")),
    st.tuples(st.just(b"HELLO"), st.sampled_from([b"2", b"3"])),
    st.tuples(st.just(b"KEYS"), st.sampled_from([b"*", b"?", b"[ab]*"])),
    st.tuples(st.just(b"SCAN"), st.just(b"0")),
    st.tuples(st.just(b"GET")),
    st.tuples(st.just(b"NOSUCH"), _values),
    st.lists(_keys, min_size=1, max_size=4).map(lambda keys: (b"MGET", *keys)),
    st.lists(_keys, min_size=1, max_size=3).map(lambda keys: (b"DEL", *keys)),
)


def _quote(arg: bytes) -> bytes:
    escaped = b"".join(
        bytes([byte]) if 32 <= byte < 127 and byte not in b'"\\' else b"\\x%02x" % byte
        for byte in arg
    )
    return b'"' + escaped + b'"'


def _plain_inline_ok(args: tuple[bytes, ...]) -> bool:
    return all(arg and not any(byte in b" \t\r\n\"'\\\x00\x0b\x0c" for byte in arg) for arg in args)


@st.composite
def _encoded(draw: st.DrawFn) -> bytes:
    args: tuple[bytes, ...] = draw(_commands)
    style = draw(st.sampled_from(["multibulk", "inline-plain", "inline-quoted"]))
    if style == "inline-plain" and _plain_inline_ok(args):
        return b" ".join(args) + draw(st.sampled_from([b"\r\n", b"\n"]))
    if style == "inline-quoted":
        return b" ".join(_quote(arg) for arg in args) + b"\r\n"
    return cmd(*args)


PROLOGUE = cmd(b"PING")  # detection needs a known first command


@settings(max_examples=150, deadline=None)
@given(
    commands=st.lists(_encoded(), min_size=1, max_size=12),
    points=st.lists(st.integers(min_value=0), max_size=12),
)
def test_any_cutting_gives_the_replies_of_the_whole_stream(
    commands: list[bytes], points: list[int]
) -> None:
    stream = PROLOGUE + b"".join(commands)
    expected, whole = run([stream], accelerated=False)
    assert whole.state is ConnectionState.ACTIVE
    assert expected.startswith(b"+PONG\r\n")
    one_by_one, _ = run([PROLOGUE, *commands], accelerated=False)
    assert one_by_one == expected
    with multibulk(False):
        split, _ = run([stream], accelerated=False)
    assert split == expected
    for accelerated in (False, True):
        replies, connection = run(cut(stream, points), accelerated)
        assert replies == expected
        assert connection.state is ConnectionState.ACTIVE
    accelerated_whole, _ = run([stream], accelerated=True)
    assert accelerated_whole == expected


@PATHS
@settings(max_examples=40, deadline=None)
@given(commands=st.lists(_encoded(), min_size=1, max_size=6))
def test_one_byte_at_a_time_gives_the_same_replies(
    commands: list[bytes], accelerated: bool
) -> None:
    stream = PROLOGUE + b"".join(commands)
    expected, _ = run([stream], accelerated=False)
    replies, connection = run(bytewise(stream), accelerated)
    assert replies == expected
    assert connection.state is ConnectionState.ACTIVE


_garbage_prefixes = st.sampled_from(
    [b"", b"*", b"*1\r\n", b"*2\r\n$3\r\nGET\r\n", b"*1\r\n$", b"PING ", b"GET a", b"*-1\r\n"]
)
_garbage_pieces = st.one_of(
    st.binary(max_size=40),
    st.sampled_from(
        [b"\r\n", b"\r", b"\n", b"*", b"$", b"+", b":", b"-1", b"0", b"99", b'"', b"'", b"\\x4"]
    ),
    _encoded(),
)


@settings(max_examples=200, deadline=None)
@given(
    prefix=_garbage_prefixes,
    pieces=st.lists(_garbage_pieces, max_size=12),
    points=st.lists(st.integers(min_value=0), max_size=8),
)
def test_garbage_only_ever_closes_with_a_protocol_error(
    prefix: bytes, pieces: list[bytes], points: list[int]
) -> None:
    stream = prefix + b"".join(pieces)
    expected, reference = run([stream], accelerated=False)
    with multibulk(False):
        split, split_reference = run([stream], accelerated=False)
    assert (split, outcome(split_reference)) == (expected, outcome(reference))
    assert reference.close_reason in (
        None,
        CloseReason.PROTOCOL_ERROR,
        CloseReason.NO_MATCH,
        CloseReason.SESSION_CLOSED,
    )
    if reference.close_reason is CloseReason.PROTOCOL_ERROR:
        assert isinstance(reference.error, ProtocolError)
        last = expected[expected.rfind(b"-ERR Protocol error: ") :]
        assert last.startswith(b"-ERR Protocol error: ")
        assert last.endswith(b"\r\n")
        assert last.count(b"\r\n") == 1  # the error is the last reply
    for accelerated in (False, True):
        for chunks in ([stream], cut(stream, points)):
            replies, connection = run(chunks, accelerated)
            assert replies == expected
            assert outcome(connection) == outcome(reference)


@settings(max_examples=200, deadline=None)
@given(data=st.lists(st.binary(max_size=64), max_size=6), accelerated=st.booleans())
def test_the_session_raises_nothing_but_protocol_errors(
    data: list[bytes], accelerated: bool
) -> None:
    class Sender:
        memory = MemoryAccount()
        auth = NO_AUTH

        def send(self, chunk: Any, /) -> None:
            pass

        def close(self) -> None:
            pass

    session = RespProvider(accelerated=accelerated).create_session(RESP, Sender())
    pending = b""
    try:
        for piece in data:
            pending += piece
            used = session.try_consume(memoryview(bytearray(pending)))
            assert 0 <= used <= len(pending)
            pending = pending[used:]
    except ProtocolError as exc:
        # The replies of the commands before the bad one go first (as Redis sends them);
        # the error's own line ends the reply.
        last_line = exc.reply.rstrip(b"\r\n").rpartition(b"\r\n")[2]
        assert last_line.startswith(b"-ERR Protocol error: ") or not exc.reply


# -- Redis's grammar, which hiredis alone would not enforce --------------------------------

EXPECTED_DOLLAR = b"-ERR Protocol error: expected '$', got '%s'\r\n"
INVALID_BULK = b"-ERR Protocol error: invalid bulk length\r\n"
INVALID_MULTIBULK = b"-ERR Protocol error: invalid multibulk length\r\n"
PONG = b"+PONG\r\n"

GRAMMAR = [
    ("simple string argument", b"*1\r\n+PING\r\n", EXPECTED_DOLLAR % b"+"),
    ("after skipped bytes", b"*2\r\n$4\r\nECHOXY+PING\r\n", EXPECTED_DOLLAR % b"+"),
    ("verbatim argument", b"*1\r\n=8\r\ntxt:PING\r\n", EXPECTED_DOLLAR % b"="),
    ("nested array", b"*1\r\n*1\r\n$4\r\nPING\r\n", EXPECTED_DOLLAR % b"*"),
    ("integer argument", b"*1\r\n:1\r\n", EXPECTED_DOLLAR % b":"),
    ("map argument", b"*1\r\n%1\r\n$1\r\na\r\n$1\r\nb\r\n", EXPECTED_DOLLAR % b"%"),
    ("cr in the type byte", b"*1\r\n\r\n", EXPECTED_DOLLAR % b" "),
    ("null bulk", b"*1\r\n$-1\r\n", INVALID_BULK),
    ("leading zero length", b"*1\r\n$04\r\nPING\r\n", INVALID_BULK),
    ("plus sign length", b"*1\r\n$+4\r\nPING\r\n", INVALID_BULK),
    ("leading zero count", b"*01\r\n$4\r\nPING\r\n", INVALID_MULTIBULK),
    ("count beyond INT_MAX", b"*2147483648\r\n", INVALID_MULTIBULK),
    ("count not a number", b"*x\r\n", INVALID_MULTIBULK),
    ("bulk trailer is not checked", b"*1\r\n$4\r\nPINGxy", PONG),
    ("header ends at CR", b"*1\rx$4\rxPING\r\n", PONG),
    ("null and empty arrays are skipped", b"*-1\r\n*0\r\n*-3\r\n*1\r\n$4\r\nPING\r\n", PONG),
    (
        "resp3 null is an inline command",
        b"*1\r\n$4\r\nPING\r\n_\r\n",
        PONG + b"-ERR unknown command '_', with args beginning with: \r\n",
    ),
]


@PATHS
@pytest.mark.parametrize(("name", "stream", "reply"), GRAMMAR, ids=[g[0] for g in GRAMMAR])
def test_redis_grammar(name: str, stream: bytes, reply: bytes, accelerated: bool) -> None:
    # After a PING, so the accelerated path starts on a clean batch.
    for chunks in ([PROLOGUE + stream], bytewise(PROLOGUE + stream)):
        replies, connection = run(chunks, accelerated)
        assert replies == PONG + reply
        closes = reply.startswith(b"-ERR Protocol error")
        assert (connection.close_reason is CloseReason.PROTOCOL_ERROR) is closes


@PATHS
def test_many_arguments(accelerated: bool) -> None:
    args = [b"MSET"] + [b"k%d" % (i // 2) for i in range(3000)]
    replies, _ = run([cmd(*args) + cmd(b"DBSIZE")], accelerated)
    assert replies == b"+OK\r\n:1500\r\n"


@pytest.mark.skipif(
    hiredis_module.__file__ is not None and hiredis_module.__file__.endswith(".so"),
    reason="counts calls by replacing a module function, which compiled (mypyc) callers bind "
    "at build time; the replies are checked on both builds by the other accelerated tests",
)
def test_the_accelerated_path_parses_whole_commands_with_hiredis(
    monkeypatch: pytest.MonkeyPatch, multibulk_strategy: bool
) -> None:
    calls = []
    original = hiredis_module._new_reader

    class CountingReader:
        def __init__(self) -> None:
            self._reader = original()

        def feed(self, *args: Any) -> None:
            self._reader.feed(*args)

        def gets(self) -> Any:
            result = self._reader.gets()
            calls.append(result)
            return result

    monkeypatch.setattr(hiredis_module, "_new_reader", CountingReader)
    batch = cmd(b"SET", b"a", b"1") + cmd(b"GET", b"a") + b"PING\r\n" + cmd(b"GET", b"a")
    monkeypatch.setattr(session_module, "RUN_DIRECT", False)
    replies, _ = run([batch], accelerated=True)
    assert replies == b"+OK\r\n$1\r\n1\r\n+PONG\r\n$1\r\n1\r\n"
    # Split: SET and GET came from hiredis, the inline PING and the rest from the pure
    # parser. Walked: the walk took SET, GET and the rest.
    assert calls == ([] if multibulk_strategy else [[b"SET", b"a", b"1"], [b"GET", b"a"]])
    # Run straight from either step, SET and GET never reach a parser's commands; PING is
    # taken inline, and hiredis the last GET.
    calls.clear()
    monkeypatch.setattr(session_module, "RUN_DIRECT", True)
    replies, _ = run([batch], accelerated=True)
    assert replies == b"+OK\r\n$1\r\n1\r\n+PONG\r\n$1\r\n1\r\n"
    assert calls == [[b"GET", b"a"]]


@PATHS
@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b"*1\x00\r\n$4\r\nPING\r\n", b"too big mbulk count string"),
        (b"*1\r\n$4\x00\r\nPING\r\n", b"too big bulk count string"),
        (b"PING \x00\r\nPING\r\n", b"too big inline request"),
    ],
)
def test_a_nul_hides_the_end_of_a_line_until_the_limit(
    line: bytes, error: bytes, accelerated: bool
) -> None:
    # Redis finds line ends with strchr(), which stops at the NUL: it waits for more
    # bytes and fails once more than the inline limit is buffered.
    limits = RespLimits(max_inline_len=64)
    stream = PROLOGUE + line
    start = line.rfind(b"\r\n", 0, line.find(b"\x00"))
    blocked = line[start + 2 :] if start >= 0 else line  # from the start of the blocked line
    filler = b"x" * (64 - len(blocked))
    replies, connection = run([stream + filler], accelerated, limits)
    assert (replies, connection.state) == (PONG, ConnectionState.ACTIVE)
    for chunks in ([stream + filler + b"x"], bytewise(stream + filler + b"x")):
        replies, connection = run(chunks, accelerated, limits)
        assert replies == PONG + b"-ERR Protocol error: " + error + b"\r\n"
        assert connection.close_reason is CloseReason.PROTOCOL_ERROR


# -- limits, each at its maximum and one past it ------------------------------------------


@PATHS
def test_max_bulk_len(accelerated: bool) -> None:
    limits = RespLimits(max_bulk_len=16)
    replies, connection = run(
        [cmd(b"SET", b"k", b"x" * 16) + cmd(b"STRLEN", b"k")], accelerated, limits
    )
    assert replies == b"+OK\r\n:16\r\n"
    assert connection.state is ConnectionState.ACTIVE
    # One past the maximum is refused as soon as the header is in, before any data.
    replies, connection = run([b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$17\r\n"], accelerated, limits)
    assert replies == INVALID_BULK
    assert connection.close_reason is CloseReason.PROTOCOL_ERROR


@PATHS
def test_default_max_bulk_len_is_512_mb(accelerated: bool) -> None:
    replies, connection = run([b"*2\r\n$4\r\nECHO\r\n$536870912\r\n"], accelerated)
    assert (replies, connection.state) == (b"", ConnectionState.ACTIVE)
    replies, connection = run([b"*2\r\n$4\r\nECHO\r\n$536870913\r\n"], accelerated)
    assert replies == INVALID_BULK
    assert connection.state is ConnectionState.CLOSED


@PATHS
def test_max_multibulk_len(accelerated: bool) -> None:
    limits = RespLimits(max_multibulk_len=3)
    replies, _ = run([cmd(b"SET", b"k", b"v")], accelerated, limits)
    assert replies == b"+OK\r\n"
    replies, connection = run([b"*4\r\n"], accelerated, limits)
    assert replies == INVALID_MULTIBULK
    assert connection.close_reason is CloseReason.PROTOCOL_ERROR


@PATHS
def test_max_inline_len(accelerated: bool) -> None:
    limits = RespLimits(max_inline_len=32)
    line = b"ECHO " + b"x" * 26 + b"\r"  # 32 bytes before the newline
    replies, connection = run([line + b"\n"], accelerated, limits)
    assert replies == b"$26\r\n" + b"x" * 26 + b"\r\n"
    assert connection.state is ConnectionState.ACTIVE
    waiting = PROLOGUE + b"ECHO " + b"x" * 27  # 32 bytes, no newline yet
    replies, connection = run([waiting], accelerated, limits)
    assert (replies, connection.state) == (PONG, ConnectionState.ACTIVE)
    replies, connection = run([waiting, b"x"], accelerated, limits)
    assert replies == PONG + b"-ERR Protocol error: too big inline request\r\n"
    assert connection.close_reason is CloseReason.PROTOCOL_ERROR


@PATHS
@pytest.mark.parametrize(
    ("head", "error"),
    [
        (b"*", b"too big mbulk count string"),
        (b"*1\r\n$", b"too big bulk count string"),
    ],
)
def test_header_lines_share_the_inline_limit(head: bytes, error: bytes, accelerated: bool) -> None:
    limits = RespLimits(max_inline_len=32)
    line = head + b"1" * (32 - len(head.rsplit(b"\n", 1)[-1]))
    replies, connection = run([line], accelerated, limits)
    assert (replies, connection.state) == (b"", ConnectionState.ACTIVE)
    replies, connection = run([line + b"1"], accelerated, limits)
    assert replies == b"-ERR Protocol error: " + error + b"\r\n"
    assert connection.close_reason is CloseReason.PROTOCOL_ERROR


@PATHS
def test_max_query_len_closes_without_a_reply(accelerated: bool) -> None:
    limits = RespLimits(max_query_len=10)
    replies, _ = run([cmd(b"SET", b"k", b"123456")], accelerated, limits)  # 3 + 1 + 6 bytes
    assert replies == b"+OK\r\n"
    replies, connection = run([cmd(b"SET", b"k", b"1234567")], accelerated, limits)
    assert replies == b""  # Redis closes a client past its query buffer limit silently
    assert connection.close_reason is CloseReason.PROTOCOL_ERROR


NOAUTH = b"-NOAUTH Authentication required.\r\n"


@PATHS
def test_unauthenticated_multibulk_len(accelerated: bool) -> None:
    ten = cmd(*[b"x"] * 10)
    replies, connection = run([ten], accelerated, password="pw")
    assert replies.startswith(b"-ERR unknown command 'x'")
    replies, connection = run([ten + cmd(*[b"x"] * 11)], accelerated, password="pw")
    assert replies.endswith(b"-ERR Protocol error: unauthenticated multibulk length\r\n")
    assert connection.close_reason is CloseReason.PROTOCOL_ERROR
    replies, connection = run([cmd(b"AUTH", b"pw") + cmd(*[b"x"] * 11)], accelerated, password="pw")
    assert replies.startswith(b"+OK\r\n-ERR unknown command 'x'")
    assert connection.state is ConnectionState.ACTIVE


@PATHS
def test_unauthenticated_bulk_len(accelerated: bool) -> None:
    at_max = cmd(b"ECHO", b"v" * 16384)
    replies, connection = run([at_max], accelerated, password="pw")
    assert (replies, connection.state) == (NOAUTH, ConnectionState.ACTIVE)
    replies, connection = run([cmd(b"ECHO", b"v" * 16385)], accelerated, password="pw")
    assert replies == b"-ERR Protocol error: unauthenticated bulk length\r\n"
    replies, connection = run(
        [cmd(b"AUTH", b"pw") + cmd(b"ECHO", b"v" * 16385)], accelerated, password="pw"
    )
    assert replies == b"+OK\r\n$16385\r\n" + b"v" * 16385 + b"\r\n"


@PATHS
@pytest.mark.parametrize(("max_bulk", "max_inline"), [(100, 16), (8, 40)])
def test_maximal_elements_fit_the_receive_buffer_in_any_cutting(
    max_bulk: int, max_inline: int, accelerated: bool
) -> None:
    # The Connection caps its buffer at max_message_size: a maximal bulk or line must
    # never fill it before the parser can take it.
    limits = RespLimits(max_bulk_len=max_bulk, max_inline_len=max_inline)
    stream = (
        cmd(b"SET", b"k", b"v" * max_bulk)
        + b"ECHO " + b"w" * (max_inline - 6) + b"\r\n"
        + b"*1\r\n$" + b"4" + b"\r\n" + b"PING\r\n"
    )  # fmt: skip
    expected = b"+OK\r\n$%d\r\n%s\r\n" % (max_inline - 6, b"w" * (max_inline - 6)) + PONG
    for chunks in ([stream], bytewise(stream), cut(stream, range(0, len(stream), 7))):
        replies, connection = run(chunks, accelerated, limits)
        assert replies == expected
        assert connection.state is ConnectionState.ACTIVE


# -- work under a slow drip ------------------------------------------------------------


@PATHS
def test_a_one_byte_drip_of_a_large_bulk_is_linear(accelerated: bool) -> None:
    value = b"d" * 100_000
    stream = cmd(b"SET", b"k", value) + cmd(b"STRLEN", b"k")
    connection = make_connection(accelerated)
    for chunk in bytewise(stream):
        connection.receive_data(chunk)
    assert connection.data_to_send() == b"+OK\r\n:100000\r\n"
    session = connection.session
    assert session is not None
    copied = session.parser.copied  # type: ignore[attr-defined]
    # A re-scan from the start on every byte would copy about len(stream) ** 2 / 2 bytes.
    assert copied <= 2 * len(stream)


@PATHS
def test_a_one_byte_drip_of_a_long_inline_line_is_linear(accelerated: bool) -> None:
    line = b"ECHO " + b"i" * 60_000 + b"\r\n"
    connection = make_connection(accelerated)
    connection.receive_data(PROLOGUE)
    for chunk in bytewise(line):
        connection.receive_data(chunk)
    assert connection.data_to_send() == PONG + b"$60000\r\n" + b"i" * 60_000 + b"\r\n"
    session = connection.session
    assert session is not None
    assert session.parser.copied <= 3 * (len(line) + len(PROLOGUE))  # type: ignore[attr-defined]


@PATHS
@pytest.mark.parametrize("inline", [False, True], ids=["multibulk", "inline"])
def test_the_commands_after_a_blocked_one_wait_in_the_buffer(
    accelerated: bool, inline: bool
) -> None:
    # The whole commands after BLPOP were taken at once but not run: keep() gives them
    # back, and they run once the push serves BLPOP.
    registry = Registry()
    register(registry, RespProvider(accelerated=accelerated, clock=lambda: START))
    blocked, pusher = Connection(registry), Connection(registry)
    commands = [[b"PING"], [b"BLPOP", b"k", b"0"], [b"PING"], [b"ECHO", b"x"]]
    if inline:
        batch = b"PING\r\nBLPOP k 0\r\n\r\nPING\nECHO  x\r\n"
    else:
        batch = b"".join(cmd(*argv) for argv in commands)
    blocked.receive_data(batch)
    assert blocked.data_to_send() == PONG
    pusher.receive_data(cmd(b"RPUSH", b"k", b"v"))
    assert pusher.data_to_send() == b":1\r\n"
    assert blocked.data_to_send() == b"*2\r\n$1\r\nk\r\n$1\r\nv\r\n" + PONG + b"$1\r\nx\r\n"
    for connection in (blocked, pusher):
        connection.close(CloseReason.PEER_CLOSED)


def test_parser_state_survives_between_batches() -> None:
    parser = RequestParser(RespLimits())
    data = cmd(b"SET", b"key", b"value")
    assert parser.begin(memoryview(data[:20]))
    assert parser.next_command() is None
    consumed = parser.end()
    assert 0 < consumed < 20  # the header lines and "SET" are consumed
    assert not parser.idle
    rest = data[consumed:]
    assert parser.begin(memoryview(rest))
    assert parser.next_command() == [b"SET", b"key", b"value"]
    assert parser.end() == len(rest)
    assert parser.idle


def test_parser_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIREPROTO_RESP_PARSER", "pure")
    assert not RespProvider().accelerated
    monkeypatch.setenv("WIREPROTO_RESP_PARSER", "hiredis")
    assert RespProvider().accelerated
    monkeypatch.setenv("WIREPROTO_RESP_PARSER", "auto")
    assert RespProvider().accelerated is parser_module.HIREDIS_AVAILABLE
    assert not RespProvider(accelerated=False).accelerated
    monkeypatch.setenv("WIREPROTO_RESP_PARSER", "fastest")
    with pytest.raises(ValueError, match="WIREPROTO_RESP_PARSER"):
        RespProvider()
