"""Durability end to end: ``wireproto serve --dir`` killed and restarted keeps what it acknowledged.

A writer pipelines SETs (redis-py, beside memcached and kvbin writers) and
records what was acknowledged; the server is killed with SIGKILL at a random
moment, started again on the same directory, and every acknowledged key must
be back (``appendfsync always``). redis-server with ``--appendonly yes`` goes
through the same steps in the same test.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from _faster_client import FasterClient, exchange
from _serve import (
    HOST,
    NO_RETRY,
    START_LINE,
    START_TIMEOUT,
    first_reply,
    read_line,
    start,
    stop,
    tool,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from pymemcache.client.base import Client as MemcacheClient
from pymemcache.exceptions import MemcacheUnexpectedCloseError
from wireproto.providers.kvbin import Opcode, Status, build_reply, build_request
from wireproto.providers.persistence import records


@contextmanager
def wireproto(
    directory: Path, log: Path, *options: str
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """``wireproto serve --dir directory OPTIONS``; yields (port, process); stops it if alive."""
    process = start(log, "--dir", str(directory), *options)
    try:
        line = read_line(process, START_TIMEOUT).decode(errors="replace")
        match = START_LINE.fullmatch(line)
        assert match, f"start line {line!r}; log:\n{log.read_text()}"
        yield int(match[2]), process
    finally:
        stop(process)
        assert process.stdout is not None
        process.stdout.close()


@contextmanager
def redis_aof(directory: Path, fsync: str) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """A real redis-server with ``--appendonly yes --appendfsync fsync`` in ``directory``."""
    binary = tool("redis-server")
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "yes",
         "--appendfsync", fsync, "--dir", str(directory), "--daemonize", "no", "--logfile",
         str(directory / "redis.log")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while first_reply(port, b"PING\r\n", 16) != b"+PONG\r\n":
            assert process.poll() is None and time.monotonic() < deadline, "redis-server died"
            time.sleep(0.05)
        yield port, process
    finally:
        stop(process)


class Writer(threading.Thread):
    """Pipelines SETs of ``key:N`` until the server dies; records each acknowledged key's time."""

    def __init__(self, port: int, batch: int = 200) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.batch = batch
        self.acknowledged: dict[bytes, float] = {}
        self.started = threading.Event()

    def run(self) -> None:
        client = redis.Redis(host=HOST, port=self.port, socket_timeout=5, retry=NO_RETRY)
        number = 0
        try:
            while True:
                pipe = client.pipeline(transaction=False)
                keys = [b"key:%d" % n for n in range(number, number + self.batch)]
                for key in keys:
                    pipe.set(key, key)
                replies = pipe.execute()
                now = time.monotonic()
                for key, reply in zip(keys, replies, strict=True):
                    assert reply is True
                    self.acknowledged[key] = now
                number += self.batch
                self.started.set()
        except (redis.ConnectionError, redis.TimeoutError, ConnectionError):
            return
        finally:
            client.close()


