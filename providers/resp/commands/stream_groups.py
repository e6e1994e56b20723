"""Stream consumer groups: XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM and XINFO,
as ``t_stream.c`` of Redis 7.0 serves them (``XREADGROUP BLOCK`` answers at once)."""

from __future__ import annotations

from ...kvstore import Store, WrongType, parse_int64
from ..replies import OK, ZERO, bulk, error, integer, map_reply
from ..stream import MAX_ID, U64, Consumer, Group, Pending, Stream, StreamId, format_id
from ._base import NO_SUCH_KEY, NOT_INTEGER, SYNTAX_ERROR, Client, Command, container
from .blocking import block
from .streams import (
    BAD_END,
    BAD_ID,
    BAD_START,
    UNBALANCED,
    entries_reply,
    next_id,
    parse_id,
    parse_interval,
    previous_id,
    read_options,
)

__all__ = ["COMMANDS"]

_ONE_KEY = (1, 1, 1)

# -- consumer groups ---------------------------------------------------------------------


def _subcommand_syntax(argv: list[bytes]) -> bytes:
    """Redis's ``addReplySubcommandSyntaxError``."""
    return error(
        b"ERR unknown subcommand or wrong number of arguments for '%s'. Try %s HELP."
        % (argv[1][:128], argv[0].upper())
    )


def _help(argv: list[bytes], lines: list[bytes]) -> bytes:
    head = b"%s <subcommand> [<arg> [value] [opt] ...]. Subcommands are:" % argv[0].upper()
    every = [head, *lines, b"HELP", b"    Prints this help."]
    return b"*%d\r\n" % len(every) + b"".join(b"+%s\r\n" % line for line in every)


_XGROUP_HELP = [
    b"CREATE <key> <groupname> <id|$> [option]",
    b"    Create a new consumer group. Options are:",
    b"    * MKSTREAM",
    b"      Create the empty stream if it does not exist.",
    b"    * ENTRIESREAD entries_read",
    b"      Set the group's entries_read counter (internal use).",
    b"CREATECONSUMER <key> <groupname> <consumer>",
    b"    Create a new consumer in the specified group.",
    b"DELCONSUMER <key> <groupname> <consumer>",
    b"    Remove the specified consumer.",
    b"DESTROY <key> <groupname>",
    b"    Remove the specified group.",
    b"SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    b"    Set the current group ID and entries_read counter.",
]
_XINFO_HELP = [
    b"CONSUMERS <key> <groupname>",
    b"    Show consumers of <groupname>.",
    b"GROUPS <key>",
    b"    Show the stream consumer groups.",
    b"STREAM <key> [FULL [COUNT <count>]",
    b"    Show information about the stream.",
]
_NEEDS_KEY = error(
    b"ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want "
    b"to use the MKSTREAM option to create an empty stream automatically."
)


def _no_group(key: bytes, group: bytes, suffix: bytes = b"") -> bytes:
    return b"-NOGROUP No such key '%s' or consumer group '%s'%s\r\n" % (key, group, suffix)


def _consumer(s: Client, key: bytes, group: Group, name: bytes) -> Consumer:
    """Look up (refreshing its seen time) or create a consumer, as XREADGROUP and claims do."""
    now = s.store.clock()
    found = group.consumers.get(name)
    if found is not None:
        found.seen_time = now
        return found
    created = group.consumers[name] = Consumer(name, now)
    s.store.notify(b"xgroup-createconsumer", key)
    return created


def _xgroup_options(sub: bytes, argv: list[bytes]) -> tuple[bool, int] | bytes:
    """MKSTREAM and ENTRIESREAD after the fixed arguments, or the error."""
    mkstream = False
    entries_read = -1
    index = 5
    while index < len(argv):
        option = argv[index].lower()
        if sub == b"create" and option == b"mkstream":
            mkstream = True
            index += 1
        elif sub in (b"create", b"setid") and option == b"entriesread" and index + 1 < len(argv):
            value = parse_int64(argv[index + 1])
            if value is None:
                return NOT_INTEGER
            if value < 0 and value != -1:
                return error(b"ERR value for ENTRIESREAD must be positive or -1")
            entries_read = value
            index += 2
        else:
            return _subcommand_syntax(argv)
    return mkstream, entries_read


