"""Key specs: Redis's key finding over them (``getKeysUsingKeySpecs`` and the getkeys_proc
fallbacks), the (first, last, step) Redis derives from them, and COMMAND GETKEYS's errors.

The bytes expected here are redis-server 7.0.15's (``tests/e2e/test_keyspecs_against_redis.py``
compares every command and random argument lists with the real server)."""

from __future__ import annotations

import pytest
from _resp import Client
from hypothesis import given
from hypothesis import strategies as st
from wireproto.providers.resp.commands._keyspec import (
    ACCESS,
    DELETE,
    GETKEYS_PROCS,
    INCOMPLETE,
    INSERT,
    KEY_FLAG_NAMES,
    NOT_KEY,
    OW,
    RO,
    RW,
    UPDATE,
    Index,
    KeyNum,
    KeySpec,
    Keyword,
    Range,
    Unknown,
    _atoi,
    _from_specs,
    flag_names,
    get_keys,
    legacy_range,
)
from wireproto.providers.resp.commands._keyspecs import ARITY, KEY_SPECS
from wireproto.providers.resp.commands._keyspecs import GETKEYS_PROCS as PROC_OF
from wireproto.providers.resp.commands._meta import key_specs, legacy_key_positions
from wireproto.providers.resp.commands._table import COMMANDS


def _argv(*args: str) -> list[bytes]:
    return [arg.encode() for arg in args]


def keys_of(name: str, *args: str) -> list[tuple[int, int]]:
    return get_keys(KEY_SPECS[name], PROC_OF.get(name), _argv(name, *args))


def test_lmove_keys_carry_their_own_flags() -> None:
    assert keys_of("lmove", "a", "b", "left", "left") == [
        (1, RW | ACCESS | DELETE),
        (2, RW | INSERT),
    ]
    assert flag_names(RW | ACCESS | DELETE) == ("RW", "access", "delete")


def test_keynum_counts_the_keys() -> None:
    spec = RW | ACCESS | UPDATE
    assert keys_of("eval", "x", "3", "k1", "k2", "k3", "a") == [(3, spec), (4, spec), (5, spec)]
    assert keys_of("zunionstore", "d", "2", "a", "b", "WEIGHTS", "1", "2") == [
        (1, OW | UPDATE),
        (3, RO | ACCESS),
        (4, RO | ACCESS),
    ]


@pytest.mark.parametrize(
    ("numkeys", "expected"),
    [
        ("0", []),  # no key: the spec fails, evalGetKeys finds none either
        ("-1", []),
        ("4", []),  # more keys than arguments
        ("3abc", [(3, 0), (4, 0), (5, 0)]),  # string2ll refuses it, atoi reads 3
        (" 2", [(3, 0), (4, 0)]),
        ("+1", [(3, 0)]),
        ("02", [(3, 0), (4, 0)]),
        ("4294967297", [(3, RW | ACCESS | UPDATE)]),  # a C int keeps the low 32 bits
        ("-4294967295", [(3, 0)]),
    ],
)
def test_a_bad_keynum_falls_back_to_evalgetkeys(numkeys: str, expected: list[object]) -> None:
    assert keys_of("eval", "x", numkeys, "k1", "k2", "k3") == expected


def test_atoi_is_glibcs() -> None:
    assert [_atoi(arg) for arg in (b" 3", b"+3", b"3abc", b"abc", b"-1", b"", b"-")] == [
        3,
        3,
        3,
        0,
        -1,
        0,
        0,
    ]
    assert _atoi(b"4294967297") == 1
    assert _atoi(b"99999999999999999999") == -1  # strtol clamps to LONG_MAX, int cuts it
    assert _atoi(b"7\x008") == 7


def test_keyword_search_forward_with_a_limited_range() -> None:
    read = RO | ACCESS
    assert keys_of("xread", "COUNT", "2", "STREAMS", "a", "b", "0", "0") == [(4, read), (5, read)]
    # an odd count of names and ids: the spec still answers (Redis's limit arithmetic)
    assert keys_of("xread", "STREAMS", "a", "b", "0") == [(2, read)]
    # no STREAMS: the spec finds nothing and is not an error; xreadGetKeys is not asked
    assert keys_of("xread", "COUNT", "2") == []


