"""Administrative commands answered as Redis 7.0 answers them on a server with nothing of
the kind loaded or recorded: FUNCTION and FCALL (no library; EVAL and SCRIPT are in
:mod:`.scripting`),
LATENCY, WAIT (no replicas), DEBUG (the harmless subcommands), SHUTDOWN
(refused: a client does not stop this server); ACL is in :mod:`.acl`."""

from __future__ import annotations

import logging
import math
import re
import time

from ..replies import EMPTY_ARRAY, OK, bulk, error, integer, map_reply, verbatim
from . import slowlog
from ._base import SYNTAX_ERROR, Client, Command, bounded_int, c_string, container, help_reply
from ._hub import deliver
from .generic import debug_object
from .sort import strtod_prefix

__all__ = ["COMMANDS", "EMPTY_FUNCTION_DUMP", "SCRIPT_CALLS", "show_to_monitors"]

_log = logging.getLogger("wireproto.providers.resp")

EMPTY_FUNCTION_DUMP = b"\n\x00]\x9b\\@\x0f\x7f\xa2\xda"
"""FUNCTION DUMP with no library: RDB version 10 and its CRC64 (redis-server's bytes)."""

_NOTBUSY = b"-NOTBUSY No scripts in execution right now.\r\n"


# -- FUNCTION and SCRIPT --------------------------------------------------------------


def function_list(s: Client, argv: list[bytes]) -> bytes:
    """FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]: no library is loaded."""
    i = 2
    while i < len(argv):
        option = argv[i].lower()
        if option == b"withcode":
            i += 1
        elif option == b"libraryname" and i + 1 < len(argv):
            i += 2
        else:
            return error(b"ERR Unknown argument %s" % c_string(argv[i]))
    return EMPTY_ARRAY


def function_stats(s: Client, argv: list[bytes]) -> bytes:
    """FUNCTION STATS: nothing running, the Lua engine with no library."""
    engine = map_reply(
        [(bulk(b"libraries_count"), integer(0)), (bulk(b"functions_count"), integer(0))],
        s.resp3,
    )
    return map_reply(
        [
            (bulk(b"running_script"), s.null),
            (bulk(b"engines"), map_reply([(bulk(b"LUA"), engine)], s.resp3)),
        ],
        s.resp3,
    )


def function_dump(s: Client, argv: list[bytes]) -> bytes:
    """FUNCTION DUMP: the serialization of no library."""
    return bulk(EMPTY_FUNCTION_DUMP)


def function_restore(s: Client, argv: list[bytes]) -> bytes:
    """FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]: only the empty set restores here."""
    if len(argv) > 4 or (
        len(argv) == 4 and argv[3].lower() not in (b"flush", b"append", b"replace")
    ):
        return error(
            b"ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."
        )
    if argv[2] != EMPTY_FUNCTION_DUMP:
        return b"-ERR DUMP payload version or checksum are wrong\r\n"
    return OK


def flush_option(s: Client, argv: list[bytes]) -> bytes:
    """FUNCTION FLUSH [ASYNC|SYNC]: nothing to drop."""
    if len(argv) > 3 or (len(argv) == 3 and argv[2].lower() not in (b"async", b"sync")):
        return b"-ERR FUNCTION FLUSH only supports SYNC|ASYNC option\r\n"
    return OK


def function_delete(s: Client, argv: list[bytes]) -> bytes:
    """FUNCTION DELETE name."""
    return b"-ERR Library not found\r\n"


def not_busy(s: Client, argv: list[bytes]) -> bytes:
    """FUNCTION KILL: no function runs."""
    return _NOTBUSY


