"""Sorted set commands through a Connection: what a differential test cannot compare
(random members, the cursor over a large set) and the score parsers against Python's."""

from __future__ import annotations

import math
import re

from _resp import Client
from hypothesis import given
from hypothesis import strategies as st
from wireproto.providers.resp.commands.zsets import format_score, parse_range_score, parse_score

_BULK = re.compile(rb"\$\d+\r\n([^\r]*)\r\n")


def _bulks(reply: bytes) -> list[bytes]:
    return _BULK.findall(reply)


def test_zrandmember_counts(accelerated: bool) -> None:
    client = Client(accelerated)
    members = [b"m%d" % i for i in range(20)]
    client.call("ZADD", "z", *[part for i, m in enumerate(members) for part in (i, m)])
    single = _bulks(client.call("ZRANDMEMBER", "z"))
    assert len(single) == 1 and single[0] in members
    distinct = _bulks(client.call("ZRANDMEMBER", "z", 5))
    assert len(distinct) == 5 and len(set(distinct)) == 5 and set(distinct) <= set(members)
    repeated = _bulks(client.call("ZRANDMEMBER", "z", -50))
    assert len(repeated) == 50 and set(repeated) <= set(members)
    paired = _bulks(client.call("ZRANDMEMBER", "z", 3, "WITHSCORES"))
    assert len(paired) == 6
    for member, score in zip(paired[::2], paired[1::2], strict=True):
        assert score == b"%d" % members.index(member)


def test_zscan_walks_a_large_set_once(accelerated: bool) -> None:
    client = Client(accelerated)
    members = {b"m%d" % i for i in range(300)}  # past 128: Redis's skiplist, a real cursor
    client.call("ZADD", "z", *[part for m in sorted(members) for part in (1, m)])
    seen: list[bytes] = []
    cursor = b"0"
    for _ in range(100):
        reply = client.call("ZSCAN", "z", cursor, "COUNT", 40)
        values = _bulks(reply)
        cursor, found = values[0], values[1:]
        seen += found[::2]
        if cursor == b"0":
            break
    assert cursor == b"0"
    assert sorted(seen) == sorted(members)


@given(st.floats(allow_nan=False))
def test_scores_parse_back_from_their_redis_text(value: float) -> None:
    text = format_score(value, False).split(b"\r\n")[1]
    parsed = parse_score(text)
    assert parsed == value
    assert format_score(value, True) == b",%s\r\n" % text


@given(st.text(alphabet="0123456789.eE+-xXpPinfatyINF ()\x00", max_size=12))
def test_the_score_parsers_accept_only_what_python_reads_too(text: str) -> None:
    raw = text.encode()
    parsed = parse_score(raw)
    if parsed is not None:
        assert not math.isnan(parsed)
        if "x" not in text.lower():
            assert float(text) == parsed
    ranged = parse_range_score(raw)
    if ranged is not None and "x" not in text.lower() and "\x00" not in text:
        body = text[1:] if text.startswith("(") else text
        assert ranged[1] == text.startswith("(")
        assert ranged[0] == (float(body) if body else 0.0) or math.isinf(ranged[0])


@given(st.text(alphabet="0123456789", min_size=1, max_size=320))
def test_integer_scores_parse_as_strtod_reads_them(text: str) -> None:
    # parse_score's shortcut for digits (float(), under 300 of them) agrees with strtod's
    # path (the text with a "+" in front cannot take the shortcut), at 299, 300 and past it.
    raw = text.encode()
    assert parse_score(raw) == parse_score(b"+" + raw)
    if len(raw) < 300:
        assert parse_score(raw) == float(text)
