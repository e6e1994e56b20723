"""The optional session contract: a session that pauses and resumes (``sender.resume()``)
and a session with deadlines of its own (``next_deadline()`` / ``check_deadlines()``)."""

from __future__ import annotations

from wireproto import Connection, Limits, NetworkSender, Registry, WireFormat, match_prefix


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


class PausingSession:
    """Echoes lines; ``WAIT`` stops it until :meth:`go_on`; ``SLEEP`` waits 2 s on the clock."""

    def __init__(self, sender: NetworkSender) -> None:
        self.sender = sender
        self.waiting = False
        self.deadline: float | None = None
        self.checks = 0

    def try_consume(self, data: memoryview) -> int:
        used = 0
        while not self.waiting:
            end = bytes(data[used:]).find(b"\n")
            if end < 0:
                break
            line = bytes(data[used : used + end])
            used += end + 1
            if line == b"WAIT":
                self.waiting = True
            elif line == b"SLEEP":
                self.waiting = True
                clock = self.sender.clock  # type: ignore[attr-defined]
                self.deadline = clock() + 2.0
            else:
                self.sender.send(line + b"\n")
        return used

    def go_on(self) -> None:
        self.waiting = False
        self.sender.send(b"woke\n")
        self.sender.resume()  # type: ignore[attr-defined]

    def next_deadline(self) -> float | None:
        return self.deadline

    def check_deadlines(self) -> None:
        self.checks += 1
        self.deadline = None
        self.go_on()

    def close(self) -> None:
        pass


class Provider:
    def __init__(self) -> None:
        self.sessions: list[PausingSession] = []

    @property
    def limits(self) -> Limits:
        return Limits(max_message_size=1024)

    def create_session(self, wire_format: WireFormat, sender: NetworkSender) -> PausingSession:
        session = PausingSession(sender)
        self.sessions.append(session)
        return session


def _connection() -> tuple[Connection, Provider, Clock]:
    registry = Registry()
    provider = Provider()
    registry.register(WireFormat("pausing", match_prefix(b"P")), provider)
    clock = Clock()
    return Connection(registry, clock=clock), provider, clock


def test_a_paused_session_gets_its_buffered_bytes_again_after_resume() -> None:
    connection, provider, _ = _connection()
    outputs: list[int] = []
    connection.on_output = lambda: outputs.append(1)
    connection.receive_data(b"P1\nWAIT\nP2\nP3")
    assert connection.data_to_send() == b"P1\n"
    connection.receive_data(b"\n")  # arrives while it waits: kept
    assert connection.data_to_send() == b""
    assert len(connection.buffer) == len(b"P2\nP3\n")
    provider.sessions[0].go_on()  # outside a read batch, e.g. another client's write
    assert outputs == [1, 1]  # the shell is told (by the send, then by resume)
    assert connection.data_to_send() == b"woke\nP2\nP3\n"
    assert len(connection.buffer) == 0


def test_resume_without_buffered_bytes_is_harmless() -> None:
    connection, provider, _ = _connection()
    connection.receive_data(b"PWAIT\nWAIT\n")
    assert connection.data_to_send() == b"PWAIT\n"
    provider.sessions[0].go_on()
    assert connection.data_to_send() == b"woke\n"
    assert connection.data_to_send() == b""


def test_a_session_deadline_is_the_connections_and_fires_at_max_not_before() -> None:
    connection, provider, clock = _connection()
    connection.receive_data(b"P0\nSLEEP\nP1\n")
    assert connection.data_to_send() == b"P0\n"
    start = clock.now
    assert connection.next_deadline() == start + 2.0
    clock.now = start + 2.0 - 1e-6
    connection.check_deadlines()
    assert provider.sessions[0].checks == 0
    assert connection.data_to_send() == b""
    clock.now = start + 2.0
    connection.check_deadlines()
    assert provider.sessions[0].checks == 1
    assert connection.data_to_send() == b"woke\nP1\n"
    assert connection.next_deadline() is None
