"""CLIENT LIST/INFO/KILL/NO-EVICT/NO-TOUCH/REPLY/TRACKING on connections of one provider."""

from __future__ import annotations

from test_resp_pubsub import Server

from wireproto import CloseReason


def fields(line: bytes) -> dict[bytes, bytes]:
    return dict(item.split(b"=", 1) for item in line.split(b" "))


def lines(reply: bytes) -> list[dict[bytes, bytes]]:
    header, _, body = reply.partition(b"\r\n")
    assert int(header[1:]) == len(body) - 2
    return [fields(line) for line in body[:-2].split(b"\n") if line]


def test_client_list_names_every_connection_in_redis_field_order(accelerated: bool) -> None:
    server = Server(accelerated)
    first, second = server.client(), server.client()
    first.call("CLIENT", "SETNAME", "alpha")
    second.call("SUBSCRIBE", "c")
    listed = lines(first.call("CLIENT", "LIST"))
    assert [entry[b"name"] for entry in listed] == [b"alpha", b""]
    assert list(listed[0])[:8] == [
        b"id",
        b"addr",
        b"laddr",
        b"fd",
        b"name",
        b"age",
        b"idle",
        b"flags",
    ]
    assert listed[0][b"cmd"] == b"client|list"
    assert listed[1][b"flags"] == b"P" and listed[1][b"sub"] == b"1"
    assert listed[1][b"cmd"] == b"subscribe"
    pubsub_only = lines(first.call("CLIENT", "LIST", "TYPE", "pubsub"))
    assert [entry[b"id"] for entry in pubsub_only] == [listed[1][b"id"]]
    by_id = lines(first.call("CLIENT", "LIST", "ID", listed[1][b"id"], "999"))
    assert [entry[b"id"] for entry in by_id] == [listed[1][b"id"]]
    assert first.call("CLIENT", "LIST", "ID", "x") == b"-ERR Invalid client ID\r\n"
    info = lines(first.call("CLIENT", "INFO"))
    assert len(info) == 1 and info[0][b"name"] == b"alpha" and info[0][b"cmd"] == b"client|info"


def test_client_kill_by_id_closes_the_other_connection(accelerated: bool) -> None:
    server = Server(accelerated)
    killer, victim = server.client(), server.client()
    victim_id = int(victim.call("CLIENT", "ID")[1:-2])
    assert killer.call("CLIENT", "KILL", "ID", str(victim_id)) == b":1\r\n"
    assert victim.connection.closing or victim.connection.closed
    assert killer.call("CLIENT", "KILL", "ID", str(victim_id)) in (b":0\r\n", b":1\r\n")
    assert killer.call("CLIENT", "KILL", "ID", "0") == (
        b"-ERR client-id should be greater than 0\r\n"
    )
    assert killer.call("CLIENT", "KILL", "1.2.3.4:5") == b"-ERR No such client\r\n"
    assert killer.call("CLIENT", "KILL", "TYPE", "master") == b":0\r\n"
    assert killer.call("CLIENT", "KILL", "USER", "nobody") == b"-ERR No such user 'nobody'\r\n"


def test_client_kill_skipme_no_closes_the_caller_after_its_reply(accelerated: bool) -> None:
    server = Server(accelerated)
    only = server.client()
    assert only.call("CLIENT", "KILL", "TYPE", "normal") == b":0\r\n"  # SKIPME yes by default
    assert only.call("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no") == b":1\r\n"
    assert only.connection.closing or only.connection.closed
    other = server.client()
    assert other.call("CLIENT", "KILL", "SKIPME", "maybe") == b"-ERR syntax error\r\n"


def test_client_reply_off_skip_on(accelerated: bool) -> None:
    client = Server(accelerated).client()
    assert client.call("CLIENT", "REPLY", "OFF") == b""
    assert client.call("PING") == b""
    assert client.call("SET", "k", "v") == b""
    assert client.call("CLIENT", "REPLY", "ON") == b"+OK\r\n"
    assert client.call("GET", "k") == b"$1\r\nv\r\n"  # the write ran, unanswered
    assert client.call("CLIENT", "REPLY", "SKIP") == b""
    assert client.call("PING") == b""
    assert client.call("PING") == b"+PONG\r\n"
    assert client.call("CLIENT", "REPLY", "MAYBE") == b"-ERR syntax error\r\n"
    client.connection.receive_data(b"CLIENT REPLY SKIP\r\nPING\r\nPING x\r\n")
    assert client.connection.data_to_send() == b"$1\r\nx\r\n"


def test_client_flags_and_tracking(accelerated: bool) -> None:
    client = Server(accelerated).client()
    assert client.call("CLIENT", "NO-EVICT", "on") == b"+OK\r\n"
    assert client.call("CLIENT", "NO-TOUCH", "ON") == b"+OK\r\n"
    assert lines(client.call("CLIENT", "INFO"))[0][b"flags"] == b"eT"
    assert client.call("CLIENT", "NO-EVICT", "x") == b"-ERR syntax error\r\n"
    assert client.call("RESET") == b"+RESET\r\n"
    assert lines(client.call("CLIENT", "INFO"))[0][b"flags"] == b"N"
    assert client.call("CLIENT", "TRACKING", "on") == b"+OK\r\n"
    assert client.call("CLIENT", "GETREDIR") == b":0\r\n"
    assert lines(client.call("CLIENT", "INFO"))[0][b"flags"] == b"t"
    assert client.call("RESET") == b"+RESET\r\n"  # tracking goes off, as in Redis
    assert client.call("CLIENT", "GETREDIR") == b":-1\r\n"


def test_closed_connections_leave_the_list(accelerated: bool) -> None:
    server = Server(accelerated)
    first, second = server.client(), server.client()
    second.connection.close(CloseReason.PEER_CLOSED)
    assert len(lines(first.call("CLIENT", "LIST"))) == 1
