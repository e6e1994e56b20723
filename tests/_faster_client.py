"""A FASTER binary client written from FASTER's client wire code, for the tests.

Modelled on ``cs/remote/src/FASTER.client/ClientSession.cs`` (the request
messages, ``Flush``, ``ProcessReplies``) and ``ClientNetworkSession.cs`` (the
negated size prefix). It does not import the provider: requests are packed
with ``struct`` from the C# code, so the tests compare two independent
readings of FASTER's format. Sans-I/O: :meth:`FasterClient.flush` gives the
bytes to send, :meth:`FasterClient.receive` takes what came back.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass

READ, UPSERT, RMW, DELETE = 0, 1, 2, 3
READ_ASYNC, UPSERT_ASYNC, RMW_ASYNC, DELETE_ASYNC = 4, 5, 6, 7
SUBSCRIBE_KV, PSUBSCRIBE_KV = 8, 9
SUBSCRIBE, PUBLISH, PSUBSCRIBE = 10, 11, 12
PENDING = 0x03
ERROR = 0x04
DEFAULT_VAR_LEN_KV = 0


@dataclass(frozen=True)
class Reply:
    """One reply message as ProcessReplies reads it."""

    type: int
    status: int
    output: bytes | None = None
    sid: int | None = None
    key: bytes | None = None
    pending_id: int | None = None
    seq_no: int = 0


def _span(data: bytes) -> bytes:
    return struct.pack("<i", len(data)) + data


class FasterClient:
    """Batches requests as ClientSession does; parses the server's reply batches."""

    def __init__(self) -> None:
        self._messages: list[bytes] = []
        self._buffer = b""
        self._last_seq_no = -1
        self.subscription_session = False
        """Set by SubscribeKV/PSubscribeKV: notifications carry sequence number 0."""

    # -- requests (InternalUpsert, InternalRead, ...) --------------------------------

    def _add(self, kind: int, serial_num: int, *spans: bytes) -> None:
        head = struct.pack("<Bq", kind, serial_num)
        self._messages.append(head + b"".join(_span(span) for span in spans))

    def upsert(self, key: bytes, value: bytes, serial_num: int = 0) -> None:
        """Queue an Upsert."""
        self._add(UPSERT, serial_num, key, value)

    def read(self, key: bytes, input: bytes = b"", serial_num: int = 0) -> None:
        """Queue a Read (key and input, as InternalRead writes them)."""
        self._add(READ, serial_num, key, input)

    def rmw(self, key: bytes, input: bytes, serial_num: int = 0) -> None:
        """Queue an RMW."""
        self._add(RMW, serial_num, key, input)

    def delete(self, key: bytes, serial_num: int = 0) -> None:
        """Queue a Delete."""
        self._add(DELETE, serial_num, key)

    def subscribe_kv(self, key: bytes, input: bytes = b"", prefix: bool = False) -> None:
        """Queue a SubscribeKV (or PSubscribeKV); the session becomes a subscription session."""
        self.subscription_session = True
        self._add(PSUBSCRIBE_KV if prefix else SUBSCRIBE_KV, 0, key, input)

    def subscribe(self, channel: bytes, prefix: bool = False) -> None:
        """Queue a Subscribe (or PSubscribe) to a channel (``InternalSubscribe``: no input)."""
        self.subscription_session = True
        self._add(PSUBSCRIBE if prefix else SUBSCRIBE, 0, channel)

    def publish(self, channel: bytes, value: bytes, serial_num: int = 0) -> None:
        """Queue a Publish (``InternalPublish``: key and value, as an Upsert)."""
        self._add(PUBLISH, serial_num, channel, value)

    def flush(self) -> bytes:
        """The batch of the queued messages (``Flush``): -(size), header, messages."""
        if not self._messages:
            return b""
        body = b"".join(self._messages)
        header = struct.pack("<iI", 0, (len(self._messages) << 8) | DEFAULT_VAR_LEN_KV)
        self._messages = []
        return struct.pack("<i", -(len(header) + len(body))) + header + body

    # -- replies (ClientNetworkSession.TryReadMessages, ProcessReplies) ----------------

    def receive(self, data: bytes) -> list[Reply]:
        """The replies of every whole batch received so far."""
        self._buffer += data
        replies: list[Reply] = []
        while len(self._buffer) >= 4:
            size = -struct.unpack_from("<i", self._buffer)[0]
            if size < 8:
                raise ValueError(f"bad reply batch size {size}")
            if len(self._buffer) < 4 + size:
                break
            batch, self._buffer = self._buffer[4 : 4 + size], self._buffer[4 + size :]
            replies.extend(self._batch(batch))
        return replies

    def _batch(self, batch: bytes) -> list[Reply]:
        seq_no, word = struct.unpack_from("<iI", batch)
        count = word >> 8
        if seq_no != self._last_seq_no + 1 and not self.subscription_session:
            raise ValueError("Out of order message within session")
        self._last_seq_no = seq_no
        offset = 8
        replies = []
        for _ in range(count):
            kind, status = batch[offset], batch[offset + 1]
            offset += 2
            output = key = None
            sid = pending = None
            found = status & 0x0F == 0
            completed = status & 0x0F not in (PENDING, ERROR)
            if kind in (READ, READ_ASYNC, RMW, RMW_ASYNC):
                if status == PENDING:
                    pending, offset = self._int(batch, offset)
                elif found if kind in (READ, READ_ASYNC) else completed:
                    output, offset = self._read_span(batch, offset)
            elif kind in (SUBSCRIBE_KV, PSUBSCRIBE_KV):
                sid, offset = self._int(batch, offset)
                if status != PENDING:
                    if kind == PSUBSCRIBE_KV:
                        key, offset = self._read_span(batch, offset)
                    if found:
                        output, offset = self._read_span(batch, offset)
            elif kind in (SUBSCRIBE, PSUBSCRIBE):
                sid, offset = self._int(batch, offset)
                if status != PENDING:
                    if not found:  # ClientSession.cs throws: "Unexpected status"
                        raise ValueError(f"unexpected status {status} of a channel message")
                    if kind == PSUBSCRIBE:
                        key, offset = self._read_span(batch, offset)
                    output, offset = self._read_span(batch, offset)
            elif kind not in (UPSERT, UPSERT_ASYNC, DELETE, DELETE_ASYNC, PUBLISH):
                raise NotImplementedError(kind)
            replies.append(Reply(kind, status, output, sid, key, pending, seq_no))
        return replies

    @staticmethod
    def _int(data: bytes, offset: int) -> tuple[int, int]:
        return struct.unpack_from("<i", data, offset)[0], offset + 4

    @staticmethod
    def _read_span(data: bytes, offset: int) -> tuple[bytes, int]:
        length = struct.unpack_from("<i", data, offset)[0]
        return data[offset + 4 : offset + 4 + length], offset + 4 + length


def exchange(
    sock: socket.socket, client: FasterClient, expected: int, timeout: float = 5.0
) -> list[Reply]:
    """Send the queued batch; read until ``expected`` replies arrived (bounded by ``timeout``)."""
    sock.sendall(client.flush())
    return collect(sock, client, expected, timeout)


def collect(
    sock: socket.socket, client: FasterClient, expected: int, timeout: float = 5.0
) -> list[Reply]:
    """Read until ``expected`` replies arrived."""
    replies: list[Reply] = []
    deadline = time.monotonic() + timeout
    while len(replies) < expected:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{len(replies)} of {expected} replies")
        sock.settimeout(remaining)
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"closed after {len(replies)} of {expected} replies")
        replies.extend(client.receive(data))
    return replies
