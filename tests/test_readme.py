"""The README's promises: its test command is CI's, and its example runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_readme_starts_with_the_two_commands() -> None:
    commands = _blocks("sh")[:2]
    assert commands[0].strip().endswith("wireproto serve")
    assert "pytest" in commands[1]
    assert README.index("```sh") < README.index("## ")  # before any section


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test_command = _blocks("sh")[1].strip()
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci_lines


def test_the_custom_format_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    example = next(block for block in _blocks("python") if "asyncio.run(main())" in block)
    monkeypatch.syspath_prepend(str(ROOT))
    exec(compile(example, "README.md", "exec"), {"__name__": "readme_example"})


def test_the_fuzz_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = next(block for block in _blocks("python") if '"""myproto' in block)
    test = next(block for block in _blocks("python") if "from myproto import" in block)
    (tmp_path / "myproto.py").write_text(module)
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace: dict[str, object] = {"__name__": "test_myproto"}
    exec(compile(test, "README.md", "exec"), namespace)
    run = namespace["test_myproto_conforms"]
    assert callable(run)
    run()


_NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "build", "*.egg-info", "__pycache__", ".hypothesis", ".*_cache"
)


def test_the_fuzz_example_runs_in_a_fresh_venv_outside_the_checkout(tmp_path: Path) -> None:
    """As a new user would: ``pip install '<checkout>[testing]'`` into a new venv, the two
    README files in a folder of their own, pytest, then ``wireproto fuzz``. Slow (a venv and
    an install): one test, every step bounded."""
    checkout = tmp_path / "checkout"  # a copy: building in place would write into the repo
    shutil.copytree(ROOT, checkout, ignore=_NOT_COPIED)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    environment["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", f"{checkout}[testing]"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=environment,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    work = tmp_path / "work"
    work.mkdir()
    module = next(block for block in _blocks("python") if '"""myproto' in block)
    test = next(block for block in _blocks("python") if "from myproto import" in block)
    (work / "myproto.py").write_text(module)
    (work / "test_myproto.py").write_text(test)

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(venv / "bin" / command[0]), *command[1:]],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env=environment,
        )

    tested = run("pytest", "-q", "-p", "no:cacheprovider", "test_myproto.py")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "1 passed" in tested.stdout
    fuzzed = run("wireproto", "fuzz", "test_myproto:TARGET", "--examples=100", "--seed=1")
    assert fuzzed.returncode == 0, fuzzed.stdout + fuzzed.stderr
    assert "no property failed: 100 examples" in fuzzed.stdout
    assert "max_message_size checked at max and max+1" in fuzzed.stdout
    corpus = len(list((ROOT / "specs" / "kvbin" / "corpus").iterdir()))
    builtin = run("wireproto", "fuzz", "kvbin", "--examples=20", "--seed=1")
    assert builtin.returncode == 0, builtin.stdout + builtin.stderr
    assert f", {corpus} corpus streams," in builtin.stdout  # shipped with the package
    left = {path.name for path in work.iterdir()} - {"__pycache__"}  # Python's own
    assert left == {"myproto.py", "test_myproto.py"}  # no .hypothesis/, no regressions
