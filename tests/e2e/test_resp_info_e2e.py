"""INFO's default sections name every field redis-server 7.0 names, and no other, but
for the fields ``specs/resp/README.md`` lists with a reason (its ``info-fields`` table)."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import hiredis
import pytest
from _drive import resp_command as cmd
from _serve import HOST, RunningServer, redis_server, serve

README = Path(__file__).resolve().parents[2] / "specs" / "resp" / "README.md"
ROW = re.compile(r"^\s*\| (\w+) \| `([a-z0-9_]+)` \| (\S.*\S) \|\s*$")


def listed() -> dict[tuple[str, str], str]:
    """The README's ``info-fields`` table: (section, field) -> reason."""
    text = README.read_text()
    block = text[text.index("<!-- info-fields") : text.index("<!-- /info-fields -->")]
    rows = {(m[1], m[2]): m[3] for m in map(ROW.match, block.splitlines()) if m}
    assert rows, "the info-fields table is empty"
    return rows


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with redis_server(tmp_path_factory.mktemp("redis-info")) as port:
        yield port


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with serve(tmp_path_factory.mktemp("info") / "serve.log", formats={"resp"}) as server:
        yield server


def info(port: int, *sections: str) -> dict[str, list[str]]:
    """INFO's field names by section title, in order."""
    with socket.create_connection((HOST, port), timeout=10.0) as sock:
        sock.sendall(cmd("SET", "k", "v") + cmd("INFO", *sections))
        reader = hiredis.Reader()
        replies: list[object] = []
        for _ in range(1000):  # bounded: two replies
            chunk = sock.recv(65536)
            assert chunk
            reader.feed(chunk)
            while (reply := reader.gets()) is not False:
                replies.append(reply)
            if len(replies) == 2:
                break
    text = replies[1]
    assert isinstance(text, bytes)
    found: dict[str, list[str]] = {}
    names: list[str] = []
    for line in text.decode().split("\r\n"):
        if line.startswith("# "):
            names = found[line[2:]] = []
        elif line:
            names.append(line.split(":", 1)[0])
    return found


@pytest.mark.parametrize("sections", [(), ("default",), ("server", "clients", "persistence")])
def test_default_sections_name_the_fields_redis_names(
    redis_port: int, ours: RunningServer, sections: tuple[str, ...]
) -> None:
    theirs = info(redis_port, *sections)
    mine = info(ours.port, *sections)
    assert list(mine)[: len(theirs)] == list(theirs)  # the sections, in Redis's order
    differences = listed()
    for title, names in theirs.items():
        missing = {name for name in names if name not in mine[title]}
        extra = {name for name in mine[title] if name not in names}
        assert {(title, name) for name in missing | extra} <= set(differences), title
        # In Redis's order too (ours only where the table says).
        assert [name for name in mine[title] if name in names] == names, title
    for title, name in differences:  # no stale row: each one shown still differs
        if title in theirs:
            assert (name in mine[title]) != (name in theirs[title]), name
