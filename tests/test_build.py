"""Which build runs: the listed modules are all compiled (a wheel) or all pure (the source).

CI runs the suite twice: on the editable install with ``WIREPROTO_EXPECT_BUILD=pure``,
and on the wheel in ``.venv-compiled`` with ``WIREPROTO_EXPECT_BUILD=compiled``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from wireproto.providers.resp import RespProvider

import wireproto
from wireproto import _build

ROOT = Path(__file__).resolve().parent.parent
NAMES = [_build.module_name(source) for source in _build.COMPILED_SOURCES]
# Imported from this checkout's source folder (an editable install), not an installed copy.
FROM_CHECKOUT = Path(wireproto.__file__).resolve().parent == ROOT / "wireproto"


def _expected() -> str | None:
    """The build this run must see: the environment says, else the checkout is pure."""
    expected = os.environ.get("WIREPROTO_EXPECT_BUILD")
    if expected is not None:
        assert expected in {"compiled", "pure"}, expected
        return expected
    # Imported from this checkout (an editable install): a compiled module here is stale.
    return "pure" if FROM_CHECKOUT else None


def _is_extension(name: str) -> bool:
    module_file = importlib.import_module(name).__file__
    assert module_file is not None
    return module_file.endswith(".so")


def test_every_listed_source_exists_and_names_its_module() -> None:
    for source, name in zip(_build.COMPILED_SOURCES, NAMES, strict=True):
        assert (ROOT / source).is_file(), source
        assert name.split(".")[-1] == Path(source).stem


def test_module_name_follows_the_package_dirs(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _build.module_name("providers/resp/parser.py") == "wireproto.providers.resp.parser"
    assert _build.module_name("providers/resp/__init__.py") == "wireproto.providers.resp"
    assert _build.module_name("wireproto/_buffer.py") == "wireproto._buffer"
    moved = {"wireproto": "wireproto", "providers": "wireproto.providers"}
    monkeypatch.setattr(_build, "PACKAGE_DIRS", moved)
    assert _build.module_name("providers/kvstore.py") == "wireproto.providers.kvstore"


def test_the_expected_build_loaded() -> None:
    compiled = [name for name in NAMES if _is_extension(name)]
    build = _build.current()
    assert list(build.compiled) == compiled
    expected = _expected()
    if expected == "compiled":
        assert compiled == NAMES
        assert build.kind == "compiled"
        assert build.describe() == f"compiled: {len(NAMES)} modules"
        # The tests import the installed wheel, not this checkout.
        assert not FROM_CHECKOUT, wireproto.__file__
    elif expected == "pure":
        assert compiled == []
        assert (build.kind, build.describe()) == ("pure", "pure Python")
    else:  # an installed package nobody named: all or nothing, never a partial build
        assert compiled in ([], NAMES)


def test_version_and_info_say_which_build() -> None:
    build = _build.current()
    # -P: the installed package, never a wireproto/ folder in the current directory.
    done = subprocess.run(
        [sys.executable, "-P", "-m", "wireproto", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout == f"wireproto {wireproto.__version__} ({build.describe()})\n"
    info = RespProvider().info([b"server"])
    assert b"\r\nwireproto_build:%s\r\n" % build.kind.encode() in info
    assert info.startswith(b"# Server\r\nredis_version:")


def _setup_module() -> ModuleType:
    """``setup.py``'s functions, without running setup()."""
    spec = importlib.util.spec_from_file_location("_wireproto_setup", ROOT / "setup.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("environ", "argv", "reason"),
    [
        ({"WIREPROTO_PURE": "1"}, ["bdist_wheel"], "WIREPROTO_PURE=1"),
        ({}, ["editable_wheel"], "an editable install runs the source"),
        ({"CC": "no-such-compiler-wireproto"}, ["bdist_wheel"], "no C compiler"),
    ],
)
def test_setup_falls_back_to_pure_with_one_line(
    environ: dict[str, str],
    argv: list[str],
    reason: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup = _setup_module()
    monkeypatch.delenv("WIREPROTO_PURE", raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert setup.extensions(argv) == []
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"wireproto: building pure Python, not compiled: {reason}")
    assert err.count("\n") == 1


def test_setup_decides_nothing_for_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    assert _setup_module().extensions(["egg_info"]) == []
    assert capsys.readouterr() == ("", "")
