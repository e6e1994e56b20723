"""Lua scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT, on Lua 5.1 as Redis runs it.

The interpreter is ``lupa``'s Lua 5.1 (the optional ``lua`` extra). Without it the
commands answer a clear error. Each provider has one interpreter and one script cache.
The interpreter is sandboxed: no ``os``, ``io``, ``debug``, ``package``, ``require``,
``load*`` or ``dofile``, and no way to reach Python objects. It has a memory cap, and a
script that runs past ``lua-time-limit`` (5 s unless CONFIG SET) is stopped with an
error. Redis would instead answer BUSY to other clients until SCRIPT KILL; we are
single-threaded, so the script is stopped. ``redis.call`` and ``redis.pcall`` run
commands through the session, in RESP2 as Redis scripts see them, never blocking, with
MULTI, WATCH and the other ``noscript`` commands refused, and only reads for the ``_RO``
variants. Replies come back converted as Redis converts them (integers, strings, false
for nil, tables, and ``{ok=...}``/``{err=...}``).
"""

from __future__ import annotations

import hashlib
import importlib
import time
import weakref
from collections.abc import Mapping
from typing import Any

from ...kvstore import parse_int64
from ..lua_libraries import LIBRARIES, install_libraries
from ..replies import bulk, error, integer
from ._base import NOT_INTEGER, REDIS_VERSION, Client, Command, help_reply
from .acl import script_refusal
from .admin import SCRIPT_CALLS, show_to_monitors

__all__ = ["COMMANDS", "SCRIPT_SUBCOMMANDS", "lua_available", "use_table"]

_NOSCRIPT = b"-NOSCRIPT No matching script. Please use EVAL.\r\n"
_TOO_MANY_KEYS = error(b"ERR Number of keys can't be greater than number of args")
_NEGATIVE_KEYS = error(b"ERR Number of keys can't be negative")
_TIME_LIMIT_NAME = b"busy-reply-threshold"
_TIME_LIMIT_DEFAULT = b"5000"
"""``busy-reply-threshold`` (``lua-time-limit``), milliseconds: a script running longer is
stopped (CONFIG SET changes it; ``config`` registers the parameter)."""
_MEMORY_LIMIT = 64 << 20


def _lupa() -> Any:
    try:
        return importlib.import_module("lupa.lua51")
    except ImportError:
        return None


def lua_available() -> bool:
    """Whether the Lua interpreter (``lupa``) is installed."""
    return _lupa() is not None


_PRELUDE = b"""
local sethook, clock_check = debug.sethook, __clock_check
local call_python = __call
__call, __clock_check = nil, nil
redis = {}
redis.call = function(...)
    local reply = call_python(true, ...)
    if type(reply) == 'table' and reply.err then error(reply, 2) end
    return reply
end
redis.pcall = function(...) return call_python(false, ...) end
redis.error_reply = function(message) return {err = message} end
redis.status_reply = function(message) return {ok = message} end
local sha1hex = __sha1hex
__sha1hex = nil  -- a Python callable: scripts must not reach it
redis.sha1hex = function(...)
    if select('#', ...) ~= 1 then error({err = 'ERR wrong number of arguments'}) end
    return sha1hex((...))
end
redis.log = function() end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.setresp = function(version)
    if version ~= 2 then error({err = 'ERR RESP3 in scripts is not supported here'}, 2) end
end
redis.set_repl = function() end
redis.replicate_commands = function() return true end
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE = 0, 1, 2
redis.REPL_REPLICA, redis.REPL_ALL = 2, 3
redis.REDIS_VERSION, redis.REDIS_VERSION_NUM = __version, __version_num
__version, __version_num = nil, nil
local function watchdog()
    if clock_check() then
        error({err = 'ERR Script killed: it ran past lua-time-limit'})
    end
end
local getinfo = debug.getinfo
local function handler(err)
    -- Where in the user's script it happened (Redis skips C frames; ours are Lua).
    local i = getinfo(2, 'nSl')
    for level = 2, 16 do
        local frame = getinfo(level, 'nSl')
        if not frame then break end
        if frame.source == '@user_script' then
            i = frame
            break
        end
    end
    if type(err) ~= 'table' then err = {err = 'ERR ' .. tostring(err)} end
    if i then
        err['source'] = i.source
        err['line'] = i.currentline
    end
    return err
end
function __run(chunk, keys, argv)
    rawset(_G, 'KEYS', keys)
    rawset(_G, 'ARGV', argv)
    sethook(watchdog, '', 100000)
    local ok, result = xpcall(chunk, handler)
    sethook()
    return ok, result
end
for _, name in ipairs({'os', 'io', 'debug', 'package', 'require', 'dofile', 'loadfile', 'load',
        'loadstring', 'python', 'module', 'newproxy', 'getfenv', 'setfenv', 'collectgarbage',
        'print', 'gcinfo'}) do
    _G[name] = nil
end
setmetatable(_G, {
    __index = function(_, name)
        if name == 'debug' then return nil end  -- lupa looks it up for its tracebacks
        local message = "Script attempted to access nonexistent global variable '%s'"
        error(string.format(message, tostring(name)), 2)
    end,
    __newindex = function() error('Attempt to modify a readonly table', 2) end,
})
"""


