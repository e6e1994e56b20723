"""Stream commands: XADD, XLEN, XRANGE, XREVRANGE, XDEL, XTRIM, XREAD, XSETID.

Semantics, IDs and error texts follow ``t_stream.c`` of Redis 7.0; consumer groups
are in :mod:`.stream_groups`. ``XREAD BLOCK`` waits in the waiting room of the
blocking commands (:mod:`.blocking`) and is served when an entry arrives.
"""

from __future__ import annotations

import re

from ...datatypes.thresholds import THRESHOLDS
from ...kvstore import Store, WrongType, parse_int64
from ..replies import OK, ZERO, bulk, error, integer
from ..stream import MAX_ID, U64, Stream, StreamId, format_id
from ._base import NO_SUCH_KEY, NOT_INTEGER, SYNTAX_ERROR, Client, Command, arity_error
from .blocking import block

__all__ = [
    "BAD_END",
    "BAD_ID",
    "BAD_START",
    "COMMANDS",
    "TIMEOUT_NEGATIVE",
    "TIMEOUT_NOT_INTEGER",
    "UNBALANCED",
    "entries_reply",
    "next_id",
    "parse_id",
    "parse_interval",
    "previous_id",
    "read_options",
]

BAD_ID = error(b"ERR Invalid stream ID specified as stream command argument")
_NOT_ABOVE = error(
    b"ERR The ID specified in XADD is equal or smaller than the target stream top item"
)
_ZERO_ID = error(b"ERR The ID specified in XADD must be greater than 0-0")
_EXHAUSTED = error(b"ERR The stream has exhausted the last possible ID, unable to add more items")
_BOTH = error(b"ERR syntax error, MAXLEN and MINID options at the same time are not compatible")
_NEGATIVE_MAXLEN = error(b"ERR The MAXLEN argument must be >= 0.")
_NEGATIVE_LIMIT = error(b"ERR The LIMIT argument must be >= 0.")
_LIMIT_ALONE = error(
    b"ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"
)
_NO_STRATEGY = error(b"ERR syntax error, XTRIM must be called with a trimming strategy")
_LIMIT_EXACT = error(b"ERR syntax error, LIMIT cannot be used without the special ~ option")
UNBALANCED = error(
    b"ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."
)
_NOT_XREADGROUP = error(
    b"ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead."
)
_NOACK_XREAD = error(
    b"ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead."
)
_GT_XREAD = error(
    b"ERR The > ID can be specified only when calling XREADGROUP using the GROUP "
    b"<group> <consumer> option."
)
TIMEOUT_NOT_INTEGER = error(b"ERR timeout is not an integer or out of range")
TIMEOUT_NEGATIVE = error(b"ERR timeout is negative")
BAD_START = error(b"ERR invalid start ID for the interval")
BAD_END = error(b"ERR invalid end ID for the interval")


def _approx_limit() -> int:
    """An approximate trim's default LIMIT: 100 nodes of ``stream-node-max-entries`` (Redis's
    10,000 when that is 0, at most 1,000,000)."""
    limit = 100 * THRESHOLDS.stream_node_max_entries
    return 10_000 if limit <= 0 else min(limit, 1_000_000)


_STRTOULL = re.compile(rb"[ \t\n\v\f\r]*([+-]?)([0-9]+)")


def _string2ull(text: bytes) -> int | None:
    """Redis's ``string2ull``: strict int64 first, else ``strtoull``'s own rules."""
    value = parse_int64(text)
    if value is not None:
        return value if value >= 0 else None
    match = _STRTOULL.fullmatch(text)
    if match is None:
        return None
    number = int(match[2])
    if number > U64:
        return None
    return (-number) & U64 if match[1] == b"-" else number


