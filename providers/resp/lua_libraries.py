"""The Lua libraries Redis 7.0 preloads for scripts: ``cjson``, ``cmsgpack``, ``bit``, ``struct``.

``cjson`` and ``cmsgpack`` are written in Lua (:data:`LIBRARIES`), so they run inside the
sandbox under its memory cap and time limit; they follow ``lua_cjson.c`` and
``lua_cmsgpack.c`` as Redis 7.0 ships them (number formats, array-or-map rules, nesting
limits, error messages). ``bit`` (LuaBitOp) and ``struct`` (Roberto Ierusalimschy's) work
on machine integers and IEEE floats, so their arithmetic is done here in Python, behind
Lua wrappers: the Python functions only ever receive and return numbers, strings,
booleans and nil, are held as upvalues of the wrappers (scripts cannot reach them), and
never raise into Lua (they answer ``(false, message)`` and the wrapper raises it).
"""

from __future__ import annotations

import math
import struct as _struct
from collections.abc import Callable
from typing import Any

__all__ = ["LIBRARIES", "install_libraries"]

_TOBIT = 6755399441055744.0  # 2^52 + 2^51: LuaBitOp's double-to-int32 trick
_MAXINTSIZE = 32
_MAXALIGN = 8
_BIG, _LITTLE = 0, 1


def _u32(value: float) -> int:
    """LuaBitOp's ``barg``: the low 32 bits of ``value + 2^52 + 2^51`` as a double."""
    bits: int = _struct.unpack("<Q", _struct.pack("<d", value + _TOBIT))[0]
    return bits & 0xFFFFFFFF


def _s32(value: int) -> int:
    return value - (1 << 32) if value & 0x80000000 else value


def _bit(op: bytes, *args: float) -> tuple[Any, ...]:
    """One LuaBitOp function on numbers the wrapper already checked."""
    b = _u32(args[0])
    if op == b"tobit":
        return (True, _s32(b))
    if op == b"bnot":
        return (True, _s32(~b & 0xFFFFFFFF))
    if op in (b"band", b"bor", b"bxor"):
        for other in args[1:]:
            o = _u32(other)
            b = b & o if op == b"band" else b | o if op == b"bor" else b ^ o
        return (True, _s32(b))
    if op == b"bswap":
        return (True, _s32(int.from_bytes(b.to_bytes(4, "little"), "big")))
    if op == b"tohex":
        n = 8 if len(args) < 2 or args[1] is None else _s32(_u32(args[1]))
        digits = "0123456789abcdef"
        if n < 0:
            n, digits = -n, "0123456789ABCDEF"
        n = min(n, 8)
        text = "".join(digits[(b >> (4 * i)) & 15] for i in reversed(range(n)))
        return (True, text.encode())
    n = _u32(args[1]) & 31
    if op == b"lshift":
        b = b << n
    elif op == b"rshift":
        b = b >> n
    elif op == b"arshift":
        b = _s32(b) >> n
    elif op == b"rol":
        b = (b << n) | (b >> (32 - n))
    else:  # ror
        b = (b << (32 - n)) | (b >> n)
    return (True, _s32(b & 0xFFFFFFFF))


class _StructError(Exception):
    """A ``struct`` error, worded as lua_struct.c words it."""


class _TimeUp(Exception):
    """The script ran past its time limit inside a library function."""