class _Scripting:
    """One provider's interpreter and script cache."""

    def __init__(self, module: Any) -> None:
        self.lua = module.LuaRuntime(
            encoding=None,
            register_eval=False,
            register_builtins=False,
            unpack_returned_tuples=True,
            max_memory=_MEMORY_LIMIT,
            attribute_filter=_no_attributes,
        )
        self.scripts: dict[bytes, Any] = {}
        self.client: Client | None = None
        self.read_only = False
        self.deadline = 0.0
        globals_ = self.lua.globals()
        globals_[b"__call"] = self._call
        globals_[b"__clock_check"] = self._past_deadline
        globals_[b"__sha1hex"] = lambda text: hashlib.sha1(_text(text)).hexdigest().encode()
        self._compile = globals_[b"loadstring"]  # kept before the sandbox removes it
        globals_[b"__version"] = REDIS_VERSION
        globals_[b"__version_num"] = _version_num(REDIS_VERSION)
        install_libraries(globals_, self._past_deadline)
        self.lua.execute(LIBRARIES)  # cjson, cmsgpack, bit, struct (before the sandbox)
        self.lua.execute(_PRELUDE)
        self._run = globals_[b"__run"]

    def _past_deadline(self) -> bool:
        return time.monotonic() > self.deadline

    def load(self, body: bytes) -> tuple[bytes, bytes | None]:
        """The script's SHA1 and, if it does not compile, the error reply."""
        sha = hashlib.sha1(body).hexdigest().encode()
        if sha not in self.scripts:
            compiled = self._compile(body, b"@user_script")
            if isinstance(compiled, tuple):  # (nil, message)
                message = _text(compiled[1]).replace(b"\r", b" ").replace(b"\n", b" ")
                return sha, error(b"ERR Error compiling script (new function): " + message)
            self.scripts[sha] = compiled
        return sha, None

    def run(
        self, s: Client, sha: bytes, keys: list[bytes], args: list[bytes], read_only: bool
    ) -> bytes:
        """Run a cached script for ``s``; its reply in ``s``'s protocol."""
        was_resp3, was_denied = s.resp3, s.deny_blocking
        self.client, self.read_only = s, read_only
        limit_ms = int(s.provider.config_values.get(_TIME_LIMIT_NAME, _TIME_LIMIT_DEFAULT))
        self.deadline = time.monotonic() + limit_ms / 1000
        if was_resp3:
            s.set_protocol(2)
        s.deny_blocking = True
        try:
            ok, result = self._run(
                self.scripts[sha], self.lua.table_from(keys), self.lua.table_from(args)
            )
        except Exception as exc:  # a Lua memory error or anything lupa raises
            ok, result = False, str(exc).encode()
        finally:
            s.deny_blocking = was_denied
            if was_resp3:
                s.set_protocol(3)
            self.client = None
        if not ok:
            return _script_error(result, sha)
        return _to_reply(result, s)

    def _call(self, raise_errors: bool, *argv: Any) -> Any:
        s = self.client
        if s is None:
            return self._error(
                b"ERR redis.call/pcall can only be called inside a script invocation"
            )
        if not argv:
            return self._error(b"ERR Please specify at least one argument for this redis lib call")
        arguments: list[bytes] = []
        for arg in argv:
            if isinstance(arg, bytes):
                arguments.append(arg)
            elif isinstance(arg, (int, float)) and not isinstance(arg, bool):
                arguments.append(_number(arg))
            else:
                return self._error(
                    b"ERR Lua redis lib command arguments must be strings or integers"
                )
        command = _TABLE.get(arguments[0]) or _TABLE.get(arguments[0].lower())
        if command is None:
            return self._error(b"ERR Unknown Redis command called from script")
        if "noscript" in command.flags:
            return self._error(b"ERR This Redis command is not allowed from script")
        refused = script_refusal(s, arguments)  # Redis checks ACL before the write checks
        if refused is not None:
            return self._error(refused)
        if self.read_only and "write" in command.flags:
            return self._error(b"ERR Write commands are not allowed from read-only scripts.")
        SCRIPT_CALLS.depth += 1
        try:
            reply = s.execute(arguments)
        finally:
            SCRIPT_CALLS.depth -= 1
        return self._from_reply(reply)

    def _error(self, message: bytes) -> Any:
        return self.lua.table_from({b"err": message})

    def _from_reply(self, reply: bytes) -> Any:
        value, _ = self._parse(reply, 0)
        return value

    def _parse(self, data: bytes, at: int) -> tuple[Any, int]:
        end = data.index(b"\r\n", at)
        kind, line, after = data[at], data[at + 1 : end], end + 2
        if kind == 43:  # +
            return self.lua.table_from({b"ok": line}), after
        if kind == 45:  # -
            return self._error(line), after
        if kind == 58:  # :
            return int(line), after
        if kind == 36:  # $
            size = int(line)
            if size < 0:
                return False, after
            return data[after : after + size], after + size + 2
        count = int(line)  # * (RESP2 only: the session speaks RESP2 during scripts)
        if count < 0:
            return False, after
        items = []
        for _ in range(count):
            item, after = self._parse(data, after)
            items.append(item)
        return self.lua.table_from(items), after