def parse_id(
    text: bytes, missing_seq: int, *, strict: bool, auto_seq: bool = False
) -> tuple[StreamId, bool] | None:
    """Redis's ``streamGenericParseIDOrReply``: the ID and whether its sequence was given."""
    if len(text) > 127:
        return None
    text = text.split(b"\0", 1)[0]  # Redis reads a C string
    if text in (b"-", b"+"):
        if strict:
            return None
        return ((0, 0) if text == b"-" else MAX_ID), True
    ms_text, dash, seq_text = text.partition(b"-")
    ms = _string2ull(ms_text)
    if ms is None:
        return None
    if not dash:
        return (ms, missing_seq), True
    if auto_seq and seq_text == b"*":
        return (ms, 0), False
    seq = _string2ull(seq_text)
    if seq is None:
        return None
    return (ms, seq), True


def next_id(stream_id: StreamId) -> StreamId | None:
    ms, seq = stream_id
    if seq < U64:
        return ms, seq + 1
    return (ms + 1, 0) if ms < U64 else None


def previous_id(stream_id: StreamId) -> StreamId | None:
    ms, seq = stream_id
    if seq:
        return ms, seq - 1
    return (ms - 1, U64) if ms else None


def entries_reply(stream: Stream, ids: list[StreamId]) -> bytes:
    parts = [b"*%d\r\n" % len(ids)]
    for stream_id in ids:
        fields = stream.entries[stream_id]
        parts.append(b"*2\r\n" + bulk(format_id(stream_id)) + b"*%d\r\n" % len(fields))
        parts.extend(bulk(field) for field in fields)
    return b"".join(parts)


# -- XADD / XTRIM ----------------------------------------------------------------------


class _Trim:
    """XADD's and XTRIM's options (``streamAddTrimArgs``)."""

    __slots__ = (
        "approx",
        "auto_seq",
        "id",
        "id_given",
        "limit",
        "max_length",
        "min_id",
        "mkstream",
    )

    def __init__(self) -> None:
        self.max_length: int | None = None
        self.min_id: StreamId | None = None
        self.approx = False
        self.limit = 0
        self.mkstream = True
        self.id: StreamId = (0, 0)
        self.id_given = False
        self.auto_seq = False

    @property
    def trims(self) -> bool:
        return self.max_length is not None or self.min_id is not None


def _trim_options(argv: list[bytes], xadd: bool) -> tuple[_Trim, int] | bytes:
    """The options and the index of the ID (XADD), or the error reply."""
    options = _Trim()
    limit_given = False
    index, argc = 2, len(argv)
    while index < argc:
        more = argc - 1 - index
        option = argv[index].lower()
        if xadd and argv[index] == b"*":
            break
        if option in (b"maxlen", b"minid") and more:
            if options.trims:
                return _BOTH
            options.approx = False
            if more >= 2 and argv[index + 1] in (b"~", b"="):
                options.approx = argv[index + 1] == b"~"
                index += 1
            if option == b"maxlen":
                length = parse_int64(argv[index + 1])
                if length is None:
                    return NOT_INTEGER
                if length < 0:
                    return _NEGATIVE_MAXLEN
                options.max_length = length
            else:
                parsed = parse_id(argv[index + 1], 0, strict=True)
                if parsed is None:
                    return BAD_ID
                options.min_id = parsed[0]
            index += 2
        elif option == b"limit" and more:
            limit = parse_int64(argv[index + 1])
            if limit is None:
                return NOT_INTEGER
            if limit < 0:
                return _NEGATIVE_LIMIT
            options.limit, limit_given = limit, True
            index += 2
        elif xadd and option == b"nomkstream":
            options.mkstream = False
            index += 1
        elif xadd:
            parsed = parse_id(argv[index], 0, strict=True, auto_seq=True)
            if parsed is None:
                return BAD_ID
            options.id, seq_given = parsed
            options.id_given, options.auto_seq = True, not seq_given
            break
        else:
            return SYNTAX_ERROR
    if options.limit and not options.trims:
        return _LIMIT_ALONE
    if not xadd and not options.trims:
        return _NO_STRATEGY
    if limit_given:
        if not options.approx:
            return _LIMIT_EXACT
    elif options.approx:
        options.limit = _approx_limit()
    return options, index