class _Struct:
    """``struct.pack``, ``struct.unpack`` and ``struct.size`` (lua_struct.c, 64-bit Linux)."""

    def __init__(
        self,
        tonumber: Callable[[Any], Any],
        lua_type: Callable[[Any], Any],
        past_deadline: Callable[[], bool],
    ) -> None:
        self.tonumber = tonumber
        self.lua_type = lua_type
        self.past_deadline = past_deadline
        self.ticks = 0

    def _tick(self) -> None:
        """The Lua hook cannot stop Python code: a long format checks the time itself."""
        self.ticks += 1
        if self.ticks & 4095 == 0 and self.past_deadline():
            raise _TimeUp

    def _type_name(self, value: object, present: bool) -> str:
        if not present:
            return "no value"
        name = self.lua_type(value)
        return name.decode() if isinstance(name, bytes) else str(name)

    def _argerror(self, function: str, arg: int, message: str) -> _StructError:
        return _StructError(f"bad argument #{arg} to '{function}' ({message})")

    def _number(self, function: str, args: tuple[Any, ...], arg: int) -> float:
        value = args[arg - 1] if arg <= len(args) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, bytes):
            converted = self.tonumber(value)
            if isinstance(converted, (int, float)) and not isinstance(converted, bool):
                return float(converted)
        got = self._type_name(value, arg <= len(args))
        raise self._argerror(function, arg, f"number expected, got {got}")

    def _string(self, function: str, args: tuple[Any, ...], arg: int) -> bytes:
        value = args[arg - 1] if arg <= len(args) else None
        if isinstance(value, bytes):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return _lua_number_text(float(value))
        got = self._type_name(value, arg <= len(args))
        raise self._argerror(function, arg, f"string expected, got {got}")

    @staticmethod
    def _getnum(fmt: bytes, at: int, default: int) -> tuple[int, int]:
        if at >= len(fmt) or not 48 <= fmt[at] <= 57:
            return default, at
        value = 0
        while at < len(fmt) and 48 <= fmt[at] <= 57:
            digit = fmt[at] - 48
            if value > 0x7FFFFFFF // 10 or value * 10 > 0x7FFFFFFF - digit:
                raise _StructError("integral size overflow")
            value = value * 10 + digit
            at += 1
        return value, at

    def _optsize(self, opt: int, fmt: bytes, at: int) -> tuple[int, int]:
        c = chr(opt)
        if c in "Bb":
            return 1, at
        if c in "Hh":
            return 2, at
        if c in "LlTd":
            return 8, at
        if c == "f":
            return 4, at
        if c == "x":
            return 1, at
        if c == "c":
            return self._getnum(fmt, at, 1)
        if c in "iI":
            size, at = self._getnum(fmt, at, 4)
            if size > _MAXINTSIZE:
                raise _StructError(f"integral size {size} is larger than limit of {_MAXINTSIZE}")
            return size, at
        return 0, at

    @staticmethod
    def _toalign(length: int, align: int, opt: int, size: int) -> int:
        if size == 0 or opt == 99:  # 'c'
            return 0
        size = min(size, align)
        return (size - (length & (size - 1))) & (size - 1)

    def _control(self, function: str, opt: int, fmt: bytes, at: int, h: list[int]) -> int:
        c = chr(opt)
        if c == " ":
            return at
        if c == ">":
            h[0] = _BIG
        elif c == "<":
            h[0] = _LITTLE
        elif c == "!":
            a, at = self._getnum(fmt, at, _MAXALIGN)
            if not (a > 0 and a & (a - 1) == 0):
                raise _StructError(f"alignment {a} is not a power of 2")
            h[1] = a
        else:
            raise self._argerror(function, 1, f"invalid format option '{c}'")
        return at

    def pack(self, negative_zeros: bytes, *args: Any) -> tuple[Any, ...]:
        if negative_zeros:  # "2,5": the positions of the arguments that are -0
            zeros = {int(i) for i in negative_zeros.split(b",")}
            args = tuple(-0.0 if i + 1 in zeros else a for i, a in enumerate(args))
        fmt = self._string("pack", args, 1)
        fmt = fmt.split(b"\0", 1)[0]
        h = [_LITTLE, 1]
        out = bytearray()
        arg = 2
        at = 0
        while at < len(fmt):
            self._tick()
            opt = fmt[at]
            at += 1
            size, at = self._optsize(opt, fmt, at)
            toalign = self._toalign(len(out), h[1], opt, size)
            out += b"\0" * toalign
            c = chr(opt)
            if c in "bBhHlLTiI":
                out += _integer_bytes(self._number("pack", args, arg), size, h[0])
                arg += 1
            elif c == "x":
                out += b"\0"
            elif c in "fd":
                value = self._number("pack", args, arg)
                arg += 1
                order = ">" if h[0] == _BIG else "<"
                out += _float_bytes(value, order + c)
            elif c in "cs":
                text = self._string("pack", args, arg)
                arg += 1
                if size == 0:
                    size = len(text)
                if len(text) < size:
                    raise self._argerror("pack", arg, "string too short")
                out += text[:size]
                if c == "s":
                    out += b"\0"
            else:
                at = self._control("pack", opt, fmt, at, h)
        return (True, bytes(out))

    def unpack(self, *args: Any) -> tuple[Any, ...]:
        fmt = self._string("unpack", args, 1).split(b"\0", 1)[0]
        data = self._string("unpack", args, 2)
        pos = 1
        if len(args) >= 3 and args[2] is not None:
            pos = int(self._number("unpack", args, 3))  # luaL_optinteger truncates
        if pos <= 0:
            raise self._argerror("unpack", 3, "offset must be 1 or greater")
        pos -= 1
        h = [_LITTLE, 1]
        results: list[Any] = []
        at = 0
        while at < len(fmt):
            self._tick()
            opt = fmt[at]
            at += 1
            size, at = self._optsize(opt, fmt, at)
            pos += self._toalign(pos, h[1], opt, size)
            if not (size <= len(data) and pos <= len(data) - size):
                raise self._argerror("unpack", 2, "data string too short")
            c = chr(opt)
            if c in "bBhHlLTiI":
                results.append(_integer_value(data[pos : pos + size], h[0], c.islower()))
            elif c in "fd":
                order = ">" if h[0] == _BIG else "<"
                results.append(_struct.unpack(order + c, data[pos : pos + size])[0])
            elif c == "c":
                if size == 0:
                    previous = results[-1] if results else None
                    if isinstance(previous, bytes):  # lua_isnumber: a numeric string counts
                        previous = self.tonumber(previous)
                    if not isinstance(previous, (int, float)) or isinstance(previous, bool):
                        raise _StructError("format 'c0' needs a previous size")
                    results.pop()
                    size = _to_unsigned(float(previous))
                    if not (size <= len(data) and pos <= len(data) - size):
                        raise self._argerror("unpack", 2, "data string too short")
                results.append(data[pos : pos + size])
            elif c == "s":
                end = data.find(b"\0", pos)
                if end < 0:
                    raise _StructError("unfinished string in data")
                size = end - pos + 1
                results.append(data[pos:end])
            elif c != "x":
                at = self._control("unpack", opt, fmt, at, h)
            pos += size
        results.append(pos + 1)
        return (True, *results)

    def size(self, *args: Any) -> tuple[Any, ...]:
        fmt = self._string("size", args, 1).split(b"\0", 1)[0]
        h = [_LITTLE, 1]
        pos = 0
        at = 0
        while at < len(fmt):
            self._tick()
            opt = fmt[at]
            at += 1
            size, at = self._optsize(opt, fmt, at)
            pos += self._toalign(pos, h[1], opt, size)
            if opt == 115:  # 's'
                raise self._argerror("size", 1, "option 's' has no fixed size")
            if opt == 99 and size == 0:
                raise self._argerror("size", 1, "option 'c0' has no fixed size")
            if not chr(opt).isalnum():
                at = self._control("size", opt, fmt, at, h)
            pos += size
        return (True, pos)