def _version_num(version: bytes) -> int:
    """``REDIS_VERSION_NUM``: ``0x00MMmmpp`` (7.0.15 is 0x07000f)."""
    major, minor, patch = (int(part) for part in version.split(b".")[:3])
    return (major << 16) | (minor << 8) | patch


def _no_attributes(obj: object, name: object, is_setting: bool) -> object:
    raise AttributeError("Python attributes are not reachable from scripts")


def _text(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    return _number(value) if isinstance(value, (int, float)) else str(value).encode()


def _number(value: float) -> bytes:
    """A Lua number as a string, as Lua 5.1 prints it (``%.14g``)."""
    if isinstance(value, int) or (value.is_integer() and abs(value) < 1e15):
        return b"%d" % int(value)
    return b"%.14g" % value


def _script_error(result: Any, sha: bytes) -> bytes:
    """The reply to a script that raised, as Redis words it: ``-<error> script: <sha>, on
    <source>:<line>.`` (the error handler records where it was raised)."""
    try:
        message, source, line = result[b"err"], result[b"source"], result[b"line"]
    except (TypeError, KeyError, IndexError):  # not a table: lupa raised in Python
        message, source, line = b"ERR " + _text(result), None, None
    text = _text(message).replace(b"\r", b" ").replace(b"\n", b" ")
    if source is None or line is None:
        return b"-%s\r\n" % text
    return b"-%s script: %s, on %s:%s.\r\n" % (text, sha, _text(source), _text(line))


def _to_reply(value: Any, s: Client) -> bytes:
    """A Lua value as the reply Redis makes of it (``luaReplyToRedisReply``, RESP2 rules)."""
    if value is None or value is False:
        return s.null
    if value is True:
        return integer(1)
    if isinstance(value, bytes):
        return bulk(value)
    if isinstance(value, (int, float)):  # C's (long long) cast: NaN, inf, overflow: INT64_MIN
        in_range = -(2.0**63) <= value < 2.0**63
        return integer(int(value) if in_range else -(1 << 63))
    if type(value).__name__ != "_LuaTable":  # cjson.null, functions: Redis answers nil
        return s.null
    err = value[b"err"]
    if isinstance(err, bytes):
        return b"-" + err.replace(b"\r", b" ").replace(b"\n", b" ") + b"\r\n"
    ok = value[b"ok"]
    if isinstance(ok, bytes):
        return b"+" + ok.replace(b"\r", b" ").replace(b"\n", b" ") + b"\r\n"
    items = []
    index = 1
    while True:
        item = value[index]
        if item is None:
            break
        items.append(_to_reply(item, s))
        index += 1
    return b"*%d\r\n" % len(items) + b"".join(items)


_TABLE: dict[bytes, Command] = {}


def use_table(table: Mapping[bytes, Command]) -> None:
    """Give ``redis.call`` the command table (the table module calls it once it is built;
    importing it here would make a cycle)."""
    _TABLE.clear()
    _TABLE.update(table)


_RUNTIMES: weakref.WeakKeyDictionary[object, _Scripting] = weakref.WeakKeyDictionary()


def _scripting(s: Client) -> _Scripting | None:
    found = _RUNTIMES.get(s.provider)
    if found is None:
        module = _lupa()
        if module is None:
            return None
        found = _RUNTIMES[s.provider] = _Scripting(module)
    return found


_NO_LUA = error(
    b"ERR Lua scripting is not available: install the lua extra (pip install 'wireproto[lua]')"
)


def _eval(s: Client, argv: list[bytes], by_sha: bool, read_only: bool) -> bytes:
    shown = show_to_monitors(s, argv) if s.provider.monitors else b""
    reply = _checked_eval(s, argv, by_sha, read_only)
    return reply + shown if shown else reply


def _checked_eval(s: Client, argv: list[bytes], by_sha: bool, read_only: bool) -> bytes:
    numkeys = parse_int64(argv[2])
    if numkeys is None:
        return NOT_INTEGER
    if numkeys > len(argv) - 3:
        return _TOO_MANY_KEYS
    if numkeys < 0:
        return _NEGATIVE_KEYS
    scripting = _scripting(s)
    if scripting is None:
        return _NO_LUA
    if by_sha:
        sha = argv[1].lower()
        if sha not in scripting.scripts:
            return _NOSCRIPT
    else:
        sha, failure = scripting.load(argv[1])
        if failure is not None:
            return failure
    keys, args = argv[3 : 3 + numkeys], argv[3 + numkeys :]
    return scripting.run(s, sha, keys, args, read_only)


def eval_(s: Client, argv: list[bytes]) -> bytes:
    """EVAL script numkeys [key ...] [arg ...]."""
    return _eval(s, argv, by_sha=False, read_only=False)


def evalsha(s: Client, argv: list[bytes]) -> bytes:
    """EVALSHA sha1 numkeys [key ...] [arg ...]."""
    return _eval(s, argv, by_sha=True, read_only=False)


def eval_ro(s: Client, argv: list[bytes]) -> bytes:
    """EVAL_RO script numkeys [key ...] [arg ...]."""
    return _eval(s, argv, by_sha=False, read_only=True)


def evalsha_ro(s: Client, argv: list[bytes]) -> bytes:
    """EVALSHA_RO sha1 numkeys [key ...] [arg ...]."""
    return _eval(s, argv, by_sha=True, read_only=True)


def script_load(s: Client, argv: list[bytes]) -> bytes:
    """SCRIPT LOAD script."""
    scripting = _scripting(s)
    if scripting is None:
        return _NO_LUA
    sha, failure = scripting.load(argv[2])
    return failure if failure is not None else bulk(sha)


def script_exists(s: Client, argv: list[bytes]) -> bytes:
    """SCRIPT EXISTS sha1 [sha1 ...]."""
    scripting = _RUNTIMES.get(s.provider)
    known = scripting.scripts if scripting is not None else {}
    return b"*%d\r\n" % (len(argv) - 2) + b"".join(
        integer(1 if sha.lower() in known else 0) for sha in argv[2:]
    )


def script_flush(s: Client, argv: list[bytes]) -> bytes:
    """SCRIPT FLUSH [ASYNC|SYNC]."""
    if len(argv) > 3 or (len(argv) == 3 and argv[2].lower() not in (b"async", b"sync")):
        return error(b"ERR SCRIPT FLUSH only support SYNC|ASYNC option")
    _RUNTIMES.pop(s.provider, None)
    return b"+OK\r\n"


def script_kill(s: Client, argv: list[bytes]) -> bytes:
    """SCRIPT KILL: nothing runs while a command is read, so there is never one to kill."""
    return b"-NOTBUSY No scripts in execution right now.\r\n"


_SCRIPT_HELP = (
    b"DEBUG (YES|SYNC|NO)",
    b"    Set the debug mode for subsequent scripts executed.",
    b"EXISTS <sha1> [<sha1> ...]",
    b"    Return information about the existence of the scripts in the script cache.",
    b"FLUSH [ASYNC|SYNC]",
    b"    Flush the Lua scripts cache. Very dangerous on replicas.",
    b"    When called without the optional mode argument, the behavior is determined by the",
    b"    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    b"    * ASYNC: Asynchronously flush the scripts cache.",
    b"    * SYNC: Synchronously flush the scripts cache.",
    b"KILL",
    b"    Kill the currently executing Lua script.",
    b"LOAD <script>",
    b"    Load a script into the scripts cache without executing it.",
)


def script_help(s: Client, argv: list[bytes]) -> bytes:
    """SCRIPT HELP (Redis's text)."""
    return help_reply(b"SCRIPT", _SCRIPT_HELP)


_SCRIPT_FLAGS = ("noscript", "stale", "skip_monitor", "may_replicate", "no_mandatory_keys")
COMMANDS: list[Command] = [
    Command("eval", -3, eval_, _SCRIPT_FLAGS, (3, 3, 1)),
    Command("evalsha", -3, evalsha, _SCRIPT_FLAGS, (3, 3, 1)),
    Command("eval_ro", -3, eval_ro, ("readonly", *_SCRIPT_FLAGS), (3, 3, 1)),
    Command("evalsha_ro", -3, evalsha_ro, ("readonly", *_SCRIPT_FLAGS), (3, 3, 1)),
]
"""The scripting commands (SCRIPT's subcommands: :data:`SCRIPT_SUBCOMMANDS`)."""

SCRIPT_SUBCOMMANDS: list[Command] = [
    Command("script|load", 3, script_load, ("noscript", "stale")),
    Command("script|exists", -3, script_exists, ("noscript",)),
    Command("script|flush", -2, script_flush, ("noscript",)),
    Command("script|kill", 2, script_kill, ("noscript", "allow_busy")),
    Command("script|help", 2, script_help, ("loading", "stale")),
]
