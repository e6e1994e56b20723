"""FASTER over WebSocket from Node.js against ``wireproto serve`` (needs the WebSocket layer).

Not collected yet: it needs the ``http`` branch's WebSocket layer
(``wireproto/websocket.py``). Once that is on main, move this file to
``tests/test_faster_node.py``. It fails (never skips) when Node, the ``ws``
package (``npm install --prefix tests/node``) or the layer is missing.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

from _serve import serve

HERE = Path(__file__).resolve().parent
NODE_DIR = HERE if HERE.name == "node" else HERE / "node"


def test_a_node_client_speaking_fasters_javascript_format(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed (Node 20 is on the CI machine)"
    assert (NODE_DIR / "node_modules" / "ws").is_dir(), "run: npm install --prefix tests/node"
    layer = importlib.util.find_spec("wireproto.websocket")
    assert layer is not None, "the WebSocket layer (branch http) is not installed"

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
