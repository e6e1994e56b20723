"""The Lua libraries Redis preloads for scripts (cjson, cmsgpack, bit, struct) byte for byte
against a real ``redis-server``: fixed examples (encodings, limits, every error message), then
Hypothesis-generated Lua values encoded with cjson and cmsgpack, decode round trips, bit
operations and struct formats on generated inputs. Each script returns its result without a
tail call (``return (f(x))``), so errors carry the caller's line as Redis's C functions do."""

from __future__ import annotations

import math
from pathlib import Path

from _differential import Pair, same
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = [
    block.strip()
    for block in (Path(__file__).parent / "lua_library_examples.lua").read_text().split("\n====\n")
    if block.strip() and not block.startswith("-- ")
]
"""Scripts with fixed inputs: encodings at every size boundary, limits, each error message."""

SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def test_library_examples_match_redis(pair: Pair) -> None:
    for script in EXAMPLES:
        same(pair, ("EVAL", script, "0"))


def test_config_functions_match_redis(pair: Pair) -> None:
    script = (
        "local before = {cjson.encode_sparse_array(true, 3, 5)}"
        " local sparse = cjson.encode({[1] = 1, [20] = 2})"
        " cjson.encode_sparse_array(false, 2, 10)"
        " cjson.encode_number_precision(3) local short = cjson.encode(math.pi)"
        " cjson.encode_number_precision(14)"
        " cjson.encode_invalid_numbers('null') local inf = cjson.encode({1 / 0})"
        " cjson.encode_invalid_numbers(false)"
        " return {tostring(before[1]), before[2], before[3], sparse, short, inf}"
    )
    same(pair, ("EVAL", script, "0"))
    same(pair, ("EVAL", "return (cjson.encode_max_depth(0))", "0"))
    same(pair, ("EVAL", "return (cjson.encode_keep_buffer('maybe'))", "0"))


def test_version_fields_agree_with_info(pair: Pair) -> None:
    """redis.REDIS_VERSION is the version INFO names and REDIS_VERSION_NUM is derived from it
    the same way on both (both say 7.0.15)."""
    script = "return {redis.REDIS_VERSION, redis.REDIS_VERSION_NUM}"
    theirs, ours = pair.run(("EVAL", script, "0"))
    for reply in (theirs, ours):
        version = reply.split(b"\r\n")[2]
        major, minor, patch = (int(part) for part in version.split(b"."))
        assert reply.split(b"\r\n")[3] == b":%d" % ((major << 16) | (minor << 8) | patch)
    assert ours == theirs


def _lua_string(data: bytes) -> str:
    return '"' + "".join(f"\\{byte}" for byte in data) + '"'


def _lua_number(value: float | int) -> str:
    if isinstance(value, float):
        text = f"{value:.17g}"
        return f"({text})" if text.startswith("-") else text
    return f"({value})" if value < 0 else str(value)


NUMBERS = st.one_of(
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.1, 1.5, -0.0, 2.0**63, -(2.0**63), 2.0**64, 1e15, 123456789012345.6]),
).map(_lua_number)
SCALARS = st.one_of(
    NUMBERS,
    st.binary(max_size=12).map(_lua_string),
    st.sampled_from(["true", "false"]),
)
KEYS = st.one_of(
    st.binary(max_size=6).map(lambda key: f"[{_lua_string(key)}]"),
    st.integers(min_value=-3, max_value=40).map(lambda key: f"[{_lua_number(key)}]"),
)