def _xgroup_create(s: Client, argv: list[bytes], stream: Stream | None, entries_read: int) -> bytes:
    key, name = argv[2], argv[3]
    if argv[4] == b"$":
        start = stream.last_id if stream is not None else (0, 0)
    else:
        parsed = parse_id(argv[4], 0, strict=True)
        if parsed is None:
            return BAD_ID
        start = parsed[0]
    if stream is None:
        stream = s.store.write_container(key, Stream)
        s.store.container_written(key, b"xgroup-create-stream")
    if name in stream.groups:
        return b"-BUSYGROUP Consumer Group name already exists\r\n"
    stream.groups[name] = Group(start, entries_read)
    s.store.container_written(key, b"xgroup-create")
    return OK


def _xgroup_change(
    s: Client, argv: list[bytes], stream: Stream, group: Group | None, entries_read: int
) -> bytes:
    """SETID, DESTROY, CREATECONSUMER and DELCONSUMER on an existing stream."""
    sub, store, key = argv[1].lower(), s.store, argv[2]
    if sub == b"destroy" and len(argv) == 4:
        if group is None:
            return ZERO
        del stream.groups[argv[3]]
        store.container_written(key, b"xgroup-destroy")
        return integer(1)
    if group is None or len(argv) != (7 if sub == b"setid" and len(argv) == 7 else 5):
        return _subcommand_syntax(argv)
    if sub == b"setid":
        if argv[4] == b"$":
            group.last_id = stream.last_id
        else:
            parsed = parse_id(argv[4], 0, strict=False)
            if parsed is None:
                return BAD_ID
            group.last_id = parsed[0]
        group.entries_read = entries_read
        store.container_written(key, b"xgroup-setid")
        return OK
    if sub == b"createconsumer":
        if argv[4] in group.consumers:
            return ZERO
        group.consumers[argv[4]] = Consumer(argv[4], store.clock())
        store.container_written(key, b"xgroup-createconsumer")
        return integer(1)
    if sub == b"delconsumer":
        consumer = group.consumers.pop(argv[4], None)
        if consumer is None:
            return ZERO
        for stream_id in consumer.pending:
            group.pending.pop(stream_id, None)
        store.container_written(key, b"xgroup-delconsumer")
        return integer(len(consumer.pending))
    return _subcommand_syntax(argv)


def xgroup(s: Client, argv: list[bytes]) -> bytes:
    """XGROUP CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER|HELP."""
    sub = argv[1].lower()
    if sub == b"help":
        return _help(argv, _XGROUP_HELP) if len(argv) == 2 else _subcommand_syntax(argv)
    if len(argv) < 4:
        return _subcommand_syntax(argv)
    options = _xgroup_options(sub, argv)
    if isinstance(options, bytes):
        return options
    mkstream, entries_read = options
    key, name = argv[2], argv[3]
    stream = s.store.read_container(key, Stream)
    group = None
    if not mkstream:
        if stream is None:
            return _NEEDS_KEY
        group = stream.groups.get(name)
        if group is None and sub in (b"setid", b"createconsumer", b"delconsumer"):
            return b"-NOGROUP No such consumer group '%s' for key name '%s'\r\n" % (name, key)
    if sub == b"create":
        if not 5 <= len(argv) <= 8:
            return _subcommand_syntax(argv)
        return _xgroup_create(s, argv, stream, entries_read)
    if stream is None:
        return _subcommand_syntax(argv)
    return _xgroup_change(s, argv, stream, group, entries_read)


