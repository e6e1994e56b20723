"""ConsumerMachine: the state machine users subclass for their own MessageConsumer."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test
from test_testing_planted import LP, LP_FRAME, GoodLp, KeepsView, OneFramePerRead

from wireproto import NetworkSender
from wireproto._session import MessageConsumer
from wireproto.testing import ConsumerMachine
from wireproto.testing.errors import KeptViewError, SameOutcomeError
from wireproto.testing.strategies import Built, from_construct

MACHINE_SETTINGS = settings(
    max_examples=60,
    stateful_step_count=6,
    deadline=None,
    database=None,  # the same search on every run, as in a fresh clone
    suppress_health_check=[HealthCheck.too_slow],
)


def _data(built: Built) -> bytes:
    return built.data


class GoodLpMachine(ConsumerMachine):
    wire_format = LP

    def create_session(self, sender: NetworkSender) -> MessageConsumer:
        return GoodLp(sender)

    def messages(self) -> st.SearchStrategy[bytes]:
        return from_construct(LP_FRAME, max_field_size=8).map(_data)


class OneFramePerReadMachine(GoodLpMachine):
    def create_session(self, sender: NetworkSender) -> MessageConsumer:
        return OneFramePerRead(sender)


class KeepsViewMachine(GoodLpMachine):
    def create_session(self, sender: NetworkSender) -> MessageConsumer:
        return KeepsView(sender)


TestGoodLpMachine = GoodLpMachine.TestCase
TestGoodLpMachine.settings = MACHINE_SETTINGS


@pytest.mark.parametrize(
    ("machine", "failure"),
    [(OneFramePerReadMachine, SameOutcomeError), (KeepsViewMachine, KeptViewError)],
)
def test_the_machine_finds_planted_bugs(
    machine: type[ConsumerMachine], failure: type[Exception]
) -> None:
    with pytest.raises(failure) as caught:
        run_state_machine_as_test(machine, settings=MACHINE_SETTINGS)
    assert "input (" in str(caught.value)


def test_a_machine_without_create_session_says_so() -> None:
    with pytest.raises(NotImplementedError, match="create_session"):
        ConsumerMachine().create_session(None)  # type: ignore[arg-type]