def _tables(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    arrays = st.lists(children, max_size=5).map(lambda items: "{" + ", ".join(items) + "}")
    maps = st.dictionaries(KEYS, children, max_size=4).map(
        lambda items: "{" + ", ".join(f"{k} = {v}" for k, v in items.items()) + "}"
    )
    return st.one_of(arrays, maps)


VALUES = st.recursive(SCALARS, _tables, max_leaves=12)


@SETTINGS
@given(value=VALUES)
def test_cjson_encodings_match_redis(pair: Pair, value: str) -> None:
    same(pair, ("EVAL", f"return (cjson.encode({value}))", "0"))


@SETTINGS
@given(value=VALUES)
def test_cmsgpack_encodings_and_round_trips_match_redis(pair: Pair, value: str) -> None:
    same(pair, ("EVAL", f"return (cmsgpack.pack({value}, {value}))", "0"))
    round_trip = f"return (cmsgpack.pack(cmsgpack.unpack(cmsgpack.pack({value}, 7))))"
    same(pair, ("EVAL", round_trip, "0"))
    json_trip = f"return (cmsgpack.pack(cjson.decode(cjson.encode({value}))))"
    same(pair, ("EVAL", json_trip, "0"))


@SETTINGS
@given(
    text=st.one_of(
        st.binary(max_size=24),
        st.lists(
            st.sampled_from(
                [
                    b"[",
                    b"]",
                    b"{",
                    b"}",
                    b",",
                    b":",
                    b'"a"',
                    b"1",
                    b"-2.5e3",
                    b"0x1F",
                    b"true",
                    b"null",
                    b"nan",
                    b"-inf",
                    b" ",
                    b'"\\u00e9"',
                    b'"\\ud83d\\ude00"',
                    b'"\\x"',
                    b"+1",
                    b"01",
                    b"1e",
                    b'"\\ud800"',
                    b"\t",
                    b"\x00",
                    b"Infinity",
                ]
            ),
            max_size=10,
        ).map(b"".join),
    )
)
def test_cjson_decoding_matches_redis(pair: Pair, text: bytes) -> None:
    script = (
        "local ok, v = pcall(cjson.decode, ARGV[1])"
        " if not ok then return 'error: ' .. v end return (cmsgpack.pack(v))"
    )
    same(pair, ("EVAL", script, "0", text))


@SETTINGS
@given(data=st.binary(max_size=24), offset=st.integers(min_value=-1, max_value=26))
def test_cmsgpack_unpacking_of_any_bytes_matches_redis(
    pair: Pair, data: bytes, offset: int
) -> None:
    script = (
        "local ok, a, b = pcall(cmsgpack.unpack_one, ARGV[1], tonumber(ARGV[2]))"
        " if not ok then return 'error: ' .. a end return {a, (cmsgpack.pack(b))}"
    )
    same(pair, ("EVAL", script, "0", data, str(offset)))
    whole = (
        "local r = {pcall(cmsgpack.unpack, ARGV[1])}"
        " if not r[1] then return 'error: ' .. r[2] end"
        " return (cmsgpack.pack(unpack(r, 2, table.maxn(r))))"
    )
    same(pair, ("EVAL", whole, "0", data))


BIT_NUMBERS = st.one_of(
    st.integers(min_value=-(2**40), max_value=2**40),
    st.integers(min_value=-(2**62), max_value=2**62),
    st.floats(min_value=-1e20, max_value=1e20),
    st.sampled_from([0.5, 1.5, 2.5, -0.5, 2.0**31, 2.0**32, -(2.0**31), 2.0**52, 2.0**53]),
).map(_lua_number)


@SETTINGS
@given(
    op=st.sampled_from(
        [
            "tobit",
            "bnot",
            "bswap",
            "band",
            "bor",
            "bxor",
            "lshift",
            "rshift",
            "arshift",
            "rol",
            "ror",
            "tohex",
        ]
    ),
    args=st.lists(BIT_NUMBERS, min_size=1, max_size=3),
)
def test_bit_operations_match_redis(pair: Pair, op: str, args: list[str]) -> None:
    script = f"return tostring(bit.{op}({', '.join(args)}))"
    same(pair, ("EVAL", script, "0"))


INT_FORMATS = ["b", "B", "h", "H", "l", "L", "T", "i", "I", "i1", "I3", "i8", "I7", "i5"]


def _struct_items() -> st.SearchStrategy[tuple[str, str | None]]:
    integers = st.tuples(
        st.sampled_from(INT_FORMATS),
        st.integers(min_value=-(2**53), max_value=2**53).map(_lua_number),
    )
    floats = st.tuples(st.sampled_from(["f", "d"]), NUMBERS)
    strings = st.one_of(
        st.binary(max_size=5).map(lambda s: ("c" + str(len(s)) if s else "c0", _lua_string(s))),
        st.binary(max_size=5)
        .map(lambda s: s.replace(b"\0", b""))
        .map(lambda s: ("s", _lua_string(s))),
    )
    controls = st.tuples(
        st.sampled_from(["<", ">", "!", "!1", "!2", "!4", "!8", " ", "x"]), st.none()
    )
    return st.one_of(integers, floats, strings, controls)


@SETTINGS
@given(items=st.lists(_struct_items(), max_size=6))
def test_struct_pack_unpack_and_size_match_redis(
    pair: Pair, items: list[tuple[str, str | None]]
) -> None:
    fmt = "".join(option for option, _ in items)
    args = ", ".join(arg for _, arg in items if arg is not None)
    packing = f"struct.pack({_lua_string(fmt.encode())}{', ' if args else ''}{args})"
    script = (
        f"local ok, packed = pcall(function() return {packing} end)"
        " if not ok then return 'error: ' .. packed end"
        f" local r = {{pcall(struct.unpack, {_lua_string(fmt.encode())}, packed)}}"
        " local out = {packed} for i = 2, table.maxn(r) do out[#out + 1] = tostring(r[i]) end"
        f" out[#out + 1] = tostring(select(2, pcall(struct.size, {_lua_string(fmt.encode())})))"
        " return out"
    )
    same(pair, ("EVAL", script, "0"))


def test_generated_numbers_are_lua_literals() -> None:
    assert _lua_number(-0.0) == "(-0)"
    assert _lua_number(2**53) == str(2**53)
    assert math.isclose(float(_lua_number(0.1)), 0.1)