def _deliver(
    s: Client,
    stream: Stream,
    ids: list[StreamId],
    group: Group,
    consumer: Consumer,
    *,
    noack: bool,
) -> bytes:
    """Entries newer than the group's last ID go to ``consumer`` (``streamReplyWithRange``)."""
    now = s.store.clock()
    for stream_id in ids:
        if stream_id > group.last_id:
            if group.entries_read != -1 and not stream.has_tombstones(stream_id):
                group.entries_read += 1
            elif stream.entries_added:
                group.entries_read = stream.distance_from_first_ever(stream_id)
            group.last_id = stream_id
        if noack:
            continue
        entry = group.pending.get(stream_id)
        if entry is None:
            entry = group.pending[stream_id] = Pending(consumer, now)
            consumer.pending[stream_id] = entry
        else:
            group.give(stream_id, entry, consumer)
            entry.delivery_time, entry.delivery_count = now, 1
    return entries_reply(stream, ids)


def _history(s: Client, stream: Stream, consumer: Consumer, start: StreamId, count: int) -> bytes:
    """A consumer's own pending entries from ``start`` (``streamReplyWithRangeFromConsumerPEL``)."""
    now = s.store.clock()
    parts: list[bytes] = []
    for stream_id in sorted(consumer.pending):
        if stream_id < start:
            continue
        if count and len(parts) >= count:
            break
        if stream_id in stream.entries:
            parts.append(entries_reply(stream, [stream_id])[4:])  # without the "*1\r\n"
            entry = consumer.pending[stream_id]
            entry.delivery_time = now
            entry.delivery_count += 1
        else:
            parts.append(b"*2\r\n" + bulk(format_id(stream_id)) + s.null_array)
    return b"*%d\r\n" % len(parts) + b"".join(parts)


def xreadgroup(s: Client, argv: list[bytes]) -> bytes:
    """XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] [NOACK] STREAMS key ... id ..."""
    options = read_options(argv, groups=True)
    if isinstance(options, bytes):
        return options
    count, streams_at, found_group, consumer_name, noack, block_ms = options
    names = argv[streams_at:]
    if len(names) % 2:
        return UNBALANCED
    if found_group is None:
        return error(b"ERR Missing GROUP option for XREADGROUP")
    group_name = found_group
    half = len(names) // 2
    store = s.store
    targets: list[tuple[bytes, Stream, Group, StreamId | None]] = []
    for key, text in zip(names[:half], names[half:], strict=True):
        stream = store.read_container(key, Stream)
        group = None if stream is None else stream.groups.get(group_name)
        if stream is None or group is None:
            return _no_group(key, group_name, b" in XREADGROUP with GROUP option")
        if text == b"$":
            return error(
                b"ERR The $ ID is meaningless in the context of XREADGROUP: you want to read "
                b"the history of this consumer by specifying a proper ID, or use the > ID to "
                b"get new messages. The $ ID would just return an empty result set."
            )
        if text == b">":
            targets.append((key, stream, group, None))
            continue
        given = parse_id(text, 0, strict=True)
        if given is None:
            return BAD_ID
        targets.append((key, stream, group, given[0]))
    replies: list[bytes] = []
    for key, stream, group, history_from in targets:
        if history_from is None and (not stream.ids or stream.ids[-1] <= group.last_id):
            continue
        consumer = _consumer(s, key, group, consumer_name)
        if history_from is None:
            start = next_id(group.last_id) or (0, 0)
            body = _deliver(
                s, stream, stream.range(start, MAX_ID, count, False), group, consumer, noack=noack
            )
        else:
            body = _history(s, stream, consumer, next_id(history_from) or (0, 0), count)
        replies.append(bulk(key) + body if s.resp3 else b"*2\r\n" + bulk(key) + body)
    if not replies:
        if block_ms is None or s.deny_blocking:
            return s.null_array
        waiting = [target[0] for target in targets]
        return _block_for_new(
            s, waiting, (group_name, consumer_name), count, noack=noack, block_ms=block_ms
        )
    if any(target[3] is None for target in targets):
        store.notify(b"xreadgroup", targets[0][0])
    header = b"%%%d\r\n" if s.resp3 else b"*%d\r\n"
    return header % len(replies) + b"".join(replies)


