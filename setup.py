"""Build hook: compile wireproto's hot modules with mypyc when a wheel is built.

The metadata is in pyproject.toml; this adds the extension modules. The modules are
listed once, in ``wireproto/_build.py`` (``COMPILED_SOURCES``). A wheel (``pip install .``,
``python -m build``) compiles them when mypyc, a C compiler and the Python headers are
there; otherwise, or with ``WIREPROTO_PURE=1``, or for an editable install, the build is
pure Python and says so in one line on stderr. Everything generated goes under
``build/`` (the sources mypyc reads are copied to ``build/mypyc-src`` laid out by import
name), so no compiled module lands next to the source and shadows it.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from setuptools import setup

ROOT = Path(__file__).resolve().parent
BUILD = ROOT / "build"
STAGE = BUILD / "mypyc-src"
# Commands that build binaries; metadata steps (egg_info, dist_info) decide nothing.
BUILD_COMMANDS = {"bdist_wheel", "build", "build_ext", "install"}
EDITABLE_COMMANDS = {"editable_wheel", "develop"}


def load_build_module() -> ModuleType:
    """``wireproto/_build.py`` on its own, without importing the package."""
    spec = importlib.util.spec_from_file_location("_wireproto_build", ROOT / "wireproto/_build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses looks the module up
    spec.loader.exec_module(module)
    return module


def compiler_problem() -> str | None:
    """Why C extensions cannot be built here, or None (compiles a file that includes Python.h)."""
    command = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    include = sysconfig.get_paths()["include"]
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp, "probe.c")
        probe.write_text("#include <Python.h>\nint probe(void) { return 0; }\n")
        try:
            done = subprocess.run(
                [*command, "-c", str(probe), "-o", str(Path(tmp, "probe.o")), "-I", include],
                capture_output=True,
                text=True,
                check=False,
            )
        except OSError:
            return f"no C compiler ({command[0]})"
    if done.returncode != 0:
        if not Path(include, "Python.h").exists():
            return f"no Python headers ({include}/Python.h)"
        return f"the C compiler failed ({command[0]}: {done.stderr.strip().splitlines()[-1:]})"
    return None


def pure_reason(argv: list[str]) -> str | None:
    """Why this build stays pure Python, or None to compile."""
    if os.environ.get("WIREPROTO_PURE") == "1":
        return "WIREPROTO_PURE=1"
    if EDITABLE_COMMANDS & set(argv):
        return "an editable install runs the source (`pip install .` builds the compiled one)"
    if importlib.util.find_spec("mypyc") is None:
        return "mypyc is not installed"
    return compiler_problem()


def stage_sources(package_dirs: dict[str, str]) -> Path:
    """Copy every package's .py files to ``build/mypyc-src``, laid out by import name."""
    shutil.rmtree(STAGE, ignore_errors=True)
    for source_dir, package in package_dirs.items():
        target = STAGE.joinpath(*package.split("."))
        for path in (ROOT / source_dir).rglob("*.py"):
            destination = target / path.relative_to(ROOT / source_dir)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
    return STAGE


def staged_path(stage: Path, package_dirs: dict[str, str], source: str) -> str:
    """Where ``stage_sources`` put a source file named by its path in the project."""
    top, rest = source.split("/", 1)
    return str(stage.joinpath(*package_dirs[top].split("."), rest))


def extensions(argv: list[str]) -> list[Any]:
    """The mypyc extension modules for this build (none when it stays pure)."""
    if not BUILD_COMMANDS & set(argv) and not EDITABLE_COMMANDS & set(argv):
        return []
    reason = pure_reason(argv)
    if reason is not None:
        print(f"wireproto: building pure Python, not compiled: {reason}", file=sys.stderr)
        return []
    from mypyc.build import mypycify  # noqa: PLC0415 (absent when the build is pure)

    # setuptools packs whatever build/lib holds: a module dropped from the list (or a
    # deleted source) must not ship as a stale extension from an earlier build.
    for stale in BUILD.glob("lib.*"):
        shutil.rmtree(stale)

    build = load_build_module()
    stage = stage_sources(build.PACKAGE_DIRS)
    paths = [staged_path(stage, build.PACKAGE_DIRS, source) for source in build.COMPILED_SOURCES]
    # mypy reads [tool.mypy] from pyproject.toml; its cache stays under build/.
    options = ["--cache-dir", str(BUILD / "mypyc-cache")]
    return mypycify([*options, *paths], target_dir=str(BUILD / "mypyc"))


if __name__ == "__main__":
    setup(ext_modules=extensions(sys.argv[1:]))
