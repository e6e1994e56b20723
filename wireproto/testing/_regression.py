"""Regression files: a failing input saved as JSON, replayed by plain pytest.

``wireproto fuzz`` writes one when a property fails; the pytest plugin
(:mod:`wireproto.testing.pytest_plugin`) collects every ``*.json`` file in a
directory named ``fuzz_regressions``, or in a directory listed in the
``wireproto_regressions`` ini option, and replays it. ``expect`` is
``"pass"`` (the default: the test fails until the bug is fixed, then guards
the fix) or ``"fail"`` (the kit must keep finding that property failing:
used to pin the kit's own planted-bug tests).
"""

from __future__ import annotations

import builtins
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wireproto.testing._errors import PROPERTIES, ConformanceError
from wireproto.testing._properties import check_example, check_limits_and_work, prepare_seeds
from wireproto.testing._target import load_target
from wireproto.testing._types import Example, ReadSchedule

__all__ = [
    "INI_OPTION",
    "REGRESSION_DIRECTORY",
    "Regression",
    "load_regression",
    "regression_file_name",
    "replay_regression",
    "save_regression",
]

_VERSION = 1

REGRESSION_DIRECTORY = "fuzz_regressions"
"""The pytest plugin replays the ``*.json`` files of every directory with this name."""
INI_OPTION = "wireproto_regressions"
"""The pytest ini option listing more directories of regression files."""
_SLUG = re.compile(r"[^A-Za-z0-9]+")
_IDENTITY = (
    "target",
    "property",
    "check",
    "stream",
    "chunks",
    "initial_buffer_size",
    "read_sizes",
    "boundaries",
    "messages",
    "valid",
)
"""The fields that name a failure: everything but the report text and what replay expects."""


@dataclass(frozen=True, slots=True)
class Regression:
    """A saved failure: which target and property, the input, and what replaying expects."""

    target: str
    property: int
    check: str
    example: Example | None
    expect: str = "pass"
    found: str = ""

    @classmethod
    def from_error(cls, error: ConformanceError, target: str, expect: str = "pass") -> Regression:
        """The regression for ``error``, found in the target ``target`` names."""
        return cls(target, error.property, error.check, error.example, expect, str(error))

    @builtins.property  # the field `property` hides the builtin in this class body
    def name(self) -> str:
        """The property's short name."""
        return PROPERTIES.get(self.property, "unknown")

    def to_json(self) -> dict[str, Any]:
        """The JSON object saved in the file."""
        data: dict[str, Any] = {
            "wireproto_fuzz_regression": _VERSION,
            "target": self.target,
            "property": self.property,
            "name": self.name,
            "check": self.check,
            "expect": self.expect,
        }
        example = self.example
        if example is not None:
            data.update(
                stream=example.stream.hex(),
                chunks=list(example.chunks),
                initial_buffer_size=example.schedule.initial_buffer_size,
                read_sizes=list(example.schedule.read_sizes),
                boundaries=list(example.boundaries),
                messages=[message.hex() for message in example.messages],
                valid=example.valid,
            )
        data["found"] = self.found.splitlines()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Regression:
        """Read the JSON object of a regression file (ValueError if it is not one)."""
        if data.get("wireproto_fuzz_regression") != _VERSION:
            raise ValueError("not a wireproto fuzz regression file (version 1)")
        example = None
        if "stream" in data:
            example = Example(
                bytes.fromhex(data["stream"]),
                tuple(data["chunks"]),
                ReadSchedule(data["initial_buffer_size"], tuple(data["read_sizes"])),
                tuple(data.get("boundaries", ())),
                tuple(bytes.fromhex(message) for message in data.get("messages", ())),
                bool(data.get("valid", False)),
            )
        expect = data.get("expect", "pass")
        if expect not in ("pass", "fail"):
            raise ValueError(f"expect must be 'pass' or 'fail', not {expect!r}")
        found = data.get("found", "")
        return cls(
            str(data["target"]),
            int(data["property"]),
            str(data.get("check", "example")),
            example,
            expect,
            "\n".join(found) if isinstance(found, list) else str(found),
        )


def regression_file_name(regression: Regression) -> str:
    """``<target>-<property>-<hash>.json``: the hash covers the target, the property and the
    input (stream, cut, reads), not the report, so the same failure always gets the same name.
    """
    data = regression.to_json()
    key = {name: data.get(name) for name in _IDENTITY}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    slug = _SLUG.sub("-", regression.target).strip("-").lower()[:60] or "target"
    return f"{slug}-{regression.name}-{digest}.json"


def save_regression(regression: Regression, directory: str | Path) -> Path:
    """Write ``regression`` into ``directory`` (created if needed); return the file's path.

    The same failure found again overwrites its own file (see :func:`regression_file_name`).
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    data = regression.to_json()
    # One line per field: a drip's hundreds of 1s stay on one line.
    text = "{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in data.items())
    text += "\n}\n"
    path = folder / regression_file_name(regression)
    path.write_text(text, encoding="utf-8")
    return path


def load_regression(path: str | Path) -> Regression:
    """Read a regression file."""
    return Regression.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def replay_regression(
    regression: Regression | str | Path, *, root: str | Path | None = None
) -> None:
    """Replay a regression; raise if the outcome is not what it expects.

    With ``expect == "pass"`` the target must now pass every check on the
    saved input (a :class:`ConformanceError` is raised otherwise); with
    ``"fail"``, the saved property must still fail (``AssertionError``
    otherwise). ``root`` is where the target's module and corpus are looked
    up (default: the current directory).
    """
    if not isinstance(regression, Regression):
        regression = load_regression(regression)
    target = load_target(regression.target, root=root)
    try:
        if regression.check == "work" or regression.example is None:
            check_limits_and_work(target, prepare_seeds(target))
        else:
            check_example(target, regression.example)
    except ConformanceError as error:
        if regression.expect == "fail" and error.property == regression.property:
            return
        raise
    if regression.expect == "fail":
        raise AssertionError(
            f"property {regression.property} ({regression.name}) no longer fails on this input "
            f"in {regression.target}, but the regression expects it to"
        )
