"""``ConsumerMachine``: a Hypothesis state machine for any ``MessageConsumer``."""

from __future__ import annotations

from typing import ClassVar

from wireproto.testing._extra import missing_extra

try:
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, precondition, rule
except ModuleNotFoundError as exc:
    raise missing_extra(exc) from None

from wireproto._detect import WireFormat
from wireproto._session import Limits, MessageConsumer, NetworkSender
from wireproto.testing._driver import Harness, run_example
from wireproto.testing._target import FuzzTarget
from wireproto.testing._types import Example
from wireproto.testing.errors import ConformanceError, SameOutcomeError

__all__ = ["ConsumerMachine"]


class ConsumerMachine(RuleBasedStateMachine):
    """Sends messages and noise to one session, delivered in random pieces.

    Subclass it, define :meth:`create_session` (and usually
    :meth:`messages`), then run ``MyMachine.TestCase`` under pytest or
    unittest. Every delivery goes through the sans-I/O ``Connection`` with
    the kit's probes (properties 2, 3 and 4 are checked on every call);
    at the end the bytes delivered piecemeal must give the same replies,
    close and error as the same bytes delivered whole (property 1).
    ``wire_format`` (default: every stream) and ``limits`` are class
    attributes.
    """

    wire_format: ClassVar[WireFormat | None] = None
    limits: ClassVar[Limits] = Limits()
    _message_strategy: ClassVar[st.SearchStrategy[bytes]]

    def __init__(self) -> None:
        super().__init__()
        self.target = FuzzTarget.from_consumer(
            self.create_session,
            limits=self.limits,
            wire_format=self.wire_format,
            name=type(self).__name__,
        )
        self.harness = Harness(self.target)
        cls = type(self)
        if "_message_strategy" not in cls.__dict__:
            # Built once per class: Hypothesis describes each new strategy it draws from,
            # which for a lambda means reading its source.
            cls._message_strategy = self.messages()
        self.pending = bytearray()
        self.delivered = bytearray()
        self.arrivals: list[int] = []

    def create_session(self, sender: NetworkSender) -> MessageConsumer:
        """A new session replying through ``sender`` (each call: an independent session)."""
        raise NotImplementedError("define create_session() in your ConsumerMachine subclass")

    def messages(self) -> st.SearchStrategy[bytes]:
        """The messages a client sends (default: short random bytes); called once per class."""
        return st.binary(min_size=1, max_size=16)

    def _example(self) -> Example:
        return Example(bytes(self.delivered), tuple(self.arrivals))

    @rule(data=st.data())
    def send_message(self, data: st.DataObject) -> None:
        """Queue one message from :meth:`messages`."""
        self.pending += data.draw(type(self)._message_strategy, label="message")

    @rule(noise=st.binary(min_size=1, max_size=8))
    def send_noise(self, noise: bytes) -> None:
        """Queue a few arbitrary bytes."""
        self.pending += noise

    @precondition(lambda self: bool(self.pending))
    @rule(data=st.data())
    def arrive(self, data: st.DataObject) -> None:
        """Deliver the first queued bytes as one arrival."""
        self._deliver(data.draw(st.integers(1, len(self.pending)), label="arriving bytes"))

    def _deliver(self, count: int) -> None:
        chunk = bytes(self.pending[:count])
        del self.pending[:count]
        self.delivered += chunk
        self.arrivals.append(len(chunk))
        try:
            self.harness.feed(chunk)
        except ConformanceError as error:
            raise error.with_example(self._example(), self.target.label) from None

    @precondition(lambda self: bool(self.pending))
    @rule()
    def arrive_all(self) -> None:
        """Deliver everything queued as one arrival (several messages in one read)."""
        self._deliver(len(self.pending))

    def teardown(self) -> None:
        """Compare the piecemeal outcome with the whole-stream outcome."""
        try:
            piecemeal = self.harness.finish().outcome
        except ConformanceError as error:
            raise error.with_example(self._example(), self.target.label) from None
        if not self.delivered:
            return
        whole = run_example(self.target, Example.whole(bytes(self.delivered))).outcome
        if whole != piecemeal:
            raise SameOutcomeError(
                "the outcome depends on how the stream arrived\n"
                f"  whole stream: {whole.describe()}\n  as it arrived: {piecemeal.describe()}",
                self._example(),
                self.target.label,
            )
