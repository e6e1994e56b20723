"""The Lua libraries Redis preloads for scripts (cjson, cmsgpack, bit, struct) byte for byte
against a real ``redis-server``: fixed examples (encodings, limits, every error message), then
Hypothesis-generated Lua values encoded with cjson and cmsgpack, decode round trips, bit
operations and struct formats on generated inputs. Each script returns its result without a
tail call (``return (f(x))``), so errors carry the caller's line as Redis's C functions do."""

from __future__ import annotations

import math

from _differential import Pair, same
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = [
    "return (cjson.encode({1,2}))",
    "return (cjson.encode({}))",
    "return (cjson.encode({a=1}))",
    'return (cjson.encode({1.5, -0.0, 1e300, 123456789012345678, 0.1, "a\\0b\\"\\\\/\\127\\1\\n", true, false}))',
    "return (cjson.encode({[1]=1,[3]=3}))",
    "return (cjson.encode({[1]=1,[30]=3}))",
    "return (cjson.encode(1/0))",
    "return (cjson.encode(0/0))",
    "return (cjson.encode({[true]=1}))",
    "return (cjson.encode(function() end))",
    "return (cjson.encode())",
    "return (cjson.encode(1, 2))",
    "return (cjson.encode(cjson.null))",
    "return (cjson.encode({cjson.null, 1}))",
    "return type(cjson.null)",
    "return cjson.decode('null') == cjson.null",
    'return (cjson.decode(\'[1,2,"x",{"a":[true,false,null]}]\'))',
    'return (cjson.encode(cjson.decode(\'{"a":[1,2,{"b":"\\\\u00e9\\\\ud83d\\\\ude00\\\\n"}]}\')))',
    "return (cjson.decode('[1,2'))",
    "return (cjson.decode('[1,2,]'))",
    "return (cjson.decode('{\"a\" 1}'))",
    "return (cjson.decode('{1:1}'))",
    "return (cjson.decode('\"abc'))",
    "return (cjson.decode('\"a\\\\qb\"'))",
    "return (cjson.decode('\"a\\\\ud800b\"'))",
    "return (cjson.decode('tru'))",
    "return (cjson.decode('[1] x'))",
    "return (cjson.decode(''))",
    "return (cjson.decode('  '))",
    "return (cjson.decode('0x10'))",
    "return cjson.decode('-inf') == -math.huge",
    "return tostring(cjson.decode('nan'))",
    "return (cjson.decode('+1'))",
    "return (cjson.decode('1e5'))",
    "return (cjson.decode('.5'))",
    "return (cjson.decode('a\\0'))",
    "return (cjson.decode('[1]\\0junk'))",
    "return (cjson.decode(string.rep('[', 1001)))",
    "return cjson.decode(string.rep('[', 1000) .. string.rep(']', 1000)) ~= nil",
    "local t = {} local c = t for i = 1, 1000 do c[1] = {} c = c[1] end return (cjson.encode(t))",
    "local t = {} local c = t for i = 1, 999 do c[1] = {} c = c[1] end return #cjson.encode(t)",
    "return (cjson.decode(5))",
    "return (cjson.decode({}))",
    "return (cjson.decode())",
    "return {cjson.encode_sparse_array()}",
    "return {cjson.encode_max_depth(), cjson.decode_max_depth(), cjson.encode_number_precision(), tostring(cjson.encode_keep_buffer()), tostring(cjson.encode_invalid_numbers()), tostring(cjson.decode_invalid_numbers())}",
    "return cjson._NAME .. cjson._VERSION",
    "return {cjson.null}",
    "return cjson.null",
    "return (cjson.decode('\"\\\\u0000x\"'))",
    "return (cjson.decode('1 2'))",
    "return (cjson.decode('[1,,2]'))",
    "return (cjson.decode('{\"a\":1,}'))",
    "return (cjson.decode('@'))",
    "return (cmsgpack.pack(1, -1, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649, 2^53, -2^53, 2^63, -2^63, 1.5, 0.1, 1e300, 1/0, -1/0, 0/0, -0.0))",
    'return (cmsgpack.pack({1,2,3}, {}, {a=1}, {[1]=1,[3]=3}, {[0]=1}, "x", string.rep("y", 40), string.rep("z", 300), string.rep("w", 70000), true, false, nil, cjson.null))',
    "return (cmsgpack.pack())",
    "local t = {} local c = t for i = 1, 20 do c[1] = {} c = c[1] end return (cmsgpack.pack(t))",
    'return {cmsgpack.unpack(cmsgpack.pack(1, 2, "x", {1, {a = 2}}))}',
    "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3))}",
    "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 1)}",
    "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 2)}",
    "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 3)}",
    "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}",
    "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0, 0)}",
    "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 5, 1)}",
    "local x = {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), -1)} return x",
    "local x = {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 9)} return x",
    "local x = {cmsgpack.unpack('\\193')} return x",
    "local x = {cmsgpack.unpack('\\205\\1')} return x",
    "local x = {cmsgpack.unpack('\\145')} return x",
    "local x = {cmsgpack.unpack()} return x",
    "local x = {cmsgpack.unpack_limit('a')} return x",
    "local x = {cmsgpack.unpack('')} return #x",
    "local a, b, c = cmsgpack.unpack(cmsgpack.pack(1.5, 0.1, 2^40)) return {tostring(a), tostring(b), tostring(c)}",
    "local a, b = cmsgpack.unpack('\\211\\255\\255\\255\\255\\255\\255\\255\\255\\207\\255\\255\\255\\255\\255\\255\\255\\255') return {tostring(a), tostring(b)}",
    "local a = cmsgpack.unpack('\\202\\127\\192\\0\\0') return tostring(a)",
    "return cmsgpack._VERSION",
    'return {bit.tobit(2^32 + 5), bit.tobit(-1), bit.tobit(2^31), bit.tobit(1.5), bit.tobit(2.5), bit.tobit("12"), bit.tobit(2^60 + 3)}',
    "return {bit.band(0xff, 0x0f, 0x3), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.bnot(0), bit.lshift(1, 31), bit.lshift(1, 32), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.rol(0x12345678, 8), bit.ror(0x12345678, 8), bit.bswap(0x12345678)}",
    "return {bit.tohex(255), bit.tohex(-1, -4), bit.tohex(0x1234, 2), bit.tohex(1, 20)}",
    "local x = bit.band() return x",
    'local x = bit.band(1, "x") return x',
    "local x = bit.tohex(1, {}) return x",
    'return (struct.pack(">i2<I4bBhHlLTfdxc3s", 1, 2, -3, 200, -5, 6, -7, 8, 9, 1.5, 2.25, "abcd", "zz"))',
    'return (struct.pack("!4 b i4 !8 d", 1, 2, 3.5))',
    'return {struct.unpack(">i2<I4bB", struct.pack(">i2<I4bB", -1, 4000000000, -3, 200))}',
    'return {struct.unpack("bc0s", "\\3abcxy\\0rest")}',
    'return {struct.size("i4 d !8 d")}',
    'local x = struct.size("s") return x',
    'local x = struct.pack("q", 1) return x',
    'local x = struct.pack("i", "x") return x',
    'local x = struct.unpack("i4", "ab") return x',
    'local x = struct.pack("i40", 1) return x',
    'local x = struct.pack("!3", 1) return x',
    'local x = struct.unpack("i4", "abcd", 0) return x',
    'return {struct.unpack("d", struct.pack("d", 0.1))}',
    'return {struct.unpack("f", struct.pack("f", 1e300))}',
    'local x = struct.pack("c5", "ab") return x',
]

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
    """redis.REDIS_VERSION is the version INFO names (ours says 7.2.4, the oracle 7.0.15) and
    REDIS_VERSION_NUM is derived from it the same way on both."""
    script = "return {redis.REDIS_VERSION, redis.REDIS_VERSION_NUM}"
    theirs, ours = pair.run(("EVAL", script, "0"))
    for reply in (theirs, ours):
        version = reply.split(b"\r\n")[2]
        major, minor, patch = (int(part) for part in version.split(b"."))
        assert reply.split(b"\r\n")[3] == b":%d" % ((major << 16) | (minor << 8) | patch)
    assert ours.split(b"\r\n")[2] == b"7.2.4"


def _lua_string(data: bytes) -> str:
    return '"' + "".join(f"\\{byte}" for byte in data) + '"'


def _lua_number(value: float | int) -> str:
    if isinstance(value, float):
        text = "%.17g" % value
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
            ),  # fmt: skip
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
    ),  # fmt: skip
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
