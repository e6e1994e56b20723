"""``wireproto formats``, ``wireproto detect`` and the overlap warning at start."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from wireproto import Verdict, WireFormat
from wireproto._registry import Registry
from wireproto.testing._cli import log_overlaps
from wireproto.testing._formats import corpora, find_overlaps

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    code = "from wireproto._cli import main; raise SystemExit(main())"
    return subprocess.run(
        [sys.executable, "-P", "-c", code, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_formats_lists_name_priority_provider_detector_and_overlaps() -> None:
    done = _cli("formats")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    registry = Registry.from_plugins()
    count = len(registry.formats)
    assert out.startswith(f"{count} formats, in detection order (higher priority first):")
    blocks = re.findall(r"^(\S+)\n  priority:  (\d+)", out, flags=re.MULTILINE)
    assert blocks == [(fmt.name, str(fmt.priority)) for fmt in registry.formats]
    assert "  provider:  wireproto.providers.resp.provider.RespProvider" in out
    detector = registry.wire_format("resp").detector
    assert f"  detector:  {detector.__module__}.{detector.__qualname__}\n" in out
    assert "memcache-text\n" in out
    assert "its first bytes may also be claimed by: resp" in out
    assert "resp also matches memcache-text's corpus sample b'" in out
    assert "memcache-text gets such streams (the higher priority wins)" in out


@pytest.mark.parametrize(
    ("data", "verdicts", "winner"),
    [
        (
            "67 65 74 20 6b 0d 0a",
            {"memcache-text": "match", "resp": "match", "kvbin": "no-match"},
            "winner: memcache-text (priority 5 > 0 of resp)",
        ),
        ("2a 31 0d 0a", {"resp": "match"}, "winner: resp (the only format that matches)"),
        (
            "c04b",
            {"faster": "need-more", "kvbin": "need-more"},
            "no winner yet: faster, faster-ws, kvbin need more bytes to decide",
        ),
        ("ff ff ff ff", {}, "no format matches: the connection would be closed (no-match)"),
        # Redis waits for the end of a NUL-led line, then refuses it: RESP's stream.
        ("00 00 00 00", {"resp": "match"}, "winner: resp (the only format that matches)"),
    ],
)
def test_detect_shows_every_verdict_and_the_winner(
    data: str, verdicts: dict[str, str], winner: str
) -> None:
    done = _cli("detect", data)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for name, verdict in verdicts.items():
        assert any(re.fullmatch(rf"  {name}\s+priority\s+\d+  {verdict}", line) for line in lines)
    assert lines[-1] == winner


def test_detect_reads_a_file_and_reports_bad_input(tmp_path: Path) -> None:
    sample = tmp_path / "sample.bin"
    sample.write_bytes(b"*1\r\n$4\r\nPING\r\n")
    done = _cli("detect", f"@{sample}")
    assert done.stdout.splitlines()[0].startswith("14 bytes: b'*1\\r\\n$4")
    missing = _cli("detect", f"@{tmp_path / 'nope'}")
    assert missing.returncode == 2
    assert f"wireproto detect: cannot read '{tmp_path / 'nope'}': No such file" in missing.stderr
    bad = _cli("detect", "zz")
    assert bad.returncode == 2
    assert "'zz' is not hex" in bad.stderr


def _any_line(data: bytes) -> Verdict:
    """A careless line detector: any first line matches."""
    return Verdict.MATCH if b"\n" in data else Verdict.NEED_MORE


def test_an_equal_priority_overlap_is_a_warning_at_start(caplog: pytest.LogCaptureFixture) -> None:
    from wireproto import Limits  # noqa: PLC0415

    class Provider:
        limits = Limits()

        def create_session(self, wire_format: object, sender: object) -> object:
            raise NotImplementedError

    registry = Registry.from_plugins()
    registry.register(WireFormat("lines", _any_line), Provider())  # type: ignore[arg-type]
    log = logging.getLogger("test.overlaps")
    with caplog.at_level(logging.INFO, logger="test.overlaps"):
        log_overlaps(registry, log)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        message.startswith("event=detect.overlap lines also matches resp's corpus sample")
        and message.endswith(
            "resp gets such streams (equal priorities: the one registered first wins)"
        )
        for message in warnings
    ), warnings
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("resp also matches memcache-text's corpus sample" in m for m in infos)


def test_the_readme_states_the_built_in_priorities() -> None:
    readme = (ROOT / "README.md").read_text()
    registry = Registry.from_plugins()
    stated = ", ".join(f"`{fmt.name}` {fmt.priority}" for fmt in registry.formats)
    assert stated in " ".join(readme.split())
    assert find_overlaps(registry, corpora(registry))  # the overlap the README explains
