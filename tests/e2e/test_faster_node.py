"""FASTER over WebSocket from Node.js against ``wireproto serve``, through the WebSocket layer.

It fails (never skips) when Node or the ``ws`` package (``npm install --prefix
tests/node``, run by ``.ci/install-node-packages``) is missing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from _serve import serve

NODE_DIR = Path(__file__).resolve().parent.parent / "node"


def test_a_node_client_speaking_fasters_javascript_format(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed (Node 20 is on the CI machine)"
    assert (NODE_DIR / "node_modules" / "ws").is_dir(), "run: npm install --prefix tests/node"

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
