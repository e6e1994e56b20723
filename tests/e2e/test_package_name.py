"""The built-in formats install as ``wireproto.providers``: an application's own
``providers`` module (or package) beside it can never shadow them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BUILT_IN = {"resp", "memcache-text", "memcache-binary", "kvbin", "faster", "faster-ws", "http"}


def test_a_folder_with_its_own_providers_module_still_gets_every_built_in_format(
    tmp_path: Path,
) -> None:
    (tmp_path / "providers.py").write_text("raise SystemExit('the application providers.py ran')\n")
    # `python -m` puts the working folder first on sys.path, where providers.py lies.
    result = subprocess.run(
        [sys.executable, "-m", "wireproto", "formats"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert listed >= BUILT_IN, result.stdout
    assert "failed" not in result.stderr.lower(), result.stderr


def test_an_application_package_named_providers_does_not_shadow_them(tmp_path: Path) -> None:
    package = tmp_path / "providers"
    package.mkdir()
    (package / "__init__.py").write_text("")
    code = (
        "from wireproto._registry import Registry\n"
        "r = Registry.from_plugins()\n"
        "print(sorted(f.name for f in r.formats)); print(len(r.plugin_failures))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    names, failures = result.stdout.splitlines()
    assert set(eval(names)) >= BUILT_IN
    assert failures == "0"
