"""Which wireproto builds a benchmark serves: ``--build LABEL=PYTHON`` (resp.py, memcache.py).

A build is a Python interpreter (a venv's ``bin/python``) whose installed wireproto
runs ``wireproto serve``, started with ``-P`` so that the checkout in the current
directory never shadows the installed package. By default: ``pure``, this
interpreter (the editable ``.venv``), and ``compiled``, ``.venv-compiled/bin/python``
when it exists (the wheel the README's test command installs). Each build is asked
``wireproto --version`` first, and a ``pure`` or ``compiled`` label must match it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMPILED_PYTHON = REPO / ".venv-compiled" / "bin" / "python"


@dataclass(frozen=True)
class Build:
    """A labelled interpreter and what its ``wireproto --version`` says (``pure Python``...)."""

    label: str
    python: str
    described: str

    def serve(self, *options: str) -> list[str]:
        """The command line of ``wireproto serve`` with this build."""
        return [self.python, "-P", "-m", "wireproto", "serve", *options]


def add_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--build",
        action="append",
        metavar="LABEL=PYTHON",
        help="serve wireproto with this interpreter's install, repeatable (default: "
        f"pure={Path(sys.executable).name} here and compiled={COMPILED_PYTHON.relative_to(REPO)} "
        "when it exists)",
    )


def describe(python: str) -> str:
    """What ``wireproto --version`` of that interpreter says in parentheses."""
    done = subprocess.run(
        [python, "-P", "-m", "wireproto", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=REPO,
    )
    return done.stdout.strip().partition(" (")[2].removesuffix(")")


def builds(values: list[str] | None) -> list[Build]:
    """The builds named on the command line, checked against what each one reports."""
    if not values:
        values = [f"pure={sys.executable}"]
        if COMPILED_PYTHON.exists():
            values.append(f"compiled={COMPILED_PYTHON}")
    result = []
    for value in values:
        label, _, python = value.partition("=")
        if not python:
            raise SystemExit(f"--build {value!r}: expected LABEL=PYTHON")
        described = describe(python)
        if (label, described) != ("pure", "pure Python") and label == "pure":
            raise SystemExit(f"--build {value}: that install is {described!r}, not pure Python")
        if label == "compiled" and not described.startswith("compiled"):
            raise SystemExit(f"--build {value}: that install is {described!r}, not compiled")
        result.append(Build(label, python, described))
    return result
