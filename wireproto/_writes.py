"""Write batching: the replies to the reads of one event-loop turn leave together.

On a socket transport the first batch's replies are written at once, and the
others in one callback at the start of the next turn, as Redis writes its
replies before it sleeps. A client with many connections is then woken once
per turn rather than once per reply, which costs the server less kernel time
per write than anything it does in Python (see ``benchmarks/README.md``).
Other transports (and the first batch of a turn, so a lone client waits for
nothing) are written to as soon as the batch is read.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

__all__ = ["Held", "TurnWrites"]


class Held(Protocol):
    """A connection whose replies wait for the end of the turn."""

    def write_held(self) -> None:
        """Write the replies held back (it handles its own failures)."""
        ...


class TurnWrites:
    """The listener's record of which batches' replies went out in this turn of the loop."""

    def __init__(self) -> None:
        self._turn_written = False  # a batch's replies went out in this turn of the event loop
        self._deferred: list[Held] = []

    def written_this_turn(self) -> bool:
        """Whether a batch's replies already went out in this turn of the loop.

        The first batch's are written at once, so a lone client waits for
        nothing; the turn ends with the callback this schedules.
        """
        if self._turn_written:
            return True
        self._turn_written = True
        asyncio.get_running_loop().call_soon(self._end_turn)
        return False

    def hold(self, connection: Held) -> None:
        """Write the replies of ``connection`` with the others at the end of the turn."""
        self._deferred.append(connection)

    def _end_turn(self) -> None:
        self._turn_written = False
        deferred, self._deferred = self._deferred, []
        for connection in deferred:
            connection.write_held()
