"""Finding a fuzz target and its corpus, and where the CLI writes (and does not write)."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wireproto.testing import Example
from wireproto.testing._regression import Regression, save_regression
from wireproto.testing._target import TargetError, load_target, packaged_corpus

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
PLANTED = ROOT / "tests" / "test_testing_planted.py"
TIMEOUT = 120  # seconds; every run below is bounded by --examples

BRPC = """
from wireproto import Limits, WireFormat, match_prefix

from brpc_consumer import Consumer

BRPC = WireFormat("brpc", match_prefix(b"B"))


class Provider:
    limits = Limits(max_message_size=64)

    def create_session(self, wire_format, sender):
        return Consumer(sender)
"""

CONSUMER = """
class Consumer:
    def __init__(self, sender):
        self.sender = sender

    def try_consume(self, data, /):
        return 0

    def close(self):
        pass
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding a format module that imports a module beside it."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "brpc_consumer.py").write_text(CONSUMER)
    return folder


def test_a_file_target_imports_the_modules_beside_it(project: Path, tmp_path: Path) -> None:
    (project / "fmt.py").write_text(BRPC)
    target = load_target(f"{project / 'fmt.py'}:Provider", root=tmp_path)
    assert target.make_registry().provider(target.wire_format).limits.max_message_size == 64


def test_a_wire_format_target_is_served_by_its_modules_register(project: Path) -> None:
    (project / "fmt.py").write_text(
        BRPC + "\n\ndef register(registry):\n    registry.register(BRPC, Provider())\n"
    )
    target = load_target(f"{project / 'fmt.py'}:BRPC", root=project)
    assert target.wire_format.name == "brpc"
    assert target.label == f"{project / 'fmt.py'}:BRPC"


def test_a_wire_format_target_is_served_by_a_fuzz_target_of_its_module(project: Path) -> None:
    (project / "fmt.py").write_text(
        BRPC
        + "\nfrom wireproto.testing import FuzzTarget\n"
        + "TARGET = FuzzTarget.from_provider(Provider, BRPC)\n"
    )
    target = load_target(f"{project / 'fmt.py'}:BRPC", root=project)
    assert target.wire_format.name == "brpc"


def test_a_wire_format_nothing_serves_says_what_to_name_instead(project: Path) -> None:
    (project / "fmt.py").write_text(BRPC)
    with pytest.raises(TargetError) as caught:
        load_target(f"{project / 'fmt.py'}:BRPC", root=project)
    assert "is the WireFormat 'brpc', but nothing serves it" in str(caught.value)
    assert "name a FuzzTarget or a SessionProvider factory instead" in str(caught.value)


def test_regression_file_names_depend_on_the_failure_not_on_the_report(tmp_path: Path) -> None:
    example = Example.cut(b"L\x00\x00L\x00\x00", (3, 3))
    first = Regression("t:X", 1, "example", example, found="at file.py:10")
    edited = Regression("t:X", 1, "example", example, found="at file.py:12")
    other_input = Regression("t:X", 1, "example", Example.cut(b"L\x00\x00", (1, 2)))
    other_property = Regression("t:X", 7, "example", example)
    paths = [save_regression(item, tmp_path) for item in (first, edited, other_input)]
    assert paths[0] == paths[1]
    assert paths[0] != paths[2]
    assert len(list(tmp_path.iterdir())) == 2
    assert paths[0].name.startswith("t-x-same-outcome-")
    assert save_regression(other_property, tmp_path).name.startswith("t-x-round-trip-")


def test_the_plugin_replays_the_folders_named_in_its_ini_option(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\ntestpaths = tests\nwireproto_regressions = ../saved\n")
    pytester.mkdir("tests")
    (pytester.path / "tests" / "test_nothing.py").write_text("def test_ok():\n    pass\n")
    saved = pytester.path.parent / "saved"
    saved.mkdir()
    example = Example.cut(b"L", (1,))  # a partial frame: the planted bug keeps a view of it
    save_regression(Regression(f"{PLANTED}:KEEPS_VIEW", 3, "example", example), saved)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*property 3 (view-not-kept) failed*"])
    only_the_test = pytester.runpytest("-p", "no:cacheprovider", "tests")
    only_the_test.assert_outcomes(passed=1)


def test_built_in_formats_use_the_packaged_corpus_outside_the_repository(tmp_path: Path) -> None:
    target = load_target("kvbin", root=tmp_path)
    assert target.corpus
    assert target.corpus == packaged_corpus("kvbin")
    assert packaged_corpus("no-such-format") == ()


@pytest.mark.parametrize("name", ["http", "kvbin", "memcache-binary", "memcache-text", "resp"])
def test_the_packaged_corpora_are_the_specs_corpora(name: str) -> None:
    packaged = ROOT / "wireproto" / "testing" / "corpora" / name
    specs = ROOT / "specs" / name / "corpus"
    names = sorted(path.name for path in specs.iterdir())
    assert sorted(path.name for path in packaged.iterdir()) == names
    _, mismatch, errors = filecmp.cmpfiles(specs, packaged, names, shallow=False)
    assert (mismatch, errors) == ([], []), "copy specs/<format>/corpus to the package"


def test_a_failing_run_writes_only_into_the_cache(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "tests").mkdir(parents=True)
    cache = tmp_path / "cache"
    environment = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    environment.pop("HYPOTHESIS_STORAGE_DIRECTORY", None)
    code = "from wireproto._cli import main; raise SystemExit(main())"
    done = subprocess.run(
        [sys.executable, "-P", "-c", code, "fuzz", f"{PLANTED}:KEEPS_VIEW", "--examples=300"],
        cwd=work,
        env=environment,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert sorted(path.name for path in work.rglob("*")) == ["tests"]
    written = list((cache / "wireproto" / "fuzz_regressions").glob("*.json"))
    assert len(written) == 1
    assert f"regression file: {written[0]} (plain pytest replays it from a" in done.stdout


def test_a_run_into_another_folder_says_how_pytest_finds_it(tmp_path: Path) -> None:
    code = "from wireproto._cli import main; raise SystemExit(main())"
    saved = tmp_path / "saved"
    args = [f"{PLANTED}:KEEPS_VIEW", "--examples=300", f"--regressions={saved}", "--quiet"]
    done = subprocess.run(
        [sys.executable, "-P", "-c", code, "fuzz", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    expected = f"(pytest replays it when wireproto_regressions in the pytest ini lists {saved})"
    assert expected in done.stdout