def test_keyword_search_backwards_then_incomplete_falls_back() -> None:
    spec = KeySpec(("RW",), Keyword("KEYS", -2), Range(-1, 1, 0))
    argv = _argv("cmd", "x", "KEYS", "a", "b")
    assert get_keys((spec,), None, argv) == [(3, RW), (4, RW)]
    assert get_keys((spec,), None, _argv("cmd", "x", "y", "KEYS", "a")) == [(4, RW)]
    # the search starts at -2: a last argument KEYS is never found, nor argv[1]
    assert get_keys((spec,), None, _argv("cmd", "KEYS", "y", "z", "KEYS")) == []
    incomplete = KeySpec(("RW", "incomplete"), Keyword("KEYS", -2), Range(-1, 1, 0))
    assert get_keys((incomplete,), None, argv) == []
    # too short for KEYS: migrateGetKeys takes argv[3] for the one key
    assert get_keys((incomplete,), "migrateGetKeys", argv) == [(3, RW | ACCESS | DELETE)]
    migrate = _argv("migrate", "h", "1", "", "0", "5", "COPY", "AUTH", "p", "KEYS", "a", "b")
    flags = RW | ACCESS | DELETE
    assert get_keys(KEY_SPECS["migrate"], "migrateGetKeys", migrate) == [(10, flags), (11, flags)]


def test_unknown_and_not_key_specs() -> None:
    sort = _argv("sort", "k", "BY", "w*", "STORE", "d", "LIMIT", "0", "1")
    assert keys_of("sort", *[a.decode() for a in sort[1:]]) == [(1, RO | ACCESS), (5, OW | UPDATE)]
    assert keys_of("sort", "k", "STORE") == [(1, RO | ACCESS)]  # STORE without its key
    assert keys_of("sort", "k", "GET", "STORE", "x") == [(1, RO | ACCESS)]  # GET's pattern
    assert keys_of("sort_ro", "k", "BY", "x") == [(1, RO | ACCESS)]
    not_key = KeySpec(("not_key",), Index(1), Range(0, 1, 0))
    assert get_keys((not_key,), None, _argv("spublish", "ch", "m")) == []
    assert KEY_SPECS["spublish"][0].bits & NOT_KEY


def test_variable_flags_ask_the_getkeys_proc() -> None:
    assert keys_of("set", "k", "v") == [(1, OW | UPDATE)]
    assert keys_of("set", "k", "v", "EX", "1", "gEt") == [(1, RW | ACCESS | UPDATE)]
    assert keys_of("set", "k", "v", "get\x00x") == [(1, RW | ACCESS | UPDATE)]  # C string
    assert keys_of("bitfield", "k", "GET", "u8", "0") == [(1, RO | ACCESS)]
    assert keys_of("bitfield", "k", "OVERFLOW", "SAT", "INCRBY", "u8", "0", "1") == [
        (1, RW | ACCESS | UPDATE)
    ]
    assert keys_of("bitfield", "k", "GET", "u8") == [(1, RW | ACCESS | UPDATE)]  # too short


def test_getkeys_procs_of_fully_specified_commands() -> None:
    assert GETKEYS_PROCS["georadiusGetKeys"](
        _argv("georadius", "k", "0", "0", "1", "km", "STORE", "a", "STOREDIST", "b")
    ) == [(1, 0), (9, 0)]
    assert GETKEYS_PROCS["xreadGetKeys"](
        _argv("xreadgroup", "GROUP", "g", "c", "NOACK", "STREAMS", "a", "b", "0", "0")
    ) == [(6, 0), (7, 0)]
    assert GETKEYS_PROCS["xreadGetKeys"](_argv("xread", "STREAMS", "a", "b", "0")) == []
    assert GETKEYS_PROCS["zunionInterDiffStoreGetKeys"](_argv("zdiffstore", "d", "1", "a")) == [
        (3, 0),
        (1, 0),
    ]