def _to_unsigned(n: float) -> int:
    """A double cast to a 64-bit unsigned integer as gcc does it on x86-64 (out of range,
    ``cvttsd2si`` answers 2^63)."""
    if n >= 2.0**63:
        rest = n - 2.0**63
        return (int(rest) if rest < 2.0**63 else 1 << 63) ^ (1 << 63)
    if math.isnan(n) or n < -(2.0**63):
        return 1 << 63
    return int(n) & 0xFFFFFFFFFFFFFFFF


def _integer_bytes(n: float, size: int, endian: int) -> bytes:
    """``putinteger``: a double cast to a 64-bit integer, its low ``size`` bytes."""
    if n < 0:  # (Uinttype)(Inttype)n
        value = (int(n) if n >= -(2.0**63) else 1 << 63) & 0xFFFFFFFFFFFFFFFF
    else:  # (Uinttype)n, NaN included
        value = _to_unsigned(n)
    raw = bytearray(size)
    for i in range(size):
        raw[i] = value & 0xFF
        value >>= 8
    return bytes(raw) if endian == _LITTLE else bytes(reversed(raw))


def _integer_value(raw: bytes, endian: int, signed: bool) -> float:
    value = 0
    ordered = raw if endian == _BIG else bytes(reversed(raw))
    for byte in ordered:
        value = ((value << 8) | byte) & ((1 << 64) - 1)
    if signed:
        mask = ((1 << 64) - 1) << (len(raw) * 8 - 1) & ((1 << 64) - 1) if raw else 0
        if value & mask:
            value |= mask
        if value & (1 << 63):
            value -= 1 << 64
    return float(value)


def _float_bytes(value: float, fmt: str) -> bytes:
    """A C cast to float or double, packed: a float too large becomes infinity, as in C."""
    try:
        return _struct.pack(fmt, value)
    except OverflowError:
        return _struct.pack(fmt, float("inf") if value > 0 else float("-inf"))


def _lua_number_text(value: float) -> bytes:
    if value.is_integer() and abs(value) < 1e15:
        return b"%d" % int(value)
    return b"%.14g" % value


def _safe(function: Callable[..., tuple[Any, ...]]) -> Callable[..., tuple[Any, ...]]:
    def call(*args: Any) -> tuple[Any, ...]:
        try:
            return function(*args)
        except _StructError as exc:
            return (False, str(exc).encode())
        except _TimeUp:
            return (False, None)  # the wrapper raises the time-limit error
        except Exception:  # a bug must not hand a Python exception object to Lua
            return (False, b"internal error in library")

    return call


def install_libraries(lua_globals: Any, past_deadline: Callable[[], bool]) -> None:
    """Give :data:`LIBRARIES` its Python helpers (it takes them out of ``_G`` again);
    ``past_deadline`` says when the running script is out of time."""
    helpers = _Struct(lua_globals[b"tonumber"], lua_globals[b"type"], past_deadline)
    lua_globals[b"__bit"] = _safe(_bit)
    lua_globals[b"__struct_pack"] = _safe(helpers.pack)
    lua_globals[b"__struct_unpack"] = _safe(helpers.unpack)
    lua_globals[b"__struct_size"] = _safe(helpers.size)


