-- One script per block, blocks separated by a line '===='; each runs on both servers.
====
return (cjson.encode({1,2}))
====
return (cjson.encode({}))
====
return (cjson.encode({a=1}))
====
return (cjson.encode({1.5, -0.0, 1e300, 123456789012345678, 0.1, "a\0b\"\\/\127\1\n", true, false}))
====
return (cjson.encode({[1]=1,[3]=3}))
====
return (cjson.encode({[1]=1,[30]=3}))
====
return (cjson.encode(1/0))
====
return (cjson.encode(0/0))
====
return (cjson.encode({[true]=1}))
====
return (cjson.encode(function() end))
====
return (cjson.encode())
====
return (cjson.encode(1, 2))
====
return (cjson.encode(cjson.null))
====
return (cjson.encode({cjson.null, 1}))
====
return type(cjson.null)
====
return cjson.decode('null') == cjson.null
====
return (cjson.decode('[1,2,"x",{"a":[true,false,null]}]'))
====
return (cjson.encode(cjson.decode('{"a":[1,2,{"b":"\\u00e9\\ud83d\\ude00\\n"}]}')))
====
return (cjson.decode('[1,2'))
====
return (cjson.decode('[1,2,]'))
====
return (cjson.decode('{"a" 1}'))
====
return (cjson.decode('{1:1}'))
====
return (cjson.decode('"abc'))
====
return (cjson.decode('"a\\qb"'))
====
return (cjson.decode('"a\\ud800b"'))
====
return (cjson.decode('tru'))
====
return (cjson.decode('[1] x'))
====
return (cjson.decode(''))
====
return (cjson.decode('  '))
====
return (cjson.decode('0x10'))
====
return cjson.decode('-inf') == -math.huge
====
return tostring(cjson.decode('nan'))
====
return (cjson.decode('+1'))
====
return (cjson.decode('1e5'))
====
return (cjson.decode('.5'))
====
return (cjson.decode('a\0'))
====
return (cjson.decode('[1]\0junk'))
====
return (cjson.decode(string.rep('[', 1001)))
====
return cjson.decode(string.rep('[', 1000) .. string.rep(']', 1000)) ~= nil
====
local t = {} local c = t for i = 1, 1000 do c[1] = {} c = c[1] end return (cjson.encode(t))
====
local t = {} local c = t for i = 1, 999 do c[1] = {} c = c[1] end return #cjson.encode(t)
====
return (cjson.decode(5))
====
return (cjson.decode({}))
====
return (cjson.decode())
====
return {cjson.encode_sparse_array()}
====
return {cjson.encode_max_depth(), cjson.decode_max_depth(), cjson.encode_number_precision(), tostring(cjson.encode_keep_buffer()), tostring(cjson.encode_invalid_numbers()), tostring(cjson.decode_invalid_numbers())}
====
return cjson._NAME .. cjson._VERSION
====
return {cjson.null}
====
return cjson.null
====
return (cjson.decode('"\\u0000x"'))
====
return (cjson.decode('1 2'))
====
return (cjson.decode('[1,,2]'))
====
return (cjson.decode('{"a":1,}'))
====
return (cjson.decode('@'))
====
return (cmsgpack.pack(1, -1, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649, 2^53, -2^53, 2^63, -2^63, 1.5, 0.1, 1e300, 1/0, -1/0, 0/0, -0.0))
====
return (cmsgpack.pack({1,2,3}, {}, {a=1}, {[1]=1,[3]=3}, {[0]=1}, "x", string.rep("y", 40), string.rep("z", 300), string.rep("w", 70000), true, false, nil, cjson.null))
====
return (cmsgpack.pack())
====
local t = {} local c = t for i = 1, 20 do c[1] = {} c = c[1] end return (cmsgpack.pack(t))
====
return {cmsgpack.unpack(cmsgpack.pack(1, 2, "x", {1, {a = 2}}))}
====
return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3))}
====
return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 1)}
====
return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 2)}
====
return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 3)}
====
return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}
====
return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0, 0)}
====
return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 5, 1)}
====
local x = {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), -1)} return x
====
local x = {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 9)} return x
====
local x = {cmsgpack.unpack('\193')} return x
====
local x = {cmsgpack.unpack('\205\1')} return x
====
local x = {cmsgpack.unpack('\145')} return x
====
local x = {cmsgpack.unpack()} return x
====
local x = {cmsgpack.unpack_limit('a')} return x
====
local x = {cmsgpack.unpack('')} return #x
====
local a, b, c = cmsgpack.unpack(cmsgpack.pack(1.5, 0.1, 2^40)) return {tostring(a), tostring(b), tostring(c)}
====
local a, b = cmsgpack.unpack('\211\255\255\255\255\255\255\255\255\207\255\255\255\255\255\255\255\255') return {tostring(a), tostring(b)}
====
local a = cmsgpack.unpack('\202\127\192\0\0') return tostring(a)
====
return cmsgpack._VERSION
====
return {bit.tobit(2^32 + 5), bit.tobit(-1), bit.tobit(2^31), bit.tobit(1.5), bit.tobit(2.5), bit.tobit("12"), bit.tobit(2^60 + 3)}
====
return {bit.band(0xff, 0x0f, 0x3), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.bnot(0), bit.lshift(1, 31), bit.lshift(1, 32), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.rol(0x12345678, 8), bit.ror(0x12345678, 8), bit.bswap(0x12345678)}
====
return {bit.tohex(255), bit.tohex(-1, -4), bit.tohex(0x1234, 2), bit.tohex(1, 20)}
====
local x = bit.band() return x
====
local x = bit.band(1, "x") return x
====
local x = bit.tohex(1, {}) return x
====
return (struct.pack(">i2<I4bBhHlLTfdxc3s", 1, 2, -3, 200, -5, 6, -7, 8, 9, 1.5, 2.25, "abcd", "zz"))
====
return (struct.pack("!4 b i4 !8 d", 1, 2, 3.5))
====
return {struct.unpack(">i2<I4bB", struct.pack(">i2<I4bB", -1, 4000000000, -3, 200))}
====
return {struct.unpack("bc0s", "\3abcxy\0rest")}
====
return {struct.size("i4 d !8 d")}
====
local x = struct.size("s") return x
====
local x = struct.pack("q", 1) return x
====
local x = struct.pack("i", "x") return x
====
local x = struct.unpack("i4", "ab") return x
====
local x = struct.pack("i40", 1) return x
====
local x = struct.pack("!3", 1) return x
====
local x = struct.unpack("i4", "abcd", 0) return x
====
return {struct.unpack("d", struct.pack("d", 0.1))}
====
return {struct.unpack("f", struct.pack("f", 1e300))}
====
local x = struct.pack("c5", "ab") return x
====
return redis.sha1hex("abc")
====
local ok, e = pcall(function() local t = {} for i = 1, 7990 do t[i] = 1 end local s = cmsgpack.pack(unpack(t)) return select('#', cmsgpack.unpack(s)) end) return {tostring(ok), tostring(e)}
====
local s = string.rep('\1', 7997) local ok, e = pcall(function() return select('#', cmsgpack.unpack(s)) end) return {tostring(ok), tostring(e)}
====
local x = redis.sha1hex() return x
====
local ok, e = pcall(cmsgpack.pack, unpack({}, 1, 4000)) return {tostring(ok), e and #e}
====
local ok, e = pcall(cmsgpack.pack, unpack({}, 1, 4001)) return {tostring(ok), tostring(e)}
====
local s = string.rep('\1', 7999) local ok, e = pcall(function() return select('#', cmsgpack.unpack(s)) end) return {tostring(ok), tostring(e)}
====
local s = string.rep('\1', 8000) local ok, e = pcall(function() return select('#', cmsgpack.unpack(s)) end) return {tostring(ok), tostring(e)}
====
local c = cjson.new() return (c.encode({1}))
====
return type(cjson.new)
====
return (cjson.encode({["a"]=1, ["b"]=2, ["c"]=3, [5]=4}))
====
return (cjson.encode(cjson.decode('{"x":1,"y":[1,2,{"z":null}],"w":"s"}')))
====
return bit.tohex(65535)
====
local t = {} for k in pairs(bit) do t[#t+1] = k end table.sort(t) return t
====
local t = {} for k in pairs(cjson) do t[#t+1] = k end table.sort(t) return t
====
local t = {} for k in pairs(cmsgpack) do t[#t+1] = k end table.sort(t) return t
====
local t = {} for k in pairs(struct) do t[#t+1] = k end table.sort(t) return t
====
return tostring(cjson.decode('1e400'))
====
return (cjson.encode(1e400 - 1e400 == 0))
====
return (cjson.encode("\200\201"))
====
return (cjson.decode('"\200\201"'))
====
return (cjson.encode(12345678901234567890))
====
return (cjson.encode(0.1 + 0.2))
====
local r = {pcall(struct.unpack, "c1c0", "0")} return {tostring(r[1]), tostring(r[2]), tostring(r[3])}
====
local r = {pcall(struct.unpack, "c1c0", "2ab")} return {tostring(r[1]), tostring(r[2]), tostring(r[3])}
====
local r = {pcall(struct.unpack, "c1c0", "x")} return {tostring(r[1]), tostring(r[2]), tostring(r[3])}
====
local r = {pcall(struct.unpack, "fc0", struct.pack("f", 1/0) .. "abc")} return {tostring(r[1]), tostring(r[2]), tostring(r[3])}
====
local r = {pcall(struct.unpack, "fc0", struct.pack("f", -1/0) .. "abc")} return {tostring(r[1]), tostring(r[2]), tostring(r[3])}
====
local r = {pcall(struct.unpack, "fc0", struct.pack("f", 0/0) .. "abc")} return {tostring(r[1]), tostring(r[2]), tostring(r[3])}
====
local r = {pcall(struct.unpack, "dc0", struct.pack("d", 2^64) .. "abc")} return {tostring(r[1]), tostring(r[2]), tostring(r[3])}
====
local r = {pcall(struct.unpack, "dc0", struct.pack("d", 2^63 + 2^12) .. "abc")} return {tostring(r[1]), tostring(r[2]), tostring(r[3])}
====
local r = {pcall(struct.unpack, "dc0", struct.pack("d", 2.5) .. "abc")} return {tostring(r[1]), tostring(r[2]), tostring(r[3])}
====
return {tostring(struct.pack("f", 3.4028235677973366e+38))}
====
return {struct.pack(">L", 2^64), struct.pack(">L", 0/0), struct.pack(">L", 2^63 + 2^20), struct.pack(">l", -2^63), struct.pack(">l", -1/0), struct.pack(">L", 1/0)}
