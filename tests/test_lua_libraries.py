"""The Lua libraries scripts get (cjson, cmsgpack, bit, struct) sans I/O: each limit at its
maximum and one past it, the sandbox (no Python object reachable, helpers gone), the memory cap
and the time limit inside library code, and JSON round trips on generated values.
Byte-for-byte agreement with redis-server: tests/e2e/test_lua_libraries_against_redis.py."""

from __future__ import annotations

import json

import pytest
from _resp import Client
from hypothesis import given, settings
from hypothesis import strategies as st
from wireproto.providers.resp.commands import scripting


@pytest.fixture
def client() -> Client:
    return Client(accelerated=False)


def _eval(client: Client, script: str, *args: str | bytes) -> bytes:
    return client.call("EVAL", script, 0, *args)


def test_the_libraries_are_globals_and_their_helpers_are_gone(client: Client) -> None:
    script = "return {type(cjson.encode), type(cmsgpack.pack), type(bit.band), type(struct.pack)}"
    assert _eval(client, script) == (
        b"*4\r\n$8\r\nfunction\r\n$8\r\nfunction\r\n$8\r\nfunction\r\n$8\r\nfunction\r\n"
    )
    for name in ("__bit", "__struct_pack", "__struct_unpack", "__struct_size", "__version"):
        assert b"nonexistent global variable" in _eval(client, f"return type({name})"), name
    assert _eval(client, "return (cjson.encode({1,2}))") == b"$5\r\n[1,2]\r\n"


def test_no_python_object_is_reachable_from_the_globals(client: Client) -> None:
    """Walks every table reachable from _G (and metatables): the only userdata is cjson.null
    (a Lua userdata, as Redis's is a light userdata); functions are Lua functions."""
    script = """
    local seen, found = {}, {}
    local function walk(value, path)
        local kind = type(value)
        if kind == 'userdata' and value ~= cjson.null then found[#found + 1] = path end
        if kind == 'thread' then found[#found + 1] = path end
        if kind ~= 'table' or seen[value] then return end
        seen[value] = true
        for k, v in next, value do
            walk(k, path .. '.<key>')
            walk(v, path .. '.' .. tostring(k))
        end
        local meta = getmetatable(value)
        if meta then walk(meta, path .. '.<meta>') end
    end
    walk(_G, '_G')
    walk(getmetatable(''), 'string-meta')
    found[#found + 1] = tostring(getmetatable(cjson.null))
    return found
    """
    assert _eval(client, script) == b"*1\r\n$3\r\nnil\r\n"
    assert _eval(client, "return cjson.encode.x").startswith(
        b"-ERR user_script:1: attempt to index"
    )


def test_cjson_nesting_limits_at_max_and_one_past(client: Client) -> None:
    nest = "local t = {} local c = t for i = 2, %d do c[1] = {} c = c[1] end "
    assert _eval(client, nest % 1000 + "return #cjson.encode(t)") == b":2000\r\n"
    assert _eval(client, nest % 1001 + "return (cjson.encode(t))").startswith(
        b"-ERR user_script:1: Cannot serialise, excessive nesting (1001) script: "
    )
    assert _eval(client, "return #cjson.decode(ARGV[1])", "[" * 1000 + "]" * 1000) == b":1\r\n"
    assert _eval(client, "return (cjson.decode(ARGV[1]))", "[" * 1001 + "]" * 1001).startswith(
        b"-ERR user_script:1: Found too many nested data structures (1001) at character 1001 "
    )


def test_cjson_sparse_arrays_at_the_limit_and_past_it(client: Client) -> None:
    assert _eval(client, "return (cjson.encode({[1] = 1, [10] = 2}))") == (
        b"$45\r\n[1,null,null,null,null,null,null,null,null,2]\r\n"
    )
    assert _eval(client, "return (cjson.encode({[1] = 1, [11] = 2}))").startswith(
        b"-ERR user_script:1: Cannot serialise table: excessively sparse array script: "
    )
    assert _eval(client, "return (cjson.encode({[0] = 1}))") == b'$7\r\n{"0":1}\r\n'