_FUNCTION_HELP = (
    b"LOAD [REPLACE] <FUNCTION CODE>",
    b"    Create a new library with the given library name and code.",
    b"DELETE <LIBRARY NAME>",
    b"    Delete the given library.",
    b"LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    b"    Return general information on all the libraries:",
    b"    * Library name",
    b"    * The engine used to run the Library",
    b"    * Library description",
    b"    * Functions list",
    b"    * Library code (if WITHCODE is given)",
    b"    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    b"STATS",
    b"    Return information about the current function running:",
    b"    * Function name",
    b"    * Command used to run the function",
    b"    * Duration in MS that the function is running",
    b"    If no function is running, return nil",
    b"    In addition, returns a list of available engines.",
    b"KILL",
    b"    Kill the current running function.",
    b"FLUSH [ASYNC|SYNC]",
    b"    Delete all the libraries.",
    b"    When called without the optional mode argument, the behavior is determined by the",
    b"    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    b"    * ASYNC: Asynchronously flush the libraries.",
    b"    * SYNC: Synchronously flush the libraries.",
    b"DUMP",
    b"    Return a serialized payload representing the current libraries, can be restored"
    b" using FUNCTION RESTORE command",
    b"RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    b"    Restore the libraries represented by the given payload, it is possible to give a"
    b" restore policy to",
    b"    control how to handle existing libraries (default APPEND):",
    b"    * FLUSH: delete all existing libraries.",
    b"    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    b"    * REPLACE: appends the restored libraries to the existing libraries, On collision,"
    b" replace the old",
    b"      libraries with the new libraries (notice that even on this option there is a"
    b" chance of failure",
    b"      in case of functions name collision with another library).",
)


def function_help(s: Client, argv: list[bytes]) -> bytes:
    """FUNCTION HELP (Redis's text)."""
    return help_reply(b"FUNCTION", _FUNCTION_HELP)


def fcall(s: Client, argv: list[bytes]) -> bytes:
    """FCALL / FCALL_RO: no function is loaded."""
    return b"-ERR Function not found\r\n"


# -- LATENCY, WAIT -----------------------------------------------------------


_ROLE = b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n"


def role(s: Client, argv: list[bytes]) -> bytes:
    """ROLE: a master at replication offset 0 with no replicas (INFO replication's values)."""
    return _ROLE


def zero(s: Client, argv: list[bytes]) -> bytes:
    """LATENCY RESET: nothing recorded."""
    return integer(0)


def empty(s: Client, argv: list[bytes]) -> bytes:
    """LATENCY LATEST / HISTORY: no latency event is recorded."""
    return EMPTY_ARRAY


_LATENCY_HELP = (
    b"DOCTOR",
    b"    Return a human readable latency analysis report.",
    b"GRAPH <event>",
    b"    Return an ASCII latency graph for the <event> class.",
    b"HISTORY <event>",
    b"    Return time-latency samples for the <event> class.",
    b"LATEST",
    b"    Return the latest latency samples for all events.",
    b"RESET [<event> ...]",
    b"    Reset latency data of one or more <event> classes.",
    b"    (default: reset all data for all event classes)",
    b"HISTOGRAM [COMMAND ...]",
    b"    Return a cumulative distribution of latencies in the format of a histogram for the"
    b" specified command names.",
    b"    If no commands are specified then all histograms are replied.",
)


def latency_help(s: Client, argv: list[bytes]) -> bytes:
    """LATENCY HELP (Redis's text)."""
    return help_reply(b"LATENCY", _LATENCY_HELP)


_DOCTOR_DISABLED = (
    b"I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance."
    b' You may use "CONFIG SET latency-monitor-threshold <milliseconds>." in order to enable'
    b" it. If we weren't in a deep space mission I'd suggest to take a look at"
    b" https://redis.io/topics/latency-monitor.\n"
)
_DOCTOR_NO_EVENT = (
    b"Dave, no latency spike was observed during the lifetime of this Redis instance, not in"
    b" the slightest bit. I honestly think you ought to sit down calmly, take a stress pill,"
    b" and think things over.\n"
)


def latency_doctor(s: Client, argv: list[bytes]) -> bytes:
    """LATENCY DOCTOR: Redis's report when no latency event is recorded (none ever is here)."""
    threshold = s.provider.config_values.get(b"latency-monitor-threshold", b"0")
    report = _DOCTOR_DISABLED if threshold == b"0" else _DOCTOR_NO_EVENT
    return verbatim(report, s.resp3)


def latency_graph(s: Client, argv: list[bytes]) -> bytes:
    """LATENCY GRAPH event: no event has samples."""
    return error(b"ERR No samples available for event '%s'" % c_string(argv[2]))


def latency_histogram(s: Client, argv: list[bytes]) -> bytes:
    """LATENCY HISTOGRAM [command ...]: no command's latency is recorded (INFO
    latencystats is empty too), so the map is empty."""
    return map_reply([], s.resp3)


