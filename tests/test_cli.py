"""The command line, in process (serving it is in ``tests/e2e/test_cli_e2e.py``)."""

from __future__ import annotations

import re

import pytest

from wireproto._cli import main

# -- the command line -------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert re.fullmatch(
        r"wireproto \d+\.\d+\.\d+\S* \((pure Python|compiled: \d+ modules?)\)\n", out
    )


def test_cli_rejects_tls_options_without_a_certificate() -> None:
    assert main(["serve", "--port", "0", "--tls-required"]) == 2
    assert main(["serve", "--port", "0", "--proxy-protocol-required"]) == 2