def _block_for_new(
    s: Client,
    keys: list[bytes],
    names: tuple[bytes, bytes],
    count: int,
    *,
    noack: bool,
    block_ms: int,
) -> bytes:
    """Wait for entries newer than each group's last ID; they go to the consumer when they come.

    If the stream is gone by then the reader gets Redis 7.0's UNBLOCKED error; if only the
    group is, NOGROUP.
    """
    group_name, consumer_name = names

    def serve(store: Store, key: bytes) -> bytes | None:
        try:
            stream = store.read_container(key, Stream)
        except WrongType:
            stream = None
        if stream is None:  # deleted, flushed, swapped away or another type now
            return b"-UNBLOCKED the stream key no longer exists\r\n"
        group = stream.groups.get(group_name)
        if group is None:
            return b"-NOGROUP the consumer group this client was blocked on no longer exists\r\n"
        if not stream.ids or stream.ids[-1] <= group.last_id:
            return None
        consumer = _consumer(s, key, group, consumer_name)
        start = next_id(group.last_id) or (0, 0)
        body = _deliver(
            s, stream, stream.range(start, MAX_ID, count or 1000, False), group, consumer,
            noack=noack,
        )  # fmt: skip
        return (b"%1\r\n" if s.resp3 else b"*1\r\n") + (
            bulk(key) + body if s.resp3 else b"*2\r\n" + bulk(key) + body
        )

    return block(s, keys, block_ms / 1000 if block_ms else None, serve, s.null_array)


def _group_of(s: Client, key: bytes, name: bytes) -> tuple[Stream, Group] | None:
    stream = s.store.read_container(key, Stream)
    group = None if stream is None else stream.groups.get(name)
    return None if stream is None or group is None else (stream, group)


def xack(s: Client, argv: list[bytes]) -> bytes:
    """XACK key group id [id ...]."""
    found = _group_of(s, argv[1], argv[2])
    if found is None:
        return ZERO
    _, group = found
    ids: list[StreamId] = []
    for text in argv[3:]:
        parsed = parse_id(text, 0, strict=True)
        if parsed is None:
            return BAD_ID
        ids.append(parsed[0])
    acknowledged = 0
    for stream_id in ids:
        if stream_id in group.pending:
            group.drop(stream_id)
            acknowledged += 1
    return integer(acknowledged)


_Range = tuple[int, StreamId, StreamId, int, bytes | None]
"""XPENDING's extended form: min idle, first and last ID, count, consumer."""


def _pending_range(argv: list[bytes]) -> _Range | bytes:
    """The extended form's arguments (``[IDLE n] start end count [consumer]``), or the error."""
    argc = len(argv)
    if argc == 3:
        return 0, (0, 0), MAX_ID, 0, None
    if not 6 <= argc <= 9:
        return SYNTAX_ERROR
    min_idle, at = 0, 3
    if argv[3].lower() == b"idle":
        parsed_idle = parse_int64(argv[4])
        if parsed_idle is None:
            return NOT_INTEGER
        min_idle = parsed_idle
        if argc < 8:
            return SYNTAX_ERROR
        at = 5
    parsed_count = parse_int64(argv[at + 2])
    if parsed_count is None:
        return NOT_INTEGER
    start = parse_interval(argv[at], 0)
    if start is None:
        return BAD_ID
    low = next_id(start[0]) if start[1] else start[0]
    if low is None:
        return BAD_START
    end = parse_interval(argv[at + 1], U64)
    if end is None:
        return BAD_ID
    high = previous_id(end[0]) if end[1] else end[0]
    if high is None:
        return BAD_END
    consumer = argv[at + 3] if at + 3 < argc else None
    return min_idle, low, high, max(parsed_count, 0), consumer