def _new_id(s: Client, stream: Stream, options: _Trim) -> StreamId | None:
    """The ID XADD gives the entry (``streamAppendItem``), or None if it is not above the top."""
    last = stream.last_id
    if not options.id_given:
        now = s.store.clock()
        return (now, 0) if now > last[0] else next_id(last)
    if options.auto_seq:
        if last[0] == options.id[0]:
            return None if last[1] == U64 else (last[0], last[1] + 1)
        return options.id
    return options.id


def xadd(s: Client, argv: list[bytes]) -> bytes:
    """XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value ..."""
    parsed = _trim_options(argv, True)
    if isinstance(parsed, bytes):
        return parsed
    options, id_index = parsed
    fields = argv[id_index + 1 :]
    if len(fields) < 2 or len(fields) % 2:
        return arity_error("xadd")
    if options.id_given and not options.auto_seq and options.id == (0, 0):
        return _ZERO_ID
    store, key = s.store, argv[1]
    stream = store.read_container(key, Stream)
    if stream is None:
        if not options.mkstream:
            return s.null
        stream = store.write_container(key, Stream)
    if stream.last_id == MAX_ID:
        return _EXHAUSTED
    new_id = _new_id(s, stream, options)
    if new_id is None or new_id <= stream.last_id:
        return _NOT_ABOVE
    stream.append(new_id, list(fields))
    store.container_written(key, b"xadd")
    if options.trims and stream.trim(
        options.max_length, options.min_id, options.approx, options.limit
    ):
        store.notify(b"xtrim", key)
    return bulk(format_id(new_id))


def xtrim(s: Client, argv: list[bytes]) -> bytes:
    """XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]."""
    parsed = _trim_options(argv, False)
    if isinstance(parsed, bytes):
        return parsed
    options, _ = parsed
    stream = s.store.read_container(argv[1], Stream)
    if stream is None:
        return ZERO
    deleted = stream.trim(options.max_length, options.min_id, options.approx, options.limit)
    if deleted:
        s.store.container_written(argv[1], b"xtrim")
    return integer(deleted)


# -- reads ---------------------------------------------------------------------------


def xlen(s: Client, argv: list[bytes]) -> bytes:
    """XLEN key."""
    stream = s.store.read_container(argv[1], Stream)
    return integer(0 if stream is None else len(stream))


def parse_interval(text: bytes, missing_seq: int) -> tuple[StreamId, bool] | None:
    """A range bound: ``(`` makes it exclusive (then ``-``/``+`` are refused)."""
    if len(text) > 1 and text[:1] == b"(":
        parsed = parse_id(text[1:], missing_seq, strict=True)
        return None if parsed is None else (parsed[0], True)
    parsed = parse_id(text, missing_seq, strict=False)
    return None if parsed is None else (parsed[0], False)


def _range(s: Client, argv: list[bytes], reverse: bool) -> bytes:
    first, second = (argv[3], argv[2]) if reverse else (argv[2], argv[3])
    start = parse_interval(first, 0)
    if start is None:
        return BAD_ID
    low: StreamId | None = start[0]
    if start[1]:
        low = next_id(start[0])
        if low is None:
            return BAD_START
    end = parse_interval(second, U64)
    if end is None:
        return BAD_ID
    high: StreamId | None = end[0]
    if end[1]:
        high = previous_id(end[0])
        if high is None:
            return BAD_END
    count = -1
    index = 4
    while index < len(argv):
        if argv[index].lower() == b"count" and index + 1 < len(argv):
            parsed = parse_int64(argv[index + 1])
            if parsed is None:
                return NOT_INTEGER
            count = max(parsed, 0)
            index += 2
        else:
            return SYNTAX_ERROR
    stream = s.store.read_container(argv[1], Stream)
    if stream is None:
        return b"*0\r\n"
    if count == 0:
        return s.null_array
    assert low is not None and high is not None
    return entries_reply(stream, stream.range(low, high, max(count, 0), reverse))


