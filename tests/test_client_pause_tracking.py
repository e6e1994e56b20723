"""CLIENT PAUSE/UNPAUSE/UNBLOCK and CLIENT TRACKING through Connections on one provider
(sans-I/O, a fake clock): held commands run in order when the pause ends, WRITE mode
lets reads through, invalidation pushes (RESP3), the REDIRECT form (RESP2), BCAST,
OPTIN/OPTOUT, NOLOOP, flushes, and Redis's error texts."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from _drive import resp_command as cmd
from _resp import Arg, bulk
from wireproto.providers.resp import RespProvider, register
from wireproto.providers.resp.commands.blocking import WAITING, end_pause, pause_of

from wireproto import CloseReason, Connection, Registry

OK = b"+OK\r\n"
PONG = b"+PONG\r\n"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Server:
    def __init__(self, accelerated: bool) -> None:
        self.registry = Registry()
        self.provider = RespProvider(accelerated=accelerated)
        register(self.registry, self.provider)
        self.clock = FakeClock()
        self.connections: list[Connection] = []

    def client(self, resp3: bool = False) -> Peer:
        connection = Connection(self.registry, clock=self.clock)
        self.connections.append(connection)
        peer = Peer(connection)
        if resp3:
            assert peer.call("HELLO", 3).startswith(b"%7\r\n")
        return peer

    def tick(self, seconds: float) -> None:
        self.clock.now += seconds
        for connection in self.connections:
            connection.check_deadlines()


class Peer:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def send(self, *commands: tuple[Arg, ...]) -> bytes:
        self.connection.receive_data(b"".join(cmd(*command) for command in commands))
        return self.connection.data_to_send()

    def call(self, *args: Arg) -> bytes:
        return self.send(args)

    def replies(self) -> bytes:
        return self.connection.data_to_send()

    def client_id(self) -> int:
        return int(self.call("CLIENT", "ID")[1:-2])


@pytest.fixture
def server(accelerated: bool) -> Iterator[Server]:
    made = Server(accelerated)
    yield made
    for connection in made.connections:
        connection.close(CloseReason.PEER_CLOSED)
    pause = pause_of(made.provider, create=False)
    if pause is not None:
        end_pause(pause)  # a pause outlives its connections, as in Redis
    assert WAITING.count == 0
    assert WAITING.pauses == 0


def push(*keys: bytes) -> bytes:
    return b">2\r\n$10\r\ninvalidate\r\n*%d\r\n" % len(keys) + b"".join(map(bulk, keys))


# -- CLIENT PAUSE -------------------------------------------------------------------


def test_pause_all_holds_every_command_until_its_end_then_runs_them_in_order(
    server: Server,
) -> None:
    pauser, first, second = server.client(), server.client(), server.client()
    assert pauser.call("CLIENT", "PAUSE", 500) == OK
    assert first.send(("SET", "k", "1"), ("APPEND", "k", "a")) == b""
    assert second.call("APPEND", "k", "2") == b""
    assert pauser.call("PING") == b""  # the pausing client is not exempt
    assert first.connection.next_deadline() == pytest.approx(1000.5)
    server.tick(0.2)
    assert first.replies() == b"" and second.replies() == b""
    server.tick(0.3)
    # The held commands run in the order they came; a client's pipelined commands after
    # its held one run once its connection resumes (after the other held commands: the
    # difference from Redis listed in specs/resp/README.md).
    assert first.replies() == OK + b":3\r\n"
    assert second.replies() == b":2\r\n"
    assert pauser.replies() == PONG
    assert first.call("GET", "k") == bulk(b"12a")


def test_pause_write_lets_reads_through_and_holds_writes_and_eval(
    server: Server,
) -> None:
    pauser, reader, writer = server.client(), server.client(), server.client()
    writer_id = writer.client_id()
    reader.call("SET", "k", "v")
    assert pauser.call("CLIENT", "PAUSE", 1000, "WRITE") == OK
    assert reader.call("GET", "k") == bulk(b"v")
    counter = server.client()
    assert counter.call("PFCOUNT", "h") == b""  # may_replicate: held as Redis holds it
    assert writer.call("EVAL", "return 1", 0) == b""
    held = reader.call("CLIENT", "LIST", "ID", writer_id)
    assert b" flags=b " in held and b" cmd=eval " in held
    assert pauser.call("CLIENT", "UNPAUSE") == OK
    assert counter.replies() == b":0\r\n"
    assert writer.replies() == b":1\r\n"


def test_pause_write_holds_exec_of_a_transaction_with_writes(server: Server) -> None:
    pauser, client = server.client(), server.client()
    assert client.send(("MULTI",), ("GET", "k")) == OK + b"+QUEUED\r\n"
    assert pauser.call("CLIENT", "PAUSE", 1000, "WRITE") == OK
    assert client.call("EXEC") == b"*1\r\n$-1\r\n"  # only reads: runs
    assert client.call("MULTI") == OK
    assert client.call("SET", "k", "v") == b""  # queueing a write waits too, as Redis
    assert pauser.call("CLIENT", "UNPAUSE") == OK
    assert client.replies() == b"+QUEUED\r\n"
    assert client.call("EXEC") == b"*1\r\n" + OK


def test_a_later_pause_extends_the_first_and_all_wins_over_write(server: Server) -> None:
    pauser, client = server.client(), server.client()
    assert pauser.call("CLIENT", "PAUSE", 100, "WRITE") == OK
    assert pauser.call("CLIENT", "PAUSE", 300, "ALL") == OK
    assert client.call("GET", "k") == b""
    server.tick(0.2)
    assert client.replies() == b""
    server.tick(0.1)
    assert client.replies() == b"$-1\r\n"


def test_pause_zero_ends_at_once(server: Server) -> None:
    client = server.client()
    assert client.call("CLIENT", "PAUSE", 0) == OK
    assert client.call("PING") == PONG


def test_a_held_client_that_leaves_is_forgotten(server: Server) -> None:
    pauser, leaver = server.client(), server.client()
    pauser.call("CLIENT", "PAUSE", 1000, "WRITE")
    assert leaver.call("SET", "k", "v") == b""
    leaver.connection.close(CloseReason.PEER_CLOSED)
    assert pauser.call("CLIENT", "UNPAUSE") == OK
    assert pauser.call("EXISTS", "k") == b":0\r\n"


@pytest.mark.parametrize(
    ("args", "reply"),
    [
        (("abc",), b"-ERR timeout is not an integer or out of range\r\n"),
        (("-1",), b"-ERR timeout is negative\r\n"),
        (("10", "foo"), b"-ERR CLIENT PAUSE mode must be WRITE or ALL\r\n"),
        (("9223372036854775807",), b"-ERR timeout is out of range\r\n"),
        (
            ("10", "ALL", "x"),
            b"-ERR unknown subcommand or wrong number of arguments for 'PAUSE'. "
            b"Try CLIENT HELP.\r\n",
        ),
    ],
)
def test_pause_errors(server: Server, args: tuple[str, ...], reply: bytes) -> None:
    assert server.client().call("CLIENT", "PAUSE", *args) == reply


# -- CLIENT UNBLOCK -----------------------------------------------------------------


def test_unblock_times_out_or_errors_a_blocked_client(server: Server) -> None:
    blocked, other = server.client(), server.client()
    target = blocked.client_id()
    assert blocked.call("BLPOP", "l", 0) == b""
    assert other.call("CLIENT", "UNBLOCK", target) == b":1\r\n"
    assert blocked.replies() == b"*-1\r\n"
    assert other.call("CLIENT", "UNBLOCK", target) == b":0\r\n"
    assert blocked.call("BLPOP", "l", 0) == b""
    assert other.call("CLIENT", "UNBLOCK", target, "ERROR") == b":1\r\n"
    assert blocked.replies() == b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
    assert other.call("CLIENT", "UNBLOCK", target, "x") == (
        b"-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n"
    )
    assert other.call("CLIENT", "UNBLOCK", "x") == (
        b"-ERR value is not an integer or out of range\r\n"
    )


# -- CLIENT TRACKING ----------------------------------------------------------------


def test_resp3_reader_gets_one_push_per_change_after_it_read(server: Server) -> None:
    reader, writer = server.client(resp3=True), server.client()
    assert reader.call("CLIENT", "TRACKING", "ON") == OK
    assert reader.call("GET", "a") == b"_\r\n"
    assert reader.call("MGET", "b", "c") == b"*2\r\n_\r\n_\r\n"
    writer.call("SET", "a", "1")
    assert reader.replies() == push(b"a")
    writer.call("SET", "a", "2")
    assert reader.replies() == b""  # forgotten after one invalidation until read again
    writer.call("MSET", "c", "1", "b", "2")
    assert reader.replies() == push(b"c") + push(b"b")


def test_the_tracking_table_holds_at_most_its_max_keys(server: Server) -> None:
    reader, admin = server.client(resp3=True), server.client()
    assert admin.call("CONFIG", "GET", "tracking-table-max-keys") == (
        b"*2\r\n$23\r\ntracking-table-max-keys\r\n$7\r\n1000000\r\n"
    )
    assert admin.call("CONFIG", "SET", "tracking-table-max-keys", "3") == OK
    assert reader.call("CLIENT", "TRACKING", "ON") == OK
    assert reader.call("MGET", "a", "b", "c") == b"*3\r\n_\r\n_\r\n_\r\n"  # at the limit
    assert reader.call("GET", "d") == b"_\r\n" + push(b"a")  # one over: the oldest goes
    assert admin.call("INFO", "stats").count(b"tracking_total_keys:3\r\n") == 1
    assert admin.call("CONFIG", "SET", "tracking-table-max-keys", "1") == OK
    assert reader.replies() == push(b"b") + push(b"c")  # lowered: shrunk at once
    admin.call("SET", "d", "1")
    assert reader.replies() == push(b"d")
    assert admin.call("CONFIG", "SET", "tracking-table-max-keys", "0") == OK  # no limit
    assert reader.call("MGET", "a", "b", "c") == b"*3\r\n_\r\n_\r\n_\r\n"
    assert reader.replies() == b""
    assert admin.call("CONFIG", "SET", "tracking-table-max-keys", "-1") == (
        b"-ERR CONFIG SET failed (possibly related to argument 'tracking-table-max-keys') - "
        b"argument must be between 0 and 9223372036854775807 inclusive\r\n"
    )


def test_own_write_invalidation_follows_the_reply_and_noloop_skips_it(server: Server) -> None:
    client = server.client(resp3=True)
    client.call("CLIENT", "TRACKING", "ON")
    client.call("GET", "k")
    assert client.call("SET", "k", "v") == OK + push(b"k")
    assert client.call("CLIENT", "TRACKING", "ON", "NOLOOP") == OK
    client.call("GET", "k")
    assert client.call("SET", "k", "w") == OK


def test_flush_sends_one_null(server: Server) -> None:
    reader, writer = server.client(resp3=True), server.client()
    reader.call("CLIENT", "TRACKING", "ON")
    assert writer.call("FLUSHALL") == OK
    assert reader.replies() == b">2\r\n$10\r\ninvalidate\r\n_\r\n"
    assert reader.call("FLUSHDB") == OK + b">2\r\n$10\r\ninvalidate\r\n_\r\n"


def test_redirect_to_a_resp2_subscriber(server: Server) -> None:
    sink, reader, writer = server.client(), server.client(), server.client()
    sink_id = sink.client_id()
    sink.call("SUBSCRIBE", "__redis__:invalidate")
    assert reader.call("CLIENT", "TRACKING", "ON", "REDIRECT", sink_id) == OK
    assert reader.call("CLIENT", "GETREDIR") == b":%d\r\n" % sink_id
    reader.call("GET", "k")
    writer.call("DEL", "k")
    assert sink.replies() == b""  # DEL of a missing key changes nothing
    writer.call("SET", "k", "1")
    assert sink.replies() == (
        b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n" + bulk(b"k")
    )
    writer.call("FLUSHDB")
    assert sink.replies() == b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n"


def test_broken_redirect(server: Server) -> None:
    sink, reader = server.client(), server.client(resp3=True)
    sink_id = sink.client_id()
    reader.call("CLIENT", "TRACKING", "ON", "REDIRECT", sink_id)
    reader.call("GET", "k")
    sink.connection.close(CloseReason.PEER_CLOSED)
    assert reader.call("SET", "k", "v") == OK + b">2\r\n$21\r\ntracking-redir-broken\r\n:%d\r\n" % (
        sink_id
    )
    info = reader.call("CLIENT", "TRACKINGINFO")
    assert b"broken_redirect" in info


def test_bcast_prefixes_get_the_keys_written_under_them(server: Server) -> None:
    reader, writer = server.client(resp3=True), server.client()
    assert reader.call("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "b", "PREFIX", "a") == OK
    writer.call("MSET", "a2", "1", "a1", "1", "c", "1", "b", "1")
    assert reader.replies() == push(b"a1", b"a2") + push(b"b")
    assert reader.call("CLIENT", "TRACKINGINFO") == (
        b"%3\r\n$5\r\nflags\r\n~2\r\n$2\r\non\r\n$5\r\nbcast\r\n"
        b"$8\r\nredirect\r\n:0\r\n$8\r\nprefixes\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    )


def test_optin_tracks_only_after_caching_yes(server: Server) -> None:
    reader, writer = server.client(resp3=True), server.client()
    reader.call("CLIENT", "TRACKING", "ON", "OPTIN")
    reader.call("GET", "a")
    assert reader.call("CLIENT", "CACHING", "YES") == OK
    reader.call("GET", "b")
    reader.call("GET", "c")  # CACHING holds for one command
    writer.call("MSET", "a", "1", "b", "1", "c", "1")
    assert reader.replies() == push(b"b")


def test_optout_tracks_unless_caching_no(server: Server) -> None:
    reader, writer = server.client(resp3=True), server.client()
    reader.call("CLIENT", "TRACKING", "ON", "OPTOUT")
    assert reader.call("CLIENT", "CACHING", "NO") == OK
    reader.call("GET", "a")
    reader.call("GET", "b")
    writer.call("MSET", "a", "1", "b", "1")
    assert reader.replies() == push(b"b")


def test_resp2_without_redirect_gets_nothing_and_off_stops(server: Server) -> None:
    reader, writer = server.client(), server.client()
    reader.call("CLIENT", "TRACKING", "ON")
    reader.call("GET", "k")
    writer.call("SET", "k", "1")
    assert reader.replies() == b""
    assert reader.call("CLIENT", "GETREDIR") == b":0\r\n"
    assert reader.call("CLIENT", "TRACKING", "OFF") == OK
    assert reader.call("CLIENT", "GETREDIR") == b":-1\r\n"


def test_client_list_shows_tracking_flags_and_redirect(server: Server) -> None:
    sink, reader = server.client(), server.client()
    sink_id = sink.client_id()
    reader.call("CLIENT", "TRACKING", "ON", "BCAST", "REDIRECT", sink_id)
    line = reader.call("CLIENT", "INFO")
    assert b" flags=tB " in line and b" redir=%d " % sink_id in line


@pytest.mark.parametrize(
    ("args", "reply"),
    [
        (("ON", "PREFIX", "a"), b"-ERR PREFIX option requires BCAST mode to be enabled\r\n"),
        (("ON", "BCAST", "OPTIN"), b"-ERR OPTIN and OPTOUT are not compatible with BCAST\r\n"),
        (("ON", "OPTIN", "OPTOUT"), b"-ERR You can't specify both OPTIN mode and OPTOUT mode\r\n"),
        (("FOO",), b"-ERR syntax error\r\n"),
        (("ON", "NOPE"), b"-ERR syntax error\r\n"),
        (("ON", "REDIRECT", "999"), b"-ERR The client ID you want redirect to does not exist\r\n"),
        (
            ("ON", "BCAST", "PREFIX", "ab", "PREFIX", "a"),
            b"-ERR Prefix 'ab' overlaps with another provided prefix 'a'. "
            b"Prefixes for a single client must not overlap.\r\n",
        ),
    ],
)
def test_tracking_errors(server: Server, args: tuple[str, ...], reply: bytes) -> None:
    assert server.client().call("CLIENT", "TRACKING", *args) == reply


def test_caching_errors(server: Server) -> None:
    client = server.client()
    assert client.call("CLIENT", "CACHING", "YES").startswith(
        b"-ERR CLIENT CACHING can be called only when the client is in tracking mode"
    )
    client.call("CLIENT", "TRACKING", "ON", "OPTOUT")
    assert client.call("CLIENT", "CACHING", "YES") == (
        b"-ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.\r\n"
    )
    assert client.call("CLIENT", "CACHING", "MAYBE") == b"-ERR syntax error\r\n"


def test_keys_read_before_off_still_invalidate_after_on_again_as_redis(server: Server) -> None:
    reader, writer = server.client(resp3=True), server.client()
    reader.call("CLIENT", "TRACKING", "ON")
    reader.call("GET", "a")
    reader.call("GET", "b")
    reader.call("CLIENT", "TRACKING", "OFF")
    writer.call("SET", "a", "1")  # nobody tracks: the key is forgotten, nothing is sent
    assert reader.replies() == b""
    reader.call("CLIENT", "TRACKING", "ON")
    writer.call("MSET", "a", "2", "b", "2")
    assert reader.replies() == push(b"b")
    reader.call("CLIENT", "TRACKING", "OFF")


def test_info_counts_tracking_clients_keys_items_and_prefixes(server: Server) -> None:
    first, second = server.client(resp3=True), server.client()
    first.call("CLIENT", "TRACKING", "ON")
    first.send(("GET", "a"), ("GET", "b"))
    second.call("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "x", "PREFIX", "y")
    info = second.call("INFO").decode()
    assert "tracking_clients:2\r\n" in info
    assert "tracking_total_keys:2\r\ntracking_total_items:2\r\ntracking_total_prefixes:2\r\n" in (
        info
    )


def test_transactions_track_reads_and_invalidate_after_exec_as_redis(server: Server) -> None:
    client = server.client(resp3=True)
    got = client.send(
        ("CLIENT", "TRACKING", "ON"),
        ("MULTI",),
        ("GET", "m"),
        ("SET", "m", "1"),
        ("EXEC",),
        ("GET", "m"),
        ("CLIENT", "TRACKING", "ON", "OPTIN"),
        ("CLIENT", "CACHING", "YES"),  # holds for the whole transaction
        ("MULTI",),
        ("GET", "q"),
        ("EXEC",),
        ("SET", "q", "2"),
        ("MULTI",),
        ("GET", "r"),
        ("EXEC",),
        ("SET", "r", "2"),
        ("CLIENT", "TRACKING", "OFF"),
    )
    # What redis-server 7.0.15 sends for the same pipeline.
    assert got == (
        b"+OK\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n_\r\n+OK\r\n"
        + push(b"m")
        + b"$1\r\n1\r\n+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n_\r\n+OK\r\n"
        + push(b"q")
        + b"+OK\r\n+QUEUED\r\n*1\r\n_\r\n+OK\r\n+OK\r\n"
    )


def test_client_help_lists_the_subcommands_as_redis_7_0(server: Server) -> None:
    reply = server.client().call("CLIENT", "HELP")
    assert reply.startswith(
        b"*48\r\n+CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n"
    )
    assert b"+PAUSE <timeout> [WRITE|ALL]\r\n" in reply
    assert reply.endswith(b"+HELP\r\n+    Prints this help.\r\n")


def test_no_active_expiry_during_a_pause(server: Server) -> None:
    client = server.client()
    client.call("SET", "k", "v", "PX", 1)
    time.sleep(0.01)
    assert client.call("CLIENT", "PAUSE", 10_000, "WRITE") == OK
    server.provider.maintain()
    assert client.call("DBSIZE") == b":1\r\n"  # expired, not yet removed, as in Redis
    assert client.call("CLIENT", "UNPAUSE") == OK
    server.provider.maintain()
    assert client.call("DBSIZE") == b":0\r\n"
    assert server.provider.active_expire


def test_a_pause_inside_a_transaction_lets_the_rest_of_it_run(server: Server) -> None:
    client, other = server.client(), server.client()
    assert client.send(("MULTI",), ("CLIENT", "PAUSE", 1000, "WRITE"), ("SET", "k", "v")) == (
        OK + b"+QUEUED\r\n+QUEUED\r\n"
    )
    assert client.call("EXEC") == b"*2\r\n" + OK + OK
    assert other.call("SET", "k", "w") == b""  # later writes wait
    assert client.call("CLIENT", "UNPAUSE") == OK
    assert other.replies() == OK
