"""FASTER over WebSocket from Node.js against ``wireproto serve``, through the WebSocket layer.

It fails (never skips) when Node or the ``ws`` package (``npm install --prefix
tests/node``, run by ``.ci/install-node-packages``) is missing.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path

import redis
from _faster_client import FasterClient, exchange
from _serve import HOST, read_line, serve, stop
from pymemcache.client.base import Client as MemcacheClient

NODE_DIR = Path(__file__).resolve().parent.parent / "node"


def _node() -> str:
    node = shutil.which("node")
    assert node, "Node.js is needed (Node 20 is on the CI machine)"
    assert (NODE_DIR / "node_modules" / "ws").is_dir(), "run: npm install --prefix tests/node"
    return node


def test_a_node_client_speaking_fasters_javascript_format(tmp_path: Path) -> None:
    node = _node()

    with serve(tmp_path / "serve.log", formats={"faster", "faster-ws"}) as server:
        result = subprocess.run(
            [node, str(NODE_DIR / "faster_ws_client.mjs"), str(server.port)],
            capture_output=True,
            timeout=30,
            check=False,
        )
    out = result.stdout.decode()
    assert result.returncode == 0, out + result.stderr.decode()
    assert out.splitlines()[-1] == "ok", out


def test_a_node_subscriber_hears_writes_by_redis_memcached_and_a_faster_publisher(
    tmp_path: Path,
) -> None:
    node = _node()
    # What FASTER's JavaScript client's callbacks receive: SubscribeKV notifications with
    # the key's value (NOT_FOUND with an empty one once deleted), then the channel's value.
    wanted = [
        {"op": "notified", "key": "node:x", "value": "from redis", "status": 0, "sid": 1},
        {"op": "notified", "key": "node:x", "value": "from memcached", "status": 0, "sid": 1},
        {"op": "notified", "key": "node:x", "value": "", "status": 1, "sid": 1},
        {"op": "channel", "key": "node:ch", "value": "published", "status": 0, "sid": 1},
    ]
    formats = {"faster", "faster-ws", "resp", "memcache-text"}
    with serve(tmp_path / "serve.log", formats=formats) as server:
        args = [str(server.port), "subscriber", "node:x", "node:ch", json.dumps(wanted)]
        with subprocess.Popen(
            [node, str(NODE_DIR / "faster_ws_client.mjs"), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        ) as process:
            try:
                out = _drive_subscriber(process, server.port)
            finally:
                stop(process)
    assert out.decode().splitlines()[-1] == "ok", out.decode()


def _drive_subscriber(process: subprocess.Popen[bytes], port: int) -> bytes:
    """Once the Node subscriber is ready: the writes through each format; its output."""
    lines = [read_line(process, 10.0) for _ in range(3)]
    assert lines[-1] == b"ready\n", lines
    with redis.Redis(host=HOST, port=port) as redis_client:
        assert redis_client.set("node:x", "from redis")
    memcached = MemcacheClient((HOST, port), timeout=5.0)
    try:
        assert memcached.set("node:x", b"from memcached", noreply=False)
        assert memcached.delete("node:x", noreply=False)
    finally:
        memcached.close()
    with socket.create_connection((HOST, port), timeout=5.0) as sock:
        publisher = FasterClient()
        publisher.publish(b"node:ch", b"published")
        assert [(r.type, r.status) for r in exchange(sock, publisher, 1)] == [(11, 0)]
    status = process.wait(timeout=30)
    assert process.stdout is not None
    out = b"".join(lines) + process.stdout.read()
    assert status == 0, out.decode()
    return out