class MemcacheWriter(threading.Thread):
    """memcached text ``set mc:N`` (with replies) until the server dies; records what was stored."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.acknowledged: dict[bytes, float] = {}

    def run(self) -> None:
        client = MemcacheClient((HOST, self.port), timeout=5.0, default_noreply=False)
        number = 0
        try:
            while True:
                key = b"mc:%d" % number
                assert client.set(key, key)
                self.acknowledged[key] = time.monotonic()
                number += 1
        except (OSError, MemcacheUnexpectedCloseError):
            return
        finally:
            client.close()


class KvbinWriter(threading.Thread):
    """kvbin ``SET kv:N`` (the key as value), 50 pipelined per write, until the server dies.

    A key counts as acknowledged once its whole 12-byte OK reply (its request id) is read.
    """

    BATCH = 50

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.acknowledged: dict[bytes, float] = {}
        self.wrong: list[bytes] = []

    def run(self) -> None:
        number = 0
        try:
            with socket.create_connection((HOST, self.port), timeout=5) as sock:
                reader = sock.makefile("rb")
                while True:
                    keys = [b"kv:%d" % n for n in range(number, number + self.BATCH)]
                    sock.sendall(
                        b"".join(
                            build_request(Opcode.SET, key, key, request_id=number + i)
                            for i, key in enumerate(keys)
                        )
                    )
                    for i, key in enumerate(keys):
                        reply = reader.read(12)
                        if len(reply) < 12:
                            return  # the server died mid-reply: not acknowledged
                        if reply != build_reply(Status.OK, number + i):
                            self.wrong.append(reply)
                            return
                        self.acknowledged[key] = time.monotonic()
                    number += self.BATCH
        except OSError:
            return


def kill_while_writing(
    port: int, process: subprocess.Popen[bytes], signum: int
) -> tuple[Writer, float]:
    writer = Writer(port)
    writer.start()
    assert writer.started.wait(20)
    time.sleep(random.uniform(0.3, 1.0))
    killed = time.monotonic()
    process.send_signal(signum)
    process.wait(15)
    writer.join(20)
    assert not writer.is_alive()
    return writer, killed


def missing(port: int, keys: list[bytes]) -> list[bytes]:
    with redis.Redis(host=HOST, port=port) as client:
        found: list[bytes] = []
        for start_at in range(0, len(keys), 5000):
            chunk = keys[start_at : start_at + 5000]
            found += [
                key for key, value in zip(chunk, client.mget(chunk), strict=True) if value != key
            ]
        return found


def test_sigkill_under_appendfsync_always_loses_no_acknowledged_write(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with wireproto(data, tmp_path / "first.log", "--appendfsync", "always") as (port, process):
        memcached, kvbin = MemcacheWriter(port), KvbinWriter(port)
        memcached.start()
        kvbin.start()
        writer, _ = kill_while_writing(port, process, signal.SIGKILL)
        memcached.join(20)
        kvbin.join(20)
        assert not memcached.is_alive() and not kvbin.is_alive()
    acknowledged = [*writer.acknowledged, *memcached.acknowledged, *kvbin.acknowledged]
    assert len(writer.acknowledged) > 1000
    assert len(memcached.acknowledged) > 10
    assert len(kvbin.acknowledged) > 100 and kvbin.wrong == []
    with wireproto(data, tmp_path / "second.log") as (port, _):
        assert missing(port, acknowledged) == []
    # The same steps against redis-server --appendonly yes --appendfsync always.
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    with redis_aof(redis_dir, "always") as (port, process):
        redis_writer, _ = kill_while_writing(port, process, signal.SIGKILL)
    with redis_aof(redis_dir, "always") as (port, _):
        assert missing(port, list(redis_writer.acknowledged)) == []
    print(
        f"\nacknowledged then SIGKILL, all back: wireproto {len(acknowledged)} keys "
        f"({len(memcached.acknowledged)} through memcached, {len(kvbin.acknowledged)} kvbin), "
        f"redis-server {len(redis_writer.acknowledged)} keys"
    )


def test_sigkill_under_everysec_loses_at_most_about_the_last_second(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with wireproto(data, tmp_path / "first.log", "--appendfsync", "everysec") as (port, process):
        writer, killed = kill_while_writing(port, process, signal.SIGKILL)
    with wireproto(data, tmp_path / "second.log") as (port, _):
        lost = missing(port, list(writer.acknowledged))
    window = max((killed - writer.acknowledged[key] for key in lost), default=0.0)
    print(f"\neverysec, SIGKILL: {len(lost)} of {len(writer.acknowledged)} acknowledged keys lost, "
          f"the oldest acknowledged {window:.3f} s before the kill")  # fmt: skip
    # A SIGKILL leaves the page cache intact: what was written is kept, fsynced or not.
    assert window <= 2.0


def test_sigterm_keeps_every_acknowledged_write(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with wireproto(data, tmp_path / "first.log", "--appendfsync", "no") as (port, process):
        writer, _ = kill_while_writing(port, process, signal.SIGTERM)
        assert process.returncode == 0
    with wireproto(data, tmp_path / "second.log") as (port, _):
        assert missing(port, list(writer.acknowledged)) == []


def test_expiry_survives_a_restart_as_an_absolute_time(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with wireproto(data, tmp_path / "first.log", "--appendfsync", "always") as (port, process):
        with redis.Redis(host=HOST, port=port) as client:
            client.set("long", "v", px=60_000)
            client.set("short", "v", px=400)
            client.set("plain", "v")
            deadline = client.pexpiretime("long")
        process.kill()
        process.wait(15)
    time.sleep(0.6)
    with (
        wireproto(data, tmp_path / "second.log") as (port, _),
        redis.Redis(host=HOST, port=port) as client,
    ):
        assert client.pexpiretime("long") == deadline
        assert client.get("short") is None
        assert client.ttl("plain") == -1


def test_memcached_and_faster_writes_survive_a_sigkill(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with wireproto(data, tmp_path / "first.log", "--appendfsync", "always") as (port, process):
        memcached = MemcacheClient((HOST, port), timeout=5.0)
        memcached.set("mc:kept", b"from memcached", flags=5)
        memcached.set("mc:flushed", b"x")
        memcached.flush_all()
        assert memcached.set("mc:after", b"after flush_all", noreply=False)
        memcached.close()
        faster = FasterClient()
        faster.upsert(b"faster:kept", b"from FASTER")
        faster.upsert(b"faster:deleted", b"x")
        faster.delete(b"faster:deleted")
        with socket.create_connection((HOST, port), timeout=5) as sock:
            assert [r.status for r in exchange(sock, faster, 3)] == [0x11, 0x11, 0x20]
        process.kill()
        process.wait(15)
    with (
        wireproto(data, tmp_path / "second.log") as (port, _),
        redis.Redis(host=HOST, port=port) as client,
    ):
        assert client.get("mc:kept") is None  # flush_all came after it
        assert client.get("mc:flushed") is None
        assert client.get("mc:after") == b"after flush_all"
        assert client.get("faster:kept") == b"from FASTER"
        assert client.exists("faster:deleted") == 0
        memcached = MemcacheClient((HOST, port), timeout=5.0)
        assert memcached.set("mc:flags", b"v", flags=9, noreply=False)
        memcached.close()
    with wireproto(data, tmp_path / "third.log") as (port, _):
        memcached = MemcacheClient((HOST, port), timeout=5.0, default_noreply=False)
        try:
            assert memcached.raw_command(b"get mc:flags", b"END").startswith(b"VALUE mc:flags 9 1")
        finally:
            memcached.close()


def _incr_log(directory: Path) -> Path:
    manifest = (directory / "appendonly.manifest").read_text().split("\n")
    (name,) = [line.split(" ", 1)[1] for line in manifest if line.startswith("incr ")][-1:]
    return directory / name


@pytest.fixture(scope="module")
def written_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A log of 40 SETs, one record each, written by a server stopped with SIGTERM."""
    root = tmp_path_factory.mktemp("torn")
    data = root / "data"
    with (
        wireproto(data, root / "server.log", "--appendfsync", "always") as (port, _),
        redis.Redis(host=HOST, port=port) as client,
    ):
        for number in range(40):
            client.set(b"k%d" % number, b"v" * number)
    return data, 40