def xrange(s: Client, argv: list[bytes]) -> bytes:
    """XRANGE key start end [COUNT count]."""
    return _range(s, argv, False)


def xrevrange(s: Client, argv: list[bytes]) -> bytes:
    """XREVRANGE key end start [COUNT count]."""
    return _range(s, argv, True)


ReadOptions = tuple[int, int, bytes | None, bytes, bool, int | None]
"""COUNT, where STREAMS' keys start, GROUP's group and consumer, NOACK, BLOCK (ms)."""


def read_options(argv: list[bytes], *, groups: bool) -> ReadOptions | bytes:
    """XREAD's and XREADGROUP's options: count, where STREAMS' keys start, group and
    consumer (``groups`` only), NOACK, BLOCK; or the error."""
    count = 0
    group_name: bytes | None = None
    consumer_name = b""
    noack = False
    block_ms: int | None = None
    index, argc = 1, len(argv)
    while index < argc:
        more = argc - index - 1
        option = argv[index].lower()
        if option == b"block" and more:
            block_ms = parse_int64(argv[index + 1])
            if block_ms is None:
                return TIMEOUT_NOT_INTEGER
            if block_ms < 0:
                return TIMEOUT_NEGATIVE
            index += 2
        elif option == b"count" and more:
            parsed = parse_int64(argv[index + 1])
            if parsed is None:
                return NOT_INTEGER
            count = max(parsed, 0)
            index += 2
        elif option == b"streams" and more:
            return count, index + 1, group_name, consumer_name, noack, block_ms
        elif option == b"group" and more >= 2:
            if not groups:
                return _NOT_XREADGROUP
            group_name, consumer_name = argv[index + 1], argv[index + 2]
            index += 3
        elif option == b"noack":
            if not groups:
                return _NOACK_XREAD
            noack = True
            index += 1
        else:
            return SYNTAX_ERROR
    return SYNTAX_ERROR


def xread(s: Client, argv: list[bytes]) -> bytes:
    """XREAD [COUNT count] [BLOCK ms] STREAMS key ... id ..."""
    options = read_options(argv, groups=False)
    if isinstance(options, bytes):
        return options
    count, streams_at, _, _, _, block_ms = options
    names = argv[streams_at:]
    if len(names) % 2:
        return UNBALANCED
    half = len(names) // 2
    store = s.store
    after: list[StreamId] = []
    for key, text in zip(names[:half], names[half:], strict=True):
        stream = store.read_container(key, Stream)
        if text == b"$":
            after.append(stream.last_id if stream is not None else (0, 0))
            continue
        if text == b">":
            return _GT_XREAD
        given = parse_id(text, 0, strict=True)
        if given is None:
            return BAD_ID
        after.append(given[0])
    replies: list[bytes] = []
    for key, last in zip(names[:half], after, strict=True):
        reply = _newer(s, store, key, last, count)
        if reply is not None:
            replies.append(reply)
    if replies:
        return (b"%%%d\r\n" if s.resp3 else b"*%d\r\n") % len(replies) + b"".join(replies)
    if block_ms is None or s.deny_blocking:
        return s.null_array
    waits = dict(zip(names[:half], after, strict=True))
    blocked_count = count or _BLOCKED_DEFAULT_COUNT

    def serve(store: Store, key: bytes) -> bytes | None:
        reply = _newer(s, store, key, waits[key], blocked_count)
        if reply is None:
            return None
        return (b"%1\r\n" if s.resp3 else b"*1\r\n") + reply

    return block(s, list(waits), block_ms / 1000 if block_ms else None, serve, s.null_array)


_BLOCKED_DEFAULT_COUNT = 1000
"""Redis's ``XREAD_BLOCKED_DEFAULT_COUNT``: the most a woken XREAD without COUNT returns."""


