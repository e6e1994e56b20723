"""The README's promises: its test command is CI's, and its example runs."""

from __future__ import annotations

import re
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