def xpending(s: Client, argv: list[bytes]) -> bytes:
    """XPENDING key group [[IDLE min-idle] start end count [consumer]]."""
    parsed = _pending_range(argv)
    if isinstance(parsed, bytes):
        return parsed
    min_idle, low, high, count, consumer_name = parsed
    argc = len(argv)
    found = _group_of(s, argv[1], argv[2])
    if found is None:
        return _no_group(argv[1], argv[2])
    _, group = found
    if argc == 3:
        if not group.pending:
            return b"*4\r\n:0\r\n" + s.null + s.null + s.null_array
        ordered = sorted(group.pending)
        owners = [
            b"*2\r\n" + bulk(name) + bulk(b"%d" % len(consumer.pending))
            for name, consumer in sorted(group.consumers.items())
            if consumer.pending
        ]
        return (
            b"*4\r\n"
            + integer(len(ordered))
            + bulk(format_id(ordered[0]))
            + bulk(format_id(ordered[-1]))
            + b"*%d\r\n" % len(owners)
            + b"".join(owners)
        )
    pending = group.pending
    if consumer_name is not None:
        consumer = group.consumers.get(consumer_name)
        if consumer is None:
            return b"*0\r\n"
        pending = consumer.pending
    now = s.store.clock()
    rows: list[bytes] = []
    for stream_id in sorted(pending):
        if len(rows) >= count or stream_id > high:
            break
        if stream_id < low:
            continue
        entry = pending[stream_id]
        idle = now - entry.delivery_time
        if min_idle and idle < min_idle:
            continue
        owner = entry.consumer.name if entry.consumer is not None else b""
        rows.append(
            b"*4\r\n"
            + bulk(format_id(stream_id))
            + bulk(owner)
            + integer(max(idle, 0))
            + integer(entry.delivery_count)
        )
    return b"*%d\r\n" % len(rows) + b"".join(rows)


def _claim_error(what: bytes) -> bytes:
    return error(b"ERR Invalid %s argument for XCLAIM" % what)


def xclaim(s: Client, argv: list[bytes]) -> bytes:  # noqa: PLR0915
    """XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-ms]
    [RETRYCOUNT n] [FORCE] [JUSTID] [LASTID id]."""
    found = _group_of(s, argv[1], argv[2])
    if found is None:
        return _no_group(argv[1], argv[2])
    stream, group = found
    min_idle = parse_int64(argv[4])
    if min_idle is None:
        return _claim_error(b"min-idle-time")
    min_idle = max(min_idle, 0)
    ids: list[StreamId] = []
    index = 5
    while index < len(argv):
        parsed = parse_id(argv[index], 0, strict=True)
        if parsed is None:
            break
        ids.append(parsed[0])
        index += 1
    now = s.store.clock()
    force = just_id = False
    retry_count = -1
    delivery_time = -1
    last_id: StreamId = (0, 0)
    while index < len(argv):
        more = len(argv) - 1 - index
        option = argv[index].lower()
        if option == b"force":
            force = True
        elif option == b"justid":
            just_id = True
        elif option in (b"idle", b"time", b"retrycount") and more:
            index += 1
            value = parse_int64(argv[index])
            if value is None:
                return error(b"ERR Invalid %s option argument for XCLAIM" % option.upper())
            if option == b"idle":
                delivery_time = now - value
            elif option == b"time":
                delivery_time = value
            else:
                retry_count = value
        elif option == b"lastid" and more:
            index += 1
            parsed = parse_id(argv[index], 0, strict=True)
            if parsed is None:
                return BAD_ID
            last_id = parsed[0]
        else:
            return error(b"ERR Unrecognized XCLAIM option '%s'" % argv[index])
        index += 1
    group.last_id = max(group.last_id, last_id)
    if delivery_time == -1 or delivery_time < 0 or delivery_time > now:
        delivery_time = now
    consumer: Consumer | None = None
    parts: list[bytes] = []
    for stream_id in ids:
        entry = group.pending.get(stream_id)
        if stream_id not in stream.entries:
            if entry is not None:
                group.drop(stream_id)
            continue
        if force and entry is None:
            entry = group.pending[stream_id] = Pending(None, now)
        if entry is None:
            continue
        if entry.consumer is not None and min_idle and now - entry.delivery_time < min_idle:
            continue
        if consumer is None:
            consumer = _consumer(s, argv[1], group, argv[3])
        entry.delivery_time = delivery_time
        if retry_count >= 0:
            entry.delivery_count = retry_count
        elif not just_id:
            entry.delivery_count += 1
        group.give(stream_id, entry, consumer)
        if just_id:
            parts.append(bulk(format_id(stream_id)))
        else:
            parts.append(entries_reply(stream, [stream_id])[4:])
    return b"*%d\r\n" % len(parts) + b"".join(parts)