@pytest.mark.parametrize(
    ("name", "legacy", "movable"),
    [
        ("get", (1, 1, 1), False),
        ("lmove", (1, 2, 1), False),
        ("rename", (1, 2, 1), False),
        ("mset", (1, -1, 2), False),
        ("bitop", (2, -1, 1), False),
        ("xread", (0, 0, 0), True),
        ("eval", (0, 0, 0), True),
        ("sort", (1, 1, 1), True),
        ("migrate", (3, 3, 1), True),
        ("zunionstore", (1, 1, 1), True),
        ("georadius", (1, 1, 1), True),
        ("ping", (0, 0, 0), False),
    ],
)
def test_legacy_range_is_redis(name: str, legacy: tuple[int, int, int], movable: bool) -> None:
    assert legacy_range(KEY_SPECS[name]) == (legacy, movable)


def test_legacy_range_needs_consecutive_plain_ranges() -> None:
    one = KeySpec(("RW",), Index(1), Range(0, 1, 0))
    three = KeySpec(("RW",), Index(3), Range(0, 1, 0))
    assert legacy_range((one, three)) == ((1, 1, 1), True)
    stepped = KeySpec(("RW",), Index(2), Range(-1, 2, 0))
    assert legacy_range((one, stepped)) == ((1, 1, 1), True)
    unknown = KeySpec(("RW",), Unknown(), Unknown())
    assert legacy_range((unknown,)) == ((0, 0, 0), True)
    keynum = KeySpec(("RW",), Index(1), KeyNum(0, 1, 1))
    assert legacy_range((keynum, unknown)) == ((0, 0, 0), True)


RANGES = st.builds(
    lambda first, lastkey, step: KeySpec(("RO",), Index(first), Range(lastkey, step, 0)),
    st.integers(1, 4),
    st.integers(-3, 4),
    st.integers(1, 3),
)


@given(RANGES, st.integers(0, 12))
def test_a_plain_range_finds_what_first_last_step_say(spec: KeySpec, extra: int) -> None:
    argv = [b"a%d" % i for i in range(1 + extra)]
    (first, last, step), _ = legacy_range((spec,))
    end = len(argv) + last if last < 0 else last
    expected = list(range(first, end + 1, step))
    if end >= len(argv) or end < first or first >= len(argv):
        expected = []  # the spec cannot tell: no getkeys_proc to ask
    assert [i for i, _ in get_keys((spec,), None, argv)] == expected


ARGS = st.sampled_from([b"k", b"2", b"0", b"-1", b"STREAMS", b"KEYS", b"STORE", b"GET"])


@given(st.sampled_from(sorted(KEY_SPECS)), st.data())
def test_found_keys_are_arguments(name: str, data: st.DataObject) -> None:
    arity = ARITY[name]  # Redis checks it before it looks for keys
    most = arity - 1 if arity > 0 else -arity + 6
    args = data.draw(st.lists(ARGS, min_size=abs(arity) - 1, max_size=most))
    argv = [name.encode(), *args]
    for position, bits in get_keys(KEY_SPECS[name], PROC_OF.get(name), argv):
        assert 1 <= position < len(argv)
        assert not bits & INCOMPLETE


def test_the_data_is_well_formed() -> None:
    for name, specs in KEY_SPECS.items():
        assert name == name.lower()
        for spec in specs:
            assert spec.flags == flag_names(spec.bits), name
    assert set(PROC_OF.values()) <= set(GETKEYS_PROCS)
    assert set(ARITY) == set(KEY_SPECS)


def test_our_table_agrees_with_redis_on_arity() -> None:
    for command in {id(c): c for c in COMMANDS.values()}.values():
        for each in [command, *(command.subcommands or {}).values()]:
            if each.name in ARITY and each.name not in ("zrank", "zrevrank"):  # 7.2's WITHSCORE
                assert each.arity == ARITY[each.name], each.name


def test_commands_redis_lacks_get_a_spec_from_their_positions() -> None:
    setinfo = COMMANDS[b"client"].subcommands[b"setinfo"]  # type: ignore[index]
    assert key_specs(setinfo) == ()
    assert all(name in KEY_SPECS for name in ("get", "xgroup|create", "object|encoding"))
    assert KEY_FLAG_NAMES[:4] == ("RO", "RW", "OW", "RM")