def test_cmsgpack_nesting_limit_turns_deeper_tables_into_nil(client: Client) -> None:
    nest = "local t = {} local c = t for i = 2, %d do c[1] = {} c = c[1] end "
    assert _eval(client, nest % 16 + "return (cmsgpack.pack(t))") == (
        b"$16\r\n" + b"\x91" * 15 + b"\x90\r\n"
    )
    assert _eval(client, nest % 17 + "return (cmsgpack.pack(t))") == (
        b"$17\r\n" + b"\x91" * 16 + b"\xc0\r\n"
    )


def test_struct_integer_size_and_bit_tohex_width_limits(client: Client) -> None:
    assert _eval(client, "return #struct.pack('i32', -1)") == b":32\r\n"
    assert _eval(client, "return (struct.pack('i33', 1))").startswith(
        b"-ERR user_script:1: integral size 33 is larger than limit of 32 script: "
    )
    assert _eval(client, "return {bit.tohex(-1, 8), bit.tohex(-1, 9), bit.tohex(255, -2)}") == (
        b"*3\r\n$8\r\nffffffff\r\n$8\r\nffffffff\r\n$2\r\nFF\r\n"
    )


def test_version_fields_and_cjson_null_replies(client: Client) -> None:
    assert _eval(client, "return {redis.REDIS_VERSION, redis.REDIS_VERSION_NUM}") == (
        b"*2\r\n$6\r\n7.0.15\r\n:458767\r\n"  # 0x07000f
    )
    assert _eval(client, "return cjson.null") == b"$-1\r\n"
    assert _eval(client, "return {1, cjson.null, 2}") == b"*3\r\n:1\r\n$-1\r\n:2\r\n"
    assert _eval(client, "return cjson.decode('[null]')[1] == cjson.null") == b":1\r\n"
    assert _eval(client, "return 1/0") == b":-9223372036854775808\r\n"


def test_library_code_respects_the_memory_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scripting, "_MEMORY_LIMIT", 8 << 20)
    client = Client(accelerated=False)
    script = (
        "local s = string.rep('x', 1024 * 1024) local t = {}"
        " for i = 1, 32 do t[i] = s end return #cjson.encode(t)"
    )
    assert b"not enough memory" in _eval(client, script)
    assert _eval(client, "return #cjson.encode({string.rep('x', 1024)})") == b":1028\r\n"


def test_library_code_respects_the_time_limit() -> None:
    client = Client(accelerated=False)
    assert client.call("CONFIG", "SET", "lua-time-limit", 20) == b"+OK\r\n"
    big = "[" + "1," * 400_000 + "1]"
    reply = _eval(client, "return #cjson.decode(ARGV[1])", big)
    assert reply.startswith(b"-ERR Script killed: it ran past lua-time-limit")
    assert _eval(client, "return #cjson.decode('[1,2]')") == b":2\r\n"
    # struct's format loop runs in Python, out of the Lua hook's reach: it checks the time
    reply = _eval(client, "return struct.size(string.rep('b', 3000000))")
    assert reply.startswith(b"-ERR Script killed: it ran past lua-time-limit")
    assert _eval(client, "return struct.size('bb')") == b":2\r\n"


JSON = st.recursive(
    st.one_of(
        st.integers(min_value=-(10**12), max_value=10**12),
        st.booleans(),
        st.text(max_size=8),
    ),
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=4),
        st.dictionaries(st.text(max_size=4), children, min_size=1, max_size=4),
    ),
    max_leaves=10,
)


@settings(max_examples=60, deadline=None)
@given(value=JSON)
def test_cjson_round_trips_generated_json(value: object) -> None:
    client = Client(accelerated=False)
    text = json.dumps(value)
    reply = _eval(client, "return (cjson.encode(cjson.decode(ARGV[1])))", text)
    body = reply.split(b"\r\n", 1)[1][:-2]
    assert json.loads(body) == value
    msgpack = _eval(
        client, "return (cjson.encode(cmsgpack.unpack(cmsgpack.pack(cjson.decode(ARGV[1])))))", text
    )
    assert json.loads(msgpack.split(b"\r\n", 1)[1][:-2]) == value
