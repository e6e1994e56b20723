"""``wireproto fuzz`` from the command line: planted bugs exit 1 with a report and a regression
file that plain pytest replays; a correct format runs its time and exits 0."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_testing_planted import PLANTED

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120  # seconds; each run is told to stop long before


@dataclass(frozen=True)
class Result:
    status: int
    out: str
    err: str


def fuzz(*args: str, prelude: str = "") -> subprocess.Popen[str]:
    code = f"{prelude}from wireproto._cli import main; raise SystemExit(main())"
    return subprocess.Popen(
        [sys.executable, "-P", "-c", code, "fuzz", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> Result:
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return Result(process.returncode, out, err)


@pytest.fixture(scope="module")
def regressions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli") / "fuzz_regressions"


@pytest.fixture(scope="module")
def planted_runs(regressions: Path) -> dict[str, Result]:
    """Every planted bug fuzzed at once (in parallel), each allowed up to 20 seconds."""
    processes = {
        name: fuzz(
            f"tests.test_testing_planted:{name}",
            "--seconds=20",
            "--seed=1",
            f"--regressions={regressions}",
            "--quiet",
        )
        for name in PLANTED
    }
    return {name: finish(process) for name, process in processes.items()}


@pytest.mark.long  # its fixture fuzzes every planted bug for up to 20 s
@pytest.mark.parametrize("name", sorted(PLANTED))
def test_fuzz_finds_the_planted_bug(name: str, planted_runs: dict[str, Result]) -> None:
    result = planted_runs[name]
    expected = PLANTED[name][1]
    assert result.status == 1, result.err
    headline = next(line for line in result.out.splitlines() if line.startswith("FAILED:"))
    heads = {
        f"FAILED: property {cls.property} ({cls.name}): {cls.__name__} after " for cls in expected
    }
    assert any(headline.startswith(head) for head in heads), headline
    assert re.search(r" examples in \d+\.\d s, seed 1$", headline), headline
    for part in ("input (", "hex): ", "input as bytes: b", "cut: ", "reads: "):
        assert part in result.out
    written = next(line for line in result.out.splitlines() if line.startswith("regression file:"))
    path = Path(written.split(": ", 1)[1].split(" (", 1)[0])
    saved = json.loads(path.read_text())
    assert saved["target"] == f"tests.test_testing_planted:{name}"
    assert headline.startswith(f"FAILED: property {saved['property']} ({saved['name']}): ")


def test_plain_pytest_replays_the_regression_files(
    regressions: Path, planted_runs: dict[str, Result]
) -> None:
    files = sorted(regressions.glob("*.json"))
    assert len(files) == len(PLANTED) == len(planted_runs)
    replay = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(regressions)],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    # The bugs are still there, so every replay fails, with the kit's report.
    assert replay.returncode == 1, replay.stdout + replay.stderr
    assert f"{len(files)} failed" in replay.stdout
    assert "property 3 (view-not-kept) failed" in replay.stdout


def test_fuzz_runs_a_correct_format_for_the_given_time() -> None:
    result = finish(fuzz("kvbin", "--seconds=2", "--seed=3"))
    assert result.status == 0, result.out + result.err
    assert "no property failed:" in result.out
    assert "examples" in result.err  # progress lines
    assert "distinct outcomes" in result.err


def test_fuzz_stops_after_the_given_examples() -> None:
    result = finish(fuzz("tests.test_testing_planted:GOOD_LP", "--examples=40", "--quiet"))
    assert result.status == 0, result.out + result.err
    assert "no property failed: 40 examples" in result.out


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no-such-format", "no installed plugin registers 'no-such-format'"),
        ("tests.test_testing_planted:NOPE", "has no attribute 'NOPE'"),
        (
            "tests.test_testing_planted:LP",
            "several FuzzTargets of its module check 'lp' (CLAIMS_MORE, ",
        ),
    ],
)
def test_unknown_targets_are_usage_errors(target: str, message: str) -> None:
    result = finish(fuzz(target, "--seconds=1"))
    assert result.status == 2
    assert message in result.err


def test_the_atheris_engine_finds_a_bug_or_says_it_is_missing(tmp_path: Path) -> None:
    try:
        import atheris  # type: ignore[import-untyped,unused-ignore]  # noqa: F401, PLC0415
    except ImportError:
        available = False
    else:
        available = True
    missing = fuzz(
        "kvbin",
        "--engine=atheris",
        "--seconds=1",
        prelude="import sys; sys.modules['atheris'] = None; ",
    )
    result = finish(missing)
    assert result.status == 2
    assert "the atheris engine needs atheris" in result.err
    if available:  # installed with the optional extra: wireproto[fuzz]
        found = fuzz(
            "tests.test_testing_planted:KEEPS_VIEW",
            "--engine=atheris",
            "--seconds=30",
            "--seed=1",
            "--quiet",
            f"--regressions={tmp_path}",
        )
        result = finish(found)
        assert result.status == 1, result.out + result.err
        assert "FAILED: property 3 (view-not-kept)" in result.out
        assert "--engine atheris --seed 1" in result.out
        assert len(list(tmp_path.glob("*.json"))) == 1


def test_without_hypothesis_the_cli_says_what_to_install() -> None:
    result = finish(
        fuzz("kvbin", "--seconds=1", prelude="import sys; sys.modules['hypothesis'] = None; ")
    )
    assert result.status == 2
    assert result.err.strip() == (
        "wireproto fuzz: wireproto.testing needs hypothesis: pip install 'wireproto[testing]'"
    )