def _autoclaim_options(argv: list[bytes]) -> tuple[int, StreamId, int, bool] | bytes:
    """XAUTOCLAIM's min idle time, start, COUNT and JUSTID, or the error."""
    min_idle = parse_int64(argv[4])
    if min_idle is None:
        return error(b"ERR Invalid min-idle-time argument for XAUTOCLAIM")
    start = parse_interval(argv[5], 0)
    if start is None:
        return BAD_ID
    low = next_id(start[0]) if start[1] else start[0]
    if low is None:
        return BAD_START
    count, just_id = 100, False
    index = 6
    while index < len(argv):
        option = argv[index].lower()
        if option == b"count" and index + 1 < len(argv):
            value = parse_int64(argv[index + 1])
            if value is None or not 1 <= value <= (1 << 63) // 16:
                return error(b"ERR COUNT must be > 0")
            count = value
            index += 1
        elif option == b"justid":
            just_id = True
        else:
            return SYNTAX_ERROR
        index += 1
    return max(min_idle, 0), low, count, just_id


def xautoclaim(s: Client, argv: list[bytes]) -> bytes:
    """XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]."""
    options = _autoclaim_options(argv)
    if isinstance(options, bytes):
        return options
    min_idle, low, count, just_id = options
    found = _group_of(s, argv[1], argv[2])
    if found is None:
        return _no_group(argv[1], argv[2])
    stream, group = found
    now = s.store.clock()
    attempts = count * 10
    consumer: Consumer | None = None
    claimed: list[bytes] = []
    deleted: list[StreamId] = []
    ordered = [stream_id for stream_id in sorted(group.pending) if stream_id >= low]
    position = 0
    while attempts and count and position < len(ordered):
        attempts -= 1
        stream_id = ordered[position]
        position += 1
        entry = group.pending[stream_id]
        if stream_id not in stream.entries:
            group.drop(stream_id)
            deleted.append(stream_id)
            count -= 1
            continue
        if min_idle and now - entry.delivery_time < min_idle:
            continue
        if consumer is None:
            consumer = _consumer(s, argv[1], group, argv[3])
        entry.delivery_time = now
        if not just_id:
            entry.delivery_count += 1
        group.give(stream_id, entry, consumer)
        claimed.append(
            bulk(format_id(stream_id)) if just_id else entries_reply(stream, [stream_id])[4:]
        )
        count -= 1
    following = ordered[position] if position < len(ordered) else (0, 0)
    return (
        b"*3\r\n"
        + bulk(format_id(following))
        + b"*%d\r\n" % len(claimed)
        + b"".join(claimed)
        + b"*%d\r\n" % len(deleted)
        + b"".join(bulk(format_id(stream_id)) for stream_id in deleted)
    )


def _map(pairs: list[tuple[bytes, bytes]], resp3: bool) -> bytes:
    return map_reply([(bulk(name), value) for name, value in pairs], resp3)


def _first_or_last(s: Client, stream: Stream, last: bool) -> bytes:
    if not stream.ids:
        return s.null
    return entries_reply(stream, [stream.ids[-1 if last else 0]])[4:]


