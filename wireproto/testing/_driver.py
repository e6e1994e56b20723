"""The driver: runs a stream through the sans-I/O Connection with probes around the session.

Every provider in a fresh copy of the target's registry is wrapped so that
its sessions are :class:`_Probe` objects and its detectors are recorded.
The probe hands the real session a view of a private copy of the bytes,
then checks what the session did with it (properties 2, 3 and 4) before the
connection sees the result.
"""

from __future__ import annotations

import gc
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from itertools import cycle
from typing import TYPE_CHECKING

from wireproto._connection import Connection, ConnectionState
from wireproto._detect import Detector, Verdict, WireFormat
from wireproto._errors import ProtocolError, exception_text
from wireproto._registry import Registry
from wireproto._session import Limits, MessageConsumer, NetworkSender, SessionProvider
from wireproto.testing._types import Example, Outcome, ReadSchedule
from wireproto.testing.errors import (
    ByteAccountingError,
    ConformanceError,
    DetectionError,
    KeptViewError,
    LimitError,
    UnexpectedExceptionError,
)

if TYPE_CHECKING:
    from wireproto.testing._target import FuzzTarget
    from wireproto.testing._work import WorkMeter

__all__ = ["Harness", "Run", "run_example"]

_POISON = 0xDB
_RELEASED = "released memoryview"


@dataclass(slots=True)
class _Trace:
    """What the probes saw during one run."""

    fed: bytearray = field(default_factory=bytearray)
    consumed: int = 0
    calls: int = 0
    consume_ends: list[int] = field(default_factory=list)
    reply_ends: list[int] = field(default_factory=list)
    protocol_errors: int = 0
    violation: ConformanceError | None = None
    meter: WorkMeter | None = None

    def violate(self, error: ConformanceError) -> None:
        if self.violation is None:
            self.violation = error


