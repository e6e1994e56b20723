"""memcached text detection, and which lines it claims on a port shared with RESP."""

from __future__ import annotations

import pytest
from _memcache import shared_registry
from hypothesis import given, settings
from hypothesis import strategies as st
from wireproto.providers import resp
from wireproto.providers.memcache import (
    CLAIM_OPTION,
    COMMAND_WORDS,
    MEMCACHE_BINARY,
    MEMCACHE_TEXT,
    SHARED_WITH_RESP,
    Claim,
    MemcacheProvider,
    register,
    text_detector,
    text_format,
)
from wireproto.providers.resp.commands import command_names

from wireproto._detect import Verdict
from wireproto._registry import Registry


@pytest.mark.parametrize(
    ("data", "verdict"),
    [
        (b"", Verdict.NEED_MORE),
        (b"g", Verdict.NEED_MORE),
        (b"get", Verdict.NEED_MORE),
        (b"get\r", Verdict.NEED_MORE),
        (b"get k", Verdict.NEED_MORE),
        (b"get k\r\n", Verdict.MATCH),
        (b"  get k\n", Verdict.MATCH),
        (b"mn\r\n", Verdict.MATCH),
        (b"flush_all\r\n", Verdict.MATCH),
        (b"G", Verdict.NO_MATCH),
        (b"GET k\r\n", Verdict.NO_MATCH),
        (b"gex", Verdict.NO_MATCH),
        (b"getx ", Verdict.NO_MATCH),
        (b"ping\r\n", Verdict.NO_MATCH),
        (b"get\tk\r\n", Verdict.NO_MATCH),
        (b"*1\r\n", Verdict.NO_MATCH),
        (b"\x80\x0a", Verdict.NO_MATCH),
        (b"\r\n", Verdict.NO_MATCH),
    ],
)
def test_text_detector(data: bytes, verdict: Verdict) -> None:
    assert text_detector()(data) is verdict


LINES = st.lists(
    st.sampled_from([b"get", b"gets", b"set", b"GET", b"k", b"0", b"5", b"noreply", b"mg", b"x"]),
    min_size=1,
    max_size=6,
).map(b" ".join)


@settings(max_examples=200)
@given(
    LINES,
    st.sampled_from([b"\r\n", b"\n", b""]),
    st.binary(max_size=8),
    st.sampled_from(list(Claim)),
)
def test_detection_never_changes_its_answer_as_bytes_arrive(
    line: bytes, end: bytes, more: bytes, claim: Claim
) -> None:
    detect = text_detector(claim)
    data = line + end + more
    final = detect(data)
    for size in range(len(data) + 1):
        verdict = detect(data[:size])
        if verdict is not Verdict.NEED_MORE:
            assert verdict is final


@pytest.mark.parametrize(
    ("line", "all_rule", "unambiguous_rule"),
    [
        (b"get k\r\n", "memcache-text", "resp"),
        (b"GET k\r\n", "resp", "resp"),
        (b"get a b\r\n", "memcache-text", "memcache-text"),
        (b"set k v\r\n", "memcache-text", "resp"),
        (b"set k 0 0 1\r\n", "memcache-text", "memcache-text"),
        (b"incr k\r\n", "memcache-text", "resp"),
        (b"incr k 1\r\n", "memcache-text", "memcache-text"),
        (b"append k v\r\n", "memcache-text", "resp"),
        (b"touch k 10\r\n", "memcache-text", "resp"),  # RESP serves TOUCH too
        (b"quit\r\n", "memcache-text", "resp"),
        (b"gets k\r\n", "memcache-text", "memcache-text"),
        (b"mg k v\r\n", "memcache-text", "memcache-text"),
        (b"ping\r\n", "resp", "resp"),
        (b"*1\r\n$4\r\nPING\r\n", "resp", "resp"),
        (b"\x80\x0a\x00\x00", "memcache-binary", "memcache-binary"),
    ],
)
def test_the_ambiguity_rule_is_chosen_per_registry(
    line: bytes, all_rule: str, unambiguous_rule: str
) -> None:
    for claim, expected in ((Claim.ALL, all_rule), (Claim.UNAMBIGUOUS, unambiguous_rule)):
        detection = shared_registry(claim).detect(line)
        assert detection.verdict is Verdict.MATCH
        assert detection.wire_format is not None
        assert detection.wire_format.name == expected, claim


def test_a_lower_priority_hands_every_resp_line_to_resp() -> None:
    registry = Registry()
    resp.register(registry)
    provider = MemcacheProvider()
    registry.register(text_format(priority=-1), provider)
    registry.register(MEMCACHE_BINARY, provider)
    assert registry.detect(b"get k\r\n").wire_format == resp.RESP
    detected = registry.detect(b"gets k\r\n").wire_format
    assert detected is not None
    assert detected.name == MEMCACHE_TEXT.name


def test_the_words_shared_with_resp_are_those_the_resp_provider_serves() -> None:
    resp_words = {name.lower() for name in command_names()}
    assert COMMAND_WORDS & resp_words == SHARED_WITH_RESP


@pytest.mark.parametrize(
    ("options", "claim"),
    [
        ({}, Claim.ALL),
        ({CLAIM_OPTION: "unambiguous"}, Claim.UNAMBIGUOUS),
        ({CLAIM_OPTION: " ALL "}, Claim.ALL),
    ],
)
def test_registry_options_choose_the_rule_for_wireproto_serve(
    options: dict[str, str], claim: Claim
) -> None:
    registry = Registry(options)
    resp.register(registry)
    register(registry)
    detected = registry.detect(b"get k\r\n").wire_format
    assert detected is not None
    assert detected.name == ("resp" if claim is Claim.UNAMBIGUOUS else "memcache-text")
    # An explicit claim wins over the options.
    registry = Registry({CLAIM_OPTION: "unambiguous"})
    resp.register(registry)
    register(registry, claim=Claim.ALL)
    detected = registry.detect(b"get k\r\n").wire_format
    assert detected is not None
    assert detected.name == "memcache-text"