def _full_options(argv: list[bytes]) -> int | bytes:
    """XINFO STREAM key FULL [COUNT n]'s count (10 unless told; 0: all), or the error."""
    if len(argv) not in (4, 6) or argv[3].lower() != b"full":
        return _subcommand_syntax(argv)
    if len(argv) == 4:
        return 10
    if argv[4].lower() != b"count":
        return _subcommand_syntax(argv)
    count = parse_int64(argv[5])
    if count is None:
        return NOT_INTEGER
    return 10 if count < 0 else count


def _stream_full(s: Client, stream: Stream, argv: list[bytes]) -> bytes:
    """XINFO STREAM key FULL [COUNT n]: the entries, and every group with its pending
    entries and consumers (at most ``count`` of each list; 0: all), as Redis 7.0 lists them."""
    count = _full_options(argv)
    if isinstance(count, bytes):
        return count
    resp3 = s.resp3
    limit = count or None
    groups = []
    for name, group in sorted(stream.groups.items()):
        pending = sorted(group.pending.items())[:limit]
        pending_rows = [
            b"*4\r\n"
            + bulk(format_id(stream_id))
            + bulk(entry.consumer.name if entry.consumer is not None else b"")
            + integer(entry.delivery_time)
            + integer(entry.delivery_count)
            for stream_id, entry in pending
        ]
        consumers = []
        for consumer_name, consumer in sorted(group.consumers.items()):
            owned = sorted(consumer.pending.items())[:limit]
            consumers.append(
                _map(
                    [
                        (b"name", bulk(consumer_name)),
                        (b"seen-time", integer(consumer.seen_time)),
                        (b"pel-count", integer(len(consumer.pending))),
                        (
                            b"pending",
                            b"*%d\r\n" % len(owned)
                            + b"".join(
                                b"*3\r\n"
                                + bulk(format_id(stream_id))
                                + integer(entry.delivery_time)
                                + integer(entry.delivery_count)
                                for stream_id, entry in owned
                            ),
                        ),
                    ],
                    resp3,
                )
            )
        lag = stream.lag(group)
        groups.append(
            _map(
                [
                    (b"name", bulk(name)),
                    (b"last-delivered-id", bulk(format_id(group.last_id))),
                    (
                        b"entries-read",
                        s.null if group.entries_read == -1 else integer(group.entries_read),
                    ),
                    (b"lag", s.null if lag is None else integer(lag)),
                    (b"pel-count", integer(len(group.pending))),
                    (b"pending", b"*%d\r\n" % len(pending_rows) + b"".join(pending_rows)),
                    (b"consumers", b"*%d\r\n" % len(consumers) + b"".join(consumers)),
                ],
                resp3,
            )
        )
    ids = stream.ids[:limit]
    return _map(
        [
            (b"length", integer(len(stream))),
            (b"radix-tree-keys", integer(stream.node_count)),
            (b"radix-tree-nodes", integer(stream.node_count + 1)),
            (b"last-generated-id", bulk(format_id(stream.last_id))),
            (b"max-deleted-entry-id", bulk(format_id(stream.max_deleted_id))),
            (b"entries-added", integer(stream.entries_added)),
            (b"recorded-first-entry-id", bulk(format_id(stream.first_id))),
            (b"entries", entries_reply(stream, list(ids))),
            (b"groups", b"*%d\r\n" % len(groups) + b"".join(groups)),
        ],
        resp3,
    )


