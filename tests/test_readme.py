"""The README's promises: its test command is CI's, and its example runs."""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import wireproto
import wireproto.framing
import wireproto.layers
from wireproto import framing
from wireproto._cli import _parser
from wireproto._registry import Registry

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
LIMITS = (ROOT / "docs" / "limits.md").read_text()
CLI = (ROOT / "docs" / "cli.md").read_text()


def _blocks(language: str, text: str = README) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


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


def test_the_layer_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    example = next(block for block in _blocks("python") if "register_layer" in block)
    assert "asyncio.run(layered())" in example
    monkeypatch.syspath_prepend(str(ROOT))
    exec(compile(example, "README.md", "exec"), {"__name__": "readme_layer_example"})


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
    ".git", ".venv*", "build", "*.egg-info", "__pycache__", ".hypothesis", ".*_cache"
)


@pytest.mark.long  # a fresh venv and a pip install
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
    environment["WIREPROTO_PURE"] = "1"  # the example, not the mypyc build (minutes) is tested
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


# -- the limits tables, against the code's defaults -------------------------------------

_UNITS = {"bytes": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "s": 1}
_CLI_SUFFIXES = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def _table(header: str) -> list[list[str]]:
    """The rows of the docs/limits.md table whose header line starts with ``header``."""
    start = LIMITS.index(header)
    lines = LIMITS[start:].split("\n\n", 1)[0].splitlines()[2:]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def _value(text: str) -> float | None:
    """A README default: ``16 KiB``, ``1 MiB + 2,562 (why)``, ``10,000``, ``5 s``, ``never``."""
    text = re.sub(r"\s*\(.*?\)", "", text).strip()
    if text in ("never", "none"):
        return None
    total = 0.0
    for term in text.split(" + "):
        number, _, unit = term.strip().partition(" ")
        total += float(number.replace(",", "")) * _UNITS[unit or "bytes"]
    return total


def _cli_defaults() -> dict[str, object]:
    return vars(_parser().parse_args(["serve"]))


def _public(name: str) -> Any:
    """A public class the docs name: in ``wireproto``, ``wireproto.layers`` or ``.framing``."""
    for module in (wireproto, wireproto.layers, wireproto.framing):
        if hasattr(module, name):
            return getattr(module, name)
    raise AttributeError(name)


def _code_default(name: str) -> object:
    """The code's default for a README name: ``Class.field``, ``Class(param=...)``, ``--opt``."""
    if name.startswith("--"):
        return _cli_defaults()[name[2:].replace("-", "_")]
    if name == "VarintFramer":  # the prefix cap is a constant of the framer
        return framing._VARINT_MAX_BYTES
    call = re.fullmatch(r"(\w+)\((\w+)=\.\.\.\)", name)
    if call:
        return inspect.signature(_public(call[1])).parameters[call[2]].default
    owner, _, attribute = name.partition(".")
    cls = _public(owner)
    if dataclasses.is_dataclass(cls):
        field = next(f for f in dataclasses.fields(cls) if f.name == attribute)
        return field.default
    return inspect.signature(cls).parameters[attribute].default


def test_the_limits_table_gives_the_code_defaults() -> None:
    rows = _table("| limit | default | where | past it |")
    assert len(rows) >= 12
    checked = 0
    for limit, default, where, _past in rows:
        expected = _value(default)
        names = re.findall(r"`([^`]+)`", re.sub(r"\(per provider.*?\)", "", where))
        assert names, limit
        for name in names:
            actual = _code_default(name)
            if expected is None:  # "never" / "none": None, or 0 on the command line
                assert actual in (None, 0), (limit, name, actual)
            else:
                assert actual == expected, (limit, name, actual, expected)
            checked += 1
    assert checked >= 20


def test_the_built_in_providers_limits_table_gives_the_code_defaults() -> None:
    registry = Registry.from_plugins()
    rows = _table("| provider | message size | output queued for a slow reader |")
    named = set()
    for formats, message_size, output in rows:
        for name in re.findall(r"`([^`]+)`", formats):
            limits = registry.provider(registry.wire_format(name)).limits
            assert limits.max_message_size == _value(message_size), name
            assert limits.max_output_buffered == _value(output), name
            named.add(name)
    assert named == {fmt.name for fmt in registry}  # every built-in provider has its row


def test_the_command_line_synopsis_gives_the_cli_defaults() -> None:
    synopsis = next(block for block in _blocks("sh", CLI) if block.startswith("wireproto serve ["))
    defaults = _cli_defaults()
    checked = 0
    for option, value in re.findall(r"\[--([a-z-]+) ([^\]\s]+)", synopsis):
        if value.isupper() or value == "...":  # a metavar: no default shown
            continue
        actual = defaults[option.replace("-", "_")]
        shown: object = value.split("|")[0]  # choices: the default comes first
        if isinstance(actual, int | float) and not isinstance(actual, bool):
            number = re.fullmatch(r"(\d+)([kmg]?)", value)
            assert number, (option, value)
            shown = int(number[1]) * _CLI_SUFFIXES.get(number[2], 1)
        assert shown == actual, (option, value, actual)
        checked += 1
    assert checked >= 10