LIBRARIES = rb"""
local byte, char, find, format, sub, match, gsub, lower, rep =
    string.byte, string.char, string.find, string.format, string.sub, string.match,
    string.gsub, string.lower, string.rep
local concat, floor, huge, type, next, select, tonumber, error, pcall, unpack, rawget,
    rawset = table.concat, math.floor, math.huge, type, next, select, tonumber, error, pcall,
    unpack, rawget, rawset
local py_bit, py_pack, py_unpack, py_size = __bit, __struct_pack, __struct_unpack, __struct_size
__bit, __struct_pack, __struct_unpack, __struct_size = nil, nil, nil, nil
local null = newproxy(false)
local getinfo = debug.getinfo
local NAN = -(0 / 0)  -- 0/0 is the negative NaN on x86; strtod's "nan" is positive

local function results(ok, ...) return {n = select('#', ...), ok = ok, ...} end
-- unpack() stops near 8000 values (LUAI_MAXCSTACK); C functions such as cmsgpack.unpack
-- return up to 7999, so spread them by recursion, whose stack only memory bounds.
local function spread(t, i, n)
    if i > n then return end
    if i == n then return t[i] end
    return t[i], spread(t, i + 1, n)
end

-- Errors read as a C function raises them: luaL_error names the caller's line (level 2).
local function public(f)
    return function(...)
        local r = results(pcall(f, ...))
        if r.ok then return spread(r, 1, r.n) end
        if type(r[1]) == 'table' and r[1].plain then error(r[1].plain, 0) end
        if type(r[1]) == 'string' then
            -- luaL_argerror names the function as the caller called it ('?' through pcall)
            local info = getinfo(1, 'n')
            local name = info and info.name or '?'
            local message = gsub(r[1], "^bad argument #(%d+) to '[^']*'", function(n)
                return 'bad argument #' .. n .. " to '" .. name .. "'"
            end)
            error(message, 2)
        end
        error(r[1], 0)
    end
end
local function publish(library)
    for name, f in next, library do
        if type(f) == 'function' then library[name] = public(f) end
    end
    return library
end

local function raise(ok, ...)
    if not ok then
        if (...) == nil then error({err = 'ERR Script killed: it ran past lua-time-limit'}, 0) end
        error((...), 0)
    end
    return ...
end

-- bit (LuaBitOp 1.0.2)
bit = {}
local function bitfunction(name, nargs)
    bit[name] = function(...)
        local n, args = select('#', ...), {...}
        local count = nargs or n
        if count < 1 then count = 1 end
        for i = 1, count do
            local x = tonumber(args[i])
            if x == nil and not (name == 'tohex' and i == 2 and n < 2) then
                local got = i > n and 'no value' or type(args[i])
                error(format("bad argument #%d to '%s' (number expected, got %s)", i, name, got), 0)
            end
            args[i] = x
        end
        return raise(py_bit(name, unpack(args, 1, count)))
    end
end
for _, name in ipairs({'tobit', 'bnot', 'bswap'}) do bitfunction(name, 1) end
for _, name in ipairs({'band', 'bor', 'bxor'}) do bitfunction(name, nil) end
for _, name in ipairs({'lshift', 'rshift', 'arshift', 'rol', 'ror', 'tohex'}) do
    bitfunction(name, 2)
end

-- struct (lua_struct.c 0.2)
struct = {
    pack = function(...)
        -- lupa hands Python -0 as the integer 0: name the negative zeros' positions
        local negative_zeros = {}
        for i = 1, select('#', ...) do
            local v = select(i, ...)
            if v == 0 and type(v) == 'number' and 1 / v < 0 then
                negative_zeros[#negative_zeros + 1] = i
            end
        end
        return raise(py_pack(concat(negative_zeros, ','), ...))
    end,
    unpack = function(...) return raise(py_unpack(...)) end,
    size = function(...) return raise(py_size(...)) end,
}
local struct_pack, struct_unpack = struct.pack, struct.unpack
publish(bit)
publish(struct)

-- cjson (lua-cjson 2.1.0 as Redis patches it)
local escapes = {['"'] = '\\"', ['\\'] = '\\\\', ['/'] = '\\/', ['\127'] = '\\u007f'}
for i = 0, 31 do escapes[char(i)] = format('\\u%04x', i) end
escapes['\b'], escapes['\t'], escapes['\n'], escapes['\f'], escapes['\r'] =
    '\\b', '\\t', '\\n', '\\f', '\\r'
local unescapes = {['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f', n = '\n',
    r = '\r', t = '\t'}
local simple_tokens = {[123] = 'T_OBJ_BEGIN', [125] = 'T_OBJ_END', [91] = 'T_ARR_BEGIN',
    [93] = 'T_ARR_END', [44] = 'T_COMMA', [58] = 'T_COLON'}
local INT_MAX = 2147483647

local function utf8(cp)
    if cp <= 0x7F then return char(cp) end
    if cp <= 0x7FF then return char(floor(cp / 64) + 0xC0, cp % 64 + 0x80) end
    if cp <= 0xFFFF then
        return char(floor(cp / 4096) + 0xE0, floor(cp / 64) % 64 + 0x80, cp % 64 + 0x80)
    end
    return char(floor(cp / 262144) + 0xF0, floor(cp / 4096) % 64 + 0x80,
        floor(cp / 64) % 64 + 0x80, cp % 64 + 0x80)
end

local function hex4(s, at)
    local digits = sub(s, at, at + 3)
    if #digits ~= 4 or not find(digits, '^%x%x%x%x$') then return nil end
    return tonumber(digits, 16)
end

-- strtod's longest number prefix at position p (glibc: decimal, hex, inf, nan)
local function strtod(s, p)
    local sign = match(s, '^[+-]?', p)
    local q = p + #sign
    local word = lower(sub(s, q, q + 2))
    if word == 'inf' then
        local e = q + 3
        if lower(sub(s, e, e + 4)) == 'inity' then e = e + 5 end
        return sign == '-' and -huge or huge, e
    elseif word == 'nan' then
        local e = q + 3
        local paren = match(s, '^%([%w_]*%)', e)
        if paren then e = e + #paren end
        return sign == '-' and -NAN or NAN, e
    end
    if match(s, '^0[xX]', q) then
        local digits = match(s, '^%x*%.?%x*', q + 2)
        if find(digits, '%x') then
            local whole, fraction = match(digits, '^(%x*)%.?(%x*)$')
            local value = 0
            for i = 1, #whole do value = value * 16 + tonumber(sub(whole, i, i), 16) end
            local scale = 1
            for i = 1, #fraction do
                scale = scale / 16
                value = value + tonumber(sub(fraction, i, i), 16) * scale
            end
            local e = q + 2 + #digits
            local exponent = match(s, '^[pP][+-]?%d+', e)
            if exponent then
                value = value * 2 ^ tonumber(sub(exponent, 2))
                e = e + #exponent
            end
            return sign == '-' and -value or value, e
        end
        return sign == '-' and -0.0 or 0, q + 1
    end
    local mantissa = match(s, '^%d*%.?%d*', q)
    if not find(mantissa, '%d') then return nil, p end
    local e = q + #mantissa
    local exponent = match(s, '^[eE][+-]?%d+', e)
    if exponent then e = e + #exponent end
    return tonumber(sub(s, p, e - 1)), e
end

local function new_cjson()
    local cfg = {sparse_convert = 0, sparse_ratio = 2, sparse_safe = 10, encode_max_depth = 1000,
        decode_max_depth = 1000, encode_invalid_numbers = 0, decode_invalid_numbers = 1,
        keep_buffer = 1, precision = 14}
    local cjson = {null = null, _NAME = 'cjson', _VERSION = '2.1.0'}

    local function number(n, what)
        if n ~= n or n == huge or n == -huge then
            if cfg.encode_invalid_numbers == 0 then
                error('Cannot serialise number: must not be NaN or Inf', 0)
            elseif cfg.encode_invalid_numbers == 2 then
                return 'null'
            elseif n ~= n then
                return 'nan'
            end
        end
        return format('%.' .. cfg.precision .. 'g', n)
    end

    local function array_length(t)
        local max, items = 0, 0
        for k in next, t do
            if type(k) == 'number' and k ~= 0 and floor(k) == k and k >= 1 then
                if k > max then max = k end
                items = items + 1
            else
                return -1
            end
        end
        if cfg.sparse_ratio > 0 and max > items * cfg.sparse_ratio and max > cfg.sparse_safe then
            if cfg.sparse_convert == 0 then
                error('Cannot serialise table: excessively sparse array', 0)
            end
            return -1
        end
        return max
    end

    local encode_value
    local function encode_table(t, depth, out)
        depth = depth + 1
        if depth > cfg.encode_max_depth then
            error(format('Cannot serialise, excessive nesting (%d)', depth), 0)
        end
        local length = array_length(t)
        if length > 0 then
            out[#out + 1] = '['
            for i = 1, length do
                if i > 1 then out[#out + 1] = ',' end
                encode_value(rawget(t, i), depth, out)
            end
            out[#out + 1] = ']'
            return
        end
        out[#out + 1] = '{'
        local comma = false
        for k, v in next, t do
            if comma then out[#out + 1] = ',' end
            comma = true
            local kind = type(k)
            if kind == 'number' then
                out[#out + 1] = '"' .. number(k) .. '":'
            elseif kind == 'string' then
                out[#out + 1] = '"' .. gsub(k, '[%c"\\/]', escapes) .. '":'
            else
                error('Cannot serialise ' .. kind .. ': table key must be a number or string', 0)
            end
            encode_value(v, depth, out)
        end
        out[#out + 1] = '}'
    end

    encode_value = function(v, depth, out)
        local kind = type(v)
        if kind == 'string' then
            out[#out + 1] = '"' .. gsub(v, '[%c"\\/]', escapes) .. '"'
        elseif kind == 'number' then
            out[#out + 1] = number(v)
        elseif kind == 'boolean' then
            out[#out + 1] = v and 'true' or 'false'
        elseif kind == 'table' then
            encode_table(v, depth, out)
        elseif kind == 'nil' or v == null then
            out[#out + 1] = 'null'
        else
            error('Cannot serialise ' .. kind .. ': type not supported', 0)
        end
    end

    function cjson.encode(...)
        if select('#', ...) ~= 1 then
            error("bad argument #1 to 'encode' (expected 1 argument)", 0)
        end
        local out = {}
        encode_value((...), 0, out)
        return concat(out)
    end

    function cjson.decode(...)
        if select('#', ...) ~= 1 then
            error("bad argument #1 to 'decode' (expected 1 argument)", 0)
        end
        local s = ...
        local kind = type(s)
        if kind == 'number' then
            s = format('%.14g', s)
        elseif kind ~= 'string' then
            error(format("bad argument #1 to 'decode' (string expected, got %s)", kind), 0)
        end
        if #s >= 2 and (byte(s, 1) == 0 or byte(s, 2) == 0) then
            error('JSON parser does not support UTF-16 or UTF-32', 0)
        end
        local nul = find(s, '\0', 1, true)
        if nul then s = sub(s, 1, nul - 1) end
        local len, pos, depth = #s, 1, 0

        local function token()  -- kind, value, 0-based index
            pos = find(s, '[^ \t\n\r]', pos) or len + 1
            local index = pos - 1
            if pos > len then return 'T_END', nil, index end
            local c = byte(s, pos)
            local simple = simple_tokens[c]
            if simple then
                pos = pos + 1
                return simple, nil, index
            end
            if c == 34 then
                local parts, p = {}, pos + 1
                while true do
                    local q = find(s, '["\\]', p)
                    if not q then
                        pos = len + 1
                        return 'T_ERROR', 'unexpected end of string', len
                    end
                    parts[#parts + 1] = sub(s, p, q - 1)
                    if byte(s, q) == 34 then
                        pos = q + 1
                        return 'T_STRING', concat(parts), index
                    end
                    local e = sub(s, q + 1, q + 1)
                    if e == 'u' then
                        local cp, width = hex4(s, q + 2), 6
                        if cp and cp >= 0xD800 and cp <= 0xDFFF then
                            if cp >= 0xDC00 or sub(s, q + 6, q + 7) ~= '\\u' then
                                cp = nil
                            else
                                local low = hex4(s, q + 8)
                                if low and low >= 0xDC00 and low <= 0xDFFF then
                                    cp = (cp - 0xD800) * 1024 + (low - 0xDC00) + 0x10000
                                    width = 12
                                else
                                    cp = nil
                                end
                            end
                        end
                        if not cp then
                            pos = q
                            return 'T_ERROR', 'invalid unicode escape code', q - 1
                        end
                        parts[#parts + 1] = utf8(cp)
                        p = q + width
                    else
                        local ch = unescapes[e]
                        if not ch then
                            pos = q
                            return 'T_ERROR', 'invalid escape code', q - 1
                        end
                        parts[#parts + 1] = ch
                        p = q + 2
                    end
                end
            end
            local invalid_start = c == 43 or c == 105 or c == 73 or c == 110 or c == 78
            if c == 45 or (c >= 48 and c <= 57) then
                if cfg.decode_invalid_numbers == 0 then
                    local p = c == 45 and pos + 1 or pos
                    local c2 = byte(s, p + 1)
                    local hex_or_digit = c2 and (c2 == 120 or c2 == 88 or (c2 >= 48 and c2 <= 57))
                    if byte(s, p) == 48 and hex_or_digit then
                        return 'T_ERROR', 'invalid number', index
                    end
                    if byte(s, p) and byte(s, p) > 57 then
                        local w = lower(sub(s, p, p + 2))
                        if w == 'inf' or w == 'nan' then
                            return 'T_ERROR', 'invalid number', index
                        end
                    end
                end
            elseif sub(s, pos, pos + 3) == 'true' then
                pos = pos + 4
                return 'T_BOOLEAN', true, index
            elseif sub(s, pos, pos + 4) == 'false' then
                pos = pos + 5
                return 'T_BOOLEAN', false, index
            elseif sub(s, pos, pos + 3) == 'null' then
                pos = pos + 4
                return 'T_NULL', null, index
            elseif not invalid_start or cfg.decode_invalid_numbers == 0 then
                return 'T_ERROR', 'invalid token', index
            else
                local p = c == 43 and pos + 1 or pos
                local w = lower(sub(s, p, p + 2))
                if c ~= 43 and w ~= 'inf' and w ~= 'nan' then
                    return 'T_ERROR', 'invalid token', index
                end
            end
            local value, e = strtod(s, pos)
            if value == nil then return 'T_ERROR', 'invalid number', index end
            pos = e
            return 'T_NUMBER', value, index
        end

        local function throw(expected, kind, value, index)
            local found = kind == 'T_ERROR' and value or kind
            error(format('Expected %s but found %s at character %d', expected, found, index + 1), 0)
        end

        local function descend()
            depth = depth + 1
            if depth > cfg.decode_max_depth then
                error(format('Found too many nested data structures (%d) at character %d',
                    depth, pos - 1), 0)
            end
        end

        local value
        value = function(kind, v, index)
            if kind == 'T_STRING' or kind == 'T_NUMBER' or kind == 'T_BOOLEAN'
                    or kind == 'T_NULL' then
                return v
            elseif kind == 'T_OBJ_BEGIN' then
                descend()
                local t = {}
                local k, kv, ki = token()
                if k == 'T_OBJ_END' then
                    depth = depth - 1
                    return t
                end
                while true do
                    if k ~= 'T_STRING' then throw('object key string', k, kv, ki) end
                    local key = kv
                    k, kv, ki = token()
                    if k ~= 'T_COLON' then throw('colon', k, kv, ki) end
                    rawset(t, key, value(token()))
                    k, kv, ki = token()
                    if k == 'T_OBJ_END' then
                        depth = depth - 1
                        return t
                    end
                    if k ~= 'T_COMMA' then throw('comma or object end', k, kv, ki) end
                    k, kv, ki = token()
                end
            elseif kind == 'T_ARR_BEGIN' then
                descend()
                local t = {}
                local k, kv, ki = token()
                if k == 'T_ARR_END' then
                    depth = depth - 1
                    return t
                end
                local i = 1
                while true do
                    rawset(t, i, value(k, kv, ki))
                    i = i + 1
                    k, kv, ki = token()
                    if k == 'T_ARR_END' then
                        depth = depth - 1
                        return t
                    end
                    if k ~= 'T_COMMA' then throw('comma or array end', k, kv, ki) end
                    k, kv, ki = token()
                end
            end
            throw('value', kind, v, index)
        end

        local result = value(token())
        local k, kv, ki = token()
        if k ~= 'T_END' then throw('the end', k, kv, ki) end
        return result
    end

    local function integer_option(name, arg, key, low, high, value)
        if value ~= nil then
            local n = tonumber(value)
            if n == nil then
                error(format("bad argument #%d to '%s' (number expected, got %s)", arg, name,
                    type(value)), 0)
            end
            n = n >= 0 and floor(n) or -floor(-n)
            if n < low or n > high then
                error(format("bad argument #1 to '%s' (expected integer between %d and %d)",
                    name, low, high), 0)
            end
            cfg[key] = n
        end
        return cfg[key]
    end

    local function enum_option(name, arg, key, value, options)
        options = options or {'off', 'on'}
        if value ~= nil then
            if type(value) == 'boolean' then
                cfg[key] = value and 1 or 0
            else
                local found
                for i, option in ipairs(options) do
                    if value == option then found = i - 1 end
                end
                if found == nil then
                    error(format("bad argument #%d to '%s' (invalid option '%s')", arg, name,
                        tostring(value)), 0)
                end
                cfg[key] = found
            end
        end
        if cfg[key] <= 1 then return cfg[key] == 1 end
        return options[cfg[key] + 1]
    end

    local function arg_check(name, count, ...)
        if select('#', ...) > count then
            error(format("bad argument #%d to '%s' (found too many arguments)", count + 1, name), 0)
        end
    end

    function cjson.encode_sparse_array(...)
        arg_check('encode_sparse_array', 3, ...)
        local convert, ratio, safe = ...
        return enum_option('encode_sparse_array', 1, 'sparse_convert', convert),
            integer_option('encode_sparse_array', 2, 'sparse_ratio', 0, INT_MAX, ratio),
            integer_option('encode_sparse_array', 3, 'sparse_safe', 0, INT_MAX, safe)
    end
    function cjson.encode_max_depth(...)
        arg_check('encode_max_depth', 1, ...)
        return integer_option('encode_max_depth', 1, 'encode_max_depth', 1, INT_MAX, (...))
    end
    function cjson.decode_max_depth(...)
        arg_check('decode_max_depth', 1, ...)
        return integer_option('decode_max_depth', 1, 'decode_max_depth', 1, INT_MAX, (...))
    end
    function cjson.encode_number_precision(...)
        arg_check('encode_number_precision', 1, ...)
        return integer_option('encode_number_precision', 1, 'precision', 1, 14, (...))
    end
    function cjson.encode_keep_buffer(...)
        arg_check('encode_keep_buffer', 1, ...)
        return enum_option('encode_keep_buffer', 1, 'keep_buffer', (...))
    end
    function cjson.encode_invalid_numbers(...)
        arg_check('encode_invalid_numbers', 1, ...)
        return enum_option('encode_invalid_numbers', 1, 'encode_invalid_numbers', (...),
            {'off', 'on', 'null'})
    end
    function cjson.decode_invalid_numbers(...)
        arg_check('decode_invalid_numbers', 1, ...)
        return enum_option('decode_invalid_numbers', 1, 'decode_invalid_numbers', (...))
    end
    cjson.new = new_cjson
    return publish(cjson)
end
cjson = new_cjson()

-- cmsgpack (lua-cmsgpack 0.4.0)
local MAX_NESTING = 16

local function be32(n)
    return char(floor(n / 16777216) % 256, floor(n / 65536) % 256, floor(n / 256) % 256, n % 256)
end
local function be16(n) return char(floor(n / 256) % 256, n % 256) end

local function mp_int(n)
    if n >= 0 then
        if n <= 127 then return char(n) end
        if n <= 0xff then return '\204' .. char(n) end
        if n <= 0xffff then return '\205' .. be16(n) end
        if n <= 0xffffffff then return '\206' .. be32(n) end
        local hi = floor(n / 4294967296)
        return '\207' .. be32(hi) .. be32(n - hi * 4294967296)
    end
    if n >= -32 then return char(n + 256) end
    if n >= -128 then return '\208' .. char(n + 256) end
    if n >= -32768 then return '\209' .. be16(n + 65536) end
    if n >= -2147483648 then return '\210' .. be32(n + 4294967296) end
    local hi = floor(n / 4294967296)
    return '\211' .. be32(hi + 4294967296) .. be32(n - hi * 4294967296)
end

local function mp_double(n)
    local single = struct_pack('>f', n)
    if struct_unpack('>f', single) == n then return '\202' .. single end
    return '\203' .. struct_pack('>d', n)
end

local function mp_header(n, fix, s16, s32)
    if n <= 15 then return char(fix + n) end
    if n <= 65535 then return char(s16) .. be16(n) end
    return char(s32) .. be32(n)
end

local mp_encode
local function mp_table(t, level, out)
    local count, max = 0, 0
    local array = true
    for k in next, t do
        if type(k) ~= 'number' or k <= 0 or floor(k) ~= k or k > INT_MAX then
            array = false
            break
        end
        if k > max then max = k end
        count = count + 1
    end
    if array and max == count then
        local length = #t
        out[#out + 1] = mp_header(length, 0x90, 0xdc, 0xdd)
        for j = 1, length do mp_encode(t[j], level + 1, out) end
        return
    end
    count = 0
    for _ in next, t do count = count + 1 end
    out[#out + 1] = mp_header(count, 0x80, 0xde, 0xdf)
    for k, v in next, t do
        mp_encode(k, level + 1, out)
        mp_encode(v, level + 1, out)
    end
end

mp_encode = function(v, level, out)
    local kind = type(v)
    if kind == 'table' and level == MAX_NESTING then kind = 'nil' end
    if kind == 'string' then
        local n = #v
        if n < 32 then
            out[#out + 1] = char(0xa0 + n)
        elseif n <= 0xff then
            out[#out + 1] = '\217' .. char(n)
        elseif n <= 0xffff then
            out[#out + 1] = '\218' .. be16(n)
        else
            out[#out + 1] = '\219' .. be32(n)
        end
        out[#out + 1] = v
    elseif kind == 'boolean' then
        out[#out + 1] = v and '\195' or '\194'
    elseif kind == 'number' then
        if v == v and v ~= huge and v ~= -huge and floor(v) == v and v >= -9223372036854775808
                and v < 9223372036854775808 then
            out[#out + 1] = mp_int(v)
        else
            out[#out + 1] = mp_double(v)
        end
    elseif kind == 'table' then
        mp_table(v, level, out)
    else
        out[#out + 1] = '\192'
    end
end

local EOF, BADFMT = {}, {}

local function u16(s, at)
    local a, b = byte(s, at, at + 1)
    return a * 256 + b
end

local function u32(s, at)
    local a, b, c, d = byte(s, at, at + 3)
    return ((a * 256 + b) * 256 + c) * 256 + d
end

local mp_decode
local function need(s, at, n)
    if #s - at + 1 < n then error(EOF, 0) end
end

local function mp_array(s, at, n)
    local t = {}
    for i = 1, n do
        local v
        v, at = mp_decode(s, at)
        t[i] = v
    end
    return t, at
end

local function mp_map(s, at, n)
    local t = {}
    for _ = 1, n do
        local k, v
        k, at = mp_decode(s, at)
        v, at = mp_decode(s, at)
        if k == nil or k ~= k then  -- lua_settable's own error: no position in a C function
            error({plain = k == nil and 'table index is nil' or 'table index is NaN'}, 0)
        end
        t[k] = v
    end
    return t, at
end

mp_decode = function(s, at)
    need(s, at, 1)
    local c = byte(s, at)
    if c < 0x80 then return c, at + 1 end
    if c >= 0xe0 then return c - 256, at + 1 end
    if c >= 0xa0 and c <= 0xbf then
        local n = c - 0xa0
        need(s, at, 1 + n)
        return sub(s, at + 1, at + n), at + 1 + n
    end
    if c >= 0x90 and c <= 0x9f then return mp_array(s, at + 1, c - 0x90) end
    if c >= 0x80 and c <= 0x8f then return mp_map(s, at + 1, c - 0x80) end
    if c == 0xc0 then return nil, at + 1 end
    if c == 0xc2 then return false, at + 1 end
    if c == 0xc3 then return true, at + 1 end
    if c == 0xcc then need(s, at, 2) return byte(s, at + 1), at + 2 end
    if c == 0xd0 then
        need(s, at, 2)
        local v = byte(s, at + 1)
        return v >= 128 and v - 256 or v, at + 2
    end
    if c == 0xcd or c == 0xd1 then
        need(s, at, 3)
        local a, b = byte(s, at + 1, at + 2)
        local v = a * 256 + b
        if c == 0xd1 and v >= 32768 then v = v - 65536 end
        return v, at + 3
    end
    if c == 0xce or c == 0xd2 then
        need(s, at, 5)
        local v = u32(s, at + 1)
        if c == 0xd2 and v >= 2147483648 then v = v - 4294967296 end
        return v, at + 5
    end
    if c == 0xcf or c == 0xd3 then  -- Redis's lua_pushunsigned casts to int64: both signed
        need(s, at, 9)
        local hi, lo = u32(s, at + 1), u32(s, at + 5)
        if hi >= 2147483648 then hi = hi - 4294967296 end
        return hi * 4294967296 + lo, at + 9
    end
    if c == 0xca then
        need(s, at, 5)
        return (struct_unpack('>f', sub(s, at + 1, at + 4))), at + 5
    end
    if c == 0xcb then
        need(s, at, 9)
        return (struct_unpack('>d', sub(s, at + 1, at + 8))), at + 9
    end
    if c == 0xd9 then
        need(s, at, 2)
        local n = byte(s, at + 1)
        need(s, at, 2 + n)
        return sub(s, at + 2, at + 1 + n), at + 2 + n
    end
    if c == 0xda then
        need(s, at, 3)
        local a, b = byte(s, at + 1, at + 2)
        local n = a * 256 + b
        need(s, at, 3 + n)
        return sub(s, at + 3, at + 2 + n), at + 3 + n
    end
    if c == 0xdb then
        need(s, at, 5)
        local n = u32(s, at + 1)
        need(s, at + 5, n)
        return sub(s, at + 5, at + 4 + n), at + 5 + n
    end
    if c == 0xdc then need(s, at, 3) return mp_array(s, at + 3, u16(s, at + 1)) end
    if c == 0xdd then need(s, at, 5) return mp_array(s, at + 5, u32(s, at + 1)) end
    if c == 0xde then need(s, at, 3) return mp_map(s, at + 3, u16(s, at + 1)) end
    if c == 0xdf then need(s, at, 5) return mp_map(s, at + 5, u32(s, at + 1)) end
    error(BADFMT, 0)
end

local function mp_unpack_full(name, s, limit, offset, given)
    local kind = type(s)
    if kind == 'number' then
        s = format('%.14g', s)
    elseif kind ~= 'string' then
        local got = given == 0 and 'no value' or kind
        error(format("bad argument #1 to '%s' (string expected, got %s)", name, got), 0)
    end
    local len = #s
    local decode_all = limit == 0 and offset == 0
    if offset < 0 or limit < 0 then
        local message = 'Invalid request to unpack with offset of %d and limit of %d.'
        error(format(message, offset, len), 0)  -- sic: lua_cmsgpack prints the length
    elseif offset > len then
        error(format('Start offset %d greater than input length %d.', offset, len), 0)
    end
    if decode_all then limit = INT_MAX end
    local results, count, at = {}, 0, offset + 1
    local ok, failure = pcall(function()
        while at <= len and count < limit do
            if count + 2 > 8000 then  -- luaL_checkstack(L, 1, ...) in mp_decode_to_lua_type
                error('stack overflow (too many return values at once; use unpack_one or'
                    .. ' unpack_limit instead.)', 0)
            end
            local v
            v, at = mp_decode(s, at)
            count = count + 1
            results[count] = v
        end
    end)
    if not ok then
        if failure == EOF then error('Missing bytes in input.', 0) end
        if failure == BADFMT then error('Bad data format in input.', 0) end
        error(failure, 0)
    end
    if decode_all then return spread(results, 1, count) end
    return (at > len and -1 or at - 1), spread(results, 1, count)
end

local function integer_arg(name, i, v, default)
    if v == nil then return default end
    local n = tonumber(v)
    if n == nil then
        error(format("bad argument #%d to '%s' (number expected, got %s)", i, name, type(v)), 0)
    end
    return n >= 0 and floor(n) or -floor(-n)
end

cmsgpack = {
    _NAME = 'cmsgpack',
    _VERSION = 'lua-cmsgpack 0.4.0',
    _COPYRIGHT = 'Copyright (C) 2012, Salvatore Sanfilippo',
    _DESCRIPTION = 'MessagePack C implementation for Lua',
}
function cmsgpack.pack(...)
    local n = select('#', ...)
    if n == 0 then error("bad argument #0 to 'pack' (MessagePack pack needs input.)", 0) end
    if n + n > 8000 then  -- lua_checkstack(L, nargs) fails past LUAI_MAXCSTACK
        error("bad argument #0 to 'pack' (Too many arguments for MessagePack pack.)", 0)
    end
    local out, args = {}, {...}
    for i = 1, n do mp_encode(args[i], 0, out) end
    return concat(out)
end
function cmsgpack.unpack(...)
    return mp_unpack_full('unpack', (...), 0, 0, select('#', ...))
end
function cmsgpack.unpack_one(...)
    local s, offset = ...
    offset = integer_arg('unpack_one', 2, offset, 0)
    return mp_unpack_full('unpack_one', s, 1, offset, select('#', ...))
end
function cmsgpack.unpack_limit(...)
    local s, limit, offset = ...
    if limit == nil then
        local got = select('#', ...) < 2 and 'no value' or 'nil'
        error(format("bad argument #2 to 'unpack_limit' (number expected, got %s)", got), 0)
    end
    limit = integer_arg('unpack_limit', 2, limit, 0)
    offset = integer_arg('unpack_limit', 3, offset, 0)
    return mp_unpack_full('unpack_limit', s, limit, offset, select('#', ...))
end
publish(cmsgpack)
"""
"""Lua source that defines the libraries as globals; run it after :func:`install_libraries`, before
the sandbox removes ``newproxy`` (it keeps one userdata as ``cjson.null``)."""
