"""Detection: verdict order, catch-alls, prefix detectors, stability as bytes arrive."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wireproto._detect import (
    Detection,
    Detector,
    Verdict,
    WireFormat,
    detect,
    match_any,
    match_prefix,
)


def always(verdict: Verdict) -> Detector:
    def detector(data: bytes) -> Verdict:
        return verdict

    return detector


def fmt(name: str, detector: Detector, priority: int = 0) -> WireFormat:
    return WireFormat(name, detector, priority)


# -- detect() ------------------------------------------------------------------


def test_first_match_in_the_given_order_wins() -> None:
    none = fmt("none", always(Verdict.NO_MATCH))
    first = fmt("first", always(Verdict.MATCH))
    second = fmt("second", always(Verdict.MATCH))
    assert detect([none, first, second], b"x") == Detection(Verdict.MATCH, first)
    assert detect([none, second, first], b"x") == Detection(Verdict.MATCH, second)


def test_later_detectors_are_not_asked_after_a_match() -> None:
    asked: list[bytes] = []

    def spy(data: bytes) -> Verdict:
        asked.append(data)
        return Verdict.NEED_MORE

    winner = fmt("winner", always(Verdict.MATCH))
    assert detect([winner, fmt("spy", spy)], b"abc").wire_format == winner
    assert asked == []


def test_catch_all_never_wins_while_a_specific_format_needs_more() -> None:
    http = fmt("http", match_prefix(b"GET ", b"POST "), priority=10)
    anything = fmt("anything", match_any, priority=-100)
    formats = [http, anything]
    assert detect(formats, b"") == Detection(Verdict.NEED_MORE)
    assert detect(formats, b"G") == Detection(Verdict.NEED_MORE)
    assert detect(formats, b"GET") == Detection(Verdict.NEED_MORE)
    assert detect(formats, b"GET /") == Detection(Verdict.MATCH, http)
    assert detect(formats, b"GX") == Detection(Verdict.MATCH, anything)
    assert detect(formats, b"\x16\x03") == Detection(Verdict.MATCH, anything)


def test_a_match_after_an_undecided_format_waits() -> None:
    undecided = fmt("undecided", always(Verdict.NEED_MORE))
    sure = fmt("sure", always(Verdict.MATCH))
    assert detect([undecided, sure], b"abc") == Detection(Verdict.NEED_MORE)
    assert detect([sure, undecided], b"abc") == Detection(Verdict.MATCH, sure)


def test_all_no_match_is_no_match() -> None:
    formats = [fmt(f"f{i}", always(Verdict.NO_MATCH)) for i in range(3)]
    result = detect(formats, b"abc")
    assert result == Detection(Verdict.NO_MATCH)
    assert result.wire_format is None


def test_no_formats_is_no_match() -> None:
    assert detect([], b"abc") == Detection(Verdict.NO_MATCH)


def test_need_more_and_no_match_mixed_is_need_more() -> None:
    formats = [fmt("a", always(Verdict.NO_MATCH)), fmt("b", always(Verdict.NEED_MORE))]
    result = detect(formats, b"")
    assert result.verdict is Verdict.NEED_MORE
    assert result.wire_format is None


@pytest.mark.parametrize("bad", ["match", None, True, 1, Verdict])
def test_a_detector_returning_a_non_verdict_is_a_type_error(bad: object) -> None:
    def broken(data: bytes) -> Verdict:
        return bad  # type: ignore[return-value]

    with pytest.raises(TypeError, match="broken"):
        detect([fmt("nothing", always(Verdict.NO_MATCH)), fmt("broken", broken)], b"x")


def test_detect_accepts_any_iterable() -> None:
    only = fmt("only", always(Verdict.MATCH))
    assert detect(iter([only]), b"x").wire_format == only
    assert detect((f for f in [only]), b"x").wire_format == only


# -- match_prefix / match_any --------------------------------------------------


@pytest.mark.parametrize(
    ("data", "verdict"),
    [
        (b"", Verdict.NEED_MORE),
        (b"G", Verdict.NEED_MORE),
        (b"GET", Verdict.NEED_MORE),
        (b"GET ", Verdict.MATCH),
        (b"GET /index.html HTTP/1.1\r\n", Verdict.MATCH),
        (b"PO", Verdict.NEED_MORE),
        (b"POST ", Verdict.MATCH),
        (b"PUT ", Verdict.NO_MATCH),
        (b"GETX", Verdict.NO_MATCH),
        (b"get ", Verdict.NO_MATCH),
        (b"\x00", Verdict.NO_MATCH),
    ],
)
def test_match_prefix(data: bytes, verdict: Verdict) -> None:
    assert match_prefix(b"GET ", b"POST ")(data) is verdict


def test_match_prefix_with_one_prefix_inside_another() -> None:
    detector = match_prefix(b"AB", b"ABCD")
    assert detector(b"A") is Verdict.NEED_MORE
    assert detector(b"AB") is Verdict.MATCH
    assert detector(b"ABX") is Verdict.MATCH


@pytest.mark.parametrize("prefixes", [(), (b"",), (b"ok", b"")])
def test_match_prefix_needs_non_empty_prefixes(prefixes: tuple[bytes, ...]) -> None:
    with pytest.raises(ValueError):
        match_prefix(*prefixes)


def test_match_any() -> None:
    assert match_any(b"") is Verdict.NEED_MORE
    assert match_any(b"\x00") is Verdict.MATCH
    assert match_any(b"anything at all") is Verdict.MATCH


# -- stability over growing prefixes -------------------------------------------

ALPHABET = b"ab\x00"
short_bytes = st.binary(min_size=1, max_size=4).map(
    lambda raw: bytes(ALPHABET[b % len(ALPHABET)] for b in raw)
)


@st.composite
def prefix_formats(draw: st.DrawFn) -> list[WireFormat]:
    count = draw(st.integers(1, 4))
    formats = [
        fmt(f"p{i}", match_prefix(*draw(st.lists(short_bytes, min_size=1, max_size=3))))
        for i in range(count)
    ]
    if draw(st.booleans()):
        formats.append(fmt("catch-all", match_any, priority=-1))
    return formats


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    head = draw(short_bytes)
    tail = draw(st.binary(max_size=6))
    return bytes(ALPHABET[b % len(ALPHABET)] for b in head + tail)


def first_decision(formats: list[WireFormat], stream: bytes, cuts: list[int]) -> Detection:
    """Feed ``stream`` in chunks ending at ``cuts``; return the first decision."""
    ends = sorted({c for c in cuts if 0 < c < len(stream)} | {len(stream)})
    result = detect(formats, b"")
    for end in ends:
        if result.verdict is not Verdict.NEED_MORE:
            break
        result = detect(formats, stream[:end])
    return result


@settings(max_examples=200)
@given(formats=prefix_formats(), stream=streams())
def test_a_decision_never_flips_as_bytes_arrive(formats: list[WireFormat], stream: bytes) -> None:
    decided: Detection | None = None
    for size in range(len(stream) + 1):
        result = detect(formats, stream[:size])
        assert (result.verdict is Verdict.MATCH) == (result.wire_format is not None)
        if decided is not None:
            assert result == decided
            assert result.wire_format is decided.wire_format
        elif result.verdict is not Verdict.NEED_MORE:
            decided = result


@settings(max_examples=200)
@given(
    formats=prefix_formats(),
    stream=streams(),
    cuts=st.lists(st.integers(0, 12), max_size=6),
)
def test_the_decision_does_not_depend_on_the_cuts(
    formats: list[WireFormat], stream: bytes, cuts: list[int]
) -> None:
    byte_by_byte = first_decision(formats, stream, list(range(len(stream))))
    whole = first_decision(formats, stream, [])
    chunked = first_decision(formats, stream, cuts)
    assert chunked == byte_by_byte
    assert whole == byte_by_byte


@settings(max_examples=100)
@given(prefixes=st.lists(short_bytes, min_size=1, max_size=3), stream=streams())
def test_match_prefix_agrees_with_startswith(prefixes: list[bytes], stream: bytes) -> None:
    detector = match_prefix(*prefixes)
    for size in range(len(stream) + 1):
        data = stream[:size]
        verdict = detector(data)
        if any(data.startswith(p) for p in prefixes):
            assert verdict is Verdict.MATCH
        elif any(p.startswith(data) for p in prefixes):
            assert verdict is Verdict.NEED_MORE
        else:
            assert verdict is Verdict.NO_MATCH


# -- WireFormat ----------------------------------------------------------------


def test_wire_formats_are_equal_and_hash_by_name() -> None:
    a = WireFormat("resp", match_any, priority=1)
    b = WireFormat("resp", match_prefix(b"*"), priority=7)
    c = WireFormat("http", match_any, priority=1)
    assert a == b
    assert hash(a) == hash(b)
    assert a != c
    assert {a: "first"}[b] == "first"
    assert len({a, b, c}) == 2


def test_wire_formats_are_frozen() -> None:
    wire_format = WireFormat("resp", match_any)
    with pytest.raises(dataclasses.FrozenInstanceError):
        wire_format.name = "other"  # type: ignore[misc]
    assert wire_format.priority == 0


@pytest.mark.parametrize("name", ["", "two words", "tab\tname", "line\n", "nul\x00", " "])
def test_invalid_wire_format_names_are_rejected(name: str) -> None:
    with pytest.raises(ValueError):
        WireFormat(name, match_any)


@pytest.mark.parametrize("name", ["resp", "http/1.1", "tls-1.3", "k", "x_y.z"])
def test_valid_wire_format_names(name: str) -> None:
    assert WireFormat(name, match_any).name == name