def wait(s: Client, argv: list[bytes]) -> bytes:
    """WAIT numreplicas timeout: there are no replicas, so none acknowledged (at once)."""
    if bounded_int(argv[1]) is None:
        return b"-ERR value is not an integer or out of range\r\n"
    timeout = bounded_int(argv[2])
    if timeout is None:
        return b"-ERR timeout is not an integer or out of range\r\n"
    if timeout < 0:
        return b"-ERR timeout is negative\r\n"
    return integer(0)


# -- DEBUG and SHUTDOWN ---------------------------------------------------------------


def debug(s: Client, argv: list[bytes]) -> bytes:
    """DEBUG SLEEP seconds, DEBUG SET-ACTIVE-EXPIRE 0|1, DEBUG OBJECT key, DEBUG ERROR text
    (the harmless subcommands)."""
    sub = argv[1].lower()
    if sub == b"object" and len(argv) == 3:
        return debug_object(s, argv[2])
    if sub == b"sleep" and len(argv) == 3:
        seconds = strtod_prefix(argv[2])  # Redis's strtold: "x" sleeps 0, "0x1" one second
        if math.isfinite(seconds) and seconds > 0:
            time.sleep(seconds)  # blocks the server, as Redis's does
        return OK
    if sub == b"error" and len(argv) == 3:  # the caller's own error, one line
        return b"-" + argv[2].replace(b"\n", b" ").replace(b"\r", b" ") + b"\r\n"
    if sub == b"set-active-expire" and len(argv) == 3:
        s.provider.active_expire = _atoi(argv[2]) != 0
        return OK
    return error(
        b"ERR unknown subcommand or wrong number of arguments for '%s'. Try DEBUG HELP."
        % c_string(argv[1])
    )


_ATOI = re.compile(rb"[ \t\n\v\f\r]*[+-]?[0-9]+")


def _atoi(text: bytes) -> int:
    """C's ``atoi`` as DEBUG SET-ACTIVE-EXPIRE reads its flag: the leading integer, else 0."""
    match = _ATOI.match(c_string(text))
    return 0 if match is None else int(match.group(0))


def shutdown(s: Client, argv: list[bytes]) -> bytes:
    """SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: a client does not stop this server."""
    options = {arg.lower() for arg in argv[1:]}
    if not options <= {b"nosave", b"save", b"now", b"force", b"abort"} or (
        {b"nosave", b"save"} <= options
    ):
        return SYNTAX_ERROR
    if b"abort" in options:
        if len(options) > 1:
            return SYNTAX_ERROR
        return b"-ERR No shutdown in progress.\r\n"
    _log.warning("SHUTDOWN refused: the server is stopped by its owner, not by a client")
    return b"-ERR Errors trying to SHUTDOWN. Check logs.\r\n"


# -- MONITOR --------------------------------------------------------------------------

_REPR = {ord("\\"): b"\\\\", ord('"'): b'\\"', ord("\n"): b"\\n", ord("\r"): b"\\r"}
_REPR.update({ord("\t"): b"\\t", 7: b"\\a", 8: b"\\b"})


def _quoted(arg: bytes) -> bytes:
    """Redis's ``sdscatrepr``: quoted, escapes for quotes and controls, \\xHH otherwise."""
    out = bytearray(b'"')
    for byte in arg:
        special = _REPR.get(byte)
        if special is not None:
            out += special
        elif 32 <= byte < 127:
            out.append(byte)
        else:
            out += b"\\x%02x" % byte
    out += b'"'
    return bytes(out)


class _ScriptCalls:
    """How deep scripts are in ``redis.call`` now: MONITOR shows those commands as Lua's."""

    __slots__ = ("depth",)

    def __init__(self) -> None:
        self.depth = 0


SCRIPT_CALLS = _ScriptCalls()
"""Raised by the scripting module around each command a script runs."""


def monitor_line(s: Client, argv: list[bytes], now: float) -> bytes:
    """What MONITOR shows of ``argv`` run by ``s``: ``+<time> [<db> <addr>] "arg" ...``
    (``lua`` for the address of a command a script runs, as Redis shows it)."""
    peer = s.sender.get_extra_info("peername")
    if SCRIPT_CALLS.depth:
        where = b"lua"
    elif isinstance(peer, tuple) and len(peer) >= 2:
        where = b"%s:%d" % (str(peer[0]).encode(), peer[1])
    else:
        where = b"unix:%s" % str(peer).encode()
    micros = int(now * 1_000_000)
    return b"+%d.%06d [%d %s] %s\r\n" % (
        micros // 1_000_000,
        micros % 1_000_000,
        getattr(s, "db", 0),
        where,
        b" ".join(_quoted(arg) for arg in argv),
    )


