"""Without the ``testing`` extra, the kit says in one line what to install."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HIDDEN = "import sys; sys.modules['hypothesis'] = None; "


def test_the_testing_extra_names_hypothesis_and_pytest() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extra = project["optional-dependencies"]["testing"]
    assert sorted(requirement.split(">")[0] for requirement in extra) == ["hypothesis", "pytest"]
    assert "pip install 'wireproto[testing]'" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize(
    "statement",
    [
        "from wireproto.testing import check_wire_format",
        "import wireproto.testing.strategies",
        "from wireproto.testing import ConsumerMachine",
    ],
)
def test_importing_the_kit_without_hypothesis_names_the_extra(statement: str) -> None:
    result = subprocess.run(
        [sys.executable, "-P", "-c", HIDDEN + statement],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        "ModuleNotFoundError: wireproto.testing needs hypothesis: pip install 'wireproto[testing]'"
    )


def test_the_kit_without_hypothesis_still_imports_its_plain_parts() -> None:
    code = HIDDEN + "import wireproto.testing as t; print(t.FuzzTarget.__name__)"
    result = subprocess.run(
        [sys.executable, "-P", "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stdout) == (0, "FuzzTarget\n"), result.stderr