def _describe_exception(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    if frames:
        last = frames[-1]
        where = f" at {last.filename}:{last.lineno} in {last.name}"
    return f"{exception_text(exc)}{where}"


def _clear_frames(exc: BaseException | None) -> None:
    """Drop the locals a traceback keeps alive (slices of the view, for instance)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        traceback.clear_frames(exc.__traceback__)
        exc = exc.__cause__ or exc.__context__


def _references(obj: object) -> int:
    # Called like _export_kept below, so both counts include one parameter.
    return sys.getrefcount(obj)


def _export_kept(view: memoryview, private: bytearray, references: int) -> str | None:
    """Why ``private`` is still exported or referenced after the call, or None."""
    try:
        view.release()
    except BufferError:
        return "it holds a buffer exported from the memoryview it was given"
    for attempt in range(2):
        try:
            private.append(0)  # a resize fails while any view of the bytes is alive
        except BufferError:
            if attempt == 0:
                # A view held only by a reference cycle is not kept. The cycle was made
                # during the call, so the young generations hold it: no full collection.
                gc.collect(1)
                continue
            return "it kept the memoryview, or a slice of it, after try_consume returned"
        break
    if sys.getrefcount(private) > references:
        gc.collect(1)
        if sys.getrefcount(private) > references:
            return "it kept the memoryview's underlying object (data.obj)"
    # Nobody holds the bytes now; poison them anyway, for holders the checks cannot see.
    private[:] = bytes([_POISON]) * len(private)
    return None


class _Probe:
    """Wraps a real session: copies, checks and records each ``try_consume`` call."""

    __slots__ = ("_session", "_trace", "closes")

    def __init__(self, session: MessageConsumer, trace: _Trace) -> None:
        self._session = session
        self._trace = trace
        self.closes = 0

    def try_consume(self, data: memoryview, /) -> int:
        trace = self._trace
        given = len(data)
        start = trace.consumed
        expected = trace.fed[start : start + given]
        if data != expected:
            trace.violate(
                ByteAccountingError(
                    f"the connection offered {given} bytes that are not the stream's bytes "
                    f"at offset {start} (a toolkit bug)"
                )
            )
        private = bytearray(data)
        references = _references(private)
        view = memoryview(private)
        trace.calls += 1
        failure: Exception | None = None
        described = ""
        used: object = None
        try:
            if trace.meter is None:
                used = self._session.try_consume(view)
            else:
                with trace.meter.call():
                    used = self._session.try_consume(view)
        except Exception as exc:
            failure = exc
            described = _describe_exception(exc)
            _clear_frames(exc)
        kept = _export_kept(view, private, references)
        del view
        if kept is not None:
            trace.violate(KeptViewError(f"try_consume on {given} bytes: {kept}"))
        if failure is not None:
            if isinstance(failure, ProtocolError):
                trace.protocol_errors += 1
            elif isinstance(failure, ValueError) and _RELEASED in str(failure):
                trace.violate(
                    KeptViewError(
                        "the consumer used a memoryview from an earlier try_consume call "
                        f"after it returned ({described})"
                    )
                )
            else:
                trace.violate(
                    UnexpectedExceptionError(
                        f"try_consume on {given} bytes raised {described}; "
                        "only ProtocolError may leave a session"
                    )
                )
            raise failure
        if type(used) is not int or not 0 <= used <= given:
            trace.violate(
                ByteAccountingError(f"try_consume returned {used!r} for {given} bytes of input")
            )
            return used  # type: ignore[return-value]  # the connection rejects it too
        if used:
            trace.consumed += used
            trace.consume_ends.append(trace.consumed)
        return used

    def close(self) -> None:
        self.closes += 1
        try:
            self._session.close()
        except Exception as exc:
            self._trace.violate(
                UnexpectedExceptionError(f"close() raised {_describe_exception(exc)}")
            )
            raise


class _ProbeProvider:
    """Wraps a provider so that its sessions are probes."""

    def __init__(
        self, provider: SessionProvider, trace: _Trace, limits: Limits | None = None
    ) -> None:
        self._provider = provider
        self._trace = trace
        self._limits = limits
        self.sessions: list[_Probe] = []

    @property
    def limits(self) -> Limits:
        return self._limits if self._limits is not None else self._provider.limits

    def create_session(self, wire_format: WireFormat, sender: NetworkSender) -> MessageConsumer:
        try:
            session = self._provider.create_session(wire_format, sender)
        except ProtocolError:
            raise
        except Exception as exc:
            self._trace.violate(
                UnexpectedExceptionError(
                    f"create_session raised {_describe_exception(exc)}; "
                    "only ProtocolError may leave a provider"
                )
            )
            raise
        probe = _Probe(session, self._trace)
        self.sessions.append(probe)
        return probe


def _probe_detector(wire_format: WireFormat, trace: _Trace) -> Detector:
    detector = wire_format.detector

    def probed(data: bytes) -> Verdict:
        try:
            verdict = detector(data)
        except Exception as exc:
            trace.violate(
                UnexpectedExceptionError(
                    f"the detector of {wire_format.name!r} raised {_describe_exception(exc)} "
                    f"on {len(data)} bytes; a detector must answer, never raise"
                )
            )
            raise
        if not isinstance(verdict, Verdict):
            trace.violate(
                DetectionError(
                    f"the detector of {wire_format.name!r} returned {verdict!r}, not a Verdict"
                )
            )
        return verdict

    return probed


def probed_registry(
    registry: Registry, trace: _Trace, limits: dict[str, Limits] | None = None
) -> tuple[Registry, list[_ProbeProvider]]:
    """A registry like ``registry`` whose detectors and sessions report to ``trace``;
    ``limits`` replace the providers' limits of the formats it names."""
    probed = Registry()
    providers: list[_ProbeProvider] = []
    chosen = limits or {}
    for wire_format in registry.formats:  # detection order; re-registering keeps it
        provider = _ProbeProvider(
            registry.provider(wire_format), trace, chosen.get(wire_format.name)
        )
        providers.append(provider)
        probed.register(
            WireFormat(wire_format.name, _probe_detector(wire_format, trace), wire_format.priority),
            provider,
        )
    return probed, providers


@dataclass(frozen=True, slots=True)
class Run:
    """The result of one run: the outcome, and what the probes counted."""

    outcome: Outcome
    calls: int
    consumed: int
    consume_ends: tuple[int, ...]
    """The stream offsets where a ``try_consume`` call stopped consuming."""
    reply_ends: tuple[int, ...]
    """The offsets consumed by the end of each read that produced replies."""
    fed: int


class Harness:
    """Drives one Connection over a target, one arrival at a time.

    :meth:`feed` delivers an arrival through ``get_buffer``/``buffer_updated``
    in reads no larger than the schedule allows, collects replies, and raises
    the first property violation the probes recorded. :meth:`finish` returns
    the run's result and closes the connection.
    """

    def __init__(
        self,
        target: FuzzTarget,
        schedule: ReadSchedule | None = None,
        meter: WorkMeter | None = None,
    ) -> None:
        self.schedule = schedule if schedule is not None else ReadSchedule()
        self._trace = _Trace(meter=meter)
        # Kept alive: providers may hold a weak reference to the registry they joined.
        self._registry = target.make_registry()
        overrides = {target.wire_format.name: target.limits} if target.limits else None
        registry, self._providers = probed_registry(self._registry, self._trace, overrides)
        settings = replace(target.settings, initial_buffer_size=self.schedule.initial_buffer_size)
        self.connection = Connection(registry, settings)
        self._reads: Iterator[int] | None = (
            cycle(self.schedule.read_sizes) if self.schedule.read_sizes else None
        )
        self._replies = bytearray()
        self._finished: Run | None = None

    def feed(self, chunk: bytes) -> None:
        """Deliver ``chunk`` (one arrival); raise the first violation seen."""
        connection = self.connection
        trace = self._trace
        position = 0
        while position < len(chunk) and connection.state is not ConnectionState.CLOSED:
            region = connection.get_buffer()
            count = min(len(region), len(chunk) - position)
            if self._reads is not None:
                count = min(count, next(self._reads))
            region[:count] = chunk[position : position + count]
            region.release()
            trace.fed += chunk[position : position + count]
            position += count
            connection.buffer_updated(count)
            replies = connection.data_to_send()
            if replies:
                self._replies += replies
                trace.reply_ends.append(trace.consumed)
            self._check_after_read()
            if trace.violation is not None:
                raise trace.violation

    def _check_after_read(self) -> None:
        connection = self.connection
        trace = self._trace
        if connection.state is ConnectionState.CLOSED:
            return
        buffered = len(connection.buffer)
        if trace.consumed + buffered != len(trace.fed):
            trace.violate(
                ByteAccountingError(
                    f"{trace.consumed} bytes consumed + {buffered} buffered != "
                    f"{len(trace.fed)} bytes fed"
                )
            )
        settings = connection.settings
        limits = connection.limits
        cap = max(settings.initial_buffer_size, settings.max_detect_bytes)
        if limits is not None:
            cap = max(cap, limits.max_message_size)
            if buffered >= limits.max_message_size:
                trace.violate(
                    LimitError(
                        f"{buffered} unread bytes reached max_message_size "
                        f"{limits.max_message_size} without a ProtocolError"
                    )
                )
        if connection.buffer.capacity > cap:
            trace.violate(
                LimitError(f"the receive buffer grew to {connection.buffer.capacity} > {cap}")
            )

    def finish(self) -> Run:
        """The run's result (taken before EOF); then EOF closes the connection."""
        if self._finished is not None:
            return self._finished
        connection = self.connection
        trace = self._trace
        self._replies += connection.data_to_send()
        error = connection.error
        outcome = Outcome(
            wire_format=connection.wire_format.name if connection.wire_format else None,
            replies=bytes(self._replies),
            closed=connection.state is ConnectionState.CLOSED,
            close_reason=connection.close_reason.value if connection.close_reason else None,
            error=f"{type(error).__name__}: {error}" if error is not None else None,
        )
        connection.eof_received()
        if trace.violation is not None:
            raise trace.violation
        self._finished = Run(
            outcome,
            trace.calls,
            trace.consumed,
            tuple(trace.consume_ends),
            tuple(trace.reply_ends),
            len(trace.fed),
        )
        return self._finished


def run_example(target: FuzzTarget, example: Example, meter: WorkMeter | None = None) -> Run:
    """Run ``example`` through a fresh connection; a violation is raised with the example."""
    harness = Harness(target, example.schedule, meter)
    stream = example.stream
    try:
        position = 0
        for size in example.chunks:
            harness.feed(stream[position : position + size])
            position += size
        return harness.finish()
    except ConformanceError as error:
        raise error.with_example(example, target.label) from None