def feed_monitors(s: Client, command: Command, argv: list[bytes]) -> bytes:
    """Show ``argv`` to every MONITOR connection (not admin or skip_monitor commands);
    the line for ``s`` itself when it monitors (it follows the command's reply)."""
    if "admin" in command.flags or "skip_monitor" in command.flags:
        return b""
    return show_to_monitors(s, argv)


def show_to_monitors(s: Client, argv: list[bytes]) -> bytes:
    """Show ``argv`` to every MONITOR connection now, whatever its flags (EVAL and FCALL
    show themselves before the commands their script runs, as Redis's do); the line for
    ``s`` itself when it monitors."""
    line = monitor_line(s, argv, time.time())
    own = b""
    for monitor in list(s.provider.monitors):
        if monitor is s:
            own = line
        else:
            deliver(monitor, line)
    return own


def monitor(s: Client, argv: list[bytes]) -> bytes:
    """MONITOR: this connection is shown every command the others run from now on."""
    s.provider.monitors[s] = None
    return OK


_ADMIN = ("admin", "noscript", "loading", "stale")
_SCRIPT = ("noscript", "loading", "stale")
_LATENCY_TIPS = (
    "nondeterministic_output",
    "request_policy:all_nodes",
    "response_policy:special",
)

COMMANDS: list[Command] = [
    container(
        "function",
        -2,
        (),
        Command("function|list", -2, function_list, ("noscript",), group="scripting"),
        Command("function|stats", 2, function_stats, ("noscript", "allow_busy"), group="scripting"),
        Command("function|dump", 2, function_dump, ("noscript",), group="scripting"),
        Command(
            "function|restore",
            -3,
            function_restore,
            ("write", "denyoom", "noscript"),
            group="scripting",
        ),
        Command("function|flush", -2, flush_option, ("write", "noscript"), group="scripting"),
        Command("function|delete", 3, function_delete, ("write", "noscript"), group="scripting"),
        Command("function|kill", 2, not_busy, ("noscript", "allow_busy"), group="scripting"),
        Command("function|help", 2, function_help, ("loading", "stale"), group="scripting"),
    ),
    Command(
        "fcall",
        -3,
        fcall,
        ("noscript", "stale", "skip_monitor", "may_replicate", "no_mandatory_keys"),
        group="scripting",
    ),
    Command(
        "fcall_ro",
        -3,
        fcall,
        ("readonly", "noscript", "stale", "skip_monitor", "no_mandatory_keys"),
        group="scripting",
    ),
    container(
        "slowlog",
        -2,
        (),
        *slowlog.COMMANDS,
    ),
    container(
        "latency",
        -2,
        (),
        Command("latency|latest", 2, empty, _ADMIN),
        Command("latency|history", 3, empty, _ADMIN),
        Command("latency|reset", -2, zero, _ADMIN),
        Command("latency|doctor", 2, latency_doctor, _ADMIN, tips=_LATENCY_TIPS),
        Command("latency|graph", 3, latency_graph, _ADMIN, tips=_LATENCY_TIPS),
        Command("latency|histogram", -2, latency_histogram, _ADMIN, tips=_LATENCY_TIPS),
        Command("latency|help", 2, latency_help, ("loading", "stale")),
    ),
    Command(
        "role",
        1,
        role,
        ("noscript", "loading", "stale", "fast"),
        acl_categories=("admin", "dangerous"),
    ),
    Command("monitor", 1, monitor, ("admin", "noscript", "loading", "stale")),
    Command(
        "wait",
        3,
        wait,
        ("noscript",),
        acl_categories=("connection",),
        tips=("request_policy:all_shards", "response_policy:agg_min"),
    ),
    Command("debug", -2, debug, ("admin", "noscript", "loading", "stale")),
    Command(
        "shutdown",
        -1,
        shutdown,
        ("admin", "noscript", "loading", "stale", "no_multi", "allow_busy"),
    ),
]
