"""The direct path's own handlers (PING, SET key value, GET key) answer as the commands do.

``RespSession.run_commands`` runs a few commands through handlers of its own, made
for their one argument count; whatever the store holds and whichever protocol the
client speaks, each must give the reply and leave the store as the command's
handler in the table would.
"""

from __future__ import annotations

from collections import deque

from _drive import HandlerSender
from hypothesis import given, settings
from hypothesis import strategies as st
from wireproto.providers.kvstore import WrongType
from wireproto.providers.resp import RESP, RespProvider, pure_parser
from wireproto.providers.resp.commands import COMMANDS
from wireproto.providers.resp.commands._base import WRONGTYPE
from wireproto.providers.resp.replies import NULL3
from wireproto.providers.resp.session import _DIRECT, RespSession


def _substitutes() -> list[tuple[int, bytes]]:
    """(argc, name) of every direct entry whose handler is not the command's own
    (nor the slow log's timing of it)."""
    return [
        (argc, name)
        for argc, table in enumerate(_DIRECT)
        for name, entry in table.items()
        if entry[0] is not COMMANDS[name].handler and not COMMANDS[name].timed
    ]


def _run(handler: object, session: RespSession, argv: list[bytes]) -> bytes:
    try:
        return handler(session, argv)  # type: ignore[operator,no-any-return]
    except WrongType:
        return WRONGTYPE


def test_the_direct_path_has_its_own_ping_set_and_get() -> None:
    lowered = {(argc, name.lower()) for argc, name in _substitutes()}
    assert lowered >= {(1, b"ping"), (3, b"set"), (2, b"get")}


STATES = st.sampled_from(["missing", "string", "appended", "expiring", "list"])
VALUES = st.binary(max_size=40) | st.sampled_from([b"x" * 1023, b"x" * 1024, b"x" * 1025])


def test_the_direct_tables_key_the_walks_shared_names_by_identity() -> None:
    """A walked GET or SET is found by identity: the table's key is the parser's object."""
    keys = {id(name) for table in _DIRECT for name in table}
    direct_names = {name for table in _DIRECT for name in table}
    shared = [name for name in pure_parser._SHARED_NAMES if name in direct_names]
    assert b"GET" in shared and b"SET" in shared
    assert all(id(name) in keys for name in shared)


@settings(max_examples=200, deadline=None)
@given(state=STATES, held=VALUES, value=VALUES, resp3=st.booleans())
def test_each_substitute_answers_and_writes_as_the_command_does(
    state: str, held: bytes, value: bytes, resp3: bool
) -> None:
    sessions = []
    for _ in range(2):
        provider = RespProvider()
        session = provider.create_session(RESP, HandlerSender())
        assert isinstance(session, RespSession)
        if resp3:
            session.null = NULL3
        store = provider.store
        if state == "string":
            store.set(b"k", held)
        elif state == "appended":  # a bytearray inside the store
            store.set(b"k", held)
            store.append(b"k", b"!")
        elif state == "expiring":
            store.set(b"k", held, expire_at=4_102_444_800_000)  # 2100: a fixed time, one for both
        elif state == "list":
            store.write_container(b"k", deque).append(held)
            store.container_written(b"k", b"rpush")
        sessions.append(session)
    direct, by_command = sessions
    for argc, name in _substitutes():
        argv = [name, b"k", value][:argc]
        assert _run(_DIRECT[argc][name][0], direct, argv) == _run(
            COMMANDS[name].handler, by_command, argv
        ), (name, argc, state)
        assert direct.store.stored(b"k") == by_command.store.stored(b"k")
