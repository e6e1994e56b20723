"""Driving RESP commands through a Connection, for the command tests (one file per family)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

import wireproto.providers.resp.pure_parser as pure_parser_module
import wireproto.providers.resp.session as session_module
from _drive import START, Clock, module_setting
from _drive import resp_command as cmd
from wireproto.providers.resp import RespLimits, RespProvider, register

from wireproto import Connection, Registry

__all__ = [
    "EXAT",
    "NIL2",
    "NIL3",
    "NOT_INT",
    "SYNTAX",
    "Arg",
    "Case",
    "Client",
    "bulk",
    "direct_runs",
    "multibulk",
    "run_case",
]

Arg = bytes | str | int


class Client:
    """A Connection on a fresh provider, driven with whole requests."""

    def __init__(
        self,
        accelerated: bool,
        *,
        password: str | None = None,
        limits: RespLimits | None = None,
    ) -> None:
        self.clock = Clock()
        self.provider = RespProvider(
            password=password, limits=limits, accelerated=accelerated, clock=self.clock
        )
        registry = Registry()
        register(registry, self.provider)
        self.connection = Connection(registry)

    def send(self, data: bytes) -> bytes:
        self.connection.receive_data(data)
        return self.connection.data_to_send()

    def call(self, *args: Arg) -> bytes:
        return self.send(cmd(*args))


@dataclass(frozen=True)
class Case:
    name: str
    commands: list[tuple[Arg, ...]]
    resp2: bytes
    resp3: bytes | None = None  # None: the same bytes as RESP2


NOT_INT = b"-ERR value is not an integer or out of range\r\n"
SYNTAX = b"-ERR syntax error\r\n"
NIL2, NIL3 = b"$-1\r\n", b"_\r\n"
EXAT = START // 1000 + 100


def run_case(case: Case, accelerated: bool, resp3: bool) -> bytes:
    client = Client(accelerated)
    if resp3:
        assert client.call("HELLO", 3).startswith(b"%7\r\n")
    return b"".join(client.call(*command) for command in case.commands)


def bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def multibulk(walk: bool) -> AbstractContextManager[None]:
    """Parsers made meanwhile take whole multibulk commands by walking them, or by a split."""
    return module_setting(pure_parser_module, "WALK_MULTIBULK", walk)


def direct_runs(direct: bool) -> AbstractContextManager[None]:
    """Sessions run GET and SET straight from the parser's step meanwhile, or not."""
    return module_setting(session_module, "RUN_DIRECT", direct)