@pytest.mark.parametrize("accelerated", [False, True])
def test_getkeys_replies(accelerated: bool) -> None:
    client = Client(accelerated)
    asked = [
        (("EVAL", "x", "3", "k1", "k2", "k3", "a"), b"*3\r\n$2\r\nk1\r\n$2\r\nk2\r\n$2\r\nk3\r\n"),
        (("EVAL", "x", "0"), b"*0\r\n"),  # no_mandatory_keys
        (("ZUNIONSTORE", "d", "5", "a"), b"-ERR Invalid arguments specified for command\r\n"),
        (("SPUBLISH", "ch", "m"), b"-ERR The command has no key arguments\r\n"),
        (("PING", "a", "b", "c"), b"-ERR The command has no key arguments\r\n"),
        (("OBJECT", "nosuch", "k"), b"-ERR Invalid command specified\r\n"),
        (("XGROUP", "nosuch", "k"), b"-ERR Invalid command specified\r\n"),
        (("XGROUP", "CREATE", "s", "g", "$"), b"*1\r\n$1\r\ns\r\n"),
        (("XGROUP", "CREATE", "s"), b"-ERR Invalid number of arguments specified for command\r\n"),
        (("GET", "a", "b"), b"-ERR Invalid number of arguments specified for command\r\n"),
        (("XINFO", "STREAM", "s"), b"*1\r\n$1\r\ns\r\n"),
    ]
    for args, expected in asked:
        assert client.call("COMMAND", "GETKEYS", *args) == expected, args
    assert client.call("COMMAND", "GETKEYSANDFLAGS", "LMOVE", "a", "b", "LEFT", "LEFT") == (
        b"*2\r\n*2\r\n$1\r\na\r\n*3\r\n+RW\r\n+access\r\n+delete\r\n"
        b"*2\r\n$1\r\nb\r\n*2\r\n+RW\r\n+insert\r\n"
    )
    assert client.call("HELLO", "3").startswith(b"%")
    assert client.call("COMMAND", "GETKEYSANDFLAGS", "SET", "k", "v", "GET") == (
        b"*1\r\n*2\r\n$1\r\nk\r\n~3\r\n+RW\r\n+access\r\n+update\r\n"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("mget", "a", "b"), [1, 2]),
        (("lmove", "a", "b", "LEFT", "LEFT"), [1, 2]),  # Redis's (1, 2, 1) of its two specs
        (("mset", "a", "1", "b", "2"), [1, 3]),
        (("xinfo", "STREAM", "s"), [2]),  # xinfo|stream's, though our table has one XINFO
        (("xinfo", "HELP"), []),
        (("eval", "x", "2", "a", "b", "c"), [3, 4]),  # evalGetKeys
        (("sort", "k", "BY", "p", "STORE", "d"), [1, 5]),  # sortGetKeys
        (("xread", "STREAMS", "a", "0"), [2]),  # xreadGetKeys
        (("zunion", "2", "a"), []),  # too few keys
        (("bitop", "AND", "d", "a", "b"), [2, 3, 4]),
    ],
)
def test_tracking_finds_keys_as_getkeysfromcommand(
    args: tuple[str, ...], expected: list[int]
) -> None:
    command = COMMANDS[args[0].encode()]
    if command.subcommands is not None:
        command = command.subcommands[args[1].lower().encode()]
    assert legacy_key_positions(command, _argv(*args)) == expected


SPECS = st.builds(
    KeySpec,
    st.sampled_from([("RO", "access"), ("RW", "update"), ("RW", "incomplete"), ("not_key",)]),
    st.one_of(
        st.builds(Index, st.integers(1, 4)),
        st.builds(Keyword, st.sampled_from(["K", "STORE"]), st.integers(-3, 3).filter(bool)),
    ),
    st.one_of(
        st.builds(Range, st.integers(-3, 3), st.integers(1, 2), st.sampled_from([0, 0, 2])),
        st.builds(KeyNum, st.integers(0, 2), st.integers(1, 2), st.integers(1, 2)),
    ),
)


@given(
    st.lists(SPECS, min_size=1, max_size=3).map(tuple),
    st.lists(st.sampled_from([b"k", b"K", b"store", b"1", b"2", b"-1", b"x"]), max_size=8),
)
def test_the_shortcut_for_plain_ranges_is_redis_s_search(
    specs: tuple[KeySpec, ...], args: list[bytes]
) -> None:
    argv = [b"cmd", *args]
    expected = _from_specs(specs, argv) if any(not s.bits & NOT_KEY for s in specs) else None
    assert get_keys(specs, None, argv) == (expected or [])