def xinfo(s: Client, argv: list[bytes]) -> bytes:
    """XINFO STREAM key [FULL [COUNT n]] | GROUPS key | CONSUMERS key group | HELP."""
    sub = argv[1].lower()
    if sub == b"help":
        return _help(argv, _XINFO_HELP) if len(argv) == 2 else _subcommand_syntax(argv)
    if len(argv) < 3:
        return _subcommand_syntax(argv)
    stream = s.store.read_container(argv[2], Stream)
    if stream is None:
        return NO_SUCH_KEY
    resp3 = s.resp3
    if sub == b"consumers" and len(argv) == 4:
        group = stream.groups.get(argv[3])
        if group is None:
            return b"-NOGROUP No such consumer group '%s' for key name '%s'\r\n" % (
                argv[3],
                argv[2],
            )
        now = s.store.clock()
        rows = [
            _map(
                [
                    (b"name", bulk(name)),
                    (b"pending", integer(len(consumer.pending))),
                    (b"idle", integer(max(now - consumer.seen_time, 0))),
                ],
                resp3,
            )
            for name, consumer in sorted(group.consumers.items())
        ]
        return b"*%d\r\n" % len(rows) + b"".join(rows)
    if sub == b"groups" and len(argv) == 3:
        rows = []
        for name, group in sorted(stream.groups.items()):
            lag = stream.lag(group)
            rows.append(
                _map(
                    [
                        (b"name", bulk(name)),
                        (b"consumers", integer(len(group.consumers))),
                        (b"pending", integer(len(group.pending))),
                        (b"last-delivered-id", bulk(format_id(group.last_id))),
                        (
                            b"entries-read",
                            s.null if group.entries_read == -1 else integer(group.entries_read),
                        ),
                        (b"lag", s.null if lag is None else integer(lag)),
                    ],
                    resp3,
                )
            )
        return b"*%d\r\n" % len(rows) + b"".join(rows)
    if sub == b"stream" and len(argv) > 3:
        return _stream_full(s, stream, argv)
    if sub == b"stream" and len(argv) == 3:
        return _map(
            [
                (b"length", integer(len(stream))),
                (b"radix-tree-keys", integer(stream.node_count)),
                (b"radix-tree-nodes", integer(stream.node_count + 1)),
                (b"last-generated-id", bulk(format_id(stream.last_id))),
                (b"max-deleted-entry-id", bulk(format_id(stream.max_deleted_id))),
                (b"entries-added", integer(stream.entries_added)),
                (b"recorded-first-entry-id", bulk(format_id(stream.first_id))),
                (b"groups", integer(len(stream.groups))),
                (b"first-entry", _first_or_last(s, stream, False)),
                (b"last-entry", _first_or_last(s, stream, True)),
            ],
            resp3,
        )
    return _subcommand_syntax(argv)


COMMANDS: list[Command] = [
    container(
        "xgroup",
        -2,
        (),
        Command("xgroup|create", -5, xgroup, ("write", "denyoom"), (2, 2, 1)),
        Command("xgroup|setid", -5, xgroup, ("write",), (2, 2, 1)),
        Command("xgroup|destroy", 4, xgroup, ("write",), (2, 2, 1)),
        Command("xgroup|createconsumer", 5, xgroup, ("write", "denyoom"), (2, 2, 1)),
        Command("xgroup|delconsumer", 5, xgroup, ("write",), (2, 2, 1)),
        Command("xgroup|help", 2, xgroup, ("loading", "stale")),
    ),
    Command("xreadgroup", -7, xreadgroup, ("write", "blocking"), (0, 0, 0)),
    Command("xack", -4, xack, ("write", "fast"), _ONE_KEY),
    Command("xpending", -3, xpending, ("readonly",), _ONE_KEY),
    Command("xclaim", -6, xclaim, ("write", "fast"), _ONE_KEY),
    Command("xautoclaim", -6, xautoclaim, ("write", "fast"), _ONE_KEY),
    container(
        "xinfo",
        -2,
        (),
        Command("xinfo|stream", -3, xinfo, ("readonly",), (2, 2, 1)),
        Command("xinfo|groups", 3, xinfo, ("readonly",), (2, 2, 1)),
        Command(
            "xinfo|consumers",
            4,
            xinfo,
            ("readonly",),
            (2, 2, 1),
            tips=("nondeterministic_output",),
        ),
        Command("xinfo|help", 2, xinfo, ("loading", "stale")),
    ),
]
"""The consumer-group commands, for the command table."""
