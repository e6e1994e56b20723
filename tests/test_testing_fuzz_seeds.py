"""The planted bugs the issue lists, each found by ``wireproto fuzz`` with no corpus on five
seeds, within a bounded run (``--seconds 5``; a run that ends without a finding exits 0 and
fails the test). Nothing here times anything: the bound is the CLI's own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_testing_planted import FOUND_WITHOUT_CORPUS

ROOT = Path(__file__).resolve().parent.parent
SEEDS = (1, 2, 3, 4, 5)
TIMEOUT = 120  # seconds per process; each is told to stop after 5
PARALLEL = 5


def _run(name: str, seed: int, regressions: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wireproto.testing",
            f"tests.test_testing_planted:{name}",
            f"--seed={seed}",
            "--seconds=5",
            "--quiet",
            f"--regressions={regressions}",
            "--corpus",
            str(regressions.parent / "empty"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], tuple[int, str]]:
    """Every (bug, seed) run, at most PARALLEL processes at a time."""
    folder = tmp_path_factory.mktemp("seeds")
    (folder / "empty").mkdir()
    jobs = [(name, seed) for name in FOUND_WITHOUT_CORPUS for seed in SEEDS]
    results: dict[tuple[str, int], tuple[int, str]] = {}
    for start in range(0, len(jobs), PARALLEL):
        batch = {job: _run(*job, folder / "regressions") for job in jobs[start : start + PARALLEL]}
        for job, process in batch.items():
            try:
                out, err = process.communicate(timeout=TIMEOUT)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.communicate()
            results[job] = (process.returncode, out + err)
    return results


@pytest.mark.long  # its fixture fuzzes every (bug, seed) pair
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(FOUND_WITHOUT_CORPUS))
def test_found_on_every_seed_without_a_corpus(
    name: str, seed: int, runs: dict[tuple[str, int], tuple[int, str]]
) -> None:
    status, output = runs[name, seed]
    assert status == 1, output
    assert ", 0 corpus streams," in output
    _, expected, longest = FOUND_WITHOUT_CORPUS[name]
    headline = next(line for line in output.splitlines() if line.startswith("FAILED:"))
    assert any(f"): {cls.__name__} after " in headline for cls in expected), headline
    assert headline.endswith(f", seed {seed}")
    shown = next(line for line in output.splitlines() if line.startswith("  input ("))
    assert int(shown.split("(")[1].split(" ")[0]) <= longest, output