def _newer(s: Client, store: Store, key: bytes, last: StreamId, count: int) -> bytes | None:
    """``[key, entries]`` of the entries of the stream at ``key`` after ``last``, or None."""
    try:
        stream = store.read_container(key, Stream)
    except WrongType:
        return None
    if stream is None or not stream.ids or stream.ids[-1] <= last:
        return None
    start = next_id(last)
    assert start is not None
    entries = entries_reply(stream, stream.range(start, MAX_ID, count, False))
    return bulk(key) + entries if s.resp3 else b"*2\r\n" + bulk(key) + entries


# -- XDEL / XSETID -----------------------------------------------------------------------


def xdel(s: Client, argv: list[bytes]) -> bytes:
    """XDEL key id [id ...]."""
    stream = s.store.read_container(argv[1], Stream)
    if stream is None:
        return ZERO
    ids: list[StreamId] = []
    for text in argv[2:]:
        parsed = parse_id(text, 0, strict=True)
        if parsed is None:
            return BAD_ID
        ids.append(parsed[0])
    deleted = sum(stream.delete(stream_id) for stream_id in ids)
    if deleted:
        s.store.container_written(argv[1], b"xdel")
    return integer(deleted)


def xsetid(s: Client, argv: list[bytes]) -> bytes:
    """XSETID key last-id [ENTRIESADDED n] [MAXDELETEDID id]."""
    parsed = parse_id(argv[2], 0, strict=True)
    if parsed is None:
        return BAD_ID
    new_last = parsed[0]
    added = -1
    max_deleted: StreamId = (0, 0)
    index = 3
    while index < len(argv):
        option = argv[index].lower()
        if option == b"entriesadded" and index + 1 < len(argv):
            value = parse_int64(argv[index + 1])
            if value is None:
                return NOT_INTEGER
            if value < 0:
                return error(b"ERR entries_added must be positive")
            added = value
        elif option == b"maxdeletedid" and index + 1 < len(argv):
            bound = parse_id(argv[index + 1], 0, strict=True)
            if bound is None:
                return BAD_ID
            if new_last < bound[0]:
                return error(
                    b"ERR The ID specified in XSETID is smaller than the provided "
                    b"max_deleted_entry_id"
                )
            max_deleted = bound[0]
        else:
            return SYNTAX_ERROR
        index += 2
    stream = s.store.read_container(argv[1], Stream)
    if stream is None:
        return NO_SUCH_KEY
    if len(stream):
        if new_last < stream.ids[-1]:
            return error(
                b"ERR The ID specified in XSETID is smaller than the target stream top item"
            )
        if added != -1 and len(stream) > added:
            return error(
                b"ERR The entries_added specified in XSETID is smaller than the target "
                b"stream length"
            )
    stream.last_id = new_last
    if added != -1:
        stream.entries_added = added
    if max_deleted != (0, 0):
        stream.max_deleted_id = max_deleted
    s.store.container_written(argv[1], b"xsetid")
    return OK


_ONE_KEY = (1, 1, 1)
COMMANDS: list[Command] = [
    Command("xadd", -5, xadd, ("write", "denyoom", "fast"), _ONE_KEY),
    Command("xlen", 2, xlen, ("readonly", "fast"), _ONE_KEY),
    Command("xrange", -4, xrange, ("readonly",), _ONE_KEY),
    Command("xrevrange", -4, xrevrange, ("readonly",), _ONE_KEY),
    Command("xdel", -3, xdel, ("write", "fast"), _ONE_KEY),
    Command("xtrim", -4, xtrim, ("write",), _ONE_KEY),
    Command("xread", -4, xread, ("readonly", "blocking"), (0, 0, 0)),
    Command("xsetid", -3, xsetid, ("write", "denyoom", "fast"), _ONE_KEY),
]
"""The stream commands, for the command table."""