@given(cut_from_end=st.integers(0, 400), flip=st.booleans(), where=st.integers(0, 10**6))
@settings(max_examples=8, deadline=None)
def test_a_torn_or_corrupt_tail_is_truncated_and_the_server_starts(
    written_log: tuple[Path, int],
    cut_from_end: int,
    flip: bool,
    where: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    source, _ = written_log
    root = tmp_path_factory.mktemp("case")
    data = root / "data"
    data.mkdir()
    for path in source.iterdir():
        (data / path.name).write_bytes(path.read_bytes())
    incr = _incr_log(data)
    content = bytearray(incr.read_bytes())
    content = content[: max(0, len(content) - cut_from_end)]
    if flip and content:
        content[where % len(content)] ^= 0x5A
    incr.write_bytes(bytes(content))
    payloads, good = records.read_records(bytes(content))
    log = root / "server.log"
    with wireproto(data, log) as (port, _), redis.Redis(host=HOST, port=port) as client:
        assert client.dbsize() == len(payloads)
        assert all(client.get(b"k%d" % n) == b"v" * n for n in range(len(payloads)))
    assert incr.stat().st_size == good
    if good < len(content):
        assert "event=persistence.truncated" in log.read_text()


def test_a_rewrite_during_traffic_keeps_the_log_bounded_and_loses_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    options = ("--appendfsync", "everysec", "--set", "persistence.auto-rewrite-min-size=200000")
    latest: dict[bytes, bytes] = {}
    with (
        wireproto(data, tmp_path / "first.log", *options) as (port, _),
        redis.Redis(host=HOST, port=port) as client,
    ):
        for round_number in range(60):
            pipe = client.pipeline(transaction=False)
            for n in range(500):
                key, value = b"r:%d" % n, b"%d:%d" % (round_number, n) + b"x" * 40
                pipe.set(key, value)
                latest[key] = value
            pipe.execute()
        time.sleep(1.0)  # let the last child finish
        sizes = sum(path.stat().st_size for path in data.iterdir())
        manifest = (data / "appendonly.manifest").read_text()
    assert int(manifest.split("\n")[0].split()[1]) > 2, manifest  # rewrites happened
    # 60 rounds of 500 keys are ~2 MB of records; the live data is ~40 kB.
    assert sizes < 600_000, sizes
    with (
        wireproto(data, tmp_path / "second.log") as (port, _),
        redis.Redis(host=HOST, port=port) as client,
    ):
        keys = list(latest)
        assert client.mget(keys) == [latest[key] for key in keys]


def test_without_dir_no_file_is_written(tmp_path: Path) -> None:
    before = set(os.listdir(tmp_path))
    process = start(tmp_path / "server.log")
    try:
        line = read_line(process, START_TIMEOUT)
        assert START_LINE.fullmatch(line.decode())
        port = int(START_LINE.fullmatch(line.decode())[2])  # type: ignore[index]
        with redis.Redis(host=HOST, port=port) as client:
            client.set("k", "v")
    finally:
        assert stop(process) == 0
        assert process.stdout is not None
        process.stdout.close()
    assert set(os.listdir(tmp_path)) == before | {"server.log"}
    assert "persistence" not in (tmp_path / "server.log").read_text()


def _info(client: redis.Redis) -> dict[str, object]:
    info: dict[str, object] = client.info("persistence")
    return info


def test_admin_commands_drive_the_log(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with wireproto(data, tmp_path / "first.log", "--appendfsync", "always") as (port, process):
        # NO_RETRY: SHUTDOWN closes the connection, which redis-py would retry for seconds
        with redis.Redis(host=HOST, port=port, retry=NO_RETRY) as client:
            info = _info(client)
            assert info["aof_enabled"] == 1
            assert info["aof_rewrite_in_progress"] == 0
            assert info["aof_last_write_status"] == "ok"
            assert client.config_get("append*") == {"appendonly": "yes", "appendfsync": "always"}
            client.config_set("appendfsync", "everysec")
            assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
            for number in range(2000):
                client.set(b"k%d" % (number % 50), b"%d" % number)
            before = _info(client)["aof_current_size"]
            assert client.bgrewriteaof()
            deadline = time.monotonic() + 20
            while _info(client)["aof_rewrites"] == 0:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            after = _info(client)
            assert after["aof_last_bgrewrite_status"] == "ok"
            assert after["aof_current_size"] < before  # type: ignore[operator]
            saved = client.lastsave()
            assert client.save()
            assert client.lastsave() >= saved
            assert _info(client)["rdb_changes_since_last_save"] == 0
            client.set("last", "1")
            assert _info(client)["rdb_changes_since_last_save"] == 1
            client.shutdown()  # redis-py takes the closed connection for success
        assert process.wait(15) == 0
    assert (data / "dump.wps").exists()
    with (
        wireproto(data, tmp_path / "second.log") as (port, _),
        redis.Redis(host=HOST, port=port) as client,
    ):
        assert client.get("last") == b"1"
        assert client.get("k49") == b"1999"
        assert client.config_get("appendfsync") == {"appendfsync": "everysec"}  # the CLI's


def test_without_dir_the_admin_commands_say_so(tmp_path: Path) -> None:
    process = start(tmp_path / "server.log")
    try:
        match = START_LINE.fullmatch(read_line(process, START_TIMEOUT).decode())
        assert match
        with redis.Redis(host=HOST, port=int(match[2])) as client:
            assert _info(client)["aof_enabled"] == 0
            assert client.config_get("appendonly") == {"appendonly": "no"}
            for command in ("BGREWRITEAOF", "SAVE", "BGSAVE"):
                with pytest.raises(redis.ResponseError, match="persistence is off"):
                    client.execute_command(command)
    finally:
        assert stop(process) == 0
        assert process.stdout is not None
        process.stdout.close()


def test_each_worker_keeps_its_own_log(tmp_path: Path) -> None:
    data = tmp_path / "data"
    process = start(tmp_path / "server.log", "--workers", "2", "--dir", str(data))
    try:
        line = read_line(process, START_TIMEOUT).decode(errors="replace")
        assert re.fullmatch(r"wireproto serving .+ on 127\.0\.0\.1:\d+ with 2 workers\n", line)
        deadline = time.monotonic() + 20
        while not all((data / f"worker-{k}" / "appendonly.manifest").exists() for k in (0, 1)):
            assert time.monotonic() < deadline, os.listdir(data) if data.exists() else "no dir"
            time.sleep(0.05)
    finally:
        assert stop(process) == 0
        assert process.stdout is not None
        process.stdout.close()
    assert sorted(os.listdir(data)) == ["worker-0", "worker-1"]


def test_config_set_appendonly_yes_writes_the_base_in_a_child(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with wireproto(data, tmp_path / "first.log", "--appendfsync", "always") as (port, process):
        with redis.Redis(host=HOST, port=port) as client:
            client.set("before", "1")
            client.config_set("appendonly", "no")
            assert _info(client)["aof_enabled"] == 0
            client.mset({b"off:%d" % n: b"x" * 100 for n in range(20_000)})
            started = time.monotonic()
            client.config_set("appendonly", "yes")
            answered = time.monotonic() - started
            info = _info(client)
            assert info["aof_enabled"] == 1
            client.set("after", "3")  # logged at once, in the log the new base will head
            deadline = time.monotonic() + 20
            while _info(client)["aof_rewrites"] == 0:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert _info(client)["aof_last_bgrewrite_status"] == "ok"
            client.set("last", "4")
            # A thread switches the manifest, then drops the old files (a kill between the
            # two leaves an unnamed orphan): wait for the drop, bounded.
            while (data / "appendonly.1.base.wpl").exists():
                assert time.monotonic() < deadline
                time.sleep(0.05)
        process.kill()
        process.wait(15)
    manifest = (data / "appendonly.manifest").read_text()
    assert "appendonly.1." not in manifest
    with (
        wireproto(data, tmp_path / "second.log") as (port, _),
        redis.Redis(host=HOST, port=port) as client,
    ):
        assert client.mget("before", "after", "last") == [b"1", b"3", b"4"]
        assert client.dbsize() == 20_003
    print(f"\nCONFIG SET appendonly yes answered in {answered * 1000:.1f} ms (20,000 keys)")


def test_memcached_cas_versions_survive_a_sigkill(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with wireproto(data, tmp_path / "first.log", "--appendfsync", "always") as (port, process):
        client = MemcacheClient((HOST, port), timeout=5.0, default_noreply=False)
        try:
            assert client.set("held", b"v1", flags=4)
            _, held = client.gets("held")
            assert client.set("changed", b"old")
            _, stale = client.gets("changed")
            assert client.set("changed", b"new")
            _, fresh = client.gets("changed")
            assert client.set("gone", b"x")
            _, gone = client.gets("gone")
            assert client.delete("gone")
        finally:
            client.close()
        process.kill()
        process.wait(15)
    with wireproto(data, tmp_path / "second.log") as (port, _):
        client = MemcacheClient((HOST, port), timeout=5.0, default_noreply=False)
        try:
            assert client.gets("held") == (b"v1", held)
            assert client.cas("changed", b"late", stale) is False  # EXISTS, as before the kill
            assert client.cas("held", b"v2", held) is True  # the version held across the restart
            assert client.set("gone", b"again")
            _, new = client.gets("gone")
            assert new not in (held, stale, fresh, gone)
            assert client.cas("changed", b"latest", fresh) is True
        finally:
            client.close()
