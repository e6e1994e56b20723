"""The pytest plugin (regression replays, strategy fixtures) and the kit's import cost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wireproto.testing import Example
from wireproto.testing._regression import Regression, load_regression, save_regression

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
PLANTED = ROOT / "tests" / "test_testing_planted.py"


def _modules_after(code: str) -> set[str]:
    probe = f"{code}; import sys; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-P", "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(done.stdout.split())


def test_importing_the_kit_and_its_plugin_does_not_import_hypothesis() -> None:
    loaded = _modules_after(
        "import wireproto.testing, wireproto.testing.errors, wireproto.testing.pytest_plugin"
    )
    assert "hypothesis" not in loaded
    assert "wireproto.testing.strategies" not in loaded


def test_using_a_strategy_imports_hypothesis() -> None:
    loaded = _modules_after("import wireproto.testing; wireproto.testing.strategies.chunkings")
    assert {"hypothesis", "wireproto.testing.strategies"} <= loaded


def test_regressions_round_trip_through_their_file(tmp_path: Path) -> None:
    example = Example.cut(b"L\x00\x00L\x00\x00", (3, 3))
    regression = Regression(f"{PLANTED}:ONE_FRAME_PER_READ", 1, "example", example, "fail")
    path = save_regression(regression, tmp_path)
    assert path.name.endswith(".json") and "same-outcome" in path.name
    assert load_regression(path) == regression


def _save(directory: Path, name: str, stream: bytes, expect: str) -> None:
    example = Example.cut(stream, (3, len(stream) - 3))
    save_regression(Regression(f"{PLANTED}:{name}", 1, "example", example, expect), directory)


def test_the_plugin_replays_regression_files(pytester: pytest.Pytester) -> None:
    directory = pytester.mkdir("fuzz_regressions")
    both, three = b"L\x00\x00L\x00\x00", b"L\x00\x00L\x00\x00L\x00\x00"
    _save(directory, "GOOD_LP", both, "pass")  # passes
    _save(directory, "ONE_FRAME_PER_READ", both, "fail")  # passes: the bug is still found
    _save(directory, "ONE_FRAME_PER_READ", three, "pass")  # fails: the bug is not fixed
    _save(directory, "GOOD_LP", three, "fail")  # fails: nothing to find any more
    (directory / "notes.txt").write_text("not a regression")
    result = pytester.runpytest("-p", "no:cacheprovider", "fuzz_regressions")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["*property 1 (same-outcome) failed in *ONE_FRAME_PER_READ*"])
    result.stdout.fnmatch_lines(["*property 1 (same-outcome) no longer fails on this input*"])


def test_json_outside_a_fuzz_regressions_directory_is_not_collected(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".json", data='{"wireproto_fuzz_regression": 1}')
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_the_plugin_provides_the_strategies_as_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from hypothesis import HealthCheck, given, settings, strategies as st

        def test_fixtures(wireproto_chunkings, wireproto_buffer_schedules, wireproto_streams,
                          wireproto_from_construct, wireproto_strategies):
            import construct as c

            assert wireproto_strategies.chunkings is wireproto_chunkings

            @settings(max_examples=20, suppress_health_check=[HealthCheck.too_slow])
            @given(st.data())
            def check(data):
                stream = data.draw(wireproto_streams([b"ab", b"c"]))
                cut = data.draw(wireproto_chunkings(stream))
                assert sum(cut) == len(stream.data)
                assert data.draw(wireproto_buffer_schedules()).initial_buffer_size >= 1
                built = data.draw(wireproto_from_construct(c.Prefixed(c.Int8ub, c.GreedyBytes)))
                assert built.data[0] == len(built.data) - 1

            check()
        """
    )
    # In a subprocess: Hypothesis must be imported once, by the test run that uses it.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
